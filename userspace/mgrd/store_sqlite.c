// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The SQLite back end of the manager's store (store.h): one file in WAL
 * mode. With synchronous=FULL a commit is on disk when it returns, so an
 * acknowledged notification survives kill -9 and power loss; NORMAL
 * survives kill -9 only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "log.h"
#include "mgmt.h"
#include "store.h"

enum stmt {
	S_BEGIN, S_COMMIT, S_ROLLBACK,
	S_AGENT_GET, S_AGENT_PUT,
	S_EVENT, S_PERF, S_PERF_LATEST, S_INVENTORY, S_CDR, S_KEY_EVENT,
	S_ALARM_RAISE, S_ALARM_CLEAR, S_ALARM_CLEAR_ROW, S_ALARM_ANALYSIS, S_ALARMS_RELATED,
	S_ACTION_ADD, S_ACTION_STATE, S_ACTIONS_QUEUED,
	S_TRACE,
	S_REPORT_ADD, S_FINDING_ADD,
	S_MX_EPOCH, S_MX_EPOCH_SET, S_MX_RANGE, S_MX_ADD, S_MX_GET, S_MX_TRIM,
	S_COUNT
};

static const char *const sql[S_COUNT] = {
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_AGENT_GET] = "SELECT seq FROM agents WHERE agent = ?1 AND epoch = ?2",
	[S_AGENT_PUT] = "INSERT INTO agents(agent, epoch, seq) VALUES (?1, ?2, ?3) "
			"ON CONFLICT(agent, epoch) DO UPDATE SET seq = excluded.seq",
	[S_EVENT] = "INSERT INTO events(agent, epoch, seq, cmd, node, resource, time_ms, rx_ms, "
		    "details, origin) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
	[S_PERF] = "INSERT INTO perf(event_id, node, resource, type, target, value, time_ms, "
		   "origin) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[S_PERF_LATEST] = "INSERT INTO perf_latest(resource, type, target, node, peer, value, "
			  "time_ms, origin) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
			  "ON CONFLICT(resource, type, target) DO UPDATE SET node = excluded.node, "
			  "peer = excluded.peer, value = excluded.value, "
			  "time_ms = excluded.time_ms, origin = excluded.origin "
			  "WHERE excluded.time_ms >= perf_latest.time_ms",
	[S_INVENTORY] = "INSERT INTO inventory(resource, kind, node, peer, state, link_id, module, "
			"peer_module, key_amount, descr, updated_ms, origin) "
			"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) "
			"ON CONFLICT(resource) DO UPDATE SET kind = excluded.kind, "
			"node = excluded.node, peer = excluded.peer, state = excluded.state, "
			"link_id = excluded.link_id, module = excluded.module, "
			"peer_module = excluded.peer_module, key_amount = excluded.key_amount, "
			"descr = excluded.descr, updated_ms = excluded.updated_ms, "
			"origin = excluded.origin",
	[S_CDR] = "INSERT INTO cdr(event_id, node, app, peer, dest, keys, bits, time_ms) "
		  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[S_KEY_EVENT] = "INSERT INTO key_events(event_id, key_id, event, node, src, dst, next_hop, "
			"peer, app, bits, time_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
			"?11)",
	[S_ALARM_RAISE] = "INSERT INTO alarms(event_id, agent, alarm_id, type, severity, node, "
			  "peer, dest, resource, source, value, descr, raised_ms, origin) "
			  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
	[S_ALARM_CLEAR] = "SELECT id FROM alarms WHERE agent = ?1 AND alarm_id = ?2 AND "
			  "origin IS ?3 AND cleared_ms IS NULL ORDER BY id DESC LIMIT 1",
	[S_ALARM_CLEAR_ROW] = "UPDATE alarms SET cleared_ms = ?2 WHERE id = ?1",
	[S_ALARM_ANALYSIS] = "UPDATE alarms SET cause = ?2, root = ?3 WHERE id = ?1",
	[S_ALARMS_RELATED] = "SELECT id, node, peer, type, severity, raised_ms, resource, "
			     "coalesce(root, 0) FROM alarms WHERE cleared_ms IS NULL AND id != ?4 "
			     "AND raised_ms >= ?3 AND ((node = ?1 AND peer = ?2) OR "
			     "(node = ?2 AND peer = ?1)) ORDER BY id",
	[S_ACTION_ADD] = "INSERT INTO actions(alarm_row, type, priority, resource, value, state, "
			 "created_ms, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?6)",
	[S_ACTION_STATE] = "UPDATE actions SET state = ?2, result = ?3, updated_ms = ?4 "
			   "WHERE id = ?1",
	[S_ACTIONS_QUEUED] = "SELECT id, type, priority, resource, value FROM actions "
			     "WHERE state = 0 ORDER BY priority, id LIMIT ?1",
	[S_TRACE] = "SELECT k.time_ms, k.event, k.node, k.src, k.dst, k.next_hop, k.peer, k.app, "
		    "k.bits, e.agent, e.seq FROM key_events k JOIN events e ON e.id = k.event_id "
		    "WHERE k.key_id = ?1 ORDER BY k.time_ms, k.id",
	[S_REPORT_ADD] = "INSERT INTO reports(start_ms, end_ms, body) VALUES (?1, ?2, ?3)",
	[S_FINDING_ADD] = "INSERT INTO findings(time_ms, rule, resource, node, peer, value, descr) "
			  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[S_MX_EPOCH] = "SELECT value FROM mx_state WHERE key = 'epoch'",
	[S_MX_EPOCH_SET] = "INSERT INTO mx_state(key, value) VALUES ('epoch', ?1) "
			   "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
	[S_MX_RANGE] = "SELECT coalesce(min(seq), 0), coalesce(max(seq), 0) FROM mx_out",
	[S_MX_ADD] = "INSERT INTO mx_out(seq, body) VALUES (?1, ?2)",
	[S_MX_GET] = "SELECT body FROM mx_out WHERE seq = ?1",
	[S_MX_TRIM] = "DELETE FROM mx_out WHERE seq <= ?1 AND seq < (SELECT max(seq) FROM mx_out)",
};

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS agents(agent TEXT NOT NULL, epoch INTEGER NOT NULL, "
	"  seq INTEGER NOT NULL, PRIMARY KEY(agent, epoch)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS events(id INTEGER PRIMARY KEY, agent TEXT NOT NULL, "
	"  epoch INTEGER NOT NULL, seq INTEGER NOT NULL, cmd INTEGER NOT NULL, node INTEGER, "
	"  resource TEXT NOT NULL, time_ms INTEGER NOT NULL, rx_ms INTEGER NOT NULL, details TEXT);"
	"CREATE TABLE IF NOT EXISTS alarms(id INTEGER PRIMARY KEY, event_id INTEGER NOT NULL, "
	"  agent TEXT NOT NULL, alarm_id INTEGER NOT NULL, type INTEGER NOT NULL, "
	"  severity INTEGER NOT NULL, node INTEGER, peer INTEGER, dest INTEGER, resource TEXT, "
	"  source TEXT, value INTEGER, descr TEXT, raised_ms INTEGER NOT NULL, "
	"  cleared_ms INTEGER, cause TEXT, root INTEGER);"
	"CREATE INDEX IF NOT EXISTS alarms_active ON alarms(cleared_ms, node, peer);"
	"CREATE TABLE IF NOT EXISTS perf(id INTEGER PRIMARY KEY, event_id INTEGER, node INTEGER, "
	"  resource TEXT, type INTEGER, target TEXT, value INTEGER, time_ms INTEGER);"
	"CREATE INDEX IF NOT EXISTS perf_time ON perf(time_ms);"
	"CREATE TABLE IF NOT EXISTS perf_latest(resource TEXT, type INTEGER, target TEXT, "
	"  node INTEGER, peer INTEGER, value INTEGER, time_ms INTEGER, "
	"  PRIMARY KEY(resource, type, target)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS inventory(resource TEXT PRIMARY KEY, kind INTEGER, "
	"  node INTEGER, peer INTEGER, state INTEGER, link_id INTEGER, module TEXT, "
	"  peer_module TEXT, key_amount INTEGER, descr TEXT, updated_ms INTEGER);"
	"CREATE TABLE IF NOT EXISTS cdr(id INTEGER PRIMARY KEY, event_id INTEGER, node INTEGER, "
	"  app TEXT, peer INTEGER, dest INTEGER, keys INTEGER, bits INTEGER, time_ms INTEGER);"
	"CREATE TABLE IF NOT EXISTS key_events(id INTEGER PRIMARY KEY, event_id INTEGER, "
	"  key_id BLOB NOT NULL, event INTEGER, node INTEGER, src INTEGER, dst INTEGER, "
	"  next_hop INTEGER, peer INTEGER, app TEXT, bits INTEGER, time_ms INTEGER);"
	"CREATE INDEX IF NOT EXISTS key_events_id ON key_events(key_id);"
	"CREATE TABLE IF NOT EXISTS actions(id INTEGER PRIMARY KEY, alarm_row INTEGER, "
	"  type INTEGER, priority INTEGER, resource TEXT, value TEXT, state INTEGER, "
	"  created_ms INTEGER, updated_ms INTEGER, result TEXT);"
	"CREATE TABLE IF NOT EXISTS reports(id INTEGER PRIMARY KEY, start_ms INTEGER NOT NULL, "
	"  end_ms INTEGER NOT NULL, body TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS findings(id INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL, "
	"  rule TEXT NOT NULL, resource TEXT NOT NULL, node INTEGER, peer INTEGER, "
	"  value INTEGER, descr TEXT);"
	"CREATE TABLE IF NOT EXISTS mx_state(key TEXT PRIMARY KEY, value INTEGER) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS mx_out(seq INTEGER PRIMARY KEY, body BLOB NOT NULL);";

/* Columns added after the first release: added to an older database. */
static const char *const added_columns[][2] = {
	{ "events", "origin" }, { "alarms", "origin" }, { "perf", "origin" },
	{ "perf_latest", "origin" }, { "inventory", "origin" },
};

struct sq_store {
	struct mgrd_store base;
	sqlite3 *db;
	sqlite3_stmt *st[S_COUNT];
};

#define SQ(s) ((struct sq_store *)(s))

static int db_fail(struct sq_store *q, const char *what)
{
	qkdn_log(QKDN_LOG_ERR, "database error", "event=db-error op=%s error=\"%s\"", what,
		 sqlite3_errmsg(q->db));
	return -EIO;
}

static sqlite3_stmt *stmt(struct sq_store *q, enum stmt i)
{
	sqlite3_stmt *s = q->st[i];

	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return s;
}

static int run(struct sq_store *q, enum stmt i, sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return db_fail(q, sql[i]);
	return 0;
}

static void bind_text(sqlite3_stmt *s, int i, const char *t)
{
	if (t)
		sqlite3_bind_text(s, i, t, -1, SQLITE_STATIC);
}

static void bind_u64(sqlite3_stmt *s, int i, uint64_t v)
{
	sqlite3_bind_int64(s, i, (sqlite3_int64)v);
}

/* Optional attributes: NULL in the database when absent. */
static void bind_attr(sqlite3_stmt *s, int i, const struct nlattr *a, enum qkdn_wire_type t)
{
	if (!a)
		return;
	switch (t) {
	case QKDN_WT_U8: bind_u64(s, i, qkdn_wire_get_u8(a)); break;
	case QKDN_WT_U16: bind_u64(s, i, qkdn_wire_get_u16(a)); break;
	case QKDN_WT_U32: bind_u64(s, i, qkdn_wire_get_u32(a)); break;
	case QKDN_WT_U64: bind_u64(s, i, qkdn_wire_get_u64(a)); break;
	case QKDN_WT_STRING: bind_text(s, i, qkdn_wire_get_str(a)); break;
	default: break;
	}
}

static void sq_close(struct mgrd_store *s)
{
	struct sq_store *q = SQ(s);

	for (int i = 0; i < S_COUNT; i++)
		sqlite3_finalize(q->st[i]);
	sqlite3_close(q->db);
	free(q);
}

static int simple(struct mgrd_store *s, enum stmt i)
{
	struct sq_store *q = SQ(s);

	return run(q, i, stmt(q, i));
}

static int sq_begin(struct mgrd_store *s) { return simple(s, S_BEGIN); }
static int sq_commit(struct mgrd_store *s) { return simple(s, S_COMMIT); }
static void sq_rollback(struct mgrd_store *s) { simple(s, S_ROLLBACK); }

static int sq_agent_seq(struct mgrd_store *s, const char *agent, uint64_t epoch, uint64_t *seq)
{
	struct sq_store *q = SQ(s);
	sqlite3_stmt *st = stmt(q, S_AGENT_GET);
	int rc;

	bind_text(st, 1, agent);
	bind_u64(st, 2, epoch);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*seq = (uint64_t)sqlite3_column_int64(st, 0);
		return 0;
	}
	if (rc != SQLITE_DONE)
		return db_fail(q, "agent seq");
	*seq = 0;
	return 0;
}

