// SPDX-License-Identifier: GPL-2.0 OR MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/qkdn.h>

#include "cli.h"
#include "log.h"
#include "util.h"

#define NAME(x) [x] = #x
static const char *const attr_names[QKDN_A_MAX + 1] = {
	NAME(QKDN_A_NODE_ID), NAME(QKDN_A_NODE_NAME), NAME(QKDN_A_KEYRING_TTL),
	NAME(QKDN_A_LINK_COUNT), NAME(QKDN_A_APP_COUNT), NAME(QKDN_A_LINK_ID),
	NAME(QKDN_A_PEER_NODE_ID), NAME(QKDN_A_LINK_ROLE), NAME(QKDN_A_QKD_MODULE_ID),
	NAME(QKDN_A_MATCHING_QKD_MODULE_ID), NAME(QKDN_A_KEY_UNIT),
	NAME(QKDN_A_POOL_CAPACITY), NAME(QKDN_A_POOL_LOW), NAME(QKDN_A_POOL_HIGH),
	NAME(QKDN_A_LINK_STATS), NAME(QKDN_A_QKD_KEY_ID), NAME(QKDN_A_QKD_KEY_DATA),
	NAME(QKDN_A_QKD_KEY_TIMESTAMP), NAME(QKDN_A_QKD_KEY_HASH), NAME(QKDN_A_SAE_ID),
	NAME(QKDN_A_PEER_SAE_ID), NAME(QKDN_A_UID), NAME(QKDN_A_KEYS_SUPPLIED),
	NAME(QKDN_A_KEY_AMOUNT), NAME(QKDN_A_KEY_SIZE), NAME(QKDN_A_KEYS),
	NAME(QKDN_A_KEY), NAME(QKDN_A_ALARM), NAME(QKDN_A_PAD),
	NAME(QKDN_A_DEST_NODE_ID), NAME(QKDN_A_NEXT_HOP_NODE_ID), NAME(QKDN_A_RELAY_ID),
	NAME(QKDN_A_RELAY_TIMEOUT), NAME(QKDN_A_KX_FRAME), NAME(QKDN_A_RELAY_STATS),
	NAME(QKDN_A_STORE_STATS), NAME(QKDN_A_KSA_SYNC),
};

static const char *attr_name(int type)
{
	if (type >= 0 && type <= QKDN_A_MAX && attr_names[type])
		return attr_names[type];
	return NULL;
}

struct qkdn_nl *cli_nl(struct cli *cli)
{
	int err;

	if (cli->nl)
		return cli->nl;
	err = qkdn_nl_open(&cli->nl);
	if (err == -ENOENT)
		qkdn_die("generic netlink family \"%s\" not found (is qkdn.ko loaded?)",
			 QKDN_GENL_NAME);
	if (err)
		qkdn_die_err(err, "cannot open generic netlink socket");
	return cli->nl;
}

void cli_nl_die(struct cli *cli, const char *what, int err)
{
	const char *msg = cli->nl ? qkdn_nl_extack(cli->nl) : "";
	const char *bad = cli->nl ? attr_name(qkdn_nl_extack_attr(cli->nl)) : NULL;
	const char *miss = cli->nl ? attr_name(qkdn_nl_extack_missing(cli->nl)) : NULL;
	char extra[600] = "";

	if (err > 0)
		err = -err;
	if (*msg && bad)
		snprintf(extra, sizeof(extra), ": %s [%s]", msg, bad);
	else if (*msg && miss)
		snprintf(extra, sizeof(extra), ": %s [missing %s]", msg, miss);
	else if (*msg)
		snprintf(extra, sizeof(extra), ": %s", msg);
	else if (miss)
		snprintf(extra, sizeof(extra), ": missing attribute %s", miss);
	else if (bad)
		snprintf(extra, sizeof(extra), ": bad attribute %s", bad);
	fprintf(stderr, "%s: %s: %s%s\n", qkdn_progname(), what, strerror(-err), extra);
	exit(1);
}

struct qkdn_nl_msg *cli_msg(uint8_t cmd)
{
	struct qkdn_nl_msg *msg = qkdn_nl_msg_new(cmd, 0);

	if (!msg)
		qkdn_die_err(errno, "cannot allocate a locked message buffer");
	return msg;
}

void cli_request(struct cli *cli, const char *what, struct qkdn_nl_msg *msg,
		 qkdn_nl_cb cb, void *data)
{
	int err = qkdn_nl_request(cli_nl(cli), msg, cb, data);

	if (err)
		cli_nl_die(cli, what, err);
}

void cli_dump(struct cli *cli, const char *what, struct qkdn_nl_msg *msg,
	      qkdn_nl_cb cb, void *data)
{
	int err = qkdn_nl_dump(cli_nl(cli), msg, cb, data);

	if (err)
		cli_nl_die(cli, what, err);
}

const char *cli_value(const char *what, int argc, char **argv, int *i)
{
	if (*i + 1 >= argc)
		qkdn_die("%s: missing value for '%s'", what, argv[*i]);
	*i += 1;
	return argv[*i];
}

