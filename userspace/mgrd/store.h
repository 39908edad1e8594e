/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The manager's storage interface: a table of functions, so that a
 * network that outgrows one SQLite file can put PostgreSQL behind the
 * same calls (store_sqlite.c and store_pg.c).
 *
 * Writes happen inside begin()/commit(): the manager stores a batch of
 * notifications and acknowledges them only after commit() returned 0,
 * which means durable (SQLite: WAL, synchronous=FULL by default). Every
 * call returns 0 or -errno (-EIO for a database error, logged by the
 * back end); queries return new JSON (NULL on error).
 */
#ifndef QKDN_MGRD_STORE_H
#define QKDN_MGRD_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "mgrd.h"

struct mgrd_alarm {
	uint64_t row;			/* the store's ID */
	uint32_t node, peer;
	uint16_t type;
	uint8_t severity;
	uint64_t raised_ms;
	char resource[QKDN_ID_MAXLEN];
	uint64_t root;			/* row of the root-cause alarm, 0 if itself */
};

struct mgrd_action {
	uint64_t id;
	uint8_t type, priority;
	char resource[QKDN_ID_MAXLEN];
	char value[QKDN_W_M_DESC_MAX];
};

/* A degradation rule's finding (10.4 step 4). */
struct mgrd_finding {
	uint64_t time_ms;
	const char *rule;		/* "pool-exhaustion" */
	const char *resource;
	uint32_t node, peer;
	uint64_t value;			/* the rule's figure (seconds to exhaustion) */
	const char *desc;
};

enum mgrd_action_state { MGRD_ACTION_QUEUED, MGRD_ACTION_SENT, MGRD_ACTION_DONE,
			 MGRD_ACTION_FAILED };

struct mgrd_store_ops {
	const char *name;
	void (*close)(struct mgrd_store *s);
	int (*begin)(struct mgrd_store *s);
	int (*commit)(struct mgrd_store *s);
	void (*rollback)(struct mgrd_store *s);

	/* Reliable delivery: the last sequence number stored of (agent,
	 * epoch), 0 if none. */
	int (*agent_seq)(struct mgrd_store *s, const char *agent, uint64_t epoch, uint64_t *seq);
	/* Stores a notification in the event log (the audit trail) and the
	 * table of its kind, and advances (agent, epoch) to ev->seq. Sets
	 * ev->id. */
	int (*put_event)(struct mgrd_store *s, struct mgrd_event *ev, const char *details_json);
	/* Alarms (10.1). Raising one returns its row; a cleared alarm ends
	 * the active one of the same agent and alarm ID. */
	int (*alarm_raise)(struct mgrd_store *s, const struct mgrd_event *ev, uint64_t *row);
	int (*alarm_clear)(struct mgrd_store *s, const struct mgrd_event *ev, uint64_t *row);
	int (*alarm_analysis)(struct mgrd_store *s, uint64_t row, const char *cause, uint64_t root);
	/* Active alarms raised since since_ms on the link node-peer (either
	 * way round), other than row. */
	int (*alarms_related)(struct mgrd_store *s, uint32_t node, uint32_t peer, uint64_t since_ms,
			      uint64_t row, struct mgrd_alarm *out, size_t max, size_t *n);
	/* Control decisions (QCLM). */
	int (*action_add)(struct mgrd_store *s, const struct mgrd_action *a, uint64_t alarm_row,
			  uint64_t *id);
	int (*action_state)(struct mgrd_store *s, uint64_t id, enum mgrd_action_state st,
			    const char *result);
	int (*actions_queued)(struct mgrd_store *s, struct mgrd_action *out, size_t max, size_t *n);

	/* Queries (Mu, CLI, web page). */
	json_t *(*alarms)(struct mgrd_store *s, bool active_only);
	json_t *(*inventory)(struct mgrd_store *s);
	json_t *(*performance)(struct mgrd_store *s);	/* latest value per (resource, type, target) */
	json_t *(*perf_report)(struct mgrd_store *s, uint64_t since_ms);	/* min/avg/max */
	/* samples, min/avg/max, first and last value of each figure in
	 * [from_ms, to_ms), with the resource's node and peer. */
	json_t *(*perf_period)(struct mgrd_store *s, uint64_t from_ms, uint64_t to_ms);
	/* Periodic performance reports (10.4 step 3): body is JSON. */
	int (*report_add)(struct mgrd_store *s, uint64_t start_ms, uint64_t end_ms,
			  const char *body, uint64_t *id);
	json_t *(*reports)(struct mgrd_store *s, unsigned int limit);	/* newest first */
	int (*finding_add)(struct mgrd_store *s, const struct mgrd_finding *f);
	json_t *(*findings)(struct mgrd_store *s, unsigned int limit);	/* newest first */
	json_t *(*trace)(struct mgrd_store *s, const uint8_t key_id[QKDN_KEY_ID_LEN]);
	json_t *(*cdr)(struct mgrd_store *s);		/* records */
	json_t *(*cdr_totals)(struct mgrd_store *s);	/* per application, per link */
	json_t *(*events)(struct mgrd_store *s, uint16_t cmd, unsigned int limit);
	json_t *(*actions)(struct mgrd_store *s);
	int (*counts)(struct mgrd_store *s, uint64_t *events, uint64_t *active_alarms);

	/* Mx (mx.c): the durable outbox of notifications forwarded to the
	 * peer manager, numbered 1, 2, ... in one epoch that outlives
	 * restarts. mx_epoch gives 0 before mx_epoch_set; mx_out_range 0, 0
	 * when the outbox is empty; mx_out_get a malloc'ed copy (-ENOENT if
	 * seq is not there); mx_out_trim drops what is at or below upto but
	 * always keeps the last one (it carries the numbering on). */
	int (*mx_epoch)(struct mgrd_store *s, uint64_t *epoch);
	int (*mx_epoch_set)(struct mgrd_store *s, uint64_t epoch);
	int (*mx_out_range)(struct mgrd_store *s, uint64_t *first, uint64_t *last);
	int (*mx_out_add)(struct mgrd_store *s, uint64_t seq, const void *body, size_t len);
	int (*mx_out_get)(struct mgrd_store *s, uint64_t seq, void **body, size_t *len);
	int (*mx_out_trim)(struct mgrd_store *s, uint64_t upto);
};

struct mgrd_store {
	const struct mgrd_store_ops *ops;
};

/* store_sqlite.c: opens (creating) the database file path. */
int mgrd_store_sqlite_open(struct mgrd_store **s, const char *path, bool sync_full,
			   char *err, size_t err_len);
/* store_pg.c: connects (libpq conninfo) and creates the tables missing.
 * sync_full: synchronous_commit on (else off: survives a kill -9 of the
 * manager, not a crash of the server). */
int mgrd_store_pg_open(struct mgrd_store **s, const char *conninfo, bool sync_full,
		       char *err, size_t err_len);

#endif
