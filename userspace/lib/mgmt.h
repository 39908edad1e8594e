/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The agent side of the management protocol (Mk, Mq, Mc; see
 * "Management" in wire.h): what qkdn-kmd, qkdn-qkdd and qkdn-ctld link to
 * report to qkdn-mgrd.
 *
 * An agent makes one struct qkdn_mgmt on its event loop. It dials the
 * manager over TLS 1.3 (certificate CN of the manager: "qkdn-mgr"), sends
 * M_AUTH, and keeps redialling with exponential backoff (100 ms .. 10 s)
 * while the manager is away. Notifications are numbered (QKDN_W_M_SEQ)
 * and queued until the manager acknowledges them, which it does only once
 * they are durably stored; after a reconnect what the manager does not
 * have is resent, in order. A "busy" answer stops sending for the
 * retry-after time the manager gives. The queue is bounded (queue = in
 * the [manager] section): when full, the oldest notification is dropped
 * and counted, so a long outage costs the oldest records, not memory.
 *
 *   struct qkdn_wire_msg *m = qkdn_mgmt_begin(mg, QKDN_W_CMD_M_PERF, "qkd-link-1-1");
 *   qkdn_wire_put_u16(m, QKDN_W_M_PERF_TYPE, QKDN_W_PERF_QBER);
 *   ...
 *   qkdn_mgmt_send(mg, m);     (takes m, whatever it returns)
 *
 * The [manager] section every agent's config file shares:
 *
 *   [manager]
 *   address = 10.0.0.9:7500  where qkdn-mgrd listens for agents, required
 *   cert = agent.pem         the agent's certificate and key, and the
 *   key = agent.key          network CA, required
 *   ca = ca.pem
 *   crl = crl.pem            optional: refuse a revoked manager
 *   queue = 65536            unacknowledged notifications kept, 16..1048576
 *   report-ms = 10000        periodic performance reports (10.4), every so
 *                            many ms, 100..3600000; the agent's timer
 */
#ifndef QKDN_MGMT_H
#define QKDN_MGMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include <sys/socket.h>

#include "wire.h"

/* As config.h has it: config.h includes this file (kmd's [manager]), and
 * this one includes config.h at its end, so either order works. */
#define QKDN_ADDR_STRLEN 64

#define QKDN_MGMT_QUEUE_DEFAULT		65536
#define QKDN_MGMT_QUEUE_MIN		16
#define QKDN_MGMT_QUEUE_MAX		1048576
#define QKDN_MGMT_WINDOW		1024	/* notifications in flight */
#define QKDN_MGMT_BACKOFF_MIN_MS	100
#define QKDN_MGMT_BACKOFF_MAX_MS	10000
#define QKDN_MGMT_KEEPALIVE_MS		15000
#define QKDN_MGMT_REPORT_MS_DEFAULT	10000
#define QKDN_MGMT_REPORT_MS_MIN		100

struct qkdn_mgmt_conf {
	bool enabled;
	char address_str[QKDN_ADDR_STRLEN];
	struct sockaddr_storage address;
	socklen_t address_len;
	char *cert, *key, *ca, *crl;	/* resolved paths; crl may be NULL */
	uint32_t queue_max;
	uint32_t report_ms;		/* periodic performance reports */
	unsigned int line;
	unsigned int seen;		/* keys given */
};

/* One key of a [manager] section (the caller's INI callback hands them
 * over; dir resolves relative paths, NULL for none). Sets enabled. 0 or
 * -EINVAL with err filled. */
int qkdn_mgmt_conf_key(struct qkdn_mgmt_conf *c, const char *key, const char *value,
		       const char *dir, char *err, size_t err_len);
/* After the file: required keys there? 0 or -EINVAL ("[manager] section of
 * line N lacks \"ca\""). A disabled conf passes. */
int qkdn_mgmt_conf_check(const struct qkdn_mgmt_conf *c, char *err, size_t err_len);
void qkdn_mgmt_conf_free(struct qkdn_mgmt_conf *c);

/* Who the agent is. cn must be its certificate's subject CN. */
struct qkdn_mgmt_ident {
	uint32_t sender_id;		/* node ID, or QKDN_W_CONTROLLER_ID */
	enum qkdn_wire_agent_kind kind;
	const char *cn;
	const char *hostname;
	const char *requestor;		/* optional, QKDN_W_M_REQUESTOR */
	/* Optional, 0 for the default: the epoch (random per run) and the
	 * first notification's number (1). A sender whose notifications
	 * outlive its run (a manager's durable Mx outbox) keeps its epoch
	 * and numbering across restarts. */
	uint64_t epoch, first_seq;
};

