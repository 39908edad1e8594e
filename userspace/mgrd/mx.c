// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Mx (seed 001 I.8): two managers of one network, for instance each
 * managing part of the nodes, or a primary and a standby. Each shows the
 * whole network: what its own agents report (alarms, inventory,
 * performance figures, security and resilience records) it forwards to
 * the peer, and it stores what the peer forwards with the peer's name as
 * origin.
 *
 * The transport is the agents' (wire.h "Management", lib/mgmt.c): this
 * manager is an agent of kind QKDN_W_AGENT_MGR of its peer, certificate
 * CN "qkdn-mgr-<our name>", and the peer's agents.c takes our
 * notifications as it takes any agent's: in order, stored, then
 * acknowledged. What makes it survive a kill -9 of either manager:
 *
 *   - sending: a forwarded notification is written to the outbox table
 *     (mx_out) in the transaction that stores it here, numbered 1, 2, ...
 *     in an epoch kept in the database (mx_state), and handed to
 *     lib/mgmt.c only once committed, under the same number. After a
 *     restart the outbox is fed again from its first row: the peer's
 *     M_AUTH answer says what it has, the rest goes again;
 *   - receiving: agents.c, as for any agent (the peer's epoch and
 *     sequence under its Mx CN in the agents table).
 *
 * Rows the peer acknowledged are trimmed (the last one stays: it carries
 * the numbering across a restart). Loops cannot happen: only what our
 * own agents sent is forwarded, and a notification whose origin is a
 * manager is refused.
 *
 * Requests across the boundary (I.8.1): the peer may send M_DIAG for a
 * resource on our Mx connection; we answer with its state in our
 * inventory (our own agents' resources only). GET /api/v1/mx/status/RES
 * asks the peer the same way.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "log.h"
#include "mgmt.h"
#include "store.h"
#include "tls.h"
#include "util.h"

#define MX_TICK_MS	100
#define MX_TRIM_TICKS	10	/* trim acknowledged rows every second */
#define MX_FEED_MAX	4096	/* rows handed to lib/mgmt.c per feed */

struct mgrd_mx {
	struct mgrd *m;
	struct qkdn_mgmt *mg;
	char cn[QKDN_ID_MAXLEN + sizeof(QKDN_W_MX_CN_PREFIX)];	/* ours on Mx */
	char peer_cn[QKDN_ID_MAXLEN + sizeof(QKDN_W_MX_CN_PREFIX)];
	uint64_t epoch;
	uint64_t next_seq;		/* the next outbox row (open transaction) */
	uint64_t committed_next;	/* the next after the last committed row */
	uint64_t fed_next;		/* the next row to hand to lib/mgmt.c */
	uint64_t trimmed;
	struct event *tick;
	unsigned int ticks;
	bool broken;			/* numbering out of step: logged once */
	uint64_t forwarded, learned, outbox_errors;
};

static bool forwarded_cmd(uint16_t cmd)
{
	return cmd == QKDN_W_CMD_M_ALARM || cmd == QKDN_W_CMD_M_PERF ||
	       cmd == QKDN_W_CMD_M_CONFIG || cmd == QKDN_W_CMD_M_SECURITY ||
	       cmd == QKDN_W_CMD_M_RESILIENCE;
}

/* Every attribute of tb but the common items, M_SEQ and (unless
 * keep_origin) the origin, into msg, as the policy types them. */
static void copy_attrs(struct qkdn_wire_msg *msg, uint16_t cmd, const struct nlattr *const *tb,
		       bool keep_origin)
{
	const struct qkdn_wire_attr_policy *pol = qkdn_wire_mgmt_policy.cmds[cmd].command;

	for (uint16_t t = QKDN_W_REASON + 1; t <= QKDN_W_MAX; t++) {
		const struct nlattr *a = tb[t];

		if (!a || t == QKDN_W_M_SEQ)
			continue;
		if (!keep_origin && (t == QKDN_W_M_ORIGIN_AGENT || t == QKDN_W_M_ORIGIN_EVENT))
			continue;
		switch (pol[t].type) {
		case QKDN_WT_U8: qkdn_wire_put_u8(msg, t, qkdn_wire_get_u8(a)); break;
		case QKDN_WT_U16: qkdn_wire_put_u16(msg, t, qkdn_wire_get_u16(a)); break;
		case QKDN_WT_U32: qkdn_wire_put_u32(msg, t, qkdn_wire_get_u32(a)); break;
		case QKDN_WT_U64: qkdn_wire_put_u64(msg, t, qkdn_wire_get_u64(a)); break;
		case QKDN_WT_STRING: qkdn_wire_put_str(msg, t, qkdn_wire_get_str(a)); break;
		default:
			qkdn_wire_put_bin(msg, t, qkdn_wire_get_bin(a), qkdn_wire_get_len(a));
		}
	}
}

void mgrd_mx_forward(struct mgrd *m, const struct mgrd_event *ev)
{
	struct mgrd_mx *x = m->mx;
	struct qkdn_wire_msg *msg;
	const void *bytes;
	size_t len;
	int ret;

	if (!x || ev->origin || !forwarded_cmd(ev->cmd))
		return;
	msg = qkdn_wire_msg_new(ev->cmd, m->cfg.id);
	if (!msg) {
		ret = -ENOMEM;
		goto fail;
	}
	copy_attrs(msg, ev->cmd, ev->tb, false);
	qkdn_wire_put_u64(msg, QKDN_W_M_SEQ, x->next_seq);
	qkdn_wire_put_str(msg, QKDN_W_M_ORIGIN_AGENT, ev->agent);
	qkdn_wire_put_u64(msg, QKDN_W_M_ORIGIN_EVENT, ev->id);
	ret = qkdn_wire_msg_finish(msg, &bytes, &len);
	if (!ret)
		ret = m->store->ops->mx_out_add(m->store, x->next_seq, bytes, len);
	qkdn_wire_msg_free(msg);
	if (!ret) {
		x->next_seq++;
		return;
	}
fail:
	x->outbox_errors++;
	qkdn_log(QKDN_LOG_ERR, "not forwarded to the peer manager", "event=mx-outbox-failed "
		 "agent=%s event_id=%" PRIu64 " error=\"%s\"", ev->agent, ev->id, strerror(-ret));
}

/* Hands committed outbox rows to lib/mgmt.c, in order, while its queue
 * has room: its numbering and the outbox's stay equal. */
static void feed(struct mgrd_mx *x)
{
	struct mgrd *m = x->m;
	struct qkdn_mgmt_stats st;
	unsigned int n = 0;

	if (x->broken)
		return;
	qkdn_mgmt_get_stats(x->mg, &st);
	while (x->fed_next < x->committed_next && st.queued < m->cfg.mx.queue_max &&
	       n++ < MX_FEED_MAX) {
		const struct nlattr *tb[QKDN_W_MAX + 1];
		struct qkdn_wire_hdr hdr;
		struct qkdn_wire_msg *msg;
		void *body;
		size_t len;
		int ret;

		if (st.next_seq != x->fed_next) {
			x->broken = true;
			qkdn_log(QKDN_LOG_ERR, "Mx numbering out of step: forwarding stopped",
				 "event=mx-broken outbox=%" PRIu64 " sender=%" PRIu64, x->fed_next,
				 st.next_seq);
			return;
		}
		ret = m->store->ops->mx_out_get(m->store, x->fed_next, &body, &len);
		if (ret)
			return;		/* logged by the store; again next tick */
		ret = qkdn_wire_parse(body, len, &qkdn_wire_mgmt_policy, tb, &hdr);
		msg = ret ? NULL : qkdn_wire_msg_new(hdr.cmd, m->cfg.id);
		if (msg) {
			copy_attrs(msg, hdr.cmd, tb, true);
			ret = qkdn_mgmt_send(x->mg, msg);
		} else {
			ret = ret ? ret : -ENOMEM;
		}
		free(body);
		if (ret) {
			qkdn_log(QKDN_LOG_ERR, "outbox row not sent", "event=mx-feed-failed seq=%"
				 PRIu64 " error=\"%s\"", x->fed_next, ret == -ENOMEM ?
				 "out of memory" : hdr.error);
			if (ret == -ENOMEM)
				return;
			/* A row that does not parse would stop everything
			 * behind it: it cannot be sent, and is counted. */
			x->outbox_errors++;
			x->broken = true;
			return;
		}
		x->fed_next++;
		qkdn_mgmt_get_stats(x->mg, &st);
	}
}

void mgrd_mx_commit(struct mgrd *m, bool committed)
{
	struct mgrd_mx *x = m->mx;

	if (!x)
		return;
	if (!committed) {
		x->next_seq = x->committed_next;
		return;
	}
	x->forwarded += x->next_seq - x->committed_next;
	x->committed_next = x->next_seq;
	feed(x);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mgrd_mx *x = arg;
	struct qkdn_mgmt_stats st;

	(void)fd;
	(void)what;
	feed(x);
	if (++x->ticks % MX_TRIM_TICKS)
		return;
	qkdn_mgmt_get_stats(x->mg, &st);
	if (st.acked_seq > x->trimmed && !mgrd_txn(x->m) &&
	    !x->m->store->ops->mx_out_trim(x->m->store, st.acked_seq))
		x->trimmed = st.acked_seq;
}

/* The peer asks for one of our resources (I.8.1): its state in our
 * inventory. */
static int diag_cb(void *arg, const char *resource, uint8_t *state, char *info, size_t info_len)
{
	struct mgrd_mx *x = arg;
	json_t *inv = x->m->store->ops->inventory(x->m->store), *alarms, *r, *a;
	unsigned int active = 0;
	uint8_t kind;
	size_t i, j;
	int ret = -ENOENT;

	json_array_foreach(inv, i, r) {
		if (strcmp(json_string_value(json_object_get(r, "resource")) ?: "", resource) ||
		    json_is_string(json_object_get(r, "origin")))
			continue;
		alarms = x->m->store->ops->alarms(x->m->store, true);
		json_array_foreach(alarms, j, a)
			if (!strcmp(json_string_value(json_object_get(a, "resource")) ?: "",
				    resource) && !json_is_string(json_object_get(a, "origin")))
				active++;
		json_decref(alarms);
		*state = (uint8_t)json_integer_value(json_object_get(r, "state"));
		kind = (uint8_t)json_integer_value(json_object_get(r, "kind"));
		snprintf(info, info_len, "manager %s: kind %s node %lld updated_ms %lld, "
			 "active alarms %u", x->m->cfg.name, mgrd_res_kind_name(kind),
			 (long long)json_integer_value(json_object_get(r, "node")),
			 (long long)json_integer_value(json_object_get(r, "updated_ms")), active);
		ret = *state ? 0 : -ENOENT;
		break;
	}
	json_decref(inv);
	qkdn_log(QKDN_LOG_INFO, "Mx request answered", "event=mx-diag resource=%s found=%s",
		 resource, ret ? "no" : "yes");
	return ret;
}

static void up_cb(void *arg)
{
	struct mgrd_mx *x = arg;
	struct qkdn_mgmt_stats st;

	qkdn_mgmt_get_stats(x->mg, &st);
	qkdn_log(QKDN_LOG_INFO, "Mx up", "event=mx-up peer=%s address=%s epoch=%" PRIu64
		 " peer_has=%" PRIu64 " outbox_last=%" PRIu64, x->m->cfg.mx_peer,
		 x->m->cfg.mx.address_str, x->epoch, st.acked_seq, x->committed_next - 1);
	/* Our database older than what the peer has of this epoch (restored
	 * from a backup): what we forward next it would take for repeats. */
	if (st.acked_seq >= x->committed_next)
		qkdn_log(QKDN_LOG_ERR, "the peer has more of our Mx epoch than our outbox",
			 "event=mx-epoch-behind peer_has=%" PRIu64 " outbox_last=%" PRIu64
			 " remedy=\"delete the mx_state row: a new epoch\"", st.acked_seq,
			 x->committed_next - 1);
	feed(x);
}

int mgrd_mx_peer_ok(struct mgrd *m, const char *cn, char *why, size_t why_len)
{
	if (!m->mx) {
		snprintf(why, why_len, "certificate CN \"%s\" is a manager's (Mx), and Mx is not "
			 "configured here ([mx] peer)", cn);
		return -EPERM;
	}
	if (strcmp(cn, m->mx->peer_cn)) {
		snprintf(why, why_len, "certificate CN \"%s\" is not the Mx peer's (%s)", cn,
			 m->mx->peer_cn);
		return -EPERM;
	}
	return 0;
}

int mgrd_mx_origin(struct mgrd *m, const char *via, const struct nlattr *const *tb,
		   struct mgrd_event *ev, char *why, size_t why_len)
{
	const char *cn = tb[QKDN_W_M_ORIGIN_AGENT] ? qkdn_wire_get_str(tb[QKDN_W_M_ORIGIN_AGENT])
						   : NULL;
	const char *p;

	if (!cn) {
		snprintf(why, why_len, "Mx: M_ORIGIN_AGENT missing");
		return -EPROTO;
	}
	ev->node = 0;
	if (!strcmp(cn, QKDN_TLS_CN_CONTROLLER)) {
		ev->kind = QKDN_W_AGENT_CTL;
	} else if (!qkdn_tls_cn_node_id(cn, &ev->node)) {
		ev->kind = QKDN_W_AGENT_KM;
	} else if (p = cn + strlen(QKDN_W_QKD_CN_PREFIX),
		   !strncmp(cn, QKDN_W_QKD_CN_PREFIX, strlen(QKDN_W_QKD_CN_PREFIX)) && *p != '0' &&
		   !qkdn_parse_u32(p, 1, QKDN_NODE_ID_MAX, &ev->node)) {
		ev->kind = QKDN_W_AGENT_QKD;
	} else {
		/* A manager's CN included: nothing travels two hops. */
		snprintf(why, why_len, "Mx: M_ORIGIN_AGENT \"%s\" is no agent's CN", cn);
		return -EPROTO;
	}
	ev->agent = cn;
	ev->origin = m->cfg.mx_peer;
	ev->via = via;
	return 0;
}

void mgrd_mx_learned(struct mgrd *m, const struct mgrd_event *ev)
{
	uint64_t row;

	if (m->mx)
		m->mx->learned++;
	if (ev->cmd != QKDN_W_CMD_M_ALARM)
		return;		/* stored in its table by put_event */
	/* The origin manager diagnoses, correlates and decides: here the
	 * alarm is recorded and shown. */
	if (qkdn_wire_get_u8(ev->tb[QKDN_W_M_SEVERITY]) == QKDN_W_SEV_CLEARED)
		m->store->ops->alarm_clear(m->store, ev, &row);
	else
		m->store->ops->alarm_raise(m->store, ev, &row);
}

int mgrd_mx_request_status(struct mgrd *m, const char *resource, mgrd_answer_cb done, void *arg)
{
	struct mgrd_agent *peer = m->mx ? mgrd_agent_find(m, m->mx->peer_cn) : NULL;
	struct qkdn_wire_msg *req;

	if (!peer)
		return -ENOTCONN;
	req = qkdn_wire_msg_new(QKDN_W_CMD_M_DIAG, m->cfg.id);
	if (req)
		qkdn_wire_put_str(req, QKDN_W_M_RESOURCE_ID, resource);
	return mgrd_agent_request(peer, req, MGRD_DIAG_TIMEOUT_MS * 2, done, arg);
}

json_t *mgrd_mx_json(struct mgrd *m)
{
	struct mgrd_mx *x = m->mx;
	struct qkdn_mgmt_stats st;

	if (!x)
		return json_pack("{s:b}", "configured", 0);
	qkdn_mgmt_get_stats(x->mg, &st);
	return json_pack("{s:b, s:s, s:s, s:s, s:{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I},"
			 " s:{s:b, s:I}}",
			 "configured", 1, "name", m->cfg.name, "peer", m->cfg.mx_peer,
			 "address", m->cfg.mx.address_str,
			 "out", "up", st.up, "epoch", (json_int_t)x->epoch,
			 "outbox_last", (json_int_t)(x->committed_next - 1),
			 "acked", (json_int_t)st.acked_seq, "queued", (json_int_t)st.queued,
			 "sent", (json_int_t)st.sent, "resent", (json_int_t)st.resent,
			 "connects", (json_int_t)st.connects,
			 "errors", (json_int_t)x->outbox_errors,
			 "in", "up", mgrd_agent_find(m, x->peer_cn) != NULL,
			 "learned", (json_int_t)x->learned);
}

int mgrd_mx_start(struct mgrd *m)
{
	struct mgrd_mx *x;
	struct qkdn_mgmt_ident ident = { .sender_id = m->cfg.id, .kind = QKDN_W_AGENT_MGR,
					 .hostname = m->cfg.name, .requestor = "XLMO" };
	struct qkdn_mgmt_handlers h = { .up = up_cb, .diag = diag_cb };
	struct timeval tv = { 0, MX_TICK_MS * 1000 };
	uint64_t first, last;
	char err[512];

	if (!m->cfg.mx_enabled)
		return 0;
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->m = m;
	snprintf(x->cn, sizeof(x->cn), "%s%s", QKDN_W_MX_CN_PREFIX, m->cfg.name);
	snprintf(x->peer_cn, sizeof(x->peer_cn), "%s%s", QKDN_W_MX_CN_PREFIX, m->cfg.mx_peer);
	m->mx = x;
	if (m->store->ops->mx_epoch(m->store, &x->epoch) ||
	    m->store->ops->mx_out_range(m->store, &first, &last))
		return -EIO;
	if (!x->epoch) {
		while (!x->epoch && getrandom(&x->epoch, sizeof(x->epoch), 0) != sizeof(x->epoch))
			;
		x->epoch &= INT64_MAX;	/* an SQL integer */
		if (!x->epoch)
			x->epoch = 1;
		if (m->store->ops->begin(m->store) ||
		    m->store->ops->mx_epoch_set(m->store, x->epoch) ||
		    m->store->ops->commit(m->store)) {
			m->store->ops->rollback(m->store);
			return -EIO;
		}
	}
	x->committed_next = x->next_seq = last + 1;
	x->fed_next = first ? first : 1;
	ident.cn = x->cn;
	ident.epoch = x->epoch;
	ident.first_seq = x->fed_next;
	h.arg = x;
	x->tick = event_new(m->base, -1, EV_PERSIST, tick_cb, x);
	if (!x->tick)
		return -ENOMEM;
	x->mg = qkdn_mgmt_new(m->base, &m->cfg.mx, &ident, &h, err, sizeof(err));
	if (!x->mg) {
		qkdn_log(QKDN_LOG_ERR, "Mx set-up failed", "event=start-failed error=\"%s\"", err);
		return -EINVAL;
	}
	evtimer_add(x->tick, &tv);
	qkdn_log(QKDN_LOG_INFO, "Mx configured", "event=mx-start name=%s peer=%s address=%s "
		 "epoch=%" PRIu64 " outbox_first=%" PRIu64 " outbox_last=%" PRIu64, m->cfg.name,
		 m->cfg.mx_peer, m->cfg.mx.address_str, x->epoch, first, last);
	feed(x);
	return 0;
}

void mgrd_mx_stop(struct mgrd *m)
{
	struct mgrd_mx *x = m->mx;

	if (!x)
		return;
	if (x->tick)
		event_free(x->tick);
	qkdn_mgmt_free(x->mg);
	free(x);
	m->mx = NULL;
}
