// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The Ck server (lib/wire.h, "Key manager to controller") and what the
 * controller does with it: topology state, sessions, route pushes,
 * rerouting, protection and recovery.
 *
 * A connection counts once TLS 1.3 is up with a certificate of the CA
 * that the CRL does not revoke (the handshake fails otherwise, logged as
 * "peer certificate revoked" or "unknown CA" with the address), whose CN
 * is "qkdn-node-<ID>" of a [node]. The KM then sends CK_AUTH; until that
 * succeeds every other command is answered with failure "not
 * authenticated". A message that breaks the policy is answered with
 * failure and the parser's reason when its common items could be read,
 * and the connection closed otherwise; CTLD_VIOLATIONS_MAX violations
 * close it too. Nothing a KM sends affects other KMs' connections.
 *
 * After CK_AUTH: the controller sends CK_STATUS (every status-period-ms,
 * all parameters); the KM sends CK_NOTIFY "sync" with its routes, and
 * CK_ROUTE requests. A KM that goes away is marked down in the topology
 * and the sessions through it are rerouted; its routes stay on the other
 * KMs until then (soft state).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include "conn.h"
#include "log.h"
#include "net.h"
#include "tls.h"
#include "util.h"

enum conn_state { CONN_TLS, CONN_AUTH, CONN_UP, CONN_CLOSING };

static const char *const state_names[] = {
	[CONN_TLS] = "tls", [CONN_AUTH] = "auth", [CONN_UP] = "up", [CONN_CLOSING] = "closing",
};

struct ck_conn {
	struct ctld *ctld;
	struct ck_conn *next;
	struct bufferevent *bev;
	enum conn_state state;
	uint32_t node;			/* from the certificate, 0 until known */
	struct ctld_km *km;		/* once authenticated */
	unsigned int violations;
	uint64_t started_ms, last_rx_ms, last_tx_ms, closing_ms;
	char remote[QKDN_ADDR_STRLEN];
};

/* A CK_ROUTE waiting for the pushes it caused. */
struct pending {
	struct ck_conn *conn;
	uint64_t msg_id;
	uint64_t session;
	uint32_t requester;
	unsigned int outstanding;
	uint64_t deadline_ms;
	bool failed;
	char reason[160];
};

struct ctld_push {
	struct ctld_push *next;
	uint64_t msg_id;
	uint32_t node;
	struct pending *pending;	/* NULL for a reroute */
};

uint64_t ctld_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void ctld_event(struct ctld *c, const char *type, const char *fmt, ...)
{
	struct ctld_event *e = &c->events[c->n_events++ % CTLD_EVENTS_MAX];
	struct timespec ts;
	va_list ap;

	clock_gettime(CLOCK_REALTIME, &ts);
	e->ts_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	snprintf(e->type, sizeof(e->type), "%s", type);
	va_start(ap, fmt);
	vsnprintf(e->detail, sizeof(e->detail), fmt, ap);
	va_end(ap);
}

struct ctld_km *ctld_km_find(struct ctld *c, uint32_t id)
{
	for (size_t i = 0; i < c->n_kms; i++)
		if (c->kms[i].id == id)
			return &c->kms[i];
	return NULL;
}

struct ctld_link *ctld_link_find(struct ctld *c, uint32_t a, uint32_t b)
{
	for (size_t i = 0; i < c->n_links; i++)
		if ((c->links[i].a == a && c->links[i].b == b) ||
		    (c->links[i].a == b && c->links[i].b == a))
			return &c->links[i];
	return NULL;
}

static struct ctld_session *session_find(struct ctld *c, uint64_t id)
{
	for (size_t i = 0; i < c->n_sessions; i++)
		if (c->sessions[i]->id == id)
			return c->sessions[i];
	return NULL;
}

/* The session between a and b, in either direction. */
static struct ctld_session *session_by_pair(struct ctld *c, uint32_t a, uint32_t b)
{
	for (size_t i = 0; i < c->n_sessions; i++) {
		struct ctld_session *s = c->sessions[i];

		if ((s->src == a && s->dst == b) || (s->src == b && s->dst == a))
			return s;
	}
	return NULL;
}

static void session_free(struct ctld_session *s)
{
	ctld_session_release_paths(s);
	free(s);
}

static void session_remove(struct ctld *c, struct ctld_session *s)
{
	for (size_t i = 0; i < c->n_sessions; i++) {
		if (c->sessions[i] == s) {
			c->sessions[i] = c->sessions[--c->n_sessions];
			break;
		}
	}
	session_free(s);
}

static struct ctld_session *session_new(struct ctld *c, uint64_t id, uint32_t src, uint32_t dst)
{
	struct ctld_session *s, **slot;

	s = calloc(1, sizeof(*s));
	slot = s ? qkdn_grow((void **)&c->sessions, &c->n_sessions, &c->sessions_cap,
			     sizeof(*slot)) : NULL;
	if (!slot) {
		free(s);
		return NULL;
	}
	while (!id) {
		if (RAND_bytes((unsigned char *)&id, sizeof(id)) != 1)
			id = ctld_now_ms() * 0x9e3779b97f4a7c15ULL;
	}
	s->id = id;
	s->src = src;
	s->dst = dst;
	s->priority = 4;
	s->gen = ++c->gen;
	s->created_ms = ctld_now_ms();
	*slot = s;
	return s;
}

static const char *path_str(const struct qkdn_path *p, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (uint32_t i = 0; p->nodes && i <= p->hops && p->hops && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%u", i ? "-" : "", p->nodes[i]);
	if (!p->hops)
		snprintf(buf, len, "none");
	return buf;
}

/* Connections */

static void conn_free(struct ck_conn *cc, bool graceful)
{
	struct ctld *c = cc->ctld;
	struct ck_conn **pp;

	for (pp = &c->conns; *pp; pp = &(*pp)->next) {
		if (*pp == cc) {
			*pp = cc->next;
			break;
		}
	}
	for (struct ctld_push *p = c->pushes; p; p = p->next)
		if (p->pending && p->pending->conn == cc)
			p->pending->conn = NULL;
	if (graceful) {
		SSL *ssl = bufferevent_openssl_get_ssl(cc->bev);

		if (ssl && SSL_is_init_finished(ssl))
			SSL_shutdown(ssl);
	}
	ERR_clear_error();
	bufferevent_free(cc->bev);
	free(cc);
}

static void km_down(struct ctld *c, struct ctld_km *km, const char *reason);

static void conn_detach(struct ck_conn *cc, const char *reason)
{
	if (cc->km && cc->km->conn == cc) {
		cc->km->conn = NULL;
		km_down(cc->ctld, cc->km, reason);
	}
	cc->km = NULL;
}

static void conn_close(struct ck_conn *cc, enum qkdn_log_level level, const char *reason)
{
	char q[256];

	qkdn_log(level, "connection closed", "event=conn-closed node=%u remote=%s state=%s reason=%s",
		 cc->node, cc->remote, state_names[cc->state],
		 qkdn_log_quote(q, sizeof(q), reason));
	conn_detach(cc, reason);
	conn_free(cc, cc->state != CONN_TLS);
}

static void conn_close_after_flush(struct ck_conn *cc, const char *reason)
{
	char q[256];

	if (cc->state == CONN_CLOSING)
		return;
	qkdn_log(QKDN_LOG_WARN, "closing connection",
		 "event=conn-closing node=%u remote=%s state=%s reason=%s", cc->node, cc->remote,
		 state_names[cc->state], qkdn_log_quote(q, sizeof(q), reason));
	conn_detach(cc, reason);
	cc->state = CONN_CLOSING;
	cc->closing_ms = ctld_now_ms();
	bufferevent_disable(cc->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(cc->bev)) == 0)
		conn_free(cc, true);
}

static int conn_send(struct ck_conn *cc, struct qkdn_wire_msg *m)
{
	int ret = qkdn_conn_send(cc->bev, m);

	if (ret)
		qkdn_log(QKDN_LOG_ERR, "cannot send", "event=send-failed node=%u err=%s", cc->node,
			 strerror(-ret));
	else
		cc->last_tx_ms = ctld_now_ms();
	return ret;
}

static void send_response(struct ck_conn *cc, uint16_t cmd, uint64_t orig, const char *reason)
{
	conn_send(cc, qkdn_conn_response(cmd, QKDN_W_CONTROLLER_ID, orig, reason));
}

