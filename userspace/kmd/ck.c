// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The controller client (Ck, seed 000 clause 8.1), with [controller].
 *
 * kmd dials the controller over TLS 1.3 (mutual certificates; the
 * controller's CN must be "qkdn-ctl") and speaks the Ck policy of
 * lib/wire.h:
 *
 *   CK_AUTH        first, "qkdn-node-<ID>" and our name; a refusal closes
 *   CK_NOTIFY      "sync" right after AUTH, with the status and every route
 *                  entry of a controller session we hold, so a restarted
 *                  controller rebuilds its sessions; then one per event:
 *                  Kx connection up/down (peer.c), module alarms
 *                  (kernel.c), protection switched / route withdrawn
 *                  (routes.c); each carries a fresh status table
 *   CK_ROUTE       for every [session] without a route yet: the response
 *                  (sent by the controller once every other KM on the
 *                  paths installed its entries) carries our entries and
 *                  the session ID; the store refill then has a route
 *   CK_STATUS      answered at once and then every PERIOD ms with the same
 *                  ORIG_MSG_ID, until a new CK_STATUS replaces it
 *   CK_ROUTE_PUSH  route entries installed or deleted (routes.c); all are
 *                  checked first, and one bad entry refuses the push and
 *                  changes nothing
 *   CK_CRL         the CA's new CRL: checked (signed by our CA), loaded
 *                  into the TLS contexts of Kx and Ck, saved to [node] crl
 *                  if set, and Kx connections to peers it revokes dropped
 *
 * Routes are soft state the controller need not be there for: kmd keeps
 * them, and protection switching (routes.c) works without it. A lost
 * connection is redialled with backoff, KMD_CK_BACKOFF_MIN_MS doubling to
 * KMD_CK_BACKOFF_MAX_MS; KEEPALIVEs as on Kx by default (KMD_KEEPALIVE_S,
 * KMD_DEAD_S: keepalive-ms is for Kx failure detection, and a controller
 * that dies usually closes its sockets anyway).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>

#include <linux/qkdn.h>

#include "conn.h"
#include "kmd.h"
#include "log.h"
#include "tls.h"
#include "util.h"
#include "wire.h"

#define KMD_CK_BACKOFF_MIN_MS	500
#define KMD_CK_BACKOFF_MAX_MS	10000
#define KMD_CK_ROUTE_RETRY_MS	3000	/* a refused or unanswered CK_ROUTE */

enum ck_state { CK_IDLE, CK_CONNECTING, CK_AUTHENTICATING, CK_UP };

/* A [session] and where its CK_ROUTE stands. */
struct ck_session {
	const struct qkdn_kmd_session_conf *conf;
	uint64_t msg_id;		/* CK_ROUTE in flight, 0 if none */
	uint64_t asked_ms;
	uint64_t session_id;		/* from the response */
};

struct kmd_ck {
	struct kmd *kmd;
	SSL_CTX *tls;			/* kmd->tls, or kmd->tls_ck */
	const char *ca;			/* its CA file */
	struct bufferevent *bev;
	enum ck_state state;
	struct event *retry, *tick, *status_timer;
	unsigned int backoff_ms;
	uint64_t auth_msg_id;
	uint64_t status_orig;		/* the CK_STATUS being answered */
	uint32_t status_period, status_params;
	uint64_t last_rx_ms, last_tx_ms, last_keepalive_ms, started_ms;
	struct ck_session *sessions;
	size_t n_sessions;
	/* Counters, logged at shutdown. */
	uint64_t connects, notifies, pushes, pushes_refused, crls;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}


static void ck_dial(struct kmd_ck *ck);

static void ck_close(struct kmd_ck *ck, enum qkdn_log_level level, const char *reason)
{
	struct timeval tv;
	unsigned int delay;
	char q[300];

	if (ck->bev) {
		SSL *ssl = bufferevent_openssl_get_ssl(ck->bev);

		if (ssl && ck->state >= CK_AUTHENTICATING)
			SSL_shutdown(ssl);
		ERR_clear_error();
		bufferevent_free(ck->bev);
		ck->bev = NULL;
	}
	if (ck->state == CK_UP)
		qkdn_log(QKDN_LOG_WARN, "controller down", "event=ctl-down reason=%s",
			 qkdn_log_quote(q, sizeof(q), reason));
	else
		qkdn_log(level, "controller connection failed", "event=ctl-failed reason=%s",
			 qkdn_log_quote(q, sizeof(q), reason));
	ck->state = CK_IDLE;
	evtimer_del(ck->status_timer);
	ck->status_orig = 0;
	for (size_t i = 0; i < ck->n_sessions; i++)
		ck->sessions[i].msg_id = 0;
	if (ck->kmd->stopping)
		return;
	delay = ck->backoff_ms;
	ck->backoff_ms = ck->backoff_ms * 2 > KMD_CK_BACKOFF_MAX_MS ? KMD_CK_BACKOFF_MAX_MS
								    : ck->backoff_ms * 2;
	tv.tv_sec = delay / 1000;
	tv.tv_usec = (delay % 1000) * 1000;
	evtimer_add(ck->retry, &tv);
}

static int ck_send(struct kmd_ck *ck, struct qkdn_wire_msg *m)
{
	int ret;

	if (!ck->bev) {
		qkdn_wire_msg_free(m);
		return -ENOTCONN;
	}
	ret = qkdn_conn_send(ck->bev, m);
	if (ret)
		qkdn_log(QKDN_LOG_ERR, "cannot send to the controller", "event=ctl-send-failed err=%s",
			 strerror(-ret));
	else
		ck->last_tx_ms = now_ms();
	return ret;
}

static uint32_t my_id(const struct kmd_ck *ck)
{
	return ck->kmd->cfg.node_id;
}

/* Status (Table 8-2) */

struct link_status {
	uint32_t peer;
	uint64_t key_amount, consumption_rate, generation_rate;	/* bytes, bytes/s */
	uint8_t qkd_state;
	uint32_t qber;
	bool has_link;
};

struct store_status {
	uint32_t node;
	uint64_t bytes;
};

struct status {
	struct link_status *links;
	size_t n_links, links_cap;
	struct store_status *stores;
	size_t n_stores, stores_cap;
};

static struct link_status *status_link(struct status *st, uint32_t peer)
{
	struct link_status *l;

	for (size_t i = 0; i < st->n_links; i++)
		if (st->links[i].peer == peer)
			return &st->links[i];
	l = qkdn_grow((void **)&st->links, &st->n_links, &st->links_cap, sizeof(*l));
	if (l)
		l->peer = peer;
	return l;
}

/* LINK_GET dump: the links to one neighbour add up. */
static int link_cb(const struct nlmsghdr *nlh, void *data)
{
	struct status *st = data;
	const struct nlattr *tb[QKDN_A_MAX + 1], *s[QKDN_STAT_A_MAX + 1];
	uint64_t avail = 0, gen = 0, cons = 0;
	uint32_t peer, qber = 0;
	uint16_t unit = QKDN_KEY_UNIT_DEFAULT;
	uint8_t qkd = QKDN_QKD_UNKNOWN;
	struct link_status *l;

	if (!nlh) {
		st->n_links = 0;
		return 0;
	}
	if (qkdn_nl_parse(nlh, tb, QKDN_A_MAX) < 0 || !qkdn_nla_u32(tb[QKDN_A_PEER_NODE_ID], &peer) ||
	    !tb[QKDN_A_LINK_STATS] ||
	    qkdn_nl_parse_nested(tb[QKDN_A_LINK_STATS], s, QKDN_STAT_A_MAX) < 0)
		return -EBADMSG;
	qkdn_nla_u16(tb[QKDN_A_KEY_UNIT], &unit);
	qkdn_nla_u8(tb[QKDN_A_QKD_STATE], &qkd);
	qkdn_nla_u32(tb[QKDN_A_QKD_QBER], &qber);
	qkdn_nla_u64(s[QKDN_STAT_A_ENC_AVAILABLE], &avail);
	qkdn_nla_u64(s[QKDN_STAT_A_GEN_RATE], &gen);
	qkdn_nla_u64(s[QKDN_STAT_A_CONS_RATE], &cons);
	l = status_link(st, peer);
	if (!l)
		return -ENOMEM;
	l->key_amount += avail * unit;
	l->generation_rate += gen * unit;
	l->consumption_rate += cons * unit;
	/* The worst state of the links to that neighbour. */
	if (!l->has_link || qkd > l->qkd_state)
		l->qkd_state = qkd > QKDN_QKD_STATE_MAX ? QKDN_QKD_UNKNOWN : qkd;
	if (qber > l->qber)
		l->qber = qber > QKDN_W_QBER_MAX ? QKDN_W_QBER_MAX : qber;
	l->has_link = true;
	return 0;
}

static int store_cb(const struct nlmsghdr *nlh, void *data)
{
	struct status *st = data;
	const struct nlattr *tb[QKDN_A_MAX + 1], *s[QKDN_STORE_A_MAX + 1];
	uint64_t own = 0;
	uint32_t node;
	struct store_status *e;

	if (!nlh) {
		st->n_stores = 0;
		return 0;
	}
	if (qkdn_nl_parse(nlh, tb, QKDN_A_MAX) < 0 || !qkdn_nla_u32(tb[QKDN_A_PEER_NODE_ID], &node) ||
	    !tb[QKDN_A_STORE_STATS] ||
	    qkdn_nl_parse_nested(tb[QKDN_A_STORE_STATS], s, QKDN_STORE_A_MAX) < 0)
		return -EBADMSG;
	qkdn_nla_u64(s[QKDN_STORE_A_OWN_AVAILABLE], &own);
	e = qkdn_grow((void **)&st->stores, &st->n_stores, &st->stores_cap, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->node = node;
	/* Relayed keys of a store are 256 bits unless a relay asked
	 * otherwise; the count is what the module keeps. */
	e->bytes = own * (QKDN_KMD_SESSION_BITS_DEFAULT / 8);
	return 0;
}

static void status_read(struct kmd *kmd, struct status *st)
{
	struct qkdn_nl_msg *msg = kmd->frame_msg;

	memset(st, 0, sizeof(*st));
	if (!kmd->no_kernel) {
		qkdn_nl_msg_reset(msg, QKDN_CMD_LINK_GET, 0);
		if (qkdn_nl_dump(kmd->nl, msg, link_cb, st) < 0)
			st->n_links = 0;
		qkdn_nl_msg_reset(msg, QKDN_CMD_STORE_GET, 0);
		if (qkdn_nl_dump(kmd->nl, msg, store_cb, st) < 0)
			st->n_stores = 0;
	}
	/* Configured neighbours without a link yet are reported too. */
	for (size_t i = 0; i < kmd->n_peers; i++)
		status_link(st, kmd->peers[i].id);
}

static void status_free(struct status *st)
{
	free(st->links);
	free(st->stores);
}

static void put_status(struct kmd *kmd, struct qkdn_wire_msg *m, uint32_t params)
{
	struct status st;
	long table;

	status_read(kmd, &st);
	if (params & QKDN_W_STATUS_KM_STATE)
		qkdn_wire_put_u8(m, QKDN_W_KM_STATE, QKDN_W_STATE_IN_SERVICE);
	table = qkdn_wire_nest_start(m, QKDN_W_STATUS_TABLE);
	for (size_t i = 0; i < st.n_links; i++) {
		const struct link_status *l = &st.links[i];
		bool up = kmd_peer_is_up(kmd, l->peer);
		bool qkd_bad = l->qkd_state == QKDN_QKD_DOWN || l->qkd_state == QKDN_QKD_EAVESDROPPED;
		long n = qkdn_wire_nest_start(m, QKDN_W_LINK_STATUS);

		qkdn_wire_put_u32(m, QKDN_W_PEER_NODE_ID, l->peer);
		qkdn_wire_put_u8(m, QKDN_W_LINK_STATE, up && !qkd_bad && l->has_link
						       ? QKDN_W_STATE_IN_SERVICE
						       : QKDN_W_STATE_OUT_OF_SERVICE);
		qkdn_wire_put_u8(m, QKDN_W_PEER_UP, up);
		if (params & QKDN_W_STATUS_KEY_AMOUNT)
			qkdn_wire_put_u64(m, QKDN_W_KEY_AMOUNT, l->key_amount);
		if (params & QKDN_W_STATUS_CONSUMPTION_RATE)
			qkdn_wire_put_u64(m, QKDN_W_CONSUMPTION_RATE, l->consumption_rate);
		if (params & QKDN_W_STATUS_GENERATION_RATE)
			qkdn_wire_put_u64(m, QKDN_W_GENERATION_RATE, l->generation_rate);
		if (params & QKDN_W_STATUS_QKD_STATE) {
			qkdn_wire_put_u8(m, QKDN_W_QKD_STATE, l->qkd_state);
			qkdn_wire_put_u32(m, QKDN_W_QBER, l->qber);
		}
		qkdn_wire_nest_end(m, n);
	}
	if (params & QKDN_W_STATUS_STORES) {
		for (size_t i = 0; i < st.n_stores; i++) {
			long n = qkdn_wire_nest_start(m, QKDN_W_STORE_STATUS);

			qkdn_wire_put_u32(m, QKDN_W_DEST_NODE_ID, st.stores[i].node);
			qkdn_wire_put_u64(m, QKDN_W_KEY_AMOUNT, st.stores[i].bytes);
			qkdn_wire_nest_end(m, n);
		}
	}
	qkdn_wire_nest_end(m, table);
	status_free(&st);
}

static void put_routes(struct kmd *kmd, struct qkdn_wire_msg *m, uint64_t only_session)
{
	long table = qkdn_wire_nest_start(m, QKDN_W_ROUTE_TABLE);

	for (size_t i = 0; i < kmd->n_routes; i++) {
		const struct kmd_route *r = &kmd->routes[i];
		long n;

		/* [route]s of the config are no session of the controller's. */
		if (!r->session_id || (only_session && r->session_id != only_session))
			continue;
		n = qkdn_wire_nest_start(m, QKDN_W_ROUTE);
		qkdn_wire_put_u64(m, QKDN_W_SESSION_ID, r->session_id);
		qkdn_wire_put_u32(m, QKDN_W_SOURCE_NODE_ID, r->source);
		qkdn_wire_put_u32(m, QKDN_W_DEST_NODE_ID, r->dest);
		qkdn_wire_put_u32(m, QKDN_W_NEXT_HOP_NODE_ID, r->next_hop);
		if (r->protection)
			qkdn_wire_put_u32(m, QKDN_W_PROTECTION_NEXT_HOP, r->protection);
		qkdn_wire_put_u8(m, QKDN_W_ROUTE_OP, QKDN_W_ROUTE_OP_INSTALL);
		if (r->n_path >= 2)
			qkdn_wire_put_bin(m, QKDN_W_PATH, r->path, r->n_path * sizeof(uint32_t));
		if (r->n_protection_path >= 2)
			qkdn_wire_put_bin(m, QKDN_W_PROTECTION_PATH, r->protection_path,
					  r->n_protection_path * sizeof(uint32_t));
		qkdn_wire_nest_end(m, n);
	}
	qkdn_wire_nest_end(m, table);
}

static const char *const event_names[] = {
	[QKDN_W_EVENT_SYNC] = "sync",
	[QKDN_W_EVENT_LINK_DOWN] = "link-down",
	[QKDN_W_EVENT_LINK_UP] = "link-up",
	[QKDN_W_EVENT_POOL_LOW] = "pool-low",
	[QKDN_W_EVENT_POOL_CLEARED] = "pool-cleared",
	[QKDN_W_EVENT_QBER_HIGH] = "qber-high",
	[QKDN_W_EVENT_QKD_DOWN] = "qkd-down",
	[QKDN_W_EVENT_QKD_UP] = "qkd-up",
	[QKDN_W_EVENT_RELAY_FAILED] = "relay-failed",
	[QKDN_W_EVENT_PROTECTION_SWITCHED] = "protection-switched",
	[QKDN_W_EVENT_ROUTE_WITHDRAWN] = "route-withdrawn",
};

void kmd_ck_notify(struct kmd *kmd, uint16_t event, uint32_t peer, uint32_t dest)
{
	struct kmd_ck *ck = kmd->ck;
	struct qkdn_wire_msg *m;

	if (!ck || ck->state != CK_UP || event == QKDN_W_EVENT_UNSPEC || event > QKDN_W_EVENT_MAX)
		return;
	m = qkdn_wire_msg_new(QKDN_W_CMD_CK_NOTIFY, my_id(ck));
	if (!m)
		return;
	qkdn_wire_put_u16(m, QKDN_W_EVENT, event);
	if (peer)
		qkdn_wire_put_u32(m, QKDN_W_PEER_NODE_ID, peer);
	if (dest)
		qkdn_wire_put_u32(m, QKDN_W_DEST_NODE_ID, dest);
	put_status(kmd, m, __QKDN_W_STATUS_ALL);
	if (event == QKDN_W_EVENT_SYNC)
		put_routes(kmd, m, 0);
	if (ck_send(ck, m) == 0) {
		ck->notifies++;
		qkdn_log(event == QKDN_W_EVENT_SYNC ? QKDN_LOG_INFO : QKDN_LOG_DEBUG,
			 "notified the controller", "event=ctl-notify what=%s peer=%u dest=%u",
			 event_names[event], peer, dest);
	}
}

/* Routes */

/* Whether a controller session's entry toward dest is here. Its source
 * may be the other end: the controller gives a session between two nodes
 * whichever asked first, and the second end's request reuses it, so that
 * end holds entries whose SOURCE_NODE_ID is not itself; asking again would
 * only be answered with the same entries, every KMD_CK_ROUTE_RETRY_MS. */
static bool session_routed(const struct kmd *kmd, uint32_t dest)
{
	for (size_t i = 0; i < kmd->n_routes; i++) {
		const struct kmd_route *r = &kmd->routes[i];

		if (r->session_id && r->dest == dest)
			return true;
	}
	return false;
}

static void request_routes(struct kmd_ck *ck)
{
	uint64_t now = now_ms();

	for (size_t i = 0; i < ck->n_sessions; i++) {
		struct ck_session *s = &ck->sessions[i];
		const struct qkdn_kmd_session_conf *c = s->conf;
		struct qkdn_wire_msg *m;

		if (s->msg_id || session_routed(ck->kmd, c->dest) ||
		    (s->asked_ms && now - s->asked_ms < KMD_CK_ROUTE_RETRY_MS))
			continue;
		m = qkdn_wire_msg_new(QKDN_W_CMD_CK_ROUTE, my_id(ck));
		if (!m)
			return;
		s->msg_id = qkdn_wire_msg_id(m);
		s->asked_ms = now;
		qkdn_wire_put_u32(m, QKDN_W_SOURCE_NODE_ID, my_id(ck));
		qkdn_wire_put_u32(m, QKDN_W_DEST_NODE_ID, c->dest);
		qkdn_wire_put_u64(m, QKDN_W_KEY_AMOUNT, (uint64_t)c->keep * (c->key_bits / 8));
		qkdn_wire_put_u8(m, QKDN_W_PRIORITY, c->priority);
		if (c->tolerance_ms)
			qkdn_wire_put_u32(m, QKDN_W_TOLERANCE_MS, c->tolerance_ms);
		if (ck_send(ck, m) == 0)
			qkdn_log(QKDN_LOG_INFO, "route requested",
				 "event=ctl-route-request dest=%u keep=%u priority=%u", c->dest,
				 c->keep, c->priority);
	}
}

/* QKDN_W_MULTIPATH_HOPS and _KEYS: as long as each other, the first the
 * working next hop, all neighbours, none twice. */
static int parse_multipath(struct kmd *kmd, const struct nlattr **tb, struct kmd_route *r,
			   char *why, size_t why_len)
{
	const uint32_t *hops, *keys;
	size_t n;

	if (!tb[QKDN_W_MULTIPATH_HOPS] && !tb[QKDN_W_MULTIPATH_KEYS])
		return 0;
	if (!tb[QKDN_W_MULTIPATH_HOPS] || !tb[QKDN_W_MULTIPATH_KEYS] ||
	    qkdn_wire_get_len(tb[QKDN_W_MULTIPATH_HOPS]) !=
	    qkdn_wire_get_len(tb[QKDN_W_MULTIPATH_KEYS])) {
		snprintf(why, why_len, "MULTIPATH_HOPS and MULTIPATH_KEYS differ in length");
		return -EINVAL;
	}
	n = qkdn_wire_get_len(tb[QKDN_W_MULTIPATH_HOPS]) / 4;
	hops = qkdn_wire_get_bin(tb[QKDN_W_MULTIPATH_HOPS]);
	keys = qkdn_wire_get_bin(tb[QKDN_W_MULTIPATH_KEYS]);
	if (n > sizeof(r->mp_hop) / sizeof(r->mp_hop[0]) || hops[0] != r->next_hop) {
		snprintf(why, why_len, "multipath toward %u: %s", r->dest,
			 hops[0] != r->next_hop ? "first hop is not the next hop" : "too many paths");
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < i; j++) {
			if (hops[j] == hops[i]) {
				snprintf(why, why_len, "multipath toward %u: hop %u twice", r->dest,
					 hops[i]);
				return -EINVAL;
			}
		}
		if (!kmd_peer_find(kmd, hops[i])) {
			snprintf(why, why_len, "multipath hop %u toward %u is not a neighbour",
				 hops[i], r->dest);
			return -EINVAL;
		}
		r->mp_hop[i] = hops[i];
		r->mp_keys[i] = keys[i];
	}
	r->n_mp = (uint8_t)n;
	return 0;
}

/* One QKDN_W_ROUTE nest into r. 0, or -EINVAL with why filled. */
static int parse_route(struct kmd *kmd, const struct nlattr *nest, struct kmd_route *r,
		       uint8_t *op, char *why, size_t why_len)
{
	const struct nlattr *tb[QKDN_W_MAX + 1];
	char err[160];

	memset(r, 0, sizeof(*r));
	if (qkdn_wire_parse_nested(nest, &qkdn_wire_ck_route_nest, tb, err, sizeof(err)) < 0) {
		snprintf(why, why_len, "bad route entry: %s", err);
		return -EINVAL;
	}
	r->session_id = qkdn_wire_get_u64(tb[QKDN_W_SESSION_ID]);
	r->source = qkdn_wire_get_u32(tb[QKDN_W_SOURCE_NODE_ID]);
	r->dest = qkdn_wire_get_u32(tb[QKDN_W_DEST_NODE_ID]);
	r->next_hop = qkdn_wire_get_u32(tb[QKDN_W_NEXT_HOP_NODE_ID]);
	if (tb[QKDN_W_PROTECTION_NEXT_HOP])
		r->protection = qkdn_wire_get_u32(tb[QKDN_W_PROTECTION_NEXT_HOP]);
	*op = qkdn_wire_get_u8(tb[QKDN_W_ROUTE_OP]);
	if (tb[QKDN_W_PATH]) {
		r->n_path = (uint8_t)(qkdn_wire_get_len(tb[QKDN_W_PATH]) / 4);
		memcpy(r->path, qkdn_wire_get_bin(tb[QKDN_W_PATH]), r->n_path * 4u);
	}
	if (tb[QKDN_W_PROTECTION_PATH]) {
		r->n_protection_path = (uint8_t)(qkdn_wire_get_len(tb[QKDN_W_PROTECTION_PATH]) / 4);
		memcpy(r->protection_path, qkdn_wire_get_bin(tb[QKDN_W_PROTECTION_PATH]),
		       r->n_protection_path * 4u);
	}
	if (parse_multipath(kmd, tb, r, why, why_len) < 0)
		return -EINVAL;
	if (*op == QKDN_W_ROUTE_OP_DELETE && tb[QKDN_W_ROUTE_REASON])
		r->withdraw_reason = qkdn_wire_get_u8(tb[QKDN_W_ROUTE_REASON]);
	/* The session's other end, for withdrawals: the path's far end. */
	if (r->dest != r->source)
		r->other_end = r->source;
	else if (r->n_path >= 2)
		r->other_end = r->path[r->n_path - 1];
	if (r->session_id == 0) {
		snprintf(why, why_len, "route entry with session ID 0");
		return -EINVAL;
	}
	if (*op == QKDN_W_ROUTE_OP_DELETE)
		return 0;
	if (r->dest == my_id(kmd->ck)) {
		snprintf(why, why_len, "route entry toward this node (%u)", r->dest);
		return -EINVAL;
	}
	if (!kmd_peer_find(kmd, r->next_hop)) {
		snprintf(why, why_len, "next hop %u toward %u is not a neighbour", r->next_hop,
			 r->dest);
		return -EINVAL;
	}
	if (r->protection && (r->protection == r->next_hop || !kmd_peer_find(kmd, r->protection))) {
		snprintf(why, why_len, "protection next hop %u toward %u is not another neighbour",
			 r->protection, r->dest);
		return -EINVAL;
	}
	return 0;
}

/* Checks every entry of a route table, then applies them all. 0, or
 * -EINVAL with why filled and nothing changed. */
static int apply_routes(struct kmd *kmd, const struct nlattr *table, char *why, size_t why_len)
{
	const struct nlattr *nest;
	struct kmd_route r;
	uint8_t op;
	int ret = 0;

	mnl_attr_for_each_nested(nest, table) {
		if ((nest->nla_type & NLA_TYPE_MASK) != QKDN_W_ROUTE) {
			snprintf(why, why_len, "route table member of type %u", nest->nla_type);
			return -EINVAL;
		}
		if (parse_route(kmd, nest, &r, &op, why, why_len) < 0)
			return -EINVAL;
	}
	mnl_attr_for_each_nested(nest, table) {
		int err;

		parse_route(kmd, nest, &r, &op, why, why_len);
		if (op == QKDN_W_ROUTE_OP_DELETE && r.withdraw_reason)
			qkdn_log(QKDN_LOG_WARN, "route withdrawn by the controller",
				 "event=ctl-withdrawn session=%016" PRIx64 " dest=%u reason=%s",
				 r.session_id, r.dest,
				 r.withdraw_reason == QKDN_W_ROUTE_REASON_RECOVERY_FAILED
				 ? "recovery-failed" : "other");
		err = kmd_routes_apply(kmd, op == QKDN_W_ROUTE_OP_DELETE ? KMD_ROUTE_DELETE
									  : KMD_ROUTE_INSTALL, &r);
		/* Deleting what is not there is what the controller wanted. */
		if (err && err != -ENOENT && !ret) {
			snprintf(why, why_len, "programming the route toward %u failed: %s", r.dest,
				 strerror(-err));
			ret = err;
		}
	}
	kmd_supply_paths_refresh(kmd);
	return ret;
}

/* Messages from the controller */

static void respond(struct kmd_ck *ck, uint16_t cmd, uint64_t orig, const char *reason)
{
	ck_send(ck, qkdn_conn_response(cmd, my_id(ck), orig, reason));
}

static void send_status(struct kmd_ck *ck)
{
	struct qkdn_wire_msg *m = qkdn_wire_response_new(QKDN_W_CMD_CK_STATUS, my_id(ck),
							 ck->status_orig, QKDN_W_RESP_SUCCESS);

	if (!m)
		return;
	put_status(ck->kmd, m, ck->status_params);
	ck_send(ck, m);
}

static void status_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct kmd_ck *ck = arg;

	(void)fd;
	(void)what;
	if (ck->state == CK_UP && ck->status_orig)
		send_status(ck);
}

