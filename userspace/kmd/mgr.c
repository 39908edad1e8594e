// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Mk: qkdn-kmd reports to qkdn-mgrd (lib/mgmt.h) when its config has a
 * [manager] section. It is the KM's agent (seed 001 Table I.3):
 *
 *   inventory (10.3)   after each M_AUTH: the KM ("node-<ID>") and every
 *                      KM link ("km-link-<ID>-<PEER>": each [peer], with
 *                      the module's link to it if there is one, its
 *                      modules and key bytes; in service while the Kx
 *                      session is up); a link again on each Kx up/down
 *   faults (10.1.2)    KM_LINK_DOWN when a Kx session goes down (the
 *                      reason in the description), cleared when it is
 *                      back; POOL_LOW from the module's pool alarms and
 *                      for a [session] store below a quarter of keep
 *                      ("store-<ID>-<DEST>"), cleared at half;
 *                      RELAY_FAILED for a relay this node started that
 *                      the module abandoned ("route-<ID>-<DEST>", with
 *                      the diagnosed reason), cleared by the next relay
 *                      to that node acknowledged; KEY_GEN_FAILURE (and
 *                      M_SECURITY KEYS_DISCARDED) for a KSA mismatch,
 *                      cleared after a report period without another;
 *                      ROUTE_DOWN when a route is withdrawn, cleared when
 *                      it is restored
 *   diagnostics        M_DIAG for node-, km-link-, route- and store-
 *                      resources: state and diagnosis (diagnose())
 *   performance (10.4) every report-ms, from the module's counters: per
 *                      link and store key bytes held, supply (KEY_RATE,
 *                      bit/s) and consumption (bytes/s) over the period;
 *                      per node relays started, completed, failed
 *   accounting (10.2)  one M_ACCOUNT per ETSI GS QKD 014 request served:
 *                      the SAE, keys and bits, the peer SAE's node (and
 *                      the link, when keys came from one)
 *   traceability       M_KEY_EVENT per key ID: generated and relayed at
 *                      the relay's source, relayed at each trusted node
 *                      (from which neighbour, to which), received at the
 *                      destination, supplied (to which SAE), deleted (the
 *                      last copy gone: fetched by ID with dec_keys, or
 *                      wiped by a relay's ABORT)
 *   resilience         M_RESILIENCE when routes.c switches a route onto
 *                      its protection next hop (SWITCHOVER) and when a
 *                      withdrawn route comes back (RESTORE)
 *
 * Relay events come from the frames this daemon carries anyway: their
 * header and key IDs are authenticated but not secret (the layout is in
 * the uapi header, "Key relay (Kx)"); key bytes are never read. A frame
 * counts once the module took it (incoming) or made it (outgoing).
 *
 * Nothing here slows key supply: the hooks only copy key IDs into a
 * pending list, and a deferred event (run after the loop's other work)
 * turns them into notifications, MGR_FLUSH_BATCH at a time, each with
 * the time its event happened. Everything runs on the loop thread.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/qkdn.h>

#include "hex.h"
#include "kmd.h"
#include "log.h"
#include "mgmt.h"
#include "util.h"

#define MGR_PENDING_MAX		65536	/* key events waiting; beyond, dropped */
#define MGR_FLUSH_BATCH		512	/* notifications built per loop pass */
#define MGR_RELAYS_KEPT		64	/* recent relays: key IDs, where from */
#define MGR_ALARMS_MAX		256
#define MGR_SAE_CACHE		64
#define KX_HDR_LEN		52
#define KX_TAG_LEN		16
#define KX_ENTRY_LEN		24	/* ID, created, then key bytes */
#define KX_SYNC_ENTRY_LEN	32

/* Kx frame types (enum qkdn_kx_type). */
enum { KX_RELAY = 1, KX_ACK, KX_ABORT, KX_SYNC, KX_SYNC_ACK };

enum pend_kind { P_KEY, P_ACCOUNT };

/* One notification to build, with what it needs. */
struct pend {
	uint64_t time_ms;
	uint8_t kind, event;
	bool dec;			/* supplied by ID (dec_keys) */
	uint8_t id[QKDN_KEY_ID_LEN];
	uint32_t src, dst, next_hop, peer;
	uint64_t count, bits;
	char app[QKDN_ID_MAXLEN];	/* the SAE served */
	char other[QKDN_ID_MAXLEN];	/* its peer SAE: node resolved later */
};

/* A relay seen lately: its keys (to trace an ABORT) and, at a trusted
 * node, the neighbour it came from. */
struct relay_rec {
	uint32_t source;
	uint64_t relay_id;
	uint32_t from;
	uint16_t n;
	uint8_t ids[QKDN_RELAY_KEYS_MAX][QKDN_KEY_ID_LEN];
};

/* An alarm raised and not yet cleared. */
struct active {
	uint64_t id;
	uint64_t touched_ms;
	uint8_t type;
	uint64_t count;
	char res[QKDN_ID_MAXLEN];
};

/* A neighbour's Kx history, for the diagnosis. */
struct peer_state {
	uint64_t since_ms;		/* of the last up or down */
	char reason[160];		/* why it went down */
	uint64_t downs;
};

struct sae_node {
	char sae[QKDN_ID_MAXLEN];
	uint32_t node;
};

/* Counters of the previous report, for rates. */
struct prev {
	uint32_t key;			/* link ID, or the store's node | 1 << 31 */
	uint64_t in, out;
};

struct kmd_mgr {
	struct kmd *kmd;
	struct qkdn_mgmt *mg;
	struct event *report, *flush;
	struct qkdn_nl_msg *msg;
	struct pend *pend;
	size_t n_pend, head, cap;
	uint64_t pend_dropped;
	struct relay_rec relays[MGR_RELAYS_KEPT];
	unsigned int next_relay;
	struct active alarms[MGR_ALARMS_MAX];
	size_t n_alarms;
	struct peer_state *peers;	/* parallel to kmd->peers */
	struct sae_node saes[MGR_SAE_CACHE];
	unsigned int n_saes, next_sae;
	struct prev *prev;
	size_t n_prev, prev_cap;
	uint64_t last_report_ms;
	bool *store_filled;		/* parallel to cfg.sessions */
	uint64_t relays_failed;		/* RELAY_FAILED alarms from the module */
	struct {
		uint64_t key_events, accounts, alarms;
	} stats;
};

static uint32_t self_id(const struct kmd_mgr *m)
{
	return m->kmd->cfg.node_id;
}

static void link_res(const struct kmd_mgr *m, uint32_t peer, char *out, size_t len)
{
	snprintf(out, len, "km-link-%u-%u", self_id(m), peer);
}

static void route_res(const struct kmd_mgr *m, uint32_t dest, char *out, size_t len)
{
	snprintf(out, len, "route-%u-%u", self_id(m), dest);
}

static void store_res(const struct kmd_mgr *m, uint32_t dest, char *out, size_t len)
{
	snprintf(out, len, "store-%u-%u", self_id(m), dest);
}

/* One alarm ID per (type, peer or destination), so a clear names its raise. */
static uint64_t alarm_id(enum qkdn_wire_alarm_type type, uint32_t x, bool store)
{
	return (uint64_t)store << 40 | (uint64_t)x << 8 | type;
}

static struct active *alarm_find(struct kmd_mgr *m, uint64_t id)
{
	for (size_t i = 0; i < m->n_alarms; i++)
		if (m->alarms[i].id == id)
			return &m->alarms[i];
	return NULL;
}

/* Raises the alarm unless it is up already (then only counts it). */
static void raise_alarm(struct kmd_mgr *m, const char *res, enum qkdn_wire_alarm_type type,
			uint64_t id, enum qkdn_wire_severity sev, uint64_t value, const char *desc,
			uint32_t peer, uint32_t dest)
{
	struct active *a = alarm_find(m, id);
	struct qkdn_wire_msg *msg;

	if (a) {
		a->count++;
		a->touched_ms = qkdn_mgmt_now_ms();
		return;
	}
	if (m->n_alarms < MGR_ALARMS_MAX) {
		a = &m->alarms[m->n_alarms++];
		a->id = id;
		a->type = type;
		a->count = 1;
		a->touched_ms = qkdn_mgmt_now_ms();
		snprintf(a->res, sizeof(a->res), "%s", res);
	}
	msg = qkdn_mgmt_begin(m->mg, QKDN_W_CMD_M_ALARM, res);
	if (!msg)
		return;
	qkdn_wire_put_u16(msg, QKDN_W_M_ALARM_TYPE, (uint16_t)type);
	qkdn_wire_put_u64(msg, QKDN_W_M_ALARM_ID, id);
	qkdn_wire_put_str(msg, QKDN_W_M_ALARM_SOURCE, "KM");
	qkdn_wire_put_u8(msg, QKDN_W_M_SEVERITY, (uint8_t)sev);
	qkdn_wire_put_u64(msg, QKDN_W_M_ALARM_VALUE, value);
	if (desc && *desc)
		qkdn_wire_put_str(msg, QKDN_W_M_ALARM_DESC, desc);
	if (peer)
		qkdn_wire_put_u32(msg, QKDN_W_PEER_NODE_ID, peer);
	if (dest)
		qkdn_wire_put_u32(msg, QKDN_W_DEST_NODE_ID, dest);
	qkdn_mgmt_send(m->mg, msg);
	m->stats.alarms++;
	qkdn_log(QKDN_LOG_DEBUG, "alarm to the manager", "event=mgr-alarm resource=%s type=%u",
		 res, type);
}

static void clear_alarm(struct kmd_mgr *m, uint64_t id, uint32_t peer, uint32_t dest)
{
	struct active *a = alarm_find(m, id);
	struct qkdn_wire_msg *msg;

	if (!a)
		return;
	msg = qkdn_mgmt_begin(m->mg, QKDN_W_CMD_M_ALARM, a->res);
	if (msg) {
		qkdn_wire_put_u16(msg, QKDN_W_M_ALARM_TYPE, a->type);
		qkdn_wire_put_u64(msg, QKDN_W_M_ALARM_ID, id);
		qkdn_wire_put_str(msg, QKDN_W_M_ALARM_SOURCE, "KM");
		qkdn_wire_put_u8(msg, QKDN_W_M_SEVERITY, QKDN_W_SEV_CLEARED);
		qkdn_wire_put_u64(msg, QKDN_W_M_ALARM_VALUE, a->count);
		if (peer)
			qkdn_wire_put_u32(msg, QKDN_W_PEER_NODE_ID, peer);
		if (dest)
			qkdn_wire_put_u32(msg, QKDN_W_DEST_NODE_ID, dest);
		qkdn_mgmt_send(m->mg, msg);
	}
	*a = m->alarms[--m->n_alarms];
}

/* What the module says */

struct link_info {
	uint32_t id, peer;
	uint16_t unit;
	char module[QKDN_ID_MAXLEN], peer_module[QKDN_ID_MAXLEN];
	uint64_t stored, enc_available, generated, consumed;
	uint8_t qkd_state;
	bool has_qkd;
};

struct links {
	struct link_info *v;
	size_t n, cap;
};

static int link_cb(const struct nlmsghdr *nlh, void *data)
{
	struct links *ls = data;
	const struct nlattr *tb[QKDN_A_MAX + 1], *st[QKDN_STAT_A_MAX + 1];
	struct link_info *l;
	const char *s;

	if (!nlh)
		return 0;
	if (qkdn_nl_parse(nlh, tb, QKDN_A_MAX) < 0)
		return -EBADMSG;
	l = qkdn_grow((void **)&ls->v, &ls->n, &ls->cap, sizeof(*l));
	if (!l)
		return -ENOMEM;
	memset(l, 0, sizeof(*l));
	if (!qkdn_nla_u32(tb[QKDN_A_LINK_ID], &l->id) ||
	    !qkdn_nla_u32(tb[QKDN_A_PEER_NODE_ID], &l->peer) ||
	    !qkdn_nla_u16(tb[QKDN_A_KEY_UNIT], &l->unit) || !tb[QKDN_A_LINK_STATS] ||
	    qkdn_nl_parse_nested(tb[QKDN_A_LINK_STATS], st, QKDN_STAT_A_MAX) < 0)
		return -EBADMSG;
	s = qkdn_nla_str(tb[QKDN_A_QKD_MODULE_ID]);
	snprintf(l->module, sizeof(l->module), "%s", s ? s : "");
	s = qkdn_nla_str(tb[QKDN_A_MATCHING_QKD_MODULE_ID]);
	snprintf(l->peer_module, sizeof(l->peer_module), "%s", s ? s : "");
	qkdn_nla_u64(st[QKDN_STAT_A_STORED], &l->stored);
	qkdn_nla_u64(st[QKDN_STAT_A_ENC_AVAILABLE], &l->enc_available);
	qkdn_nla_u64(st[QKDN_STAT_A_GENERATED], &l->generated);
	qkdn_nla_u64(st[QKDN_STAT_A_CONSUMED], &l->consumed);
	l->has_qkd = qkdn_nla_u8(tb[QKDN_A_QKD_STATE], &l->qkd_state);
	return 0;
}

static int links_get(struct kmd_mgr *m, struct links *ls)
{
	memset(ls, 0, sizeof(*ls));
	if (m->kmd->no_kernel)
		return 0;
	qkdn_nl_msg_reset(m->msg, QKDN_CMD_LINK_GET, 0);
	return qkdn_nl_dump(m->kmd->nl, m->msg, link_cb, ls);
}

static const struct link_info *link_to(const struct links *ls, uint32_t peer)
{
	for (size_t i = 0; i < ls->n; i++)
		if (ls->v[i].peer == peer)
			return &ls->v[i];
	return NULL;
}

struct store_info {
	uint32_t node;
	uint64_t own, peer_stored, relayed_out, relayed_in, consumed, deleted;
};

struct stores {
	struct store_info *v;
	size_t n, cap;
};

static int store_cb(const struct nlmsghdr *nlh, void *data)
{
	struct stores *ss = data;
	const struct nlattr *tb[QKDN_A_MAX + 1], *st[QKDN_STORE_A_MAX + 1];
	struct store_info *s;

	if (!nlh)
		return 0;
	if (qkdn_nl_parse(nlh, tb, QKDN_A_MAX) < 0 || !tb[QKDN_A_STORE_STATS] ||
	    qkdn_nl_parse_nested(tb[QKDN_A_STORE_STATS], st, QKDN_STORE_A_MAX) < 0)
		return -EBADMSG;
	s = qkdn_grow((void **)&ss->v, &ss->n, &ss->cap, sizeof(*s));
	if (!s)
		return -ENOMEM;
	memset(s, 0, sizeof(*s));
	if (!qkdn_nla_u32(tb[QKDN_A_PEER_NODE_ID], &s->node))
		return -EBADMSG;
	qkdn_nla_u64(st[QKDN_STORE_A_OWN_AVAILABLE], &s->own);
	qkdn_nla_u64(st[QKDN_STORE_A_PEER_STORED], &s->peer_stored);
	qkdn_nla_u64(st[QKDN_STORE_A_RELAYED_OUT], &s->relayed_out);
	qkdn_nla_u64(st[QKDN_STORE_A_RELAYED_IN], &s->relayed_in);
	qkdn_nla_u64(st[QKDN_STORE_A_CONSUMED], &s->consumed);
	qkdn_nla_u64(st[QKDN_STORE_A_DELETED], &s->deleted);
	return 0;
}

static int stores_get(struct kmd_mgr *m, struct stores *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (m->kmd->no_kernel)
		return 0;
	qkdn_nl_msg_reset(m->msg, QKDN_CMD_STORE_GET, 0);
	return qkdn_nl_dump(m->kmd->nl, m->msg, store_cb, ss);
}

struct relay_stats {
	uint64_t started, completed, failed, received, forwarded;
	uint32_t timeout_ms;
};

static int node_cb(const struct nlmsghdr *nlh, void *data)
{
	struct relay_stats *rs = data;
	const struct nlattr *tb[QKDN_A_MAX + 1], *st[QKDN_RELAY_A_MAX + 1];

	if (!nlh)
		return 0;
	if (qkdn_nl_parse(nlh, tb, QKDN_A_MAX) < 0)
		return -EBADMSG;
	qkdn_nla_u32(tb[QKDN_A_RELAY_TIMEOUT], &rs->timeout_ms);
	if (!tb[QKDN_A_RELAY_STATS] ||
	    qkdn_nl_parse_nested(tb[QKDN_A_RELAY_STATS], st, QKDN_RELAY_A_MAX) < 0)
		return -EBADMSG;
	qkdn_nla_u64(st[QKDN_RELAY_A_STARTED], &rs->started);
	qkdn_nla_u64(st[QKDN_RELAY_A_COMPLETED], &rs->completed);
	qkdn_nla_u64(st[QKDN_RELAY_A_FAILED], &rs->failed);
	qkdn_nla_u64(st[QKDN_RELAY_A_RECEIVED], &rs->received);
	qkdn_nla_u64(st[QKDN_RELAY_A_FORWARDED], &rs->forwarded);
	return 0;
}

static int relay_stats_get(struct kmd_mgr *m, struct relay_stats *rs)
{
	memset(rs, 0, sizeof(*rs));
	if (m->kmd->no_kernel)
		return -ENODEV;
	qkdn_nl_msg_reset(m->msg, QKDN_CMD_NODE_GET, 0);
	return qkdn_nl_request(m->kmd->nl, m->msg, node_cb, rs);
}

static int app_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *tb[QKDN_A_MAX + 1];

	if (!nlh)
		return 0;
	if (qkdn_nl_parse(nlh, tb, QKDN_A_MAX) < 0 || !qkdn_nla_u32(tb[QKDN_A_NODE_ID], data))
		return -EBADMSG;
	return 0;
}

/* The node of an SAE, from the module (cached); 0 if unknown. */
static uint32_t sae_node(struct kmd_mgr *m, const char *sae)
{
	uint32_t node = 0;

	for (unsigned int i = 0; i < m->n_saes; i++)
		if (!strcmp(m->saes[i].sae, sae))
			return m->saes[i].node;
	if (m->kmd->no_kernel)
		return 0;
	qkdn_nl_msg_reset(m->msg, QKDN_CMD_APP_GET, 0);
	qkdn_nl_put_str(m->msg, QKDN_A_SAE_ID, sae);
	if (qkdn_nl_request(m->kmd->nl, m->msg, app_cb, &node) || !node)
		return 0;
	struct sae_node *c = &m->saes[m->next_sae];

	m->next_sae = (m->next_sae + 1) % MGR_SAE_CACHE;
	if (m->n_saes < MGR_SAE_CACHE)
		m->n_saes++;
	snprintf(c->sae, sizeof(c->sae), "%s", sae);
	c->node = node;
	return node;
}

/* Diagnosis (M_DIAG, alarm descriptions) */

static struct peer_state *peer_state(struct kmd_mgr *m, const struct kmd_peer *p)
{
	return &m->peers[p - m->kmd->peers];
}

static const char *qkd_state_name(uint8_t s)
{
	switch (s) {
	case QKDN_QKD_UP:
		return "up";
	case QKDN_QKD_DOWN:
		return "down";
	case QKDN_QKD_EAVESDROPPED:
		return "eavesdropped";
	default:
		return "unknown";
	}
}

/* The Kx session to neighbour id in words; its config state. */
static uint8_t diagnose_peer(struct kmd_mgr *m, uint32_t id, const struct links *ls, char *out,
			     size_t len)
{
	const struct kmd_peer *p = kmd_peer_find(m->kmd, id);
	const struct link_info *l = link_to(ls, id);
	uint64_t now = qkdn_mgmt_now_ms();
	char qkd[160] = "";

	if (l)
		snprintf(qkd, sizeof(qkd), "; pool %" PRIu64 " keys of %u bytes (%" PRIu64
			 " to hand out), QKD link %s", l->stored, l->unit, l->enc_available,
			 l->has_qkd ? qkd_state_name(l->qkd_state) : "not reported");
	else
		snprintf(qkd, sizeof(qkd), "; no KMA link in the module");
	if (!p) {
		snprintf(out, len, "node %u is not a [peer] of this KM%s", id, qkd);
		return QKDN_W_STATE_OUT_OF_SERVICE;
	}
	const struct peer_state *ps = peer_state(m, p);

	if (p->session_up) {
		snprintf(out, len, "Kx session to node %u up for %.1f s, %" PRIu64
			     " frames sent, %" PRIu64 " received%s", id,
			     (double)(now - ps->since_ms) / 1000, p->stats.frames_tx,
			     p->stats.frames_rx, qkd);
		return l && l->has_qkd && l->qkd_state != QKDN_QKD_UP ? QKDN_W_STATE_OUT_OF_SERVICE
								       : QKDN_W_STATE_IN_SERVICE;
	}
	if (ps->downs)
		snprintf(out, len, "Kx session to node %u (%s) down for %.1f s: %s; %" PRIu64
			     " frames dropped for want of it%s", id, p->conf->address_str,
			     (double)(now - ps->since_ms) / 1000, ps->reason,
			     p->stats.frames_dropped, qkd);
	else
		snprintf(out, len, "Kx session to node %u (%s) never came up since the KM "
			     "started%s", id, p->conf->address_str, qkd);
	return QKDN_W_STATE_OUT_OF_SERVICE;
}

/* The route to dest: which next hop, and that hop's state. */
static uint8_t diagnose_route(struct kmd_mgr *m, uint32_t dest, const struct links *ls,
			      char *out, size_t len)
{
	const struct kmd_route *r = kmd_routes_effective(m->kmd, dest);
	struct relay_stats rs = { 0 };
	char hop[QKDN_W_M_DESC_MAX];
	uint8_t state;

	relay_stats_get(m, &rs);
	if (!r || !r->active) {
		snprintf(out, len, "no route to node %u%s (relays started %" PRIu64 ", completed %"
			 PRIu64 ", failed %" PRIu64 ")", dest, r ? ": withdrawn" : "", rs.started,
			 rs.completed, rs.failed);
		return QKDN_W_STATE_OUT_OF_SERVICE;
	}
	state = diagnose_peer(m, r->active, ls, hop, sizeof(hop));
	snprintf(out, len, "next hop %u (%s)%s: %s; relay timeout %u ms; relays started %" PRIu64
		 ", completed %" PRIu64 ", failed %" PRIu64, r->active,
		 r->active == r->next_hop ? "working" : "protection",
		 state == QKDN_W_STATE_IN_SERVICE ? "" : ", the first hop fails", hop,
		 rs.timeout_ms, rs.started, rs.completed, rs.failed);
	return state;
}

static int diag_cb(void *arg, const char *resource, uint8_t *state, char *info, size_t len)
{
	struct kmd_mgr *m = arg;
	unsigned int a, b;
	struct links ls;
	int n = 0, ret = 0;

	links_get(m, &ls);
	if (sscanf(resource, "km-link-%u-%u%n", &a, &b, &n) == 2 && !resource[n] &&
	    a == self_id(m)) {
		*state = diagnose_peer(m, b, &ls, info, len);
	} else if (sscanf(resource, "route-%u-%u%n", &a, &b, &n) == 2 && !resource[n] &&
		   a == self_id(m)) {
		*state = diagnose_route(m, b, &ls, info, len);
	} else if (sscanf(resource, "store-%u-%u%n", &a, &b, &n) == 2 && !resource[n] &&
		   a == self_id(m)) {
		struct stores ss;
		uint64_t own = 0, peer_stored = 0;
		char route[QKDN_W_M_DESC_MAX / 2];

		stores_get(m, &ss);
		for (size_t i = 0; i < ss.n; i++) {
			if (ss.v[i].node == b) {
				own = ss.v[i].own;
				peer_stored = ss.v[i].peer_stored;
			}
		}
		free(ss.v);
		*state = diagnose_route(m, b, &ls, route, sizeof(route));
		snprintf(info, len, "%" PRIu64 " keys to hand out, %" PRIu64 " to be fetched; "
			 "route: %s", own, peer_stored, route);
	} else if (sscanf(resource, "node-%u%n", &a, &n) == 1 && !resource[n] &&
		   a == self_id(m)) {
		size_t up = 0;

		for (size_t i = 0; i < m->kmd->n_peers; i++)
			up += m->kmd->peers[i].session_up;
		*state = QKDN_W_STATE_IN_SERVICE;
		snprintf(info, len, "KM %s: %zu of %zu Kx sessions up, %zu KMA links, %zu routes, "
			 "%zu sessions supplied", m->kmd->cfg.name, up, m->kmd->n_peers, ls.n,
			 m->kmd->n_routes, m->kmd->cfg.n_sessions);
	} else {
		ret = -ENOENT;
	}
	free(ls.v);
	return ret;
}

/* Inventory (M_CONFIG) */

static void send_link_config(struct kmd_mgr *m, uint32_t peer, const struct links *ls)
{
	const struct link_info *l = link_to(ls, peer);
	char res[QKDN_ID_MAXLEN], info[QKDN_W_M_DESC_MAX];
	struct qkdn_wire_msg *msg;
	uint8_t state = diagnose_peer(m, peer, ls, info, sizeof(info));

	link_res(m, peer, res, sizeof(res));
	msg = qkdn_mgmt_begin(m->mg, QKDN_W_CMD_M_CONFIG, res);
	if (!msg)
		return;
	qkdn_wire_put_u8(msg, QKDN_W_M_RESOURCE_KIND, QKDN_W_RES_KM_LINK);
	qkdn_wire_put_u8(msg, QKDN_W_M_RESOURCE_STATE, state);
	qkdn_wire_put_str(msg, QKDN_W_M_RESOURCE_DESC, info);
	qkdn_wire_put_u32(msg, QKDN_W_PEER_NODE_ID, peer);
	if (l) {
		qkdn_wire_put_u32(msg, QKDN_W_M_LINK_ID, l->id);
		if (l->module[0])
			qkdn_wire_put_str(msg, QKDN_W_M_QKD_MODULE, l->module);
		if (l->peer_module[0])
			qkdn_wire_put_str(msg, QKDN_W_M_PEER_QKD_MODULE, l->peer_module);
		qkdn_wire_put_u64(msg, QKDN_W_KEY_AMOUNT, l->stored * l->unit);
	}
	qkdn_mgmt_send(m->mg, msg);
}

static void up_cb(void *arg)
{
	struct kmd_mgr *m = arg;
	char res[QKDN_ID_MAXLEN], desc[QKDN_W_M_DESC_MAX];
	struct qkdn_wire_msg *msg;
	struct links ls;

	links_get(m, &ls);
	snprintf(res, sizeof(res), "node-%u", self_id(m));
	msg = qkdn_mgmt_begin(m->mg, QKDN_W_CMD_M_CONFIG, res);
	if (msg) {
		snprintf(desc, sizeof(desc), "KM %s, Kx on %s, %zu neighbours, %zu routes, "
			 "%zu sessions, ETSI 014 %s", m->kmd->cfg.name, m->kmd->cfg.listen_str,
			 m->kmd->cfg.n_peers, m->kmd->n_routes, m->kmd->cfg.n_sessions,
			 m->kmd->cfg.etsi014.enabled ? m->kmd->cfg.etsi014.listen_str : "off");
		qkdn_wire_put_u8(msg, QKDN_W_M_RESOURCE_KIND, QKDN_W_RES_NODE);
		qkdn_wire_put_u8(msg, QKDN_W_M_RESOURCE_STATE, QKDN_W_STATE_IN_SERVICE);
		qkdn_wire_put_str(msg, QKDN_W_M_RESOURCE_DESC, desc);
		qkdn_mgmt_send(m->mg, msg);
	}
	for (size_t i = 0; i < m->kmd->n_peers; i++)
		send_link_config(m, m->kmd->peers[i].id, &ls);
	/* KMA links to nodes that are no [peer]: keys, but no Kx. */
	for (size_t i = 0; i < ls.n; i++)
		if (!kmd_peer_find(m->kmd, ls.v[i].peer))
			send_link_config(m, ls.v[i].peer, &ls);
	free(ls.v);
}

/* Key events: the pending list */

static struct pend *pend_add(struct kmd_mgr *m, uint8_t kind, uint8_t event)
{
	struct pend *p;

	if (m->n_pend - m->head >= MGR_PENDING_MAX) {
		m->pend_dropped++;
		return NULL;
	}
	p = qkdn_grow((void **)&m->pend, &m->n_pend, &m->cap, sizeof(*p));
	if (!p) {
		m->pend_dropped++;
		return NULL;
	}
	memset(p, 0, offsetof(struct pend, app));
	p->app[0] = p->other[0] = '\0';
	p->kind = kind;
	p->event = event;
	p->time_ms = qkdn_mgmt_now_ms();
	event_active(m->flush, EV_TIMEOUT, 0);
	return p;
}

static void key_event(struct kmd_mgr *m, uint8_t event, const uint8_t *id, uint32_t src,
		      uint32_t dst, uint32_t next_hop, uint32_t peer, uint64_t bits,
		      uint64_t time_ms)
{
	struct pend *p = pend_add(m, P_KEY, event);

	if (!p)
		return;
	memcpy(p->id, id, QKDN_KEY_ID_LEN);
	p->src = src;
	p->dst = dst;
	p->next_hop = next_hop;
	p->peer = peer;
	p->bits = bits;
	if (time_ms)
		p->time_ms = time_ms;
}

static void build(struct kmd_mgr *m, struct pend *p)
{
	uint32_t self = self_id(m), node = 0;
	char res[QKDN_ID_MAXLEN];
	struct qkdn_wire_msg *msg;

	if (p->other[0]) {
		node = sae_node(m, p->other);
		if (p->dec)
			p->src = node;
		else
			p->dst = node;
	}
	if (p->kind == P_ACCOUNT) {
		snprintf(res, sizeof(res), "sae-%.58s", p->app);
		msg = qkdn_mgmt_begin_at(m->mg, QKDN_W_CMD_M_ACCOUNT, res, p->time_ms);
		if (!msg)
			return;
		qkdn_wire_put_str(msg, QKDN_W_M_APP_ID, p->app);
		qkdn_wire_put_u64(msg, QKDN_W_M_KEY_COUNT, p->count);
		qkdn_wire_put_u64(msg, QKDN_W_M_KEY_BITS, p->bits);
		if (node && node != self) {
			qkdn_wire_put_u32(msg, QKDN_W_DEST_NODE_ID, node);
			/* Keys of a KMA link, not relayed ones. */
			if (kmd_peer_find(m->kmd, node))
				qkdn_wire_put_u32(msg, QKDN_W_PEER_NODE_ID, node);
		}
		m->stats.accounts++;
		qkdn_mgmt_send(m->mg, msg);
		return;
	}
	snprintf(res, sizeof(res), "node-%u", self);
	msg = qkdn_mgmt_begin_at(m->mg, QKDN_W_CMD_M_KEY_EVENT, res, p->time_ms);
	if (!msg)
		return;
	qkdn_wire_put_bin(msg, QKDN_W_KEY_ID, p->id, QKDN_KEY_ID_LEN);
	qkdn_wire_put_u8(msg, QKDN_W_M_KEY_EVENT, p->event);
	if (p->src)
		qkdn_wire_put_u32(msg, QKDN_W_SOURCE_NODE_ID, p->src);
	if (p->dst)
		qkdn_wire_put_u32(msg, QKDN_W_DEST_NODE_ID, p->dst);
	if (p->next_hop)
		qkdn_wire_put_u32(msg, QKDN_W_NEXT_HOP_NODE_ID, p->next_hop);
	if (p->peer)
		qkdn_wire_put_u32(msg, QKDN_W_PEER_NODE_ID, p->peer);
	if (p->app[0])
		qkdn_wire_put_str(msg, QKDN_W_M_APP_ID, p->app);
	if (p->bits)
		qkdn_wire_put_u64(msg, QKDN_W_M_KEY_BITS, p->bits);
	m->stats.key_events++;
	qkdn_mgmt_send(m->mg, msg);
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct kmd_mgr *m = arg;
	size_t n = 0;

	(void)fd;
	(void)what;
	while (m->head < m->n_pend && n++ < MGR_FLUSH_BATCH)
		build(m, &m->pend[m->head++]);
	if (m->head < m->n_pend) {
		event_active(m->flush, EV_TIMEOUT, 0);
		return;
	}
	m->head = m->n_pend = 0;
	if (m->cap > 4 * MGR_FLUSH_BATCH) {
		free(m->pend);
		m->pend = NULL;
		m->cap = 0;
	}
}

/* Kx frames (the layout: uapi qkdn.h, "Key relay (Kx)") */

struct kx_view {
	uint8_t type;
	uint32_t source, dest, hop_from, hop_to;
	uint64_t relay_id;
	uint16_t count, key_len, link_keys, hops;
	const uint8_t *entries;
	size_t entry_len;
};

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

static int kx_view(const uint8_t *f, size_t len, struct kx_view *v)
{
	size_t need;

	if (len < KX_HDR_LEN + KX_TAG_LEN || f[0] != 1)
		return -EBADMSG;
	v->type = f[1];
	v->source = be32(f + 4);
	v->dest = be32(f + 8);
	v->hop_from = be32(f + 12);
	v->hop_to = be32(f + 16);
	v->relay_id = be64(f + 20);
	v->count = be16(f + 44);
	v->key_len = be16(f + 46);
	v->link_keys = be16(f + 48);
	v->hops = be16(f + 50);
	v->entry_len = v->type == KX_SYNC || v->type == KX_SYNC_ACK ? KX_SYNC_ENTRY_LEN :
		       KX_ENTRY_LEN + (v->hops ? v->key_len : 0);
	v->entries = f + KX_HDR_LEN + (size_t)v->link_keys * QKDN_KEY_ID_LEN;
	need = KX_HDR_LEN + (size_t)v->link_keys * QKDN_KEY_ID_LEN +
	       (size_t)v->count * v->entry_len + KX_TAG_LEN;
	return need == len && v->count <= QKDN_RELAY_KEYS_MAX ? 0 : -EBADMSG;
}

static struct relay_rec *relay_lookup(struct kmd_mgr *m, uint32_t source, uint64_t relay_id)
{
	for (unsigned int i = 0; i < MGR_RELAYS_KEPT; i++)
		if (m->relays[i].relay_id == relay_id && m->relays[i].source == source)
			return &m->relays[i];
	return NULL;
}

static struct relay_rec *relay_note(struct kmd_mgr *m, const struct kx_view *v, uint32_t from)
{
	struct relay_rec *r = relay_lookup(m, v->source, v->relay_id);

	if (!r) {
		r = &m->relays[m->next_relay];
		m->next_relay = (m->next_relay + 1) % MGR_RELAYS_KEPT;
		memset(r, 0, offsetof(struct relay_rec, ids));
		r->source = v->source;
		r->relay_id = v->relay_id;
	}
	if (from)
		r->from = from;
	r->n = 0;
	for (uint16_t i = 0; i < v->count; i++)
		memcpy(r->ids[r->n++], v->entries + i * v->entry_len, QKDN_KEY_ID_LEN);
	return r;
}

/* Every key of a relay wiped here (ABORT). */
static void relay_deleted(struct kmd_mgr *m, uint32_t source, uint64_t relay_id, uint32_t dest)
{
	struct relay_rec *r = relay_lookup(m, source, relay_id);

	if (!r)
		return;
	for (uint16_t i = 0; i < r->n; i++)
		key_event(m, QKDN_W_KEY_DELETED, r->ids[i], source, dest, 0, 0, 0, 0);
	r->n = 0;
}

void kmd_mgr_frame(struct kmd *kmd, uint32_t neighbour, const void *frame, size_t len, bool out)
{
	struct kmd_mgr *m = kmd->mgr;
	uint32_t self;
	struct kx_view v;

	if (!m || kx_view(frame, len, &v))
		return;
	self = self_id(m);
	if (v.type == KX_RELAY) {
		uint64_t bits = (uint64_t)v.key_len * 8;

		if (!out && v.dest != self) {
			relay_note(m, &v, neighbour);	/* relayed on when it leaves */
			return;
		}
		struct relay_rec *r = relay_note(m, &v, 0);

		for (uint16_t i = 0; i < v.count; i++) {
			const uint8_t *e = v.entries + i * v.entry_len;

			if (!out) {
				key_event(m, QKDN_W_KEY_RECEIVED, e, v.source, v.dest, 0,
					  neighbour, bits, 0);
				continue;
			}
			/* The first frame of a relay: the key was a KMA-key of
			 * the link to the first hop, made when its QKD-key came. */
			if (v.source == self && v.hops == 0)
				key_event(m, QKDN_W_KEY_GENERATED, e, v.source, v.dest, 0, 0,
					  bits, be64(e + QKDN_KEY_ID_LEN) / 1000000);
			key_event(m, QKDN_W_KEY_RELAYED, e, v.source, v.dest, neighbour,
				  v.source == self ? 0 : r->from, bits, 0);
		}
		return;
	}
	if (v.type == KX_ABORT && ((out && v.source == self) || (!out && v.dest == self)))
		relay_deleted(m, v.source, v.relay_id, v.dest);
	else if (v.type == KX_ACK && !out && v.dest == self)
		/* v.source acknowledged a relay of ours: relaying there works. */
		clear_alarm(m, alarm_id(QKDN_W_ALARM_RELAY_FAILED, v.source, false), 0, v.source);
}

/* Key supply (ETSI GS QKD 014) */

void kmd_mgr_supplied(struct kmd *kmd, const char *sae, const char *peer_sae, bool dec,
		      const char *json, size_t len, uint32_t n_keys)
{
	static const char tag[] = "\"key_ID\":\"";
	struct kmd_mgr *m = kmd->mgr;
	const char *p = json, *end = json + len;
	uint64_t bits = 0, total = 0;
	struct pend *a;

	if (!m || !n_keys)
		return;
	while ((p = memmem(p, (size_t)(end - p), tag, sizeof(tag) - 1))) {
		char uuid[QKDN_UUID_STRLEN + 1];
		uint8_t id[QKDN_KEY_ID_LEN];
		const char *k, *q;
		struct pend *e;

		p += sizeof(tag) - 1;
		if (end - p < QKDN_UUID_STRLEN)
			break;
		memcpy(uuid, p, QKDN_UUID_STRLEN);
		uuid[QKDN_UUID_STRLEN] = '\0';
		/* ,"key":"<base64>": its length gives the bits. */
		k = memmem(p, (size_t)(end - p), "\"key\":\"", 7);
		q = k ? memchr(k + 7, '"', (size_t)(end - k - 7)) : NULL;
		if (q) {
			size_t b64 = (size_t)(q - k - 7);

			bits = (b64 / 4 * 3 - (b64 && q[-1] == '=') - (b64 > 1 && q[-2] == '=')) * 8;
		}
		total += bits;
		if (qkdn_uuid_parse(id, uuid) < 0)
			continue;
		e = pend_add(m, P_KEY, QKDN_W_KEY_SUPPLIED);
		if (!e)
			continue;
		memcpy(e->id, id, QKDN_KEY_ID_LEN);
		e->bits = bits;
		e->dec = dec;
		if (dec)
			e->dst = self_id(m);
		else
			e->src = self_id(m);
		snprintf(e->app, sizeof(e->app), "%s", sae);
		snprintf(e->other, sizeof(e->other), "%s", peer_sae);
		/* Fetched by ID: the encrypting end took its copy first, so
		 * this was the last one. */
		if (dec) {
			struct pend *d = pend_add(m, P_KEY, QKDN_W_KEY_DELETED);

			if (d) {
				memcpy(d->id, id, QKDN_KEY_ID_LEN);
				d->dec = true;
				d->dst = self_id(m);
				snprintf(d->other, sizeof(d->other), "%s", peer_sae);
			}
		}
	}
	a = pend_add(m, P_ACCOUNT, 0);
	if (!a)
		return;
	a->count = n_keys;
	a->bits = total;
	a->dec = dec;
	snprintf(a->app, sizeof(a->app), "%s", sae);
	snprintf(a->other, sizeof(a->other), "%s", peer_sae);
}

/* Events of the daemon */

void kmd_mgr_peer(struct kmd *kmd, struct kmd_peer *peer, bool up, const char *reason)
{
	struct kmd_mgr *m = kmd->mgr;
	struct peer_state *ps;
	char res[QKDN_ID_MAXLEN], desc[QKDN_W_M_DESC_MAX];
	uint64_t id;
	struct links ls;

	if (!m)
		return;
	ps = peer_state(m, peer);
	ps->since_ms = qkdn_mgmt_now_ms();
	id = alarm_id(QKDN_W_ALARM_KM_LINK_DOWN, peer->id, false);
	link_res(m, peer->id, res, sizeof(res));
	if (up) {
		clear_alarm(m, id, peer->id, 0);
	} else {
		ps->downs++;
		snprintf(ps->reason, sizeof(ps->reason), "%s", reason ? reason : "unknown");
		snprintf(desc, sizeof(desc), "Kx session to node %u (%s) lost: %s", peer->id,
			 peer->conf->address_str, ps->reason);
		raise_alarm(m, res, QKDN_W_ALARM_KM_LINK_DOWN, id, QKDN_W_SEV_MAJOR, ps->downs,
			    desc, peer->id, 0);
	}
	links_get(m, &ls);
	send_link_config(m, peer->id, &ls);
	free(ls.v);
}

void kmd_mgr_module_alarm(struct kmd *kmd, uint32_t alarm, uint32_t peer, uint32_t dest,
			  uint64_t relay_id, uint64_t value)
{
	struct kmd_mgr *m = kmd->mgr;
	char res[QKDN_ID_MAXLEN], desc[QKDN_W_M_DESC_MAX], why[QKDN_W_M_DESC_MAX - 100];
	struct links ls;

	if (!m)
		return;
	switch (alarm) {
	case QKDN_ALARM_POOL_LOW:
		link_res(m, peer, res, sizeof(res));
		snprintf(desc, sizeof(desc), "key pool of the link to node %u below its low "
			 "watermark: %" PRIu64 " keys left to hand out", peer, value);
		raise_alarm(m, res, QKDN_W_ALARM_POOL_LOW,
			    alarm_id(QKDN_W_ALARM_POOL_LOW, peer, false), QKDN_W_SEV_MINOR, value,
			    desc, peer, 0);
		break;
	case QKDN_ALARM_POOL_LOW_CLEARED:
		clear_alarm(m, alarm_id(QKDN_W_ALARM_POOL_LOW, peer, false), peer, 0);
		break;
	case QKDN_ALARM_RELAY_FAILED:
		m->relays_failed++;
		route_res(m, dest, res, sizeof(res));
		links_get(m, &ls);
		diagnose_route(m, dest, &ls, why, sizeof(why));
		free(ls.v);
		snprintf(desc, sizeof(desc), "relay %016" PRIx64 " to node %u abandoned: no "
			 "acknowledgment within the relay timeout; %s", relay_id, dest, why);
		raise_alarm(m, res, QKDN_W_ALARM_RELAY_FAILED,
			    alarm_id(QKDN_W_ALARM_RELAY_FAILED, dest, false), QKDN_W_SEV_MAJOR,
			    m->relays_failed, desc, 0, dest);
		break;
	case QKDN_ALARM_KSA_MISMATCH: {
		struct qkdn_wire_msg *msg;

		if (kmd_peer_find(kmd, dest))
			link_res(m, dest, res, sizeof(res));
		else
			store_res(m, dest, res, sizeof(res));
		snprintf(desc, sizeof(desc), "KSA synchronisation: keys differ from node %u's "
			 "copies (or are missing there); wiped at both ends", dest);
		raise_alarm(m, res, QKDN_W_ALARM_KEY_GEN_FAILURE,
			    alarm_id(QKDN_W_ALARM_KEY_GEN_FAILURE, dest, false), QKDN_W_SEV_MAJOR,
			    1, desc, 0, dest);
		msg = qkdn_mgmt_begin(m->mg, QKDN_W_CMD_M_SECURITY, res);
		if (msg) {
			qkdn_wire_put_u16(msg, QKDN_W_M_SEC_EVENT, QKDN_W_SEC_KEYS_DISCARDED);
			qkdn_wire_put_str(msg, QKDN_W_M_ALARM_DESC, desc);
			qkdn_wire_put_u32(msg, QKDN_W_PEER_NODE_ID, dest);
			qkdn_mgmt_send(m->mg, msg);
		}
		break;
	}
	}
}

void kmd_mgr_route(struct kmd *kmd, const struct kmd_route *r, enum qkdn_wire_resil_op op,
		   uint32_t from, uint32_t to)
{
	struct kmd_mgr *m = kmd->mgr;
	char res[QKDN_ID_MAXLEN], working[QKDN_ID_MAXLEN], prot[QKDN_ID_MAXLEN];
	char desc[QKDN_W_M_DESC_MAX];
	struct qkdn_wire_msg *msg;
	uint64_t id;

	if (!m)
		return;
	route_res(m, r->dest, res, sizeof(res));
	id = alarm_id(QKDN_W_ALARM_ROUTE_DOWN, r->dest, false);
	if (!to) {
		/* Withdrawn: no next hop left. */
		snprintf(desc, sizeof(desc), "route to node %u withdrawn: next hop %u failed and "
			 "there is no protection to switch to", r->dest, from);
		raise_alarm(m, res, QKDN_W_ALARM_ROUTE_DOWN, id, QKDN_W_SEV_MAJOR, from, desc, 0,
			    r->dest);
		return;
	}
	clear_alarm(m, id, 0, r->dest);
	if (!op)
		return;
	snprintf(working, sizeof(working), "route-%u-%u via %u", self_id(m), r->dest, from);
	snprintf(prot, sizeof(prot), "route-%u-%u via %u", self_id(m), r->dest, to);
	msg = qkdn_mgmt_begin(m->mg, QKDN_W_CMD_M_RESILIENCE, res);
	if (!msg)
		return;
	qkdn_wire_put_u8(msg, QKDN_W_M_RESIL_KIND, QKDN_W_RESIL_ROUTE);
	qkdn_wire_put_u8(msg, QKDN_W_M_RESIL_OP, (uint8_t)op);
	qkdn_wire_put_str(msg, QKDN_W_M_WORKING, working);
	qkdn_wire_put_str(msg, QKDN_W_M_PROTECTION, prot);
	qkdn_wire_put_u32(msg, QKDN_W_DEST_NODE_ID, r->dest);
	if (r->session_id)
		qkdn_wire_put_u64(msg, QKDN_W_SESSION_ID, r->session_id);
	qkdn_mgmt_send(m->mg, msg);
}

/* Performance (M_PERF), every report-ms */

static struct prev *prev_of(struct kmd_mgr *m, uint32_t key, bool *fresh)
{
	struct prev *p;

	for (size_t i = 0; i < m->n_prev; i++)
		if (m->prev[i].key == key) {
			*fresh = false;
			return &m->prev[i];
		}
	p = qkdn_grow((void **)&m->prev, &m->n_prev, &m->prev_cap, sizeof(*p));
	*fresh = true;
	if (p)
		p->key = key;
	return p;
}

/* Per second over period_ms. */
static uint64_t rate(uint64_t now, uint64_t before, uint64_t per, uint64_t period_ms)
{
	return now > before && period_ms ? (now - before) * per * 1000 / period_ms : 0;
}

static void store_alarms(struct kmd_mgr *m, const struct stores *ss)
{
	const struct qkdn_kmd_config *cfg = &m->kmd->cfg;

	for (size_t i = 0; i < cfg->n_sessions; i++) {
		const struct qkdn_kmd_session_conf *s = &cfg->sessions[i];
		uint64_t own = 0, id = alarm_id(QKDN_W_ALARM_POOL_LOW, s->dest, true);
		char res[QKDN_ID_MAXLEN], desc[QKDN_W_M_DESC_MAX];

		for (size_t j = 0; j < ss->n; j++)
			if (ss->v[j].node == s->dest)
				own = ss->v[j].own;
		if (own * 2 >= s->keep) {
			m->store_filled[i] = true;
			clear_alarm(m, id, 0, s->dest);
		} else if (own * 4 < s->keep && m->store_filled[i]) {
			/* Only a store that was filled once: starting is not low. */
			store_res(m, s->dest, res, sizeof(res));
			snprintf(desc, sizeof(desc), "store of keys for node %u low: %" PRIu64
				 " of the %u kept", s->dest, own, s->keep);
			raise_alarm(m, res, QKDN_W_ALARM_POOL_LOW, id, QKDN_W_SEV_MINOR, own, desc,
				    0, s->dest);
		}
	}
}

static void report_cb(evutil_socket_t fd, short what, void *arg)
{
	struct kmd_mgr *m = arg;
	uint64_t now = qkdn_mgmt_now_ms(), period = now - m->last_report_ms;
	char res[QKDN_ID_MAXLEN];
	struct relay_stats rs;
	struct stores ss;
	struct links ls;
	bool fresh;

	(void)fd;
	(void)what;
	m->last_report_ms = now;
	/* A KSA mismatch alarm ends after a period without another. */
	for (size_t i = 0; i < m->n_alarms; i++) {
		struct active *a = &m->alarms[i];

		if (a->type == QKDN_W_ALARM_KEY_GEN_FAILURE && now - a->touched_ms >= period) {
			clear_alarm(m, a->id, 0, (uint32_t)(a->id >> 8));
			i--;
		}
	}
	if (!links_get(m, &ls)) {
		for (size_t i = 0; i < ls.n; i++) {
			const struct link_info *l = &ls.v[i];
			struct prev *p = prev_of(m, l->id, &fresh);

			link_res(m, l->peer, res, sizeof(res));
			qkdn_mgmt_perf(m->mg, res, QKDN_W_PERF_KEY_AMOUNT, res, l->stored * l->unit,
				       l->peer);
			if (p && !fresh) {
				qkdn_mgmt_perf(m->mg, res, QKDN_W_PERF_KEY_RATE, res,
					       rate(l->generated, p->in, l->unit * 8ULL, period),
					       l->peer);
				qkdn_mgmt_perf(m->mg, res, QKDN_W_PERF_CONSUMPTION, res,
					       rate(l->consumed, p->out, l->unit, period), l->peer);
			}
			if (p) {
				p->in = l->generated;
				p->out = l->consumed;
			}
		}
	}
	free(ls.v);
	if (!stores_get(m, &ss)) {
		store_alarms(m, &ss);
		for (size_t i = 0; i < ss.n; i++) {
			const struct store_info *s = &ss.v[i];
			struct prev *p = prev_of(m, s->node | 1U << 31, &fresh);
			uint64_t bytes = QKDN_KMD_SESSION_BITS_DEFAULT / 8;

			for (size_t j = 0; j < m->kmd->cfg.n_sessions; j++)
				if (m->kmd->cfg.sessions[j].dest == s->node)
					bytes = m->kmd->cfg.sessions[j].key_bits / 8;
			store_res(m, s->node, res, sizeof(res));
			qkdn_mgmt_perf(m->mg, res, QKDN_W_PERF_KEY_AMOUNT, res,
				       (s->own + s->peer_stored) * bytes, 0);
			if (p && !fresh) {
				qkdn_mgmt_perf(m->mg, res, QKDN_W_PERF_KEY_RATE, res,
					       rate(s->relayed_out + s->relayed_in, p->in,
						    bytes * 8, period), 0);
				qkdn_mgmt_perf(m->mg, res, QKDN_W_PERF_CONSUMPTION, res,
					       rate(s->consumed, p->out, bytes, period), 0);
			}
			if (p) {
				p->in = s->relayed_out + s->relayed_in;
				p->out = s->consumed;
			}
		}
	}
	free(ss.v);
	if (!relay_stats_get(m, &rs)) {
		snprintf(res, sizeof(res), "node-%u", self_id(m));
		qkdn_mgmt_perf(m->mg, res, QKDN_W_PERF_RELAYS_STARTED, res, rs.started, 0);
		qkdn_mgmt_perf(m->mg, res, QKDN_W_PERF_RELAYS_COMPLETED, res, rs.completed, 0);
		qkdn_mgmt_perf(m->mg, res, QKDN_W_PERF_RELAYS_FAILED, res, rs.failed, 0);
	}
}

/* Start and stop */

int kmd_mgr_start(struct kmd *kmd)
{
	static char cn[QKDN_ID_MAXLEN], host[64];
	const struct qkdn_mgmt_conf *conf = &kmd->cfg.manager;
	struct qkdn_mgmt_ident ident = {
		.sender_id = kmd->cfg.node_id, .kind = QKDN_W_AGENT_KM, .cn = cn,
		.hostname = host, .requestor = "KM",
	};
	struct qkdn_mgmt_handlers h = { .up = up_cb, .diag = diag_cb };
	struct timeval tv = { conf->report_ms / 1000, (conf->report_ms % 1000) * 1000 };
	struct kmd_mgr *m;
	char err[512];

	if (!conf->enabled)
		return 0;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	kmd->mgr = m;
	m->kmd = kmd;
	h.arg = m;
	m->peers = calloc(kmd->n_peers + 1, sizeof(*m->peers));
	m->store_filled = calloc(kmd->cfg.n_sessions + 1, sizeof(*m->store_filled));
	m->msg = qkdn_nl_msg_new(QKDN_CMD_LINK_GET, 0);
	m->flush = event_new(kmd->base, -1, 0, flush_cb, m);
	m->report = event_new(kmd->base, -1, EV_PERSIST, report_cb, m);
	if (!m->peers || !m->store_filled || !m->msg || !m->flush || !m->report)
		return -ENOMEM;
	m->last_report_ms = qkdn_mgmt_now_ms();
	snprintf(cn, sizeof(cn), "qkdn-node-%u", kmd->cfg.node_id);
	snprintf(host, sizeof(host), "%s", kmd->cfg.name);
	m->mg = qkdn_mgmt_new(kmd->base, conf, &ident, &h, err, sizeof(err));
	if (!m->mg) {
		qkdn_log(QKDN_LOG_ERR, "cannot set up the manager connection",
			 "event=start-failed manager=%s err=\"%s\"", conf->address_str, err);
		return -EINVAL;
	}
	if (evtimer_add(m->report, &tv))
		return -ENOMEM;
	qkdn_log(QKDN_LOG_INFO, "reporting to the manager", "event=manager manager=%s cn=%s "
		 "report_ms=%u", conf->address_str, cn, conf->report_ms);
	return 0;
}

void kmd_mgr_log_stats(struct kmd *kmd, const char *why)
{
	struct kmd_mgr *m = kmd->mgr;
	struct qkdn_mgmt_stats st;

	if (!m || !m->mg)
		return;
	qkdn_mgmt_get_stats(m->mg, &st);
	qkdn_log(QKDN_LOG_INFO, "manager counters",
		 "event=stats why=%s api=manager up=%d key_events=%" PRIu64 " accounts=%" PRIu64
		 " alarms=%" PRIu64 " pending=%zu pending_dropped=%" PRIu64 " next_seq=%" PRIu64
		 " acked_seq=%" PRIu64 " sent=%" PRIu64 " resent=%" PRIu64 " acked=%" PRIu64
		 " queued=%zu dropped=%" PRIu64 " busy=%" PRIu64 " connects=%" PRIu64,
		 why, st.up, m->stats.key_events, m->stats.accounts, m->stats.alarms,
		 m->n_pend - m->head, m->pend_dropped, st.next_seq, st.acked_seq, st.sent,
		 st.resent, st.acked, st.queued, st.dropped, st.busy, st.connects);
}

void kmd_mgr_free(struct kmd *kmd)
{
	struct kmd_mgr *m = kmd->mgr;

	if (!m)
		return;
	if (m->report)
		event_free(m->report);
	if (m->flush)
		event_free(m->flush);
	qkdn_mgmt_free(m->mg);
	qkdn_nl_msg_free(m->msg);
	free(m->pend);
	free(m->prev);
	free(m->peers);
	free(m->store_filled);
	free(m);
	kmd->mgr = NULL;
}