/* A refused message: answered, counted; returns -1 if cc was closed. */
__attribute__((format(printf, 4, 5)))
static int violation(struct ck_conn *cc, uint16_t cmd, uint64_t orig, const char *fmt, ...)
{
	char reason[QKDN_W_REASON_MAX], q[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	cc->violations++;
	qkdn_log(QKDN_LOG_WARN, "message refused",
		 "event=msg-refused node=%u remote=%s cmd=%s reason=%s violations=%u", cc->node,
		 cc->remote, qkdn_wire_cmd_name(cmd), qkdn_log_quote(q, sizeof(q), reason),
		 cc->violations);
	if (orig)
		send_response(cc, cmd, orig, reason);
	if (cc->violations >= CTLD_VIOLATIONS_MAX) {
		conn_close_after_flush(cc, "too many protocol violations");
		return -1;
	}
	return 0;
}

/* Route tables */

static void put_path(struct qkdn_wire_msg *m, uint16_t type, const struct qkdn_path *p)
{
	if (p->hops && p->hops + 1 <= QKDN_W_PATH_MAX)
		qkdn_wire_put_bin(m, type, p->nodes, (p->hops + 1) * sizeof(uint32_t));
}

static void put_entry(struct ctld *c, struct qkdn_wire_msg *m, const struct ctld_entry *e,
		      enum ctld_op op)
{
	struct ctld_session *s = session_find(c, e->session);
	long n = qkdn_wire_nest_start(m, QKDN_W_ROUTE);

	qkdn_wire_put_u64(m, QKDN_W_SESSION_ID, e->session);
	qkdn_wire_put_u32(m, QKDN_W_SOURCE_NODE_ID, e->src);
	qkdn_wire_put_u32(m, QKDN_W_DEST_NODE_ID, e->dest);
	qkdn_wire_put_u32(m, QKDN_W_NEXT_HOP_NODE_ID, e->next_hop);
	if (e->prot_next_hop)
		qkdn_wire_put_u32(m, QKDN_W_PROTECTION_NEXT_HOP, e->prot_next_hop);
	qkdn_wire_put_u8(m, QKDN_W_ROUTE_OP, op == CTLD_OP_INSTALL ? QKDN_W_ROUTE_OP_INSTALL
								: QKDN_W_ROUTE_OP_DELETE);
	if (s) {
		put_path(m, QKDN_W_PATH, &s->route.working);
		put_path(m, QKDN_W_PROTECTION_PATH, &s->route.protection);
	}
	if (op == CTLD_OP_DELETE && s && s->rec.failed)
		qkdn_wire_put_u8(m, QKDN_W_ROUTE_REASON, QKDN_W_ROUTE_REASON_RECOVERY_FAILED);
	if (op == CTLD_OP_INSTALL && e->n_mp >= 2) {
		qkdn_wire_put_bin(m, QKDN_W_MULTIPATH_HOPS, e->mp_hop, e->n_mp * sizeof(uint32_t));
		qkdn_wire_put_bin(m, QKDN_W_MULTIPATH_KEYS, e->mp_keys, e->n_mp * sizeof(uint32_t));
	}
	qkdn_wire_nest_end(m, n);
}

/* Building one ROUTE_PUSH per node while walking a diff. */
struct apply_ctx {
	struct ctld *c;
	struct pending *pending;
	uint32_t skip_node;		/* the requester: its entries go in the response */
	struct ctld_table *skipped;	/* those entries */
	uint32_t node;			/* the push being built */
	struct qkdn_wire_msg *m;
	long table;
	unsigned int entries, pushes;
	struct ctld_table done;		/* entries to record as installed */
	struct ctld_table gone;		/* (node, dest) to forget */
};

static void flush_push(struct apply_ctx *a)
{
	struct ctld_km *km = ctld_km_find(a->c, a->node);
	struct ctld_push *p;

	if (!a->m)
		return;
	qkdn_wire_nest_end(a->m, a->table);
	p = calloc(1, sizeof(*p));
	if (p && km && km->conn) {
		p->msg_id = qkdn_wire_msg_id(a->m);
		p->node = a->node;
		p->pending = a->pending;
		if (conn_send(km->conn, a->m) == 0) {
			p->next = a->c->pushes;
			a->c->pushes = p;
			if (a->pending)
				a->pending->outstanding++;
			a->pushes++;
			qkdn_log(QKDN_LOG_INFO, "routes pushed",
				 "event=route-push node=%u entries=%u msg=%" PRIu64, a->node,
				 a->entries, p->msg_id);
			p = NULL;
		}
	} else {
		qkdn_wire_msg_free(a->m);
	}
	free(p);
	a->m = NULL;
	a->entries = 0;
}

static int apply_cb(const struct ctld_entry *e, enum ctld_op op, void *arg)
{
	struct apply_ctx *a = arg;
	struct ctld_km *km;

	if (e->node == a->skip_node && a->skipped) {
		if (op == CTLD_OP_INSTALL)
			ctld_table_set(a->skipped, e);
		goto record;
	}
	km = ctld_km_find(a->c, e->node);
	if (!km || !km->conn)
		return 0;	/* not recorded: retried once it is back */
	if (a->m && a->node != e->node)
		flush_push(a);
	if (!a->m) {
		a->m = qkdn_wire_msg_new(QKDN_W_CMD_CK_ROUTE_PUSH, QKDN_W_CONTROLLER_ID);
		if (!a->m)
			return -ENOMEM;
		a->node = e->node;
		a->table = qkdn_wire_nest_start(a->m, QKDN_W_ROUTE_TABLE);
	}
	put_entry(a->c, a->m, e, op);
	a->entries++;
record:
	if (op == CTLD_OP_INSTALL)
		return ctld_table_set(&a->done, e);
	return ctld_table_set(&a->gone, e);
}

/*
 * Makes the KMs' tables what the sessions want: one ROUTE_PUSH per KM
 * with changes (skip_node's changes go to *skipped instead). Returns the
 * number of pushes sent.
 */
static int apply(struct ctld *c, struct pending *pending, uint32_t skip_node,
		 struct ctld_table *skipped)
{
	struct apply_ctx a = { .c = c, .pending = pending, .skip_node = skip_node,
			       .skipped = skipped };
	struct ctld_table want;
	int ret;

	ret = ctld_table_build(c->sessions, c->n_sessions, &want);
	if (ret < 0)
		return ret;
	ret = ctld_table_diff(&c->installed, &want, apply_cb, &a);
	flush_push(&a);
	for (size_t i = 0; i < a.gone.n; i++)
		ctld_table_del(&c->installed, a.gone.e[i].node, a.gone.e[i].dest);
	for (size_t i = 0; i < a.done.n; i++)
		ctld_table_set(&c->installed, &a.done.e[i]);
	ctld_table_free(&a.done);
	ctld_table_free(&a.gone);
	ctld_table_free(&want);
	return ret < 0 ? ret : (int)a.pushes;
}

/* Routing */

static const char *route_error(int err)
{
	switch (-err) {
	case ENOENT: return "unknown node";
	case EHOSTDOWN: return "source or destination out of service";
	case EHOSTUNREACH: return "no route";
	case EAGAIN: return "no route with enough keys";
	case ENOMEM: return "out of memory";
	default: return "route computation failed";
	}
}

/* A new route for s. 0, or -errno with s's route unchanged: a route that
 * cannot be improved on is kept (the KMs switch to protection on their
 * own) and the session marked for recovery. */
static bool compute_multipath(struct ctld *c, struct ctld_session *s);

static int compute(struct ctld *c, struct ctld_session *s)
{
	struct qkdn_route_pair pair = { 0 };
	bool short_of_keys = false;
	int ret;

	if (c->cfg->policy.protection) {
		ret = qkdn_route_protected(c->topo, s->src, s->dst, s->amount, &c->opts, &pair);
		if (ret == -EAGAIN) {	/* a path exists; keys will follow */
			short_of_keys = true;
			ret = qkdn_route_protected(c->topo, s->src, s->dst, 0, &c->opts, &pair);
		}
	} else {
		ret = qkdn_route_compute(c->topo, s->src, s->dst, s->amount, &c->opts,
					 &pair.working);
		if (ret == -EAGAIN) {
			short_of_keys = true;
			ret = qkdn_route_compute(c->topo, s->src, s->dst, 0, &c->opts,
						 &pair.working);
		}
	}
	if (ret < 0) {
		qkdn_route_pair_release(&pair);
		return ret;
	}
	if (short_of_keys && compute_multipath(c, s)) {
		qkdn_route_pair_release(&pair);
		return 0;
	}
	ctld_session_release_paths(s);
	s->route = pair;
	return 0;
}

/*
 * No single path can carry the session's amount now: if several
 * link-disjoint paths together can (lib/route.c qkdn_route_multipath()),
 * they become the session's paths, the first two its working and
 * protection paths, and its source relays over all of them in proportion
 * to their shares (seed 004 Req_C-R 1). false: s unchanged.
 */
static bool compute_multipath(struct ctld *c, struct ctld_session *s)
{
	struct qkdn_multipath mp;
	bool shared = false;

	memset(&mp, 0, sizeof(mp));
	if (!s->amount || qkdn_route_multipath(c->topo, s->src, s->dst, s->amount, &c->opts,
					       &mp) < 0 || mp.count < 2 ||
	    mp.count > QKDN_ROUTE_PATHS_MAX) {
		qkdn_multipath_release(&mp);
		return false;
	}
	ctld_session_release_paths(s);
	s->n_mp = mp.count;
	for (unsigned int i = 0; i < mp.count; i++) {
		struct qkdn_path *to = i == 0 ? &s->route.working :
				       i == 1 ? &s->route.protection : &s->extra[i - 2];
		uint64_t keys = mp.amount[i] / c->opts.key_len;

		*to = mp.paths[i];
		memset(&mp.paths[i], 0, sizeof(mp.paths[i]));
		s->mp_keys[i] = keys > UINT32_MAX ? UINT32_MAX : (uint32_t)keys;
	}
	for (uint32_t i = 1; i < s->route.working.hops; i++)
		shared |= qkdn_path_has_node(&s->route.protection, s->route.working.nodes[i]);
	s->route.kind = shared ? QKDN_PROTECTION_LINK_DISJOINT : QKDN_PROTECTION_NODE_DISJOINT;
	qkdn_multipath_release(&mp);
	return true;
}

static bool session_uses_link(const struct ctld_session *s, uint32_t a, uint32_t b, bool working_only)
{
	return qkdn_path_has_link(&s->route.working, a, b) ||
	       (!working_only && qkdn_path_has_link(&s->route.protection, a, b));
}

static bool session_uses_node(const struct ctld_session *s, uint32_t n)
{
	return qkdn_path_has_node(&s->route.working, n) ||
	       qkdn_path_has_node(&s->route.protection, n);
}

static int link_effective_state(const struct ctld_link *l);

/*
 * Whether s's working or protection path crosses a link both of whose
 * ends have reported it out of service (down, eavesdropped, set so). In
 * steady state such a session was rerouted when the link's fault changed,
 * or is marked for recovery. After a restart it need not be: sessions
 * are rebuilt from the paths the KMs' entries carry, and a link cut
 * before the restart starts and stays "link-down", so no fault change
 * ever reroutes what crosses it.
 */
static bool session_on_dead_link(const struct ctld *c, const struct ctld_session *s)
{
	for (size_t i = 0; i < c->n_links; i++) {
		const struct ctld_link *l = &c->links[i];

		if (l->have[0] && l->have[1] &&
		    link_effective_state(l) != QKDN_TOPO_IN_SERVICE &&
		    session_uses_link(s, l->a, l->b, false))
			return true;
	}
	return false;
}

enum which { ALL, LINK, LINK_WORKING, NODE, BROKEN, PAIR, RECOVERING };

static bool selected(const struct ctld *c, const struct ctld_session *s, enum which w,
		     uint32_t x, uint32_t y)
{
	switch (w) {
	case ALL: return true;
	case LINK: return session_uses_link(s, x, y, false);
	case LINK_WORKING: return session_uses_link(s, x, y, true);
	case NODE: return s->src != x && s->dst != x && session_uses_node(s, x);
	case BROKEN: return s->recovery_pending || !s->route.protection.hops ||
			    session_on_dead_link(c, s);
	case PAIR: return (s->src == x && s->dst == y) || (s->src == y && s->dst == x);
	case RECOVERING: return s->rec.fault_ms && !s->rec.failed;
	}
	return false;
}

/* Recomputes the selected sessions, highest priority first, and pushes
 * the changes. */
static void recovery_check(struct ctld *c, struct ctld_session *s, const char *reason);
static void recovery_settle(struct ctld *c);
static void recovery_arm(struct ctld *c);

static void reroute(struct ctld *c, enum which w, uint32_t x, uint32_t y, const char *reason)
{
	struct ctld_session **sel = malloc((c->n_sessions + 1) * sizeof(*sel));
	size_t n = 0, changed = 0;
	char q[200], p1[160], p2[160], o1[160];

	if (!sel)
		return;
	for (size_t i = 0; i < c->n_sessions; i++)
		if (selected(c, c->sessions[i], w, x, y))
			sel[n++] = c->sessions[i];
	qsort(sel, n, sizeof(*sel), ctld_session_cmp_priority);
	for (size_t i = 0; i < n; i++) {
		struct ctld_session *s = sel[i];
		bool was_pending = s->recovery_pending;
		int ret;

		path_str(&s->route.working, o1, sizeof(o1));
		if (w == LINK || w == NODE)	/* a fault report */
			recovery_check(c, s, reason);
		ret = compute(c, s);
		/* The highest priority gets the newest generation: it wins a
		 * (node, destination) another session also wants. */
		s->gen = c->gen + (n - i);
		s->recovery_pending = ret < 0;
		if (ret < 0 && was_pending && w == RECOVERING)
			continue;	/* retried on a timer: logged once */
		ctld_mgr_route(c, s, ret, reason);
		if (ret < 0) {
			qkdn_log(QKDN_LOG_WARN, "session has no route",
				 "event=reroute-failed session=%016" PRIx64 " src=%u dst=%u reason=%s err=%s",
				 s->id, s->src, s->dst, qkdn_log_quote(q, sizeof(q), reason),
				 route_error(ret));
			ctld_event(c, "recovery-pending", "session=%016" PRIx64 " %u-%u: %s (%s)",
				   s->id, s->src, s->dst, route_error(ret), reason);
			continue;
		}
		path_str(&s->route.working, p1, sizeof(p1));
		path_str(&s->route.protection, p2, sizeof(p2));
		if (strcmp(o1, p1)) {
			s->reroutes++;
			s->rerouted_ms = ctld_now_ms();
			changed++;
			qkdn_log(QKDN_LOG_INFO, "session rerouted",
				 "event=reroute session=%016" PRIx64 " src=%u dst=%u from=%s path=%s protection=%s reason=%s",
				 s->id, s->src, s->dst, o1, p1, p2, qkdn_log_quote(q, sizeof(q), reason));
			ctld_event(c, "reroute", "session=%016" PRIx64 " %s -> %s protection=%s (%s)",
				   s->id, o1, p1, p2, reason);
		}
	}
	c->gen += n;
	free(sel);
	apply(c, NULL, 0, NULL);
	recovery_settle(c);
	recovery_arm(c);
	if (n)
		qkdn_log(QKDN_LOG_DEBUG, "reroute done", "event=reroute-done sessions=%zu changed=%zu",
			 n, changed);
}

void ctld_reroute_all(struct ctld *c, const char *reason)
{
	reroute(c, ALL, 0, 0, reason);
}

/*
 * Recovery deadlines (seed 004 Req_C-R 2). A session whose working path
 * is broken with no usable protection path (or whose end KM withdrew its
 * route) is in recovery from the fault report on: the controller searches
 * at once, then again every CTLD_RECOVERY_RETRY_MS and on every link
 * change, until a new route is pushed (the time it took is recorded) or
 * the session's tolerance time has passed: then it is failed-recovery,
 * its entries are withdrawn from the KMs (ROUTE_PUSH DELETE with
 * QKDN_W_ROUTE_REASON_RECOVERY_FAILED), and an alarm is logged; link
 * changes still retry it.
 */

static int link_effective_state(const struct ctld_link *l);

/* Can a relay cross this path now, as far as the controller knows? */
static bool path_usable(struct ctld *c, const struct qkdn_path *p)
{
	if (!p->hops)
		return false;
	for (uint32_t i = 0; i <= p->hops; i++) {
		struct ctld_km *km = ctld_km_find(c, p->nodes[i]);

		/* A KM lost since it reported (not one yet to connect after a
		 * restart of ours), or taken out of service. */
		if (!km || (!km->conn && km->status_rx) || km->state == QKDN_TOPO_OUT_OF_SERVICE)
			return false;
		if (i < p->hops) {
			struct ctld_link *l = ctld_link_find(c, p->nodes[i], p->nodes[i + 1]);

			if (!l || link_effective_state(l) == QKDN_TOPO_OUT_OF_SERVICE ||
			    link_effective_state(l) == QKDN_TOPO_RESERVED)
				return false;
		}
	}
	return true;
}

static void recovery_begin(struct ctld *c, struct ctld_session *s, const char *reason)
{
	char q[200];

	if (!ctld_recovery_begin(s, ctld_now_ms()))
		return;
	qkdn_log(QKDN_LOG_WARN, "session lost its route: recovery",
		 "event=recovery-start session=%016" PRIx64 " src=%u dst=%u tolerance_ms=%u reason=%s",
		 s->id, s->src, s->dst, s->tolerance_ms, qkdn_log_quote(q, sizeof(q), reason));
	ctld_event(c, "recovery-start", "session=%016" PRIx64 " %u-%u tolerance_ms=%u (%s)",
		   s->id, s->src, s->dst, s->tolerance_ms, reason);
}

/* Before a recomputation: has the fault left s without any route? */
static void recovery_check(struct ctld *c, struct ctld_session *s, const char *reason)
{
	if (s->rec.fault_ms || !s->route.working.hops)
		return;
	if (!path_usable(c, &s->route.working) &&
	    (!s->route.protection.hops || !path_usable(c, &s->route.protection)))
		recovery_begin(c, s, reason);
}

/* After a push: sessions in recovery that have a route again. */
static void recovery_settle(struct ctld *c)
{
	uint64_t now = ctld_now_ms();
	char p1[160];

	for (size_t i = 0; i < c->n_sessions; i++) {
		struct ctld_session *s = c->sessions[i];
		bool failed = s->rec.failed;
		uint64_t took;

		if (!s->rec.fault_ms || s->recovery_pending || !s->route.working.hops)
			continue;
		took = ctld_recovery_end(s, now);
		path_str(&s->route.working, p1, sizeof(p1));
		qkdn_log(failed || (s->tolerance_ms && took > s->tolerance_ms) ? QKDN_LOG_WARN
									       : QKDN_LOG_INFO,
			 "session recovered",
			 "event=recovered session=%016" PRIx64 " src=%u dst=%u path=%s recovery_ms=%"
			 PRIu64 " tolerance_ms=%u in_time=%s", s->id, s->src, s->dst, p1, took,
			 s->tolerance_ms, failed || (s->tolerance_ms && took > s->tolerance_ms)
					  ? "no" : "yes");
		ctld_event(c, "recovered", "session=%016" PRIx64 " %u-%u path=%s recovery_ms=%" PRIu64
			   " tolerance_ms=%u", s->id, s->src, s->dst, p1, took, s->tolerance_ms);
	}
}

static void recovery_fail(struct ctld *c, struct ctld_session *s, uint64_t now)
{
	ctld_recovery_fail(s);
	/* The alarm: log, events, and the manager (Mc). */
	qkdn_log(QKDN_LOG_ERR, "recovery failed: no route within the tolerance time",
		 "event=recovery-failed alarm=route-down severity=major session=%016" PRIx64
		 " src=%u dst=%u tolerance_ms=%u elapsed_ms=%" PRIu64, s->id, s->src, s->dst,
		 s->tolerance_ms, now - s->rec.fault_ms);
	ctld_event(c, "recovery-failed", "session=%016" PRIx64 " %u-%u tolerance_ms=%u elapsed_ms=%"
		   PRIu64, s->id, s->src, s->dst, s->tolerance_ms, now - s->rec.fault_ms);
	ctld_mgr_recovery_failed(c, s, now - s->rec.fault_ms);
	/* Withdrawn: the next apply() deletes its entries, with the reason. */
	ctld_session_release_paths(s);
	s->recovery_pending = true;
}

static void recovery_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ctld *c = arg;
	bool failed = false;
	uint64_t now;

	(void)fd;
	(void)what;
	reroute(c, RECOVERING, 0, 0, "recovery retry");
	now = ctld_now_ms();
	for (size_t i = 0; i < c->n_sessions; i++) {
		if (ctld_recovery_due(c->sessions[i], now)) {
			recovery_fail(c, c->sessions[i], now);
			failed = true;
		}
	}
	if (failed)
		apply(c, NULL, 0, NULL);
	recovery_arm(c);
}

