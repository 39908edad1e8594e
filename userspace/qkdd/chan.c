// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The connection between the two drivers of a link: TCP, the tx driver
 * dials, the rx driver listens. In sim mode it is the SIMULATION OF THE
 * QUANTUM CHANNEL: the key bytes themselves travel on it, in the clear,
 * as photons would between two QKD modules. It stands in for physics,
 * not for a network; bind it to a point-to-point address (a veth pair, a
 * loopback) and never to a network an attacker can reach. In etsi014
 * mode only key IDs travel on it.
 *
 * Frames (qkdd.h): an 8-byte header, then the payload. Both buffers are
 * secbufs; consumed bytes are wiped before the space is reused.
 *
 *   KEYS  u64 seq, u32 n, n x { u8 ID length, ID, u64 time stamp (ns),
 *         32-byte SHA-256, u32 length, bytes }
 *   IDS   u64 seq, u32 key size (bytes), u32 n, n x { u8 ID length, ID }
 *   ACK   u64 seq, u32 keys pushed, u32 errno that stopped the pushes
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "qkdd.h"
#include "secmem.h"

#define HDR 8

/* Writer and reader over a byte range. */
struct cur {
	uint8_t *p;
	size_t len, off;
	bool bad;
};

static void put(struct cur *c, const void *v, size_t n)
{
	if (c->bad || c->len - c->off < n) {
		c->bad = true;
		return;
	}
	memcpy(c->p + c->off, v, n);
	c->off += n;
}

static void put_u8(struct cur *c, uint8_t v) { put(c, &v, 1); }

static void put_u32(struct cur *c, uint32_t v)
{
	v = htonl(v);
	put(c, &v, 4);
}

static void put_u64(struct cur *c, uint64_t v)
{
	put_u32(c, (uint32_t)(v >> 32));
	put_u32(c, (uint32_t)v);
}

static const uint8_t *get(struct cur *c, size_t n)
{
	const uint8_t *p = c->p + c->off;

	if (c->bad || c->len - c->off < n) {
		c->bad = true;
		return NULL;
	}
	c->off += n;
	return p;
}

static uint8_t get_u8(struct cur *c)
{
	const uint8_t *p = get(c, 1);

	return p ? *p : 0;
}

static uint32_t get_u32(struct cur *c)
{
	const uint8_t *p = get(c, 4);

	return p ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3] : 0;
}

static uint64_t get_u64(struct cur *c)
{
	uint64_t hi = get_u32(c);

	return hi << 32 | get_u32(c);
}

/* An ID: printable ASCII without blanks or ':', as the module wants. */
static bool get_id(struct cur *c, char out[QKDN_ID_MAXLEN])
{
	uint8_t n = get_u8(c);
	const uint8_t *p;

	if (n == 0 || n >= QKDN_ID_MAXLEN)
		return false;
	p = get(c, n);
	if (!p)
		return false;
	for (unsigned int i = 0; i < n; i++)
		if (p[i] <= 0x20 || p[i] > 0x7e || p[i] == ':')
			return false;
	memcpy(out, p, n);
	out[n] = '\0';
	return true;
}

static void put_id(struct cur *c, const char *id)
{
	size_t n = strlen(id);

	put_u8(c, (uint8_t)n);
	put(c, id, n);
}

static void on_write(evutil_socket_t fd, short what, void *arg);

static void flush_out(struct qkdd_link *l)
{
	struct qkdd_chan *ch = &l->ch;

	while (ch->out_off < ch->out_len) {
		ssize_t n = send(ch->fd, ch->out + ch->out_off, ch->out_len - ch->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			event_add(ch->ev_write, NULL);
			return;
		}
		if (n <= 0) {
			qkdd_chan_close(l, strerror(errno));
			return;
		}
		ch->out_off += (size_t)n;
	}
	explicit_bzero(ch->out, ch->out_len);
	ch->out_len = ch->out_off = 0;
	event_del(ch->ev_write);
}

/* Room for a frame of payload len at the end of the output buffer; NULL
 * if it does not fit (the window is meant to make that impossible). */