static void on_status(struct kmd_ck *ck, const struct nlattr **tb, const struct qkdn_wire_hdr *h)
{
	struct timeval tv;

	ck->status_orig = h->msg_id;
	ck->status_period = qkdn_wire_get_u32(tb[QKDN_W_PERIOD]);
	ck->status_params = qkdn_wire_get_u32(tb[QKDN_W_STATUS_PARAMS]);
	evtimer_del(ck->status_timer);
	qkdn_log(QKDN_LOG_INFO, "status requested", "event=ctl-status period_ms=%u params=0x%x",
		 ck->status_period, ck->status_params);
	send_status(ck);
	if (ck->status_period) {
		tv.tv_sec = ck->status_period / 1000;
		tv.tv_usec = (ck->status_period % 1000) * 1000;
		evtimer_add(ck->status_timer, &tv);
	}
}

static void on_route_push(struct kmd_ck *ck, const struct nlattr **tb,
			  const struct qkdn_wire_hdr *h)
{
	char why[QKDN_W_REASON_MAX - 1], q[300];

	if (apply_routes(ck->kmd, tb[QKDN_W_ROUTE_TABLE], why, sizeof(why)) < 0) {
		ck->pushes_refused++;
		qkdn_log(QKDN_LOG_WARN, "route push refused", "event=ctl-push-refused reason=%s",
			 qkdn_log_quote(q, sizeof(q), why));
		respond(ck, QKDN_W_CMD_CK_ROUTE_PUSH, h->msg_id, why);
		return;
	}
	ck->pushes++;
	respond(ck, QKDN_W_CMD_CK_ROUTE_PUSH, h->msg_id, NULL);
}