/* The timer: the next retry or deadline, whichever comes first. */
static void recovery_arm(struct ctld *c)
{
	uint64_t next = ctld_recovery_next(c->sessions, c->n_sessions), now = ctld_now_ms();
	struct timeval tv;

	if (!c->recovery_timer)
		return;
	if (!next) {
		evtimer_del(c->recovery_timer);
		return;
	}
	if (next > now + CTLD_RECOVERY_RETRY_MS)
		next = now + CTLD_RECOVERY_RETRY_MS;
	next = next > now ? next - now : 0;
	tv.tv_sec = (time_t)(next / 1000);
	tv.tv_usec = (suseconds_t)(next % 1000) * 1000;
	evtimer_add(c->recovery_timer, &tv);
}

/* Link and KM state */

static int link_effective_state(const struct ctld_link *l)
{
	if ((ctld_fault_deactivates(l->fault) || l->mgr_hold) &&
	    l->admin_state != QKDN_TOPO_OUT_OF_SERVICE)
		return QKDN_TOPO_OUT_OF_SERVICE;
	return l->admin_state;
}

int ctld_link_state(const struct ctld_link *l)
{
	return link_effective_state(l);
}

void ctld_reroute_link(struct ctld *c, uint32_t a, uint32_t b, bool working_only,
		       const char *reason)
{
	reroute(c, working_only ? LINK_WORKING : LINK, a, b, reason);
}

