// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The agents' side of the manager (Mk, Mq, Mc): TLS connections, M_AUTH,
 * notifications stored and acknowledged after the commit, requests to
 * agents. See "Management" in wire.h for the protocol.
 *
 * Notifications of every connection go into one open transaction,
 * committed MGRD_COMMIT_DELAY_US after it opened (group commit: one fsync
 * for what arrives meanwhile, from every agent), or at once when
 * MGRD_COMMIT_BATCH are waiting; only then are they acknowledged. What an
 * agent holds as acknowledged is therefore on disk, whatever happens to
 * the manager afterwards.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>

#include "hex.h"
#include "log.h"
#include "mgmt.h"
#include "store.h"
#include "tls.h"
#include "util.h"

#define VIOLATIONS_MAX	3	/* refused messages before the connection goes */

enum astate { A_TLS, A_AUTH, A_UP, A_CLOSING };

struct ack {
	struct ack *next;
	uint64_t seq, msg_id;
	uint16_t cmd;
};

struct request {
	struct request *next;
	struct mgrd_agent *a;
	uint64_t msg_id;
	mgrd_answer_cb done;
	void *arg;
	struct event *timer;
};

struct mgrd_agent {
	struct mgrd_agent *next;
	struct mgrd *m;
	struct bufferevent *bev;
	enum astate state;
	char cn[QKDN_ID_MAXLEN];
	char remote[QKDN_ADDR_STRLEN];
	enum qkdn_wire_agent_kind kind;
	uint32_t node;
	uint64_t epoch, session;
	uint64_t stored_seq;		/* committed */
	uint64_t pending_seq;		/* in the open transaction */
	struct ack *acks, *acks_tail;	/* answered after the commit */
	struct request *requests;
	unsigned int violations;
	uint64_t received;
	struct event *auth_timer;
};

