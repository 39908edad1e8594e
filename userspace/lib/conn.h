/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Length-framed wire messages (wire.h) on a libevent bufferevent, as every
 * TLS connection of the daemons carries them (Kx, Ck, and Mk/Mq/Mc), and
 * the reason a connection failed, for logs.
 */
#ifndef QKDN_CONN_H
#define QKDN_CONN_H

#include <stddef.h>
#include <stdint.h>

struct bufferevent;
struct evbuffer;
struct qkdn_wire_msg;

/* Finishes m and queues it on bev; m is freed in every case (NULL: the
 * builder ran out of memory). 0, -ENOMEM or qkdn_wire_msg_finish()'s
 * error. */
int qkdn_conn_send(struct bufferevent *bev, struct qkdn_wire_msg *m);

/* Takes the next whole message, length prefix included, out of in: 1 with
 * a malloc()ed copy in *msg (aligned for the attribute walk; the caller
 * frees it), 0 if it is not all there yet, -EMSGSIZE if its length prefix
 * announces more than QKDN_WIRE_BODY_MAX (the stream cannot be resynced:
 * close), -ENOMEM. */
int qkdn_conn_next(struct evbuffer *in, void **msg, size_t *len);

/* A response to orig: success if reason is NULL, otherwise failure with
 * QKDN_W_REASON. NULL if out of memory (qkdn_conn_send() takes that). */
struct qkdn_wire_msg *qkdn_conn_response(uint16_t cmd, uint32_t sender, uint64_t orig,
					 const char *reason);

/* OpenSSL's errors queued on bev, "; "-joined into buf (empty if none),
 * leaving the queue empty. libevent also queues SSL_get_error() codes
 * (library 0): skipped, the socket error says more. Returns the length
 * written. */
size_t qkdn_conn_ssl_errors(struct bufferevent *bev, char *buf, size_t len);

#endif