#define A(t) ev->tb[QKDN_W_##t]

static int sq_put_event(struct mgrd_store *s, struct mgrd_event *ev, const char *details)
{
	struct sq_store *q = SQ(s);
	sqlite3_stmt *st;
	int ret;

	st = stmt(q, S_EVENT);
	bind_text(st, 1, ev->agent);
	bind_u64(st, 2, ev->epoch);
	bind_u64(st, 3, ev->seq);
	bind_u64(st, 4, ev->cmd);
	if (ev->node)
		bind_u64(st, 5, ev->node);
	bind_text(st, 6, ev->resource);
	bind_u64(st, 7, ev->time_ms);
	bind_u64(st, 8, ev->rx_ms);
	bind_text(st, 9, details);
	bind_text(st, 10, ev->origin);
	ret = run(q, S_EVENT, st);
	if (ret)
		return ret;
	ev->id = (uint64_t)sqlite3_last_insert_rowid(q->db);

	st = stmt(q, S_AGENT_PUT);
	bind_text(st, 1, ev->via ? ev->via : ev->agent);
	bind_u64(st, 2, ev->epoch);
	bind_u64(st, 3, ev->seq);
	ret = run(q, S_AGENT_PUT, st);
	if (ret)
		return ret;

	switch (ev->cmd) {
	case QKDN_W_CMD_M_PERF:
		st = stmt(q, S_PERF);
		bind_u64(st, 1, ev->id);
		if (ev->node)
			bind_u64(st, 2, ev->node);
		bind_text(st, 3, ev->resource);
		bind_attr(st, 4, A(M_PERF_TYPE), QKDN_WT_U16);
		bind_attr(st, 5, A(M_PERF_TARGET), QKDN_WT_STRING);
		bind_attr(st, 6, A(M_PERF_VALUE), QKDN_WT_U64);
		bind_u64(st, 7, ev->time_ms);
		bind_text(st, 8, ev->origin);
		ret = run(q, S_PERF, st);
		if (ret)
			return ret;
		st = stmt(q, S_PERF_LATEST);
		bind_text(st, 1, ev->resource);
		bind_attr(st, 2, A(M_PERF_TYPE), QKDN_WT_U16);
		bind_attr(st, 3, A(M_PERF_TARGET), QKDN_WT_STRING);
		if (ev->node)
			bind_u64(st, 4, ev->node);
		bind_attr(st, 5, A(PEER_NODE_ID), QKDN_WT_U32);
		bind_attr(st, 6, A(M_PERF_VALUE), QKDN_WT_U64);
		bind_u64(st, 7, ev->time_ms);
		bind_text(st, 8, ev->origin);
		return run(q, S_PERF_LATEST, st);
	case QKDN_W_CMD_M_CONFIG:
		st = stmt(q, S_INVENTORY);
		bind_text(st, 1, ev->resource);
		bind_attr(st, 2, A(M_RESOURCE_KIND), QKDN_WT_U8);
		if (ev->node)
			bind_u64(st, 3, ev->node);
		bind_attr(st, 4, A(PEER_NODE_ID), QKDN_WT_U32);
		bind_attr(st, 5, A(M_RESOURCE_STATE), QKDN_WT_U8);
		bind_attr(st, 6, A(M_LINK_ID), QKDN_WT_U32);
		bind_attr(st, 7, A(M_QKD_MODULE), QKDN_WT_STRING);
		bind_attr(st, 8, A(M_PEER_QKD_MODULE), QKDN_WT_STRING);
		bind_attr(st, 9, A(KEY_AMOUNT), QKDN_WT_U64);
		bind_attr(st, 10, A(M_RESOURCE_DESC), QKDN_WT_STRING);
		bind_u64(st, 11, ev->time_ms);
		bind_text(st, 12, ev->origin);
		return run(q, S_INVENTORY, st);
	case QKDN_W_CMD_M_ACCOUNT:
		st = stmt(q, S_CDR);
		bind_u64(st, 1, ev->id);
		if (ev->node)
			bind_u64(st, 2, ev->node);
		bind_attr(st, 3, A(M_APP_ID), QKDN_WT_STRING);
		bind_attr(st, 4, A(PEER_NODE_ID), QKDN_WT_U32);
		bind_attr(st, 5, A(DEST_NODE_ID), QKDN_WT_U32);
		bind_attr(st, 6, A(M_KEY_COUNT), QKDN_WT_U64);
		bind_attr(st, 7, A(M_KEY_BITS), QKDN_WT_U64);
		bind_u64(st, 8, ev->time_ms);
		return run(q, S_CDR, st);
	case QKDN_W_CMD_M_KEY_EVENT:
		st = stmt(q, S_KEY_EVENT);
		bind_u64(st, 1, ev->id);
		sqlite3_bind_blob(st, 2, qkdn_wire_get_bin(A(KEY_ID)), QKDN_KEY_ID_LEN,
				  SQLITE_STATIC);
		bind_attr(st, 3, A(M_KEY_EVENT), QKDN_WT_U8);
		if (ev->node)
			bind_u64(st, 4, ev->node);
		bind_attr(st, 5, A(SOURCE_NODE_ID), QKDN_WT_U32);
		bind_attr(st, 6, A(DEST_NODE_ID), QKDN_WT_U32);
		bind_attr(st, 7, A(NEXT_HOP_NODE_ID), QKDN_WT_U32);
		bind_attr(st, 8, A(PEER_NODE_ID), QKDN_WT_U32);
		bind_attr(st, 9, A(M_APP_ID), QKDN_WT_STRING);
		bind_attr(st, 10, A(M_KEY_BITS), QKDN_WT_U64);
		bind_u64(st, 11, ev->time_ms);
		return run(q, S_KEY_EVENT, st);
	default:
		return 0;
	}
}