static void request_finish(struct request *r, const struct qkdn_wire_hdr *hdr,
			   const struct nlattr *const *tb)
{
	struct mgrd_agent *a = r->a;
	struct request **pp;

	for (pp = &a->requests; *pp; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	event_free(r->timer);
	r->done(a->m, r->arg, hdr, tb);
	free(r);
}

static void agent_free(struct mgrd_agent *a)
{
	struct mgrd_agent **pp;

	for (pp = &a->m->agents; *pp; pp = &(*pp)->next)
		if (*pp == a) {
			*pp = a->next;
			break;
		}
	while (a->requests)
		request_finish(a->requests, NULL, NULL);
	while (a->acks) {
		struct ack *k = a->acks;

		a->acks = k->next;
		free(k);
	}
	if (a->auth_timer)
		event_free(a->auth_timer);
	if (a->bev)
		bufferevent_free(a->bev);
	free(a);
}

static void agent_close(struct mgrd_agent *a, enum qkdn_log_level level, const char *why)
{
	qkdn_log(level, "agent connection closed", "event=agent-down agent=%s remote=%s "
		 "reason=\"%s\" received=%llu stored_seq=%llu", a->cn[0] ? a->cn : "?", a->remote,
		 why, (unsigned long long)a->received, (unsigned long long)a->stored_seq);
	if (a->state != A_TLS && a->bev) {
		SSL *ssl = bufferevent_openssl_get_ssl(a->bev);

		if (ssl)
			SSL_shutdown(ssl);
	}
	agent_free(a);
}

static int send_msg(struct mgrd_agent *a, struct qkdn_wire_msg *msg)
{
	const void *bytes;
	size_t len;
	int ret;

	if (!msg)
		return -ENOMEM;
	ret = qkdn_wire_msg_finish(msg, &bytes, &len);
	if (!ret && bufferevent_write(a->bev, bytes, len) < 0)
		ret = -ENOMEM;
	qkdn_wire_msg_free(msg);
	return ret;
}

static void respond(struct mgrd_agent *a, uint16_t cmd, uint64_t msg_id, const char *reason,
		    uint64_t seq, uint32_t retry_ms)
{
	struct qkdn_wire_msg *r = qkdn_wire_response_new(cmd, a->m->cfg.id, msg_id,
							 reason ? QKDN_W_RESP_FAILURE
								: QKDN_W_RESP_SUCCESS);

	if (r && reason)
		qkdn_wire_put_str(r, QKDN_W_REASON, reason);
	if (r && seq)
		qkdn_wire_put_u64(r, QKDN_W_M_SEQ, seq);
	if (r && retry_ms)
		qkdn_wire_put_u32(r, QKDN_W_M_RETRY_MS, retry_ms);
	send_msg(a, r);
}

static void busy(struct mgrd_agent *a, uint16_t cmd, uint64_t msg_id, uint64_t seq)
{
	a->m->stats.busy++;
	respond(a, cmd, msg_id, "busy", seq, a->m->cfg.retry_ms);
}

/* Refuses a message: a clear reason to the agent and in the log; nothing
 * is stored. Repeated violations close the connection. */
static void refuse(struct mgrd_agent *a, uint16_t cmd, uint64_t msg_id, const char *why)
{
	char q[300];

	a->m->stats.refused_msgs++;
	qkdn_log(QKDN_LOG_WARN, "message refused", "event=msg-refused agent=%s remote=%s "
		 "cmd=%s reason=%s", a->cn[0] ? a->cn : "?", a->remote, qkdn_wire_cmd_name(cmd),
		 qkdn_log_quote(q, sizeof(q), why));
	respond(a, cmd, msg_id, why, 0, 0);
	if (++a->violations >= VIOLATIONS_MAX)
		a->state = A_CLOSING;
}

struct mgrd_agent *mgrd_agent_find(struct mgrd *m, const char *cn)
{
	for (struct mgrd_agent *a = m->agents; a; a = a->next)
		if (a->state == A_UP && !strcmp(a->cn, cn))
			return a;
	return NULL;
}

/* Transactions: one open at a time, committed from the loop. */

static int txn_open(struct mgrd *m)
{
	static const struct timeval delay = { 0, MGRD_COMMIT_DELAY_US };
	int ret;

	if (m->in_txn)
		return 0;
	ret = m->store->ops->begin(m->store);
	if (ret)
		return ret;
	m->in_txn = true;
	evtimer_add(m->ev_commit, &delay);
	return 0;
}

static void commit_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mgrd *m = arg;
	bool ok;

	(void)fd;
	(void)what;
	evtimer_del(m->ev_commit);
	if (!m->in_txn)
		return;
	ok = m->store->ops->commit(m->store) == 0;
	if (!ok)
		m->store->ops->rollback(m->store);
	m->in_txn = false;
	mgrd_mu_commit(m, ok);
	mgrd_mx_commit(m, ok);
	m->pending = 0;
	m->stats.commits++;
	for (struct mgrd_agent *a = m->agents; a; a = a->next) {
		if (ok)
			a->stored_seq = a->pending_seq;
		else
			a->pending_seq = a->stored_seq;
		while (a->acks) {
			struct ack *k = a->acks;

			a->acks = k->next;
			if (ok)
				respond(a, k->cmd, k->msg_id, NULL, k->seq, 0);
			else
				busy(a, k->cmd, k->msg_id, k->seq);
			free(k);
		}
		a->acks_tail = NULL;
	}
	if (ok)
		mgrd_qclm_flush(m);
}

/* Writes by layer managers outside a notification (an agent's diagnostic
 * answer): into the open transaction, or a new one. */
int mgrd_txn(struct mgrd *m)
{
	return txn_open(m);
}

static void queue_ack(struct mgrd_agent *a, uint16_t cmd, uint64_t msg_id, uint64_t seq)
{
	struct ack *k = calloc(1, sizeof(*k));

	if (!k) {
		a->state = A_CLOSING;	/* the agent resends after reconnecting */
		return;
	}
	k->cmd = cmd;
	k->msg_id = msg_id;
	k->seq = seq;
	if (a->acks_tail)
		a->acks_tail->next = k;
	else
		a->acks = k;
	a->acks_tail = k;
}

