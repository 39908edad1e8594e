// SPDX-License-Identifier: GPL-2.0 OR MIT
/* qkdn-mgrd's SQLite store: events in, queries out, sequence numbers and
 * everything committed surviving a reopen; alarm correlation queries. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"
#include "tap.h"

static struct qkdn_wire_msg *msg;
static void *copy;

static const struct nlattr **parse(struct qkdn_wire_msg *m)
{
	static const struct nlattr *tb[QKDN_W_MAX + 1];
	struct qkdn_wire_hdr hdr;
	const void *bytes;
	size_t len;

	free(copy);
	qkdn_wire_put_u64(m, QKDN_W_M_TIME_MS, 1000);
	qkdn_wire_msg_finish(m, &bytes, &len);
	copy = malloc(len);
	memcpy(copy, bytes, len);
	if (qkdn_wire_parse(copy, len, &qkdn_wire_mgmt_policy, tb, &hdr) < 0)
		diag("parse: %s", hdr.error);
	qkdn_wire_msg_free(m);
	return tb;
}

static int put(struct mgrd_store *s, const char *agent, uint32_t node, uint64_t seq,
	       struct qkdn_wire_msg *m, uint16_t cmd, const char *res)
{
	struct mgrd_event ev = { .agent = agent, .node = node, .epoch = 9, .seq = seq, .cmd = cmd,
				 .time_ms = 1000 + seq, .rx_ms = 2000, .resource = res };

	qkdn_wire_put_u64(m, QKDN_W_M_SEQ, seq);
	qkdn_wire_put_str(m, QKDN_W_M_RESOURCE_ID, res);
	ev.tb = parse(m);
	return s->ops->put_event(s, &ev, "{}");
}

static struct qkdn_wire_msg *key_event(const uint8_t *id, uint8_t what, uint32_t next)
{
	msg = qkdn_wire_msg_new(QKDN_W_CMD_M_KEY_EVENT, 1);
	qkdn_wire_put_bin(msg, QKDN_W_KEY_ID, id, QKDN_KEY_ID_LEN);
	qkdn_wire_put_u8(msg, QKDN_W_M_KEY_EVENT, what);
	if (next)
		qkdn_wire_put_u32(msg, QKDN_W_NEXT_HOP_NODE_ID, next);
	return msg;
}

static struct qkdn_wire_msg *account(const char *app, uint64_t keys)
{
	msg = qkdn_wire_msg_new(QKDN_W_CMD_M_ACCOUNT, 1);
	qkdn_wire_put_str(msg, QKDN_W_M_APP_ID, app);
	qkdn_wire_put_u64(msg, QKDN_W_M_KEY_COUNT, keys);
	qkdn_wire_put_u64(msg, QKDN_W_M_KEY_BITS, keys * 256);
	return msg;
}

int main(void)
{
	char path[] = "/tmp/qkdn-test-mgrd-XXXXXX", db[64], err[256];
	const uint8_t id[QKDN_KEY_ID_LEN] = { 1, 2, 3 }, other[QKDN_KEY_ID_LEN] = { 9 };
	struct mgrd_store *s;
	struct mgrd_alarm rel[4];
	uint64_t seq = 0, row = 0;
	size_t n = 0;
	json_t *j;
	int ret;

	if (!mkdtemp(path))
		return 1;
	snprintf(db, sizeof(db), "%s/m.db", path);
	ret = mgrd_store_sqlite_open(&s, db, true, err, sizeof(err));
	ok(ret == 0, "open %s (%s)", db, ret ? err : "");
	if (ret)
		return tap_done();
	ok(s->ops->begin(s) == 0, "begin");
	ok(put(s, "qkdn-node-1", 1, 1, key_event(id, QKDN_W_KEY_GENERATED, 0),
	       QKDN_W_CMD_M_KEY_EVENT, "km-link-1-2") == 0, "key generated stored");
	ok(put(s, "qkdn-node-1", 1, 2, key_event(id, QKDN_W_KEY_RELAYED, 2),
	       QKDN_W_CMD_M_KEY_EVENT, "km-link-1-2") == 0, "key relayed stored");
	ok(put(s, "qkdn-node-1", 1, 3, key_event(other, QKDN_W_KEY_GENERATED, 0),
	       QKDN_W_CMD_M_KEY_EVENT, "km-link-1-2") == 0, "other key stored");
	ok(put(s, "qkdn-node-1", 1, 4, account("app-a", 3), QKDN_W_CMD_M_ACCOUNT, "sae-app-a") == 0 &&
	   put(s, "qkdn-node-1", 1, 5, account("app-a", 4), QKDN_W_CMD_M_ACCOUNT, "sae-app-a") == 0 &&
	   put(s, "qkdn-node-1", 1, 6, account("app-b", 1), QKDN_W_CMD_M_ACCOUNT, "sae-app-b") == 0,
	   "accounting records stored");
	ok(s->ops->commit(s) == 0, "commit");
	/* An uncommitted write is gone after a rollback. */
	s->ops->begin(s);
	put(s, "qkdn-node-1", 1, 7, account("app-a", 100), QKDN_W_CMD_M_ACCOUNT, "sae-app-a");
	s->ops->rollback(s);
	s->ops->close(s);

	ret = mgrd_store_sqlite_open(&s, db, true, err, sizeof(err));
	ok(ret == 0, "reopen");
	if (ret)
		return tap_done();
	ok(s->ops->agent_seq(s, "qkdn-node-1", 9, &seq) == 0 && seq == 6,
	   "last stored sequence survives: 6, saw %llu", (unsigned long long)seq);
	ok(s->ops->agent_seq(s, "qkdn-node-1", 10, &seq) == 0 && seq == 0,
	   "another epoch starts at 0");
	j = s->ops->trace(s, id);
	ok(json_array_size(j) == 2 &&
	   !strcmp(json_string_value(json_object_get(json_array_get(j, 0), "event")), "generated") &&
	   json_integer_value(json_object_get(json_array_get(j, 1), "next_hop")) == 2,
	   "trace: generated, then relayed to node 2, nothing of the other key");
	json_decref(j);
	j = s->ops->cdr_totals(s);
	{
		json_t *apps = json_object_get(j, "applications");

		ok(json_array_size(apps) == 2 &&
		   json_integer_value(json_object_get(json_array_get(apps, 0), "keys")) == 7 &&
		   json_integer_value(json_object_get(json_array_get(apps, 0), "bits")) == 7 * 256 &&
		   json_integer_value(json_object_get(json_array_get(apps, 1), "keys")) == 1,
		   "CDR totals: app-a 7 keys (the rolled back 100 not counted), app-b 1");
	}
	json_decref(j);

	/* Alarms and correlation. */
	s->ops->begin(s);
	msg = qkdn_wire_msg_new(QKDN_W_CMD_M_ALARM, 1);
	qkdn_wire_put_u16(msg, QKDN_W_M_ALARM_TYPE, QKDN_W_ALARM_QKD_LINK_DOWN);
	qkdn_wire_put_u64(msg, QKDN_W_M_ALARM_ID, 5);
	qkdn_wire_put_str(msg, QKDN_W_M_ALARM_SOURCE, "A-tx");
	qkdn_wire_put_u8(msg, QKDN_W_M_SEVERITY, QKDN_W_SEV_CRITICAL);
	qkdn_wire_put_u32(msg, QKDN_W_PEER_NODE_ID, 2);
	{
		struct mgrd_event ev = { .agent = "qkdn-qkd-1", .node = 1, .epoch = 1, .seq = 1,
					 .cmd = QKDN_W_CMD_M_ALARM, .time_ms = 5000,
					 .resource = "qkd-link-1-1" };

		qkdn_wire_put_u64(msg, QKDN_W_M_SEQ, 1);
		qkdn_wire_put_str(msg, QKDN_W_M_RESOURCE_ID, "qkd-link-1-1");
		ev.tb = parse(msg);
		ev.time_ms = 5000;
		ok(s->ops->put_event(s, &ev, NULL) == 0 && s->ops->alarm_raise(s, &ev, &row) == 0 &&
		   row == 1, "alarm raised, row 1");
		ok(s->ops->alarms_related(s, 2, 1, 4000, 0, rel, 4, &n) == 0 && n == 1 &&
		   rel[0].type == QKDN_W_ALARM_QKD_LINK_DOWN, "related alarm found the other way round");
		ok(s->ops->alarms_related(s, 2, 1, 6000, 0, rel, 4, &n) == 0 && n == 0,
		   "outside the window: none");
		ok(s->ops->alarms_related(s, 1, 3, 0, 0, rel, 4, &n) == 0 && n == 0,
		   "another link: none");
		ok(s->ops->alarm_clear(s, &ev, &row) == 0 && row == 1, "cleared");
		j = s->ops->alarms(s, true);
		ok(json_array_size(j) == 0, "no active alarm left");
		json_decref(j);
	}
	s->ops->commit(s);
	s->ops->close(s);
	free(copy);
	unlink(db);
	snprintf(err, sizeof(err), "%s-wal", db);
	unlink(err);
	snprintf(err, sizeof(err), "%s-shm", db);
	unlink(err);
	rmdir(path);
	return tap_done();
}
