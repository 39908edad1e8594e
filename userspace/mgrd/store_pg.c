// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The PostgreSQL back end of the manager's store (store.h), for a network
 * that outgrows one SQLite file: the same tables and queries, over libpq.
 *
 * One connection (conninfo of [store]); every statement prepared once.
 * A commit returns once PostgreSQL has it on disk (synchronous_commit =
 * on, [manager] synchronous = full, the default) or in the server's
 * memory (off, synchronous = normal: it survives a kill -9 of the
 * manager, not a crash of the server); only then are the agents answered,
 * as with SQLite. A lost connection fails the open transaction (the
 * agents are told "busy" and resend) and is reopened before the next
 * statement outside a transaction (ensure()).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "log.h"
#include "mgmt.h"
#include "store.h"

/* Type OIDs of the results (catalog/pg_type_d.h, stable). */
#define OID_BOOL	16
#define OID_BYTEA	17
#define OID_INT8	20
#define OID_INT2	21
#define OID_INT4	23
#define OID_FLOAT4	700
#define OID_FLOAT8	701
#define OID_NUMERIC	1700

#define PARAMS_MAX	16

enum stmt {
	S_AGENT_GET,
	S_EVENT, S_PERF, S_INVENTORY, S_CDR, S_KEY_EVENT,
	S_ALARM_RAISE, S_ALARM_CLEAR, S_ALARM_CLEAR_ROW, S_ALARM_ANALYSIS, S_ALARMS_RELATED,
	S_ACTION_ADD, S_ACTION_STATE, S_ACTIONS_QUEUED,
	S_TRACE,
	S_REPORT_ADD, S_FINDING_ADD,
	S_MX_EPOCH, S_MX_EPOCH_SET, S_MX_RANGE, S_MX_ADD, S_MX_GET, S_MX_TRIM,
	S_COUNT
};

static const struct {
	const char *text;
	int n;			/* parameters */
} sql[S_COUNT] = {
	[S_AGENT_GET] = { "SELECT seq FROM agents WHERE agent = $1 AND epoch = $2", 2 },
	/* The event and its (agent, epoch) sequence in one round trip. */
	[S_EVENT] = { "WITH e AS (INSERT INTO events(agent, epoch, seq, cmd, node, resource, "
		      "time_ms, rx_ms, details, origin) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
		      "$9, $10) RETURNING id), "
		      "a AS (INSERT INTO agents(agent, epoch, seq) VALUES ($11, $2, $3) "
		      "ON CONFLICT(agent, epoch) DO UPDATE SET seq = excluded.seq) "
		      "SELECT id FROM e", 11 },
	/* The figure and the latest value of its kind in one. */
	[S_PERF] = { "WITH p AS (INSERT INTO perf(event_id, node, resource, type, target, value, "
		     "time_ms, origin) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)) "
		     "INSERT INTO perf_latest(resource, type, target, node, peer, value, "
		     "time_ms, origin) VALUES ($3, $4, $5, $2, $9, $6, $7, $8) "
		     "ON CONFLICT(resource, type, target) DO UPDATE SET "
		     "node = excluded.node, peer = excluded.peer, value = excluded.value, "
		     "time_ms = excluded.time_ms, origin = excluded.origin "
		     "WHERE excluded.time_ms >= perf_latest.time_ms", 9 },
	[S_INVENTORY] = { "INSERT INTO inventory(resource, kind, node, peer, state, link_id, "
			  "module, peer_module, key_amount, descr, updated_ms, origin) "
			  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) "
			  "ON CONFLICT(resource) DO UPDATE SET kind = excluded.kind, "
			  "node = excluded.node, peer = excluded.peer, state = excluded.state, "
			  "link_id = excluded.link_id, module = excluded.module, "
			  "peer_module = excluded.peer_module, key_amount = excluded.key_amount, "
			  "descr = excluded.descr, updated_ms = excluded.updated_ms, "
			  "origin = excluded.origin", 12 },
	[S_CDR] = { "INSERT INTO cdr(event_id, node, app, peer, dest, keys, bits, time_ms) "
		    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", 8 },
	[S_KEY_EVENT] = { "INSERT INTO key_events(event_id, key_id, event, node, src, dst, "
			  "next_hop, peer, app, bits, time_ms) VALUES ($1, $2, $3, $4, $5, $6, "
			  "$7, $8, $9, $10, $11)", 11 },
	[S_ALARM_RAISE] = { "INSERT INTO alarms(event_id, agent, alarm_id, type, severity, node, "
			    "peer, dest, resource, source, value, descr, raised_ms, origin) "
			    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) "
			    "RETURNING id", 14 },
	[S_ALARM_CLEAR] = { "SELECT id FROM alarms WHERE agent = $1 AND alarm_id = $2 AND "
			    "origin IS NOT DISTINCT FROM $3 AND cleared_ms IS NULL "
			    "ORDER BY id DESC LIMIT 1", 3 },
	[S_ALARM_CLEAR_ROW] = { "UPDATE alarms SET cleared_ms = $2 WHERE id = $1", 2 },
	[S_ALARM_ANALYSIS] = { "UPDATE alarms SET cause = $2, root = $3 WHERE id = $1", 3 },
	[S_ALARMS_RELATED] = { "SELECT id, node, peer, type, severity, raised_ms, resource, "
			       "coalesce(root, 0) FROM alarms WHERE cleared_ms IS NULL AND "
			       "id != $4 AND raised_ms >= $3 AND ((node = $1 AND peer = $2) OR "
			       "(node = $2 AND peer = $1)) ORDER BY id", 4 },
	[S_ACTION_ADD] = { "INSERT INTO actions(alarm_row, type, priority, resource, value, state, "
			   "created_ms, updated_ms) VALUES ($1, $2, $3, $4, $5, 0, $6, $6) "
			   "RETURNING id", 6 },
	[S_ACTION_STATE] = { "UPDATE actions SET state = $2, result = $3, updated_ms = $4 "
			     "WHERE id = $1", 4 },
	[S_ACTIONS_QUEUED] = { "SELECT id, type, priority, resource, value FROM actions "
			       "WHERE state = 0 ORDER BY priority, id LIMIT $1", 1 },
	[S_TRACE] = { "SELECT k.time_ms, k.event, k.node, k.src, k.dst, k.next_hop, k.peer, "
		      "k.app, k.bits, e.agent, e.seq FROM key_events k JOIN events e "
		      "ON e.id = k.event_id WHERE k.key_id = $1 ORDER BY k.time_ms, k.id", 1 },
	[S_REPORT_ADD] = { "INSERT INTO reports(start_ms, end_ms, body) VALUES ($1, $2, $3) "
			   "RETURNING id", 3 },
	[S_FINDING_ADD] = { "INSERT INTO findings(time_ms, rule, resource, node, peer, value, "
			    "descr) VALUES ($1, $2, $3, $4, $5, $6, $7)", 7 },
	[S_MX_EPOCH] = { "SELECT value FROM mx_state WHERE key = 'epoch'", 0 },
	[S_MX_EPOCH_SET] = { "INSERT INTO mx_state(key, value) VALUES ('epoch', $1) "
			     "ON CONFLICT(key) DO UPDATE SET value = excluded.value", 1 },
	[S_MX_RANGE] = { "SELECT coalesce(min(seq), 0), coalesce(max(seq), 0) FROM mx_out", 0 },
	[S_MX_ADD] = { "INSERT INTO mx_out(seq, body) VALUES ($1, $2)", 2 },
	[S_MX_GET] = { "SELECT body FROM mx_out WHERE seq = $1", 1 },
	[S_MX_TRIM] = { "DELETE FROM mx_out WHERE seq <= $1 AND "
			"seq < (SELECT max(seq) FROM mx_out)", 1 },
};