/* Event log details: every attribute but the common items, by name. */
json_t *mgrd_event_json(const struct mgrd_event *ev)
{
	const struct qkdn_wire_attr_policy *pol = qkdn_wire_mgmt_policy.cmds[ev->cmd].command;
	json_t *o = json_object();

	for (unsigned int t = QKDN_W_REASON; t <= QKDN_W_MAX; t++) {
		const struct nlattr *at = ev->tb[t];
		const char *name = qkdn_wire_attr_name((uint16_t)t);
		char lower[64], hex[2 * QKDN_KEY_ID_LEN + 1];
		size_t i;

		if (!at || t == QKDN_W_M_SEQ || t == QKDN_W_M_TIME_MS || t == QKDN_W_M_RESOURCE_ID)
			continue;
		if (!strncmp(name, "M_", 2))
			name += 2;
		for (i = 0; name[i] && i < sizeof(lower) - 1; i++)
			lower[i] = name[i] == '_' ? '_' : (char)(name[i] | 0x20);
		lower[i] = '\0';
		switch (pol[t].type) {
		case QKDN_WT_U8:
			json_object_set_new(o, lower, json_integer(qkdn_wire_get_u8(at)));
			break;
		case QKDN_WT_U16:
			json_object_set_new(o, lower, json_integer(qkdn_wire_get_u16(at)));
			break;
		case QKDN_WT_U32:
			json_object_set_new(o, lower, json_integer(qkdn_wire_get_u32(at)));
			break;
		case QKDN_WT_U64:
			json_object_set_new(o, lower, json_integer((json_int_t)qkdn_wire_get_u64(at)));
			break;
		case QKDN_WT_STRING:
			json_object_set_new(o, lower, json_string(qkdn_wire_get_str(at)));
			break;
		default:
			qkdn_hex_encode(hex, sizeof(hex), qkdn_wire_get_bin(at),
					qkdn_wire_get_len(at) > QKDN_KEY_ID_LEN ? QKDN_KEY_ID_LEN
						: qkdn_wire_get_len(at));
			json_object_set_new(o, lower, json_string(hex));
		}
	}
	return o;
}

/* Mu: alarms, state and security events go to the event stream once
 * committed (details taken). */
static void publish(struct mgrd *m, const struct mgrd_event *ev, json_t *details)
{
	const char *kind = ev->cmd == QKDN_W_CMD_M_ALARM ? "alarm" :
			   ev->cmd == QKDN_W_CMD_M_CONFIG ? "status" :
			   ev->cmd == QKDN_W_CMD_M_SECURITY ? "security" : NULL;

	if (!kind || !details) {
		json_decref(details);
		return;
	}
	json_object_set_new(details, "event", json_integer((json_int_t)ev->id));
	json_object_set_new(details, "agent", json_string(ev->agent));
	json_object_set_new(details, "node", json_integer(ev->node));
	json_object_set_new(details, "resource", json_string(ev->resource));
	json_object_set_new(details, "time_ms", json_integer((json_int_t)ev->time_ms));
	if (ev->origin)
		json_object_set_new(details, "origin", json_string(ev->origin));
	if (ev->cmd == QKDN_W_CMD_M_ALARM) {
		uint16_t type = qkdn_wire_get_u16(ev->tb[QKDN_W_M_ALARM_TYPE]);

		json_object_set_new(details, "alarm_type", json_string(mgrd_alarm_type_name(type)));
		json_object_set_new(details, "state", json_string(
			qkdn_wire_get_u8(ev->tb[QKDN_W_M_SEVERITY]) == QKDN_W_SEV_CLEARED ?
			"cleared" : "raised"));
	}
	mgrd_mu_publish(m, kind, details);
}