static uint8_t *frame_start(struct qkdd_link *l, enum qkdd_frame type, size_t len)
{
	struct qkdd_chan *ch = &l->ch;
	uint8_t *h;

	if (ch->fd < 0)
		return NULL;
	if (ch->out_off) {
		memmove(ch->out, ch->out + ch->out_off, ch->out_len - ch->out_off);
		ch->out_len -= ch->out_off;
		explicit_bzero(ch->out + ch->out_len, ch->out_off);
		ch->out_off = 0;
	}
	if (QKDD_OUT_BUF - ch->out_len < HDR + len)
		return NULL;
	h = ch->out + ch->out_len;
	h[0] = (uint8_t)type;
	h[1] = h[2] = h[3] = 0;
	h[4] = (uint8_t)(len >> 24);
	h[5] = (uint8_t)(len >> 16);
	h[6] = (uint8_t)(len >> 8);
	h[7] = (uint8_t)len;
	return h + HDR;
}

static int frame_end(struct qkdd_link *l, size_t len)
{
	l->ch.out_len += HDR + len;
	flush_out(l);
	return 0;
}

static int send_hello(struct qkdd_link *l)
{
	const struct qkdd_link_conf *c = l->conf;
	size_t len = 1 + strlen(c->module) + 1 + strlen(c->peer_module) + 1;
	struct cur w = { .p = frame_start(l, QKDD_F_HELLO, len), .len = len };

	if (!w.p)
		return -ENOBUFS;
	put_u8(&w, (uint8_t)c->mode);
	put(&w, c->module, strlen(c->module) + 1);
	put(&w, c->peer_module, strlen(c->peer_module) + 1);
	l->ch.hello_sent = true;
	return frame_end(l, len);
}

int qkdd_chan_send_status(struct qkdd_link *l)
{
	size_t len = 1 + 8 + 4 + 1;
	struct cur w = { .p = frame_start(l, QKDD_F_STATUS, len), .len = len };

	if (!w.p)
		return -ENOBUFS;
	put_u8(&w, l->state);
	put_u64(&w, l->rate_bps);
	put_u32(&w, l->qber_ppm);
	put_u8(&w, l->has_qber);
	return frame_end(l, len);
}

int qkdd_chan_send_keys(struct qkdd_link *l, const struct qkdd_batch *b)
{
	size_t len = 12;
	struct cur w;

	for (uint32_t i = 0; i < b->n; i++)
		len += 1 + strlen(b->keys[i].id) + 8 + 32 + 4 + b->keys[i].len;
	w = (struct cur){ .p = frame_start(l, QKDD_F_KEYS, len), .len = len };
	if (!w.p)
		return -ENOBUFS;
	put_u64(&w, b->seq);
	put_u32(&w, b->n);
	for (uint32_t i = 0; i < b->n; i++) {
		const struct qkdd_key *k = &b->keys[i];

		put_id(&w, k->id);
		put_u64(&w, k->ts_ns);
		put(&w, k->hash, 32);
		put_u32(&w, k->len);
		put(&w, k->data, k->len);
	}
	return frame_end(l, len);
}

int qkdd_chan_send_ids(struct qkdd_link *l, const struct qkdd_batch *b)
{
	size_t len = 16;
	struct cur w;

	for (uint32_t i = 0; i < b->n; i++)
		len += 1 + strlen(b->keys[i].id);
	w = (struct cur){ .p = frame_start(l, QKDD_F_IDS, len), .len = len };
	if (!w.p)
		return -ENOBUFS;
	put_u64(&w, b->seq);
	put_u32(&w, b->n ? b->keys[0].len : 0);
	put_u32(&w, b->n);
	for (uint32_t i = 0; i < b->n; i++)
		put_id(&w, b->keys[i].id);
	return frame_end(l, len);
}

int qkdd_chan_send_ack(struct qkdd_link *l, uint64_t seq, uint32_t pushed, int err)
{
	size_t len = 16;
	struct cur w = { .p = frame_start(l, QKDD_F_ACK, len), .len = len };

	if (!w.p)
		return -ENOBUFS;
	put_u64(&w, seq);
	put_u32(&w, pushed);
	put_u32(&w, (uint32_t)(err < 0 ? -err : err));
	return frame_end(l, len);
}

bool qkdd_chan_up(const struct qkdd_link *l)
{
	return l->ch.fd >= 0 && l->ch.hello_ok;
}