void ctld_reroute_pair(struct ctld *c, uint32_t x, uint32_t y, const char *reason)
{
	reroute(c, PAIR, x, y, reason);
}

/* The link as both ends see it: up only if both say so, the smaller key
 * amount, the worse QKD state and QBER. */
static void link_combined(const struct ctld_link *l, struct ctld_link_report *r,
			  struct qkdn_link_metrics *m)
{
	bool any = false;

	memset(r, 0, sizeof(*r));
	memset(m, 0, sizeof(*m));
	r->peer_up = true;
	r->key_amount = UINT64_MAX;
	for (int i = 0; i < 2; i++) {
		const struct ctld_link_report *x = &l->rep[i];

		if (!l->have[i])
			continue;
		any = true;
		r->peer_up &= x->peer_up;
		r->key_amount = x->key_amount < r->key_amount ? x->key_amount : r->key_amount;
		if (x->qkd_state == QKDN_QKD_EAVESDROPPED ||
		    (x->qkd_state == QKDN_QKD_DOWN && r->qkd_state != QKDN_QKD_EAVESDROPPED) ||
		    r->qkd_state == QKDN_QKD_UNKNOWN)
			r->qkd_state = x->qkd_state;
		if (x->has_qber && (!r->has_qber || x->qber_ppm > r->qber_ppm)) {
			r->qber_ppm = x->qber_ppm;
			r->has_qber = true;
		}
		m->consume_rate = l->consume[i] > m->consume_rate ? l->consume[i] : m->consume_rate;
		m->gen_rate = !m->gen_rate || l->gen[i] < m->gen_rate ? l->gen[i] : m->gen_rate;
	}
	if (!any) {
		r->peer_up = false;
		r->key_amount = 0;
	}
	m->key_avail = r->key_amount;
	m->up = r->peer_up;
	m->qber = r->has_qber ? r->qber_ppm / 1e6 : 0;
}

/* Re-derives the link's metrics, fault and state; reroutes on changes. */
static void link_update(struct ctld *c, struct ctld_link *l)
{
	struct ctld_link_report r;
	struct qkdn_link_metrics m;
	enum ctld_fault old = l->fault;
	int old_state = link_effective_state(l), state;

	link_combined(l, &r, &m);
	qkdn_topo_link_set_metrics(c->topo, l->a, l->b, &m);
	l->fault = ctld_link_fault(&c->cfg->policy, &r);
	state = link_effective_state(l);
	if (state != old_state)
		qkdn_topo_link_set_state(c->topo, l->a, l->b, state);
	if (l->fault != old) {
		qkdn_log(l->fault ? QKDN_LOG_WARN : QKDN_LOG_INFO, "link status",
			 "event=link-fault link=%u-%u fault=%s was=%s state=%s keys=%" PRIu64
			 " qber_ppm=%u", l->a, l->b, ctld_fault_name(l->fault), ctld_fault_name(old),
			 qkdn_topo_state_name(state), r.key_amount, r.qber_ppm);
		ctld_event(c, "link-fault", "link=%u-%u fault=%s was=%s state=%s", l->a, l->b,
			   ctld_fault_name(l->fault), ctld_fault_name(old), qkdn_topo_state_name(state));
		if (ctld_fault_deactivates(l->fault)) {
			reroute(c, LINK, l->a, l->b, ctld_fault_name(l->fault));
		} else if (l->fault == CTLD_FAULT_POOL_LOW) {
			reroute(c, LINK_WORKING, l->a, l->b, "pool-low");
		} else {
			/* Cleared: sessions lacking a route or protection may
			 * find one now. */
			reroute(c, BROKEN, 0, 0, "link restored");
		}
		l->adaptive_last = r.key_amount;
		return;
	}
	if (c->cfg->policy.method == CTLD_REROUTE_ADAPTIVE && r.key_amount != UINT64_MAX &&
	    ctld_amount_changed(l->adaptive_last, r.key_amount, c->cfg->policy.adaptive_pct)) {
		l->adaptive_last = r.key_amount;
		reroute(c, LINK, l->a, l->b, "adaptive");
	}
}

int ctld_set_link_state(struct ctld *c, uint32_t a, uint32_t b, int state)
{
	struct ctld_link *l = ctld_link_find(c, a, b);
	char why[64];

	if (!l)
		return -ENOENT;
	if (!qkdn_topo_state_name(state))
		return -EINVAL;
	l->admin_state = state;
	qkdn_topo_link_set_state(c->topo, a, b, link_effective_state(l));
	qkdn_log(QKDN_LOG_INFO, "link state set", "event=link-state link=%u-%u state=%s", a, b,
		 qkdn_topo_state_name(state));
	ctld_event(c, "link-state", "link=%u-%u state=%s", a, b, qkdn_topo_state_name(state));
	snprintf(why, sizeof(why), "link %u-%u %s", a, b, qkdn_topo_state_name(state));
	if (state == QKDN_TOPO_IN_SERVICE)
		ctld_reroute_all(c, why);
	else
		reroute(c, LINK, a, b, why);
	return 0;
}

int ctld_set_km_state(struct ctld *c, uint32_t id, int state)
{
	struct ctld_km *km = ctld_km_find(c, id);
	char why[64];

	if (!km)
		return -ENOENT;
	if (!qkdn_topo_state_name(state))
		return -EINVAL;
	km->state = state;
	qkdn_topo_node_set_state(c->topo, id, state);
	qkdn_log(QKDN_LOG_INFO, "KM state set", "event=km-state node=%u state=%s", id,
		 qkdn_topo_state_name(state));
	ctld_event(c, "km-state", "node=%u state=%s", id, qkdn_topo_state_name(state));
	snprintf(why, sizeof(why), "KM %u %s", id, qkdn_topo_state_name(state));
	if (state == QKDN_TOPO_IN_SERVICE)
		ctld_reroute_all(c, why);
	else
		reroute(c, NODE, id, 0, why);
	return 0;
}

static void km_down(struct ctld *c, struct ctld_km *km, const char *reason)
{
	char q[200];

	qkdn_topo_node_set_up(c->topo, km->id, false);
	km->status_msg_id = 0;
	qkdn_log(QKDN_LOG_WARN, "KM lost", "event=km-down node=%u reason=%s", km->id,
		 qkdn_log_quote(q, sizeof(q), reason));
	ctld_event(c, "km-down", "node=%u: %s", km->id, reason);
	if (!c->stopping)
		reroute(c, NODE, km->id, 0, "KM fault");
}

/* Status */

static int take_status(struct ck_conn *cc, const struct nlattr *table, const struct nlattr *kmst)
{
	struct ctld *c = cc->ctld;
	struct ctld_km *km = cc->km;
	const struct nlattr *a, *tb[QKDN_W_MAX + 1];
	char err[160];

	if (kmst)
		km->reported_state = qkdn_wire_get_u8(kmst);
	km->status_rx++;
	km->last_status_ms = ctld_now_ms();
	if (!table)
		return 0;
	km->n_stores = 0;
	mnl_attr_for_each_nested(a, table) {
		if (mnl_attr_get_type(a) == QKDN_W_STORE_STATUS) {
			if (qkdn_wire_parse_nested(a, &qkdn_wire_ck_store_status_nest, tb, err,
						   sizeof(err)) || km->n_stores == CTLD_STORES_MAX)
				continue;
			km->stores[km->n_stores].dest = qkdn_wire_get_u32(tb[QKDN_W_DEST_NODE_ID]);
			km->stores[km->n_stores++].amount = qkdn_wire_get_u64(tb[QKDN_W_KEY_AMOUNT]);
			continue;
		}
		if (qkdn_wire_parse_nested(a, &qkdn_wire_ck_link_status_nest, tb, err, sizeof(err)))
			continue;
		{
			uint32_t peer = qkdn_wire_get_u32(tb[QKDN_W_PEER_NODE_ID]);
			struct ctld_link *l = ctld_link_find(c, km->id, peer);
			struct ctld_link_report *r;
			int side;

			if (!l) {
				qkdn_log(QKDN_LOG_DEBUG, "status of a link not in the topology",
					 "event=unknown-link node=%u peer=%u", km->id, peer);
				continue;
			}
			side = l->a == km->id ? 0 : 1;
			r = &l->rep[side];
			l->have[side] = true;
			r->peer_up = qkdn_wire_get_u8(tb[QKDN_W_PEER_UP]);
			if (tb[QKDN_W_KEY_AMOUNT])
				r->key_amount = qkdn_wire_get_u64(tb[QKDN_W_KEY_AMOUNT]);
			if (tb[QKDN_W_QKD_STATE])
				r->qkd_state = qkdn_wire_get_u8(tb[QKDN_W_QKD_STATE]);
			r->has_qber = tb[QKDN_W_QBER];
			if (tb[QKDN_W_QBER])
				r->qber_ppm = qkdn_wire_get_u32(tb[QKDN_W_QBER]);
			if (tb[QKDN_W_CONSUMPTION_RATE])
				l->consume[side] = qkdn_wire_get_u64(tb[QKDN_W_CONSUMPTION_RATE]);
			if (tb[QKDN_W_GENERATION_RATE])
				l->gen[side] = qkdn_wire_get_u64(tb[QKDN_W_GENERATION_RATE]);
			link_update(c, l);
		}
	}
	return 0;
}