void cli_once(const char *what, const char *kw, bool *seen)
{
	if (*seen)
		qkdn_die("%s: '%s' given twice", what, kw);
	*seen = true;
}

static uint64_t number(const char *s, const char *name, uint64_t min, uint64_t max)
{
	uint64_t v;
	int err = qkdn_parse_u64(s, min, max, &v);

	if (err == -ERANGE)
		qkdn_die("number '%s' out of range for '%s' (%llu..%llu)", s, name,
			 (unsigned long long)min, (unsigned long long)max);
	if (err)
		qkdn_die("invalid number '%s' for '%s'", s, name);
	return v;
}

uint64_t cli_u64(const char *s, const char *name)
{
	return number(s, name, 0, UINT64_MAX);
}

uint32_t cli_u32(const char *s, const char *name)
{
	return (uint32_t)number(s, name, 0, UINT32_MAX);
}

uint16_t cli_u16(const char *s, const char *name)
{
	return (uint16_t)number(s, name, 0, UINT16_MAX);
}

uint32_t cli_node_id(const char *s, const char *name)
{
	return (uint32_t)number(s, name, 1, QKDN_NODE_ID_MAX);
}

int cli_fd(const char *s, const char *name)
{
	int fd, err = qkdn_parse_fd(s, &fd);

	if (err == -EBADF)
		qkdn_die_err(err, "%s %s", name, s);
	if (err)
		qkdn_die("invalid file descriptor '%s' for '%s'", s, name);
	return fd;
}

void cli_missing(const char *what, const char *name)
{
	qkdn_die("%s: missing '%s'", what, name);
}

void cli_unknown_arg(const char *what, const char *arg)
{
	qkdn_die("%s: unknown argument '%s'", what, arg);
}

void cli_no_more(const char *what, int argc, char **argv, int i)
{
	if (i < argc)
		cli_unknown_arg(what, argv[i]);
}

void cli_json_print(json_t *j)
{
	if (!j || json_dumpf(j, stdout, JSON_COMPACT | JSON_ENSURE_ASCII) < 0)
		qkdn_die("cannot format JSON output");
	putchar('\n');
	json_decref(j);
	if (fflush(stdout) == EOF)
		qkdn_die_err(errno, "write");
}

json_t *cli_json_u64(uint64_t v)
{
	/* jansson integers are signed 64-bit; beyond that, stay exact as text
	 * rather than wrap (no counter gets there in practice). */
	if (v > (uint64_t)INT64_MAX) {
		char s[24];

		snprintf(s, sizeof(s), "%llu", (unsigned long long)v);
		return json_string(s);
	}
	return json_integer((json_int_t)v);
}

const char *cli_role_name(uint8_t role)
{
	switch (role) {
	case QKDN_ROLE_ALICE:
		return "alice";
	case QKDN_ROLE_BOB:
		return "bob";
	default:
		return "unknown";
	}
}

static const struct cli_counter link_fields[] = {
	{ QKDN_STAT_A_STORED, "stored", "stored", "" },
	{ QKDN_STAT_A_ENC_AVAILABLE, "enc-available", "enc_available", "" },
	{ QKDN_STAT_A_DEC_STORED, "dec-stored", "dec_stored", "" },
	{ QKDN_STAT_A_GENERATED, "generated", "generated", "" },
	{ QKDN_STAT_A_CONSUMED, "consumed", "consumed", "" },
	{ QKDN_STAT_A_DELETED, "deleted", "deleted", "" },
	{ QKDN_STAT_A_DISCARDED, "discarded", "discarded", "" },
	/* second line */
	{ QKDN_STAT_A_QKD_KEYS, "qkd-keys", "qkd_keys", "" },
	{ QKDN_STAT_A_QKD_BYTES, "qkd-bytes", "qkd_bytes", "" },
	{ QKDN_STAT_A_GEN_RATE, "gen-rate", "gen_rate", "/s" },
	{ QKDN_STAT_A_CONS_RATE, "cons-rate", "cons_rate", "/s" },
	{ QKDN_STAT_A_NEXT_SEQ, "next-seq", "next_seq", "" },
	{ QKDN_STAT_A_VERIFIED, "verified", "verified", "" },
	{ QKDN_STAT_A_PEER_VERIFIED, "peer-verified", "peer_verified", "" },
};
#define STAT_FIRST_LINE 7

