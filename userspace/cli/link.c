// SPDX-License-Identifier: GPL-2.0 OR MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/qkdn.h>

#include "cli.h"
#include "util.h"
#include "log.h"

struct link_info {
	uint32_t id, peer, capacity, low, high;
	uint16_t unit;
	uint8_t role;
	char module[QKDN_ID_MAXLEN + 1], peer_module[QKDN_ID_MAXLEN + 1];
	struct cli_stats stats;
};

struct link_list {
	struct link_info *v;
	size_t n, cap;
};

static int link_cb(const struct nlmsghdr *nlh, void *data)
{
	struct link_list *l = data;
	const struct nlattr *tb[QKDN_A_MAX + 1];
	struct link_info *li;
	const char *s;

	if (!nlh) { /* a dump (re)starts */
		l->n = 0;
		return 0;
	}
	if (qkdn_nl_parse(nlh, tb, QKDN_A_MAX) < 0 || !tb[QKDN_A_LINK_ID])
		return -EBADMSG;
	li = qkdn_grow((void **)&l->v, &l->n, &l->cap, sizeof(*li));
	if (!li)
		return -ENOMEM;
	qkdn_nla_u32(tb[QKDN_A_LINK_ID], &li->id);
	qkdn_nla_u32(tb[QKDN_A_PEER_NODE_ID], &li->peer);
	qkdn_nla_u8(tb[QKDN_A_LINK_ROLE], &li->role);
	qkdn_nla_u16(tb[QKDN_A_KEY_UNIT], &li->unit);
	qkdn_nla_u32(tb[QKDN_A_POOL_CAPACITY], &li->capacity);
	qkdn_nla_u32(tb[QKDN_A_POOL_LOW], &li->low);
	qkdn_nla_u32(tb[QKDN_A_POOL_HIGH], &li->high);
	s = qkdn_nla_str(tb[QKDN_A_QKD_MODULE_ID]);
	snprintf(li->module, sizeof(li->module), "%s", s ? s : "");
	s = qkdn_nla_str(tb[QKDN_A_MATCHING_QKD_MODULE_ID]);
	snprintf(li->peer_module, sizeof(li->peer_module), "%s", s ? s : "");
	cli_stats_parse(tb[QKDN_A_LINK_STATS], &li->stats);
	return 0;
}

/* Fetches one link (id != 0 given) or all of them. */
static void link_get(struct cli *cli, const char *what, bool one, uint32_t id,
		     struct link_list *l)
{
	struct qkdn_nl_msg *msg = cli_msg(QKDN_CMD_LINK_GET);

	if (one) {
		qkdn_nl_put_u32(msg, QKDN_A_LINK_ID, id);
		cli_request(cli, what, msg, link_cb, l);
	} else {
		cli_dump(cli, what, msg, link_cb, l);
	}
	qkdn_nl_msg_free(msg);
}

static void parse_show_args(const char *what, int argc, char **argv, bool *one, uint32_t *id)
{
	*one = false;
	if (argc > 0) {
		*one = true;
		*id = cli_u32(argv[0], "link ID");
	}
	cli_no_more(what, argc, argv, 1);
}

static int link_show(struct cli *cli, int argc, char **argv)
{
	struct link_list l = { 0 };
	uint32_t id = 0;
	bool one;

	parse_show_args("link show", argc, argv, &one, &id);
	link_get(cli, "link show", one, id, &l);

	if (cli->json) {
		json_t *arr = json_array();

		for (size_t i = 0; i < l.n; i++) {
			struct link_info *li = &l.v[i];

			json_array_append_new(arr, json_pack(
				"{s:I, s:I, s:s, s:I, s:s, s:s, s:I, s:I, s:I, s:o}",
				"link", (json_int_t)li->id, "peer", (json_int_t)li->peer,
				"role", cli_role_name(li->role), "unit", (json_int_t)li->unit,
				"module", li->module, "peer_module", li->peer_module,
				"capacity", (json_int_t)li->capacity, "low", (json_int_t)li->low,
				"high", (json_int_t)li->high, "stats", cli_stats_json(&li->stats)));
		}
		cli_json_print(arr);
	} else {
		for (size_t i = 0; i < l.n; i++) {
			struct link_info *li = &l.v[i];

			if (i)
				putchar('\n');
			printf("link %u: peer %u role %s unit %u\n", li->id, li->peer,
			       cli_role_name(li->role), li->unit);
			printf("  module %s peer-module %s\n", li->module, li->peer_module);
			printf("  pool capacity %u low %u high %u\n", li->capacity, li->low, li->high);
			cli_stats_print(&li->stats, "  ");
		}
	}
	free(l.v);
	return 0;
}