static void send_status_request(struct ck_conn *cc)
{
	struct qkdn_wire_msg *m = qkdn_wire_msg_new(QKDN_W_CMD_CK_STATUS, QKDN_W_CONTROLLER_ID);

	if (m) {
		cc->km->status_msg_id = qkdn_wire_msg_id(m);
		qkdn_wire_put_u32(m, QKDN_W_PERIOD, cc->ctld->cfg->policy.status_period_ms);
		qkdn_wire_put_u32(m, QKDN_W_STATUS_PARAMS, __QKDN_W_STATUS_ALL);
	}
	conn_send(cc, m);
}

static int send_crl(struct ck_conn *cc)
{
	unsigned char *der;
	size_t len;
	char err[256];
	struct qkdn_wire_msg *m;

	if (ctld_pki_crl_der(cc->ctld->cfg->state_dir, &der, &len, err, sizeof(err)) < 0) {
		qkdn_log(QKDN_LOG_ERR, "cannot read the CRL", "event=crl-failed err=\"%s\"", err);
		return -EINVAL;
	}
	m = qkdn_wire_msg_new(QKDN_W_CMD_CK_CRL, QKDN_W_CONTROLLER_ID);
	if (m)
		qkdn_wire_put_bin(m, QKDN_W_CRL, der, len);
	free(der);
	return conn_send(cc, m);
}

/* After CK_AUTH: a KM that was away when an entity was revoked has not
 * seen the CRL that revokes it; every KM gets the CRL on connecting, as
 * soon as it revokes anything (an empty one tells nothing). */
static void send_crl_on_auth(struct ck_conn *cc)
{
	unsigned char *der;
	const unsigned char *p;
	X509_CRL *crl;
	size_t len;
	char err[256];
	bool revokes;

	if (ctld_pki_crl_der(cc->ctld->cfg->state_dir, &der, &len, err, sizeof(err)) < 0)
		return;
	p = der;
	crl = d2i_X509_CRL(NULL, &p, (long)len);
	revokes = crl && sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)) > 0;
	X509_CRL_free(crl);
	free(der);
	if (revokes)
		send_crl(cc);
}

/* Messages */

static int on_auth(struct ck_conn *cc, const struct nlattr **tb, const struct qkdn_wire_hdr *h)
{
	struct ctld *c = cc->ctld;
	const char *auth = qkdn_wire_get_str(tb[QKDN_W_AUTH_INFO]);
	char want[32], q[100], q2[100];
	struct ctld_km *km;

	if (cc->state != CONN_AUTH)
		return violation(cc, h->cmd, h->msg_id, "already authenticated");
	snprintf(want, sizeof(want), QKDN_TLS_CN_PREFIX "%u", cc->node);
	if (strcmp(auth, want))
		return violation(cc, h->cmd, h->msg_id,
				 "authentication info %s does not match the certificate (%s)",
				 qkdn_log_quote(q, sizeof(q), auth), want);
	if (h->sender_id != cc->node)
		return violation(cc, h->cmd, h->msg_id,
				 "sender ID %u, but the certificate names node %u", h->sender_id,
				 cc->node);
	km = ctld_km_find(c, cc->node);
	if (km->conn) {
		/* The KM reconnected before we noticed the old one die. */
		struct ck_conn *old = km->conn;

		old->km = NULL;
		km->conn = NULL;
		conn_close_after_flush(old, "replaced by a new connection of the same KM");
	}
	km->conn = cc;
	cc->km = km;
	cc->state = CONN_UP;
	snprintf(km->name, sizeof(km->name), "%s",
		 qkdn_log_quote(q2, sizeof(q2), qkdn_wire_get_str(tb[QKDN_W_SENDER_HOSTNAME])));
	send_response(cc, h->cmd, h->msg_id, NULL);
	qkdn_log(QKDN_LOG_INFO, "KM authenticated", "event=km-up node=%u name=%s remote=%s",
		 km->id, km->name, cc->remote);
	ctld_event(c, "km-up", "node=%u name=%s remote=%s", km->id, km->name, cc->remote);
	qkdn_topo_node_set_up(c->topo, km->id, true);
	send_status_request(cc);
	send_crl_on_auth(cc);
	return 0;
}

/* A KM's routes after a controller restart (CK_NOTIFY sync): sessions are
 * rebuilt from the paths the entries carry, and what the KM holds becomes
 * what we believe it holds. */
static void take_routes(struct ck_conn *cc, const struct nlattr *table)
{
	struct ctld *c = cc->ctld;
	const struct nlattr *a, *tb[QKDN_W_MAX + 1];
	uint32_t node = cc->km->id;
	char err[160];
	unsigned int rebuilt = 0, entries = 0;

	for (size_t i = c->installed.n; i-- > 0;)
		if (c->installed.e[i].node == node)
			ctld_table_del(&c->installed, node, c->installed.e[i].dest);
	mnl_attr_for_each_nested(a, table) {
		struct ctld_entry e = { .node = node };
		struct ctld_session *s;

		if (qkdn_wire_parse_nested(a, &qkdn_wire_ck_route_nest, tb, err, sizeof(err)) ||
		    qkdn_wire_get_u8(tb[QKDN_W_ROUTE_OP]) != QKDN_W_ROUTE_OP_INSTALL)
			continue;
		e.session = qkdn_wire_get_u64(tb[QKDN_W_SESSION_ID]);
		e.src = qkdn_wire_get_u32(tb[QKDN_W_SOURCE_NODE_ID]);
		e.dest = qkdn_wire_get_u32(tb[QKDN_W_DEST_NODE_ID]);
		e.next_hop = qkdn_wire_get_u32(tb[QKDN_W_NEXT_HOP_NODE_ID]);
		if (tb[QKDN_W_PROTECTION_NEXT_HOP])
			e.prot_next_hop = qkdn_wire_get_u32(tb[QKDN_W_PROTECTION_NEXT_HOP]);
		ctld_table_set(&c->installed, &e);
		entries++;
		s = session_find(c, e.session);
		if (s || !tb[QKDN_W_PATH])
			continue;
		{
			const uint32_t *p = qkdn_wire_get_bin(tb[QKDN_W_PATH]);
			size_t n = qkdn_wire_get_len(tb[QKDN_W_PATH]) / 4;

			if (p[0] == p[n - 1] || session_by_pair(c, p[0], p[n - 1]))
				continue;
			s = session_new(c, e.session, p[0], p[n - 1]);
			if (!s)
				continue;
			s->route.working.nodes = malloc(n * sizeof(uint32_t));
			if (s->route.working.nodes) {
				memcpy(s->route.working.nodes, p, n * sizeof(uint32_t));
				s->route.working.hops = (uint32_t)(n - 1);
				s->route.working.nodes_cap = n;
			}
			if (tb[QKDN_W_PROTECTION_PATH]) {
				const uint32_t *pp = qkdn_wire_get_bin(tb[QKDN_W_PROTECTION_PATH]);
				size_t pn = qkdn_wire_get_len(tb[QKDN_W_PROTECTION_PATH]) / 4;

				s->route.protection.nodes = malloc(pn * sizeof(uint32_t));
				if (s->route.protection.nodes) {
					memcpy(s->route.protection.nodes, pp, pn * sizeof(uint32_t));
					s->route.protection.hops = (uint32_t)(pn - 1);
					s->route.protection.nodes_cap = pn;
				}
			}
			rebuilt++;
		}
	}
	qkdn_log(QKDN_LOG_INFO, "KM routes synchronised",
		 "event=sync node=%u entries=%u sessions_rebuilt=%u sessions=%zu", node, entries,
		 rebuilt, c->n_sessions);
	ctld_event(c, "sync", "node=%u entries=%u sessions_rebuilt=%u", node, entries, rebuilt);
}

static const char *const event_names[] = {
	[QKDN_W_EVENT_SYNC] = "sync", [QKDN_W_EVENT_LINK_DOWN] = "link-down",
	[QKDN_W_EVENT_LINK_UP] = "link-up", [QKDN_W_EVENT_POOL_LOW] = "pool-low",
	[QKDN_W_EVENT_POOL_CLEARED] = "pool-cleared", [QKDN_W_EVENT_QBER_HIGH] = "qber-high",
	[QKDN_W_EVENT_QKD_DOWN] = "qkd-down", [QKDN_W_EVENT_QKD_UP] = "qkd-up",
	[QKDN_W_EVENT_RELAY_FAILED] = "relay-failed",
	[QKDN_W_EVENT_PROTECTION_SWITCHED] = "protection-switched",
	[QKDN_W_EVENT_ROUTE_WITHDRAWN] = "route-withdrawn",
};

static int on_notify(struct ck_conn *cc, const struct nlattr **tb, const struct qkdn_wire_hdr *h)
{
	struct ctld *c = cc->ctld;
	uint16_t ev = qkdn_wire_get_u16(tb[QKDN_W_EVENT]);
	uint32_t peer = tb[QKDN_W_PEER_NODE_ID] ? qkdn_wire_get_u32(tb[QKDN_W_PEER_NODE_ID]) : 0;
	uint32_t dest = tb[QKDN_W_DEST_NODE_ID] ? qkdn_wire_get_u32(tb[QKDN_W_DEST_NODE_ID]) : 0;
	uint32_t node = cc->km->id;

	qkdn_log(QKDN_LOG_INFO, "KM notification",
		 "event=notify node=%u what=%s peer=%u dest=%u", node, event_names[ev], peer, dest);
	ctld_event(c, "notify", "node=%u %s peer=%u dest=%u", node, event_names[ev], peer, dest);
	send_response(cc, h->cmd, h->msg_id, NULL);
	if (ev == QKDN_W_EVENT_SYNC && tb[QKDN_W_ROUTE_TABLE])
		take_routes(cc, tb[QKDN_W_ROUTE_TABLE]);
	take_status(cc, tb[QKDN_W_STATUS_TABLE], tb[QKDN_W_KM_STATE]);
	switch (ev) {
	case QKDN_W_EVENT_ROUTE_WITHDRAWN:
		/* The KM dropped its entry toward dest from its module: it
		 * holds nothing we can count on there, so the recomputation
		 * pushes it again even if the session keeps its path (a
		 * withdrawal passed on from a fault further along). But the
		 * KM still holds the entry (withdrawn, restored when its next
		 * hop comes back): forgetting it would never push its delete
		 * once the session moves elsewhere, and its stale path would
		 * come back in the KM's sync to a restarted controller. So it
		 * stays, with a next hop no session can want. */
		if (dest) {
			const struct ctld_entry *old = ctld_table_find(&c->installed, node, dest);

			if (old) {
				struct ctld_entry e = *old;

				e.next_hop = e.prot_next_hop = 0;
				ctld_table_set(&c->installed, &e);
			}
		}
		/* An end of a session has no route left: its recovery starts
		 * now, whatever the topology says. */
		if (dest && session_by_pair(c, node, dest))
			recovery_begin(c, session_by_pair(c, node, dest), event_names[ev]);
		/* fall through */
	case QKDN_W_EVENT_RELAY_FAILED:
	case QKDN_W_EVENT_PROTECTION_SWITCHED:
		if (ev == QKDN_W_EVENT_PROTECTION_SWITCHED && dest)
			ctld_mgr_switchover(c, node, dest);
		/* Recovery (seed 004 Req_C-R 2), or a new protection route
		 * after a switch: recompute the session(s) of this end. */
		if (dest)
			reroute(c, PAIR, node, dest, event_names[ev]);
		break;
	case QKDN_W_EVENT_SYNC:
		/* Recompute before pushing anything: a session rebuilt from
		 * this KM's entries may cross a link now known dead. */
		reroute(c, BROKEN, 0, 0, "sync");
		break;
	default:
		break;
	}
	return 0;
}