static void on_route_response(struct kmd_ck *ck, const struct nlattr **tb,
			      const struct qkdn_wire_hdr *h)
{
	struct ck_session *s = NULL;
	char why[QKDN_W_REASON_MAX], q[300];
	uint64_t sid;

	for (size_t i = 0; i < ck->n_sessions; i++)
		if (ck->sessions[i].msg_id && ck->sessions[i].msg_id == h->orig_msg_id)
			s = &ck->sessions[i];
	if (!s) {
		qkdn_log(QKDN_LOG_WARN, "CK_ROUTE response to nothing we asked",
			 "event=ctl-unexpected orig=%" PRIu64, h->orig_msg_id);
		return;
	}
	s->msg_id = 0;
	if (h->response_code != QKDN_W_RESP_SUCCESS || !tb[QKDN_W_SESSION_ID]) {
		qkdn_log(QKDN_LOG_WARN, "route refused by the controller",
			 "event=ctl-route-refused dest=%u reason=%s", s->conf->dest,
			 qkdn_log_quote(q, sizeof(q), tb[QKDN_W_REASON]
						      ? qkdn_wire_get_str(tb[QKDN_W_REASON])
						      : "none given"));
		return;
	}
	sid = qkdn_wire_get_u64(tb[QKDN_W_SESSION_ID]);
	if (tb[QKDN_W_ROUTE_TABLE] &&
	    apply_routes(ck->kmd, tb[QKDN_W_ROUTE_TABLE], why, sizeof(why)) < 0) {
		qkdn_log(QKDN_LOG_WARN, "route from the controller not applied",
			 "event=ctl-route-bad dest=%u reason=%s", s->conf->dest,
			 qkdn_log_quote(q, sizeof(q), why));
		return;
	}
	s->session_id = sid;
	qkdn_log(QKDN_LOG_INFO, "route granted",
		 "event=ctl-route dest=%u session=%016" PRIx64, s->conf->dest, sid);
	kmd_supply_session(ck->kmd, s->conf->dest, s->conf->keep, s->conf->priority,
			   s->conf->key_bits, sid);
}

