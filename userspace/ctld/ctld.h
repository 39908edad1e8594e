/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * qkdn-ctld: the QKDN controller (seed 001 clause 8). It is the network's
 * certificate authority (access control, 8.4), serves Ck to the key
 * managers (lib/wire.h), keeps the topology and the session table, and
 * computes, pushes and reroutes key relay routes (8.1, 8.5; seed 004
 * protection and recovery). It never sees a key byte.
 *
 *   pki.c       CA, enrolment, revocation, CRL, registry (init/enrol/
 *               revoke/list)
 *   config.c    ctld.conf: [controller], [policy], [node], [link], [app]
 *   sessions.c  pure logic: sessions and the route entries they imply,
 *               the effective per-node route tables and their diffs,
 *               fault and rerouting decisions (unit-tested)
 *   net.c       the Ck server: TLS, CK_AUTH, status, notifications, route
 *               requests and pushes, CRL pushes, rerouting
 *   control.c   the UNIX control socket (JSON) and `qkdn-ctld ctl`
 *   mgr.c       Mc: reports to qkdn-mgrd, acts on its control decisions,
 *               asks it for rerouting support (seed 001 10.7)
 *   main.c      subcommands, start-up, signals
 */
#ifndef QKDN_CTLD_H
#define QKDN_CTLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <linux/qkdn.h>

#include "config.h"
#include "mgmt.h"
#include "route.h"
#include "wire.h"

/* Configuration (config.c) */

enum ctld_reroute_method {
	CTLD_REROUTE_NONE,	/* only on faults and thresholds */
	CTLD_REROUTE_FIXED,	/* every session every interval */
	CTLD_REROUTE_ADAPTIVE,	/* when a link's key amount moves by more than X % */
	CTLD_REROUTE_SCHEDULED,	/* at configured times of day */
};

#define CTLD_SCHEDULE_MAX 16

struct ctld_policy {
	uint64_t pool_low;		/* bytes: below, reroute sessions off the link */
	uint32_t qber_max_ppm;		/* above: the link is de-activated */
	bool protection;		/* protection route per session */
	enum ctld_reroute_method method;
	uint32_t interval_s;		/* FIXED */
	uint32_t adaptive_pct;		/* ADAPTIVE */
	uint16_t schedule[CTLD_SCHEDULE_MAX];	/* SCHEDULED: minutes after midnight, UTC */
	size_t n_schedule;
	uint32_t status_period_ms;	/* CK_STATUS period asked of every KM */
	uint32_t push_timeout_ms;	/* route installation deadline */
};

struct ctld_node_conf {
	uint32_t id;
	char name[QKDN_ID_MAXLEN];
	char address[QKDN_ADDR_STRLEN];	/* its kmd's Kx address, informational */
	unsigned int line;
};

struct ctld_link_conf {
	uint32_t a, b;
	int state;			/* enum qkdn_topo_state */
	unsigned int line;
};

struct ctld_app_conf {
	char sae[QKDN_ID_MAXLEN];
	uint32_t node;
	uint8_t priority;
	unsigned int line;
};

struct ctld_config {
	char listen_str[QKDN_ADDR_STRLEN];
	struct sockaddr_storage listen;
	socklen_t listen_len;
	char *state_dir;		/* CA, CRL, registry */
	char *cert, *key;		/* the controller's own (enrol --ctl) */
	char *control;			/* control socket path */
	struct ctld_policy policy;
	struct ctld_node_conf *nodes;
	size_t n_nodes;
	struct ctld_link_conf *links;
	size_t n_links;
	struct ctld_app_conf *apps;
	size_t n_apps;
	struct qkdn_mgmt_conf manager;	/* [manager]: Mc, to qkdn-mgrd */
};

#define CTLD_DEFAULT_CONTROL "/run/qkdn-ctld.sock"

int ctld_config_load(struct ctld_config *cfg, const char *path, char *err, size_t err_len);
int ctld_config_read(struct ctld_config *cfg, FILE *f, const char *name, const char *dir,
		     char *err, size_t err_len);
void ctld_config_free(struct ctld_config *cfg);
void ctld_policy_default(struct ctld_policy *p);
const struct ctld_node_conf *ctld_config_node(const struct ctld_config *cfg, uint32_t id);

/* Sessions and route tables (sessions.c, no I/O) */

/* One hop-by-hop entry: at node, toward dest, send to next_hop (and to
 * prot_next_hop, 0 for none, when next_hop fails). */