static void respond_route(struct ctld *c, struct pending *p)
{
	struct ctld_session *s = session_find(c, p->session);
	struct qkdn_wire_msg *m;
	long t;

	if (!p->conn)
		return;
	if (p->failed || !s) {
		send_response(p->conn, QKDN_W_CMD_CK_ROUTE, p->msg_id,
			      p->reason[0] ? p->reason : "session gone");
		return;
	}
	m = qkdn_wire_response_new(QKDN_W_CMD_CK_ROUTE, QKDN_W_CONTROLLER_ID, p->msg_id,
				   QKDN_W_RESP_SUCCESS);
	if (!m)
		return;
	qkdn_wire_put_u64(m, QKDN_W_SESSION_ID, s->id);
	t = qkdn_wire_nest_start(m, QKDN_W_ROUTE_TABLE);
	for (size_t i = 0; i < c->installed.n; i++) {
		const struct ctld_entry *e = &c->installed.e[i];

		if (e->node == p->requester && (e->dest == s->src || e->dest == s->dst))
			put_entry(c, m, e, CTLD_OP_INSTALL);
	}
	qkdn_wire_nest_end(m, t);
	conn_send(p->conn, m);
}

static void pending_done(struct ctld *c, struct pending *p)
{
	char p1[160], p2[160];
	struct ctld_session *s = session_find(c, p->session);

	if (s && !p->failed) {
		qkdn_log(QKDN_LOG_INFO, "route installed",
			 "event=route-installed session=%016" PRIx64 " src=%u dst=%u path=%s protection=%s kind=%s",
			 s->id, s->src, s->dst, path_str(&s->route.working, p1, sizeof(p1)),
			 path_str(&s->route.protection, p2, sizeof(p2)),
			 qkdn_protection_name(s->route.kind));
		ctld_event(c, "session", "session=%016" PRIx64 " %u-%u path=%s protection=%s",
			   s->id, s->src, s->dst, p1, p2);
		ctld_mgr_route(c, s, 0, "route installed");
	} else if (s) {
		char q[200];

		qkdn_log(QKDN_LOG_WARN, "route not installed",
			 "event=route-failed session=%016" PRIx64 " reason=%s", s->id,
			 qkdn_log_quote(q, sizeof(q), p->reason));
		session_remove(c, s);
		apply(c, NULL, 0, NULL);
	}
	respond_route(c, p);
	for (struct ctld_push *x = c->pushes; x; x = x->next)
		if (x->pending == p)
			x->pending = NULL;
	free(p);
}

static int on_route(struct ck_conn *cc, const struct nlattr **tb, const struct qkdn_wire_hdr *h)
{
	struct ctld *c = cc->ctld;
	uint32_t src = qkdn_wire_get_u32(tb[QKDN_W_SOURCE_NODE_ID]);
	uint32_t dst = qkdn_wire_get_u32(tb[QKDN_W_DEST_NODE_ID]);
	uint8_t prio = tb[QKDN_W_PRIORITY] ? qkdn_wire_get_u8(tb[QKDN_W_PRIORITY]) : 4;
	struct ctld_table mine = { 0 };
	struct ctld_session *s;
	struct pending *p;
	bool existed;
	int ret;

	if (src == dst)
		return violation(cc, h->cmd, h->msg_id, "source and destination are both %u", src);
	if (src != cc->km->id && dst != cc->km->id)
		return violation(cc, h->cmd, h->msg_id, "KM %u is not an end of %u-%u",
				 cc->km->id, src, dst);
	if (!ctld_km_find(c, src) || !ctld_km_find(c, dst)) {
		send_response(cc, h->cmd, h->msg_id, "unknown node");
		return 0;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		send_response(cc, h->cmd, h->msg_id, "out of memory");
		return 0;
	}
	p->conn = cc;
	p->msg_id = h->msg_id;
	p->requester = cc->km->id;
	p->deadline_ms = ctld_now_ms() + c->cfg->policy.push_timeout_ms;
	s = session_by_pair(c, src, dst);
	if (s && s->route.working.hops) {
		/* Session control (seed 001 10.6 step 2): reuse. */
		if (prio < s->priority)
			s->priority = prio;
		p->session = s->id;
		qkdn_log(QKDN_LOG_INFO, "session reused",
			 "event=session-reused session=%016" PRIx64 " src=%u dst=%u requester=%u",
			 s->id, s->src, s->dst, p->requester);
		ctld_event(c, "session-reused", "session=%016" PRIx64 " requester=%u", s->id,
			   p->requester);
		ret = apply(c, p, p->requester, &mine);
		goto out;
	}
	existed = s != NULL;
	if (!s)
		s = session_new(c, 0, src, dst);
	if (!s) {
		free(p);
		send_response(cc, h->cmd, h->msg_id, "out of memory");
		return 0;
	}
	s->priority = prio;
	s->amount = qkdn_wire_get_u64(tb[QKDN_W_KEY_AMOUNT]);
	if (s->amount > QKDN_ROUTE_AMOUNT_MAX)
		s->amount = QKDN_ROUTE_AMOUNT_MAX;
	s->tolerance_ms = tb[QKDN_W_TOLERANCE_MS] ? qkdn_wire_get_u32(tb[QKDN_W_TOLERANCE_MS]) : 0;
	p->session = s->id;
	ret = compute(c, s);
	if (ret < 0) {
		char q[64];

		qkdn_log(QKDN_LOG_WARN, "no route", "event=route-refused src=%u dst=%u reason=%s",
			 src, dst, qkdn_log_quote(q, sizeof(q), route_error(ret)));
		ctld_event(c, "route-refused", "%u-%u: %s", src, dst, route_error(ret));
		ctld_mgr_route_refused(c, src, dst, route_error(ret));
		/* A session that failed its recovery stays, for the record
		 * and for the next link change to retry. */
		if (!existed)
			session_remove(c, s);
		send_response(cc, h->cmd, h->msg_id, route_error(ret));
		free(p);
		return 0;
	}
	s->gen = ++c->gen;
	s->recovery_pending = false;
	ret = apply(c, p, p->requester, &mine);
	recovery_settle(c);
	recovery_arm(c);
out:
	ctld_table_free(&mine);
	if (ret < 0) {
		p->failed = true;
		snprintf(p->reason, sizeof(p->reason), "cannot push the route: %s", strerror(-ret));
	}
	if (p->outstanding == 0)
		pending_done(c, p);
	return 0;
}

static int on_push_response(struct ck_conn *cc, const struct nlattr **tb,
			    const struct qkdn_wire_hdr *h)
{
	struct ctld *c = cc->ctld;
	struct ctld_push **pp, *p = NULL;
	char q[300];

	for (pp = &c->pushes; *pp; pp = &(*pp)->next) {
		if ((*pp)->msg_id == h->orig_msg_id && (*pp)->node == cc->km->id) {
			p = *pp;
			*pp = p->next;
			break;
		}
	}
	if (!p)
		return violation(cc, h->cmd, 0, "response to no ROUTE_PUSH of ours");
	if (h->response_code != QKDN_W_RESP_SUCCESS) {
		qkdn_log(QKDN_LOG_WARN, "KM refused routes",
			 "event=route-push-refused node=%u reason=%s", cc->km->id,
			 qkdn_log_quote(q, sizeof(q), tb[QKDN_W_REASON] ?
					qkdn_wire_get_str(tb[QKDN_W_REASON]) : "none given"));
		if (p->pending && !p->pending->failed) {
			p->pending->failed = true;
			snprintf(p->pending->reason, sizeof(p->pending->reason),
				 "KM %u refused the route: %s", cc->km->id,
				 tb[QKDN_W_REASON] ? qkdn_wire_get_str(tb[QKDN_W_REASON]) : "no reason");
		}
	}
	if (p->pending && --p->pending->outstanding == 0)
		pending_done(c, p->pending);
	free(p);
	return 0;
}

