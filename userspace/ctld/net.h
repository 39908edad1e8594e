/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/* The running controller's state, shared by net.c and control.c. */
#ifndef QKDN_CTLD_NET_H
#define QKDN_CTLD_NET_H

#include <event2/event.h>
#include <event2/listener.h>
#include <jansson.h>
#include <openssl/ssl.h>

#include "ctld.h"
#include "tls.h"

#define CTLD_KEEPALIVE_S	15
#define CTLD_DEAD_S		45
#define CTLD_HANDSHAKE_S	15
#define CTLD_VIOLATIONS_MAX	3	/* protocol violations before closing */
#define CTLD_EVENTS_MAX		256
#define CTLD_STORES_MAX		64
#define CTLD_RECOVERY_RETRY_MS	250	/* a session in recovery is searched again */

struct ck_conn;
struct ctld_push;
struct ctld_mgr;

struct ctld_km {
	uint32_t id;
	char name[QKDN_ID_MAXLEN];
	struct ck_conn *conn;		/* authenticated connection, or NULL */
	int state;			/* enum qkdn_topo_state, admin-set */
	int reported_state;		/* QKDN_W_KM_STATE, 0 if none */
	uint64_t status_msg_id;		/* our CK_STATUS whose responses we take */
	uint64_t status_rx;		/* status reports received */
	uint64_t last_status_ms;
	size_t n_stores;
	struct { uint32_t dest; uint64_t amount; } stores[CTLD_STORES_MAX];
};

struct ctld_link {
	uint32_t a, b;
	int admin_state;		/* from the config or `ctl link-state` */
	enum ctld_fault fault;		/* from the last reports */
	struct ctld_link_report rep[2];	/* as a and as b report it */
	bool have[2];
	uint64_t consume[2], gen[2];
	uint64_t adaptive_last;		/* key amount at the last adaptive reroute */
	bool mgr_hold;			/* out of service for the manager (mgr.c) */
};

struct ctld_event {
	uint64_t ts_ms;			/* CLOCK_REALTIME */
	char type[24];
	char detail[160];
};

struct ctld {
	struct event_base *base;
	struct ctld_config *cfg;
	char *ca_path, *crl_path;
	SSL_CTX *tls;
	struct evconnlistener *listener, *control;
	struct ck_conn *conns;
	struct ctld_km *kms;
	size_t n_kms;
	struct ctld_link *links;
	size_t n_links;
	struct qkdn_topo *topo;
	struct qkdn_route_opts opts;
	struct ctld_session **sessions;
	size_t n_sessions, sessions_cap;
	struct ctld_table installed;	/* what we believe each KM holds */
	uint64_t gen;
	struct ctld_push *pushes;	/* ROUTE_PUSHes awaiting their response */
	struct ctld_event events[CTLD_EVENTS_MAX];
	uint64_t n_events;
	struct event *tick, *sig_term, *sig_int, *sig_hup;
	struct event *recovery_timer;	/* retries and deadlines of recoveries */
	struct qkdn_crl_watch crl_watch;	/* crl.pem, re-read when it changes */
	uint64_t crl_checked_ms;
	uint64_t last_fixed_ms;
	unsigned int last_minute;
	bool stopping;
	struct ctld_mgr *mgr;		/* Mc, NULL without [manager] */
};

uint64_t ctld_now_ms(void);
__attribute__((format(printf, 3, 4)))
void ctld_event(struct ctld *c, const char *type, const char *fmt, ...);
struct ctld_km *ctld_km_find(struct ctld *c, uint32_t id);
struct ctld_link *ctld_link_find(struct ctld *c, uint32_t a, uint32_t b);

/* net.c */
int ctld_net_start(struct ctld *c);
void ctld_net_stop(struct ctld *c);
/* Re-reads crl.pem if it changed since the last load (SIGHUP, `ctl
 * reload-crl`, `ctl revoke`, and every QKDN_CRL_WATCH_MS), makes the TLS
 * context use it, sends it to every KM (CK_CRL) and closes connections
 * whose peer it revokes. 0 (also when unchanged) or -errno with err. */
int ctld_reload_crl(struct ctld *c, char *err, size_t err_len);
/* Reroutes every session (reason for logs). */
void ctld_reroute_all(struct ctld *c, const char *reason);
/* Applies an admin state change of a link or KM and reroutes. */
int ctld_set_link_state(struct ctld *c, uint32_t a, uint32_t b, int state);
int ctld_set_km_state(struct ctld *c, uint32_t id, int state);
/* JSON views for the control socket. */
json_t *ctld_json_kms(struct ctld *c);
json_t *ctld_json_links(struct ctld *c);
json_t *ctld_json_sessions(struct ctld *c);
json_t *ctld_json_routes(struct ctld *c);
json_t *ctld_json_events(struct ctld *c);

/* The link's effective state (admin, faults, manager hold). */
int ctld_link_state(const struct ctld_link *l);
/* Reroutes the sessions using link a-b (working routes only, or both),
 * or those between x and y. */
void ctld_reroute_link(struct ctld *c, uint32_t a, uint32_t b, bool working_only,
		       const char *reason);
void ctld_reroute_pair(struct ctld *c, uint32_t x, uint32_t y, const char *reason);

/* mgr.c: Mc, reporting to qkdn-mgrd; every hook is a no-op without
 * [manager]. */
int ctld_mgr_start(struct ctld *c);
void ctld_mgr_stop(struct ctld *c);
/* A session's route computed (ret 0) or not (-errno), for reason. */
void ctld_mgr_route(struct ctld *c, const struct ctld_session *s, int ret, const char *reason);
/* A route request that could not be served. */
void ctld_mgr_route_refused(struct ctld *c, uint32_t src, uint32_t dst, const char *why);
void ctld_mgr_recovery_failed(struct ctld *c, const struct ctld_session *s, uint64_t elapsed_ms);
/* KM node switched its entry toward dest to the protection next hop. */
void ctld_mgr_switchover(struct ctld *c, uint32_t node, uint32_t dest);
json_t *ctld_mgr_json(struct ctld *c);

/* control.c */
int ctld_control_start(struct ctld *c);
void ctld_control_stop(struct ctld *c);

#endif