static int sq_alarm_raise(struct mgrd_store *s, const struct mgrd_event *ev, uint64_t *row)
{
	struct sq_store *q = SQ(s);
	sqlite3_stmt *st = stmt(q, S_ALARM_RAISE);
	int ret;

	bind_u64(st, 1, ev->id);
	bind_text(st, 2, ev->agent);
	bind_attr(st, 3, A(M_ALARM_ID), QKDN_WT_U64);
	bind_attr(st, 4, A(M_ALARM_TYPE), QKDN_WT_U16);
	bind_attr(st, 5, A(M_SEVERITY), QKDN_WT_U8);
	if (ev->node)
		bind_u64(st, 6, ev->node);
	bind_attr(st, 7, A(PEER_NODE_ID), QKDN_WT_U32);
	bind_attr(st, 8, A(DEST_NODE_ID), QKDN_WT_U32);
	bind_text(st, 9, ev->resource);
	bind_attr(st, 10, A(M_ALARM_SOURCE), QKDN_WT_STRING);
	bind_attr(st, 11, A(M_ALARM_VALUE), QKDN_WT_U64);
	bind_attr(st, 12, A(M_ALARM_DESC), QKDN_WT_STRING);
	bind_u64(st, 13, ev->time_ms);
	bind_text(st, 14, ev->origin);
	ret = run(q, S_ALARM_RAISE, st);
	*row = ret ? 0 : (uint64_t)sqlite3_last_insert_rowid(q->db);
	return ret;
}