static const char schema[] =
	"SET client_min_messages = warning;"
	"CREATE TABLE IF NOT EXISTS agents(agent TEXT NOT NULL, epoch BIGINT NOT NULL, "
	"  seq BIGINT NOT NULL, PRIMARY KEY(agent, epoch));"
	"CREATE TABLE IF NOT EXISTS events(id BIGSERIAL PRIMARY KEY, agent TEXT NOT NULL, "
	"  epoch BIGINT NOT NULL, seq BIGINT NOT NULL, cmd INTEGER NOT NULL, node BIGINT, "
	"  resource TEXT NOT NULL, time_ms BIGINT NOT NULL, rx_ms BIGINT NOT NULL, details TEXT, "
	"  origin TEXT);"
	"CREATE TABLE IF NOT EXISTS alarms(id BIGSERIAL PRIMARY KEY, event_id BIGINT NOT NULL, "
	"  agent TEXT NOT NULL, alarm_id BIGINT NOT NULL, type INTEGER NOT NULL, "
	"  severity INTEGER NOT NULL, node BIGINT, peer BIGINT, dest BIGINT, resource TEXT, "
	"  source TEXT, value BIGINT, descr TEXT, raised_ms BIGINT NOT NULL, "
	"  cleared_ms BIGINT, cause TEXT, root BIGINT, origin TEXT);"
	"CREATE INDEX IF NOT EXISTS alarms_active ON alarms(cleared_ms, node, peer);"
	"CREATE TABLE IF NOT EXISTS perf(id BIGSERIAL PRIMARY KEY, event_id BIGINT, node BIGINT, "
	"  resource TEXT, type INTEGER, target TEXT, value BIGINT, time_ms BIGINT, origin TEXT);"
	"CREATE INDEX IF NOT EXISTS perf_time ON perf(time_ms);"
	"CREATE TABLE IF NOT EXISTS perf_latest(resource TEXT, type INTEGER, target TEXT, "
	"  node BIGINT, peer BIGINT, value BIGINT, time_ms BIGINT, origin TEXT, "
	"  PRIMARY KEY(resource, type, target));"
	"CREATE TABLE IF NOT EXISTS inventory(resource TEXT PRIMARY KEY, kind INTEGER, "
	"  node BIGINT, peer BIGINT, state INTEGER, link_id BIGINT, module TEXT, "
	"  peer_module TEXT, key_amount BIGINT, descr TEXT, updated_ms BIGINT, origin TEXT);"
	"CREATE TABLE IF NOT EXISTS cdr(id BIGSERIAL PRIMARY KEY, event_id BIGINT, node BIGINT, "
	"  app TEXT, peer BIGINT, dest BIGINT, keys BIGINT, bits BIGINT, time_ms BIGINT);"
	"CREATE TABLE IF NOT EXISTS key_events(id BIGSERIAL PRIMARY KEY, event_id BIGINT, "
	"  key_id BYTEA NOT NULL, event INTEGER, node BIGINT, src BIGINT, dst BIGINT, "
	"  next_hop BIGINT, peer BIGINT, app TEXT, bits BIGINT, time_ms BIGINT);"
	"CREATE INDEX IF NOT EXISTS key_events_id ON key_events(key_id);"
	"CREATE TABLE IF NOT EXISTS actions(id BIGSERIAL PRIMARY KEY, alarm_row BIGINT, "
	"  type INTEGER, priority INTEGER, resource TEXT, value TEXT, state INTEGER, "
	"  created_ms BIGINT, updated_ms BIGINT, result TEXT);"
	"CREATE TABLE IF NOT EXISTS reports(id BIGSERIAL PRIMARY KEY, start_ms BIGINT NOT NULL, "
	"  end_ms BIGINT NOT NULL, body TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS findings(id BIGSERIAL PRIMARY KEY, time_ms BIGINT NOT NULL, "
	"  rule TEXT NOT NULL, resource TEXT NOT NULL, node BIGINT, peer BIGINT, "
	"  value BIGINT, descr TEXT);"
	"CREATE TABLE IF NOT EXISTS mx_state(key TEXT PRIMARY KEY, value BIGINT);"
	"CREATE TABLE IF NOT EXISTS mx_out(seq BIGINT PRIMARY KEY, body BYTEA NOT NULL);";

