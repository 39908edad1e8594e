/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * qkdn-mgrd: the QKDN manager (seed 001 clauses 9 and 10, Appendix I;
 * seed 004 clause 7.4). Agents (qkdn-kmd on Mk, qkdn-qkdd on Mq,
 * qkdn-ctld on Mc) report to it over TLS (the management protocol of
 * wire.h); operators and user network managers read it over HTTPS (Mu:
 * JSON, Prometheus metrics, a web page).
 *
 * The code follows the structure of seed 001 clause 9:
 *
 *   main.c          options, start-up, signals, shutdown
 *   config.c        mgrd.conf
 *   agents.c        the agents' TLS connections: M_AUTH, notifications
 *                   stored and acknowledged after commit, de-duplication,
 *                   overload control, requests to agents (M_DIAG, M_CONTROL)
 *   store.h         the storage interface; store_sqlite.c its SQLite back end
 *   qlm.c           quantum layer management (Mq): QKD link alarms, QBER,
 *                   key rate, eavesdropping, link diagnostics
 *   kmlm.c          key management layer management (Mk): KM alarms,
 *                   relay failures, key pools, accounting, key life cycle
 *   qclm.c          QKDN control layer management (Mc): control decisions
 *                   queued for the controller and sent when it is there
 *   xlmo.c          cross-layer orchestration: correlates the layers'
 *                   alarms into one root cause, topology across layers,
 *                   configuration errors
 *   perf.c          XLMO's performance management (10.4): periodic
 *                   reports, degradation rules across layers, remedies
 *   mx.c            Mx (I.8): the peer manager of the same network; what
 *                   our agents report goes to it, what its agents report
 *                   comes from it, each with its origin
 *   http.c          Mu: JSON over HTTPS, /metrics, the web page
 *
 * One libevent loop, no threads.
 */
#ifndef QKDN_MGRD_H
#define QKDN_MGRD_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>
#include <jansson.h>
#include <openssl/ssl.h>

#include "config.h"
#include "mgmt.h"
#include "tls.h"
#include "wire.h"

#define MGRD_DEFAULT_CONFIG	"/etc/qkdn/mgrd.conf"
#define MGRD_PENDING_DEFAULT	4096	/* notifications waiting for a commit */
#define MGRD_RETRY_MS_DEFAULT	200
#define MGRD_COMMIT_DELAY_US	2000	/* group commit: gather this long */
#define MGRD_COMMIT_BATCH	1024	/* ... or this many notifications */
#define MGRD_DIAG_TIMEOUT_MS	1000	/* an agent's diagnostic answer */
#define MGRD_CORRELATE_MS	30000	/* alarms this close are one incident */
#define MGRD_AUTH_TIMEOUT_S	10
#define MGRD_REPORT_MS_DEFAULT	60000	/* periodic performance report */
#define MGRD_HORIZON_S_DEFAULT	900	/* pool exhaustion within: a finding */

/* mgrd.conf (config.c) */
struct mgrd_config {
	uint32_t id;			/* our QKDN_W_SENDER_ID */
	char name[QKDN_ID_MAXLEN];
	char listen_str[QKDN_ADDR_STRLEN];	/* agents */
	struct sockaddr_storage listen;
	socklen_t listen_len;
	char *cert, *key, *ca, *crl;
	char *db;			/* SQLite file */
	bool store_pg;			/* [store] backend = postgresql */
	char *conninfo;			/* [store] conninfo (libpq) */
	bool sync_full;			/* PRAGMA synchronous=FULL */
	uint32_t max_pending;		/* overload threshold */
	uint32_t retry_ms;		/* the retry-after of a busy answer */
	/* [http]: Mu, metrics, web page */
	bool http_enabled;
	char http_listen_str[QKDN_ADDR_STRLEN];
	struct sockaddr_storage http_listen;
	socklen_t http_listen_len;
	bool http_client_cert;		/* require a client certificate */
	uint32_t qber_alarm_ppm;	/* QLM: eavesdropping threshold */
	uint32_t report_ms;		/* periodic performance report */
	uint32_t horizon_s;		/* degradation: exhaustion horizon */
	/* [mx]: the peer manager (Mx, mx.c) */
	bool mx_enabled;
	char mx_peer[QKDN_ID_MAXLEN];	/* its [manager] name */
	struct qkdn_mgmt_conf mx;	/* where it listens, our Mx certificate */
};

