// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * A small client of charon's VICI socket (strongSwan's "Versatile IKE
 * Control Interface"), enough to load and unload PPKs and connections,
 * and to initiate, list and terminate IKE SAs.
 *
 * The wire format (src/libcharon/plugins/vici/README.md): every packet is
 * a 32-bit big-endian length and that many bytes; the first is the
 * operation (CMD_REQUEST, CMD_RESPONSE, EVENT_REGISTER, EVENT, ...), then
 * for named operations a length-prefixed name, then for requests,
 * responses and events a message: a sequence of elements
 *
 *   SECTION_START name8 | SECTION_END | KEY_VALUE name8 value16 |
 *   LIST_START name8 | LIST_ITEM value16 | LIST_END
 *
 * where name8 is a 1-byte length and the name, value16 a 2-byte
 * big-endian length and the bytes.
 *
 * One request at a time, synchronously, with a receive timeout: charon
 * answers in milliseconds, but `initiate` waits for the IKE exchanges.
 * The send buffer is a secbuf, wiped after every request, since
 * load-shared carries the PPK.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "secd.h"
#include "secmem.h"

enum vici_op {
	VICI_CMD_REQUEST, VICI_CMD_RESPONSE, VICI_CMD_UNKNOWN, VICI_EVENT_REGISTER,
	VICI_EVENT_UNREGISTER, VICI_EVENT_CONFIRM, VICI_EVENT_UNKNOWN, VICI_EVENT,
};

enum vici_elem {
	VICI_SECTION_START = 1, VICI_SECTION_END, VICI_KEY_VALUE, VICI_LIST_START,
	VICI_LIST_ITEM, VICI_LIST_END,
};

#define VICI_TX_MAX 8192
#define VICI_RX_MAX (512 * 1024)	/* charon's own limit is 512 KiB */
#define VICI_DEPTH_MAX 8

struct secd_vici {
	int fd;
	uint8_t *tx;		/* secbuf */
	size_t tx_len;
	bool overflow;
	char path[108];
	char err[256];
};

const char *secd_vici_err(const struct secd_vici *v)
{
	return v->err;
}

int secd_vici_open(struct secd_vici **vp, const char *path, unsigned int timeout_s)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = timeout_s };
	struct secd_vici *v = calloc(1, sizeof(*v));
	int ret;

	if (!v)
		return -ENOMEM;
	v->fd = -1;
	v->tx = qkdn_secbuf_alloc(VICI_TX_MAX);
	if (!v->tx) {
		ret = -errno;
		goto fail;
	}
	snprintf(v->path, sizeof(v->path), "%s", path);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	v->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (v->fd < 0 ||
	    setsockopt(v->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(v->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(v->fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		ret = -errno;
		goto fail;
	}
	*vp = v;
	return 0;
fail:
	secd_vici_close(v);
	return ret;
}

void secd_vici_close(struct secd_vici *v)
{
	if (!v)
		return;
	if (v->fd >= 0)
		close(v->fd);
	qkdn_secbuf_free(v->tx);
	free(v);
}

/* Building a request */

static void put(struct secd_vici *v, const void *p, size_t len)
{
	if (v->overflow || len > VICI_TX_MAX - v->tx_len) {
		v->overflow = true;
		return;
	}
	memcpy(v->tx + v->tx_len, p, len);
	v->tx_len += len;
}

static void put_u8(struct secd_vici *v, uint8_t b)
{
	put(v, &b, 1);
}

static void put_name(struct secd_vici *v, const char *name)
{
	size_t n = strlen(name);

	if (n > 255) {
		v->overflow = true;
		return;
	}
	put_u8(v, (uint8_t)n);
	put(v, name, n);
}

static void put_value(struct secd_vici *v, const void *val, size_t len)
{
	uint8_t be[2] = { (uint8_t)(len >> 8), (uint8_t)len };

	if (len > 0xffff) {
		v->overflow = true;
		return;
	}
	put(v, be, 2);
	put(v, val, len);
}

/* A packet of op (with name) in the send buffer, its length filled in by
 * send_packet(). */
static void packet_begin(struct secd_vici *v, enum vici_op op, const char *name)
{
	explicit_bzero(v->tx, v->tx_len);
	v->tx_len = 4;
	v->overflow = false;
	put_u8(v, (uint8_t)op);
	put_name(v, name);
}

void secd_vici_begin(struct secd_vici *v, const char *cmd)
{
	packet_begin(v, VICI_CMD_REQUEST, cmd);
}

void secd_vici_kv(struct secd_vici *v, const char *key, const void *val, size_t len)
{
	put_u8(v, VICI_KEY_VALUE);
	put_name(v, key);
	put_value(v, val, len);
}

void secd_vici_kv_str(struct secd_vici *v, const char *key, const char *val)
{
	secd_vici_kv(v, key, val, strlen(val));
}

void secd_vici_section(struct secd_vici *v, const char *name)
{
	put_u8(v, VICI_SECTION_START);
	put_name(v, name);
}

void secd_vici_end(struct secd_vici *v)
{
	put_u8(v, VICI_SECTION_END);
}

void secd_vici_list_csv(struct secd_vici *v, const char *name, const char *csv)
{
	const char *p = csv;

	put_u8(v, VICI_LIST_START);
	put_name(v, name);
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		const char *start = p;

		p += n + (comma ? 1 : 0);
		while (n && (*start == ' ' || *start == '\t')) {
			start++;
			n--;
		}
		while (n && (start[n - 1] == ' ' || start[n - 1] == '\t'))
			n--;
		if (n) {
			put_u8(v, VICI_LIST_ITEM);
			put_value(v, start, n);
		}
	}
	put_u8(v, VICI_LIST_END);
}

/* Transport */

static int send_packet(struct secd_vici *v)
{
	size_t len = v->tx_len - 4, off = 0;
	int ret = 0;

	if (v->overflow) {
		snprintf(v->err, sizeof(v->err), "request over %d bytes", VICI_TX_MAX);
		ret = -EMSGSIZE;
		goto out;
	}
	v->tx[0] = (uint8_t)(len >> 24);
	v->tx[1] = (uint8_t)(len >> 16);
	v->tx[2] = (uint8_t)(len >> 8);
	v->tx[3] = (uint8_t)len;
	while (off < v->tx_len) {
		ssize_t n = send(v->fd, v->tx + off, v->tx_len - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n < 0 ? -errno : -EPIPE;
			snprintf(v->err, sizeof(v->err), "send to %s: %s", v->path,
				 strerror(-ret));
			goto out;
		}
		off += (size_t)n;
	}
out:
	explicit_bzero(v->tx, v->tx_len);
	v->tx_len = 0;
	return ret;
}

static int read_full(struct secd_vici *v, void *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = recv(v->fd, (uint8_t *)buf + off, len - off, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int err = n < 0 ? (errno == EAGAIN ? ETIMEDOUT : errno) : ECONNRESET;

			snprintf(v->err, sizeof(v->err), "no answer from %s: %s", v->path,
				 strerror(err));
			return -err;
		}
		off += (size_t)n;
	}
	return 0;
}