struct ctld_entry {
	uint32_t node, dest, next_hop, prot_next_hop;
	uint64_t session;
	uint32_t src;		/* the session's source */
	/* Multipath, at the session's source toward its destination only:
	 * the first hop of each of the session's paths (mp_hop[0] is
	 * next_hop) and each path's share in keys; n_mp 0 otherwise. */
	uint8_t n_mp;
	uint32_t mp_hop[QKDN_ROUTE_PATHS_MAX];
	uint32_t mp_keys[QKDN_ROUTE_PATHS_MAX];
};

/*
 * Recovery (seed 004 Req_C-R 2): a session whose working path failed with
 * no usable protection path must have a new route within its tolerance
 * time. The clock starts at the fault report; the recovery ends when a
 * new route has been pushed, and fails when the deadline passes first.
 */
struct ctld_recovery {
	uint64_t fault_ms;	/* when the fault was reported, 0: no recovery under way */
	uint64_t deadline_ms;	/* fault_ms + tolerance_ms; 0: no deadline (tolerance 0) */
	uint64_t last_ms;	/* the last recovery took this long (report -> push) */
	unsigned int count;	/* recoveries completed */
	unsigned int late;	/* of those, completed after the deadline */
	unsigned int failures;	/* deadlines passed without a route */
	bool failed;		/* failed-recovery now: entries withdrawn, still searching */
};

struct ctld_session {
	uint64_t id;
	uint32_t src, dst;
	uint8_t priority;		/* 0 highest */
	uint64_t amount;		/* bytes asked for */
	uint32_t tolerance_ms;		/* 0: not given */
	struct qkdn_route_pair route;	/* working.hops 0: no route now */
	uint64_t gen;			/* install order: later wins a (node, dest) */
	uint64_t created_ms, rerouted_ms;
	unsigned int reroutes;
	bool recovery_pending;		/* no route found since a fault: retried */
	struct ctld_recovery rec;
	/* Multipath (seed 004 Req_C-R 1): when no single path can carry the
	 * amount now, the paths of qkdn_route_multipath(): route.working and
	 * route.protection are its first two, extra[] the rest; mp_keys[i]
	 * the share of path i in that order. n_mp 0: a single path. */
	unsigned int n_mp;
	struct qkdn_path extra[QKDN_ROUTE_PATHS_MAX - 2];
	uint32_t mp_keys[QKDN_ROUTE_PATHS_MAX];
};

/* Frees the session's paths (working, protection, extra) and forgets
 * its multipath. */
void ctld_session_release_paths(struct ctld_session *s);
/* Path i of a multipath session: 0 working, 1 protection, 2.. extra. */
const struct qkdn_path *ctld_session_mp_path(const struct ctld_session *s, unsigned int i);

/* Recovery (struct ctld_recovery). _begin starts the clock at now unless
 * it runs already (true if it started). _end records a recovery whose new
 * route was pushed at now and returns how long it took. _due: the
 * deadline has passed and the session has not failed yet. _fail marks it
 * failed-recovery. _next: the earliest deadline still to come of the
 * sessions, 0 if none. */
bool ctld_recovery_begin(struct ctld_session *s, uint64_t now);
uint64_t ctld_recovery_end(struct ctld_session *s, uint64_t now);
bool ctld_recovery_due(const struct ctld_session *s, uint64_t now);
void ctld_recovery_fail(struct ctld_session *s);
uint64_t ctld_recovery_next(struct ctld_session *const *sessions, size_t n);
/* "active", "recovery-pending", "failed-recovery" or "no-route". */
const char *ctld_session_state(const struct ctld_session *s);

/* Entries, sorted by (node, dest), at most one per pair. */
struct ctld_table {
	struct ctld_entry *e;
	size_t n, cap;
};

void ctld_table_free(struct ctld_table *t);
/* The entry at node toward dest, or NULL. */
const struct ctld_entry *ctld_table_find(const struct ctld_table *t, uint32_t node,
					 uint32_t dest);
/* Adds or replaces (node, dest). 0 or -ENOMEM. */
int ctld_table_set(struct ctld_table *t, const struct ctld_entry *e);
/* Removes (node, dest) if there. */
void ctld_table_del(struct ctld_table *t, uint32_t node, uint32_t dest);

