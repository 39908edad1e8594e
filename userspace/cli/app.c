// SPDX-License-Identifier: GPL-2.0 OR MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/qkdn.h>

#include "cli.h"
#include "log.h"

struct app_ctx {
	bool json;
	json_t *arr;
};

static int app_cb(const struct nlmsghdr *nlh, void *data)
{
	struct app_ctx *ctx = data;
	const struct nlattr *tb[QKDN_A_MAX + 1];
	const char *sae;
	uint32_t node = 0, uid = 0;
	uint64_t supplied = 0;
	bool has_uid;
	json_t *o;

	if (!nlh) {
		json_array_clear(ctx->arr);
		return 0;
	}
	if (qkdn_nl_parse(nlh, tb, QKDN_A_MAX) < 0)
		return -EBADMSG;
	sae = qkdn_nla_str(tb[QKDN_A_SAE_ID]);
	if (!sae)
		return -EBADMSG;
	qkdn_nla_u32(tb[QKDN_A_NODE_ID], &node);
	has_uid = qkdn_nla_u32(tb[QKDN_A_UID], &uid);
	qkdn_nla_u64(tb[QKDN_A_KEYS_SUPPLIED], &supplied);
	/* Collected in JSON either way: a dump may restart. */
	o = json_pack("{s:s, s:I}", "sae", sae, "node", (json_int_t)node);
	if (has_uid)
		json_object_set_new(o, "uid", json_integer(uid));
	json_object_set_new(o, "supplied", cli_json_u64(supplied));
	json_array_append_new(ctx->arr, o);
	return 0;
}

static int app_show(struct cli *cli, int argc, char **argv)
{
	struct app_ctx ctx = { .json = cli->json, .arr = json_array() };
	struct qkdn_nl_msg *msg = cli_msg(QKDN_CMD_APP_GET);
	size_t i;
	json_t *o;

	if (argc > 0) {
		qkdn_nl_put_str(msg, QKDN_A_SAE_ID, argv[0]);
		cli_no_more("app show", argc, argv, 1);
		cli_request(cli, "app show", msg, app_cb, &ctx);
	} else {
		cli_dump(cli, "app show", msg, app_cb, &ctx);
	}
	qkdn_nl_msg_free(msg);

	if (cli->json) {
		cli_json_print(ctx.arr);
		return 0;
	}
	json_array_foreach(ctx.arr, i, o) {
		printf("app %s node %lld", json_string_value(json_object_get(o, "sae")),
		       (long long)json_integer_value(json_object_get(o, "node")));
		if (json_object_get(o, "uid"))
			printf(" uid %lld", (long long)json_integer_value(json_object_get(o, "uid")));
		if (json_is_integer(json_object_get(o, "supplied")))
			printf(" supplied %lld\n",
			       (long long)json_integer_value(json_object_get(o, "supplied")));
		else
			printf(" supplied %s\n", json_string_value(json_object_get(o, "supplied")));
	}
	json_decref(ctx.arr);
	return 0;
}

static int app_add(struct cli *cli, int argc, char **argv)
{
	const char *what = "app add";
	bool have_node = false, have_uid = false;
	struct qkdn_nl_msg *msg = cli_msg(QKDN_CMD_APP_ADD);

	if (argc < 1)
		qkdn_die("%s: missing SAE ID", what);
	qkdn_nl_put_str(msg, QKDN_A_SAE_ID, argv[0]);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "node")) {
			cli_once(what, "node", &have_node);
			qkdn_nl_put_u32(msg, QKDN_A_NODE_ID,
					cli_u32(cli_value(what, argc, argv, &i), "node"));
		} else if (!strcmp(argv[i], "uid")) {
			cli_once(what, "uid", &have_uid);
			qkdn_nl_put_u32(msg, QKDN_A_UID,
					cli_u32(cli_value(what, argc, argv, &i), "uid"));
		} else {
			cli_unknown_arg(what, argv[i]);
		}
	}
	/* A local SAE needs a uid: default to whoever registers it. A remote
	 * one (node given) has none unless asked for. */
	if (!have_node && !have_uid)
		qkdn_nl_put_u32(msg, QKDN_A_UID, (uint32_t)geteuid());
	cli_request(cli, what, msg, NULL, NULL);
	qkdn_nl_msg_free(msg);
	return 0;
}

static int app_del(struct cli *cli, int argc, char **argv)
{
	const char *what = "app del";
	struct qkdn_nl_msg *msg = cli_msg(QKDN_CMD_APP_DEL);

	if (argc < 1)
		qkdn_die("%s: missing SAE ID", what);
	qkdn_nl_put_str(msg, QKDN_A_SAE_ID, argv[0]);
	cli_no_more(what, argc, argv, 1);
	cli_request(cli, what, msg, NULL, NULL);
	qkdn_nl_msg_free(msg);
	return 0;
}

static const struct cli_cmd app_cmds[] = {
	{ "show", "[SAE]", "registered applications (SAEs)", app_show },
	{ "add", "SAE [node N] [uid U]",
	  "register an SAE; a local one (no node) defaults to uid = your euid", app_add },
	{ "del", "SAE", "unregister an SAE", app_del },
	{ 0 }
};

const struct cli_object cli_app = {
	.name = "app", .help = "applications (SAEs) allowed to take keys", .cmds = app_cmds,
	.default_first = true,
};