int mgrd_config_load(struct mgrd_config *cfg, const char *path, char *err, size_t err_len);
void mgrd_config_free(struct mgrd_config *cfg);

/* One notification as the layer managers see it, parsed and validated. */
struct mgrd_event {
	const char *agent;		/* the TLS peer's CN */
	enum qkdn_wire_agent_kind kind;
	uint32_t node;			/* the sender's node ID (0: controller) */
	uint64_t epoch, seq;
	uint16_t cmd;
	uint64_t time_ms, rx_ms;
	const char *resource;
	const struct nlattr *const *tb;
	uint64_t id;			/* the store's event ID, once stored */
	/* Mx: learned from the peer manager of that name (NULL: from our
	 * own agents); via is the Mx connection's CN, whose epoch and
	 * sequence these are (agent is then the origin agent). */
	const char *origin, *via;
};

struct mgrd_store;
struct mgrd_agent;

struct mgrd_stats {
	uint64_t events, duplicates, busy, refused_msgs, refused_conns;
	uint64_t by_cmd[QKDN_W_CMD_MAX + 1];
	uint64_t commits, actions_sent, support_requests;
};

struct mgrd {
	struct event_base *base;
	struct mgrd_config cfg;
	struct mgrd_store *store;
	SSL_CTX *tls;
	struct evconnlistener *listener;
	struct mgrd_agent *agents;
	struct event *ev_commit;	/* commit what is pending, then ack */
	uint32_t pending;		/* notifications in the open transaction */
	bool in_txn;
	struct event *sig_term, *sig_int, *sig_usr1;
	struct mgrd_http *http;
	struct event *ev_report;	/* periodic performance report */
	struct mgrd_stats stats;
	uint64_t started_ms;
	struct qkdn_crl_watch crl_watch;	/* [manager] crl, re-read when it changes */
	struct event *ev_crl;
	struct mgrd_mx *mx;		/* NULL without [mx] */
};

/* agents.c */
int mgrd_agents_start(struct mgrd *m);
void mgrd_agents_stop(struct mgrd *m);
/* The authenticated agent of that CN, or NULL. */
struct mgrd_agent *mgrd_agent_find(struct mgrd *m, const char *cn);
/* Sends a command to an agent; the answer goes to done(arg, hdr, tb), or
 * done(arg, NULL, NULL) if the agent goes away or takes longer than
 * timeout_ms. 0 or -errno. */
typedef void (*mgrd_answer_cb)(struct mgrd *m, void *arg, const struct qkdn_wire_hdr *hdr,
			       const struct nlattr *const *tb);
int mgrd_agent_request(struct mgrd_agent *a, struct qkdn_wire_msg *req, unsigned int timeout_ms,
		       mgrd_answer_cb done, void *arg);
json_t *mgrd_agents_json(struct mgrd *m);
/* Makes sure a transaction is open (committed from the loop soon): for
 * writes outside a notification. 0 or -EIO. */
int mgrd_txn(struct mgrd *m);
/* JSON of a notification's attributes, for the event log. */
json_t *mgrd_event_json(const struct mgrd_event *ev);

/* qlm.c, kmlm.c, qclm.c: what each layer manager does with its
 * notifications once they are stored (in the same transaction). */
void mgrd_qlm_event(struct mgrd *m, const struct mgrd_event *ev);
void mgrd_kmlm_event(struct mgrd *m, const struct mgrd_event *ev);
void mgrd_qclm_event(struct mgrd *m, const struct mgrd_event *ev);
/* QCLM (10.1 steps 7-8, 10.4 step 5, 10.5 step 5): a control decision for
 * the controller, recorded as queued and sent once the controller is
 * connected. */
int mgrd_qclm_decide(struct mgrd *m, enum qkdn_wire_action_type type, uint8_t priority,
		     const char *resource, const char *value, uint64_t alarm_row);
/* The controller (re)connected: send what is queued. */
void mgrd_qclm_flush(struct mgrd *m);
/* 10.7: the controller's request for key relay routing and rerouting
 * support information (M_SUPPORT); returns the response to send. */