static void on_notification(struct mgrd_agent *a, const struct qkdn_wire_hdr *hdr,
			    const struct nlattr **tb)
{
	struct mgrd *m = a->m;
	uint64_t seq = qkdn_wire_get_u64(tb[QKDN_W_M_SEQ]);
	struct mgrd_event ev = {
		.agent = a->cn, .kind = a->kind, .node = a->node, .epoch = a->epoch, .seq = seq,
		.cmd = hdr->cmd, .time_ms = qkdn_wire_get_u64(tb[QKDN_W_M_TIME_MS]),
		.rx_ms = qkdn_mgmt_now_ms(), .resource = qkdn_wire_get_str(tb[QKDN_W_M_RESOURCE_ID]),
		.tb = tb,
	};
	char *details, why[200];
	json_t *d;
	int ret;

	/* Mx: a peer manager's notification names the agent it came from. */
	if (a->kind != QKDN_W_AGENT_MGR &&
	    (tb[QKDN_W_M_ORIGIN_AGENT] || tb[QKDN_W_M_ORIGIN_EVENT])) {
		refuse(a, hdr->cmd, hdr->msg_id,
		       "M_ORIGIN_AGENT, M_ORIGIN_EVENT: Mx (a manager) only");
		return;
	}
	if (a->kind == QKDN_W_AGENT_MGR && mgrd_mx_origin(m, a->cn, tb, &ev, why, sizeof(why))) {
		refuse(a, hdr->cmd, hdr->msg_id, why);
		return;
	}
	if (seq <= a->pending_seq) {
		/* Resent: stored already (or about to be). */
		m->stats.duplicates++;
		if (seq <= a->stored_seq)
			respond(a, hdr->cmd, hdr->msg_id, NULL, seq, 0);
		else
			queue_ack(a, hdr->cmd, hdr->msg_id, seq);
		return;
	}
	if (seq != a->pending_seq + 1 || m->pending >= m->cfg.max_pending) {
		busy(a, hdr->cmd, hdr->msg_id, seq);
		return;
	}
	if (txn_open(m)) {
		busy(a, hdr->cmd, hdr->msg_id, seq);
		return;
	}
	d = mgrd_event_json(&ev);
	details = d ? json_dumps(d, JSON_COMPACT) : NULL;
	ret = m->store->ops->put_event(m->store, &ev, details);
	free(details);
	if (ret) {
		json_decref(d);
		/* The transaction is suspect: everything in it goes again. */
		m->store->ops->rollback(m->store);
		m->in_txn = false;
		m->pending = 0;
		for (struct mgrd_agent *o = m->agents; o; o = o->next) {
			o->pending_seq = o->stored_seq;
			while (o->acks) {
				struct ack *k = o->acks;

				o->acks = k->next;
				busy(o, k->cmd, k->msg_id, k->seq);
				free(k);
			}
			o->acks_tail = NULL;
		}
		mgrd_mu_commit(m, false);
		mgrd_mx_commit(m, false);
		busy(a, hdr->cmd, hdr->msg_id, seq);
		return;
	}
	publish(m, &ev, d);
	a->pending_seq = seq;
	if (++m->pending >= MGRD_COMMIT_BATCH)
		event_active(m->ev_commit, EV_TIMEOUT, 0);
	m->stats.events++;
	m->stats.by_cmd[hdr->cmd]++;
	queue_ack(a, hdr->cmd, hdr->msg_id, seq);
	switch (a->kind) {
	case QKDN_W_AGENT_QKD:
		mgrd_qlm_event(m, &ev);
		break;
	case QKDN_W_AGENT_KM:
		mgrd_kmlm_event(m, &ev);
		break;
	case QKDN_W_AGENT_MGR:
		mgrd_mx_learned(m, &ev);
		return;		/* never forwarded again */
	default:
		mgrd_qclm_event(m, &ev);
	}
	mgrd_mx_forward(m, &ev);
}

