/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The one generic netlink layer of qkdn userspace, over libmnl.
 *
 *   struct qkdn_nl *nl;
 *   int err = qkdn_nl_open(&nl);             // resolves family "qkdn"
 *   struct qkdn_nl_msg *msg = qkdn_nl_msg_new(QKDN_CMD_LINK_DEL, 0);
 *   qkdn_nl_put_u32(msg, QKDN_A_LINK_ID, 3);
 *   err = qkdn_nl_request(nl, msg, NULL, NULL);  // 0 or -errno
 *   if (err)
 *           ... strerror(-err), qkdn_nl_extack(nl) ...
 *
 * Every request asks for an acknowledgement and waits for it, so a request
 * returns only once the kernel has answered; replies are handed to the
 * callback first. Extended acks are on (NETLINK_EXT_ACK) and capped
 * (NETLINK_CAP_ACK: an error never echoes the request back, which matters
 * when the request carried key bytes). Replies whose sequence number is not
 * the current request's are stale or notifications, and are skipped.
 *
 * Key bytes: message buffers and the receive buffer are secbufs (locked,
 * wiped on free), and the receive buffer is wiped after each datagram has
 * been handed to the callbacks. A callback that needs key bytes after it
 * returns must copy them into a secbuf of its own.
 */
#ifndef QKDN_NL_H
#define QKDN_NL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libmnl/libmnl.h>
#include <linux/genetlink.h>

/* Room for the largest request (a QKD-key push of QKDN_QKD_KEY_MAX bytes,
 * or QKDN_KEY_AMOUNT_MAX key IDs) with headers. */
#define QKDN_NL_MSG_SIZE (64 * 1024)
/* Room for the largest reply: QKDN_KEY_BYTES_MAX of key data plus the
 * per-key attributes of QKDN_KEY_AMOUNT_MAX keys, with a wide margin. */
#define QKDN_NL_RX_SIZE (256 * 1024)
/* Attempts of a dump the kernel keeps marking NLM_F_DUMP_INTR. */
#define QKDN_NL_DUMP_TRIES 5

struct qkdn_nl;

struct qkdn_nl_msg {
	struct nlmsghdr *nlh;
	size_t size;
	uint16_t flags;		/* extra NLM_F_* given to qkdn_nl_msg_new() */
	bool overflow;		/* a put did not fit: sending fails EMSGSIZE */
};

/* Called once per reply message (never for acks or NLMSG_DONE). Return 0
 * to go on, or -errno to make the request fail with it (the remaining
 * replies are read and dropped). */
typedef int (*qkdn_nl_cb)(const struct nlmsghdr *nlh, void *data);

/* Opens a socket and resolves family QKDN_GENL_NAME. Returns 0 or -errno:
 * -ENOENT means the family is not registered (module not loaded). */
int qkdn_nl_open(struct qkdn_nl **nlp);
/* The same for any generic netlink family. */
int qkdn_nl_open_family(struct qkdn_nl **nlp, const char *family);
void qkdn_nl_close(struct qkdn_nl *nl);

int qkdn_nl_fd(const struct qkdn_nl *nl);
uint16_t qkdn_nl_family_id(const struct qkdn_nl *nl);
uint32_t qkdn_nl_family_version(const struct qkdn_nl *nl);

/* The extended-ack message of the last failed request, or "". */
const char *qkdn_nl_extack(const struct qkdn_nl *nl);
/* The top-level attribute type the kernel pointed at (NLMSGERR_ATTR_OFFS)
 * in the last failed request, or -1. For a nested attribute, the type of
 * the top-level attribute that holds it. */
int qkdn_nl_extack_attr(const struct qkdn_nl *nl);
/* The attribute type the kernel reported missing (NLMSGERR_ATTR_MISS_TYPE),
 * or -1. */
int qkdn_nl_extack_missing(const struct qkdn_nl *nl);

/* Joins a multicast group of the family by name. 0 or -errno (-ENOENT:
 * the family has no such group). */
int qkdn_nl_join_group(struct qkdn_nl *nl, const char *group);