static void on_crl(struct kmd_ck *ck, const struct nlattr **tb, const struct qkdn_wire_hdr *h)
{
	struct kmd *kmd = ck->kmd;
	const struct nlattr *a = tb[QKDN_W_CRL];
	char err[400], q[450];
	X509_CRL *crl;
	int ret = -EINVAL;

	crl = qkdn_tls_crl_parse(qkdn_wire_get_bin(a), qkdn_wire_get_len(a), err, sizeof(err));
	if (crl) {
		/* The Kx context first: if it refuses, nothing changed. */
		ret = qkdn_tls_ctx_set_crl(kmd->tls, kmd->cfg.ca, crl, err, sizeof(err));
		if (!ret && kmd->tls_ck)
			ret = qkdn_tls_ctx_set_crl(kmd->tls_ck, ck->ca, crl, err, sizeof(err));
	}
	if (ret) {
		qkdn_log(QKDN_LOG_WARN, "CRL refused", "event=crl-refused reason=%s",
			 qkdn_log_quote(q, sizeof(q), err));
		respond(ck, QKDN_W_CMD_CK_CRL, h->msg_id, err);
		X509_CRL_free(crl);
		return;
	}
	ck->crls++;
	if (kmd->cfg.crl && qkdn_tls_crl_save(crl, kmd->cfg.crl, err, sizeof(err)) < 0)
		qkdn_log(QKDN_LOG_WARN, "CRL loaded but not saved", "event=crl-save-failed err=%s",
			 qkdn_log_quote(q, sizeof(q), err));
	else if (kmd->cfg.crl)
		qkdn_crl_watch_sync(&kmd->crl_watch);	/* ours: not reloaded */
	X509_CRL_free(crl);
	qkdn_log(QKDN_LOG_INFO, "CRL loaded", "event=crl-loaded bytes=%zu dropped=%u",
		 qkdn_wire_get_len(a), kmd_peers_drop_revoked(kmd));
	respond(ck, QKDN_W_CMD_CK_CRL, h->msg_id, NULL);
}