static const struct cli_counter relay_fields[] = {
	{ QKDN_RELAY_A_STARTED, "started", "started", "" },
	{ QKDN_RELAY_A_COMPLETED, "completed", "completed", "" },
	{ QKDN_RELAY_A_FAILED, "failed", "failed", "" },
	{ QKDN_RELAY_A_RECEIVED, "received", "received", "" },
	{ QKDN_RELAY_A_FORWARDED, "forwarded", "forwarded", "" },
	{ QKDN_RELAY_A_FRAMES_TX, "frames-tx", "frames_tx", "" },
	{ QKDN_RELAY_A_FRAMES_RX, "frames-rx", "frames_rx", "" },
	{ QKDN_RELAY_A_BAD_FRAME, "bad-frame", "bad_frame", "" },
	{ QKDN_RELAY_A_BAD_MAC, "bad-mac", "bad_mac", "" },
	{ QKDN_RELAY_A_REPLAYED, "replayed", "replayed", "" },
	{ QKDN_RELAY_A_UNKNOWN_LINK, "unknown-link", "unknown_link", "" },
	{ QKDN_RELAY_A_UNKNOWN_KEY, "unknown-key", "unknown_key", "" },
	{ QKDN_RELAY_A_UNROUTABLE, "unroutable", "unroutable", "" },
	{ QKDN_RELAY_A_LINK_KEYS_USED, "link-keys-used", "link_keys_used", "" },
	{ QKDN_RELAY_A_SYNC_OK, "sync-ok", "sync_ok", "" },
	{ QKDN_RELAY_A_SYNC_MISMATCH, "sync-mismatch", "sync_mismatch", "" },
	{ QKDN_RELAY_A_SYNC_TIMEOUT, "sync-timeout", "sync_timeout", "" },
	{ QKDN_RELAY_A_SYNC_BATCHES, "sync-batches", "sync_batches", "" },
	{ QKDN_RELAY_A_SYNC_WAITS, "sync-waits", "sync_waits", "" },
};

static const struct cli_counter store_fields[] = {
	{ QKDN_STORE_A_OWN_AVAILABLE, "own-available", "own_available", "" },
	{ QKDN_STORE_A_PEER_STORED, "peer-stored", "peer_stored", "" },
	{ QKDN_STORE_A_RELAYED_OUT, "relayed-out", "relayed_out", "" },
	{ QKDN_STORE_A_RELAYED_IN, "relayed-in", "relayed_in", "" },
	{ QKDN_STORE_A_CONSUMED, "consumed", "consumed", "" },
	{ QKDN_STORE_A_DELETED, "deleted", "deleted", "" },
	{ QKDN_STORE_A_OWN_VERIFIED, "own-verified", "own_verified", "" },
	{ QKDN_STORE_A_PEER_VERIFIED, "peer-verified", "peer_verified", "" },
};

_Static_assert(QKDN_STAT_A_MAX < 32 && QKDN_RELAY_A_MAX < 32 && QKDN_STORE_A_MAX < 32,
	       "cli_stats holds 32 counters");

const struct cli_counter_set cli_link_counters = {
	link_fields, QKDN_ARRAY_SIZE(link_fields), QKDN_STAT_A_MAX,
};
const struct cli_counter_set cli_relay_counters = {
	relay_fields, QKDN_ARRAY_SIZE(relay_fields), QKDN_RELAY_A_MAX,
};
const struct cli_counter_set cli_store_counters = {
	store_fields, QKDN_ARRAY_SIZE(store_fields), QKDN_STORE_A_MAX,
};

void cli_counters_parse(const struct cli_counter_set *set, const struct nlattr *nest,
			struct cli_stats *st)
{
	const struct nlattr *tb[32];

	memset(st, 0, sizeof(*st));
	if (!nest || qkdn_nl_parse_nested(nest, tb, set->max) < 0)
		return;
	for (unsigned int i = 1; i <= set->max; i++)
		if (qkdn_nla_u64(tb[i], &st->v[i]))
			st->present |= 1U << i;
}

/* Prints the counters fields[from..to) that are present on one line, the
 * first preceded by lead; nothing at all if none is present. */
static void print_fields(const struct cli_counter *fields, size_t from, size_t to,
			 const struct cli_stats *st, const char *lead)
{
	bool any = false;

	for (size_t i = from; i < to; i++) {
		if (!(st->present & (1U << fields[i].attr)))
			continue;
		printf("%s%s %llu%s", any ? " " : lead, fields[i].name,
		       (unsigned long long)st->v[fields[i].attr], fields[i].unit);
		any = true;
	}
	if (any)
		putchar('\n');
}

void cli_counters_print(const struct cli_counter_set *set, const struct cli_stats *st,
			const char *lead)
{
	print_fields(set->fields, 0, set->n, st, lead);
}

json_t *cli_counters_json(const struct cli_counter_set *set, const struct cli_stats *st)
{
	json_t *o = json_object();

	for (size_t i = 0; i < set->n; i++)
		if (st->present & (1U << set->fields[i].attr))
			json_object_set_new(o, set->fields[i].json,
					    cli_json_u64(st->v[set->fields[i].attr]));
	return o;
}

void cli_stats_parse(const struct nlattr *nest, struct cli_stats *st)
{
	cli_counters_parse(&cli_link_counters, nest, st);
}

void cli_stats_print(const struct cli_stats *st, const char *indent)
{
	print_fields(link_fields, 0, STAT_FIRST_LINE, st, indent);
	print_fields(link_fields, STAT_FIRST_LINE, QKDN_ARRAY_SIZE(link_fields), st, indent);
}

json_t *cli_stats_json(const struct cli_stats *st)
{
	return cli_counters_json(&cli_link_counters, st);
}