static int sq_alarm_clear(struct mgrd_store *s, const struct mgrd_event *ev, uint64_t *row)
{
	struct sq_store *q = SQ(s);
	sqlite3_stmt *st = stmt(q, S_ALARM_CLEAR);
	int rc;

	*row = 0;
	bind_text(st, 1, ev->agent);
	bind_attr(st, 2, A(M_ALARM_ID), QKDN_WT_U64);
	bind_text(st, 3, ev->origin);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return 0;	/* nothing active: a repeated clear */
	if (rc != SQLITE_ROW)
		return db_fail(q, "alarm clear");
	*row = (uint64_t)sqlite3_column_int64(st, 0);
	st = stmt(q, S_ALARM_CLEAR_ROW);
	bind_u64(st, 1, *row);
	bind_u64(st, 2, ev->time_ms);
	return run(q, S_ALARM_CLEAR_ROW, st);
}

#undef A

static int sq_alarm_analysis(struct mgrd_store *s, uint64_t row, const char *cause, uint64_t root)
{
	struct sq_store *q = SQ(s);
	sqlite3_stmt *st = stmt(q, S_ALARM_ANALYSIS);

	bind_u64(st, 1, row);
	bind_text(st, 2, cause);
	if (root)
		bind_u64(st, 3, root);
	return run(q, S_ALARM_ANALYSIS, st);
}

