/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The TLV wire codec of qkdn daemons (Kx between key managers today; Ck,
 * Mk, ... later), carried over TLS 1.3 with mutual authentication.
 *
 * Framing
 * =======
 *
 * A message is a u32 big-endian length of its body, then the body: at most
 * QKDN_WIRE_BODY_MAX bytes of attributes laid out as netlink attributes
 * (struct nlattr: u16 nla_len, u16 nla_type, payload padded to 4 bytes,
 * exactly what libmnl builds and parses). The attribute header and integer
 * payloads are little endian: that is netlink's host order on every
 * platform qkdn supports, and wire.c refuses to build on a big-endian host
 * rather than speak a different protocol. Strings are NUL-terminated and
 * not empty. The
 * only flag bit used is NLA_F_NESTED, set on nests and nowhere else.
 *
 * Parsing is strict: every attribute must be one the command's policy
 * allows, of the right type and length, present at most once; required
 * attributes must be there; the length prefix must match the body exactly.
 * Anything else fails the whole message, with a message naming the cause.
 *
 * Common items (seed 000 Tables 7-2, 7-3), in every message:
 *     QKDN_W_MSG_ID: u64, chosen by the sender, unique per sender process
 *     QKDN_W_CMD: u16, enum qkdn_wire_cmd
 *     QKDN_W_SENDER_ID: u32, the sender's node ID (1..QKDN_NODE_ID_MAX)
 *   and in responses, which carry the command code of what they answer:
 *     QKDN_W_ORIG_MSG_ID: u64, the QKDN_W_MSG_ID answered
 *     QKDN_W_RESPONSE_CODE: u16, enum qkdn_wire_response
 *     QKDN_W_REASON: string, at most QKDN_W_REASON_MAX bytes with the NUL,
 *         optional, why a response is not a success
 *   A message with QKDN_W_ORIG_MSG_ID is a response; it must then carry
 *   QKDN_W_RESPONSE_CODE too, and a command must carry neither.
 *
 * Key manager to key manager (Kx, seed 000 clause 7.2.2)
 * ------------------------------------------------------
 *
 * QKDN_W_CMD_HELLO (Table 7-8), sent by both ends once TLS is up:
 *     QKDN_W_SENDER_IP: string, the sender's address on this connection
 *     QKDN_W_SENDER_HOSTNAME: string, the sender KM's name (Table 7-8
 *         "Sender ID: hostname of sender KM"; the common QKDN_W_SENDER_ID
 *         is the node ID)
 *     QKDN_W_COMMUNITY_ID: string, the community name; both ends must
 *         have the same
 *     QKDN_W_AUTH_INFO: string, "qkdn-node-<ID>", the subject CN of the
 *         sender's certificate; the receiver checks it against the
 *         certificate TLS verified, and QKDN_W_SENDER_ID against the ID
 *         the CN names
 *   All four required. Response: the common items only (QKDN_W_REASON on
 *   failure); a failed HELLO closes the connection.
 *
 * QKDN_W_CMD_SESSION (Table 7-9), proposed by the end with the lower node
 * ID once both HELLOs succeeded:
 *     QKDN_W_SESSION_ID: u64, random, not 0, required
 *     QKDN_W_TIMER: u32, lifetime of the KMA-key IDs of the session in
 *         seconds, 1..QKDN_W_TIMER_MAX, required
 *     QKDN_W_KEY_ID_HASH: binary, exactly 32 bytes, SHA-256 of a KMA-key
 *         ID, optional (qkdn-kmd sends none: relay frames name their
 *         link keys themselves)
 *   Response: QKDN_W_SESSION_ID and QKDN_W_TIMER, echoing the accepted
 *   proposal, on success.
 *
 * QKDN_W_CMD_UPDATE (Table 7-10): a route advertisement, "destination
 * QKDN_W_DEST_NODE_ID is reachable through the sender".
 *     QKDN_W_SENDER_IP: string, required
 *     QKDN_W_RECEIVER_IP: string, the receiver's address on this
 *         connection, required
 *     QKDN_W_DEST_NODE_ID: u32, the destination advertised, required
 *     QKDN_W_QOS: u32, hop count from the sender to the destination,
 *         required
 *     QKDN_W_KEY_ID: binary, exactly QKDN_KEY_ID_LEN bytes, a KMA-key ID,
 *         optional (not sent yet)
 *   No response.
 *
 * QKDN_W_CMD_KX: one relay frame for the receiver's kernel module.
 *     QKDN_W_KX_FRAME: binary, 1..QKDN_KX_FRAME_MAX bytes, required:
 *         opaque, already encrypted and authenticated by the sender's
 *         module (see "Key relay (Kx)" in <linux/qkdn.h>)
 *   No response: the modules acknowledge relays end to end.
 *
 * QKDN_W_CMD_KEEPALIVE: the common items only, sent after a quiet
 *   interval so the receiver knows the connection is alive. No response.
 *
 * Usage
 * =====
 *
 *   struct qkdn_wire_msg *m = qkdn_wire_msg_new(QKDN_W_CMD_KX, my_id);
 *   qkdn_wire_put_bin(m, QKDN_W_KX_FRAME, frame, frame_len);
 *   const void *bytes; size_t len;
 *   if (qkdn_wire_msg_finish(m, &bytes, &len) == 0)
 *           ... send bytes ...
 *   qkdn_wire_msg_free(m);
 *
 *   const struct nlattr *tb[QKDN_W_MAX + 1];
 *   struct qkdn_wire_hdr hdr;
 *   if (qkdn_wire_parse(buf, len, &qkdn_wire_kx_policy, tb, &hdr) < 0)
 *           ... hdr.error says why ...
 */