static void on_auth(struct mgrd_agent *a, const struct qkdn_wire_hdr *hdr,
		    const struct nlattr **tb)
{
	struct mgrd *m = a->m;
	const char *claimed = qkdn_wire_get_str(tb[QKDN_W_AUTH_INFO]);
	uint8_t kind = qkdn_wire_get_u8(tb[QKDN_W_M_AGENT_KIND]);
	uint32_t want_sender = a->kind == QKDN_W_AGENT_CTL ? QKDN_W_CONTROLLER_ID : a->node;
	bool any_sender = a->kind == QKDN_W_AGENT_MGR;	/* a manager's own ID */
	struct qkdn_wire_msg *r;
	struct mgrd_agent *old;
	char why[200];

	if (strcmp(claimed, a->cn)) {
		snprintf(why, sizeof(why), "AUTH_INFO \"%s\" is not the certificate's CN \"%s\"",
			 claimed, a->cn);
		refuse(a, hdr->cmd, hdr->msg_id, why);
		return;
	}
	if (kind != a->kind) {
		snprintf(why, sizeof(why), "agent kind %u does not match the certificate \"%s\"",
			 kind, a->cn);
		refuse(a, hdr->cmd, hdr->msg_id, why);
		return;
	}
	if (!any_sender && hdr->sender_id != want_sender) {
		snprintf(why, sizeof(why), "sender ID %u, the certificate names %u",
			 hdr->sender_id, want_sender);
		refuse(a, hdr->cmd, hdr->msg_id, why);
		return;
	}
	a->epoch = qkdn_wire_get_u64(tb[QKDN_W_M_EPOCH]);
	if (m->store->ops->agent_seq(m->store, a->cn, a->epoch, &a->stored_seq)) {
		refuse(a, hdr->cmd, hdr->msg_id, "manager storage error");
		return;
	}
	/* An agent that reconnects replaces its old connection: nothing of
	 * it is lost, acknowledgements of the open transaction included
	 * (its pending sequence carries over). */
	a->pending_seq = a->stored_seq;
	while ((old = mgrd_agent_find(m, a->cn))) {
		if (old->epoch == a->epoch && old->pending_seq > a->pending_seq)
			a->pending_seq = old->pending_seq;
		agent_close(old, QKDN_LOG_INFO, "replaced by a new connection");
	}
	getrandom(&a->session, sizeof(a->session), 0);
	a->state = A_UP;
	evtimer_del(a->auth_timer);
	r = qkdn_wire_response_new(hdr->cmd, m->cfg.id, hdr->msg_id, QKDN_W_RESP_SUCCESS);
	if (r) {
		qkdn_wire_put_u64(r, QKDN_W_M_SESSION, a->session);
		qkdn_wire_put_u64(r, QKDN_W_M_ACK_SEQ, a->stored_seq);
	}
	send_msg(a, r);
	qkdn_log(QKDN_LOG_INFO, "agent up", "event=agent-up agent=%s kind=%u node=%u remote=%s "
		 "epoch=%llu stored_seq=%llu", a->cn, a->kind, a->node, a->remote,
		 (unsigned long long)a->epoch, (unsigned long long)a->stored_seq);
	if (a->kind == QKDN_W_AGENT_CTL)
		mgrd_qclm_flush(m);
}