static int sq_alarms_related(struct mgrd_store *s, uint32_t node, uint32_t peer,
			     uint64_t since_ms, uint64_t row, struct mgrd_alarm *out, size_t max,
			     size_t *n)
{
	struct sq_store *q = SQ(s);
	sqlite3_stmt *st = stmt(q, S_ALARMS_RELATED);
	int rc;

	*n = 0;
	bind_u64(st, 1, node);
	bind_u64(st, 2, peer);
	bind_u64(st, 3, since_ms);
	bind_u64(st, 4, row);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < max) {
		struct mgrd_alarm *a = &out[(*n)++];
		const unsigned char *r = sqlite3_column_text(st, 6);

		a->row = (uint64_t)sqlite3_column_int64(st, 0);
		a->node = (uint32_t)sqlite3_column_int64(st, 1);
		a->peer = (uint32_t)sqlite3_column_int64(st, 2);
		a->type = (uint16_t)sqlite3_column_int(st, 3);
		a->severity = (uint8_t)sqlite3_column_int(st, 4);
		a->raised_ms = (uint64_t)sqlite3_column_int64(st, 5);
		snprintf(a->resource, sizeof(a->resource), "%s", r ? (const char *)r : "");
		a->root = (uint64_t)sqlite3_column_int64(st, 7);
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_fail(q, "alarms related");
	return 0;
}

static int sq_action_add(struct mgrd_store *s, const struct mgrd_action *a, uint64_t alarm_row,
			 uint64_t *id)
{
	struct sq_store *q = SQ(s);
	sqlite3_stmt *st = stmt(q, S_ACTION_ADD);
	int ret;

	if (alarm_row)
		bind_u64(st, 1, alarm_row);
	bind_u64(st, 2, a->type);
	bind_u64(st, 3, a->priority);
	bind_text(st, 4, a->resource);
	bind_text(st, 5, a->value);
	bind_u64(st, 6, qkdn_mgmt_now_ms());
	ret = run(q, S_ACTION_ADD, st);
	*id = ret ? 0 : (uint64_t)sqlite3_last_insert_rowid(q->db);
	return ret;
}

static int sq_action_state(struct mgrd_store *s, uint64_t id, enum mgrd_action_state state,
			   const char *result)
{
	struct sq_store *q = SQ(s);
	sqlite3_stmt *st = stmt(q, S_ACTION_STATE);

	bind_u64(st, 1, id);
	bind_u64(st, 2, state);
	bind_text(st, 3, result);
	bind_u64(st, 4, qkdn_mgmt_now_ms());
	return run(q, S_ACTION_STATE, st);
}

static int sq_actions_queued(struct mgrd_store *s, struct mgrd_action *out, size_t max, size_t *n)
{
	struct sq_store *q = SQ(s);
	sqlite3_stmt *st = stmt(q, S_ACTIONS_QUEUED);
	int rc;

	*n = 0;
	bind_u64(st, 1, max);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct mgrd_action *a = &out[(*n)++];
		const unsigned char *r = sqlite3_column_text(st, 3), *v = sqlite3_column_text(st, 4);

		a->id = (uint64_t)sqlite3_column_int64(st, 0);
		a->type = (uint8_t)sqlite3_column_int(st, 1);
		a->priority = (uint8_t)sqlite3_column_int(st, 2);
		snprintf(a->resource, sizeof(a->resource), "%s", r ? (const char *)r : "");
		snprintf(a->value, sizeof(a->value), "%s", v ? (const char *)v : "");
	}
	if (rc != SQLITE_DONE)
		return db_fail(q, "actions queued");
	return 0;
}

/* Queries: rows as JSON objects named after the columns. */
static json_t *query_json2(struct sq_store *q, const char *text, const void *blob,
			   size_t blob_len, int64_t arg, int64_t arg2)
{
	sqlite3_stmt *st;
	json_t *arr = json_array();
	int rc;

	if (sqlite3_prepare_v2(q->db, text, -1, &st, NULL) != SQLITE_OK) {
		db_fail(q, text);
		json_decref(arr);
		return NULL;
	}
	if (blob)
		sqlite3_bind_blob(st, 1, blob, (int)blob_len, SQLITE_STATIC);
	else if (sqlite3_bind_parameter_count(st) >= 1)
		sqlite3_bind_int64(st, 1, arg);
	if (sqlite3_bind_parameter_count(st) >= 2)
		sqlite3_bind_int64(st, 2, arg2);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *row = json_object();

		for (int i = 0; i < sqlite3_column_count(st); i++) {
			const char *name = sqlite3_column_name(st, i);
			json_t *v;

			switch (sqlite3_column_type(st, i)) {
			case SQLITE_INTEGER:
				v = json_integer(sqlite3_column_int64(st, i));
				break;
			case SQLITE_FLOAT:
				v = json_real(sqlite3_column_double(st, i));
				break;
			case SQLITE_TEXT: {
				const char *t = (const char *)sqlite3_column_text(st, i);

				/* details, a report's body: already JSON */
				v = !strcmp(name, "details") || !strcmp(name, "body") ?
				    json_loads(t, 0, NULL) : json_string(t);
				if (!v)
					v = json_string(t);
				break;
			}
			default:
				v = json_null();
			}
			json_object_set_new(row, name, v);
		}
		json_array_append_new(arr, row);
	}
	if (rc != SQLITE_DONE)
		db_fail(q, text);
	sqlite3_finalize(st);
	return arr;
}