static void on_auth_response(struct kmd_ck *ck, const struct nlattr **tb,
			     const struct qkdn_wire_hdr *h)
{
	char reason[300], q[280];

	if (h->orig_msg_id != ck->auth_msg_id || ck->state != CK_AUTHENTICATING) {
		ck_close(ck, QKDN_LOG_WARN, "unexpected CK_AUTH response");
		return;
	}
	if (h->response_code != QKDN_W_RESP_SUCCESS) {
		snprintf(reason, sizeof(reason), "controller refused our CK_AUTH: %s",
			 tb[QKDN_W_REASON] ? qkdn_log_quote(q, sizeof(q),
							    qkdn_wire_get_str(tb[QKDN_W_REASON]))
					   : "no reason given");
		ck_close(ck, QKDN_LOG_WARN, reason);
		return;
	}
	ck->state = CK_UP;
	ck->backoff_ms = KMD_CK_BACKOFF_MIN_MS;
	qkdn_log(QKDN_LOG_INFO, "controller up", "event=ctl-up address=%s",
		 ck->kmd->cfg.controller.address_str);
	kmd_ck_notify(ck->kmd, QKDN_W_EVENT_SYNC, 0, 0);
	request_routes(ck);
}

static void handle(struct kmd_ck *ck, const void *buf, size_t len)
{
	const struct nlattr *tb[QKDN_W_MAX + 1];
	struct qkdn_wire_hdr h;
	char q[200];

	if (qkdn_wire_parse(buf, len, &qkdn_wire_ck_policy, tb, &h) < 0) {
		/* A command we can name gets a failure; anything else closes. */
		if (h.msg_id && !h.is_response && h.cmd && h.sender_id == QKDN_W_CONTROLLER_ID &&
		    ck->state == CK_UP) {
			respond(ck, h.cmd, h.msg_id, h.error);
			qkdn_log(QKDN_LOG_WARN, "bad message from the controller",
				 "event=ctl-bad-message error=%s", qkdn_log_quote(q, sizeof(q), h.error));
			return;
		}
		snprintf(q, sizeof(q), "bad message: %s", h.error);
		ck_close(ck, QKDN_LOG_WARN, q);
		return;
	}
	if (h.sender_id != QKDN_W_CONTROLLER_ID) {
		ck_close(ck, QKDN_LOG_WARN, "sender ID is not the controller's");
		return;
	}
	if (h.cmd == QKDN_W_CMD_KEEPALIVE)
		return;
	if (h.cmd == QKDN_W_CMD_CK_AUTH && h.is_response) {
		on_auth_response(ck, tb, &h);
		return;
	}
	if (ck->state != CK_UP) {
		ck_close(ck, QKDN_LOG_WARN, "message before CK_AUTH succeeded");
		return;
	}
	qkdn_log(QKDN_LOG_DEBUG, "controller message", "event=ctl-rx cmd=%s response=%d",
		 qkdn_wire_cmd_name(h.cmd), h.is_response);
	if (h.is_response) {
		if (h.cmd == QKDN_W_CMD_CK_ROUTE)
			on_route_response(ck, tb, &h);
		else if (h.response_code != QKDN_W_RESP_SUCCESS)
			qkdn_log(QKDN_LOG_WARN, "controller refused a message",
				 "event=ctl-refused cmd=%s reason=%s", qkdn_wire_cmd_name(h.cmd),
				 qkdn_log_quote(q, sizeof(q), tb[QKDN_W_REASON]
							      ? qkdn_wire_get_str(tb[QKDN_W_REASON])
							      : "none given"));
		return;
	}
	switch (h.cmd) {
	case QKDN_W_CMD_CK_STATUS:
		on_status(ck, tb, &h);
		break;
	case QKDN_W_CMD_CK_ROUTE_PUSH:
		on_route_push(ck, tb, &h);
		break;
	case QKDN_W_CMD_CK_CRL:
		on_crl(ck, tb, &h);
		break;
	default:
		respond(ck, h.cmd, h.msg_id, "not a command the controller sends");
	}
}