static void handle(struct mgrd_agent *a, void *buf, size_t len)
{
	const struct nlattr *tb[QKDN_W_MAX + 1];
	struct qkdn_wire_hdr hdr;
	int ret = qkdn_wire_parse(buf, len, &qkdn_wire_mgmt_policy, tb, &hdr);

	a->received++;
	if (ret < 0) {
		refuse(a, hdr.cmd, hdr.msg_id, hdr.error);
		return;
	}
	if (hdr.is_response) {
		for (struct request *r = a->requests; r; r = r->next)
			if (r->msg_id == hdr.orig_msg_id) {
				request_finish(r, &hdr, tb);
				return;
			}
		return;		/* late: its request timed out */
	}
	if (hdr.cmd == QKDN_W_CMD_KEEPALIVE)
		return;
	if (hdr.cmd == QKDN_W_CMD_M_AUTH) {
		if (a->state == A_UP)
			refuse(a, hdr.cmd, hdr.msg_id, "already authenticated");
		else
			on_auth(a, &hdr, tb);
		return;
	}
	if (a->state != A_UP) {
		refuse(a, hdr.cmd, hdr.msg_id, "not authenticated");
		return;
	}
	if (hdr.cmd == QKDN_W_CMD_M_DIAG || hdr.cmd == QKDN_W_CMD_M_CONTROL) {
		refuse(a, hdr.cmd, hdr.msg_id, "not a command for the manager");
		return;
	}
	if (hdr.cmd == QKDN_W_CMD_M_SUPPORT) {
		/* 10.7: the controller's request, answered by QCLM. */
		if (a->kind != QKDN_W_AGENT_CTL)
			refuse(a, hdr.cmd, hdr.msg_id, "M_SUPPORT is the controller's request");
		else
			send_msg(a, mgrd_qclm_support(a->m, a->cn, &hdr, tb));
		return;
	}
	on_notification(a, &hdr, tb);
}

static void read_cb(struct bufferevent *bev, void *arg)
{
	struct mgrd_agent *a = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	while (a->state != A_CLOSING) {
		void *buf;
		size_t len;
		int ret = qkdn_mgmt_next_frame(in, &buf, &len);

		if (ret == 0)
			return;
		if (ret < 0) {
			a->m->stats.refused_msgs++;
			agent_close(a, QKDN_LOG_WARN, ret == -EMSGSIZE ?
				    "message over the size limit announced" : "out of memory");
			return;
		}
		handle(a, buf, len);
		free(buf);
	}
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		agent_close(a, QKDN_LOG_WARN, "too many refused messages");
	else
		bufferevent_disable(bev, EV_READ);
}

static void write_cb(struct bufferevent *bev, void *arg)
{
	struct mgrd_agent *a = arg;

	if (a->state == A_CLOSING && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		agent_close(a, QKDN_LOG_WARN, "too many refused messages");
}

/* Who the certificate names: a KM, a QKD driver or the controller. */
static int identify(struct mgrd_agent *a, char *err, size_t err_len)
{
	SSL *ssl = bufferevent_openssl_get_ssl(a->bev);
	const char *p;

	if (qkdn_tls_peer_cn(ssl, a->cn, sizeof(a->cn), err, err_len) < 0)
		return -EPERM;
	if (!strcmp(a->cn, QKDN_TLS_CN_CONTROLLER)) {
		a->kind = QKDN_W_AGENT_CTL;
		return 0;
	}
	if (!qkdn_tls_cn_node_id(a->cn, &a->node)) {
		a->kind = QKDN_W_AGENT_KM;
		return 0;
	}
	p = a->cn + strlen(QKDN_W_QKD_CN_PREFIX);
	if (!strncmp(a->cn, QKDN_W_QKD_CN_PREFIX, strlen(QKDN_W_QKD_CN_PREFIX)) && *p != '0' &&
	    !qkdn_parse_u32(p, 1, QKDN_NODE_ID_MAX, &a->node)) {
		a->kind = QKDN_W_AGENT_QKD;
		return 0;
	}
	if (!strncmp(a->cn, QKDN_W_MX_CN_PREFIX, strlen(QKDN_W_MX_CN_PREFIX))) {
		if (mgrd_mx_peer_ok(a->m, a->cn, err, err_len))
			return -EPERM;
		a->kind = QKDN_W_AGENT_MGR;
		return 0;
	}
	snprintf(err, err_len, "certificate CN \"%s\" is no agent's (qkdn-node-ID, qkdn-qkd-ID, "
		 "qkdn-ctl, qkdn-mgr-NAME of the Mx peer)", a->cn);
	return -EPERM;
}

static void event_cb(struct bufferevent *bev, short events, void *arg)
{
	struct mgrd_agent *a = arg;
	char err[256];

	if (events & BEV_EVENT_CONNECTED) {
		setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &(int){ 1 },
			   sizeof(int));
		if (identify(a, err, sizeof(err)) < 0) {
			a->m->stats.refused_conns++;
			a->state = A_AUTH;	/* TLS is up: close with close_notify */
			agent_close(a, QKDN_LOG_WARN, err);
			return;
		}
		a->state = A_AUTH;
		return;
	}
	if (events & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
		const char *why = a->state == A_TLS ?
			qkdn_tls_verify_failure(bufferevent_openssl_get_ssl(bev)) : NULL;

		if (a->state == A_TLS)
			a->m->stats.refused_conns++;
		agent_close(a, a->state == A_TLS ? QKDN_LOG_WARN : QKDN_LOG_INFO,
			    why ? why : events & BEV_EVENT_EOF ? "closed by the agent" :
			    a->state == A_TLS ? "TLS handshake failed" : "connection lost");
	}
}