static json_t *query_json(struct sq_store *q, const char *text, const void *blob, size_t blob_len,
			  int64_t arg)
{
	return query_json2(q, text, blob, blob_len, arg, 0);
}

static json_t *sq_alarms(struct mgrd_store *s, bool active_only)
{
	return query_json(SQ(s), active_only ?
		"SELECT id, agent, alarm_id, type, severity, node, peer, dest, resource, source, "
		"value, descr AS description, raised_ms, cleared_ms, cause, root, origin "
		"FROM alarms WHERE cleared_ms IS NULL ORDER BY id" :
		"SELECT id, agent, alarm_id, type, severity, node, peer, dest, resource, source, "
		"value, descr AS description, raised_ms, cleared_ms, cause, root, origin "
		"FROM alarms ORDER BY id", NULL, 0, 0);
}

static json_t *sq_inventory(struct mgrd_store *s)
{
	return query_json(SQ(s), "SELECT resource, kind, node, peer, state, link_id, module, "
			  "peer_module, key_amount, descr AS description, updated_ms, origin "
			  "FROM inventory ORDER BY kind, node, resource", NULL, 0, 0);
}

static json_t *sq_performance(struct mgrd_store *s)
{
	return query_json(SQ(s), "SELECT resource, type, target, node, peer, value, time_ms, "
			  "origin FROM perf_latest ORDER BY resource, type, target", NULL, 0, 0);
}

static json_t *sq_perf_report(struct mgrd_store *s, uint64_t since_ms)
{
	return query_json(SQ(s), "SELECT resource, type, target, count(*) AS samples, "
			  "min(value) AS min, avg(value) AS avg, max(value) AS max, "
			  "max(time_ms) AS last_ms FROM perf WHERE time_ms >= ?1 "
			  "GROUP BY resource, type, target ORDER BY resource, type, target",
			  NULL, 0, (int64_t)since_ms);
}

/* The peer of a figure is in perf_latest (a resource's peer does not
 * change). Our own agents' figures only: the degradation rules and their
 * remedies are the origin manager's (Mx). */
static json_t *sq_perf_period(struct mgrd_store *s, uint64_t from_ms, uint64_t to_ms)
{
	return query_json2(SQ(s), "SELECT p.resource, p.type, p.target, p.node, l.peer, "
			   "count(*) AS samples, min(p.value) AS min, avg(p.value) AS avg, "
			   "max(p.value) AS max, "
			   "(SELECT x.value FROM perf x WHERE x.resource = p.resource AND "
			   " x.type = p.type AND x.target IS p.target AND x.time_ms >= ?1 AND "
			   " x.time_ms < ?2 ORDER BY x.time_ms, x.id LIMIT 1) AS first, "
			   "(SELECT x.value FROM perf x WHERE x.resource = p.resource AND "
			   " x.type = p.type AND x.target IS p.target AND x.time_ms >= ?1 AND "
			   " x.time_ms < ?2 ORDER BY x.time_ms DESC, x.id DESC LIMIT 1) AS last "
			   "FROM perf p LEFT JOIN perf_latest l "
			   "ON l.resource = p.resource AND l.type = p.type AND l.target = p.target "
			   "WHERE p.time_ms >= ?1 AND p.time_ms < ?2 AND p.origin IS NULL "
			   "GROUP BY p.resource, p.type, p.target ORDER BY p.resource, p.type, p.target",
			   NULL, 0, (int64_t)from_ms, (int64_t)to_ms);
}

static int sq_report_add(struct mgrd_store *s, uint64_t start_ms, uint64_t end_ms,
			 const char *body, uint64_t *id)
{
	struct sq_store *q = SQ(s);
	sqlite3_stmt *st = stmt(q, S_REPORT_ADD);
	int ret;

	bind_u64(st, 1, start_ms);
	bind_u64(st, 2, end_ms);
	bind_text(st, 3, body);
	ret = run(q, S_REPORT_ADD, st);
	*id = ret ? 0 : (uint64_t)sqlite3_last_insert_rowid(q->db);
	return ret;
}

static json_t *sq_reports(struct mgrd_store *s, unsigned int limit)
{
	return query_json(SQ(s), "SELECT id, start_ms, end_ms, body FROM reports "
			  "ORDER BY id DESC LIMIT ?1", NULL, 0, limit);
}

static int sq_finding_add(struct mgrd_store *s, const struct mgrd_finding *f)
{
	struct sq_store *q = SQ(s);
	sqlite3_stmt *st = stmt(q, S_FINDING_ADD);

	bind_u64(st, 1, f->time_ms);
	bind_text(st, 2, f->rule);
	bind_text(st, 3, f->resource);
	bind_u64(st, 4, f->node);
	bind_u64(st, 5, f->peer);
	bind_u64(st, 6, f->value);
	bind_text(st, 7, f->desc);
	return run(q, S_FINDING_ADD, st);
}