/* Returns -1 if cc was closed. */
static int handle_message(struct ck_conn *cc, const void *buf, size_t len)
{
	const struct nlattr *tb[QKDN_W_MAX + 1];
	struct qkdn_wire_hdr h;
	int ret;

	ret = qkdn_wire_parse(buf, len, &qkdn_wire_ck_policy, tb, &h);
	if (ret) {
		struct qkdn_wire_hdr common;

		/* Answerable if the common items are readable; a response
		 * is not answered. */
		if (qkdn_wire_parse_common(buf, len, &common) == 0)
			return violation(cc, common.cmd, common.is_response ? 0 : common.msg_id,
					 "bad message: %s", h.error);
		cc->violations = CTLD_VIOLATIONS_MAX;
		conn_close_after_flush(cc, h.error);
		return -1;
	}
	qkdn_log(QKDN_LOG_DEBUG, "message", "event=msg-rx node=%u cmd=%s response=%d len=%zu",
		 cc->node, qkdn_wire_cmd_name(h.cmd), h.is_response, len);
	if (h.cmd == QKDN_W_CMD_KEEPALIVE)
		return 0;
	if (cc->state == CONN_AUTH && h.cmd != QKDN_W_CMD_CK_AUTH)
		return violation(cc, h.cmd, h.is_response ? 0 : h.msg_id, "not authenticated");
	if (cc->state == CONN_UP && h.sender_id != cc->node)
		return violation(cc, h.cmd, h.is_response ? 0 : h.msg_id,
				 "sender ID %u, but the certificate names node %u", h.sender_id,
				 cc->node);
	if (h.is_response) {
		switch (h.cmd) {
		case QKDN_W_CMD_CK_STATUS:
			if (h.orig_msg_id != cc->km->status_msg_id)
				return 0;	/* an old request's: ignored */
			if (h.response_code != QKDN_W_RESP_SUCCESS)
				return violation(cc, h.cmd, 0, "KM refused our status request");
			return take_status(cc, tb[QKDN_W_STATUS_TABLE], tb[QKDN_W_KM_STATE]);
		case QKDN_W_CMD_CK_ROUTE_PUSH:
			return on_push_response(cc, tb, &h);
		case QKDN_W_CMD_CK_CRL:
			if (h.response_code != QKDN_W_RESP_SUCCESS)
				qkdn_log(QKDN_LOG_WARN, "KM refused the CRL", "event=crl-refused node=%u",
					 cc->node);
			return 0;
		default:
			return violation(cc, h.cmd, 0, "unexpected %s response",
					 qkdn_wire_cmd_name(h.cmd));
		}
	}
	switch (h.cmd) {
	case QKDN_W_CMD_CK_AUTH:
		return on_auth(cc, tb, &h);
	case QKDN_W_CMD_CK_NOTIFY:
		return on_notify(cc, tb, &h);
	case QKDN_W_CMD_CK_ROUTE:
		return on_route(cc, tb, &h);
	default:
		return violation(cc, h.cmd, h.msg_id, "%s is sent by the controller, not to it",
				 qkdn_wire_cmd_name(h.cmd));
	}
}

static void read_cb(struct bufferevent *bev, void *arg)
{
	struct ck_conn *cc = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	cc->last_rx_ms = ctld_now_ms();
	while (cc->state != CONN_CLOSING) {
		void *buf;
		size_t len;
		int ret = qkdn_conn_next(in, &buf, &len);

		if (ret == 0)
			return;
		if (ret == -EMSGSIZE) {
			conn_close_after_flush(cc, "message over the size limit announced");
			return;
		}
		if (ret < 0) {
			conn_close(cc, QKDN_LOG_ERR, "out of memory");
			return;
		}
		ret = handle_message(cc, buf, len);
		free(buf);
		if (ret < 0)
			return;
	}
}