static void auth_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	agent_close(arg, QKDN_LOG_WARN, "no M_AUTH in time");
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
		      int socklen, void *arg)
{
	struct mgrd *m = arg;
	struct mgrd_agent *a = calloc(1, sizeof(*a));
	struct timeval tv = { MGRD_AUTH_TIMEOUT_S, 0 };
	SSL *ssl = SSL_new(m->tls);

	(void)l;
	(void)socklen;
	if (a)
		a->auth_timer = evtimer_new(m->base, auth_timeout_cb, a);
	if (a && ssl && a->auth_timer)
		a->bev = bufferevent_openssl_socket_new(m->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
							BEV_OPT_CLOSE_ON_FREE |
							BEV_OPT_DEFER_CALLBACKS);
	if (!a || !a->bev) {
		if (a && a->auth_timer)
			event_free(a->auth_timer);
		free(a);
		SSL_free(ssl);
		evutil_closesocket(fd);
		qkdn_log(QKDN_LOG_ERR, "cannot accept", "event=accept-failed reason=no-memory");
		return;
	}
	a->m = m;
	qkdn_format_sockaddr(sa, a->remote);
	a->next = m->agents;
	m->agents = a;
	evtimer_add(a->auth_timer, &tv);
	bufferevent_setcb(a->bev, read_cb, write_cb, event_cb, a);
	bufferevent_setwatermark(a->bev, EV_READ, 0, 4 * 65536);
	bufferevent_enable(a->bev, EV_READ | EV_WRITE);
}

static void request_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	request_finish(arg, NULL, NULL);
}

int mgrd_agent_request(struct mgrd_agent *a, struct qkdn_wire_msg *req, unsigned int timeout_ms,
		       mgrd_answer_cb done, void *arg)
{
	struct request *r = calloc(1, sizeof(*r));
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	int ret;

	if (!r || !req) {
		free(r);
		qkdn_wire_msg_free(req);
		return -ENOMEM;
	}
	r->a = a;
	r->msg_id = qkdn_wire_msg_id(req);
	r->done = done;
	r->arg = arg;
	r->timer = evtimer_new(a->m->base, request_timeout_cb, r);
	ret = r->timer ? send_msg(a, req) : (qkdn_wire_msg_free(req), -ENOMEM);
	if (ret) {
		if (r->timer)
			event_free(r->timer);
		free(r);
		return ret;
	}
	evtimer_add(r->timer, &tv);
	r->next = a->requests;
	a->requests = r;
	return 0;
}

json_t *mgrd_agents_json(struct mgrd *m)
{
	json_t *arr = json_array();

	for (struct mgrd_agent *a = m->agents; a; a = a->next) {
		if (a->state != A_UP)
			continue;
		json_array_append_new(arr, json_pack("{s:s, s:i, s:i, s:s, s:I, s:I}", "cn", a->cn,
						     "kind", a->kind, "node", a->node, "remote",
						     a->remote, "stored_seq",
						     (json_int_t)a->stored_seq, "received",
						     (json_int_t)a->received));
	}
	return arr;
}