/* One packet, malloc()ed into *buf (answers carry no key bytes). */
static int recv_packet(struct secd_vici *v, uint8_t **buf, size_t *len)
{
	uint8_t be[4];
	int ret = read_full(v, be, sizeof(be));

	if (ret)
		return ret;
	*len = (size_t)be[0] << 24 | (size_t)be[1] << 16 | (size_t)be[2] << 8 | be[3];
	if (*len == 0 || *len > VICI_RX_MAX) {
		snprintf(v->err, sizeof(v->err), "bad packet length %zu from charon", *len);
		return -EBADMSG;
	}
	*buf = malloc(*len);
	if (!*buf)
		return -ENOMEM;
	ret = read_full(v, *buf, *len);
	if (ret) {
		free(*buf);
		*buf = NULL;
	}
	return ret;
}

/* Parsing a message */

struct walk {
	secd_vici_cb cb;
	void *data;
	/* Top-level answer of a command. */
	bool success;
	char errmsg[200];
};

static int walk_message(struct secd_vici *v, const uint8_t *p, size_t len, struct walk *w,
			bool top)
{
	char sections[VICI_DEPTH_MAX][256], list[256] = "";
	unsigned int depth = 0;
	size_t off = 0;

#define NEED(n) do { if ((n) > len - off) goto bad; } while (0)
	while (off < len) {
		uint8_t type = p[off++];
		char name[256] = "";
		const uint8_t *val = NULL;
		size_t vlen = 0;

		if (type == VICI_SECTION_START || type == VICI_KEY_VALUE ||
		    type == VICI_LIST_START) {
			NEED(1);
			size_t n = p[off++];

			NEED(n);
			memcpy(name, p + off, n);
			name[n] = '\0';
			off += n;
		}
		if (type == VICI_KEY_VALUE || type == VICI_LIST_ITEM) {
			NEED(2);
			vlen = (size_t)p[off] << 8 | p[off + 1];
			off += 2;
			NEED(vlen);
			val = p + off;
			off += vlen;
		}
		switch (type) {
		case VICI_SECTION_START:
			if (depth >= VICI_DEPTH_MAX)
				goto bad;
			snprintf(sections[depth++], sizeof(sections[0]), "%s", name);
			break;
		case VICI_SECTION_END:
			if (!depth)
				goto bad;
			depth--;
			break;
		case VICI_KEY_VALUE:
			if (top && depth == 0 && strcmp(name, "success") == 0)
				w->success = vlen == 3 && memcmp(val, "yes", 3) == 0;
			if (top && depth == 0 && strcmp(name, "errmsg") == 0)
				snprintf(w->errmsg, sizeof(w->errmsg), "%.*s", (int)vlen,
					 (const char *)val);
			if (w->cb)
				w->cb(w->data, depth, depth ? sections[0] : "", name, val, vlen);
			break;
		case VICI_LIST_START:
			snprintf(list, sizeof(list), "%s", name);
			break;
		case VICI_LIST_ITEM:
			if (w->cb)
				w->cb(w->data, depth, depth ? sections[0] : "", list, val, vlen);
			break;
		case VICI_LIST_END:
			list[0] = '\0';
			break;
		default:
			goto bad;
		}
	}
#undef NEED
	if (depth == 0)
		return 0;
bad:
	snprintf(v->err, sizeof(v->err), "malformed message from charon");
	return -EBADMSG;
}