/* Connection */

static void read_cb(struct bufferevent *bev, void *arg)
{
	struct kmd_ck *ck = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	ck->last_rx_ms = now_ms();
	while (ck->bev == bev) {
		void *buf;
		size_t len;
		int ret = qkdn_conn_next(in, &buf, &len);

		if (ret == 0)
			return;
		if (ret < 0) {
			ck_close(ck, QKDN_LOG_WARN, ret == -EMSGSIZE ? "message too large"
								     : "out of memory");
			return;
		}
		handle(ck, buf, len);
		free(buf);
	}
}

static void connected(struct kmd_ck *ck)
{
	SSL *ssl = bufferevent_openssl_get_ssl(ck->bev);
	struct qkdn_wire_msg *m;
	char cn[QKDN_CN_MAXLEN], err[200], auth[32];

	if (qkdn_tls_peer_cn(ssl, cn, sizeof(cn), err, sizeof(err)) < 0) {
		ck_close(ck, QKDN_LOG_WARN, err);
		return;
	}
	if (strcmp(cn, QKDN_TLS_CN_CONTROLLER) != 0) {
		snprintf(err, sizeof(err), "peer certificate CN is not " QKDN_TLS_CN_CONTROLLER);
		ck_close(ck, QKDN_LOG_WARN, err);
		return;
	}
	ck->state = CK_AUTHENTICATING;
	ck->connects++;
	ck->last_rx_ms = now_ms();
	m = qkdn_wire_msg_new(QKDN_W_CMD_CK_AUTH, my_id(ck));
	if (!m) {
		ck_close(ck, QKDN_LOG_ERR, "out of memory");
		return;
	}
	snprintf(auth, sizeof(auth), QKDN_TLS_CN_PREFIX "%u", my_id(ck));
	ck->auth_msg_id = qkdn_wire_msg_id(m);
	qkdn_wire_put_str(m, QKDN_W_AUTH_INFO, auth);
	qkdn_wire_put_str(m, QKDN_W_SENDER_HOSTNAME, ck->kmd->cfg.name);
	ck_send(ck, m);
}