/* The CRL file changed (a revocation at the CA): load it, drop the agents
 * it revokes (seed 001 clause 8.4). Checked every QKDN_CRL_WATCH_MS. */
static void crl_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mgrd *m = arg;
	struct mgrd_agent *a, *next;
	X509_CRL *crl = NULL;
	char err[400];
	unsigned int dropped = 0;
	int ret;

	(void)fd;
	(void)what;
	ret = qkdn_crl_watch_poll(&m->crl_watch, &crl, err, sizeof(err));
	if (ret > 0)
		ret = qkdn_tls_ctx_set_crl(m->tls, m->cfg.ca, crl, err, sizeof(err));
	X509_CRL_free(crl);
	if (ret < 0)
		qkdn_log(QKDN_LOG_WARN, "CRL file not loaded; the previous CRL stays",
			 "event=crl-refused error=\"%s\"", err);
	if (ret <= 0)
		return;
	for (a = m->agents; a; a = next) {
		next = a->next;
		if (a->state == A_TLS || !a->bev ||
		    !qkdn_tls_peer_revoked(bufferevent_openssl_get_ssl(a->bev)))
			continue;
		agent_close(a, QKDN_LOG_WARN, "peer certificate revoked");
		dropped++;
	}
	qkdn_log(QKDN_LOG_INFO, "CRL loaded", "event=crl-loaded path=%s dropped=%u", m->cfg.crl,
		 dropped);
}

int mgrd_agents_start(struct mgrd *m)
{
	char err[512];

	m->tls = qkdn_tls_ctx_new(m->cfg.cert, m->cfg.key, m->cfg.ca, err, sizeof(err));
	if (!m->tls) {
		qkdn_log(QKDN_LOG_ERR, "TLS set-up failed", "event=start-failed error=\"%s\"", err);
		return -EINVAL;
	}
	if (m->cfg.crl) {
		X509_CRL *crl = qkdn_tls_crl_load(m->cfg.crl, err, sizeof(err));
		int ret = crl ? qkdn_tls_ctx_set_crl(m->tls, m->cfg.ca, crl, err, sizeof(err))
			      : -EINVAL;

		X509_CRL_free(crl);
		if (ret) {
			qkdn_log(QKDN_LOG_ERR, "CRL refused", "event=start-failed error=\"%s\"", err);
			return -EINVAL;
		}
		qkdn_crl_watch_init(&m->crl_watch, m->cfg.crl);
		m->ev_crl = event_new(m->base, -1, EV_PERSIST, crl_cb, m);
		if (!m->ev_crl || event_add(m->ev_crl, &(struct timeval){
				.tv_sec = QKDN_CRL_WATCH_MS / 1000 }) < 0)
			return -ENOMEM;
	}
	m->ev_commit = event_new(m->base, -1, 0, commit_cb, m);
	if (!m->ev_commit)
		return -ENOMEM;
	m->listener = evconnlistener_new_bind(m->base, accept_cb, m, LEV_OPT_CLOSE_ON_FREE |
					      LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC, 128,
					      (struct sockaddr *)&m->cfg.listen,
					      (int)m->cfg.listen_len);
	if (!m->listener) {
		qkdn_log(QKDN_LOG_ERR, "cannot listen", "event=start-failed listen=%s error=\"%s\"",
			 m->cfg.listen_str, strerror(errno));
		return -errno;
	}
	qkdn_log(QKDN_LOG_INFO, "listening for agents", "event=listening listen=%s",
		 m->cfg.listen_str);
	return 0;
}

void mgrd_agents_stop(struct mgrd *m)
{
	if (m->ev_commit && m->in_txn)
		commit_cb(-1, 0, m);
	while (m->agents)
		agent_close(m->agents, QKDN_LOG_INFO, "manager stopping");
	if (m->listener)
		evconnlistener_free(m->listener);
	if (m->ev_commit)
		event_free(m->ev_commit);
	if (m->ev_crl)
		event_free(m->ev_crl);
	m->ev_crl = NULL;
	SSL_CTX_free(m->tls);
}