static int on_hello(struct qkdd_link *l, struct cur *r)
{
	const struct qkdd_link_conf *c = l->conf;
	uint8_t mode = get_u8(r);
	const char *module = (const char *)r->p + r->off, *peer_module;
	size_t rest = r->len - r->off, n = strnlen(module, rest);

	if (r->bad || n == rest)
		return -EPROTO;
	peer_module = module + n + 1;
	if (strnlen(peer_module, rest - n - 1) == rest - n - 1)
		return -EPROTO;
	if (mode != c->mode || strcmp(module, c->peer_module) || strcmp(peer_module, c->module)) {
		qkdn_log(QKDN_LOG_ERR, "the other driver serves another link",
			 "event=hello-mismatch link=%u their_mode=%u their_module=%.64s "
			 "their_peer_module=%.64s mode=%s module=%s peer_module=%s", l->id, mode,
			 module, peer_module, qkdd_mode_name(c->mode), c->module, c->peer_module);
		return -EPROTO;
	}
	if (!l->ch.hello_sent && send_hello(l))
		return -ENOBUFS;
	l->ch.hello_ok = true;
	qkdn_log(QKDN_LOG_INFO, c->mode == QKDD_SIM ?
		 "simulated quantum channel up (a TCP stand-in for the fibre)" :
		 "key ID channel to the other driver up",
		 "event=channel-up link=%u role=%s", l->id, qkdd_role_name(c->role));
	qkdd_link_update(l);
	return 0;
}

/* rx: a KEYS frame. The keys are pushed straight from the input buffer. */
static int on_keys(struct qkdd_link *l, struct cur *r)
{
	static struct qkdd_key keys[QKDD_BATCH_KEYS_MAX];
	uint64_t seq = get_u64(r);
	uint32_t n = get_u32(r), pushed;
	int err = 0;

	if (r->bad || n == 0 || n > QKDD_BATCH_KEYS_MAX)
		return -EPROTO;
	for (uint32_t i = 0; i < n; i++) {
		struct qkdd_key *k = &keys[i];
		const uint8_t *h;

		if (!get_id(r, k->id))
			return -EPROTO;
		k->ts_ns = get_u64(r);
		h = get(r, 32);
		k->len = get_u32(r);
		if (r->bad || !h || k->len == 0 || k->len > QKDN_QKD_KEY_MAX)
			return -EPROTO;
		memcpy(k->hash, h, 32);
		k->data = (uint8_t *)get(r, k->len);
		if (!k->data)
			return -EPROTO;
	}
	if (r->off != r->len)
		return -EPROTO;
	pushed = qkdd_link_push_batch(l, keys, n, &err);
	memset(keys, 0, sizeof(keys[0]) * n);
	return qkdd_chan_send_ack(l, seq, pushed, err);
}

static int on_ids(struct qkdd_link *l, struct cur *r)
{
	static char ids[QKDD_BATCH_KEYS_MAX][QKDN_ID_MAXLEN];
	uint64_t seq = get_u64(r);
	uint32_t size = get_u32(r), n = get_u32(r);

	if (r->bad || n == 0 || n > QKDD_BATCH_KEYS_MAX || size == 0 || size > QKDN_QKD_KEY_MAX)
		return -EPROTO;
	for (uint32_t i = 0; i < n; i++)
		if (!get_id(r, ids[i]))
			return -EPROTO;
	if (r->off != r->len)
		return -EPROTO;
	qkdd_etsi_on_ids(l, seq, size, n, ids);
	return 0;
}

static int on_frame(struct qkdd_link *l, uint8_t type, struct cur *r)
{
	bool tx = l->conf->role == QKDD_TX;

	if (type == QKDD_F_HELLO)
		return l->ch.hello_ok ? -EPROTO : on_hello(l, r);
	if (!l->ch.hello_ok)
		return -EPROTO;
	switch (type) {
	case QKDD_F_STATUS:
		if (tx)
			return -EPROTO;
		l->peer_state = get_u8(r);
		l->peer_rate = get_u64(r);
		l->peer_qber = get_u32(r);
		l->peer_has_qber = get_u8(r);
		if (r->bad || r->off != r->len || l->peer_state < QKDN_QKD_UP ||
		    l->peer_state > QKDN_QKD_STATE_MAX || l->peer_qber > 1000000)
			return -EPROTO;
		qkdd_link_update(l);
		return 0;
	case QKDD_F_KEYS:
		return tx || l->conf->mode != QKDD_SIM ? -EPROTO : on_keys(l, r);
	case QKDD_F_IDS:
		return tx || l->conf->mode != QKDD_ETSI014 ? -EPROTO : on_ids(l, r);
	case QKDD_F_ACK: {
		uint64_t seq = get_u64(r);
		uint32_t pushed = get_u32(r), err = get_u32(r);

		if (!tx || r->bad || r->off != r->len)
			return -EPROTO;
		return qkdd_link_on_ack(l, seq, pushed, err);
	}
	default:
		return -EPROTO;
	}
}

