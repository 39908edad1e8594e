// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Mc: the controller as an agent of qkdn-mgrd (lib/mgmt.h), when ctld.conf
 * has a [manager] section; the certificate is the controller's own
 * (CN qkdn-ctl). Seed 001 Appendix I.3 and Table I.2, seed 004 7.4.
 *
 *   inventory (10.3)   after each M_AUTH and on every change: "ctl" (the
 *                      controller), "ctl-node-<ID>" per KM (its state;
 *                      out of service while not connected) and
 *                      "ctl-link-<A>-<B>" per KM link (its effective
 *                      state, fault, admin state, manager hold, keys)
 *   control (Table I.2) M_CONTROL on "km-link-<A>-<B>":
 *                      isolate    admin state out of service (stays until
 *                                 restore or `ctl link-state`), every
 *                                 session using the link rerouted
 *                      reroute    the link held out of service for the
 *                                 manager (hold) and its sessions
 *                                 rerouted; the hold lasts while the
 *                                 manager's support information (10.7)
 *                                 advises out of service
 *                      rebalance  sessions' working routes moved off the
 *                                 link where another route exists; the
 *                                 link stays in service
 *                      restore    admin state in service, hold lifted,
 *                                 every session recomputed
 *                      on "route-<S>-<D>": reroute (recompute that
 *                      session); on "node-<ID>": isolate, restore (the
 *                      KM's admin state). The answer says what was done
 *                      (QKDN_W_REASON) or why not.
 *   resilience         M_RESILIENCE per session: matchup (working and
 *   (seed 004)         protection route) when a route is set or changes,
 *                      reroute (old working route -> new, with the
 *                      reason and, for a recovery, how long the session
 *                      had no route), switchover (a KM switched to the
 *                      protection next hop), restore (a link held or
 *                      isolated for the manager back in service)
 *   faults             M_ALARM ROUTE_DOWN on "route-<S>-<D>" when a
 *                      session cannot be routed (a request refused, or a
 *                      recovery that found no route), cleared when the
 *                      pair has a route again
 *   rerouting support  M_SUPPORT (10.7): for the link of a reroute
 *   (10.7)             decision at once, then for every link every
 *                      CTLD_MGR_SUPPORT_MS while a link is held or a
 *                      session waits for a route; a held link the
 *                      manager no longer advises out of service is
 *                      released and the waiting sessions recomputed
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "net.h"
#include "tls.h"
#include "util.h"

#define CTLD_MGR_TICK_MS	500	/* inventory changes looked for */
#define CTLD_MGR_SUPPORT_MS	2000	/* support information refreshed */
#define CTLD_MGR_ANSWER_MS	3000
#define PATH_TEXT		QKDN_ID_MAXLEN

/* What the manager was last told of a route (per node pair). */
struct route_rec {
	uint32_t lo, hi;
	char working[PATH_TEXT], protection[PATH_TEXT];
	bool alarm;			/* ROUTE_DOWN raised */
	uint64_t down_ms;		/* since when (CLOCK_REALTIME ms) */
};

/* The inventory last sent, so only changes go. */
struct inv_rec {
	char resource[QKDN_ID_MAXLEN];
	uint8_t state;
	char desc[128];
};

struct link_info {			/* the manager's support information */
	uint8_t advice;			/* 0: none yet */
	char cause[QKDN_W_M_DESC_MAX];
	uint64_t rate_bps;
	uint32_t qber_ppm;
	bool has_rate, has_qber;
	bool isolated;			/* by the manager's decision */
};

struct ctld_mgr {
	struct ctld *c;
	struct qkdn_mgmt *mg;
	struct event *tick;
	struct route_rec *routes;
	size_t n_routes, routes_cap;
	struct inv_rec *inv;
	size_t n_inv, inv_cap;
	struct link_info *links;	/* parallel to c->links */
	uint64_t last_support_ms;
	bool support_pending;
	bool rebalancing;		/* a failed recomputation is no fault */
	bool stopping;
	long support_link;		/* index asked about, -1: all links */
	uint64_t controls, controls_failed, support_sent, support_answered, released;
	char last_control[QKDN_W_REASON_MAX];
};

static uint64_t rt_ms(void)
{
	return qkdn_mgmt_now_ms();
}

static void path_text(const struct qkdn_path *p, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (uint32_t i = 0; p->nodes && p->hops && i <= p->hops && o < len; i++) {
		int n = snprintf(buf + o, len - o, "%s%u", i ? "-" : "", p->nodes[i]);

		if (n < 0 || (size_t)n >= len - o) {
			/* Too long for a resource string: cut at a node. */
			buf[o] = '\0';
			return;
		}
		o += (size_t)n;
	}
}

static struct route_rec *route_rec(struct ctld_mgr *g, uint32_t a, uint32_t b, bool create)
{
	uint32_t lo = a < b ? a : b, hi = a < b ? b : a;
	struct route_rec *r;

	for (size_t i = 0; i < g->n_routes; i++)
		if (g->routes[i].lo == lo && g->routes[i].hi == hi)
			return &g->routes[i];
	if (!create)
		return NULL;
	r = qkdn_grow((void **)&g->routes, &g->n_routes, &g->routes_cap, sizeof(*r));
	if (!r)
		return NULL;
	memset(r, 0, sizeof(*r));
	r->lo = lo;
	r->hi = hi;
	return r;
}

static uint64_t route_alarm_id(const struct route_rec *r)
{
	return (uint64_t)r->lo << 32 | r->hi;
}

static void resilience(struct ctld_mgr *g, uint8_t kind, uint8_t op, const char *resource,
		       const char *working, const char *protection, const struct ctld_session *s,
		       const char *desc)
{
	struct qkdn_wire_msg *m = qkdn_mgmt_begin(g->mg, QKDN_W_CMD_M_RESILIENCE, resource);

	if (!m)
		return;
	qkdn_wire_put_u8(m, QKDN_W_M_RESIL_KIND, kind);
	qkdn_wire_put_u8(m, QKDN_W_M_RESIL_OP, op);
	qkdn_wire_put_str(m, QKDN_W_M_WORKING, working[0] ? working : "none");
	if (protection && protection[0])
		qkdn_wire_put_str(m, QKDN_W_M_PROTECTION, protection);
	if (s) {
		qkdn_wire_put_u32(m, QKDN_W_DEST_NODE_ID, s->dst);
		qkdn_wire_put_u64(m, QKDN_W_SESSION_ID, s->id);
		qkdn_wire_put_u8(m, QKDN_W_PRIORITY, s->priority);
	}
	if (desc && *desc)
		qkdn_wire_put_str(m, QKDN_W_M_RESOURCE_DESC, desc);
	qkdn_mgmt_send(g->mg, m);
}

static void route_alarm(struct ctld_mgr *g, struct route_rec *r, uint32_t src, uint32_t dst,
			bool raise, const char *desc)
{
	char res[QKDN_ID_MAXLEN];

	if (r->alarm == raise)
		return;
	r->alarm = raise;
	r->down_ms = raise ? rt_ms() : 0;
	snprintf(res, sizeof(res), "route-%u-%u", src, dst);
	qkdn_mgmt_alarm(g->mg, res, QKDN_W_ALARM_ROUTE_DOWN, route_alarm_id(r), "qkdn-ctld routing",
			raise ? QKDN_W_SEV_MAJOR : QKDN_W_SEV_CLEARED, 0, desc, 0);
}

/* Hooks (net.c) */

void ctld_mgr_route(struct ctld *c, const struct ctld_session *s, int ret, const char *reason)
{
	struct ctld_mgr *g = c->mgr;
	char w[PATH_TEXT], p[PATH_TEXT], res[QKDN_ID_MAXLEN], desc[200];
	struct route_rec *r;

	if (!g)
		return;
	r = route_rec(g, s->src, s->dst, true);
	if (!r)
		return;
	if (ret < 0 && g->rebalancing)
		return;		/* it keeps its route: nothing else to move to */
	if (ret < 0) {
		snprintf(desc, sizeof(desc), "session %016" PRIx64 " has no route: %s (%s)", s->id,
			 ret == -EHOSTUNREACH ? "no usable path" : ret == -EHOSTDOWN ?
			 "an end out of service" : strerror(-ret), reason);
		route_alarm(g, r, s->src, s->dst, true, desc);
		return;
	}
	path_text(&s->route.working, w, sizeof(w));
	path_text(&s->route.protection, p, sizeof(p));
	snprintf(res, sizeof(res), "route-%u-%u", s->src, s->dst);
	if (r->working[0] && strcmp(r->working, w)) {
		if (r->alarm)
			snprintf(desc, sizeof(desc), "%s; recovered after %" PRIu64 " ms without a route",
				 reason, rt_ms() - r->down_ms);
		else
			snprintf(desc, sizeof(desc), "%s", reason);
		resilience(g, QKDN_W_RESIL_ROUTE, QKDN_W_RESIL_OP_REROUTE, res, r->working, w, s,
			   desc);
	}
	if (r->alarm) {
		snprintf(desc, sizeof(desc), "routed again: %s", w);
		route_alarm(g, r, s->src, s->dst, false, desc);
	}
	if (strcmp(r->working, w) || strcmp(r->protection, p)) {
		snprintf(desc, sizeof(desc), "%s protection; %s", qkdn_protection_name(s->route.kind),
			 reason);
		resilience(g, QKDN_W_RESIL_ROUTE, QKDN_W_RESIL_OP_MATCHUP, res, w, p, s, desc);
		snprintf(r->working, sizeof(r->working), "%s", w);
		snprintf(r->protection, sizeof(r->protection), "%s", p);
	}
}

void ctld_mgr_route_refused(struct ctld *c, uint32_t src, uint32_t dst, const char *why)
{
	struct ctld_mgr *g = c->mgr;
	struct route_rec *r = g ? route_rec(g, src, dst, true) : NULL;
	char desc[200];

	if (!r)
		return;
	snprintf(desc, sizeof(desc), "route request %u-%u refused: %s", src, dst, why);
	route_alarm(g, r, src, dst, true, desc);
}

/*
 * Recovery failed (seed 004 Req_C-R 2): the session found no route within
 * its tolerance time. The route-down alarm it raised at the fault goes up
 * to critical; it clears as before when the session is routed again.
 */
void ctld_mgr_recovery_failed(struct ctld *c, const struct ctld_session *s, uint64_t elapsed_ms)
{
	struct ctld_mgr *g = c->mgr;
	struct route_rec *r = g ? route_rec(g, s->src, s->dst, true) : NULL;
	char res[QKDN_ID_MAXLEN], desc[200];

	if (!r)
		return;
	if (!r->alarm) {
		r->alarm = true;
		r->down_ms = rt_ms();
	}
	snprintf(res, sizeof(res), "route-%u-%u", s->src, s->dst);
	snprintf(desc, sizeof(desc),
		 "session %016" PRIx64 " recovery failed: no route within its tolerance of %u ms (%"
		 PRIu64 " ms)", s->id, s->tolerance_ms, elapsed_ms);
	qkdn_mgmt_alarm(g->mg, res, QKDN_W_ALARM_ROUTE_DOWN, route_alarm_id(r), "qkdn-ctld routing",
			QKDN_W_SEV_CRITICAL, 0, desc, 0);
}

void ctld_mgr_switchover(struct ctld *c, uint32_t node, uint32_t dest)
{
	struct ctld_mgr *g = c->mgr;
	char w[PATH_TEXT], p[PATH_TEXT], res[QKDN_ID_MAXLEN], desc[160];

	if (!g)
		return;
	for (size_t i = 0; i < c->n_sessions; i++) {
		const struct ctld_session *s = c->sessions[i];
		const struct ctld_entry *e = ctld_table_find(&c->installed, node, dest);

		if (!((s->src == node && s->dst == dest) || (s->src == dest && s->dst == node)))
			continue;
		path_text(&s->route.working, w, sizeof(w));
		path_text(&s->route.protection, p, sizeof(p));
		snprintf(res, sizeof(res), "route-%u-%u", s->src, s->dst);
		/* The KM's link-down may have been rerouted on already: the
		 * paths are the session's now, the next hop is known only if
		 * the entry still has it. */
		if (e && e->prot_next_hop)
			snprintf(desc, sizeof(desc), "KM %u switched its entry toward %u to the "
				 "protection next hop %u", node, dest, e->prot_next_hop);
		else
			snprintf(desc, sizeof(desc), "KM %u switched its entry toward %u to its "
				 "protection next hop", node, dest);
		resilience(g, QKDN_W_RESIL_ROUTE, QKDN_W_RESIL_OP_SWITCHOVER, res, w, p, s, desc);
		return;
	}
}

/* Inventory (10.3) */

static void config_send(struct ctld_mgr *g, const char *res, uint8_t kind, uint8_t state,
			const char *desc, const uint64_t *keys, bool force)
{
	struct inv_rec *r = NULL;
	struct qkdn_wire_msg *m;

	for (size_t i = 0; i < g->n_inv; i++)
		if (!strcmp(g->inv[i].resource, res))
			r = &g->inv[i];
	if (r && !force && r->state == state && !strcmp(r->desc, desc))
		return;
	if (!r) {
		r = qkdn_grow((void **)&g->inv, &g->n_inv, &g->inv_cap, sizeof(*r));
		if (!r)
			return;
		snprintf(r->resource, sizeof(r->resource), "%s", res);
	}
	r->state = state;
	snprintf(r->desc, sizeof(r->desc), "%s", desc);
	m = qkdn_mgmt_begin(g->mg, QKDN_W_CMD_M_CONFIG, res);
	if (!m)
		return;
	qkdn_wire_put_u8(m, QKDN_W_M_RESOURCE_KIND, kind);
	qkdn_wire_put_u8(m, QKDN_W_M_RESOURCE_STATE, state);
	qkdn_wire_put_str(m, QKDN_W_M_RESOURCE_DESC, desc);
	if (keys)
		qkdn_wire_put_u64(m, QKDN_W_KEY_AMOUNT, *keys);
	qkdn_mgmt_send(g->mg, m);
}

static void inventory(struct ctld_mgr *g, bool force)
{
	struct ctld *c = g->c;
	char res[QKDN_ID_MAXLEN], desc[128];
	size_t connected = 0;

	for (size_t i = 0; i < c->n_kms; i++) {
		const struct ctld_km *km = &c->kms[i];

		connected += km->conn != NULL;
		snprintf(res, sizeof(res), "ctl-node-%u", km->id);
		snprintf(desc, sizeof(desc), "KM %u (%s), %s, admin %s", km->id, km->name,
			 km->conn ? "connected" : "not connected", qkdn_topo_state_name(km->state));
		config_send(g, res, QKDN_W_RES_NODE,
			    km->conn ? (uint8_t)km->state : QKDN_W_STATE_OUT_OF_SERVICE, desc, NULL,
			    force);
	}
	for (size_t i = 0; i < c->n_links; i++) {
		const struct ctld_link *l = &c->links[i];
		struct qkdn_link_metrics mt;
		int state = QKDN_TOPO_OUT_OF_SERVICE;

		if (g->links[i].isolated && l->admin_state != QKDN_TOPO_OUT_OF_SERVICE) {
			/* The operator took it back (ctl link-state). */
			g->links[i].isolated = false;
			snprintf(res, sizeof(res), "km-link-%u-%u", l->a < l->b ? l->a : l->b,
				 l->a < l->b ? l->b : l->a);
			snprintf(desc, sizeof(desc), "isolation ended by the operator: admin %s",
				 qkdn_topo_state_name(l->admin_state));
			resilience(g, QKDN_W_RESIL_LINK, QKDN_W_RESIL_OP_RESTORE, res, res, NULL, NULL,
				   desc);
		}
		qkdn_topo_link_get(c->topo, l->a, l->b, &state, &mt);
		snprintf(res, sizeof(res), "ctl-link-%u-%u", l->a < l->b ? l->a : l->b,
			 l->a < l->b ? l->b : l->a);
		snprintf(desc, sizeof(desc), "fault %s, admin %s%s%s", ctld_fault_name(l->fault),
			 qkdn_topo_state_name(l->admin_state), l->mgr_hold ? ", held for the manager" : "",
			 g->links[i].isolated ? ", isolated by the manager" : "");
		config_send(g, res, QKDN_W_RES_KM_LINK, (uint8_t)state, desc,
			    mt.key_avail != UINT64_MAX ? &mt.key_avail : NULL, force);
	}
	snprintf(desc, sizeof(desc), "%zu of %zu KMs connected, %zu links, %zu sessions", connected,
		 c->n_kms, c->n_links, c->n_sessions);
	config_send(g, "ctl", QKDN_W_RES_CONTROLLER, QKDN_W_STATE_IN_SERVICE, desc, NULL, force);
}

/* Rerouting support (10.7) */

static void support_request(struct ctld_mgr *g, const char *resource);

static void release(struct ctld_mgr *g, size_t i, const char *why)
{
	struct ctld *c = g->c;
	struct ctld_link *l = &c->links[i];
	char res[QKDN_ID_MAXLEN], reason[160];

	l->mgr_hold = false;
	qkdn_topo_link_set_state(c->topo, l->a, l->b, ctld_link_state(l));
	g->released++;
	snprintf(res, sizeof(res), "km-link-%u-%u", l->a < l->b ? l->a : l->b,
		 l->a < l->b ? l->b : l->a);
	qkdn_log(QKDN_LOG_INFO, "link released by the manager", "event=mgr-release link=%u-%u "
		 "why=\"%s\"", l->a, l->b, why);
	ctld_event(c, "mgr-release", "link=%u-%u %s", l->a, l->b, why);
	resilience(g, QKDN_W_RESIL_LINK, QKDN_W_RESIL_OP_RESTORE, res, res, NULL, NULL, why);
	snprintf(reason, sizeof(reason), "link %u-%u released by the manager", l->a, l->b);
	ctld_reroute_all(c, reason);
}

static void support_done(void *arg, const struct qkdn_wire_hdr *hdr,
			 const struct nlattr *const *tb)
{
	struct ctld_mgr *g = arg;
	struct ctld *c = g->c;
	const struct nlattr *a, *ntb[QKDN_W_MAX + 1];
	bool *seen;
	char err[160];

	g->support_pending = false;
	if (g->stopping)
		return;
	if (!hdr || hdr->response_code != QKDN_W_RESP_SUCCESS || !tb[QKDN_W_M_SUPPORT_TABLE]) {
		qkdn_log(QKDN_LOG_WARN, "no rerouting support from the manager",
			 "event=mgr-support-failed reason=\"%s\"", !hdr ? "no answer" :
			 tb[QKDN_W_REASON] ? qkdn_wire_get_str(tb[QKDN_W_REASON]) : "refused");
		return;
	}
	g->support_answered++;
	seen = calloc(c->n_links + 1, sizeof(*seen));
	if (!seen)
		return;
	mnl_attr_for_each_nested(a, tb[QKDN_W_M_SUPPORT_TABLE]) {
		uint32_t x, y;
		struct ctld_link *l;
		struct link_info *li;

		if (mnl_attr_get_type(a) != QKDN_W_M_SUPPORT_LINK ||
		    qkdn_wire_parse_nested(a, &qkdn_wire_m_support_link_nest, ntb, err, sizeof(err)))
			continue;
		x = qkdn_wire_get_u32(ntb[QKDN_W_SOURCE_NODE_ID]);
		y = qkdn_wire_get_u32(ntb[QKDN_W_PEER_NODE_ID]);
		l = ctld_link_find(c, x, y);
		if (!l)
			continue;
		li = &g->links[l - c->links];
		seen[l - c->links] = true;
		li->advice = qkdn_wire_get_u8(ntb[QKDN_W_M_RESOURCE_STATE]);
		snprintf(li->cause, sizeof(li->cause), "%s", ntb[QKDN_W_M_ALARM_DESC] ?
			 qkdn_wire_get_str(ntb[QKDN_W_M_ALARM_DESC]) : "");
		li->has_rate = ntb[QKDN_W_GENERATION_RATE];
		li->rate_bps = li->has_rate ? qkdn_wire_get_u64(ntb[QKDN_W_GENERATION_RATE]) : 0;
		li->has_qber = ntb[QKDN_W_QBER];
		li->qber_ppm = li->has_qber ? qkdn_wire_get_u32(ntb[QKDN_W_QBER]) : 0;
	}
	/* Held links the manager no longer advises out of service go back. */
	for (size_t i = 0; i < c->n_links; i++) {
		struct link_info *li = &g->links[i];

		if (!c->links[i].mgr_hold || (seen[i] && li->advice == QKDN_W_STATE_OUT_OF_SERVICE))
			continue;
		if (!seen[i] && g->support_link >= 0 && (size_t)g->support_link != i)
			continue;	/* not asked about */
		release(g, i, seen[i] ? "the manager advises it in service again"
				      : "the manager knows of no fault on it");
	}
	free(seen);
}

static void support_request(struct ctld_mgr *g, const char *resource)
{
	struct qkdn_wire_msg *m;
	uint32_t a, b;
	int n = 0;

	if (g->support_pending || !qkdn_mgmt_up(g->mg))
		return;
	m = qkdn_wire_msg_new(QKDN_W_CMD_M_SUPPORT, QKDN_W_CONTROLLER_ID);
	if (m && resource)
		qkdn_wire_put_str(m, QKDN_W_M_RESOURCE_ID, resource);
	g->support_link = -1;
	if (resource && sscanf(resource, "km-link-%" SCNu32 "-%" SCNu32 "%n", &a, &b, &n) == 2 &&
	    !resource[n]) {
		struct ctld_link *l = ctld_link_find(g->c, a, b);

		g->support_link = l ? l - g->c->links : -1;
	}
	g->last_support_ms = rt_ms();
	if (qkdn_mgmt_request(g->mg, m, CTLD_MGR_ANSWER_MS, support_done, g) == 0) {
		g->support_pending = true;
		g->support_sent++;
	}
}

/* Control decisions (Table I.2) */

static size_t sessions_on(struct ctld *c, uint32_t a, uint32_t b, bool working_only)
{
	size_t n = 0;

	for (size_t i = 0; i < c->n_sessions; i++)
		n += qkdn_path_has_link(&c->sessions[i]->route.working, a, b) ||
		     (!working_only && qkdn_path_has_link(&c->sessions[i]->route.protection, a, b));
	return n;
}

static int link_action(struct ctld_mgr *g, uint8_t type, struct ctld_link *l, const char *res,
		       char *out, size_t len)
{
	struct ctld *c = g->c;
	struct link_info *li = &g->links[l - c->links];
	size_t before, after;
	char why[96];

	switch (type) {
	case QKDN_W_ACTION_ISOLATE:
		before = sessions_on(c, l->a, l->b, false);
		li->isolated = true;
		ctld_set_link_state(c, l->a, l->b, QKDN_TOPO_OUT_OF_SERVICE);
		after = sessions_on(c, l->a, l->b, false);
		snprintf(out, len, "link %u-%u isolated (admin out of service); %zu of %zu sessions "
			 "using it rerouted", l->a, l->b, before - after, before);
		return 0;
	case QKDN_W_ACTION_REROUTE:
		before = sessions_on(c, l->a, l->b, false);
		l->mgr_hold = true;
		qkdn_topo_link_set_state(c->topo, l->a, l->b, QKDN_TOPO_OUT_OF_SERVICE);
		snprintf(why, sizeof(why), "manager: avoid link %u-%u", l->a, l->b);
		ctld_reroute_link(c, l->a, l->b, false, why);
		after = sessions_on(c, l->a, l->b, false);
		snprintf(out, len, "link %u-%u out of service (held for the manager); %zu of %zu "
			 "sessions using it rerouted", l->a, l->b, before - after, before);
		/* 10.7: what the manager knows of the link decides the hold. */
		support_request(g, res);
		return 0;
	case QKDN_W_ACTION_REBALANCE: {
		int state = ctld_link_state(l);

		before = sessions_on(c, l->a, l->b, true);
		if (state != QKDN_TOPO_IN_SERVICE) {
			snprintf(out, len, "link %u-%u is %s: nothing to rebalance", l->a, l->b,
				 qkdn_topo_state_name(state));
			return 0;
		}
		/* Standby for the computation: used only where nothing else is. */
		qkdn_topo_link_set_state(c->topo, l->a, l->b, QKDN_TOPO_STANDBY);
		snprintf(why, sizeof(why), "manager: rebalance off link %u-%u", l->a, l->b);
		g->rebalancing = true;
		ctld_reroute_link(c, l->a, l->b, true, why);
		g->rebalancing = false;
		qkdn_topo_link_set_state(c->topo, l->a, l->b, ctld_link_state(l));
		/* A session with nowhere else to go kept its route: it is not
		 * waiting for a recovery. */
		for (size_t i = 0; i < c->n_sessions; i++)
			if (c->sessions[i]->route.working.hops &&
			    qkdn_path_has_link(&c->sessions[i]->route.working, l->a, l->b))
				c->sessions[i]->recovery_pending = false;
		after = sessions_on(c, l->a, l->b, true);
		snprintf(out, len, "%zu of %zu working routes moved off link %u-%u", before - after,
			 before, l->a, l->b);
		return 0;
	}
	case QKDN_W_ACTION_RESTORE:
		li->isolated = false;
		l->mgr_hold = false;
		ctld_set_link_state(c, l->a, l->b, QKDN_TOPO_IN_SERVICE);
		resilience(g, QKDN_W_RESIL_LINK, QKDN_W_RESIL_OP_RESTORE, res, res, NULL, NULL,
			   "restored by the manager");
		snprintf(out, len, "link %u-%u back in service (%s)", l->a, l->b,
			 qkdn_topo_state_name(ctld_link_state(l)));
		return 0;
	}
	return -EOPNOTSUPP;
}

static int control_cb(void *arg, const struct nlattr *const *tb, char *out, size_t len)
{
	struct ctld_mgr *g = arg;
	struct ctld *c = g->c;
	uint8_t type = qkdn_wire_get_u8(tb[QKDN_W_M_ACTION_TYPE]);
	const char *res = qkdn_wire_get_str(tb[QKDN_W_M_RESOURCE_ID]);
	uint64_t id = qkdn_wire_get_u64(tb[QKDN_W_M_ACTION_ID]);
	uint32_t a, b;
	int n = 0, ret = -EINVAL;
	char q[QKDN_W_REASON_MAX + 8];

	g->controls++;
	if (sscanf(res, "km-link-%" SCNu32 "-%" SCNu32 "%n", &a, &b, &n) == 2 && !res[n]) {
		struct ctld_link *l = ctld_link_find(c, a, b);

		if (!l) {
			snprintf(out, len, "no link %u-%u in the controller's topology", a, b);
			ret = -ENOENT;
		} else {
			ret = link_action(g, type, l, res, out, len);
		}
	} else if (sscanf(res, "route-%" SCNu32 "-%" SCNu32 "%n", &a, &b, &n) == 2 && !res[n]) {
		bool found = false;

		for (size_t i = 0; i < c->n_sessions; i++) {
			const struct ctld_session *s = c->sessions[i];

			found |= (s->src == a && s->dst == b) || (s->src == b && s->dst == a);
		}
		if (type != QKDN_W_ACTION_REROUTE) {
			ret = -EOPNOTSUPP;
		} else if (!found) {
			snprintf(out, len, "no session between %u and %u", a, b);
			ret = -ENOENT;
		} else {
			ctld_reroute_pair(c, a, b, "manager: re-provision");
			snprintf(out, len, "session %u-%u recomputed", a, b);
			ret = 0;
		}
	} else if (sscanf(res, "node-%" SCNu32 "%n", &a, &n) == 1 && !res[n]) {
		if (type != QKDN_W_ACTION_ISOLATE && type != QKDN_W_ACTION_RESTORE) {
			ret = -EOPNOTSUPP;
		} else if (ctld_set_km_state(c, a, type == QKDN_W_ACTION_ISOLATE ?
					     QKDN_TOPO_OUT_OF_SERVICE : QKDN_TOPO_IN_SERVICE)) {
			snprintf(out, len, "no KM %u in the controller's topology", a);
			ret = -ENOENT;
		} else {
			snprintf(out, len, "KM %u %s", a, type == QKDN_W_ACTION_ISOLATE ?
				 "isolated (admin out of service)" : "back in service");
			ret = 0;
		}
	} else {
		snprintf(out, len, "resource \"%s\" is not km-link-A-B, route-S-D or node-N", res);
	}
	if (ret == -EOPNOTSUPP)
		snprintf(out, len, "action %u on %s is not one the controller takes", type, res);
	if (ret)
		g->controls_failed++;
	snprintf(g->last_control, sizeof(g->last_control), "%s", out);
	qkdn_log(ret ? QKDN_LOG_WARN : QKDN_LOG_INFO, "manager decision",
		 "event=mgr-control action=%" PRIu64 " type=%u resource=%s ok=%d result=%s", id,
		 type, res, !ret, qkdn_log_quote(q, sizeof(q), out));
	ctld_event(c, "mgr-control", "action=%" PRIu64 " type=%u %s: %s", id, type, res, out);
	inventory(g, false);
	return ret;
}

/* The loop */

static void up_cb(void *arg)
{
	struct ctld_mgr *g = arg;

	inventory(g, true);
	support_request(g, NULL);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ctld_mgr *g = arg;
	struct ctld *c = g->c;
	bool want = false;

	(void)fd;
	(void)what;
	if (!qkdn_mgmt_up(g->mg))
		return;
	inventory(g, false);
	for (size_t i = 0; i < c->n_links; i++)
		want |= c->links[i].mgr_hold;
	for (size_t i = 0; i < c->n_sessions; i++)
		want |= c->sessions[i]->recovery_pending;
	if (want && rt_ms() - g->last_support_ms >= CTLD_MGR_SUPPORT_MS)
		support_request(g, NULL);
}

int ctld_mgr_start(struct ctld *c)
{
	static char host[64];
	struct qkdn_mgmt_ident ident = {
		.sender_id = QKDN_W_CONTROLLER_ID, .kind = QKDN_W_AGENT_CTL,
		.cn = QKDN_TLS_CN_CONTROLLER, .hostname = host, .requestor = "controller",
	};
	struct timeval tv = { CTLD_MGR_TICK_MS / 1000, (CTLD_MGR_TICK_MS % 1000) * 1000 };
	struct qkdn_mgmt_handlers h = { .up = up_cb, .control = control_cb };
	struct ctld_mgr *g;
	char err[512];

	if (!c->cfg->manager.enabled)
		return 0;
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->c = c;
	g->support_link = -1;
	g->links = calloc(c->n_links + 1, sizeof(*g->links));
	h.arg = g;
	if (gethostname(host, sizeof(host) - 1) < 0 || !host[0])
		snprintf(host, sizeof(host), "controller");
	if (g->links)
		g->mg = qkdn_mgmt_new(c->base, &c->cfg->manager, &ident, &h, err, sizeof(err));
	else
		snprintf(err, sizeof(err), "out of memory");
	if (!g->mg) {
		qkdn_log(QKDN_LOG_ERR, "cannot set up the manager connection",
			 "event=start-failed manager=%s err=\"%s\"", c->cfg->manager.address_str,
			 err);
		free(g->links);
		free(g);
		return -EINVAL;
	}
	g->tick = event_new(c->base, -1, EV_PERSIST, tick_cb, g);
	c->mgr = g;
	if (!g->tick || event_add(g->tick, &tv))
		return -ENOMEM;
	qkdn_log(QKDN_LOG_INFO, "reporting to the manager", "event=manager manager=%s cn=%s",
		 c->cfg->manager.address_str, QKDN_TLS_CN_CONTROLLER);
	return 0;
}

void ctld_mgr_stop(struct ctld *c)
{
	struct ctld_mgr *g = c->mgr;

	if (!g)
		return;
	c->mgr = NULL;
	g->stopping = true;
	if (g->tick)
		event_free(g->tick);
	qkdn_mgmt_free(g->mg);
	free(g->routes);
	free(g->inv);
	free(g->links);
	free(g);
}

json_t *ctld_mgr_json(struct ctld *c)
{
	struct ctld_mgr *g = c->mgr;
	struct qkdn_mgmt_stats st;
	json_t *links, *o;

	if (!g)
		return json_pack("{s:b}", "enabled", 0);
	qkdn_mgmt_get_stats(g->mg, &st);
	links = json_array();
	for (size_t i = 0; i < c->n_links; i++) {
		const struct link_info *li = &g->links[i];

		o = json_pack("{s:I, s:I, s:b, s:b, s:s?}", "a", (json_int_t)c->links[i].a, "b",
			      (json_int_t)c->links[i].b, "hold", c->links[i].mgr_hold, "isolated",
			      li->isolated, "advice", li->advice ?
			      qkdn_topo_state_name(li->advice) : NULL);
		if (li->cause[0])
			json_object_set_new(o, "cause", json_string(li->cause));
		if (li->has_rate)
			json_object_set_new(o, "key_rate_bps", json_integer((json_int_t)li->rate_bps));
		if (li->has_qber)
			json_object_set_new(o, "qber_ppm", json_integer(li->qber_ppm));
		json_array_append_new(links, o);
	}
	return json_pack("{s:b, s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:o}",
			 "enabled", 1, "manager", c->cfg->manager.address_str, "up", st.up,
			 "sent", (json_int_t)st.sent, "acked", (json_int_t)st.acked,
			 "queued", (json_int_t)st.queued, "dropped", (json_int_t)st.dropped,
			 "controls", (json_int_t)g->controls,
			 "controls_failed", (json_int_t)g->controls_failed,
			 "support_sent", (json_int_t)g->support_sent,
			 "support_answered", (json_int_t)g->support_answered,
			 "released", (json_int_t)g->released,
			 "last_control", g->last_control, "links", links);
}