/* Reads until the answer to a request or an event (un)registration;
 * events in between go to w. */
static int read_answer(struct secd_vici *v, enum vici_op want, struct walk *w)
{
	for (;;) {
		uint8_t *buf = NULL;
		size_t len, off;
		int ret = recv_packet(v, &buf, &len);

		if (ret)
			return ret;
		off = 1;
		switch (buf[0]) {
		case VICI_EVENT:
			if (len < 2 || (off = 2 + buf[1]) > len) {
				ret = -EBADMSG;
				break;
			}
			ret = walk_message(v, buf + off, len - off, w, false);
			free(buf);
			if (ret)
				return ret;
			continue;
		case VICI_CMD_RESPONSE:
			ret = want == VICI_CMD_RESPONSE
			      ? walk_message(v, buf + off, len - off, w, true) : -EBADMSG;
			break;
		case VICI_EVENT_CONFIRM:
			ret = want == VICI_EVENT_CONFIRM ? 0 : -EBADMSG;
			break;
		case VICI_CMD_UNKNOWN:
		case VICI_EVENT_UNKNOWN:
			snprintf(v->err, sizeof(v->err), "charon does not know this %s",
				 buf[0] == VICI_CMD_UNKNOWN ? "command" : "event");
			ret = -EOPNOTSUPP;
			break;
		default:
			ret = -EBADMSG;
		}
		free(buf);
		if (ret == -EBADMSG && !v->err[0])
			snprintf(v->err, sizeof(v->err), "unexpected packet from charon");
		return ret;
	}
}

int secd_vici_call(struct secd_vici *v, secd_vici_cb cb, void *data)
{
	struct walk w = { .cb = cb, .data = data };
	int ret;

	v->err[0] = '\0';
	ret = send_packet(v);
	if (!ret)
		ret = read_answer(v, VICI_CMD_RESPONSE, &w);
	if (!ret && !w.success) {
		snprintf(v->err, sizeof(v->err), "%s", w.errmsg[0] ? w.errmsg : "failed");
		ret = -EREMOTEIO;
	}
	return ret;
}

/* A request whose answer has no "success" (list-sas, get-shared). */
static int call_plain(struct secd_vici *v, struct walk *w)
{
	int ret;

	v->err[0] = '\0';
	ret = send_packet(v);
	return ret ? ret : read_answer(v, VICI_CMD_RESPONSE, w);
}

static int event_reg(struct secd_vici *v, enum vici_op op, const char *event)
{
	struct walk w = { 0 };
	int ret;

	packet_begin(v, op, event);
	ret = send_packet(v);
	return ret ? ret : read_answer(v, VICI_EVENT_CONFIRM, &w);
}

int secd_vici_stream(struct secd_vici *v, const char *event, secd_vici_cb cb, void *data)
{
	struct walk w = { .cb = cb, .data = data };
	uint8_t *keep = NULL;
	size_t keep_len = v->tx_len;
	int ret, ret2;

	/* The request is built already: set it aside while registering. */
	keep = malloc(keep_len);
	if (!keep)
		return -ENOMEM;
	memcpy(keep, v->tx, keep_len);
	ret = event_reg(v, VICI_EVENT_REGISTER, event);
	if (!ret) {
		memcpy(v->tx, keep, keep_len);
		v->tx_len = keep_len;
		ret = call_plain(v, &w);
		ret2 = event_reg(v, VICI_EVENT_UNREGISTER, event);
		if (!ret)
			ret = ret2;
	}
	explicit_bzero(keep, keep_len);
	free(keep);
	return ret;
}

int secd_vici_plain(struct secd_vici *v, secd_vici_cb cb, void *data)
{
	struct walk w = { .cb = cb, .data = data };

	return call_plain(v, &w);
}