#ifndef QKDN_WIRE_H
#define QKDN_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libmnl/libmnl.h>

#define QKDN_WIRE_LEN_SIZE	4		/* the length prefix */
#define QKDN_WIRE_BODY_MAX	(1U << 20)	/* 1 MiB of attributes */
#define QKDN_W_STR_MAX		64		/* strings, with the NUL */
#define QKDN_W_REASON_MAX	256
#define QKDN_W_KEY_ID_HASH_LEN	32
#define QKDN_W_TIMER_MAX	(7U * 24 * 3600)

enum qkdn_wire_cmd {
	QKDN_W_CMD_UNSPEC,
	QKDN_W_CMD_HELLO,
	QKDN_W_CMD_SESSION,
	QKDN_W_CMD_UPDATE,
	QKDN_W_CMD_KX,
	QKDN_W_CMD_KEEPALIVE,
	__QKDN_W_CMD_LAST
};

#define QKDN_W_CMD_MAX (__QKDN_W_CMD_LAST - 1)

enum qkdn_wire_attr {
	QKDN_W_UNSPEC,
	QKDN_W_MSG_ID,
	QKDN_W_CMD,
	QKDN_W_SENDER_ID,
	QKDN_W_ORIG_MSG_ID,
	QKDN_W_RESPONSE_CODE,
	QKDN_W_REASON,
	QKDN_W_SENDER_IP,
	QKDN_W_SENDER_HOSTNAME,
	QKDN_W_COMMUNITY_ID,
	QKDN_W_AUTH_INFO,
	QKDN_W_SESSION_ID,
	QKDN_W_TIMER,
	QKDN_W_KEY_ID_HASH,
	QKDN_W_RECEIVER_IP,
	QKDN_W_DEST_NODE_ID,
	QKDN_W_QOS,
	QKDN_W_KEY_ID,
	QKDN_W_KX_FRAME,
	__QKDN_W_LAST
};

#define QKDN_W_MAX (__QKDN_W_LAST - 1)

