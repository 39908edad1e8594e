// SPDX-License-Identifier: GPL-2.0 OR MIT
/* The agent side of Mk/Mq/Mc: see mgmt.h. */
#include "mgmt.h"
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>

#include "conn.h"
#include "log.h"
#include "tls.h"
#include "util.h"

/* [manager] section */

enum { MK_ADDRESS, MK_CERT, MK_KEY, MK_CA, MK_CRL, MK_QUEUE, MK_REPORT };

static const struct {
	const char *name;
	bool required;
} mgmt_keys[] = {
	[MK_ADDRESS] = { "address", true },
	[MK_CERT] = { "cert", true },
	[MK_KEY] = { "key", true },
	[MK_CA] = { "ca", true },
	[MK_CRL] = { "crl", false },
	[MK_QUEUE] = { "queue", false },
	[MK_REPORT] = { "report-ms", false },
};

__attribute__((format(printf, 3, 4)))
static int fail(char *err, size_t err_len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, err_len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int conf_path(const char *value, const char *dir, char **out)
{
	int n;

	free(*out);
	if (value[0] == '/' || !dir)
		n = asprintf(out, "%s", value);
	else
		n = asprintf(out, "%s/%s", dir, value);
	if (n < 0) {
		*out = NULL;
		return -ENOMEM;
	}
	return 0;
}

int qkdn_mgmt_conf_key(struct qkdn_mgmt_conf *c, const char *key, const char *value,
		       const char *dir, char *err, size_t err_len)
{
	int k = -1, ret = 0;

	for (size_t i = 0; i < QKDN_ARRAY_SIZE(mgmt_keys); i++)
		if (!strcmp(mgmt_keys[i].name, key))
			k = (int)i;
	if (k < 0)
		return fail(err, err_len, "unknown key \"%s\" in [manager]", key);
	if (c->seen & (1U << k))
		return fail(err, err_len, "\"%s\" given twice in [manager]", key);
	c->seen |= 1U << k;
	c->enabled = true;
	if (!c->queue_max)
		c->queue_max = QKDN_MGMT_QUEUE_DEFAULT;
	if (!c->report_ms)
		c->report_ms = QKDN_MGMT_REPORT_MS_DEFAULT;
	if (!*value)
		return fail(err, err_len, "\"%s\" is empty", key);
	switch (k) {
	case MK_ADDRESS:
		if (qkdn_parse_sockaddr(value, &c->address, &c->address_len) < 0)
			return fail(err, err_len, "address \"%s\" is not a numeric ADDR:PORT", value);
		snprintf(c->address_str, sizeof(c->address_str), "%s", value);
		break;
	case MK_CERT:
		ret = conf_path(value, dir, &c->cert);
		break;
	case MK_KEY:
		ret = conf_path(value, dir, &c->key);
		break;
	case MK_CA:
		ret = conf_path(value, dir, &c->ca);
		break;
	case MK_CRL:
		ret = conf_path(value, dir, &c->crl);
		break;
	case MK_QUEUE:
		if (qkdn_parse_u32(value, QKDN_MGMT_QUEUE_MIN, QKDN_MGMT_QUEUE_MAX, &c->queue_max))
			return fail(err, err_len, "queue \"%s\" is not a number in %u..%u", value,
				    QKDN_MGMT_QUEUE_MIN, QKDN_MGMT_QUEUE_MAX);
		break;
	case MK_REPORT:
		if (qkdn_parse_u32(value, QKDN_MGMT_REPORT_MS_MIN, QKDN_W_PERIOD_MAX, &c->report_ms))
			return fail(err, err_len, "report-ms \"%s\" is not a number in %u..%u", value,
				    QKDN_MGMT_REPORT_MS_MIN, QKDN_W_PERIOD_MAX);
		break;
	}
	if (ret)
		return fail(err, err_len, "out of memory");
	return 0;
}

int qkdn_mgmt_conf_check(const struct qkdn_mgmt_conf *c, char *err, size_t err_len)
{
	if (!c->enabled)
		return 0;
	for (size_t i = 0; i < QKDN_ARRAY_SIZE(mgmt_keys); i++)
		if (mgmt_keys[i].required && !(c->seen & (1U << i)))
			return fail(err, err_len, "[manager] section of line %u lacks \"%s\"",
				    c->line, mgmt_keys[i].name);
	return 0;
}

void qkdn_mgmt_conf_free(struct qkdn_mgmt_conf *c)
{
	free(c->cert);
	free(c->key);
	free(c->ca);
	free(c->crl);
	memset(c, 0, sizeof(*c));
}

/* The agent */

struct entry {
	struct entry *next;
	uint64_t seq;
	bool sent;			/* on the current connection, unanswered */
	bool ever_sent;			/* so sending it again is a resend */
	size_t len;
	unsigned char bytes[];
};

enum state { ST_DOWN, ST_TLS, ST_AUTH, ST_UP };

/* A request of ours (qkdn_mgmt_request()) waiting for its answer. */
struct request {
	struct request *next;
	struct qkdn_mgmt *mg;
	uint64_t msg_id;
	qkdn_mgmt_answer_cb done;
	void *arg;
	struct event *timer;
};

struct qkdn_mgmt {
	struct event_base *base;
	const struct qkdn_mgmt_conf *conf;
	struct qkdn_mgmt_ident ident;
	char *cn, *hostname, *requestor;
	struct qkdn_mgmt_handlers h;
	SSL_CTX *tls;

	enum state state;
	struct bufferevent *bev;
	struct event *ev_retry, *ev_resume, *ev_keepalive;
	struct event *ev_crl;		/* [manager] crl re-read when it changes */
	struct qkdn_crl_watch crl_watch;
	unsigned int backoff_ms;
	bool paused;			/* busy: wait for ev_resume */

	struct entry *head, *tail, *cursor;	/* cursor: first not sent */
	size_t n_queued, n_inflight;
	struct request *requests;
	struct qkdn_mgmt_stats st;
};

uint64_t qkdn_mgmt_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void ms_tv(unsigned int ms, struct timeval *tv)
{
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (ms % 1000) * 1000;
}

static void dial(struct qkdn_mgmt *mg);

/* Unlinks r, then tells its caller (hdr NULL: no answer). */
static void request_finish(struct request *r, const struct qkdn_wire_hdr *hdr,
			   const struct nlattr *const *tb)
{
	struct request **pp;

	for (pp = &r->mg->requests; *pp; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	event_free(r->timer);
	r->done(r->arg, hdr, tb);
	free(r);
}

static void request_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	request_finish(arg, NULL, NULL);
}

static void conn_drop(struct qkdn_mgmt *mg, enum qkdn_log_level level, const char *why)
{
	struct timeval tv;

	if (mg->bev) {
		SSL *ssl = bufferevent_openssl_get_ssl(mg->bev);

		if (ssl && mg->state != ST_TLS)
			SSL_shutdown(ssl);
		bufferevent_free(mg->bev);
		mg->bev = NULL;
	}
	if (mg->state == ST_UP || mg->state == ST_AUTH || level < QKDN_LOG_INFO)
		qkdn_log(level, "manager connection down", "event=mgmt-down manager=%s reason=\"%s\" "
			 "queued=%zu retry_ms=%u", mg->conf->address_str, why, mg->n_queued,
			 mg->backoff_ms);
	mg->state = ST_DOWN;
	mg->st.up = false;
	mg->n_inflight = 0;
	while (mg->requests)
		request_finish(mg->requests, NULL, NULL);
	for (struct entry *e = mg->head; e; e = e->next)
		e->sent = false;
	mg->cursor = mg->head;
	evtimer_del(mg->ev_keepalive);
	ms_tv(mg->backoff_ms, &tv);
	evtimer_add(mg->ev_retry, &tv);
	mg->backoff_ms = mg->backoff_ms * 2 > QKDN_MGMT_BACKOFF_MAX_MS ? QKDN_MGMT_BACKOFF_MAX_MS
								   : mg->backoff_ms * 2;
}

static int send_msg(struct qkdn_mgmt *mg, struct qkdn_wire_msg *m)
{
	const void *bytes;
	size_t len;
	int ret;

	if (!m)
		return -ENOMEM;
	ret = qkdn_wire_msg_finish(m, &bytes, &len);
	if (!ret && bufferevent_write(mg->bev, bytes, len) < 0)
		ret = -ENOMEM;
	qkdn_wire_msg_free(m);
	return ret;
}

/* Sends what is queued and not in flight, up to the window. */
static void pump(struct qkdn_mgmt *mg)
{
	if (mg->state != ST_UP || mg->paused)
		return;
	while (mg->cursor && mg->n_inflight < QKDN_MGMT_WINDOW) {
		struct entry *e = mg->cursor;

		if (bufferevent_write(mg->bev, e->bytes, e->len) < 0) {
			conn_drop(mg, QKDN_LOG_WARN, "out of memory");
			return;
		}
		if (e->ever_sent)
			mg->st.resent++;
		else
			mg->st.sent++;
		e->sent = e->ever_sent = true;
		mg->n_inflight++;
		mg->cursor = e->next;
	}
}

static void entry_pop(struct qkdn_mgmt *mg)
{
	struct entry *e = mg->head;

	mg->head = e->next;
	if (!mg->head)
		mg->tail = NULL;
	if (mg->cursor == e)
		mg->cursor = e->next;
	if (e->sent && mg->n_inflight)
		mg->n_inflight--;
	mg->n_queued--;
	free(e);
}

/* Everything up to seq is durably stored at the manager. */
static void acked_upto(struct qkdn_mgmt *mg, uint64_t seq)
{
	while (mg->head && mg->head->seq <= seq) {
		entry_pop(mg);
		mg->st.acked++;
	}
	if (seq > mg->st.acked_seq)
		mg->st.acked_seq = seq;
}

static void send_auth(struct qkdn_mgmt *mg)
{
	struct qkdn_wire_msg *m = qkdn_wire_msg_new(QKDN_W_CMD_M_AUTH, mg->ident.sender_id);

	if (m) {
		qkdn_wire_put_str(m, QKDN_W_AUTH_INFO, mg->cn);
		qkdn_wire_put_str(m, QKDN_W_SENDER_HOSTNAME, mg->hostname);
		qkdn_wire_put_u8(m, QKDN_W_M_AGENT_KIND, (uint8_t)mg->ident.kind);
		qkdn_wire_put_u64(m, QKDN_W_M_EPOCH, mg->st.epoch);
		if (mg->requestor)
			qkdn_wire_put_str(m, QKDN_W_M_REQUESTOR, mg->requestor);
	}
	if (send_msg(mg, m) < 0) {
		conn_drop(mg, QKDN_LOG_WARN, "cannot send M_AUTH");
		return;
	}
	mg->state = ST_AUTH;
}

static void on_auth_response(struct qkdn_mgmt *mg, const struct qkdn_wire_hdr *hdr,
			     const struct nlattr **tb)
{
	char q[QKDN_W_REASON_MAX + 8];

	if (hdr->response_code != QKDN_W_RESP_SUCCESS) {
		mg->st.refused++;
		conn_drop(mg, QKDN_LOG_WARN, tb[QKDN_W_REASON] ?
			  qkdn_log_quote(q, sizeof(q), qkdn_wire_get_str(tb[QKDN_W_REASON])) :
			  "M_AUTH refused");
		return;
	}
	mg->state = ST_UP;
	mg->st.up = true;
	mg->st.connects++;
	mg->backoff_ms = QKDN_MGMT_BACKOFF_MIN_MS;
	mg->st.session = tb[QKDN_W_M_SESSION] ? qkdn_wire_get_u64(tb[QKDN_W_M_SESSION]) : 0;
	if (tb[QKDN_W_M_ACK_SEQ])
		acked_upto(mg, qkdn_wire_get_u64(tb[QKDN_W_M_ACK_SEQ]));
	qkdn_log(QKDN_LOG_INFO, "manager connection up",
		 "event=mgmt-up manager=%s session=%llu acked=%llu queued=%zu",
		 mg->conf->address_str, (unsigned long long)mg->st.session,
		 (unsigned long long)mg->st.acked_seq, mg->n_queued);
	if (mg->h.up)
		mg->h.up(mg->h.arg);
	pump(mg);
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct qkdn_mgmt *mg = arg;

	(void)fd;
	(void)what;
	mg->paused = false;
	pump(mg);
}

static void on_notify_response(struct qkdn_mgmt *mg, const struct qkdn_wire_hdr *hdr,
			       const struct nlattr **tb)
{
	uint64_t seq = tb[QKDN_W_M_SEQ] ? qkdn_wire_get_u64(tb[QKDN_W_M_SEQ]) : 0;
	struct timeval tv;

	if (hdr->response_code == QKDN_W_RESP_SUCCESS) {
		acked_upto(mg, seq);
		pump(mg);
		return;
	}
	if (tb[QKDN_W_M_RETRY_MS]) {
		uint32_t ms = qkdn_wire_get_u32(tb[QKDN_W_M_RETRY_MS]);

		mg->st.busy++;
		if (mg->paused)
			return;
		/* Everything from the refused one on goes again, in order. */
		mg->paused = true;
		mg->n_inflight = 0;
		for (struct entry *e = mg->head; e; e = e->next)
			e->sent = false;
		mg->cursor = mg->head;
		ms_tv(ms, &tv);
		evtimer_add(mg->ev_resume, &tv);
		qkdn_log(QKDN_LOG_DEBUG, "manager busy", "event=mgmt-busy seq=%llu retry_ms=%u",
			 (unsigned long long)seq, ms);
		return;
	}
	/* Refused for good: our own message was wrong (send() validates, so
	 * this is a manager that disagrees about the protocol). */
	mg->st.refused++;
	qkdn_log(QKDN_LOG_ERR, "manager refused a notification",
		 "event=mgmt-refused seq=%llu reason=\"%s\"", (unsigned long long)seq,
		 tb[QKDN_W_REASON] ? qkdn_wire_get_str(tb[QKDN_W_REASON]) : "");
	while (mg->head && mg->head->seq <= seq)
		entry_pop(mg);
	pump(mg);
}

static void answer(struct qkdn_mgmt *mg, const struct qkdn_wire_hdr *hdr, int ret,
		   const char *reason, uint8_t state, const char *info)
{
	struct qkdn_wire_msg *r = qkdn_wire_response_new(hdr->cmd, mg->ident.sender_id,
							 hdr->msg_id, ret ? QKDN_W_RESP_FAILURE
									  : QKDN_W_RESP_SUCCESS);

	if (r && reason && *reason)
		qkdn_wire_put_str(r, QKDN_W_REASON, reason);
	if (r && !ret && state)
		qkdn_wire_put_u8(r, QKDN_W_M_RESOURCE_STATE, state);
	if (r && !ret && info && *info)
		qkdn_wire_put_str(r, QKDN_W_M_DIAG_INFO, info);
	if (send_msg(mg, r) < 0)
		conn_drop(mg, QKDN_LOG_WARN, "cannot answer the manager");
}

static void on_command(struct qkdn_mgmt *mg, const struct qkdn_wire_hdr *hdr,
		       const struct nlattr **tb)
{
	char info[QKDN_W_M_DESC_MAX] = "", reason[QKDN_W_REASON_MAX] = "";
	uint8_t state = 0;
	int ret;

	switch (hdr->cmd) {
	case QKDN_W_CMD_KEEPALIVE:
		return;
	case QKDN_W_CMD_M_DIAG:
		ret = mg->h.diag ? mg->h.diag(mg->h.arg, qkdn_wire_get_str(tb[QKDN_W_M_RESOURCE_ID]),
					      &state, info, sizeof(info)) : -ENOENT;
		answer(mg, hdr, ret, !ret ? NULL : ret == -ENOENT ? "unknown resource"
						   : "diagnostic failed", state, info);
		return;
	case QKDN_W_CMD_M_CONTROL:
		ret = mg->h.control ? mg->h.control(mg->h.arg, tb, reason, sizeof(reason))
				    : -EOPNOTSUPP;
		if (ret && !reason[0])
			snprintf(reason, sizeof(reason), "%s", mg->h.control ? strerror(-ret) :
				 "this agent takes no control actions");
		answer(mg, hdr, ret, reason, 0, NULL);
		return;
	default:
		answer(mg, hdr, -EOPNOTSUPP, "not a command for an agent", 0, NULL);
	}
}

int qkdn_mgmt_next_frame(struct evbuffer *in, void **msg, size_t *len)
{
	return qkdn_conn_next(in, msg, len);
}

static void read_cb(struct bufferevent *bev, void *arg)
{
	struct qkdn_mgmt *mg = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	while (mg->bev == bev && mg->state >= ST_AUTH) {
		const struct nlattr *tb[QKDN_W_MAX + 1];
		struct qkdn_wire_hdr hdr;
		void *buf;
		size_t len;
		int ret = qkdn_mgmt_next_frame(in, &buf, &len);

		if (ret == 0)
			return;
		if (ret < 0) {
			conn_drop(mg, QKDN_LOG_WARN, ret == -EMSGSIZE ? "message too long"
								     : "out of memory");
			return;
		}
		ret = qkdn_wire_parse(buf, len, &qkdn_wire_mgmt_policy, tb, &hdr);
		if (ret < 0) {
			char why[200];

			snprintf(why, sizeof(why), "bad message from the manager: %s", hdr.error);
			free(buf);
			conn_drop(mg, QKDN_LOG_WARN, why);
			return;
		}
		if (!hdr.is_response) {
			on_command(mg, &hdr, tb);
		} else if (hdr.cmd == QKDN_W_CMD_M_SUPPORT) {
			for (struct request *r = mg->requests; r; r = r->next)
				if (r->msg_id == hdr.orig_msg_id) {
					request_finish(r, &hdr, tb);
					break;
				}
		} else if (hdr.cmd == QKDN_W_CMD_M_AUTH && mg->state == ST_AUTH)
			on_auth_response(mg, &hdr, tb);
		else if (mg->state == ST_UP && hdr.cmd != QKDN_W_CMD_M_AUTH)
			on_notify_response(mg, &hdr, tb);
		free(buf);
	}
}

static void keepalive_cb(evutil_socket_t fd, short what, void *arg)
{
	struct qkdn_mgmt *mg = arg;
	struct timeval tv;

	(void)fd;
	(void)what;
	if (mg->state != ST_UP)
		return;
	if (send_msg(mg, qkdn_wire_msg_new(QKDN_W_CMD_KEEPALIVE, mg->ident.sender_id)) < 0) {
		conn_drop(mg, QKDN_LOG_WARN, "cannot send a keepalive");
		return;
	}
	ms_tv(QKDN_MGMT_KEEPALIVE_MS, &tv);
	evtimer_add(mg->ev_keepalive, &tv);
}

/* The CRL file changed: a manager it now revokes is dropped (and refused
 * when redialled). */
static void crl_cb(evutil_socket_t fd, short what, void *arg)
{
	struct qkdn_mgmt *mg = arg;
	X509_CRL *crl = NULL;
	char err[400];
	int ret;

	(void)fd;
	(void)what;
	ret = qkdn_crl_watch_poll(&mg->crl_watch, &crl, err, sizeof(err));
	if (ret > 0)
		ret = qkdn_tls_ctx_set_crl(mg->tls, mg->conf->ca, crl, err, sizeof(err));
	X509_CRL_free(crl);
	if (ret < 0)
		qkdn_log(QKDN_LOG_WARN, "CRL file not loaded; the previous CRL stays",
			 "event=mgr-crl-refused error=\"%s\"", err);
	if (ret <= 0)
		return;
	qkdn_log(QKDN_LOG_INFO, "CRL loaded", "event=mgr-crl-loaded path=%s", mg->conf->crl);
	if (mg->bev && (mg->state == ST_AUTH || mg->state == ST_UP) &&
	    qkdn_tls_peer_revoked(bufferevent_openssl_get_ssl(mg->bev)))
		conn_drop(mg, QKDN_LOG_WARN, "peer certificate revoked");
}

static void event_cb(struct bufferevent *bev, short events, void *arg)
{
	struct qkdn_mgmt *mg = arg;
	char err[256];
	struct timeval tv;

	(void)bev;
	if (events & BEV_EVENT_CONNECTED) {
		SSL *ssl = bufferevent_openssl_get_ssl(mg->bev);
		char cn[QKDN_ID_MAXLEN];

		if (qkdn_tls_peer_cn(ssl, cn, sizeof(cn), err, sizeof(err)) < 0) {
			conn_drop(mg, QKDN_LOG_WARN, err);
			return;
		}
		if (strcmp(cn, QKDN_W_MGR_CN)) {
			snprintf(err, sizeof(err), "peer certificate names \"%s\", not the manager "
				 "(%s)", cn, QKDN_W_MGR_CN);
			conn_drop(mg, QKDN_LOG_WARN, err);
			return;
		}
		setsockopt(bufferevent_getfd(mg->bev), IPPROTO_TCP, TCP_NODELAY, &(int){ 1 },
			   sizeof(int));
		send_auth(mg);
		ms_tv(QKDN_MGMT_KEEPALIVE_MS, &tv);
		evtimer_add(mg->ev_keepalive, &tv);
		return;
	}
	if (events & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
		const char *why = mg->state == ST_TLS && mg->bev ?
			qkdn_tls_verify_failure(bufferevent_openssl_get_ssl(mg->bev)) : NULL;

		conn_drop(mg, why ? QKDN_LOG_WARN : QKDN_LOG_INFO,
			  why ? why : events & BEV_EVENT_EOF ? "closed by the manager"
							   : "connection failed");
	}
}

static void dial(struct qkdn_mgmt *mg)
{
	SSL *ssl = SSL_new(mg->tls);

	if (!ssl) {
		conn_drop(mg, QKDN_LOG_ERR, "out of memory");
		return;
	}
	mg->bev = bufferevent_openssl_socket_new(mg->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
						 BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (!mg->bev) {
		SSL_free(ssl);
		conn_drop(mg, QKDN_LOG_ERR, "out of memory");
		return;
	}
	mg->state = ST_TLS;
	bufferevent_setcb(mg->bev, read_cb, NULL, event_cb, mg);
	bufferevent_enable(mg->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(mg->bev, (struct sockaddr *)&mg->conf->address,
				       (int)mg->conf->address_len) < 0)
		conn_drop(mg, QKDN_LOG_INFO, "connect failed");
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	dial(arg);
}

struct qkdn_mgmt *qkdn_mgmt_new(struct event_base *base, const struct qkdn_mgmt_conf *conf,
				const struct qkdn_mgmt_ident *ident,
				const struct qkdn_mgmt_handlers *handlers, char *err, size_t err_len)
{
	struct qkdn_mgmt *mg = calloc(1, sizeof(*mg));

	if (!mg) {
		snprintf(err, err_len, "out of memory");
		return NULL;
	}
	mg->base = base;
	mg->conf = conf;
	mg->ident = *ident;
	if (handlers)
		mg->h = *handlers;
	mg->cn = strdup(ident->cn);
	mg->hostname = strdup(ident->hostname);
	mg->requestor = ident->requestor ? strdup(ident->requestor) : NULL;
	mg->ev_retry = evtimer_new(base, retry_cb, mg);
	mg->ev_resume = evtimer_new(base, resume_cb, mg);
	mg->ev_keepalive = evtimer_new(base, keepalive_cb, mg);
	if (!mg->cn || !mg->hostname || (ident->requestor && !mg->requestor) || !mg->ev_retry ||
	    !mg->ev_resume || !mg->ev_keepalive) {
		snprintf(err, err_len, "out of memory");
		qkdn_mgmt_free(mg);
		return NULL;
	}
	mg->tls = qkdn_tls_ctx_new(conf->cert, conf->key, conf->ca, err, err_len);
	if (!mg->tls) {
		qkdn_mgmt_free(mg);
		return NULL;
	}
	if (conf->crl) {
		X509_CRL *crl = qkdn_tls_crl_load(conf->crl, err, err_len);
		int ret = crl ? qkdn_tls_ctx_set_crl(mg->tls, conf->ca, crl, err, err_len) : -EINVAL;

		X509_CRL_free(crl);
		if (ret) {
			qkdn_mgmt_free(mg);
			return NULL;
		}
		qkdn_crl_watch_init(&mg->crl_watch, conf->crl);
		mg->ev_crl = event_new(base, -1, EV_PERSIST, crl_cb, mg);
		if (!mg->ev_crl || event_add(mg->ev_crl, &(struct timeval){
				.tv_sec = QKDN_CRL_WATCH_MS / 1000 }) < 0) {
			snprintf(err, err_len, "out of memory");
			qkdn_mgmt_free(mg);
			return NULL;
		}
	}
	mg->st.epoch = ident->epoch;
	while (!mg->st.epoch &&
	       getrandom(&mg->st.epoch, sizeof(mg->st.epoch), 0) != sizeof(mg->st.epoch))
		mg->st.epoch = 0;
	mg->st.next_seq = ident->first_seq ? ident->first_seq : 1;
	mg->backoff_ms = QKDN_MGMT_BACKOFF_MIN_MS;
	dial(mg);
	return mg;
}

void qkdn_mgmt_free(struct qkdn_mgmt *mg)
{
	if (!mg)
		return;
	if (mg->bev)
		bufferevent_free(mg->bev);
	mg->bev = NULL;
	mg->state = ST_DOWN;
	while (mg->requests)
		request_finish(mg->requests, NULL, NULL);
	while (mg->head)
		entry_pop(mg);
	if (mg->ev_retry)
		event_free(mg->ev_retry);
	if (mg->ev_resume)
		event_free(mg->ev_resume);
	if (mg->ev_keepalive)
		event_free(mg->ev_keepalive);
	if (mg->ev_crl)
		event_free(mg->ev_crl);
	SSL_CTX_free(mg->tls);
	free(mg->cn);
	free(mg->hostname);
	free(mg->requestor);
	free(mg);
}

bool qkdn_mgmt_idle(const struct qkdn_mgmt *mg)
{
	return !mg->head;
}

struct qkdn_wire_msg *qkdn_mgmt_begin_at(struct qkdn_mgmt *mg, uint16_t cmd, const char *resource,
					 uint64_t time_ms)
{
	struct qkdn_wire_msg *m = qkdn_wire_msg_new(cmd, mg->ident.sender_id);

	if (!m)
		return NULL;
	qkdn_wire_put_u64(m, QKDN_W_M_TIME_MS, time_ms);
	qkdn_wire_put_str(m, QKDN_W_M_RESOURCE_ID, resource);
	return m;
}

struct qkdn_wire_msg *qkdn_mgmt_begin(struct qkdn_mgmt *mg, uint16_t cmd, const char *resource)
{
	return qkdn_mgmt_begin_at(mg, cmd, resource, qkdn_mgmt_now_ms());
}

int qkdn_mgmt_send(struct qkdn_mgmt *mg, struct qkdn_wire_msg *m)
{
	const struct nlattr *tb[QKDN_W_MAX + 1];
	struct qkdn_wire_hdr hdr;
	const void *bytes;
	struct entry *e;
	size_t len;
	int ret;

	if (!m)
		return -ENOMEM;
	qkdn_wire_put_u64(m, QKDN_W_M_SEQ, mg->st.next_seq);
	ret = qkdn_wire_msg_finish(m, &bytes, &len);
	e = ret ? NULL : malloc(sizeof(*e) + len);
	if (!e) {
		qkdn_wire_msg_free(m);
		return ret ? ret : -ENOMEM;
	}
	memcpy(e->bytes, bytes, len);
	qkdn_wire_msg_free(m);
	/* What the manager would refuse is refused here, before it takes a
	 * sequence number the manager would then wait for forever. */
	ret = qkdn_wire_parse(e->bytes, len, &qkdn_wire_mgmt_policy, tb, &hdr);
	if (ret < 0) {
		qkdn_log(QKDN_LOG_ERR, "invalid notification not sent",
			 "event=mgmt-invalid cmd=%s error=\"%s\"", qkdn_wire_cmd_name(hdr.cmd),
			 hdr.error);
		free(e);
		return ret;
	}
	e->next = NULL;
	e->seq = mg->st.next_seq++;
	e->sent = e->ever_sent = false;
	e->len = len;
	if (mg->n_queued >= mg->conf->queue_max) {
		/* The oldest goes; if it was in flight its answer is ignored. */
		mg->st.dropped++;
		entry_pop(mg);
	}
	if (mg->tail)
		mg->tail->next = e;
	else
		mg->head = e;
	mg->tail = e;
	if (!mg->cursor)
		mg->cursor = e;
	mg->n_queued++;
	pump(mg);
	return 0;
}

int qkdn_mgmt_alarm(struct qkdn_mgmt *mg, const char *resource, enum qkdn_wire_alarm_type type,
		    uint64_t alarm_id, const char *source, enum qkdn_wire_severity severity,
		    uint64_t value, const char *desc, uint32_t peer)
{
	struct qkdn_wire_msg *m = qkdn_mgmt_begin(mg, QKDN_W_CMD_M_ALARM, resource);

	if (!m)
		return -ENOMEM;
	qkdn_wire_put_u16(m, QKDN_W_M_ALARM_TYPE, (uint16_t)type);
	qkdn_wire_put_u64(m, QKDN_W_M_ALARM_ID, alarm_id);
	qkdn_wire_put_str(m, QKDN_W_M_ALARM_SOURCE, source);
	qkdn_wire_put_u8(m, QKDN_W_M_SEVERITY, (uint8_t)severity);
	qkdn_wire_put_u64(m, QKDN_W_M_ALARM_VALUE, value);
	if (desc && *desc)
		qkdn_wire_put_str(m, QKDN_W_M_ALARM_DESC, desc);
	if (peer)
		qkdn_wire_put_u32(m, QKDN_W_PEER_NODE_ID, peer);
	return qkdn_mgmt_send(mg, m);
}

int qkdn_mgmt_perf(struct qkdn_mgmt *mg, const char *resource, enum qkdn_wire_perf_type type,
		   const char *target, uint64_t value, uint32_t peer)
{
	struct qkdn_wire_msg *m = qkdn_mgmt_begin(mg, QKDN_W_CMD_M_PERF, resource);

	if (!m)
		return -ENOMEM;
	qkdn_wire_put_u16(m, QKDN_W_M_PERF_TYPE, (uint16_t)type);
	qkdn_wire_put_str(m, QKDN_W_M_PERF_TARGET, target);
	qkdn_wire_put_u64(m, QKDN_W_M_PERF_VALUE, value);
	if (peer)
		qkdn_wire_put_u32(m, QKDN_W_PEER_NODE_ID, peer);
	return qkdn_mgmt_send(mg, m);
}

void qkdn_mgmt_get_stats(const struct qkdn_mgmt *mg, struct qkdn_mgmt_stats *st)
{
	*st = mg->st;
	st->queued = mg->n_queued;
}

bool qkdn_mgmt_up(const struct qkdn_mgmt *mg)
{
	return mg && mg->state == ST_UP;
}

int qkdn_mgmt_request(struct qkdn_mgmt *mg, struct qkdn_wire_msg *req, unsigned int timeout_ms,
		      qkdn_mgmt_answer_cb done, void *arg)
{
	struct request *r;
	struct timeval tv;
	int ret;

	if (!req)
		return -ENOMEM;
	if (mg->state != ST_UP) {
		qkdn_wire_msg_free(req);
		return -ENOTCONN;
	}
	r = calloc(1, sizeof(*r));
	if (r)
		r->timer = evtimer_new(mg->base, request_timeout_cb, r);
	if (!r || !r->timer) {
		free(r);
		qkdn_wire_msg_free(req);
		return -ENOMEM;
	}
	r->mg = mg;
	r->msg_id = qkdn_wire_msg_id(req);
	r->done = done;
	r->arg = arg;
	ret = send_msg(mg, req);
	if (ret) {
		event_free(r->timer);
		free(r);
		return ret;
	}
	ms_tv(timeout_ms, &tv);
	evtimer_add(r->timer, &tv);
	r->next = mg->requests;
	mg->requests = r;
	return 0;
}