static void write_cb(struct bufferevent *bev, void *arg)
{
	struct ck_conn *cc = arg;

	if (cc->state == CONN_CLOSING && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		conn_free(cc, true);
}

static void conn_identified(struct ck_conn *cc)
{
	SSL *ssl = bufferevent_openssl_get_ssl(cc->bev);
	char err[256];
	uint32_t id;

	if (qkdn_tls_peer_node_id(ssl, &id, err, sizeof(err)) < 0) {
		conn_close(cc, QKDN_LOG_WARN, err);
		return;
	}
	cc->node = id;
	cc->state = CONN_AUTH;
	if (!ctld_km_find(cc->ctld, id)) {
		conn_close(cc, QKDN_LOG_WARN, "node is not in the topology ([node])");
		return;
	}
	qkdn_log(QKDN_LOG_INFO, "connection up", "event=conn-up node=%u remote=%s", id, cc->remote);
}

static void event_cb(struct bufferevent *bev, short events, void *arg)
{
	struct ck_conn *cc = arg;
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	const char *why = NULL;
	char reason[512];
	size_t o;

	if (events & BEV_EVENT_CONNECTED) {
		conn_identified(cc);
		return;
	}
	if (!(events & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)))
		return;
	if (cc->state == CONN_TLS && ssl)
		why = qkdn_tls_verify_failure(ssl);
	o = qkdn_conn_ssl_errors(bev, reason, sizeof(reason));
	if (why) {
		snprintf(reason, sizeof(reason), "%s", why);
		qkdn_log(QKDN_LOG_WARN, "handshake refused", "event=tls-refused remote=%s reason=\"%s\"",
			 cc->remote, why);
		ctld_event(cc->ctld, "tls-refused", "remote=%s: %s", cc->remote, why);
	} else if (!o) {
		snprintf(reason, sizeof(reason), "%s", events & BEV_EVENT_EOF ? "closed by the KM" :
			 events & BEV_EVENT_TIMEOUT ? "timeout" : "connection lost");
	}
	conn_close(cc, events & BEV_EVENT_EOF && !why ? QKDN_LOG_INFO : QKDN_LOG_WARN, reason);
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
		      int socklen, void *arg)
{
	struct ctld *c = arg;
	SSL *ssl = SSL_new(c->tls);
	struct bufferevent *bev;
	struct ck_conn *cc;

	(void)l;
	(void)socklen;
	bev = ssl ? bufferevent_openssl_socket_new(c->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
						   BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS)
		  : NULL;
	cc = bev ? calloc(1, sizeof(*cc)) : NULL;
	if (!cc) {
		if (bev)
			bufferevent_free(bev);
		else if (ssl)
			SSL_free(ssl);
		evutil_closesocket(fd);
		qkdn_log(QKDN_LOG_ERR, "cannot accept", "event=accept-failed");
		return;
	}
	cc->ctld = c;
	cc->bev = bev;
	cc->state = CONN_TLS;
	cc->started_ms = cc->last_rx_ms = cc->last_tx_ms = ctld_now_ms();
	qkdn_format_sockaddr(sa, cc->remote);
	cc->next = c->conns;
	c->conns = cc;
	bufferevent_setcb(bev, read_cb, write_cb, event_cb, cc);
	bufferevent_setwatermark(bev, EV_READ, 0, QKDN_WIRE_LEN_SIZE + QKDN_WIRE_BODY_MAX + 65536);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

int ctld_reload_crl(struct ctld *c, char *err, size_t err_len)
{
	struct ck_conn *cc, *next;
	X509_CRL *crl = NULL;
	int ret;

	/* Unchanged since we loaded it (the 5 s watch may have been first):
	 * nothing to do. */
	if (c->crl_watch.path) {
		ret = qkdn_crl_watch_poll(&c->crl_watch, &crl, err, err_len);
		X509_CRL_free(crl);
		if (ret < 0)
			return ret;
		if (ret == 0) {
			qkdn_log(QKDN_LOG_DEBUG, "CRL unchanged", "event=crl-unchanged path=%s",
				 c->crl_path);
			return 0;
		}
	}
	crl = qkdn_tls_crl_load(c->crl_path, err, err_len);
	if (!crl)
		return -EINVAL;
	ret = qkdn_tls_ctx_set_crl(c->tls, c->ca_path, crl, err, err_len);
	X509_CRL_free(crl);
	if (ret)
		return ret;
	qkdn_log(QKDN_LOG_INFO, "CRL loaded", "event=crl-loaded path=%s", c->crl_path);
	ctld_event(c, "crl", "loaded %s", c->crl_path);
	/* What we loaded is what the watch compares with from now on. */
	if (!c->crl_watch.path)
		qkdn_crl_watch_init(&c->crl_watch, c->crl_path);
	else
		qkdn_crl_watch_sync(&c->crl_watch);
	for (cc = c->conns; cc; cc = next) {
		next = cc->next;
		if (cc->state == CONN_TLS || cc->state == CONN_CLOSING)
			continue;
		if (qkdn_tls_peer_revoked(bufferevent_openssl_get_ssl(cc->bev))) {
			ctld_event(c, "revoked", "node=%u remote=%s disconnected", cc->node, cc->remote);
			conn_close(cc, QKDN_LOG_WARN, "peer certificate revoked");
			continue;
		}
		if (cc->state == CONN_UP)
			send_crl(cc);
	}
	return 0;
}

/* crl.pem changed behind our back (`qkdn-ctld revoke` run offline, a CRL
 * copied in): as `ctl reload-crl`, without waiting for a SIGHUP. */
static void crl_file_check(struct ctld *c)
{
	char err[400], q[450];
	int ret = ctld_reload_crl(c, err, sizeof(err));

	if (ret < 0)
		qkdn_log(QKDN_LOG_WARN, "CRL file not loaded; the previous CRL stays",
			 "event=crl-refused reason=%s", qkdn_log_quote(q, sizeof(q), err));
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ctld *c = arg;
	uint64_t now = ctld_now_ms();
	struct ck_conn *cc, *next;
	struct ctld_push *p;
	time_t t = time(NULL);
	struct tm tm;

	(void)fd;
	(void)what;
	if (now - c->crl_checked_ms >= QKDN_CRL_WATCH_MS) {
		c->crl_checked_ms = now;
		crl_file_check(c);
	}
	for (cc = c->conns; cc; cc = next) {
		next = cc->next;
		if (cc->state == CONN_CLOSING) {
			if (now - cc->closing_ms > 5000)
				conn_free(cc, false);
			continue;
		}
		if (cc->state != CONN_UP && now - cc->started_ms > CTLD_HANDSHAKE_S * 1000) {
			conn_close(cc, QKDN_LOG_WARN, "authentication not done in time");
			continue;
		}
		if (cc->state == CONN_TLS)
			continue;
		if (now - cc->last_rx_ms >= CTLD_DEAD_S * 1000) {
			conn_close(cc, QKDN_LOG_WARN, "nothing received for 45 s");
			continue;
		}
		if (now - cc->last_tx_ms >= CTLD_KEEPALIVE_S * 1000)
			conn_send(cc, qkdn_wire_msg_new(QKDN_W_CMD_KEEPALIVE, QKDN_W_CONTROLLER_ID));
	}
	/* Route installations past their deadline. */
	for (p = c->pushes; p; p = p->next) {
		struct pending *pd = p->pending;

		if (!pd || now < pd->deadline_ms)
			continue;
		pd->failed = true;
		snprintf(pd->reason, sizeof(pd->reason),
			 "route installation timed out: KM %u did not answer", p->node);
		for (struct ctld_push *x = c->pushes; x; x = x->next)
			if (x->pending == pd)
				x->pending = NULL;
		pending_done(c, pd);
	}
	switch (c->cfg->policy.method) {
	case CTLD_REROUTE_FIXED:
		if (now - c->last_fixed_ms >= c->cfg->policy.interval_s * 1000ULL) {
			c->last_fixed_ms = now;
			ctld_reroute_all(c, "fixed-rate");
		}
		break;
	case CTLD_REROUTE_SCHEDULED:
		gmtime_r(&t, &tm);
		if (ctld_schedule_due(&c->cfg->policy, c->last_minute,
				      (unsigned int)(tm.tm_hour * 60 + tm.tm_min)))
			ctld_reroute_all(c, "scheduled");
		c->last_minute = (unsigned int)(tm.tm_hour * 60 + tm.tm_min);
		break;
	default:
		break;
	}
}

int ctld_net_start(struct ctld *c)
{
	const struct ctld_config *cfg = c->cfg;
	struct timeval tick = { 1, 0 };
	char err[512];
	time_t t = time(NULL);
	struct tm tm;

	c->tls = qkdn_tls_ctx_new(cfg->cert, cfg->key, c->ca_path, err, sizeof(err));
	if (!c->tls) {
		qkdn_log(QKDN_LOG_ERR, "TLS setup failed", "event=start-failed err=\"%s\"", err);
		return -EINVAL;
	}
	if (ctld_reload_crl(c, err, sizeof(err)) < 0) {
		qkdn_log(QKDN_LOG_ERR, "CRL unusable", "event=start-failed err=\"%s\"", err);
		return -EINVAL;
	}
	c->listener = evconnlistener_new_bind(c->base, accept_cb, c,
					      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
					      LEV_OPT_CLOSE_ON_EXEC, -1,
					      (const struct sockaddr *)&cfg->listen,
					      (int)cfg->listen_len);
	if (!c->listener) {
		qkdn_log(QKDN_LOG_ERR, "cannot listen", "event=start-failed listen=%s err=\"%s\"",
			 cfg->listen_str, strerror(EVUTIL_SOCKET_ERROR()));
		return -EADDRNOTAVAIL;
	}
	gmtime_r(&t, &tm);
	c->last_minute = (unsigned int)(tm.tm_hour * 60 + tm.tm_min);
	c->last_fixed_ms = ctld_now_ms();
	c->tick = event_new(c->base, -1, EV_PERSIST, tick_cb, c);
	if (!c->tick || event_add(c->tick, &tick) < 0)
		return -ENOMEM;
	c->recovery_timer = evtimer_new(c->base, recovery_cb, c);
	if (!c->recovery_timer)
		return -ENOMEM;
	return 0;
}

void ctld_net_stop(struct ctld *c)
{
	c->stopping = true;
	while (c->conns)
		conn_free(c->conns, true);
	while (c->pushes) {
		struct ctld_push *p = c->pushes;

		c->pushes = p->next;
		if (p->pending) {
			for (struct ctld_push *x = c->pushes; x; x = x->next)
				if (x->pending == p->pending)
					x->pending = NULL;
			free(p->pending);
		}
		free(p);
	}
	if (c->listener)
		evconnlistener_free(c->listener);
	c->listener = NULL;
	if (c->tick)
		event_free(c->tick);
	c->tick = NULL;
	if (c->recovery_timer)
		event_free(c->recovery_timer);
	c->recovery_timer = NULL;
	for (size_t i = 0; i < c->n_sessions; i++)
		session_free(c->sessions[i]);
	free(c->sessions);
	c->sessions = NULL;
	c->n_sessions = 0;
	ctld_table_free(&c->installed);
	SSL_CTX_free(c->tls);
	c->tls = NULL;
}

/* JSON views */

static json_t *path_json(const struct qkdn_path *p)
{
	json_t *a = json_array();

	for (uint32_t i = 0; p->hops && i <= p->hops; i++)
		json_array_append_new(a, json_integer(p->nodes[i]));
	return a;
}

json_t *ctld_json_kms(struct ctld *c)
{
	json_t *a = json_array();

	for (size_t i = 0; i < c->n_kms; i++) {
		struct ctld_km *km = &c->kms[i];
		json_t *stores = json_array();

		for (size_t j = 0; j < km->n_stores; j++)
			json_array_append_new(stores, json_pack("{s:I, s:I}", "dest",
							       (json_int_t)km->stores[j].dest,
							       "key_amount",
							       (json_int_t)km->stores[j].amount));
		json_array_append_new(a, json_pack("{s:I, s:s, s:b, s:s, s:s, s:I, s:o}",
						   "id", (json_int_t)km->id, "name", km->name,
						   "connected", km->conn != NULL,
						   "remote", km->conn ? km->conn->remote : "",
						   "state", qkdn_topo_state_name(km->state),
						   "status_reports", (json_int_t)km->status_rx,
						   "stores", stores));
	}
	return a;
}

json_t *ctld_json_links(struct ctld *c)
{
	json_t *a = json_array();

	for (size_t i = 0; i < c->n_links; i++) {
		struct ctld_link *l = &c->links[i];
		struct ctld_link_report r;
		struct qkdn_link_metrics m;

		link_combined(l, &r, &m);
		json_array_append_new(a, json_pack("{s:I, s:I, s:s, s:s, s:s, s:b, s:I, s:I, s:I, s:I}",
						   "a", (json_int_t)l->a, "b", (json_int_t)l->b,
						   "state", qkdn_topo_state_name(link_effective_state(l)),
						   "admin_state", qkdn_topo_state_name(l->admin_state),
						   "fault", ctld_fault_name(l->fault),
						   "up", r.peer_up, "key_amount", (json_int_t)m.key_avail,
						   "qber_ppm", (json_int_t)r.qber_ppm,
						   "consumption_rate", (json_int_t)m.consume_rate,
						   "generation_rate", (json_int_t)m.gen_rate));
	}
	return a;
}

/* Recovery and multipath of a session (seed 004 Req_C-R 1, 2). */
static void session_json_more(json_t *o, const struct ctld_session *s)
{
	json_t *mp = json_array();

	if (!o) {
		json_decref(mp);
		return;
	}
	json_object_set_new(o, "state", json_string(ctld_session_state(s)));
	json_object_set_new(o, "recoveries", json_integer(s->rec.count));
	json_object_set_new(o, "recoveries_late", json_integer(s->rec.late));
	json_object_set_new(o, "recovery_failures", json_integer(s->rec.failures));
	json_object_set_new(o, "last_recovery_ms", s->rec.count ? json_integer((json_int_t)s->rec.last_ms)
							       : json_null());
	json_object_set_new(o, "recovery_elapsed_ms", s->rec.fault_ms ?
			    json_integer((json_int_t)(ctld_now_ms() - s->rec.fault_ms)) : json_null());
	for (unsigned int i = 0; i < s->n_mp; i++)
		json_array_append_new(mp, json_pack("{s:o, s:I}", "path",
						    path_json(ctld_session_mp_path(s, i)),
						    "keys", (json_int_t)s->mp_keys[i]));
	json_object_set_new(o, "multipath", mp);
}

json_t *ctld_json_sessions(struct ctld *c)
{
	json_t *a = json_array();
	char id[24];

	for (size_t i = 0; i < c->n_sessions; i++) {
		struct ctld_session *s = c->sessions[i];

		snprintf(id, sizeof(id), "%016" PRIx64, s->id);
		json_array_append_new(a, json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:s, s:I}",
						   "id", id, "src", (json_int_t)s->src,
						   "dst", (json_int_t)s->dst,
						   "priority", (json_int_t)s->priority,
						   "amount", (json_int_t)s->amount,
						   "tolerance_ms", (json_int_t)s->tolerance_ms,
						   "path", path_json(&s->route.working),
						   "protection", path_json(&s->route.protection),
						   "protection_kind", qkdn_protection_name(s->route.kind),
						   "reroutes", (json_int_t)s->reroutes));
		session_json_more(json_array_get(a, json_array_size(a) - 1), s);
	}
	return a;
}

json_t *ctld_json_routes(struct ctld *c)
{
	json_t *a = json_array();
	char id[24];

	for (size_t i = 0; i < c->installed.n; i++) {
		const struct ctld_entry *e = &c->installed.e[i];
		json_t *o;

		snprintf(id, sizeof(id), "%016" PRIx64, e->session);
		o = json_pack("{s:I, s:I, s:I, s:s}", "node", (json_int_t)e->node,
			      "dest", (json_int_t)e->dest, "next_hop", (json_int_t)e->next_hop,
			      "session", id);
		if (e->prot_next_hop)
			json_object_set_new(o, "protection_next_hop", json_integer(e->prot_next_hop));
		if (e->n_mp) {
			json_t *h = json_array(), *k = json_array();

			for (unsigned int j = 0; j < e->n_mp; j++) {
				json_array_append_new(h, json_integer(e->mp_hop[j]));
				json_array_append_new(k, json_integer(e->mp_keys[j]));
			}
			json_object_set_new(o, "multipath_hops", h);
			json_object_set_new(o, "multipath_keys", k);
		}
		json_array_append_new(a, o);
	}
	return a;
}

json_t *ctld_json_events(struct ctld *c)
{
	json_t *a = json_array();
	uint64_t first = c->n_events > CTLD_EVENTS_MAX ? c->n_events - CTLD_EVENTS_MAX : 0;

	for (uint64_t i = first; i < c->n_events; i++) {
		const struct ctld_event *e = &c->events[i % CTLD_EVENTS_MAX];

		json_array_append_new(a, json_pack("{s:I, s:s, s:s}", "ts_ms", (json_int_t)e->ts_ms,
						   "type", e->type, "detail", e->detail));
	}
	return a;
}
