// SPDX-License-Identifier: GPL-2.0 OR MIT
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <linux/qkdn.h>

#include "cli.h"
#include "log.h"

struct node_info {
	uint32_t id, ttl, links, apps, relay_timeout;
	bool have_relay_timeout;
	bool have_ksa_sync;
	uint8_t ksa_sync;
	char name[QKDN_ID_MAXLEN + 1];
	struct cli_stats relay;
};

static int node_cb(const struct nlmsghdr *nlh, void *data)
{
	struct node_info *n = data;
	const struct nlattr *tb[QKDN_A_MAX + 1];
	const char *name;

	if (qkdn_nl_parse(nlh, tb, QKDN_A_MAX) < 0)
		return -EBADMSG;
	qkdn_nla_u32(tb[QKDN_A_NODE_ID], &n->id);
	qkdn_nla_u32(tb[QKDN_A_KEYRING_TTL], &n->ttl);
	qkdn_nla_u32(tb[QKDN_A_LINK_COUNT], &n->links);
	qkdn_nla_u32(tb[QKDN_A_APP_COUNT], &n->apps);
	n->have_relay_timeout = qkdn_nla_u32(tb[QKDN_A_RELAY_TIMEOUT], &n->relay_timeout);
	n->have_ksa_sync = qkdn_nla_u8(tb[QKDN_A_KSA_SYNC], &n->ksa_sync);
	cli_counters_parse(&cli_relay_counters, tb[QKDN_A_RELAY_STATS], &n->relay);
	name = qkdn_nla_str(tb[QKDN_A_NODE_NAME]);
	snprintf(n->name, sizeof(n->name), "%s", name ? name : "");
	return 0;
}

/* The node's relay counters, for "stats" too. */
void cli_node_relay_stats(struct cli *cli, const char *what, struct cli_stats *relay)
{
	struct qkdn_nl_msg *msg = cli_msg(QKDN_CMD_NODE_GET);
	struct node_info n = { 0 };

	cli_request(cli, what, msg, node_cb, &n);
	qkdn_nl_msg_free(msg);
	*relay = n.relay;
}

static int node_show(struct cli *cli, int argc, char **argv)
{
	struct qkdn_nl_msg *msg;
	struct node_info n = { 0 };

	cli_no_more("node show", argc, argv, 0);
	msg = cli_msg(QKDN_CMD_NODE_GET);
	cli_request(cli, "node show", msg, node_cb, &n);
	qkdn_nl_msg_free(msg);

	if (cli->json) {
		json_t *o = json_pack("{s:I, s:s, s:I, s:I, s:I}",
				      "id", (json_int_t)n.id, "name", n.name,
				      "keyring_ttl", (json_int_t)n.ttl,
				      "links", (json_int_t)n.links, "apps", (json_int_t)n.apps);

		if (o && n.have_relay_timeout)
			json_object_set_new(o, "relay_timeout_ms", json_integer(n.relay_timeout));
		if (o && n.have_ksa_sync)
			json_object_set_new(o, "ksa_sync", json_boolean(n.ksa_sync));
		if (o && n.relay.present)
			json_object_set_new(o, "relay", cli_counters_json(&cli_relay_counters,
									  &n.relay));
		cli_json_print(o);
		return 0;
	}
	printf("node %u", n.id);
	if (n.name[0])
		printf(" name %s", n.name);
	printf(" keyring-ttl %u", n.ttl);
	if (n.have_relay_timeout)
		printf(" relay-timeout %u", n.relay_timeout);
	if (n.have_ksa_sync)
		printf(" ksa-sync %s", n.ksa_sync ? "on" : "off");
	printf(" links %u apps %u\n", n.links, n.apps);
	cli_counters_print(&cli_relay_counters, &n.relay, "relay ");
	return 0;
}

static int node_set(struct cli *cli, int argc, char **argv)
{
	const char *what = "node set";
	bool have_id = false, have_name = false, have_ttl = false, have_timeout = false;
	bool have_sync = false;
	struct qkdn_nl_msg *msg = cli_msg(QKDN_CMD_NODE_SET);

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "id")) {
			cli_once(what, "id", &have_id);
			qkdn_nl_put_u32(msg, QKDN_A_NODE_ID,
					cli_u32(cli_value(what, argc, argv, &i), "id"));
		} else if (!strcmp(argv[i], "name")) {
			cli_once(what, "name", &have_name);
			qkdn_nl_put_str(msg, QKDN_A_NODE_NAME, cli_value(what, argc, argv, &i));
		} else if (!strcmp(argv[i], "keyring-ttl")) {
			cli_once(what, "keyring-ttl", &have_ttl);
			qkdn_nl_put_u32(msg, QKDN_A_KEYRING_TTL,
					cli_u32(cli_value(what, argc, argv, &i), "keyring-ttl"));
		} else if (!strcmp(argv[i], "relay-timeout")) {
			cli_once(what, "relay-timeout", &have_timeout);
			qkdn_nl_put_u32(msg, QKDN_A_RELAY_TIMEOUT,
					cli_u32(cli_value(what, argc, argv, &i), "relay-timeout"));
		} else if (!strcmp(argv[i], "ksa-sync")) {
			const char *v;

			cli_once(what, "ksa-sync", &have_sync);
			v = cli_value(what, argc, argv, &i);
			if (strcmp(v, "on") && strcmp(v, "off"))
				qkdn_die("%s: ksa-sync takes on or off, not '%s'", what, v);
			qkdn_nl_put_u8(msg, QKDN_A_KSA_SYNC, !strcmp(v, "on"));
		} else {
			cli_unknown_arg(what, argv[i]);
		}
	}
	if (!have_id && !have_name && !have_ttl && !have_timeout && !have_sync)
		qkdn_die("%s: nothing to set (id, name, keyring-ttl, relay-timeout or ksa-sync)",
			 what);
	cli_request(cli, what, msg, NULL, NULL);
	qkdn_nl_msg_free(msg);
	return 0;
}

static const struct cli_cmd node_cmds[] = {
	{ "show", "", "the node's ID, name, keyring TTL, relay timeout, counts and relay counters",
	  node_show },
	{ "set", "[id N] [name NAME] [keyring-ttl SECS] [relay-timeout MS] [ksa-sync on|off]",
	  "configure the node", node_set },
	{ 0 }
};

const struct cli_object cli_node = {
	.name = "node", .help = "this namespace's QKD node", .cmds = node_cmds,
	.default_first = true,
};