struct pg_store {
	struct mgrd_store base;
	PGconn *c;
	char *conninfo;
	bool sync_full;
	bool prepared;
	bool txn;			/* between begin() and commit()/rollback() */
	uint64_t reset_ms;		/* the last reconnection attempt */
};

static int session(struct pg_store *q, char *err, size_t err_len);

/* A lost connection is reopened before the next statement, at most once
 * a second, and never inside a transaction: what it held is gone, so the
 * transaction fails as a whole (commit() returns -EIO) and the agents
 * resend; statements run after a reconnection there would commit alone. */
static int ensure(struct pg_store *q)
{
	uint64_t now = qkdn_mgmt_now_ms();
	char err[512];

	if (PQstatus(q->c) == CONNECTION_OK)
		return 0;
	if (q->txn || now - q->reset_ms < 1000)
		return -EIO;
	q->reset_ms = now;
	PQreset(q->c);
	if (PQstatus(q->c) != CONNECTION_OK || session(q, err, sizeof(err))) {
		qkdn_log(QKDN_LOG_ERR, "database unreachable", "event=db-error backend=postgresql "
			 "op=reconnect error=\"%s\"",
			 PQstatus(q->c) != CONNECTION_OK ? "connection failed" : err);
		return -EIO;
	}
	qkdn_log(QKDN_LOG_INFO, "database reconnected", "event=db-reconnected backend=postgresql");
	return 0;
}

#define PG(s) ((struct pg_store *)(s))

/* Parameters of one statement, numbered from 1 as in the SQL; absent
 * ones are NULL. */
struct params {
	const char *v[PARAMS_MAX];
	int len[PARAMS_MAX], fmt[PARAMS_MAX];
	char buf[PARAMS_MAX][24];
};

static void p_u64(struct params *p, int i, uint64_t v)
{
	snprintf(p->buf[i - 1], sizeof(p->buf[0]), "%" PRId64, (int64_t)v);
	p->v[i - 1] = p->buf[i - 1];
}

static void p_text(struct params *p, int i, const char *t)
{
	p->v[i - 1] = t;
}

static void p_bin(struct params *p, int i, const void *b, size_t len)
{
	p->v[i - 1] = b;
	p->len[i - 1] = (int)len;
	p->fmt[i - 1] = 1;
}

static void p_attr(struct params *p, int i, const struct nlattr *a, enum qkdn_wire_type t)
{
	if (!a)
		return;
	switch (t) {
	case QKDN_WT_U8: p_u64(p, i, qkdn_wire_get_u8(a)); break;
	case QKDN_WT_U16: p_u64(p, i, qkdn_wire_get_u16(a)); break;
	case QKDN_WT_U32: p_u64(p, i, qkdn_wire_get_u32(a)); break;
	case QKDN_WT_U64: p_u64(p, i, qkdn_wire_get_u64(a)); break;
	case QKDN_WT_STRING: p_text(p, i, qkdn_wire_get_str(a)); break;
	default: break;
	}
}

static int db_fail(struct pg_store *q, const char *what, PGresult *r)
{
	char one[300];
	const char *msg = r ? PQresultErrorMessage(r) : PQerrorMessage(q->c);

	snprintf(one, sizeof(one), "%s", msg && *msg ? msg : "unknown error");
	one[strcspn(one, "\n")] = '\0';
	qkdn_log(QKDN_LOG_ERR, "database error", "event=db-error backend=postgresql op=\"%.60s\" "
		 "error=\"%s\"", what, one);
	PQclear(r);
	return -EIO;
}