/*
 * The entries one session wants: along the working path, toward dst and
 * back toward src; along the protection path the same, merged: where a
 * node already has a working entry toward that destination with another
 * next hop, the protection hop becomes its prot_next_hop (so src gets one
 * toward dst, dst one toward src), elsewhere (protection-only KMs) a
 * plain entry. Appended to t. 0, -EINVAL (no working path) or -ENOMEM.
 */
int ctld_session_entries(const struct ctld_session *s, struct ctld_table *t);

/*
 * The effective route tables of every node: the entries of all sessions,
 * a (node, dest) wanted by several going to the one with the highest gen
 * (hop-by-hop forwarding has one next hop per destination; the newest
 * path wins, and stays loop-free because each path is simple). Sessions
 * without a route add nothing.
 */
int ctld_table_build(struct ctld_session *const *sessions, size_t n, struct ctld_table *out);

enum ctld_op { CTLD_OP_INSTALL = 1, CTLD_OP_DELETE = 2 };

/* Calls cb for each change from old to new: INSTALL for new or changed
 * entries, DELETE for ones gone; in (node, dest) order. Returns the count,
 * or the first negative cb return. */
typedef int (*ctld_diff_cb)(const struct ctld_entry *e, enum ctld_op op, void *arg);
int ctld_table_diff(const struct ctld_table *old, const struct ctld_table *new,
		    ctld_diff_cb cb, void *arg);

/* What a link's status means for routing (seed 001 clause 8.1 triggers). */
enum ctld_fault {
	CTLD_FAULT_NONE,
	CTLD_FAULT_POOL_LOW,	/* keys below pool_low: reroute, keep in service */
	CTLD_FAULT_LINK_DOWN,	/* KM link (Kx) down: de-activate */
	CTLD_FAULT_QKD_DOWN,	/* QKD module fault: de-activate */
	CTLD_FAULT_QBER,	/* QBER above threshold, eavesdropping: de-activate */
};

struct ctld_link_report {
	bool peer_up;
	uint64_t key_amount;
	int qkd_state;		/* enum qkdn_qkd_state, QKDN_QKD_UNKNOWN if not reported */
	uint32_t qber_ppm;
	bool has_qber;
};

enum ctld_fault ctld_link_fault(const struct ctld_policy *p, const struct ctld_link_report *r);
const char *ctld_fault_name(enum ctld_fault f);
/* A fault that takes the link out of service (all but NONE, POOL_LOW). */
static inline bool ctld_fault_deactivates(enum ctld_fault f)
{
	return f >= CTLD_FAULT_LINK_DOWN;
}
/* ADAPTIVE: did the key amount move by more than pct % of the last one? */
bool ctld_amount_changed(uint64_t last, uint64_t now, uint32_t pct);
/* SCHEDULED: is a configured time in (prev_min, now_min] (minutes after
 * midnight, wrapping at 1440)? */
bool ctld_schedule_due(const struct ctld_policy *p, unsigned int prev_min, unsigned int now_min);
/* Orders sessions for rerouting: priority first (0 before 7), then older
 * first. qsort comparator over struct ctld_session *. */
int ctld_session_cmp_priority(const void *a, const void *b);

/* PKI (pki.c) */

enum ctld_kind { CTLD_KIND_NODE, CTLD_KIND_QKD, CTLD_KIND_APP, CTLD_KIND_CTL, CTLD_KIND_MGR };

/* The subject CN of an entity: "qkdn-node-ID", "qkdn-qkd-ID", the app's
 * CN, "qkdn-ctl", "qkdn-mgr". */
int ctld_entity_cn(enum ctld_kind kind, uint32_t id, const char *app, char *cn, size_t len);

int ctld_pki_main(int argc, char **argv);	/* init, enrol, revoke, list */
/* The CRL (DER) of state_dir, malloc()ed. 0 or -errno with err. */
int ctld_pki_crl_der(const char *state_dir, unsigned char **der, size_t *len,
		     char *err, size_t err_len);
/* Revokes from a running daemon (control socket). 0 or -errno with err. */
int ctld_pki_revoke(const char *state_dir, enum ctld_kind kind, uint32_t id, const char *app,
		    char *err, size_t err_len);
/* Is node ID registered and not deleted? */
bool ctld_pki_node_registered(const char *state_dir, uint32_t id);

/* Daemon (net.c, control.c, main.c) */

struct ctld;

int ctld_run(struct ctld_config *cfg);
/* control.c: `qkdn-ctld ctl [--socket PATH] CMD ...` */
int ctld_ctl_main(int argc, char **argv);

#endif