/**
 * enum qkdn_wire_response - QKDN_W_RESPONSE_CODE (seed 000 Table 7-3)
 * @QKDN_W_RESP_SUCCESS: the command was accepted
 * @QKDN_W_RESP_FAILURE: it was refused; QKDN_W_REASON may say why
 */
enum qkdn_wire_response {
	QKDN_W_RESP_UNSPEC,
	QKDN_W_RESP_SUCCESS,
	QKDN_W_RESP_FAILURE,
	__QKDN_W_RESP_LAST
};

#define QKDN_W_RESP_MAX (__QKDN_W_RESP_LAST - 1)

/* Attribute types a policy can ask for. */
enum qkdn_wire_type {
	QKDN_WT_UNSPEC,		/* not allowed: the zero entry of a policy */
	QKDN_WT_U8,
	QKDN_WT_U16,
	QKDN_WT_U32,
	QKDN_WT_U64,
	QKDN_WT_STRING,		/* not empty, NUL-terminated, no NUL before the
				 * end, at most max_len bytes with the NUL */
	QKDN_WT_BINARY,		/* min_len..max_len bytes */
	QKDN_WT_NESTED,		/* members checked against .nested */
};

struct qkdn_wire_nest_policy;

/* One attribute's rule. An all-zero entry means "not allowed". */
struct qkdn_wire_attr_policy {
	enum qkdn_wire_type type;
	bool required;
	uint16_t min_len;	/* BINARY */
	uint16_t max_len;	/* STRING, BINARY (0: 65531, what fits) */
	const struct qkdn_wire_nest_policy *nested;	/* NESTED */
};

struct qkdn_wire_nest_policy {
	const struct qkdn_wire_attr_policy *attrs;	/* [0..max] */
	unsigned int max;
};

/* The attributes a command may carry besides the common items, as a
 * command and as a response. attrs arrays are indexed by attribute type
 * and have QKDN_W_MAX + 1 entries; the common items' entries are ignored
 * (the parser checks those itself). A NULL response table means the
 * command has no response. */
struct qkdn_wire_cmd_policy {
	const struct qkdn_wire_attr_policy *command;
	const struct qkdn_wire_attr_policy *response;
};

/* A protocol: the commands one kind of connection may carry, indexed by
 * command code (0..max_cmd). Commands with a NULL .command are refused. */
struct qkdn_wire_policy {
	const char *name;
	const struct qkdn_wire_cmd_policy *cmds;
	unsigned int max_cmd;
};

/* Kx between key managers: HELLO, SESSION, UPDATE, KX, KEEPALIVE. */
extern const struct qkdn_wire_policy qkdn_wire_kx_policy;

/* The common items of a parsed message. */
struct qkdn_wire_hdr {
	uint64_t msg_id;
	uint16_t cmd;
	uint32_t sender_id;
	bool is_response;
	uint64_t orig_msg_id;		/* responses only */
	uint16_t response_code;		/* responses only */
	char error[160];		/* why parsing failed, "" otherwise */
};

struct qkdn_wire_msg;

/* A new command (or, with _response_new, a response) carrying the common
 * items. The message ID comes from qkdn_wire_next_msg_id(). NULL on ENOMEM. */
struct qkdn_wire_msg *qkdn_wire_msg_new(uint16_t cmd, uint32_t sender);
struct qkdn_wire_msg *qkdn_wire_response_new(uint16_t cmd, uint32_t sender,
					     uint64_t orig_msg_id, uint16_t code);
void qkdn_wire_msg_free(struct qkdn_wire_msg *m);
uint64_t qkdn_wire_msg_id(const struct qkdn_wire_msg *m);

/* Process-wide message IDs: a counter that starts at a random value. */
uint64_t qkdn_wire_next_msg_id(void);

/* Puts never fail on their own: a put that does not fit (attribute over
 * 64 KiB, body over QKDN_WIRE_BODY_MAX, no memory) marks the message and
 * qkdn_wire_msg_finish() then fails. */