static json_t *sq_findings(struct mgrd_store *s, unsigned int limit)
{
	return query_json(SQ(s), "SELECT id, time_ms, rule, resource, node, peer, value, "
			  "descr AS description FROM findings ORDER BY id DESC LIMIT ?1",
			  NULL, 0, limit);
}

static json_t *sq_trace(struct mgrd_store *s, const uint8_t key_id[QKDN_KEY_ID_LEN])
{
	struct sq_store *q = SQ(s);
	sqlite3_stmt *st = stmt(q, S_TRACE);
	json_t *arr = json_array();
	int rc;

	sqlite3_bind_blob(st, 1, key_id, QKDN_KEY_ID_LEN, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *row = json_object();
		static const char *const cols[] = { "time_ms", "event", "node", "source", "dest",
						    "next_hop", "peer", "app", "bits", "agent",
						    "seq" };

		for (int i = 0; i < (int)(sizeof(cols) / sizeof(cols[0])); i++) {
			if (sqlite3_column_type(st, i) == SQLITE_NULL)
				continue;
			if (i == 1)
				json_object_set_new(row, cols[i], json_string(mgrd_key_event_name(
					(uint8_t)sqlite3_column_int(st, i))));
			else if (sqlite3_column_type(st, i) == SQLITE_TEXT)
				json_object_set_new(row, cols[i], json_string(
					(const char *)sqlite3_column_text(st, i)));
			else
				json_object_set_new(row, cols[i],
						    json_integer(sqlite3_column_int64(st, i)));
		}
		json_array_append_new(arr, row);
	}
	if (rc != SQLITE_DONE) {
		db_fail(q, "trace");
		json_decref(arr);
		return NULL;
	}
	return arr;
}

static json_t *sq_cdr(struct mgrd_store *s)
{
	return query_json(SQ(s), "SELECT id, node, app, peer, dest, keys, bits, time_ms FROM cdr "
			  "ORDER BY id", NULL, 0, 0);
}

static json_t *sq_cdr_totals(struct mgrd_store *s)
{
	struct sq_store *q = SQ(s);
	json_t *o = json_object();

	json_object_set_new(o, "applications", query_json(q,
		"SELECT app, count(*) AS records, sum(keys) AS keys, sum(bits) AS bits FROM cdr "
		"GROUP BY app ORDER BY app", NULL, 0, 0));
	json_object_set_new(o, "links", query_json(q,
		"SELECT node, peer, sum(keys) AS keys, sum(bits) AS bits FROM cdr "
		"WHERE peer IS NOT NULL GROUP BY node, peer ORDER BY node, peer", NULL, 0, 0));
	return o;
}

static json_t *sq_events(struct mgrd_store *s, uint16_t cmd, unsigned int limit)
{
	struct sq_store *q = SQ(s);
	char text[300];

	snprintf(text, sizeof(text), "SELECT id, agent, seq, cmd, node, resource, time_ms, rx_ms, "
		 "details, origin FROM events %s ORDER BY id DESC LIMIT %u",
		 cmd ? "WHERE cmd = ?1" : "", limit);
	return query_json(q, text, NULL, 0, cmd);
}

static json_t *sq_actions(struct mgrd_store *s)
{
	return query_json(SQ(s), "SELECT id, alarm_row AS alarm, type, priority, resource, value, "
			  "CASE state WHEN 0 THEN 'queued' WHEN 1 THEN 'sent' WHEN 2 THEN 'done' "
			  "ELSE 'failed' END AS state, created_ms, updated_ms, result FROM actions "
			  "ORDER BY id", NULL, 0, 0);
}

static int sq_counts(struct mgrd_store *s, uint64_t *events, uint64_t *active)
{
	struct sq_store *q = SQ(s);
	sqlite3_stmt *st;
	int ret = 0;

	if (sqlite3_prepare_v2(q->db, "SELECT (SELECT max(id) FROM events), (SELECT count(*) "
			       "FROM alarms WHERE cleared_ms IS NULL)", -1, &st, NULL) != SQLITE_OK)
		return db_fail(q, "counts");
	if (sqlite3_step(st) == SQLITE_ROW) {
		*events = (uint64_t)sqlite3_column_int64(st, 0);
		*active = (uint64_t)sqlite3_column_int64(st, 1);
	} else {
		ret = db_fail(q, "counts");
	}
	sqlite3_finalize(st);
	return ret;
}

static int sq_mx_epoch(struct mgrd_store *s, uint64_t *epoch)
{
	struct sq_store *q = SQ(s);
	sqlite3_stmt *st = stmt(q, S_MX_EPOCH);
	int rc = sqlite3_step(st);

	*epoch = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_fail(q, "mx epoch");
}

static int sq_mx_epoch_set(struct mgrd_store *s, uint64_t epoch)
{
	struct sq_store *q = SQ(s);
	sqlite3_stmt *st = stmt(q, S_MX_EPOCH_SET);

	bind_u64(st, 1, epoch);
	return run(q, S_MX_EPOCH_SET, st);
}