/* The per-link counters, then the node's relay counters. */
static int stats_show(struct cli *cli, int argc, char **argv)
{
	struct link_list l = { 0 };
	struct cli_stats relay;
	uint32_t id = 0;
	bool one;

	if (argc > 0 && !strcmp(argv[0], "show")) {
		argc--;
		argv++;
	}
	parse_show_args("stats", argc, argv, &one, &id);
	link_get(cli, "stats", one, id, &l);
	cli_node_relay_stats(cli, "stats", &relay);

	if (cli->json) {
		json_t *arr = json_array();

		for (size_t i = 0; i < l.n; i++)
			json_array_append_new(arr, json_pack("{s:I, s:o}",
				"link", (json_int_t)l.v[i].id, "stats", cli_stats_json(&l.v[i].stats)));
		cli_json_print(json_pack("{s:o, s:o}", "links", arr,
					 "relay", cli_counters_json(&cli_relay_counters, &relay)));
	} else {
		for (size_t i = 0; i < l.n; i++) {
			if (i)
				putchar('\n');
			printf("link %u:\n", l.v[i].id);
			cli_stats_print(&l.v[i].stats, "  ");
		}
		if (relay.present) {
			if (l.n)
				putchar('\n');
			printf("relay:\n");
			cli_counters_print(&cli_relay_counters, &relay, "  ");
		}
	}
	free(l.v);
	return 0;
}

static void put_pool_arg(const char *what, struct qkdn_nl_msg *msg, int argc, char **argv,
			 int *i, bool seen[3])
{
	static const struct {
		const char *kw;
		uint16_t attr;
	} pool[] = {
		{ "capacity", QKDN_A_POOL_CAPACITY },
		{ "low", QKDN_A_POOL_LOW },
		{ "high", QKDN_A_POOL_HIGH },
	};

	for (int k = 0; k < 3; k++) {
		if (strcmp(argv[*i], pool[k].kw))
			continue;
		cli_once(what, pool[k].kw, &seen[k]);
		qkdn_nl_put_u32(msg, pool[k].attr, cli_u32(cli_value(what, argc, argv, i), pool[k].kw));
		return;
	}
	cli_unknown_arg(what, argv[*i]);
}