struct qkdn_wire_msg *mgrd_qclm_support(struct mgrd *m, const char *agent,
					const struct qkdn_wire_hdr *hdr,
					const struct nlattr *const *tb);

/* xlmo.c */
/* 10.1.1 steps 2-4, 10.1.2 steps 2-4: a layer manager's alarm: ask the
 * element for diagnostics (M_DIAG, if its agent is connected), analyse,
 * then mgrd_xlmo_alarm(). layer: "QLM" or "KMLM". */
void mgrd_xlmo_diagnose(struct mgrd *m, const struct mgrd_event *ev, uint64_t alarm_row,
			const char *layer);
/* A layer manager's analysed alarm (10.1.1 step 5, 10.1.2 step 5):
 * correlate with the other layers, record the root cause, hand it to
 * QCLM. */
void mgrd_xlmo_alarm(struct mgrd *m, uint64_t alarm_row, const char *layer, uint32_t node,
		     uint32_t peer, uint16_t type, const char *diagnosis);
/* The whole-network topology (10.3 step 7): nodes, KM links and QKD links
 * correlated, configuration errors found. */
json_t *mgrd_xlmo_topology(struct mgrd *m);

/* mx.c: Mx, the peer manager (seed 001 I.8) */
struct mgrd_mx;
int mgrd_mx_start(struct mgrd *m);
void mgrd_mx_stop(struct mgrd *m);
/* A notification of our own agents, stored: into the outbox, in the same
 * transaction (nothing learned over Mx goes there: no loops). */
void mgrd_mx_forward(struct mgrd *m, const struct mgrd_event *ev);
/* The transaction ended: send what it added, or forget it. */
void mgrd_mx_commit(struct mgrd *m, bool committed);
/* A notification on an Mx connection (via: its CN): who it came from.
 * Fills ev->agent, kind, node, origin. 0 or -EPROTO with why filled. */
int mgrd_mx_origin(struct mgrd *m, const char *via, const struct nlattr *const *tb,
		   struct mgrd_event *ev, char *why, size_t why_len);
/* A notification learned over Mx, stored: alarms recorded (the origin
 * manager diagnoses and decides; we show). */
void mgrd_mx_learned(struct mgrd *m, const struct mgrd_event *ev);
/* Is cn the configured peer's Mx CN? 0 or -EPERM with why filled. */
int mgrd_mx_peer_ok(struct mgrd *m, const char *cn, char *why, size_t why_len);
json_t *mgrd_mx_json(struct mgrd *m);
/* A resource's state from the peer manager (M_DIAG over Mx); done as for
 * mgrd_agent_request(). -ENOTCONN if the peer is not connected. */
int mgrd_mx_request_status(struct mgrd *m, const char *resource, mgrd_answer_cb done,
			   void *arg);

/* perf.c */
int mgrd_perf_start(struct mgrd *m);
void mgrd_perf_stop(struct mgrd *m);
/* The report of the period ending at now_ms, with the degradation rules'
 * findings and remedies; stored in the open transaction. 0 or -errno. */
int mgrd_perf_report(struct mgrd *m, uint64_t now_ms);

/* http.c */
struct mgrd_http;
int mgrd_http_start(struct mgrd *m);
void mgrd_http_stop(struct mgrd *m);
/* Mu asynchronous notification kind (alarm, cause, status, security,
 * action, finding) with data (taken): queued until the open transaction
 * commits, then streamed to every /api/v1/stream client. */
void mgrd_mu_publish(struct mgrd *m, const char *kind, json_t *data);
/* The transaction ended: send what it published, or drop it. */
void mgrd_mu_commit(struct mgrd *m, bool committed);

const char *mgrd_alarm_type_name(uint16_t type);
const char *mgrd_perf_type_name(uint16_t type);
const char *mgrd_res_kind_name(uint8_t kind);
const char *mgrd_key_event_name(uint8_t ev);
const char *mgrd_action_name(uint8_t type);
const char *mgrd_resil_name(uint8_t kind, uint8_t op, const char **op_name);
const char *mgrd_sec_event_name(uint16_t ev);

#endif