static void event_cb(struct bufferevent *bev, short events, void *arg)
{
	struct kmd_ck *ck = arg;
	char reason[300];
	unsigned long e;
	const char *why;

	(void)bev;
	if (events & BEV_EVENT_CONNECTED) {
		connected(ck);
		return;
	}
	if (!(events & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)))
		return;
	why = qkdn_tls_verify_failure(bufferevent_openssl_get_ssl(bev));
	if (ck->state == CK_CONNECTING && why) {
		snprintf(reason, sizeof(reason), "%s", why);
	} else if (events & BEV_EVENT_EOF) {
		snprintf(reason, sizeof(reason), "closed by the controller");
	} else {
		int err = EVUTIL_SOCKET_ERROR();

		snprintf(reason, sizeof(reason), "%s", err ? strerror(err) : "connection lost");
	}
	while ((e = bufferevent_get_openssl_error(bev)) != 0)
		;
	ck_close(ck, ck->state == CK_CONNECTING ? QKDN_LOG_INFO : QKDN_LOG_WARN, reason);
}

static void ck_dial(struct kmd_ck *ck)
{
	struct kmd *kmd = ck->kmd;
	SSL *ssl;

	if (kmd->stopping || ck->bev)
		return;
	ssl = SSL_new(ck->tls);
	ck->bev = ssl ? bufferevent_openssl_socket_new(kmd->base, -1, ssl,
						       BUFFEREVENT_SSL_CONNECTING,
						       BEV_OPT_CLOSE_ON_FREE |
						       BEV_OPT_DEFER_CALLBACKS)
		      : NULL;
	if (!ck->bev) {
		SSL_free(ssl);
		ck_close(ck, QKDN_LOG_ERR, "cannot create a connection");
		return;
	}
	ck->state = CK_CONNECTING;
	ck->started_ms = ck->last_rx_ms = ck->last_tx_ms = ck->last_keepalive_ms = now_ms();
	bufferevent_setcb(ck->bev, read_cb, NULL, event_cb, ck);
	bufferevent_setwatermark(ck->bev, EV_READ, 0,
				 QKDN_WIRE_LEN_SIZE + QKDN_WIRE_BODY_MAX + 65536);
	bufferevent_enable(ck->bev, EV_READ | EV_WRITE);
	qkdn_log(QKDN_LOG_DEBUG, "dialling the controller", "event=ctl-dial address=%s",
		 kmd->cfg.controller.address_str);
	if (bufferevent_socket_connect(ck->bev,
				       (const struct sockaddr *)&kmd->cfg.controller.address,
				       (int)kmd->cfg.controller.address_len) < 0)
		ck_close(ck, QKDN_LOG_INFO, strerror(EVUTIL_SOCKET_ERROR()));
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	ck_dial(arg);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct kmd_ck *ck = arg;
	uint64_t now = now_ms(), ka = KMD_KEEPALIVE_S * 1000;

	(void)fd;
	(void)what;
	if (!ck->bev)
		return;
	if (ck->state != CK_UP && now - ck->started_ms > KMD_HANDSHAKE_S * 1000) {
		ck_close(ck, QKDN_LOG_WARN, "handshake and CK_AUTH not done in time");
		return;
	}
	if (ck->state < CK_AUTHENTICATING)
		return;
	if (now - ck->last_rx_ms >= KMD_DEAD_S * 1000) {
		ck_close(ck, QKDN_LOG_WARN, "nothing received for 45 s");
		return;
	}
	if ((now - ck->last_rx_ms >= ka || now - ck->last_tx_ms >= ka) &&
	    now - ck->last_keepalive_ms >= ka) {
		ck->last_keepalive_ms = now;
		ck_send(ck, qkdn_wire_msg_new(QKDN_W_CMD_KEEPALIVE, my_id(ck)));
	}
	if (ck->state == CK_UP)
		request_routes(ck);
}