void qkdn_wire_put_u8(struct qkdn_wire_msg *m, uint16_t type, uint8_t v);
void qkdn_wire_put_u16(struct qkdn_wire_msg *m, uint16_t type, uint16_t v);
void qkdn_wire_put_u32(struct qkdn_wire_msg *m, uint16_t type, uint32_t v);
void qkdn_wire_put_u64(struct qkdn_wire_msg *m, uint16_t type, uint64_t v);
void qkdn_wire_put_str(struct qkdn_wire_msg *m, uint16_t type, const char *s);
void qkdn_wire_put_bin(struct qkdn_wire_msg *m, uint16_t type, const void *p, size_t len);
/* A nest: returns a handle for _nest_end (negative if the put failed,
 * which _nest_end accepts). Nests may hold nests. */
long qkdn_wire_nest_start(struct qkdn_wire_msg *m, uint16_t type);
void qkdn_wire_nest_end(struct qkdn_wire_msg *m, long nest);

/* Writes the length prefix and hands out the framed message (prefix and
 * body), valid until the message is freed. 0, -EMSGSIZE (something did
 * not fit) or -ENOMEM. */
int qkdn_wire_msg_finish(struct qkdn_wire_msg *m, const void **bytes, size_t *len);

/* The body length a 4-byte prefix announces: 0 or -EMSGSIZE when it is
 * over QKDN_WIRE_BODY_MAX. */
int qkdn_wire_frame_body_len(const void *prefix, uint32_t *body_len);

/* Parses a framed message (prefix and body, exactly len bytes; buf 4-byte
 * aligned, as malloc() returns) against policy. Fills tb[0..QKDN_W_MAX]
 * with the attributes (common items included) and hdr with the common
 * items. Returns 0, or -EMSGSIZE (over QKDN_WIRE_BODY_MAX), -EBADMSG
 * (truncated, trailing bytes, malformed TLV), -EPROTO (a policy was
 * violated), -EOPNOTSUPP (command not in the policy), -EINVAL (misaligned
 * buffer); hdr->error says which attribute and why. tb entries point into
 * buf. */
int qkdn_wire_parse(const void *buf, size_t len, const struct qkdn_wire_policy *policy,
		    const struct nlattr *tb[QKDN_W_MAX + 1], struct qkdn_wire_hdr *hdr);

/* Parses a nest tb_out[0..nested->max] with the same strict rules, for a
 * nest qkdn_wire_parse() already validated. 0 or -EPROTO/-EBADMSG with
 * err filled. */
int qkdn_wire_parse_nested(const struct nlattr *nest, const struct qkdn_wire_nest_policy *nested,
			   const struct nlattr **tb_out, char *err, size_t err_len);

/* Names for logs: "HELLO", "attr 7 (SENDER_IP)" style, never NULL. */
const char *qkdn_wire_cmd_name(uint16_t cmd);
const char *qkdn_wire_attr_name(uint16_t type);

/* Typed reads of attributes the parser validated. */
static inline uint8_t qkdn_wire_get_u8(const struct nlattr *a) { return mnl_attr_get_u8(a); }
static inline uint16_t qkdn_wire_get_u16(const struct nlattr *a) { return mnl_attr_get_u16(a); }
static inline uint32_t qkdn_wire_get_u32(const struct nlattr *a) { return mnl_attr_get_u32(a); }
static inline uint64_t qkdn_wire_get_u64(const struct nlattr *a) { return mnl_attr_get_u64(a); }
static inline const char *qkdn_wire_get_str(const struct nlattr *a) { return mnl_attr_get_str(a); }
static inline const void *qkdn_wire_get_bin(const struct nlattr *a) { return mnl_attr_get_payload(a); }
static inline size_t qkdn_wire_get_len(const struct nlattr *a) { return mnl_attr_get_payload_len(a); }

#endif