/* A request for command cmd; flags are extra NLM_F_* bits (usually 0:
 * qkdn_nl_request() and qkdn_nl_dump() add what they need). The buffer is
 * a secbuf of QKDN_NL_MSG_SIZE bytes. A message can be sent any number of
 * times: each send gives it a fresh sequence number. NULL on ENOMEM. */
struct qkdn_nl_msg *qkdn_nl_msg_new(uint8_t cmd, uint16_t flags);
/* Empties the message for reuse with another command, without allocating. */
void qkdn_nl_msg_reset(struct qkdn_nl_msg *msg, uint8_t cmd, uint16_t flags);
void qkdn_nl_msg_free(struct qkdn_nl_msg *msg);

void qkdn_nl_put_u8(struct qkdn_nl_msg *msg, uint16_t type, uint8_t v);
void qkdn_nl_put_u16(struct qkdn_nl_msg *msg, uint16_t type, uint16_t v);
void qkdn_nl_put_u32(struct qkdn_nl_msg *msg, uint16_t type, uint32_t v);
void qkdn_nl_put_u64(struct qkdn_nl_msg *msg, uint16_t type, uint64_t v);
void qkdn_nl_put_str(struct qkdn_nl_msg *msg, uint16_t type, const char *s);
void qkdn_nl_put(struct qkdn_nl_msg *msg, uint16_t type, const void *p, size_t len);
/* Returns NULL (and marks the message overflowed) if it does not fit;
 * qkdn_nl_nest_end() accepts that NULL. */
struct nlattr *qkdn_nl_nest_start(struct qkdn_nl_msg *msg, uint16_t type);
void qkdn_nl_nest_end(struct qkdn_nl_msg *msg, struct nlattr *nest);

/* Sends msg with NLM_F_REQUEST | NLM_F_ACK, hands each reply to cb (may be
 * NULL) and waits for the ack. Returns 0, the kernel's -errno, cb's -errno,
 * or -errno of the socket. */
int qkdn_nl_request(struct qkdn_nl *nl, struct qkdn_nl_msg *msg, qkdn_nl_cb cb, void *data);

/* Sends msg with NLM_F_REQUEST | NLM_F_DUMP and hands each reply to cb.
 * Before each attempt cb(NULL, data) is called: forget what earlier
 * attempts delivered. A dump marked NLM_F_DUMP_INTR is retried, up to
 * QKDN_NL_DUMP_TRIES attempts, then fails with -EAGAIN. */
int qkdn_nl_dump(struct qkdn_nl *nl, struct qkdn_nl_msg *msg, qkdn_nl_cb cb, void *data);

/* Receives one datagram of notifications (messages with sequence number 0)
 * and hands each to cb; a non-zero return from cb stops there and is
 * returned. Returns 0, -EINTR when a signal interrupted the wait, -ENOBUFS
 * when the kernel dropped notifications (the socket stays usable), or
 * another -errno. */
int qkdn_nl_recv_notifications(struct qkdn_nl *nl, qkdn_nl_cb cb, void *data);

/* The genetlink command of a message. */
uint8_t qkdn_nl_cmd(const struct nlmsghdr *nlh);
/* Fills tb[0..max] (zeroed first) with the message's top-level attributes
 * or a nest's members; unknown types above max are ignored. 0 or -EINVAL
 * for a malformed message. */
int qkdn_nl_parse(const struct nlmsghdr *nlh, const struct nlattr **tb, unsigned int max);
int qkdn_nl_parse_nested(const struct nlattr *nest, const struct nlattr **tb, unsigned int max);

/* Typed reads that check the payload length: false if a is NULL or the
 * length is wrong (the value is then left alone). */
bool qkdn_nla_u8(const struct nlattr *a, uint8_t *out);
bool qkdn_nla_u16(const struct nlattr *a, uint16_t *out);
bool qkdn_nla_u32(const struct nlattr *a, uint32_t *out);
bool qkdn_nla_u64(const struct nlattr *a, uint64_t *out);
/* The string if a holds a NUL-terminated one, else NULL. */
const char *qkdn_nla_str(const struct nlattr *a);

#endif
