// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Wire messages on a bufferevent: see conn.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>

#include "conn.h"
#include "wire.h"

int qkdn_conn_send(struct bufferevent *bev, struct qkdn_wire_msg *m)
{
	const void *bytes;
	size_t len;
	int ret;

	if (!m)
		return -ENOMEM;
	ret = qkdn_wire_msg_finish(m, &bytes, &len);
	if (ret == 0 && bufferevent_write(bev, bytes, len) < 0)
		ret = -ENOMEM;
	qkdn_wire_msg_free(m);
	return ret;
}

int qkdn_conn_next(struct evbuffer *in, void **msg, size_t *len)
{
	size_t avail = evbuffer_get_length(in);
	unsigned char prefix[QKDN_WIRE_LEN_SIZE];
	uint32_t body_len;
	void *buf;

	if (avail < sizeof(prefix))
		return 0;
	evbuffer_copyout(in, prefix, sizeof(prefix));
	if (qkdn_wire_frame_body_len(prefix, &body_len) < 0)
		return -EMSGSIZE;
	if (avail < sizeof(prefix) + body_len)
		return 0;
	buf = malloc(sizeof(prefix) + body_len);
	if (!buf)
		return -ENOMEM;
	evbuffer_remove(in, buf, sizeof(prefix) + body_len);
	*msg = buf;
	*len = sizeof(prefix) + body_len;
	return 1;
}

struct qkdn_wire_msg *qkdn_conn_response(uint16_t cmd, uint32_t sender, uint64_t orig,
					 const char *reason)
{
	struct qkdn_wire_msg *m = qkdn_wire_response_new(cmd, sender, orig,
							 reason ? QKDN_W_RESP_FAILURE
								: QKDN_W_RESP_SUCCESS);

	if (m && reason)
		qkdn_wire_put_str(m, QKDN_W_REASON, reason);
	return m;
}

size_t qkdn_conn_ssl_errors(struct bufferevent *bev, char *buf, size_t len)
{
	unsigned long e;
	size_t o = 0;

	if (len)
		buf[0] = '\0';
	while ((e = bufferevent_get_openssl_error(bev)) != 0) {
		char one[200];

		if (ERR_GET_LIB(e) == 0 || o + 1 >= len)
			continue;
		ERR_error_string_n(e, one, sizeof(one));
		o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? "; " : "", one);
		if (o >= len)
			o = len - 1;
	}
	return o;
}
