// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Key relay (Kx): routes to distant nodes, relaying keys to them, and the
 * stores of relayed keys. Relay replies name keys by ID only, never with
 * their bytes, so nothing here needs a secbuf.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/qkdn.h>

#include "cli.h"
#include "util.h"
#include "hex.h"
#include "log.h"

/* route */

static int route_cb(const struct nlmsghdr *nlh, void *data)
{
	json_t *routes = data;
	const struct nlattr *tb[QKDN_A_MAX + 1];
	uint32_t dest, via;

	if (!nlh) { /* a dump (re)starts */
		json_array_clear(routes);
		return 0;
	}
	if (qkdn_nl_parse(nlh, tb, QKDN_A_MAX) < 0 ||
	    !qkdn_nla_u32(tb[QKDN_A_DEST_NODE_ID], &dest) ||
	    !qkdn_nla_u32(tb[QKDN_A_NEXT_HOP_NODE_ID], &via))
		return -EBADMSG;
	json_array_append_new(routes, json_pack("{s:I, s:I}", "dest", (json_int_t)dest,
						"via", (json_int_t)via));
	return 0;
}

static int route_show(struct cli *cli, int argc, char **argv)
{
	struct qkdn_nl_msg *msg = cli_msg(QKDN_CMD_ROUTE_GET);
	json_t *routes = json_array(), *r;
	size_t i;

	cli_no_more("route show", argc, argv, 0);
	cli_dump(cli, "route show", msg, route_cb, routes);
	qkdn_nl_msg_free(msg);
	if (cli->json) {
		cli_json_print(routes);
		return 0;
	}
	json_array_foreach(routes, i, r)
		printf("route %" JSON_INTEGER_FORMAT " via %" JSON_INTEGER_FORMAT "\n",
		       json_integer_value(json_object_get(r, "dest")),
		       json_integer_value(json_object_get(r, "via")));
	json_decref(routes);
	return 0;
}

static int route_add(struct cli *cli, int argc, char **argv)
{
	const char *what = "route add";
	struct qkdn_nl_msg *msg = cli_msg(QKDN_CMD_ROUTE_ADD);
	bool have_via = false;

	if (argc < 1)
		qkdn_die("%s: missing destination node ID", what);
	qkdn_nl_put_u32(msg, QKDN_A_DEST_NODE_ID, cli_node_id(argv[0], "dest"));
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "via")) {
			cli_once(what, "via", &have_via);
			qkdn_nl_put_u32(msg, QKDN_A_NEXT_HOP_NODE_ID,
					cli_node_id(cli_value(what, argc, argv, &i), "via"));
		} else {
			cli_unknown_arg(what, argv[i]);
		}
	}
	if (!have_via)
		cli_missing(what, "via");
	cli_request(cli, what, msg, NULL, NULL);
	qkdn_nl_msg_free(msg);
	return 0;
}

static int route_del(struct cli *cli, int argc, char **argv)
{
	const char *what = "route del";
	struct qkdn_nl_msg *msg = cli_msg(QKDN_CMD_ROUTE_DEL);

	if (argc < 1)
		qkdn_die("%s: missing destination node ID", what);
	qkdn_nl_put_u32(msg, QKDN_A_DEST_NODE_ID, cli_node_id(argv[0], "dest"));
	cli_no_more(what, argc, argv, 1);
	cli_request(cli, what, msg, NULL, NULL);
	qkdn_nl_msg_free(msg);
	return 0;
}

static const struct cli_cmd route_cmds[] = {
	{ "show", "", "where relay frames for each distant node go next", route_show },
	{ "add", "DEST via NEXT_HOP", "relay to node DEST through neighbour NEXT_HOP (replaces)",
	  route_add },
	{ "del", "DEST", "delete the route to node DEST", route_del },
	{ 0 }
};

const struct cli_object cli_route = {
	.name = "route", .help = "next hops of key relays to distant nodes", .cmds = route_cmds,
	.default_first = true,
};

/* relay */

struct relay_reply {
	bool seen;
	uint64_t id;
	size_t count;
	uint8_t ids[QKDN_RELAY_KEYS_MAX][QKDN_KEY_ID_LEN];
};

static int relay_cb(const struct nlmsghdr *nlh, void *data)
{
	struct relay_reply *r = data;
	const struct nlattr *tb[QKDN_A_MAX + 1];
	const struct nlattr *k;

	if (r->seen) /* one reply per request */
		return -EBADMSG;
	if (qkdn_nl_parse(nlh, tb, QKDN_A_MAX) < 0 || !qkdn_nla_u64(tb[QKDN_A_RELAY_ID], &r->id) ||
	    !tb[QKDN_A_KEYS])
		return -EBADMSG;
	mnl_attr_for_each_nested(k, tb[QKDN_A_KEYS]) {
		const struct nlattr *kb[QKDN_KEY_A_MAX + 1];

		if (r->count == QKDN_RELAY_KEYS_MAX ||
		    qkdn_nl_parse_nested(k, kb, QKDN_KEY_A_MAX) < 0 || !kb[QKDN_KEY_A_ID] ||
		    mnl_attr_get_payload_len(kb[QKDN_KEY_A_ID]) != QKDN_KEY_ID_LEN)
			return -EBADMSG;
		memcpy(r->ids[r->count++], mnl_attr_get_payload(kb[QKDN_KEY_A_ID]),
		       QKDN_KEY_ID_LEN);
	}
	r->seen = true;
	return 0;
}