static bool result_ok(PGresult *r)
{
	ExecStatusType st = PQresultStatus(r);

	return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

/* A prepared statement; the result (to PQclear) or NULL, logged. */
static PGresult *exec(struct pg_store *q, enum stmt i, const struct params *p, int binary)
{
	char name[16];
	PGresult *r;

	if (ensure(q)) {
		db_fail(q, sql[i].text, NULL);
		return NULL;
	}
	snprintf(name, sizeof(name), "s%d", (int)i);
	r = PQexecPrepared(q->c, name, sql[i].n, p ? p->v : NULL, p ? p->len : NULL,
			   p ? p->fmt : NULL, binary);
	if (!result_ok(r)) {
		db_fail(q, sql[i].text, r);
		return NULL;
	}
	return r;
}

static int run(struct pg_store *q, enum stmt i, const struct params *p)
{
	PGresult *r = exec(q, i, p, 0);

	if (!r)
		return -EIO;
	PQclear(r);
	return 0;
}

/* The first column of the first row as a number (RETURNING id). */
static int run_id(struct pg_store *q, enum stmt i, const struct params *p, uint64_t *id)
{
	PGresult *r = exec(q, i, p, 0);

	*id = 0;
	if (!r)
		return -EIO;
	if (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
		*id = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return 0;
}

static int simple(struct pg_store *q, const char *text)
{
	PGresult *r;

	if (ensure(q))
		return db_fail(q, text, NULL);
	r = PQexec(q->c, text);

	if (!result_ok(r))
		return db_fail(q, text, r);
	PQclear(r);
	return 0;
}

static int prepare_all(struct pg_store *q, char *err, size_t err_len)
{
	for (int i = 0; i < S_COUNT; i++) {
		char name[16];
		PGresult *r;

		snprintf(name, sizeof(name), "s%d", i);
		r = PQprepare(q->c, name, sql[i].text, sql[i].n, NULL);
		if (!result_ok(r)) {
			snprintf(err, err_len, "%s: %s", sql[i].text, PQresultErrorMessage(r));
			PQclear(r);
			return -EIO;
		}
		PQclear(r);
	}
	q->prepared = true;
	return 0;
}

static int session(struct pg_store *q, char *err, size_t err_len)
{
	PGresult *r;

	r = PQexec(q->c, q->sync_full ? "SET synchronous_commit = on"
				     : "SET synchronous_commit = off");
	if (!result_ok(r)) {
		snprintf(err, err_len, "%s", PQresultErrorMessage(r));
		PQclear(r);
		return -EIO;
	}
	PQclear(r);
	return prepare_all(q, err, err_len);
}

static void pg_close(struct mgrd_store *s)
{
	struct pg_store *q = PG(s);

	PQfinish(q->c);
	free(q->conninfo);
	free(q);
}

static int pg_begin(struct mgrd_store *s)
{
	struct pg_store *q = PG(s);
	int ret = simple(q, "BEGIN");

	q->txn = !ret;
	return ret;
}

static int pg_commit(struct mgrd_store *s)
{
	struct pg_store *q = PG(s);
	int ret = simple(q, "COMMIT");

	q->txn = false;
	return ret;
}

static void pg_rollback(struct mgrd_store *s)
{
	struct pg_store *q = PG(s);

	if (PQstatus(q->c) == CONNECTION_OK)
		simple(q, "ROLLBACK");
	q->txn = false;
}

static int pg_agent_seq(struct mgrd_store *s, const char *agent, uint64_t epoch, uint64_t *seq)
{
	struct pg_store *q = PG(s);
	struct params p = { 0 };
	PGresult *r;

	p_text(&p, 1, agent);
	p_u64(&p, 2, epoch);
	r = exec(q, S_AGENT_GET, &p, 0);
	if (!r)
		return -EIO;
	*seq = PQntuples(r) ? strtoull(PQgetvalue(r, 0, 0), NULL, 10) : 0;
	PQclear(r);
	return 0;
}

#define A(t) ev->tb[QKDN_W_##t]

static int pg_put_event(struct mgrd_store *s, struct mgrd_event *ev, const char *details)
{
	struct pg_store *q = PG(s);
	struct params p = { 0 };
	int ret;

	p_text(&p, 1, ev->agent);
	p_u64(&p, 2, ev->epoch);
	p_u64(&p, 3, ev->seq);
	p_u64(&p, 4, ev->cmd);
	if (ev->node)
		p_u64(&p, 5, ev->node);
	p_text(&p, 6, ev->resource);
	p_u64(&p, 7, ev->time_ms);
	p_u64(&p, 8, ev->rx_ms);
	p_text(&p, 9, details);
	p_text(&p, 10, ev->origin);
	p_text(&p, 11, ev->via ? ev->via : ev->agent);
	ret = run_id(q, S_EVENT, &p, &ev->id);
	if (ret)
		return ret;

	memset(&p, 0, sizeof(p));
	switch (ev->cmd) {
	case QKDN_W_CMD_M_PERF:
		p_u64(&p, 1, ev->id);
		if (ev->node)
			p_u64(&p, 2, ev->node);
		p_text(&p, 3, ev->resource);
		p_attr(&p, 4, A(M_PERF_TYPE), QKDN_WT_U16);
		p_attr(&p, 5, A(M_PERF_TARGET), QKDN_WT_STRING);
		p_attr(&p, 6, A(M_PERF_VALUE), QKDN_WT_U64);
		p_u64(&p, 7, ev->time_ms);
		p_text(&p, 8, ev->origin);
		p_attr(&p, 9, A(PEER_NODE_ID), QKDN_WT_U32);
		return run(q, S_PERF, &p);
	case QKDN_W_CMD_M_CONFIG:
		p_text(&p, 1, ev->resource);
		p_attr(&p, 2, A(M_RESOURCE_KIND), QKDN_WT_U8);
		if (ev->node)
			p_u64(&p, 3, ev->node);
		p_attr(&p, 4, A(PEER_NODE_ID), QKDN_WT_U32);
		p_attr(&p, 5, A(M_RESOURCE_STATE), QKDN_WT_U8);
		p_attr(&p, 6, A(M_LINK_ID), QKDN_WT_U32);
		p_attr(&p, 7, A(M_QKD_MODULE), QKDN_WT_STRING);
		p_attr(&p, 8, A(M_PEER_QKD_MODULE), QKDN_WT_STRING);
		p_attr(&p, 9, A(KEY_AMOUNT), QKDN_WT_U64);
		p_attr(&p, 10, A(M_RESOURCE_DESC), QKDN_WT_STRING);
		p_u64(&p, 11, ev->time_ms);
		p_text(&p, 12, ev->origin);
		return run(q, S_INVENTORY, &p);
	case QKDN_W_CMD_M_ACCOUNT:
		p_u64(&p, 1, ev->id);
		if (ev->node)
			p_u64(&p, 2, ev->node);
		p_attr(&p, 3, A(M_APP_ID), QKDN_WT_STRING);
		p_attr(&p, 4, A(PEER_NODE_ID), QKDN_WT_U32);
		p_attr(&p, 5, A(DEST_NODE_ID), QKDN_WT_U32);
		p_attr(&p, 6, A(M_KEY_COUNT), QKDN_WT_U64);
		p_attr(&p, 7, A(M_KEY_BITS), QKDN_WT_U64);
		p_u64(&p, 8, ev->time_ms);
		return run(q, S_CDR, &p);
	case QKDN_W_CMD_M_KEY_EVENT:
		p_u64(&p, 1, ev->id);
		p_bin(&p, 2, qkdn_wire_get_bin(A(KEY_ID)), QKDN_KEY_ID_LEN);
		p_attr(&p, 3, A(M_KEY_EVENT), QKDN_WT_U8);
		if (ev->node)
			p_u64(&p, 4, ev->node);
		p_attr(&p, 5, A(SOURCE_NODE_ID), QKDN_WT_U32);
		p_attr(&p, 6, A(DEST_NODE_ID), QKDN_WT_U32);
		p_attr(&p, 7, A(NEXT_HOP_NODE_ID), QKDN_WT_U32);
		p_attr(&p, 8, A(PEER_NODE_ID), QKDN_WT_U32);
		p_attr(&p, 9, A(M_APP_ID), QKDN_WT_STRING);
		p_attr(&p, 10, A(M_KEY_BITS), QKDN_WT_U64);
		p_u64(&p, 11, ev->time_ms);
		return run(q, S_KEY_EVENT, &p);
	default:
		return 0;
	}
}

static int pg_alarm_raise(struct mgrd_store *s, const struct mgrd_event *ev, uint64_t *row)
{
	struct params p = { 0 };

	p_u64(&p, 1, ev->id);
	p_text(&p, 2, ev->agent);
	p_attr(&p, 3, A(M_ALARM_ID), QKDN_WT_U64);
	p_attr(&p, 4, A(M_ALARM_TYPE), QKDN_WT_U16);
	p_attr(&p, 5, A(M_SEVERITY), QKDN_WT_U8);
	if (ev->node)
		p_u64(&p, 6, ev->node);
	p_attr(&p, 7, A(PEER_NODE_ID), QKDN_WT_U32);
	p_attr(&p, 8, A(DEST_NODE_ID), QKDN_WT_U32);
	p_text(&p, 9, ev->resource);
	p_attr(&p, 10, A(M_ALARM_SOURCE), QKDN_WT_STRING);
	p_attr(&p, 11, A(M_ALARM_VALUE), QKDN_WT_U64);
	p_attr(&p, 12, A(M_ALARM_DESC), QKDN_WT_STRING);
	p_u64(&p, 13, ev->time_ms);
	p_text(&p, 14, ev->origin);
	return run_id(PG(s), S_ALARM_RAISE, &p, row);
}

static int pg_alarm_clear(struct mgrd_store *s, const struct mgrd_event *ev, uint64_t *row)
{
	struct pg_store *q = PG(s);
	struct params p = { 0 };
	int ret;

	p_text(&p, 1, ev->agent);
	p_attr(&p, 2, A(M_ALARM_ID), QKDN_WT_U64);
	p_text(&p, 3, ev->origin);
	ret = run_id(q, S_ALARM_CLEAR, &p, row);
	if (ret || !*row)
		return ret;	/* nothing active: a repeated clear */
	memset(&p, 0, sizeof(p));
	p_u64(&p, 1, *row);
	p_u64(&p, 2, ev->time_ms);
	return run(q, S_ALARM_CLEAR_ROW, &p);
}

#undef A

static int pg_alarm_analysis(struct mgrd_store *s, uint64_t row, const char *cause, uint64_t root)
{
	struct params p = { 0 };

	p_u64(&p, 1, row);
	p_text(&p, 2, cause);
	if (root)
		p_u64(&p, 3, root);
	return run(PG(s), S_ALARM_ANALYSIS, &p);
}

static uint64_t col_u64(PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? 0 : strtoull(PQgetvalue(r, row, col), NULL, 10);
}

static int pg_alarms_related(struct mgrd_store *s, uint32_t node, uint32_t peer,
			     uint64_t since_ms, uint64_t row, struct mgrd_alarm *out, size_t max,
			     size_t *n)
{
	struct params p = { 0 };
	PGresult *r;

	*n = 0;
	p_u64(&p, 1, node);
	p_u64(&p, 2, peer);
	p_u64(&p, 3, since_ms);
	p_u64(&p, 4, row);
	r = exec(PG(s), S_ALARMS_RELATED, &p, 0);
	if (!r)
		return -EIO;
	for (int i = 0; i < PQntuples(r) && *n < max; i++) {
		struct mgrd_alarm *a = &out[(*n)++];

		a->row = col_u64(r, i, 0);
		a->node = (uint32_t)col_u64(r, i, 1);
		a->peer = (uint32_t)col_u64(r, i, 2);
		a->type = (uint16_t)col_u64(r, i, 3);
		a->severity = (uint8_t)col_u64(r, i, 4);
		a->raised_ms = col_u64(r, i, 5);
		snprintf(a->resource, sizeof(a->resource), "%s", PQgetvalue(r, i, 6));
		a->root = col_u64(r, i, 7);
	}
	PQclear(r);
	return 0;
}

static int pg_action_add(struct mgrd_store *s, const struct mgrd_action *a, uint64_t alarm_row,
			 uint64_t *id)
{
	struct params p = { 0 };

	if (alarm_row)
		p_u64(&p, 1, alarm_row);
	p_u64(&p, 2, a->type);
	p_u64(&p, 3, a->priority);
	p_text(&p, 4, a->resource);
	p_text(&p, 5, a->value);
	p_u64(&p, 6, qkdn_mgmt_now_ms());
	return run_id(PG(s), S_ACTION_ADD, &p, id);
}

static int pg_action_state(struct mgrd_store *s, uint64_t id, enum mgrd_action_state state,
			   const char *result)
{
	struct params p = { 0 };

	p_u64(&p, 1, id);
	p_u64(&p, 2, state);
	p_text(&p, 3, result);
	p_u64(&p, 4, qkdn_mgmt_now_ms());
	return run(PG(s), S_ACTION_STATE, &p);
}

static int pg_actions_queued(struct mgrd_store *s, struct mgrd_action *out, size_t max, size_t *n)
{
	struct params p = { 0 };
	PGresult *r;

	*n = 0;
	p_u64(&p, 1, max);
	r = exec(PG(s), S_ACTIONS_QUEUED, &p, 0);
	if (!r)
		return -EIO;
	for (int i = 0; i < PQntuples(r) && *n < max; i++) {
		struct mgrd_action *a = &out[(*n)++];

		a->id = col_u64(r, i, 0);
		a->type = (uint8_t)col_u64(r, i, 1);
		a->priority = (uint8_t)col_u64(r, i, 2);
		snprintf(a->resource, sizeof(a->resource), "%s", PQgetvalue(r, i, 3));
		snprintf(a->value, sizeof(a->value), "%s", PQgetvalue(r, i, 4));
	}
	PQclear(r);
	return 0;
}

/* A value as SQLite's back end gives it: integers as integers (sums are
 * NUMERIC here), averages as reals, details and report bodies as the JSON
 * they hold. */
static json_t *value_json(PGresult *r, int row, int col)
{
	const char *v = PQgetvalue(r, row, col), *name = PQfname(r, col);
	json_t *j;

	if (PQgetisnull(r, row, col))
		return json_null();
	switch (PQftype(r, col)) {
	case OID_INT2:
	case OID_INT4:
	case OID_INT8:
		return json_integer(strtoll(v, NULL, 10));
	case OID_NUMERIC:
		if (!strchr(v, '.'))
			return json_integer(strtoll(v, NULL, 10));
		return json_real(strtod(v, NULL));
	case OID_FLOAT4:
	case OID_FLOAT8:
		return json_real(strtod(v, NULL));
	case OID_BOOL:
		return json_boolean(*v == 't');
	default:
		if (!strcmp(name, "details") || !strcmp(name, "body")) {
			j = json_loads(v, 0, NULL);
			if (j)
				return j;
		}
		return json_string(v);
	}
}

/* An ad hoc query, rows as JSON objects named after the columns. Up to
 * two integer parameters ($1, $2). */
static json_t *query_json2(struct pg_store *q, const char *text, int n, int64_t arg,
			   int64_t arg2)
{
	struct params p = { 0 };
	PGresult *r;
	json_t *arr;

	if (n >= 1)
		p_u64(&p, 1, (uint64_t)arg);
	if (n >= 2)
		p_u64(&p, 2, (uint64_t)arg2);
	if (ensure(q)) {
		db_fail(q, text, NULL);
		return NULL;
	}
	r = PQexecParams(q->c, text, n, NULL, p.v, NULL, NULL, 0);
	if (!result_ok(r)) {
		db_fail(q, text, r);
		return NULL;
	}
	arr = json_array();
	for (int i = 0; i < PQntuples(r); i++) {
		json_t *row = json_object();

		for (int c = 0; c < PQnfields(r); c++)
			json_object_set_new(row, PQfname(r, c), value_json(r, i, c));
		json_array_append_new(arr, row);
	}
	PQclear(r);
	return arr;
}

static json_t *query_json(struct pg_store *q, const char *text, int n, int64_t arg)
{
	return query_json2(q, text, n, arg, 0);
}

static json_t *pg_alarms(struct mgrd_store *s, bool active_only)
{
	return query_json(PG(s), active_only ?
		"SELECT id, agent, alarm_id, type, severity, node, peer, dest, resource, source, "
		"value, descr AS description, raised_ms, cleared_ms, cause, root, origin "
		"FROM alarms WHERE cleared_ms IS NULL ORDER BY id" :
		"SELECT id, agent, alarm_id, type, severity, node, peer, dest, resource, source, "
		"value, descr AS description, raised_ms, cleared_ms, cause, root, origin "
		"FROM alarms ORDER BY id", 0, 0);
}

static json_t *pg_inventory(struct mgrd_store *s)
{
	return query_json(PG(s), "SELECT resource, kind, node, peer, state, link_id, module, "
			  "peer_module, key_amount, descr AS description, updated_ms, origin "
			  "FROM inventory ORDER BY kind, node, resource", 0, 0);
}

static json_t *pg_performance(struct mgrd_store *s)
{
	return query_json(PG(s), "SELECT resource, type, target, node, peer, value, time_ms, "
			  "origin FROM perf_latest ORDER BY resource, type, target", 0, 0);
}

static json_t *pg_perf_report(struct mgrd_store *s, uint64_t since_ms)
{
	return query_json(PG(s), "SELECT resource, type, target, count(*) AS samples, "
			  "min(value) AS min, avg(value)::float8 AS avg, max(value) AS max, "
			  "max(time_ms) AS last_ms FROM perf WHERE time_ms >= $1 "
			  "GROUP BY resource, type, target ORDER BY resource, type, target",
			  1, (int64_t)since_ms);
}

/* As SQLite's: our own agents' figures only (Mx). */
static json_t *pg_perf_period(struct mgrd_store *s, uint64_t from_ms, uint64_t to_ms)
{
	return query_json2(PG(s), "SELECT p.resource, p.type, p.target, max(p.node) AS node, "
			   "max(l.peer) AS peer, count(*) AS samples, min(p.value) AS min, "
			   "avg(p.value)::float8 AS avg, max(p.value) AS max, "
			   "(SELECT x.value FROM perf x WHERE x.resource = p.resource AND "
			   " x.type = p.type AND x.target IS NOT DISTINCT FROM p.target AND "
			   " x.time_ms >= $1 AND x.time_ms < $2 ORDER BY x.time_ms, x.id LIMIT 1) "
			   "AS first, "
			   "(SELECT x.value FROM perf x WHERE x.resource = p.resource AND "
			   " x.type = p.type AND x.target IS NOT DISTINCT FROM p.target AND "
			   " x.time_ms >= $1 AND x.time_ms < $2 ORDER BY x.time_ms DESC, x.id DESC "
			   " LIMIT 1) AS last "
			   "FROM perf p LEFT JOIN perf_latest l "
			   "ON l.resource = p.resource AND l.type = p.type AND l.target = p.target "
			   "WHERE p.time_ms >= $1 AND p.time_ms < $2 AND p.origin IS NULL "
			   "GROUP BY p.resource, p.type, p.target "
			   "ORDER BY p.resource, p.type, p.target",
			   2, (int64_t)from_ms, (int64_t)to_ms);
}

static int pg_report_add(struct mgrd_store *s, uint64_t start_ms, uint64_t end_ms,
			 const char *body, uint64_t *id)
{
	struct params p = { 0 };

	p_u64(&p, 1, start_ms);
	p_u64(&p, 2, end_ms);
	p_text(&p, 3, body);
	return run_id(PG(s), S_REPORT_ADD, &p, id);
}

static json_t *pg_reports(struct mgrd_store *s, unsigned int limit)
{
	return query_json(PG(s), "SELECT id, start_ms, end_ms, body FROM reports "
			  "ORDER BY id DESC LIMIT $1", 1, limit);
}

static int pg_finding_add(struct mgrd_store *s, const struct mgrd_finding *f)
{
	struct params p = { 0 };

	p_u64(&p, 1, f->time_ms);
	p_text(&p, 2, f->rule);
	p_text(&p, 3, f->resource);
	p_u64(&p, 4, f->node);
	p_u64(&p, 5, f->peer);
	p_u64(&p, 6, f->value);
	p_text(&p, 7, f->desc);
	return run(PG(s), S_FINDING_ADD, &p);
}

static json_t *pg_findings(struct mgrd_store *s, unsigned int limit)
{
	return query_json(PG(s), "SELECT id, time_ms, rule, resource, node, peer, value, "
			  "descr AS description FROM findings ORDER BY id DESC LIMIT $1", 1, limit);
}

static json_t *pg_trace(struct mgrd_store *s, const uint8_t key_id[QKDN_KEY_ID_LEN])
{
	static const char *const cols[] = { "time_ms", "event", "node", "source", "dest",
					    "next_hop", "peer", "app", "bits", "agent", "seq" };
	struct params p = { 0 };
	PGresult *r;
	json_t *arr;

	p_bin(&p, 1, key_id, QKDN_KEY_ID_LEN);
	r = exec(PG(s), S_TRACE, &p, 0);
	if (!r)
		return NULL;
	arr = json_array();
	for (int i = 0; i < PQntuples(r); i++) {
		json_t *row = json_object();

		for (int c = 0; c < (int)(sizeof(cols) / sizeof(cols[0])); c++) {
			if (PQgetisnull(r, i, c))
				continue;
			if (c == 1)
				json_object_set_new(row, cols[c], json_string(mgrd_key_event_name(
					(uint8_t)col_u64(r, i, c))));
			else
				json_object_set_new(row, cols[c], value_json(r, i, c));
		}
		json_array_append_new(arr, row);
	}
	PQclear(r);
	return arr;
}

static json_t *pg_cdr(struct mgrd_store *s)
{
	return query_json(PG(s), "SELECT id, node, app, peer, dest, keys, bits, time_ms FROM cdr "
			  "ORDER BY id", 0, 0);
}

static json_t *pg_cdr_totals(struct mgrd_store *s)
{
	struct pg_store *q = PG(s);
	json_t *o = json_object();

	json_object_set_new(o, "applications", query_json(q,
		"SELECT app, count(*) AS records, sum(keys) AS keys, sum(bits) AS bits FROM cdr "
		"GROUP BY app ORDER BY app", 0, 0));
	json_object_set_new(o, "links", query_json(q,
		"SELECT node, peer, sum(keys) AS keys, sum(bits) AS bits FROM cdr "
		"WHERE peer IS NOT NULL GROUP BY node, peer ORDER BY node, peer", 0, 0));
	return o;
}

static json_t *pg_events(struct mgrd_store *s, uint16_t cmd, unsigned int limit)
{
	char text[300];

	snprintf(text, sizeof(text), "SELECT id, agent, seq, cmd, node, resource, time_ms, rx_ms, "
		 "details, origin FROM events %s ORDER BY id DESC LIMIT %u",
		 cmd ? "WHERE cmd = $1" : "", limit);
	return query_json(PG(s), text, cmd ? 1 : 0, cmd);
}

static json_t *pg_actions(struct mgrd_store *s)
{
	return query_json(PG(s), "SELECT id, alarm_row AS alarm, type, priority, resource, value, "
			  "CASE state WHEN 0 THEN 'queued' WHEN 1 THEN 'sent' WHEN 2 THEN 'done' "
			  "ELSE 'failed' END AS state, created_ms, updated_ms, result FROM actions "
			  "ORDER BY id", 0, 0);
}

static int pg_counts(struct mgrd_store *s, uint64_t *events, uint64_t *active)
{
	struct pg_store *q = PG(s);
	PGresult *r;

	if (ensure(q))
		return db_fail(q, "counts", NULL);
	r = PQexec(q->c, "SELECT (SELECT max(id) FROM events), (SELECT count(*) "
		   "FROM alarms WHERE cleared_ms IS NULL)");
	if (!result_ok(r) || PQntuples(r) != 1)
		return db_fail(q, "counts", r);
	*events = col_u64(r, 0, 0);
	*active = col_u64(r, 0, 1);
	PQclear(r);
	return 0;
}

static int pg_mx_epoch(struct mgrd_store *s, uint64_t *epoch)
{
	PGresult *r = exec(PG(s), S_MX_EPOCH, NULL, 0);

	if (!r)
		return -EIO;
	*epoch = PQntuples(r) ? col_u64(r, 0, 0) : 0;
	PQclear(r);
	return 0;
}

static int pg_mx_epoch_set(struct mgrd_store *s, uint64_t epoch)
{
	struct params p = { 0 };

	p_u64(&p, 1, epoch);
	return run(PG(s), S_MX_EPOCH_SET, &p);
}

static int pg_mx_out_range(struct mgrd_store *s, uint64_t *first, uint64_t *last)
{
	PGresult *r = exec(PG(s), S_MX_RANGE, NULL, 0);

	if (!r)
		return -EIO;
	*first = col_u64(r, 0, 0);
	*last = col_u64(r, 0, 1);
	PQclear(r);
	return 0;
}

static int pg_mx_out_add(struct mgrd_store *s, uint64_t seq, const void *body, size_t len)
{
	struct params p = { 0 };

	p_u64(&p, 1, seq);
	p_bin(&p, 2, body, len);
	return run(PG(s), S_MX_ADD, &p);
}

static int pg_mx_out_get(struct mgrd_store *s, uint64_t seq, void **body, size_t *len)
{
	struct params p = { 0 };
	PGresult *r;

	p_u64(&p, 1, seq);
	r = exec(PG(s), S_MX_GET, &p, 1);	/* binary: the bytes as they are */
	if (!r)
		return -EIO;
	if (!PQntuples(r)) {
		PQclear(r);
		return -ENOENT;
	}
	*len = (size_t)PQgetlength(r, 0, 0);
	*body = malloc(*len ? *len : 1);
	if (*body)
		memcpy(*body, PQgetvalue(r, 0, 0), *len);
	PQclear(r);
	return *body ? 0 : -ENOMEM;
}

static int pg_mx_out_trim(struct mgrd_store *s, uint64_t upto)
{
	struct params p = { 0 };

	p_u64(&p, 1, upto);
	return run(PG(s), S_MX_TRIM, &p);
}

static const struct mgrd_store_ops pg_ops = {
	.name = "postgresql",
	.close = pg_close,
	.begin = pg_begin,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.agent_seq = pg_agent_seq,
	.put_event = pg_put_event,
	.alarm_raise = pg_alarm_raise,
	.alarm_clear = pg_alarm_clear,
	.alarm_analysis = pg_alarm_analysis,
	.alarms_related = pg_alarms_related,
	.action_add = pg_action_add,
	.action_state = pg_action_state,
	.actions_queued = pg_actions_queued,
	.alarms = pg_alarms,
	.inventory = pg_inventory,
	.performance = pg_performance,
	.perf_report = pg_perf_report,
	.perf_period = pg_perf_period,
	.report_add = pg_report_add,
	.reports = pg_reports,
	.finding_add = pg_finding_add,
	.findings = pg_findings,
	.trace = pg_trace,
	.cdr = pg_cdr,
	.cdr_totals = pg_cdr_totals,
	.events = pg_events,
	.actions = pg_actions,
	.counts = pg_counts,
	.mx_epoch = pg_mx_epoch,
	.mx_epoch_set = pg_mx_epoch_set,
	.mx_out_range = pg_mx_out_range,
	.mx_out_add = pg_mx_out_add,
	.mx_out_get = pg_mx_out_get,
	.mx_out_trim = pg_mx_out_trim,
};

int mgrd_store_pg_open(struct mgrd_store **out, const char *conninfo, bool sync_full,
		       char *err, size_t err_len)
{
	struct pg_store *q = calloc(1, sizeof(*q));
	PGresult *r;

	if (!q || !(q->conninfo = strdup(conninfo))) {
		free(q);
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	q->base.ops = &pg_ops;
	q->sync_full = sync_full;
	q->c = PQconnectdb(conninfo);
	if (!q->c || PQstatus(q->c) != CONNECTION_OK) {
		snprintf(err, err_len, "postgresql: %s", q->c ? PQerrorMessage(q->c)
							      : "out of memory");
		err[strcspn(err, "\n")] = '\0';
		goto fail;
	}
	r = PQexec(q->c, schema);
	if (!result_ok(r)) {
		snprintf(err, err_len, "postgresql: schema: %s", PQresultErrorMessage(r));
		err[strcspn(err, "\n")] = '\0';
		PQclear(r);
		goto fail;
	}
	PQclear(r);
	if (session(q, err, err_len)) {
		err[strcspn(err, "\n")] = '\0';
		goto fail;
	}
	*out = &q->base;
	return 0;
fail:
	pg_close(&q->base);
	return -EIO;
}