static int sq_mx_out_range(struct mgrd_store *s, uint64_t *first, uint64_t *last)
{
	struct sq_store *q = SQ(s);
	sqlite3_stmt *st = stmt(q, S_MX_RANGE);

	if (sqlite3_step(st) != SQLITE_ROW)
		return db_fail(q, "mx range");
	*first = (uint64_t)sqlite3_column_int64(st, 0);
	*last = (uint64_t)sqlite3_column_int64(st, 1);
	return 0;
}

static int sq_mx_out_add(struct mgrd_store *s, uint64_t seq, const void *body, size_t len)
{
	struct sq_store *q = SQ(s);
	sqlite3_stmt *st = stmt(q, S_MX_ADD);

	bind_u64(st, 1, seq);
	sqlite3_bind_blob(st, 2, body, (int)len, SQLITE_STATIC);
	return run(q, S_MX_ADD, st);
}

static int sq_mx_out_get(struct mgrd_store *s, uint64_t seq, void **body, size_t *len)
{
	struct sq_store *q = SQ(s);
	sqlite3_stmt *st = stmt(q, S_MX_GET);
	int rc;

	bind_u64(st, 1, seq);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return db_fail(q, "mx get");
	*len = (size_t)sqlite3_column_bytes(st, 0);
	*body = malloc(*len ? *len : 1);
	if (!*body)
		return -ENOMEM;
	memcpy(*body, sqlite3_column_blob(st, 0), *len);
	return 0;
}

static int sq_mx_out_trim(struct mgrd_store *s, uint64_t upto)
{
	struct sq_store *q = SQ(s);
	sqlite3_stmt *st = stmt(q, S_MX_TRIM);

	bind_u64(st, 1, upto);
	return run(q, S_MX_TRIM, st);
}

static const struct mgrd_store_ops sqlite_ops = {
	.name = "sqlite",
	.close = sq_close,
	.begin = sq_begin,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.agent_seq = sq_agent_seq,
	.put_event = sq_put_event,
	.alarm_raise = sq_alarm_raise,
	.alarm_clear = sq_alarm_clear,
	.alarm_analysis = sq_alarm_analysis,
	.alarms_related = sq_alarms_related,
	.action_add = sq_action_add,
	.action_state = sq_action_state,
	.actions_queued = sq_actions_queued,
	.alarms = sq_alarms,
	.inventory = sq_inventory,
	.performance = sq_performance,
	.perf_report = sq_perf_report,
	.perf_period = sq_perf_period,
	.report_add = sq_report_add,
	.reports = sq_reports,
	.finding_add = sq_finding_add,
	.findings = sq_findings,
	.trace = sq_trace,
	.cdr = sq_cdr,
	.cdr_totals = sq_cdr_totals,
	.events = sq_events,
	.actions = sq_actions,
	.counts = sq_counts,
	.mx_epoch = sq_mx_epoch,
	.mx_epoch_set = sq_mx_epoch_set,
	.mx_out_range = sq_mx_out_range,
	.mx_out_add = sq_mx_out_add,
	.mx_out_get = sq_mx_out_get,
	.mx_out_trim = sq_mx_out_trim,
};

/* An older database: the columns added since. */
static int add_columns(struct sq_store *q, char **msg)
{
	for (size_t i = 0; i < sizeof(added_columns) / sizeof(added_columns[0]); i++) {
		char text[160];
		sqlite3_stmt *st;

		snprintf(text, sizeof(text), "SELECT %s FROM %s LIMIT 0", added_columns[i][1],
			 added_columns[i][0]);
		if (sqlite3_prepare_v2(q->db, text, -1, &st, NULL) == SQLITE_OK) {
			sqlite3_finalize(st);
			continue;
		}
		snprintf(text, sizeof(text), "ALTER TABLE %s ADD COLUMN %s TEXT",
			 added_columns[i][0], added_columns[i][1]);
		if (sqlite3_exec(q->db, text, NULL, NULL, msg) != SQLITE_OK)
			return -EIO;
	}
	return 0;
}

int mgrd_store_sqlite_open(struct mgrd_store **out, const char *path, bool sync_full,
			   char *err, size_t err_len)
{
	struct sq_store *q = calloc(1, sizeof(*q));
	char *msg = NULL;

	if (!q) {
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	q->base.ops = &sqlite_ops;
	if (sqlite3_open_v2(path, &q->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		snprintf(err, err_len, "%s: %s", path, q->db ? sqlite3_errmsg(q->db) : "no memory");
		goto fail;
	}
	sqlite3_busy_timeout(q->db, 5000);
	if (sqlite3_exec(q->db, sync_full ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
					  : "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
			 NULL, NULL, &msg) != SQLITE_OK ||
	    sqlite3_exec(q->db, schema, NULL, NULL, &msg) != SQLITE_OK || add_columns(q, &msg)) {
		snprintf(err, err_len, "%s: %s", path, msg ? msg : sqlite3_errmsg(q->db));
		sqlite3_free(msg);
		goto fail;
	}
	for (int i = 0; i < S_COUNT; i++)
		if (sqlite3_prepare_v3(q->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &q->st[i],
				       NULL) != SQLITE_OK) {
			snprintf(err, err_len, "%s: %s: %s", path, sql[i], sqlite3_errmsg(q->db));
			goto fail;
		}
	*out = &q->base;
	return 0;
fail:
	sq_close(&q->base);
	return -EIO;
}