static int relay_run(struct cli *cli, int argc, char **argv)
{
	const char *what = "relay";
	bool have_dest = false, have_amount = false, have_size = false;
	struct qkdn_nl_msg *msg = cli_msg(QKDN_CMD_RELAY);
	struct relay_reply r = { 0 };
	char relay_id[17], uuid[QKDN_UUID_STRLEN + 1];
	uint32_t dest = 0;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "dest")) {
			cli_once(what, "dest", &have_dest);
			dest = cli_node_id(cli_value(what, argc, argv, &i), "dest");
			qkdn_nl_put_u32(msg, QKDN_A_DEST_NODE_ID, dest);
		} else if (!strcmp(argv[i], "amount")) {
			cli_once(what, "amount", &have_amount);
			qkdn_nl_put_u32(msg, QKDN_A_KEY_AMOUNT,
					cli_u32(cli_value(what, argc, argv, &i), "amount"));
		} else if (!strcmp(argv[i], "size")) {
			cli_once(what, "size", &have_size);
			qkdn_nl_put_u32(msg, QKDN_A_KEY_SIZE,
					cli_u32(cli_value(what, argc, argv, &i), "size"));
		} else {
			cli_unknown_arg(what, argv[i]);
		}
	}
	if (!have_dest)
		cli_missing(what, "dest");
	/* The kernel answers once the destination acknowledged or the node's
	 * relay timeout passed; the request simply blocks until then (the
	 * netlink layer has no receive timeout of its own). */
	cli_request(cli, what, msg, relay_cb, &r);
	qkdn_nl_msg_free(msg);
	if (!r.seen)
		qkdn_die("%s: the kernel sent no reply", what);

	snprintf(relay_id, sizeof(relay_id), "%016" PRIx64, r.id);
	if (cli->json) {
		json_t *keys = json_array();

		for (size_t i = 0; i < r.count; i++) {
			qkdn_uuid_format(uuid, r.ids[i]);
			json_array_append_new(keys, json_string(uuid));
		}
		cli_json_print(json_pack("{s:s, s:I, s:o}", "relay_id", relay_id,
					 "dest", (json_int_t)dest, "keys", keys));
		return 0;
	}
	printf("relay %s to node %u: %zu keys\n", relay_id, dest, r.count);
	for (size_t i = 0; i < r.count; i++) {
		qkdn_uuid_format(uuid, r.ids[i]);
		printf("%s\n", uuid);
	}
	return 0;
}

static const struct cli_cmd relay_cmd = {
	NULL, "dest NODE [amount N] [size BITS]",
	"relay keys (default 1 of 256 bits) to NODE, wait for its ack, print their IDs",
	relay_run,
};

const struct cli_object cli_relay = {
	.name = "relay", .help = "relay new keys to a distant node", .single = &relay_cmd,
};

/* store */

struct store_list {
	struct store_info {
		uint32_t node;
		struct cli_stats stats;
	} *v;
	size_t n, cap;
};

static int store_cb(const struct nlmsghdr *nlh, void *data)
{
	struct store_list *l = data;
	const struct nlattr *tb[QKDN_A_MAX + 1];
	struct store_info *si;

	if (!nlh) { /* a dump (re)starts */
		l->n = 0;
		return 0;
	}
	if (qkdn_nl_parse(nlh, tb, QKDN_A_MAX) < 0 || !tb[QKDN_A_PEER_NODE_ID])
		return -EBADMSG;
	si = qkdn_grow((void **)&l->v, &l->n, &l->cap, sizeof(*si));
	if (!si)
		return -ENOMEM;
	if (!qkdn_nla_u32(tb[QKDN_A_PEER_NODE_ID], &si->node))
		return -EBADMSG;
	cli_counters_parse(&cli_store_counters, tb[QKDN_A_STORE_STATS], &si->stats);
	return 0;
}

static int store_show(struct cli *cli, int argc, char **argv)
{
	struct qkdn_nl_msg *msg = cli_msg(QKDN_CMD_STORE_GET);
	struct store_list l = { 0 };

	cli_no_more("store show", argc, argv, 0);
	cli_dump(cli, "store show", msg, store_cb, &l);
	qkdn_nl_msg_free(msg);
	if (cli->json) {
		json_t *arr = json_array();

		for (size_t i = 0; i < l.n; i++)
			json_array_append_new(arr, json_pack("{s:I, s:o}",
				"node", (json_int_t)l.v[i].node,
				"stats", cli_counters_json(&cli_store_counters, &l.v[i].stats)));
		cli_json_print(arr);
	} else {
		for (size_t i = 0; i < l.n; i++) {
			char lead[32];

			snprintf(lead, sizeof(lead), "store node %u: ", l.v[i].node);
			cli_counters_print(&cli_store_counters, &l.v[i].stats, lead);
		}
	}
	free(l.v);
	return 0;
}

static const struct cli_cmd store_cmds[] = {
	{ "show", "", "the stores of relayed keys, one per distant node", store_show },
	{ 0 }
};

const struct cli_object cli_store = {
	.name = "store", .help = "keys relayed to and from distant nodes", .cmds = store_cmds,
	.default_first = true,
};