/* Handles every complete frame in the input buffer, unless the rx side
 * pauses for a KME request. */
static void process_input(struct qkdd_link *l)
{
	struct qkdd_chan *ch = &l->ch;
	size_t off = 0;
	int ret = 0;

	while (!l->rx_paused && ch->in_len - off >= HDR) {
		const uint8_t *h = ch->in + off;
		uint32_t len = (uint32_t)h[4] << 24 | (uint32_t)h[5] << 16 | (uint32_t)h[6] << 8 | h[7];
		struct cur r;

		if (h[1] || h[2] || h[3] || len > QKDD_FRAME_MAX - HDR) {
			ret = -EPROTO;
			break;
		}
		if (ch->in_len - off < HDR + len)
			break;
		r = (struct cur){ .p = ch->in + off + HDR, .len = len };
		ret = on_frame(l, h[0], &r);
		if (ret || ch->fd < 0)
			break;
		off += HDR + len;
	}
	if (ch->fd < 0)
		return;
	if (ret) {
		l->proto_errors++;
		qkdd_chan_close(l, ret == -ENOBUFS ? "output buffer full" : "protocol error");
		return;
	}
	if (off) {
		memmove(ch->in, ch->in + off, ch->in_len - off);
		ch->in_len -= off;
		explicit_bzero(ch->in + ch->in_len, off);
	}
	/* Read on only while there is room. */
	if (ch->in_len < QKDD_IN_BUF)
		event_add(ch->ev_read, NULL);
	else
		event_del(ch->ev_read);
}

void qkdd_chan_resume(struct qkdd_link *l)
{
	if (l->ch.fd >= 0)
		process_input(l);
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	struct qkdd_link *l = arg;
	struct qkdd_chan *ch = &l->ch;
	ssize_t n;

	(void)what;
	if (ch->in_len == QKDD_IN_BUF) {
		event_del(ch->ev_read);
		return;
	}
	n = recv(fd, ch->in + ch->in_len, QKDD_IN_BUF - ch->in_len, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		qkdd_chan_close(l, n == 0 ? "closed by the other driver" : strerror(errno));
		return;
	}
	ch->in_len += (size_t)n;
	process_input(l);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
	struct qkdd_link *l = arg;
	struct qkdd_chan *ch = &l->ch;

	(void)what;
	if (ch->connecting) {
		int err = 0;
		socklen_t len = sizeof(err);

		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
		ch->connecting = false;
		if (err) {
			qkdd_chan_close(l, strerror(err));
			return;
		}
		event_add(ch->ev_read, NULL);
		if (send_hello(l))
			qkdd_chan_close(l, "output buffer full");
		return;
	}
	flush_out(l);
}

static int chan_attach(struct qkdd_link *l, int fd)
{
	struct qkdd_chan *ch = &l->ch;
	struct event_base *base = l->q->base;
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	ch->fd = fd;
	ch->in_len = ch->out_len = ch->out_off = 0;
	ch->hello_sent = ch->hello_ok = false;
	ch->ev_read = event_new(base, fd, EV_READ | EV_PERSIST, on_read, l);
	ch->ev_write = event_new(base, fd, EV_WRITE | EV_PERSIST, on_write, l);
	if (!ch->ev_read || !ch->ev_write)
		return -ENOMEM;
	return 0;
}

static void retry_cb(evutil_socket_t fd, short what, void *arg);

static void schedule_retry(struct qkdd_link *l)
{
	struct timeval tv = { QKDD_RETRY_MS / 1000, (QKDD_RETRY_MS % 1000) * 1000 };

	if (!l->q->stopping)
		evtimer_add(l->ev_retry, &tv);
}

static void dial(struct qkdd_link *l)
{
	const struct qkdd_link_conf *c = l->conf;
	int fd = socket(c->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0 || chan_attach(l, fd)) {
		if (fd >= 0)
			close(fd);
		l->ch.fd = -1;
		schedule_retry(l);
		return;
	}
	if (connect(fd, (const struct sockaddr *)&c->addr, c->addr_len) == 0) {
		event_add(l->ch.ev_read, NULL);
		if (send_hello(l))
			qkdd_chan_close(l, "output buffer full");
		return;
	}
	if (errno != EINPROGRESS) {
		qkdd_chan_close(l, strerror(errno));
		return;
	}
	l->ch.connecting = true;
	event_add(l->ch.ev_write, NULL);
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	dial(arg);
}