static int link_add(struct cli *cli, int argc, char **argv)
{
	const char *what = "link add";
	bool have_peer = false, have_role = false, have_mod = false, have_pmod = false;
	bool have_unit = false, seen_pool[3] = { 0 };
	struct qkdn_nl_msg *msg = cli_msg(QKDN_CMD_LINK_ADD);

	if (argc < 1)
		qkdn_die("%s: missing link ID", what);
	qkdn_nl_put_u32(msg, QKDN_A_LINK_ID, cli_u32(argv[0], "link ID"));
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "peer")) {
			cli_once(what, "peer", &have_peer);
			qkdn_nl_put_u32(msg, QKDN_A_PEER_NODE_ID,
					cli_u32(cli_value(what, argc, argv, &i), "peer"));
		} else if (!strcmp(argv[i], "role")) {
			const char *r;

			cli_once(what, "role", &have_role);
			r = cli_value(what, argc, argv, &i);
			if (!strcmp(r, "alice"))
				qkdn_nl_put_u8(msg, QKDN_A_LINK_ROLE, QKDN_ROLE_ALICE);
			else if (!strcmp(r, "bob"))
				qkdn_nl_put_u8(msg, QKDN_A_LINK_ROLE, QKDN_ROLE_BOB);
			else
				qkdn_die("%s: invalid role '%s' (alice or bob)", what, r);
		} else if (!strcmp(argv[i], "module")) {
			cli_once(what, "module", &have_mod);
			qkdn_nl_put_str(msg, QKDN_A_QKD_MODULE_ID, cli_value(what, argc, argv, &i));
		} else if (!strcmp(argv[i], "peer-module")) {
			cli_once(what, "peer-module", &have_pmod);
			qkdn_nl_put_str(msg, QKDN_A_MATCHING_QKD_MODULE_ID,
					cli_value(what, argc, argv, &i));
		} else if (!strcmp(argv[i], "unit")) {
			cli_once(what, "unit", &have_unit);
			qkdn_nl_put_u16(msg, QKDN_A_KEY_UNIT,
					cli_u16(cli_value(what, argc, argv, &i), "unit"));
		} else {
			put_pool_arg(what, msg, argc, argv, &i, seen_pool);
		}
	}
	if (!have_peer)
		cli_missing(what, "peer");
	if (!have_role)
		cli_missing(what, "role");
	if (!have_mod)
		cli_missing(what, "module");
	if (!have_pmod)
		cli_missing(what, "peer-module");
	cli_request(cli, what, msg, NULL, NULL);
	qkdn_nl_msg_free(msg);
	return 0;
}

static int link_set(struct cli *cli, int argc, char **argv)
{
	const char *what = "link set";
	bool seen_pool[3] = { 0 };
	struct qkdn_nl_msg *msg = cli_msg(QKDN_CMD_LINK_SET);

	if (argc < 1)
		qkdn_die("%s: missing link ID", what);
	qkdn_nl_put_u32(msg, QKDN_A_LINK_ID, cli_u32(argv[0], "link ID"));
	for (int i = 1; i < argc; i++)
		put_pool_arg(what, msg, argc, argv, &i, seen_pool);
	if (!seen_pool[0] && !seen_pool[1] && !seen_pool[2])
		qkdn_die("%s: nothing to set (capacity, low or high)", what);
	cli_request(cli, what, msg, NULL, NULL);
	qkdn_nl_msg_free(msg);
	return 0;
}

static int link_del(struct cli *cli, int argc, char **argv)
{
	const char *what = "link del";
	struct qkdn_nl_msg *msg = cli_msg(QKDN_CMD_LINK_DEL);

	if (argc < 1)
		qkdn_die("%s: missing link ID", what);
	qkdn_nl_put_u32(msg, QKDN_A_LINK_ID, cli_u32(argv[0], "link ID"));
	cli_no_more(what, argc, argv, 1);
	cli_request(cli, what, msg, NULL, NULL);
	qkdn_nl_msg_free(msg);
	return 0;
}

static const struct cli_cmd link_cmds[] = {
	{ "show", "[ID]", "configuration and counters of one link or all", link_show },
	{ "add", "ID peer NODE role alice|bob module QKD_MODULE_ID peer-module QKD_MODULE_ID "
		 "[unit BYTES] [capacity N] [low N] [high N]",
	  "add a KMA link to a neighbour node", link_add },
	{ "set", "ID [capacity N] [low N] [high N]", "change a link's pool limits", link_set },
	{ "del", "ID", "delete a link, wiping its pool", link_del },
	{ 0 }
};

const struct cli_object cli_link = {
	.name = "link", .help = "KMA links and their key pools", .cmds = link_cmds,
	.default_first = true,
};

static const struct cli_cmd stats_cmd = {
	NULL, "[ID]", "per-link pool counters (one link or all), then the node's relay counters",
	stats_show,
};

const struct cli_object cli_stats = {
	.name = "stats", .help = "pool and relay counters", .single = &stats_cmd,
};