/* What the agent does for the manager. All optional. */
struct qkdn_mgmt_handlers {
	/* M_AUTH succeeded: a good time to report the inventory. */
	void (*up)(void *arg);
	/* M_DIAG for a resource: fill *state (enum qkdn_wire_config_state)
	 * and info; 0, or -ENOENT (answered "unknown resource"). */
	int (*diag)(void *arg, const char *resource, uint8_t *state, char *info, size_t info_len);
	/* M_CONTROL (the controller): tb is the parsed command; 0, or
	 * -errno with reason filled for the failure answer. On success,
	 * what reason holds (if anything) goes back as the result. */
	int (*control)(void *arg, const struct nlattr *const *tb, char *reason, size_t reason_len);
	void *arg;
};

struct qkdn_mgmt_stats {
	bool up;			/* authenticated now */
	uint64_t epoch, session;
	uint64_t next_seq;		/* the next notification's number */
	uint64_t acked_seq;		/* everything up to here is stored */
	size_t queued;			/* waiting for acknowledgement */
	uint64_t sent, resent, acked, dropped, busy, refused, connects;
};

struct qkdn_mgmt;

/* NULL with err filled if conf's TLS files do not load. Dials at once. */
struct qkdn_mgmt *qkdn_mgmt_new(struct event_base *base, const struct qkdn_mgmt_conf *conf,
				const struct qkdn_mgmt_ident *ident,
				const struct qkdn_mgmt_handlers *handlers, char *err, size_t err_len);
/* Drops the connection and the queue (what is not acknowledged is lost:
 * call qkdn_mgmt_flush() first for a clean stop). NULL is a no-op. */
void qkdn_mgmt_free(struct qkdn_mgmt *mg);
/* Nothing left to acknowledge? */
bool qkdn_mgmt_idle(const struct qkdn_mgmt *mg);

/* A new notification cmd about resource, with its sequence number, time
 * and resource ID put in; the caller adds the rest. NULL on ENOMEM. */
struct qkdn_wire_msg *qkdn_mgmt_begin(struct qkdn_mgmt *mg, uint16_t cmd, const char *resource);
/* The same for something that happened at time_ms (ms since the epoch):
 * an agent that batches its notifications keeps the time of the event. */
struct qkdn_wire_msg *qkdn_mgmt_begin_at(struct qkdn_mgmt *mg, uint16_t cmd, const char *resource,
					 uint64_t time_ms);
/* Queues m (taking it) and sends it when it can. 0, -EMSGSIZE (m did not
 * fit) or -ENOMEM; a full queue drops its oldest, not m. */
int qkdn_mgmt_send(struct qkdn_mgmt *mg, struct qkdn_wire_msg *m);

/* The common notifications in one call. desc may be NULL, peer 0. */
int qkdn_mgmt_alarm(struct qkdn_mgmt *mg, const char *resource, enum qkdn_wire_alarm_type type,
		    uint64_t alarm_id, const char *source, enum qkdn_wire_severity severity,
		    uint64_t value, const char *desc, uint32_t peer);
int qkdn_mgmt_perf(struct qkdn_mgmt *mg, const char *resource, enum qkdn_wire_perf_type type,
		   const char *target, uint64_t value, uint32_t peer);

void qkdn_mgmt_get_stats(const struct qkdn_mgmt *mg, struct qkdn_mgmt_stats *st);

/* A request to the manager that is not a notification (the controller's
 * M_SUPPORT, seed 001 10.7): sent now, never queued or resent. done gets
 * the answer, or hdr and tb NULL when the connection drops, timeout_ms
 * passes or the agent is freed first (then in qkdn_mgmt_free()). Takes
 * req. 0, -ENOTCONN (not authenticated now: done is not called) or
 * -ENOMEM. */
typedef void (*qkdn_mgmt_answer_cb)(void *arg, const struct qkdn_wire_hdr *hdr,
				    const struct nlattr *const *tb);
int qkdn_mgmt_request(struct qkdn_mgmt *mg, struct qkdn_wire_msg *req, unsigned int timeout_ms,
		      qkdn_mgmt_answer_cb done, void *arg);
/* Authenticated to the manager now? */
bool qkdn_mgmt_up(const struct qkdn_mgmt *mg);

/* One framed wire message off in (both ends use it): 1 with *msg
 * malloc'ed (aligned for qkdn_wire_parse()) and *len set, 0 when it is
 * not all there yet, -EMSGSIZE (announced over QKDN_WIRE_BODY_MAX) or
 * -ENOMEM. */
struct evbuffer;
int qkdn_mgmt_next_frame(struct evbuffer *in, void **msg, size_t *len);

/* Milliseconds since the epoch (QKDN_W_M_TIME_MS). */
uint64_t qkdn_mgmt_now_ms(void);

#include "config.h"

#endif