static void accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct qkdd_link *l = arg;
	int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	(void)what;
	if (fd < 0)
		return;
	if (l->ch.fd >= 0)	/* the tx driver came back: the old one is dead */
		qkdd_chan_close(l, "replaced by a new connection");
	if (chan_attach(l, fd)) {
		qkdd_chan_close(l, "out of memory");
		return;
	}
	event_add(l->ch.ev_read, NULL);
}

int qkdd_chan_start(struct qkdd_link *l)
{
	const struct qkdd_link_conf *c = l->conf;
	int one = 1;

	l->ch.fd = -1;
	l->listen_fd = -1;
	l->ch.in = qkdn_secbuf_alloc(QKDD_IN_BUF);
	l->ch.out = qkdn_secbuf_alloc(QKDD_OUT_BUF);
	if (!l->ch.in || !l->ch.out) {
		qkdn_log(QKDN_LOG_ERR, "cannot allocate locked buffers (RLIMIT_MEMLOCK?)",
			 "event=start-failed link=%u err=\"%s\"", l->id, strerror(errno));
		return -ENOMEM;
	}
	if (c->role == QKDD_TX) {
		l->ev_retry = evtimer_new(l->q->base, retry_cb, l);
		if (!l->ev_retry)
			return -ENOMEM;
		dial(l);
		return 0;
	}
	l->listen_fd = socket(c->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->listen_fd < 0 ||
	    setsockopt(l->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(l->listen_fd, (const struct sockaddr *)&c->addr, c->addr_len) < 0 ||
	    listen(l->listen_fd, 4) < 0) {
		int err = errno;

		qkdn_log(QKDN_LOG_ERR, "cannot listen for the tx driver",
			 "event=start-failed link=%u listen=%s err=\"%s\"", l->id, c->addr_str,
			 strerror(err));
		return -err;
	}
	l->ev_accept = event_new(l->q->base, l->listen_fd, EV_READ | EV_PERSIST, accept_cb, l);
	if (!l->ev_accept || event_add(l->ev_accept, NULL))
		return -ENOMEM;
	return 0;
}

void qkdd_chan_close(struct qkdd_link *l, const char *why)
{
	struct qkdd_chan *ch = &l->ch;
	bool was_up = ch->hello_ok;

	if (ch->ev_read)
		event_free(ch->ev_read);
	if (ch->ev_write)
		event_free(ch->ev_write);
	ch->ev_read = ch->ev_write = NULL;
	if (ch->fd >= 0)
		close(ch->fd);
	ch->fd = -1;
	ch->connecting = ch->hello_sent = ch->hello_ok = false;
	if (ch->in)
		explicit_bzero(ch->in, QKDD_IN_BUF);
	if (ch->out)
		explicit_bzero(ch->out, QKDD_OUT_BUF);
	ch->in_len = ch->out_len = ch->out_off = 0;
	if (was_up || l->q->stopping)
		qkdn_log(QKDN_LOG_WARN, "channel to the other driver down",
			 "event=channel-down link=%u role=%s why=\"%s\"", l->id,
			 qkdd_role_name(l->conf->role), why);
	else
		qkdn_log(QKDN_LOG_DEBUG, "cannot reach the other driver",
			 "event=channel-retry link=%u why=\"%s\"", l->id, why);
	if (l->conf->role == QKDD_TX) {
		qkdd_link_drop_pending(l);
		schedule_retry(l);
	} else {
		qkdd_etsi_cancel(l);
		l->rx_paused = false;
	}
	qkdd_link_update(l);
}

void qkdd_chan_free(struct qkdd_link *l)
{
	if (l->ch.fd >= 0 || l->ch.ev_read)
		qkdd_chan_close(l, "shutdown");
	if (l->ev_retry)
		event_free(l->ev_retry);
	if (l->ev_accept)
		event_free(l->ev_accept);
	l->ev_retry = l->ev_accept = NULL;
	if (l->listen_fd >= 0)
		close(l->listen_fd);
	l->listen_fd = -1;
	qkdn_secbuf_free(l->ch.in);
	qkdn_secbuf_free(l->ch.out);
	l->ch.in = l->ch.out = NULL;
}