int kmd_ck_start(struct kmd *kmd)
{
	const struct qkdn_kmd_controller_conf *c = &kmd->cfg.controller;
	struct timeval tick = { KMD_TICK_S, 0 };
	char err[QKDN_CONFIG_ERR_LEN];
	struct kmd_ck *ck;

	if (!c->enabled)
		return 0;
	ck = calloc(1, sizeof(*ck));
	if (!ck)
		return -ENOMEM;
	kmd->ck = ck;
	ck->kmd = kmd;
	ck->backoff_ms = KMD_CK_BACKOFF_MIN_MS;
	ck->tls = kmd->tls;
	ck->ca = kmd->cfg.ca;
	if (c->cert || c->key || c->ca) {
		ck->ca = c->ca ? c->ca : kmd->cfg.ca;
		kmd->tls_ck = qkdn_tls_ctx_new(c->cert ? c->cert : kmd->cfg.cert,
					       c->key ? c->key : kmd->cfg.key, ck->ca, err,
					       sizeof(err));
		if (!kmd->tls_ck) {
			qkdn_log(QKDN_LOG_ERR, "controller TLS", "event=start-failed err=\"%s\"", err);
			return -EINVAL;
		}
		if (kmd->cfg.crl) {
			X509_CRL *crl = qkdn_tls_crl_load(kmd->cfg.crl, err, sizeof(err));
			int ret = crl ? qkdn_tls_ctx_set_crl(kmd->tls_ck, ck->ca, crl, err,
							     sizeof(err))
				      : -EINVAL;

			X509_CRL_free(crl);
			if (ret) {
				qkdn_log(QKDN_LOG_ERR, "controller CRL",
					 "event=start-failed err=\"%s\"", err);
				return ret;
			}
		}
		ck->tls = kmd->tls_ck;
	}
	ck->sessions = calloc(kmd->cfg.n_sessions ? kmd->cfg.n_sessions : 1,
			      sizeof(*ck->sessions));
	if (!ck->sessions)
		return -ENOMEM;
	ck->n_sessions = kmd->cfg.n_sessions;
	for (size_t i = 0; i < ck->n_sessions; i++)
		ck->sessions[i].conf = &kmd->cfg.sessions[i];
	ck->retry = evtimer_new(kmd->base, retry_cb, ck);
	ck->status_timer = event_new(kmd->base, -1, EV_PERSIST, status_timer_cb, ck);
	ck->tick = event_new(kmd->base, -1, EV_PERSIST, tick_cb, ck);
	if (!ck->retry || !ck->status_timer || !ck->tick || event_add(ck->tick, &tick) < 0)
		return -ENOMEM;
	ck_dial(ck);
	return 0;
}

unsigned int kmd_ck_drop_revoked(struct kmd *kmd)
{
	struct kmd_ck *ck = kmd->ck;

	if (!ck || !ck->bev || ck->state < CK_AUTHENTICATING ||
	    !qkdn_tls_peer_revoked(bufferevent_openssl_get_ssl(ck->bev)))
		return 0;
	ck_close(ck, QKDN_LOG_WARN, "peer certificate revoked");
	return 1;
}

void kmd_ck_stop(struct kmd *kmd)
{
	struct kmd_ck *ck = kmd->ck;

	if (!ck)
		return;
	evtimer_del(ck->retry);
	if (ck->bev)
		ck_close(ck, QKDN_LOG_INFO, "shutting down");
}

void kmd_ck_free(struct kmd *kmd)
{
	struct kmd_ck *ck = kmd->ck;

	if (!ck)
		return;
	if (ck->bev) {
		bufferevent_free(ck->bev);
		ck->bev = NULL;
	}
	qkdn_log(QKDN_LOG_INFO, "controller counters",
		 "event=stats connects=%" PRIu64 " notifies=%" PRIu64 " pushes=%" PRIu64
		 " pushes_refused=%" PRIu64 " crls=%" PRIu64,
		 ck->connects, ck->notifies, ck->pushes, ck->pushes_refused, ck->crls);
	if (ck->retry)
		event_free(ck->retry);
	if (ck->status_timer)
		event_free(ck->status_timer);
	if (ck->tick)
		event_free(ck->tick);
	free(ck->sessions);
	free(ck);
	kmd->ck = NULL;
}
