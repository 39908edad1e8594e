// SPDX-License-Identifier: GPL-2.0 OR MIT
/* The TLV wire codec: round trips, and every way a message is refused. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/netlink.h>
#include <linux/qkdn.h>

#include "tap.h"
#include "wire.h"

#define QKDN_ARRAY_SIZE_T(a) (sizeof(a) / sizeof((a)[0]))

/* Hand-built messages, for what the builder refuses to make. */
struct raw {
	uint32_t words[(QKDN_KX_FRAME_MAX + 4096) / 4];
	size_t len;	/* bytes, prefix included */
};

static void raw_init(struct raw *r)
{
	memset(r, 0, sizeof(*r));
	r->len = QKDN_WIRE_LEN_SIZE;
}

static void raw_attr_flags(struct raw *r, uint16_t type, const void *p, size_t len)
{
	unsigned char *b = (unsigned char *)r->words + r->len;
	struct nlattr a = { .nla_len = (uint16_t)(4 + len), .nla_type = type };

	memcpy(b, &a, sizeof(a));
	memcpy(b + 4, p, len);
	r->len += MNL_ALIGN(4 + len);
}

static void raw_u16(struct raw *r, uint16_t type, uint16_t v) { raw_attr_flags(r, type, &v, 2); }
static void raw_u32(struct raw *r, uint16_t type, uint32_t v) { raw_attr_flags(r, type, &v, 4); }
static void raw_u64(struct raw *r, uint16_t type, uint64_t v) { raw_attr_flags(r, type, &v, 8); }
static void raw_str(struct raw *r, uint16_t type, const char *s)
{
	raw_attr_flags(r, type, s, strlen(s) + 1);
}

static void raw_common(struct raw *r, uint16_t cmd)
{
	raw_u64(r, QKDN_W_MSG_ID, 77);
	raw_u16(r, QKDN_W_CMD, cmd);
	raw_u32(r, QKDN_W_SENDER_ID, 2);
}

/* Sets the prefix to the body length. */
static void raw_frame(struct raw *r)
{
	uint32_t n = (uint32_t)(r->len - 4);
	unsigned char *b = (unsigned char *)r->words;

	b[0] = (unsigned char)(n >> 24);
	b[1] = (unsigned char)(n >> 16);
	b[2] = (unsigned char)(n >> 8);
	b[3] = (unsigned char)n;
}

static int raw_parse(struct raw *r, struct qkdn_wire_hdr *hdr)
{
	const struct nlattr *tb[QKDN_W_MAX + 1];

	raw_frame(r);
	return qkdn_wire_parse(r->words, r->len, &qkdn_wire_kx_policy, tb, hdr);
}

static void hello_items(struct raw *r)
{
	raw_str(r, QKDN_W_SENDER_IP, "127.0.0.1");
	raw_str(r, QKDN_W_SENDER_HOSTNAME, "alpha");
	raw_str(r, QKDN_W_COMMUNITY_ID, "demo");
	raw_str(r, QKDN_W_AUTH_INFO, "qkdn-node-2");
}

/* Parses a finished builder message from an aligned copy. */
static int parse_msg(struct qkdn_wire_msg *m, const struct qkdn_wire_policy *pol,
		     const struct nlattr **tb, struct qkdn_wire_hdr *hdr, void **copy)
{
	const void *bytes;
	size_t len;
	int ret = qkdn_wire_msg_finish(m, &bytes, &len);

	*copy = NULL;
	if (ret)
		return ret;
	*copy = malloc(len);
	memcpy(*copy, bytes, len);
	return qkdn_wire_parse(*copy, len, pol, tb, hdr);
}

static void test_round_trips(void)
{
	const struct nlattr *tb[QKDN_W_MAX + 1];
	struct qkdn_wire_hdr hdr;
	struct qkdn_wire_msg *m;
	unsigned char frame[QKDN_KX_FRAME_MAX];
	uint64_t id;
	void *copy;
	int ret;

	m = qkdn_wire_msg_new(QKDN_W_CMD_HELLO, 1);
	id = qkdn_wire_msg_id(m);
	qkdn_wire_put_str(m, QKDN_W_SENDER_IP, "10.0.0.1");
	qkdn_wire_put_str(m, QKDN_W_SENDER_HOSTNAME, "alpha node");
	qkdn_wire_put_str(m, QKDN_W_COMMUNITY_ID, "qkdn-demo");
	qkdn_wire_put_str(m, QKDN_W_AUTH_INFO, "qkdn-node-1");
	ret = parse_msg(m, &qkdn_wire_kx_policy, tb, &hdr, &copy);
	ok(ret == 0, "HELLO round trip (%s)", hdr.error);
	ok(hdr.msg_id == id && hdr.cmd == QKDN_W_CMD_HELLO && hdr.sender_id == 1 &&
	   !hdr.is_response, "HELLO common items");
	ok(ret == 0 && strcmp(qkdn_wire_get_str(tb[QKDN_W_SENDER_HOSTNAME]), "alpha node") == 0 &&
	   strcmp(qkdn_wire_get_str(tb[QKDN_W_COMMUNITY_ID]), "qkdn-demo") == 0 &&
	   strcmp(qkdn_wire_get_str(tb[QKDN_W_AUTH_INFO]), "qkdn-node-1") == 0,
	   "HELLO items");
	free(copy);
	qkdn_wire_msg_free(m);
	ok(qkdn_wire_next_msg_id() != id, "message IDs do not repeat");

	m = qkdn_wire_response_new(QKDN_W_CMD_HELLO, 2, id, QKDN_W_RESP_FAILURE);
	qkdn_wire_put_str(m, QKDN_W_REASON, "community differs");
	ret = parse_msg(m, &qkdn_wire_kx_policy, tb, &hdr, &copy);
	ok(ret == 0 && hdr.is_response && hdr.orig_msg_id == id &&
	   hdr.response_code == QKDN_W_RESP_FAILURE && hdr.sender_id == 2 &&
	   strcmp(qkdn_wire_get_str(tb[QKDN_W_REASON]), "community differs") == 0,
	   "HELLO failure response round trip (%s)", hdr.error);
	free(copy);
	qkdn_wire_msg_free(m);

	m = qkdn_wire_msg_new(QKDN_W_CMD_SESSION, 1);
	qkdn_wire_put_u64(m, QKDN_W_SESSION_ID, 0x0123456789abcdefULL);
	qkdn_wire_put_u32(m, QKDN_W_TIMER, 3600);
	memset(frame, 0xa5, 32);
	qkdn_wire_put_bin(m, QKDN_W_KEY_ID_HASH, frame, 32);
	ret = parse_msg(m, &qkdn_wire_kx_policy, tb, &hdr, &copy);
	ok(ret == 0 && qkdn_wire_get_u64(tb[QKDN_W_SESSION_ID]) == 0x0123456789abcdefULL &&
	   qkdn_wire_get_u32(tb[QKDN_W_TIMER]) == 3600 &&
	   qkdn_wire_get_len(tb[QKDN_W_KEY_ID_HASH]) == 32,
	   "SESSION round trip (%s)", hdr.error);
	free(copy);
	qkdn_wire_msg_free(m);

	m = qkdn_wire_response_new(QKDN_W_CMD_SESSION, 2, 5, QKDN_W_RESP_SUCCESS);
	qkdn_wire_put_u64(m, QKDN_W_SESSION_ID, 9);
	qkdn_wire_put_u32(m, QKDN_W_TIMER, 60);
	ret = parse_msg(m, &qkdn_wire_kx_policy, tb, &hdr, &copy);
	ok(ret == 0 && hdr.is_response && qkdn_wire_get_u64(tb[QKDN_W_SESSION_ID]) == 9,
	   "SESSION response round trip (%s)", hdr.error);
	free(copy);
	qkdn_wire_msg_free(m);

	m = qkdn_wire_msg_new(QKDN_W_CMD_UPDATE, 1);
	qkdn_wire_put_str(m, QKDN_W_SENDER_IP, "::1");
	qkdn_wire_put_str(m, QKDN_W_RECEIVER_IP, "::1");
	qkdn_wire_put_u32(m, QKDN_W_DEST_NODE_ID, 5);
	qkdn_wire_put_u32(m, QKDN_W_QOS, 2);
	ret = parse_msg(m, &qkdn_wire_kx_policy, tb, &hdr, &copy);
	ok(ret == 0 && qkdn_wire_get_u32(tb[QKDN_W_DEST_NODE_ID]) == 5 &&
	   qkdn_wire_get_u32(tb[QKDN_W_QOS]) == 2 && !tb[QKDN_W_KEY_ID],
	   "UPDATE round trip (%s)", hdr.error);
	free(copy);
	qkdn_wire_msg_free(m);

	for (size_t i = 0; i < sizeof(frame); i++)
		frame[i] = (unsigned char)(i * 7);
	m = qkdn_wire_msg_new(QKDN_W_CMD_KX, 3);
	qkdn_wire_put_bin(m, QKDN_W_KX_FRAME, frame, sizeof(frame));
	ret = parse_msg(m, &qkdn_wire_kx_policy, tb, &hdr, &copy);
	ok(ret == 0 && qkdn_wire_get_len(tb[QKDN_W_KX_FRAME]) == QKDN_KX_FRAME_MAX &&
	   memcmp(qkdn_wire_get_bin(tb[QKDN_W_KX_FRAME]), frame, sizeof(frame)) == 0,
	   "KX of QKDN_KX_FRAME_MAX bytes round trip (%s)", hdr.error);
	free(copy);
	qkdn_wire_msg_free(m);

	m = qkdn_wire_msg_new(QKDN_W_CMD_KX, 3);
	qkdn_wire_put_bin(m, QKDN_W_KX_FRAME, frame, 1);
	ret = parse_msg(m, &qkdn_wire_kx_policy, tb, &hdr, &copy);
	ok(ret == 0 && qkdn_wire_get_len(tb[QKDN_W_KX_FRAME]) == 1,
	   "KX of 1 byte (padded) round trip");
	free(copy);
	qkdn_wire_msg_free(m);

	m = qkdn_wire_msg_new(QKDN_W_CMD_KEEPALIVE, QKDN_NODE_ID_MAX);
	ret = parse_msg(m, &qkdn_wire_kx_policy, tb, &hdr, &copy);
	ok(ret == 0 && hdr.cmd == QKDN_W_CMD_KEEPALIVE && hdr.sender_id == QKDN_NODE_ID_MAX,
	   "KEEPALIVE round trip");
	free(copy);
	qkdn_wire_msg_free(m);
}

/* A protocol of one command for the builder's other puts: u8, nests. */
static const struct qkdn_wire_attr_policy inner_attrs[3] = {
	[1] = { .type = QKDN_WT_U32, .required = true },
	[2] = { .type = QKDN_WT_STRING, .max_len = 8 },
};
static const struct qkdn_wire_nest_policy inner = { inner_attrs, 2 };
static const struct qkdn_wire_attr_policy nest_cmd[QKDN_W_MAX + 1] = {
	[QKDN_W_QOS] = { .type = QKDN_WT_U8, .required = true },
	[QKDN_W_KEY_ID] = { .type = QKDN_WT_NESTED, .nested = &inner },
};
static const struct qkdn_wire_cmd_policy nest_cmds[] = {
	[QKDN_W_CMD_UPDATE] = { nest_cmd, NULL },
};
static const struct qkdn_wire_policy nest_policy = { "test", nest_cmds, QKDN_W_CMD_UPDATE, 0 };

static void test_nests(void)
{
	const struct nlattr *tb[QKDN_W_MAX + 1], *ntb[3];
	struct qkdn_wire_hdr hdr;
	struct qkdn_wire_msg *m;
	char err[128];
	void *copy;
	long nest;
	int ret;

	m = qkdn_wire_msg_new(QKDN_W_CMD_UPDATE, 1);
	qkdn_wire_put_u8(m, QKDN_W_QOS, 200);
	nest = qkdn_wire_nest_start(m, QKDN_W_KEY_ID);
	qkdn_wire_put_u32(m, 1, 42);
	qkdn_wire_put_str(m, 2, "abc");
	qkdn_wire_nest_end(m, nest);
	ret = parse_msg(m, &nest_policy, tb, &hdr, &copy);
	ok(ret == 0 && qkdn_wire_get_u8(tb[QKDN_W_QOS]) == 200, "u8 and nest round trip (%s)",
	   hdr.error);
	ok(ret == 0 && qkdn_wire_parse_nested(tb[QKDN_W_KEY_ID], &inner, ntb, err, sizeof(err)) == 0 &&
	   qkdn_wire_get_u32(ntb[1]) == 42 && strcmp(qkdn_wire_get_str(ntb[2]), "abc") == 0,
	   "nest members read back");
	free(copy);
	qkdn_wire_msg_free(m);

	m = qkdn_wire_msg_new(QKDN_W_CMD_UPDATE, 1);
	qkdn_wire_put_u8(m, QKDN_W_QOS, 1);
	nest = qkdn_wire_nest_start(m, QKDN_W_KEY_ID);
	qkdn_wire_put_str(m, 2, "abc");
	qkdn_wire_nest_end(m, nest);
	ret = parse_msg(m, &nest_policy, tb, &hdr, &copy);
	ok(ret == -EPROTO && strstr(hdr.error, "nest: required attribute 1"),
	   "nest missing a required member refused: %s", hdr.error);
	free(copy);
	qkdn_wire_msg_free(m);

	m = qkdn_wire_msg_new(QKDN_W_CMD_UPDATE, 1);
	qkdn_wire_put_u8(m, QKDN_W_QOS, 1);
	nest = qkdn_wire_nest_start(m, QKDN_W_KEY_ID);
	qkdn_wire_put_u32(m, 1, 1);
	qkdn_wire_put_u32(m, 1, 2);
	qkdn_wire_nest_end(m, nest);
	ret = parse_msg(m, &nest_policy, tb, &hdr, &copy);
	ok(ret == -EPROTO && strstr(hdr.error, "twice"),
	   "duplicate nest member refused: %s", hdr.error);
	free(copy);
	qkdn_wire_msg_free(m);

	m = qkdn_wire_msg_new(QKDN_W_CMD_UPDATE, 1);
	qkdn_wire_put_u8(m, QKDN_W_QOS, 1);
	nest = qkdn_wire_nest_start(m, QKDN_W_KEY_ID);
	qkdn_wire_put_u32(m, 1, 1);
	qkdn_wire_put_u32(m, 7, 2);
	qkdn_wire_nest_end(m, nest);
	ret = parse_msg(m, &nest_policy, tb, &hdr, &copy);
	ok(ret == -EPROTO && strstr(hdr.error, "attribute 7 (nested) not allowed"),
	   "unknown nest member refused: %s", hdr.error);
	free(copy);
	qkdn_wire_msg_free(m);

	m = qkdn_wire_msg_new(QKDN_W_CMD_UPDATE, 1);
	qkdn_wire_put_u8(m, QKDN_W_QOS, 1);
	qkdn_wire_put_u32(m, QKDN_W_KEY_ID, 1);	/* a nest's type, without NLA_F_NESTED */
	ret = parse_msg(m, &nest_policy, tb, &hdr, &copy);
	ok(ret == -EPROTO && strstr(hdr.error, "wrong flags"),
	   "nest without NLA_F_NESTED refused: %s", hdr.error);
	free(copy);
	qkdn_wire_msg_free(m);
}

static void test_builder_limits(void)
{
	struct qkdn_wire_msg *m = qkdn_wire_msg_new(QKDN_W_CMD_KX, 1);
	static unsigned char big[65536];
	const void *bytes;
	size_t len;

	qkdn_wire_put_bin(m, QKDN_W_KX_FRAME, big, 65532);
	ok(qkdn_wire_msg_finish(m, &bytes, &len) == -EMSGSIZE,
	   "an attribute over 64 KiB fails the message");
	qkdn_wire_msg_free(m);

	m = qkdn_wire_msg_new(QKDN_W_CMD_KX, 1);
	for (int i = 0; i < 17; i++)
		qkdn_wire_put_bin(m, QKDN_W_KX_FRAME, big, 65000);
	ok(qkdn_wire_msg_finish(m, &bytes, &len) == -EMSGSIZE,
	   "a body over 1 MiB fails the message");
	qkdn_wire_msg_free(m);

	m = qkdn_wire_msg_new(QKDN_W_CMD_KX, 1);
	for (int i = 0; i < 16; i++)
		qkdn_wire_put_bin(m, QKDN_W_KX_FRAME, big, 65000);
	ok(qkdn_wire_msg_finish(m, &bytes, &len) == 0 && len > 16 * 65000 &&
	   len <= QKDN_WIRE_LEN_SIZE + QKDN_WIRE_BODY_MAX,
	   "a body just under 1 MiB is built");
	qkdn_wire_msg_free(m);
}

static void test_rejections(void)
{
	static struct raw r;
	struct qkdn_wire_hdr hdr;
	const struct nlattr *tb[QKDN_W_MAX + 1];
	uint32_t body_len;
	char want[64];
	int ret;

	/* The base case passes, so each refusal below is for its one flaw. */
	raw_init(&r);
	raw_common(&r, QKDN_W_CMD_HELLO);
	hello_items(&r);
	ok(raw_parse(&r, &hdr) == 0, "hand-built HELLO accepted (%s)", hdr.error);

	raw_frame(&r);
	ret = qkdn_wire_parse(r.words, r.len - 1, &qkdn_wire_kx_policy, tb, &hdr);
	ok(ret == -EBADMSG && strstr(hdr.error, "truncated"), "truncated: %s", hdr.error);
	ret = qkdn_wire_parse(r.words, 3, &qkdn_wire_kx_policy, tb, &hdr);
	ok(ret == -EBADMSG && strstr(hdr.error, "no length prefix"), "no prefix: %s", hdr.error);
	ret = qkdn_wire_parse(r.words, r.len + 4, &qkdn_wire_kx_policy, tb, &hdr);
	ok(ret == -EBADMSG && strstr(hdr.error, "trailing"), "trailing bytes: %s", hdr.error);
	ret = qkdn_wire_parse((unsigned char *)r.words + 2, r.len, &qkdn_wire_kx_policy, tb, &hdr);
	ok(ret == -EINVAL, "misaligned buffer: %s", hdr.error);

	((unsigned char *)r.words)[1] = 0x10;	/* body of 1 MiB + ... */
	ret = qkdn_wire_parse(r.words, r.len, &qkdn_wire_kx_policy, tb, &hdr);
	ok(ret == -EMSGSIZE && strstr(hdr.error, "limit"), "oversize prefix: %s", hdr.error);
	ok(qkdn_wire_frame_body_len(r.words, &body_len) == -EMSGSIZE,
	   "frame_body_len refuses over 1 MiB");
	((unsigned char *)r.words)[1] = 0x10;
	((unsigned char *)r.words)[2] = 0;
	((unsigned char *)r.words)[3] = 0;
	ok(qkdn_wire_frame_body_len(r.words, &body_len) == 0 && body_len == QKDN_WIRE_BODY_MAX,
	   "frame_body_len takes exactly 1 MiB");

	raw_init(&r);
	raw_common(&r, QKDN_W_CMD_HELLO);
	hello_items(&r);
	raw_u32(&r, 99, 1);
	ret = raw_parse(&r, &hdr);
	ok(ret == -EPROTO && strstr(hdr.error, "attribute 99 (unknown) not allowed"),
	   "unknown attribute: %s", hdr.error);

	raw_init(&r);
	raw_common(&r, QKDN_W_CMD_HELLO);
	hello_items(&r);
	raw_u64(&r, QKDN_W_SESSION_ID, 1);
	ret = raw_parse(&r, &hdr);
	ok(ret == -EPROTO && strstr(hdr.error, "SESSION_ID) not allowed"),
	   "another command's attribute: %s", hdr.error);

	raw_init(&r);
	raw_common(&r, QKDN_W_CMD_HELLO);
	hello_items(&r);
	raw_str(&r, QKDN_W_COMMUNITY_ID, "demo");
	ret = raw_parse(&r, &hdr);
	ok(ret == -EPROTO && strstr(hdr.error, "COMMUNITY_ID) appears twice"),
	   "duplicate attribute: %s", hdr.error);

	raw_init(&r);
	raw_common(&r, QKDN_W_CMD_HELLO);
	raw_u16(&r, QKDN_W_CMD, QKDN_W_CMD_HELLO);
	hello_items(&r);
	ret = raw_parse(&r, &hdr);
	ok(ret == -EPROTO && strstr(hdr.error, "CMD) appears twice"),
	   "duplicate command code: %s", hdr.error);

	raw_init(&r);
	raw_common(&r, QKDN_W_CMD_HELLO);
	raw_str(&r, QKDN_W_SENDER_IP, "127.0.0.1");
	raw_str(&r, QKDN_W_SENDER_HOSTNAME, "alpha");
	raw_str(&r, QKDN_W_AUTH_INFO, "qkdn-node-2");
	ret = raw_parse(&r, &hdr);
	ok(ret == -EPROTO && strstr(hdr.error, "HELLO: required attribute 9 (COMMUNITY_ID) missing"),
	   "missing required attribute: %s", hdr.error);

	raw_init(&r);
	raw_u64(&r, QKDN_W_MSG_ID, 1);
	raw_u16(&r, QKDN_W_CMD, QKDN_W_CMD_KEEPALIVE);
	ret = raw_parse(&r, &hdr);
	ok(ret == -EPROTO && strstr(hdr.error, "SENDER_ID) missing"),
	   "missing sender ID: %s", hdr.error);

	raw_init(&r);
	raw_u64(&r, QKDN_W_MSG_ID, 1);
	raw_u32(&r, QKDN_W_SENDER_ID, 1);
	ret = raw_parse(&r, &hdr);
	ok(ret == -EPROTO && strstr(hdr.error, "CMD) missing"), "missing command code: %s",
	   hdr.error);

	raw_init(&r);
	raw_common(&r, 200);
	ret = raw_parse(&r, &hdr);
	ok(ret == -EOPNOTSUPP && strstr(hdr.error, "command 200"), "unknown command: %s",
	   hdr.error);

	raw_init(&r);
	raw_common(&r, QKDN_W_CMD_UNSPEC);
	ret = raw_parse(&r, &hdr);
	ok(ret == -EOPNOTSUPP, "command 0 refused: %s", hdr.error);

	raw_init(&r);
	raw_u64(&r, QKDN_W_MSG_ID, 1);
	raw_u32(&r, QKDN_W_CMD, QKDN_W_CMD_KEEPALIVE);	/* u32, not u16 */
	raw_u32(&r, QKDN_W_SENDER_ID, 1);
	ret = raw_parse(&r, &hdr);
	ok(ret == -EPROTO && strstr(hdr.error, "want u16"), "command code of wrong size: %s",
	   hdr.error);

	raw_init(&r);
	raw_common(&r, QKDN_W_CMD_SESSION);
	raw_u32(&r, QKDN_W_SESSION_ID, 1);
	raw_u32(&r, QKDN_W_TIMER, 1);
	ret = raw_parse(&r, &hdr);
	ok(ret == -EPROTO && strstr(hdr.error, "SESSION_ID): 4 bytes, want u64"),
	   "integer of wrong size: %s", hdr.error);

	raw_init(&r);
	raw_common(&r, QKDN_W_CMD_SESSION);
	raw_u64(&r, QKDN_W_SESSION_ID, 1);
	raw_u32(&r, QKDN_W_TIMER, 1);
	raw_attr_flags(&r, QKDN_W_KEY_ID_HASH, "0123456789012345678901234567890", 31);
	ret = raw_parse(&r, &hdr);
	ok(ret == -EPROTO && strstr(hdr.error, "31 bytes, want exactly 32"),
	   "binary of wrong exact length: %s", hdr.error);

	raw_init(&r);
	raw_common(&r, QKDN_W_CMD_KX);
	raw_attr_flags(&r, QKDN_W_KX_FRAME, "", 0);
	ret = raw_parse(&r, &hdr);
	snprintf(want, sizeof(want), "0 bytes, want 1..%d", QKDN_KX_FRAME_MAX);
	ok(ret == -EPROTO && strstr(hdr.error, want), "empty frame: %s", hdr.error);

	{
		static unsigned char frame[QKDN_KX_FRAME_MAX + 1];

		raw_init(&r);
		raw_common(&r, QKDN_W_CMD_KX);
		raw_attr_flags(&r, QKDN_W_KX_FRAME, frame, sizeof(frame));
		ret = raw_parse(&r, &hdr);
		snprintf(want, sizeof(want), "%d bytes, want 1..%d",
			 QKDN_KX_FRAME_MAX + 1, QKDN_KX_FRAME_MAX);
		ok(ret == -EPROTO && strstr(hdr.error, want),
		   "frame over QKDN_KX_FRAME_MAX: %s", hdr.error);
	}

	raw_init(&r);
	raw_common(&r, QKDN_W_CMD_HELLO);
	hello_items(&r);
	raw_attr_flags(&r, QKDN_W_REASON, "x", 1);	/* not allowed in a command anyway */
	ret = raw_parse(&r, &hdr);
	ok(ret == -EPROTO && strstr(hdr.error, "REASON) not allowed"),
	   "response-only attribute in a command: %s", hdr.error);

	raw_init(&r);
	raw_common(&r, QKDN_W_CMD_HELLO);
	raw_attr_flags(&r, QKDN_W_SENDER_IP, "127.0.0.1", 9);	/* no NUL */
	raw_str(&r, QKDN_W_SENDER_HOSTNAME, "alpha");
	raw_str(&r, QKDN_W_COMMUNITY_ID, "demo");
	raw_str(&r, QKDN_W_AUTH_INFO, "qkdn-node-2");
	ret = raw_parse(&r, &hdr);
	ok(ret == -EPROTO && strstr(hdr.error, "not NUL-terminated"), "unterminated string: %s",
	   hdr.error);

	raw_init(&r);
	raw_common(&r, QKDN_W_CMD_HELLO);
	raw_attr_flags(&r, QKDN_W_SENDER_IP, "127\0.0.1", 9);
	raw_str(&r, QKDN_W_SENDER_HOSTNAME, "alpha");
	raw_str(&r, QKDN_W_COMMUNITY_ID, "demo");
	raw_str(&r, QKDN_W_AUTH_INFO, "qkdn-node-2");
	ret = raw_parse(&r, &hdr);
	ok(ret == -EPROTO && strstr(hdr.error, "inner NUL"), "string with an inner NUL: %s",
	   hdr.error);

	raw_init(&r);
	raw_common(&r, QKDN_W_CMD_HELLO);
	raw_str(&r, QKDN_W_SENDER_IP, "");
	raw_str(&r, QKDN_W_SENDER_HOSTNAME, "alpha");
	raw_str(&r, QKDN_W_COMMUNITY_ID, "demo");
	raw_str(&r, QKDN_W_AUTH_INFO, "qkdn-node-2");
	ret = raw_parse(&r, &hdr);
	ok(ret == -EPROTO && strstr(hdr.error, "string of 1 bytes"), "empty string: %s",
	   hdr.error);

	raw_init(&r);
	raw_common(&r, QKDN_W_CMD_HELLO);
	raw_str(&r, QKDN_W_SENDER_IP, "127.0.0.1");
	raw_str(&r, QKDN_W_SENDER_HOSTNAME,
		"a-name-of-sixty-four-characters-which-is-one-too-many-for-an-id!");
	raw_str(&r, QKDN_W_COMMUNITY_ID, "demo");
	raw_str(&r, QKDN_W_AUTH_INFO, "qkdn-node-2");
	ret = raw_parse(&r, &hdr);
	ok(ret == -EPROTO && strstr(hdr.error, "string of 65 bytes, want 2..64"),
	   "string too long: %s", hdr.error);

	raw_init(&r);
	raw_common(&r, QKDN_W_CMD_KX);
	raw_u64(&r, QKDN_W_ORIG_MSG_ID, 1);
	raw_u16(&r, QKDN_W_RESPONSE_CODE, QKDN_W_RESP_SUCCESS);
	ret = raw_parse(&r, &hdr);
	ok(ret == -EPROTO && strstr(hdr.error, "KX has no response"),
	   "response to a command without one: %s", hdr.error);

	raw_init(&r);
	raw_common(&r, QKDN_W_CMD_HELLO);
	raw_u64(&r, QKDN_W_ORIG_MSG_ID, 1);
	ret = raw_parse(&r, &hdr);
	ok(ret == -EPROTO && strstr(hdr.error, "both ORIG_MSG_ID and RESPONSE_CODE"),
	   "response without a code: %s", hdr.error);

	raw_init(&r);
	raw_common(&r, QKDN_W_CMD_HELLO);
	hello_items(&r);
	raw_u16(&r, QKDN_W_RESPONSE_CODE, QKDN_W_RESP_SUCCESS);
	ret = raw_parse(&r, &hdr);
	ok(ret == -EPROTO && strstr(hdr.error, "both ORIG_MSG_ID and RESPONSE_CODE"),
	   "command with a response code: %s", hdr.error);

	raw_init(&r);
	raw_common(&r, QKDN_W_CMD_HELLO);
	raw_u64(&r, QKDN_W_ORIG_MSG_ID, 1);
	raw_u16(&r, QKDN_W_RESPONSE_CODE, 3);
	ret = raw_parse(&r, &hdr);
	ok(ret == -EPROTO && strstr(hdr.error, "response code 3 unknown"),
	   "unknown response code: %s", hdr.error);

	raw_init(&r);
	raw_common(&r, QKDN_W_CMD_HELLO);
	raw_u64(&r, QKDN_W_ORIG_MSG_ID, 1);
	raw_u16(&r, QKDN_W_RESPONSE_CODE, QKDN_W_RESP_SUCCESS);
	raw_str(&r, QKDN_W_COMMUNITY_ID, "demo");
	ret = raw_parse(&r, &hdr);
	ok(ret == -EPROTO && strstr(hdr.error, "COMMUNITY_ID) not allowed"),
	   "command-only attribute in a response: %s", hdr.error);

	raw_init(&r);
	raw_u64(&r, QKDN_W_MSG_ID, 77);
	raw_u16(&r, QKDN_W_CMD, QKDN_W_CMD_KEEPALIVE);
	raw_u32(&r, QKDN_W_SENDER_ID, 0);
	ret = raw_parse(&r, &hdr);
	ok(ret == -EPROTO && strstr(hdr.error, "sender ID 0"), "sender ID 0: %s", hdr.error);

	raw_init(&r);
	raw_common(&r, QKDN_W_CMD_KEEPALIVE);
	raw_attr_flags(&r, QKDN_W_QOS | NLA_F_NESTED, "\0\0\0\0", 4);
	ret = raw_parse(&r, &hdr);
	ok(ret == -EPROTO, "attribute not allowed in KEEPALIVE: %s", hdr.error);

	raw_init(&r);
	raw_common(&r, QKDN_W_CMD_KX);
	raw_attr_flags(&r, QKDN_W_KX_FRAME | NLA_F_NET_BYTEORDER, "abcd", 4);
	ret = raw_parse(&r, &hdr);
	ok(ret == -EPROTO && strstr(hdr.error, "wrong flags"), "byte-order flag: %s", hdr.error);

	raw_init(&r);
	raw_common(&r, QKDN_W_CMD_KEEPALIVE);
	r.len += 2;	/* a 2-byte stub of an attribute header */
	ret = raw_parse(&r, &hdr);
	ok(ret == -EBADMSG && strstr(hdr.error, "truncated attribute header"),
	   "truncated attribute header: %s", hdr.error);

	raw_init(&r);
	raw_common(&r, QKDN_W_CMD_KEEPALIVE);
	raw_u32(&r, QKDN_W_QOS, 1);
	((struct nlattr *)((unsigned char *)r.words + r.len - 8))->nla_len = 3;
	ret = raw_parse(&r, &hdr);
	ok(ret == -EBADMSG && strstr(hdr.error, "claims 3 bytes"), "attribute length below 4: %s",
	   hdr.error);

	raw_init(&r);
	raw_common(&r, QKDN_W_CMD_KEEPALIVE);
	raw_u32(&r, QKDN_W_QOS, 1);
	((struct nlattr *)((unsigned char *)r.words + r.len - 8))->nla_len = 12;
	ret = raw_parse(&r, &hdr);
	ok(ret == -EBADMSG && strstr(hdr.error, "claims 12 bytes, 8 left"),
	   "attribute longer than the body: %s", hdr.error);

	raw_init(&r);
	raw_common(&r, QKDN_W_CMD_KX);
	raw_attr_flags(&r, QKDN_W_KX_FRAME, "abcde", 5);
	r.len -= 3;	/* drop the last attribute's padding */
	ret = raw_parse(&r, &hdr);
	ok(ret == -EBADMSG && strstr(hdr.error, "padding"), "missing final padding: %s",
	   hdr.error);

	raw_init(&r);
	ret = raw_parse(&r, &hdr);
	ok(ret == -EPROTO && strstr(hdr.error, "missing"), "empty body: %s", hdr.error);
}


/* Ck */

/* The controller's sender ID, and a node's. */
#define CTL QKDN_W_CONTROLLER_ID
#define KM 3

static void put_link_status(struct qkdn_wire_msg *m, uint32_t peer, uint64_t amount)
{
	long n = qkdn_wire_nest_start(m, QKDN_W_LINK_STATUS);

	qkdn_wire_put_u32(m, QKDN_W_PEER_NODE_ID, peer);
	qkdn_wire_put_u8(m, QKDN_W_LINK_STATE, QKDN_W_STATE_IN_SERVICE);
	qkdn_wire_put_u8(m, QKDN_W_PEER_UP, 1);
	qkdn_wire_put_u64(m, QKDN_W_KEY_AMOUNT, amount);
	qkdn_wire_put_u64(m, QKDN_W_CONSUMPTION_RATE, 10);
	qkdn_wire_put_u64(m, QKDN_W_GENERATION_RATE, 1000);
	qkdn_wire_put_u8(m, QKDN_W_QKD_STATE, QKDN_QKD_UP);
	qkdn_wire_put_u32(m, QKDN_W_QBER, 25000);
	qkdn_wire_nest_end(m, n);
}

static void put_status_table(struct qkdn_wire_msg *m)
{
	long t = qkdn_wire_nest_start(m, QKDN_W_STATUS_TABLE), n;

	put_link_status(m, 2, 4096);
	put_link_status(m, 4, 8192);
	n = qkdn_wire_nest_start(m, QKDN_W_STORE_STATUS);
	qkdn_wire_put_u32(m, QKDN_W_DEST_NODE_ID, 6);
	qkdn_wire_put_u64(m, QKDN_W_KEY_AMOUNT, 512);
	qkdn_wire_nest_end(m, n);
	qkdn_wire_nest_end(m, t);
}

static void put_route(struct qkdn_wire_msg *m, uint64_t session, uint32_t dest, uint32_t next,
		      uint32_t protect)
{
	const uint32_t path[] = { 1, 2, 6 }, ppath[] = { 1, 4, 5, 6 };
	long n = qkdn_wire_nest_start(m, QKDN_W_ROUTE);

	qkdn_wire_put_u64(m, QKDN_W_SESSION_ID, session);
	qkdn_wire_put_u32(m, QKDN_W_SOURCE_NODE_ID, 1);
	qkdn_wire_put_u32(m, QKDN_W_DEST_NODE_ID, dest);
	qkdn_wire_put_u32(m, QKDN_W_NEXT_HOP_NODE_ID, next);
	if (protect)
		qkdn_wire_put_u32(m, QKDN_W_PROTECTION_NEXT_HOP, protect);
	qkdn_wire_put_u8(m, QKDN_W_ROUTE_OP, QKDN_W_ROUTE_OP_INSTALL);
	qkdn_wire_put_bin(m, QKDN_W_PATH, path, sizeof(path));
	qkdn_wire_put_bin(m, QKDN_W_PROTECTION_PATH, ppath, sizeof(ppath));
	qkdn_wire_nest_end(m, n);
}

static void put_route_table(struct qkdn_wire_msg *m)
{
	long t = qkdn_wire_nest_start(m, QKDN_W_ROUTE_TABLE);

	put_route(m, 77, 6, 2, 4);
	put_route(m, 77, 1, 1, 0);
	qkdn_wire_nest_end(m, t);
}

/*
 * A valid Ck command cmd with every attribute it may carry, except the
 * one of type omit (0: none). Returns the sender it used.
 */
static struct qkdn_wire_msg *ck_command(uint16_t cmd, uint16_t omit)
{
	bool from_ctl = cmd == QKDN_W_CMD_CK_STATUS || cmd == QKDN_W_CMD_CK_ROUTE_PUSH ||
			cmd == QKDN_W_CMD_CK_CRL;
	struct qkdn_wire_msg *m = qkdn_wire_msg_new(cmd, from_ctl ? CTL : KM);
	static const unsigned char crl[300] = { 0x30, 0x82 };

#define PUT(t, call) do { if (omit != (t)) call; } while (0)
	switch (cmd) {
	case QKDN_W_CMD_CK_AUTH:
		PUT(QKDN_W_AUTH_INFO, qkdn_wire_put_str(m, QKDN_W_AUTH_INFO, "qkdn-node-3"));
		PUT(QKDN_W_SENDER_HOSTNAME, qkdn_wire_put_str(m, QKDN_W_SENDER_HOSTNAME, "gamma"));
		break;
	case QKDN_W_CMD_CK_STATUS:
		PUT(QKDN_W_PERIOD, qkdn_wire_put_u32(m, QKDN_W_PERIOD, 1000));
		PUT(QKDN_W_STATUS_PARAMS, qkdn_wire_put_u32(m, QKDN_W_STATUS_PARAMS,
							    __QKDN_W_STATUS_ALL));
		break;
	case QKDN_W_CMD_CK_NOTIFY:
		PUT(QKDN_W_EVENT, qkdn_wire_put_u16(m, QKDN_W_EVENT, QKDN_W_EVENT_SYNC));
		PUT(QKDN_W_PEER_NODE_ID, qkdn_wire_put_u32(m, QKDN_W_PEER_NODE_ID, 2));
		PUT(QKDN_W_DEST_NODE_ID, qkdn_wire_put_u32(m, QKDN_W_DEST_NODE_ID, 6));
		PUT(QKDN_W_KM_STATE, qkdn_wire_put_u8(m, QKDN_W_KM_STATE, QKDN_W_STATE_IN_SERVICE));
		PUT(QKDN_W_STATUS_TABLE, put_status_table(m));
		PUT(QKDN_W_ROUTE_TABLE, put_route_table(m));
		break;
	case QKDN_W_CMD_CK_ROUTE:
		PUT(QKDN_W_SOURCE_NODE_ID, qkdn_wire_put_u32(m, QKDN_W_SOURCE_NODE_ID, 3));
		PUT(QKDN_W_DEST_NODE_ID, qkdn_wire_put_u32(m, QKDN_W_DEST_NODE_ID, 6));
		PUT(QKDN_W_KEY_AMOUNT, qkdn_wire_put_u64(m, QKDN_W_KEY_AMOUNT, 1 << 20));
		PUT(QKDN_W_PRIORITY, qkdn_wire_put_u8(m, QKDN_W_PRIORITY, 2));
		PUT(QKDN_W_TOLERANCE_MS, qkdn_wire_put_u32(m, QKDN_W_TOLERANCE_MS, 3000));
		break;
	case QKDN_W_CMD_CK_ROUTE_PUSH:
		PUT(QKDN_W_ROUTE_TABLE, put_route_table(m));
		break;
	case QKDN_W_CMD_CK_CRL:
		PUT(QKDN_W_CRL, qkdn_wire_put_bin(m, QKDN_W_CRL, crl, sizeof(crl)));
		break;
	}
#undef PUT
	return m;
}

static const struct {
	uint16_t cmd;
	uint16_t required[4];
} ck_required[] = {
	{ QKDN_W_CMD_CK_AUTH, { QKDN_W_AUTH_INFO, QKDN_W_SENDER_HOSTNAME } },
	{ QKDN_W_CMD_CK_STATUS, { QKDN_W_PERIOD, QKDN_W_STATUS_PARAMS } },
	{ QKDN_W_CMD_CK_NOTIFY, { QKDN_W_EVENT, QKDN_W_STATUS_TABLE } },
	{ QKDN_W_CMD_CK_ROUTE, { QKDN_W_SOURCE_NODE_ID, QKDN_W_DEST_NODE_ID, QKDN_W_KEY_AMOUNT } },
	{ QKDN_W_CMD_CK_ROUTE_PUSH, { QKDN_W_ROUTE_TABLE } },
	{ QKDN_W_CMD_CK_CRL, { QKDN_W_CRL } },
};

static int ck_parse(struct qkdn_wire_msg *m, const struct nlattr **tb, struct qkdn_wire_hdr *hdr)
{
	void *copy;
	int ret = parse_msg(m, &qkdn_wire_ck_policy, tb, hdr, &copy);

	free(copy);
	qkdn_wire_msg_free(m);
	return ret;
}

/* One route entry with the later Ck attributes; the nest's parse result. */
static int ck_route_ext(const uint32_t *hops, size_t n_hops, const uint32_t *keys, size_t n_keys,
			uint8_t reason, const struct nlattr **ntb, char *err, size_t err_len,
			void **copy)
{
	const struct nlattr *tb[QKDN_W_MAX + 1], *a;
	struct qkdn_wire_msg *m = qkdn_wire_msg_new(QKDN_W_CMD_CK_ROUTE_PUSH, CTL);
	struct qkdn_wire_hdr hdr;
	long t = qkdn_wire_nest_start(m, QKDN_W_ROUTE_TABLE);
	long n = qkdn_wire_nest_start(m, QKDN_W_ROUTE);
	int ret;

	qkdn_wire_put_u64(m, QKDN_W_SESSION_ID, 77);
	qkdn_wire_put_u32(m, QKDN_W_SOURCE_NODE_ID, 1);
	qkdn_wire_put_u32(m, QKDN_W_DEST_NODE_ID, 6);
	qkdn_wire_put_u32(m, QKDN_W_NEXT_HOP_NODE_ID, 2);
	qkdn_wire_put_u8(m, QKDN_W_ROUTE_OP, reason ? QKDN_W_ROUTE_OP_DELETE
						    : QKDN_W_ROUTE_OP_INSTALL);
	if (reason)
		qkdn_wire_put_u8(m, QKDN_W_ROUTE_REASON, reason);
	if (n_hops)
		qkdn_wire_put_bin(m, QKDN_W_MULTIPATH_HOPS, hops, n_hops * 4);
	if (n_keys)
		qkdn_wire_put_bin(m, QKDN_W_MULTIPATH_KEYS, keys, n_keys * 4);
	qkdn_wire_nest_end(m, n);
	qkdn_wire_nest_end(m, t);
	ret = parse_msg(m, &qkdn_wire_ck_policy, tb, &hdr, copy);
	qkdn_wire_msg_free(m);
	if (ret) {
		snprintf(err, err_len, "%s", hdr.error);
		return ret;
	}
	ret = -ENOENT;
	mnl_attr_for_each_nested(a, tb[QKDN_W_ROUTE_TABLE])
		ret = qkdn_wire_parse_nested(a, &qkdn_wire_ck_route_nest, ntb, err, err_len);
	return ret;
}

/* Multipath hops and shares, and the withdrawal reason, of a route entry. */
static void test_ck_route_ext(void)
{
	static const uint32_t hops[] = { 2, 4, 7 }, keys[] = { 154, 102, 40 };
	static const uint32_t nine[9] = { 2, 3, 4, 5, 7, 8, 9, 10, 11 };
	const struct nlattr *ntb[QKDN_W_MAX + 1];
	char err[200] = "", hops_attr[32], reason_attr[32];
	void *copy;
	int ret;

	snprintf(hops_attr, sizeof(hops_attr), "attribute %d ", QKDN_W_MULTIPATH_HOPS);
	snprintf(reason_attr, sizeof(reason_attr), "attribute %d ", QKDN_W_ROUTE_REASON);
	ret = ck_route_ext(hops, 3, keys, 3, 0, ntb, err, sizeof(err), &copy);
	ok(ret == 0 && qkdn_wire_get_len(ntb[QKDN_W_MULTIPATH_HOPS]) == 12 &&
	   ((const uint32_t *)qkdn_wire_get_bin(ntb[QKDN_W_MULTIPATH_HOPS]))[2] == 7 &&
	   ((const uint32_t *)qkdn_wire_get_bin(ntb[QKDN_W_MULTIPATH_KEYS]))[1] == 102,
	   "multipath hops and shares read back (%s)", err);
	free(copy);
	ret = ck_route_ext(hops, 1, keys, 1, 0, ntb, err, sizeof(err), &copy);
	ok(ret == -EPROTO && strstr(err, hops_attr), "one path is no multipath: %s", err);
	free(copy);
	ret = ck_route_ext(nine, 9, nine, 9, 0, ntb, err, sizeof(err), &copy);
	ok(ret == -EPROTO && strstr(err, hops_attr), "nine paths refused: %s", err);
	free(copy);
	err[0] = '\0';
	ret = ck_route_ext(NULL, 0, NULL, 0, QKDN_W_ROUTE_REASON_RECOVERY_FAILED, ntb, err,
			   sizeof(err), &copy);
	ok(ret == 0 && qkdn_wire_get_u8(ntb[QKDN_W_ROUTE_REASON]) ==
	   QKDN_W_ROUTE_REASON_RECOVERY_FAILED, "withdrawal reason read back (%s)", err);
	free(copy);
	ret = ck_route_ext(NULL, 0, NULL, 0, QKDN_W_ROUTE_REASON_MAX + 1, ntb, err, sizeof(err),
			   &copy);
	ok(ret == -EPROTO && strstr(err, reason_attr), "unknown withdrawal reason refused: %s", err);
	free(copy);
	ok(!strcmp(qkdn_wire_attr_name(QKDN_W_MULTIPATH_KEYS), "MULTIPATH_KEYS"),
	   "later Ck names");
}

static void test_ck_valid(void)
{
	const struct nlattr *tb[QKDN_W_MAX + 1], *ntb[QKDN_W_MAX + 1], *a;
	unsigned int links = 0, stores = 0, routes = 0, parsed = 0;
	uint64_t amounts = 0;
	struct qkdn_wire_hdr hdr;
	struct qkdn_wire_msg *m;
	char err[160];
	void *copy;
	int ret;

	for (size_t i = 0; i < QKDN_ARRAY_SIZE_T(ck_required); i++) {
		uint16_t cmd = ck_required[i].cmd;

		ret = ck_parse(ck_command(cmd, 0), tb, &hdr);
		ok(ret == 0 && hdr.cmd == cmd, "%s with every attribute accepted (%s)",
		   qkdn_wire_cmd_name(cmd), hdr.error);
	}
	ok(strcmp(qkdn_wire_cmd_name(QKDN_W_CMD_CK_ROUTE_PUSH), "CK_ROUTE_PUSH") == 0 &&
	   strcmp(qkdn_wire_attr_name(QKDN_W_PROTECTION_NEXT_HOP), "PROTECTION_NEXT_HOP") == 0 &&
	   strcmp(qkdn_wire_attr_name(QKDN_W_CRL), "CRL") == 0, "Ck names");

	/* The controller's sender ID. */
	ret = ck_parse(ck_command(QKDN_W_CMD_CK_STATUS, 0), tb, &hdr);
	ok(ret == 0 && hdr.sender_id == QKDN_W_CONTROLLER_ID, "controller sender ID on Ck");
	m = qkdn_wire_msg_new(QKDN_W_CMD_KEEPALIVE, QKDN_W_CONTROLLER_ID);
	ret = parse_msg(m, &qkdn_wire_kx_policy, tb, &hdr, &copy);
	ok(ret == -EPROTO && strstr(hdr.error, "sender ID 4294967295 out of range"),
	   "controller sender ID refused on Kx: %s", hdr.error);
	free(copy);
	qkdn_wire_msg_free(m);
	ret = ck_parse(qkdn_wire_msg_new(QKDN_W_CMD_KEEPALIVE, KM), tb, &hdr);
	ok(ret == 0, "KEEPALIVE on Ck (%s)", hdr.error);

	/* A status response: tables with repeated members, read back. */
	m = qkdn_wire_response_new(QKDN_W_CMD_CK_STATUS, KM, 99, QKDN_W_RESP_SUCCESS);
	qkdn_wire_put_u8(m, QKDN_W_KM_STATE, QKDN_W_STATE_STANDBY);
	put_status_table(m);
	ret = parse_msg(m, &qkdn_wire_ck_policy, tb, &hdr, &copy);
	ok(ret == 0 && hdr.is_response && hdr.orig_msg_id == 99 &&
	   qkdn_wire_get_u8(tb[QKDN_W_KM_STATE]) == QKDN_W_STATE_STANDBY,
	   "CK_STATUS response accepted (%s)", hdr.error);
	if (ret == 0) {
		mnl_attr_for_each_nested(a, tb[QKDN_W_STATUS_TABLE]) {
			if (mnl_attr_get_type(a) == QKDN_W_LINK_STATUS &&
			    qkdn_wire_parse_nested(a, &qkdn_wire_ck_link_status_nest, ntb, err,
						   sizeof(err)) == 0) {
				links++;
				amounts += qkdn_wire_get_u64(ntb[QKDN_W_KEY_AMOUNT]);
				parsed += qkdn_wire_get_u32(ntb[QKDN_W_QBER]) == 25000;
			} else if (mnl_attr_get_type(a) == QKDN_W_STORE_STATUS &&
				   qkdn_wire_parse_nested(a, &qkdn_wire_ck_store_status_nest, ntb,
							  err, sizeof(err)) == 0) {
				stores++;
				amounts += qkdn_wire_get_u64(ntb[QKDN_W_KEY_AMOUNT]);
			}
		}
	}
	ok(links == 2 && stores == 1 && parsed == 2 && amounts == 4096 + 8192 + 512,
	   "status table read back: %u links, %u stores, %llu bytes", links, stores,
	   (unsigned long long)amounts);
	free(copy);
	qkdn_wire_msg_free(m);

	m = qkdn_wire_response_new(QKDN_W_CMD_CK_STATUS, KM, 99, QKDN_W_RESP_SUCCESS);
	qkdn_wire_put_u8(m, QKDN_W_KM_STATE, QKDN_W_STATE_IN_SERVICE);
	qkdn_wire_nest_end(m, qkdn_wire_nest_start(m, QKDN_W_STATUS_TABLE));
	ok(ck_parse(m, tb, &hdr) == 0, "empty status table accepted (%s)", hdr.error);

	/* A route response: the session and the requester's entries. */
	m = qkdn_wire_response_new(QKDN_W_CMD_CK_ROUTE, CTL, 5, QKDN_W_RESP_SUCCESS);
	qkdn_wire_put_u64(m, QKDN_W_SESSION_ID, 77);
	put_route_table(m);
	ret = parse_msg(m, &qkdn_wire_ck_policy, tb, &hdr, &copy);
	ok(ret == 0 && qkdn_wire_get_u64(tb[QKDN_W_SESSION_ID]) == 77,
	   "CK_ROUTE response accepted (%s)", hdr.error);
	parsed = 0;
	if (ret == 0) {
		mnl_attr_for_each_nested(a, tb[QKDN_W_ROUTE_TABLE]) {
			if (qkdn_wire_parse_nested(a, &qkdn_wire_ck_route_nest, ntb, err,
						   sizeof(err)) != 0)
				continue;
			routes++;
			if (qkdn_wire_get_u32(ntb[QKDN_W_DEST_NODE_ID]) == 6 &&
			    qkdn_wire_get_u32(ntb[QKDN_W_NEXT_HOP_NODE_ID]) == 2 &&
			    qkdn_wire_get_u32(ntb[QKDN_W_PROTECTION_NEXT_HOP]) == 4 &&
			    qkdn_wire_get_len(ntb[QKDN_W_PATH]) == 12 &&
			    ((const uint32_t *)qkdn_wire_get_bin(ntb[QKDN_W_PATH]))[2] == 6 &&
			    qkdn_wire_get_len(ntb[QKDN_W_PROTECTION_PATH]) == 16)
				parsed++;
		}
	}
	ok(routes == 2 && parsed == 1, "route table read back: %u routes", routes);
	free(copy);
	qkdn_wire_msg_free(m);

	m = qkdn_wire_response_new(QKDN_W_CMD_CK_ROUTE, CTL, 5, QKDN_W_RESP_FAILURE);
	qkdn_wire_put_str(m, QKDN_W_REASON, "no route");
	ret = ck_parse(m, tb, &hdr);
	ok(ret == 0 && hdr.response_code == QKDN_W_RESP_FAILURE, "CK_ROUTE failure accepted");

	for (uint16_t cmd = QKDN_W_CMD_CK_AUTH; cmd <= QKDN_W_CMD_CK_CRL; cmd++) {
		if (cmd == QKDN_W_CMD_CK_STATUS || cmd == QKDN_W_CMD_CK_ROUTE)
			continue;
		m = qkdn_wire_response_new(cmd, cmd == QKDN_W_CMD_CK_AUTH ||
					   cmd == QKDN_W_CMD_CK_NOTIFY ? CTL : KM, 1,
					   QKDN_W_RESP_SUCCESS);
		ok(ck_parse(m, tb, &hdr) == 0, "%s plain response accepted (%s)",
		   qkdn_wire_cmd_name(cmd), hdr.error);
	}
}

static void test_ck_refused(void)
{
	const struct nlattr *tb[QKDN_W_MAX + 1];
	struct qkdn_wire_hdr hdr;
	struct qkdn_wire_msg *m;
	char want[96];
	long n, t;
	int ret;

	for (size_t i = 0; i < QKDN_ARRAY_SIZE_T(ck_required); i++) {
		for (size_t j = 0; j < 4 && ck_required[i].required[j]; j++) {
			uint16_t cmd = ck_required[i].cmd, attr = ck_required[i].required[j];

			ret = ck_parse(ck_command(cmd, attr), tb, &hdr);
			snprintf(want, sizeof(want), "%s: required attribute %u (%s) missing",
				 qkdn_wire_cmd_name(cmd), attr, qkdn_wire_attr_name(attr));
			ok(ret == -EPROTO && strstr(hdr.error, want), "%s without %s refused: %s",
			   qkdn_wire_cmd_name(cmd), qkdn_wire_attr_name(attr), hdr.error);
		}
	}

	/* Commands of another protocol, both ways. */
	for (uint16_t cmd = QKDN_W_CMD_HELLO; cmd <= QKDN_W_CMD_KX; cmd++) {
		ret = ck_parse(qkdn_wire_msg_new(cmd, KM), tb, &hdr);
		snprintf(want, sizeof(want), "not part of protocol ck");
		ok(ret == -EOPNOTSUPP && strstr(hdr.error, want), "Kx %s refused on Ck: %s",
		   qkdn_wire_cmd_name(cmd), hdr.error);
	}
	for (uint16_t cmd = QKDN_W_CMD_CK_AUTH; cmd <= QKDN_W_CMD_CK_CRL; cmd++) {
		void *copy;

		m = ck_command(cmd, 0);
		ret = parse_msg(m, &qkdn_wire_kx_policy, tb, &hdr, &copy);
		ok(ret == -EOPNOTSUPP && strstr(hdr.error, "not part of protocol kx"),
		   "Ck %s refused on Kx: %s", qkdn_wire_cmd_name(cmd), hdr.error);
		free(copy);
		qkdn_wire_msg_free(m);
	}

	/* Wrong types. */
	m = qkdn_wire_msg_new(QKDN_W_CMD_CK_STATUS, CTL);
	qkdn_wire_put_u64(m, QKDN_W_PERIOD, 1000);
	qkdn_wire_put_u32(m, QKDN_W_STATUS_PARAMS, 1);
	ret = ck_parse(m, tb, &hdr);
	ok(ret == -EPROTO && strstr(hdr.error, "PERIOD): 8 bytes, want u32"),
	   "PERIOD as u64 refused: %s", hdr.error);

	m = qkdn_wire_msg_new(QKDN_W_CMD_CK_AUTH, KM);
	qkdn_wire_put_u32(m, QKDN_W_AUTH_INFO, 3);
	qkdn_wire_put_str(m, QKDN_W_SENDER_HOSTNAME, "gamma");
	ret = ck_parse(m, tb, &hdr);
	ok(ret == -EPROTO && strstr(hdr.error, "AUTH_INFO): string not NUL-terminated"),
	   "AUTH_INFO as u32 refused: %s", hdr.error);

	m = qkdn_wire_msg_new(QKDN_W_CMD_CK_ROUTE_PUSH, CTL);
	qkdn_wire_put_u32(m, QKDN_W_ROUTE_TABLE, 1);	/* no NLA_F_NESTED */
	ret = ck_parse(m, tb, &hdr);
	ok(ret == -EPROTO && strstr(hdr.error, "ROUTE_TABLE) has wrong flags"),
	   "ROUTE_TABLE not a nest refused: %s", hdr.error);

	m = qkdn_wire_msg_new(QKDN_W_CMD_CK_ROUTE_PUSH, CTL);
	t = qkdn_wire_nest_start(m, QKDN_W_ROUTE_TABLE);
	n = qkdn_wire_nest_start(m, QKDN_W_ROUTE);
	qkdn_wire_put_u64(m, QKDN_W_SESSION_ID, 1);
	qkdn_wire_put_u32(m, QKDN_W_SOURCE_NODE_ID, 1);
	qkdn_wire_put_u32(m, QKDN_W_DEST_NODE_ID, 2);
	qkdn_wire_put_u32(m, QKDN_W_NEXT_HOP_NODE_ID, 2);
	qkdn_wire_put_u8(m, QKDN_W_ROUTE_OP, QKDN_W_ROUTE_OP_DELETE);
	qkdn_wire_put_bin(m, QKDN_W_PATH, "\1\0\0\0\2\0", 6);
	qkdn_wire_nest_end(m, n);
	qkdn_wire_nest_end(m, t);
	ret = ck_parse(m, tb, &hdr);
	ok(ret == -EPROTO && strstr(hdr.error, "6 bytes, want 8..256 in steps of 4"),
	   "PATH of 6 bytes refused: %s", hdr.error);

	m = qkdn_wire_msg_new(QKDN_W_CMD_CK_ROUTE_PUSH, CTL);
	t = qkdn_wire_nest_start(m, QKDN_W_ROUTE_TABLE);
	n = qkdn_wire_nest_start(m, QKDN_W_ROUTE);
	qkdn_wire_put_u64(m, QKDN_W_SESSION_ID, 1);
	qkdn_wire_put_u32(m, QKDN_W_SOURCE_NODE_ID, 1);
	qkdn_wire_put_u32(m, QKDN_W_DEST_NODE_ID, 2);
	qkdn_wire_put_u8(m, QKDN_W_ROUTE_OP, QKDN_W_ROUTE_OP_DELETE);
	qkdn_wire_nest_end(m, n);
	qkdn_wire_nest_end(m, t);
	ret = ck_parse(m, tb, &hdr);
	snprintf(want, sizeof(want), "nest: required attribute %u", QKDN_W_NEXT_HOP_NODE_ID);
	ok(ret == -EPROTO && strstr(hdr.error, want), "route entry without a next hop refused: %s",
	   hdr.error);

	m = qkdn_wire_msg_new(QKDN_W_CMD_CK_ROUTE_PUSH, CTL);
	t = qkdn_wire_nest_start(m, QKDN_W_ROUTE_TABLE);
	put_link_status(m, 2, 1);
	qkdn_wire_nest_end(m, t);
	ret = ck_parse(m, tb, &hdr);
	snprintf(want, sizeof(want), "attribute %u (nested) not allowed in a table",
		 QKDN_W_LINK_STATUS);
	ok(ret == -EPROTO && strstr(hdr.error, want), "link status in a route table refused: %s",
	   hdr.error);

	m = qkdn_wire_msg_new(QKDN_W_CMD_CK_NOTIFY, KM);
	qkdn_wire_put_u16(m, QKDN_W_EVENT, QKDN_W_EVENT_LINK_DOWN);
	t = qkdn_wire_nest_start(m, QKDN_W_STATUS_TABLE);
	n = qkdn_wire_nest_start(m, QKDN_W_LINK_STATUS);
	qkdn_wire_put_u32(m, QKDN_W_PEER_NODE_ID, 2);
	qkdn_wire_put_u8(m, QKDN_W_LINK_STATE, QKDN_W_STATE_IN_SERVICE);
	qkdn_wire_put_u8(m, QKDN_W_PEER_UP, 0);
	qkdn_wire_put_u8(m, QKDN_W_PEER_UP, 0);
	qkdn_wire_nest_end(m, n);
	qkdn_wire_nest_end(m, t);
	ret = ck_parse(m, tb, &hdr);
	ok(ret == -EPROTO && strstr(hdr.error, "appears twice"),
	   "repeated member inside a link status refused: %s", hdr.error);

	/* Ranges. */
	{
		static const struct {
			uint16_t cmd, attr;
			uint64_t value;
			int size;
			const char *what;
		} bad[] = {
			{ QKDN_W_CMD_CK_ROUTE, QKDN_W_PRIORITY, 8, 1, "8 out of range 0..7" },
			{ QKDN_W_CMD_CK_ROUTE, QKDN_W_SOURCE_NODE_ID, 0, 4, "0 out of range 1..4294967294" },
			{ QKDN_W_CMD_CK_ROUTE, QKDN_W_DEST_NODE_ID, 0xffffffff, 4,
			  "4294967295 out of range 1..4294967294" },
			{ QKDN_W_CMD_CK_NOTIFY, QKDN_W_EVENT, 0, 2, "0 out of range 1..11" },
			{ QKDN_W_CMD_CK_NOTIFY, QKDN_W_EVENT, QKDN_W_EVENT_MAX + 1, 2,
			  "12 out of range 1..11" },
			{ QKDN_W_CMD_CK_NOTIFY, QKDN_W_KM_STATE, 5, 1, "5 out of range 1..4" },
			{ QKDN_W_CMD_CK_STATUS, QKDN_W_STATUS_PARAMS, 0x80, 4, "128 out of range 0..127" },
			{ QKDN_W_CMD_CK_STATUS, QKDN_W_PERIOD, QKDN_W_PERIOD_MAX + 1, 4,
			  "3600001 out of range 0..3600000" },
		};

		for (size_t i = 0; i < QKDN_ARRAY_SIZE_T(bad); i++) {
			m = ck_command(bad[i].cmd, bad[i].attr);
			if (bad[i].size == 1)
				qkdn_wire_put_u8(m, bad[i].attr, (uint8_t)bad[i].value);
			else if (bad[i].size == 2)
				qkdn_wire_put_u16(m, bad[i].attr, (uint16_t)bad[i].value);
			else
				qkdn_wire_put_u32(m, bad[i].attr, (uint32_t)bad[i].value);
			ret = ck_parse(m, tb, &hdr);
			ok(ret == -EPROTO && strstr(hdr.error, bad[i].what), "%s %s=%llu refused: %s",
			   qkdn_wire_cmd_name(bad[i].cmd), qkdn_wire_attr_name(bad[i].attr),
			   (unsigned long long)bad[i].value, hdr.error);
		}
	}

	m = qkdn_wire_msg_new(QKDN_W_CMD_CK_NOTIFY, KM);
	qkdn_wire_put_u16(m, QKDN_W_EVENT, QKDN_W_EVENT_QBER_HIGH);
	t = qkdn_wire_nest_start(m, QKDN_W_STATUS_TABLE);
	n = qkdn_wire_nest_start(m, QKDN_W_LINK_STATUS);
	qkdn_wire_put_u32(m, QKDN_W_PEER_NODE_ID, 2);
	qkdn_wire_put_u8(m, QKDN_W_LINK_STATE, QKDN_W_STATE_IN_SERVICE);
	qkdn_wire_put_u8(m, QKDN_W_PEER_UP, 1);
	qkdn_wire_put_u32(m, QKDN_W_QBER, QKDN_W_QBER_MAX + 1);
	qkdn_wire_nest_end(m, n);
	qkdn_wire_nest_end(m, t);
	ret = ck_parse(m, tb, &hdr);
	ok(ret == -EPROTO && strstr(hdr.error, "1000001 out of range 0..1000000"),
	   "QBER over 100 %% refused: %s", hdr.error);

	m = qkdn_wire_msg_new(QKDN_W_CMD_CK_ROUTE_PUSH, CTL);
	t = qkdn_wire_nest_start(m, QKDN_W_ROUTE_TABLE);
	n = qkdn_wire_nest_start(m, QKDN_W_ROUTE);
	qkdn_wire_put_u64(m, QKDN_W_SESSION_ID, 1);
	qkdn_wire_put_u32(m, QKDN_W_SOURCE_NODE_ID, 1);
	qkdn_wire_put_u32(m, QKDN_W_DEST_NODE_ID, 2);
	qkdn_wire_put_u32(m, QKDN_W_NEXT_HOP_NODE_ID, 2);
	qkdn_wire_put_u8(m, QKDN_W_ROUTE_OP, QKDN_W_ROUTE_OP_MAX + 1);
	qkdn_wire_nest_end(m, n);
	qkdn_wire_nest_end(m, t);
	ret = ck_parse(m, tb, &hdr);
	ok(ret == -EPROTO && strstr(hdr.error, "3 out of range 1..2"), "route op 3 refused: %s",
	   hdr.error);

	{
		static unsigned char crl[QKDN_W_CRL_MAX + 1];

		m = qkdn_wire_msg_new(QKDN_W_CMD_CK_CRL, CTL);
		qkdn_wire_put_bin(m, QKDN_W_CRL, crl, sizeof(crl));
		ret = ck_parse(m, tb, &hdr);
		ok(ret == -EPROTO && strstr(hdr.error, "61441 bytes, want 1..61440"),
		   "CRL over QKDN_W_CRL_MAX refused: %s", hdr.error);
	}

	m = qkdn_wire_response_new(QKDN_W_CMD_CK_AUTH, CTL, 1, QKDN_W_RESP_SUCCESS);
	qkdn_wire_put_u64(m, QKDN_W_SESSION_ID, 1);
	ret = ck_parse(m, tb, &hdr);
	ok(ret == -EPROTO && strstr(hdr.error, "SESSION_ID) not allowed in a response"),
	   "CK_AUTH response with a route attribute refused: %s", hdr.error);

	m = ck_command(QKDN_W_CMD_CK_ROUTE, 0);
	qkdn_wire_put_str(m, QKDN_W_REASON, "x");
	ret = ck_parse(m, tb, &hdr);
	ok(ret == -EPROTO && strstr(hdr.error, "REASON) not allowed in CK_ROUTE"),
	   "response-only attribute in CK_ROUTE refused: %s", hdr.error);
}

/* qkdn-mgrd: the management policy (Mk, Mq, Mc) */

static const uint8_t test_key_id[QKDN_KEY_ID_LEN] = { 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4 };

/* A valid management command with everything it may carry, except the
 * attribute omit (0: none). */
static struct qkdn_wire_msg *m_command(uint16_t cmd, uint16_t omit)
{
	struct qkdn_wire_msg *m = qkdn_wire_msg_new(cmd, cmd == QKDN_W_CMD_M_CONTROL ||
						    cmd == QKDN_W_CMD_M_DIAG ? 4000 : 3);

#define PUT(t, call) do { if (omit != (t)) call; } while (0)
	if (cmd != QKDN_W_CMD_M_AUTH && cmd != QKDN_W_CMD_M_DIAG && cmd != QKDN_W_CMD_M_CONTROL) {
		PUT(QKDN_W_M_SEQ, qkdn_wire_put_u64(m, QKDN_W_M_SEQ, 42));
		PUT(QKDN_W_M_TIME_MS, qkdn_wire_put_u64(m, QKDN_W_M_TIME_MS, 1700000000000ULL));
		PUT(QKDN_W_M_RESOURCE_ID, qkdn_wire_put_str(m, QKDN_W_M_RESOURCE_ID, "qkd-link-3-1"));
		qkdn_wire_put_str(m, QKDN_W_M_RESOURCE_DESC, "QKD link 1 of node 3");
	}
	switch (cmd) {
	case QKDN_W_CMD_M_AUTH:
		PUT(QKDN_W_AUTH_INFO, qkdn_wire_put_str(m, QKDN_W_AUTH_INFO, "qkdn-qkd-3"));
		PUT(QKDN_W_SENDER_HOSTNAME, qkdn_wire_put_str(m, QKDN_W_SENDER_HOSTNAME, "gamma"));
		PUT(QKDN_W_M_AGENT_KIND, qkdn_wire_put_u8(m, QKDN_W_M_AGENT_KIND, QKDN_W_AGENT_QKD));
		PUT(QKDN_W_M_EPOCH, qkdn_wire_put_u64(m, QKDN_W_M_EPOCH, 99));
		qkdn_wire_put_str(m, QKDN_W_M_REQUESTOR, "QKD module");
		break;
	case QKDN_W_CMD_M_ALARM:
		PUT(QKDN_W_M_ALARM_TYPE, qkdn_wire_put_u16(m, QKDN_W_M_ALARM_TYPE,
							   QKDN_W_ALARM_QKD_LINK_DOWN));
		PUT(QKDN_W_M_ALARM_ID, qkdn_wire_put_u64(m, QKDN_W_M_ALARM_ID, 7));
		PUT(QKDN_W_M_ALARM_SOURCE, qkdn_wire_put_str(m, QKDN_W_M_ALARM_SOURCE, "A-tx"));
		PUT(QKDN_W_M_SEVERITY, qkdn_wire_put_u8(m, QKDN_W_M_SEVERITY, QKDN_W_SEV_CRITICAL));
		qkdn_wire_put_u64(m, QKDN_W_M_ALARM_VALUE, 0);
		qkdn_wire_put_str(m, QKDN_W_M_ALARM_DESC, "no detections");
		qkdn_wire_put_u32(m, QKDN_W_PEER_NODE_ID, 4);
		break;
	case QKDN_W_CMD_M_PERF:
		PUT(QKDN_W_M_PERF_TYPE, qkdn_wire_put_u16(m, QKDN_W_M_PERF_TYPE, QKDN_W_PERF_QBER));
		PUT(QKDN_W_M_PERF_TARGET, qkdn_wire_put_str(m, QKDN_W_M_PERF_TARGET, "A-tx"));
		PUT(QKDN_W_M_PERF_VALUE, qkdn_wire_put_u64(m, QKDN_W_M_PERF_VALUE, 21000));
		break;
	case QKDN_W_CMD_M_CONFIG:
		PUT(QKDN_W_M_RESOURCE_KIND, qkdn_wire_put_u8(m, QKDN_W_M_RESOURCE_KIND,
							     QKDN_W_RES_QKD_LINK));
		PUT(QKDN_W_M_RESOURCE_STATE, qkdn_wire_put_u8(m, QKDN_W_M_RESOURCE_STATE,
							      QKDN_W_STATE_IN_SERVICE));
		qkdn_wire_put_u32(m, QKDN_W_M_LINK_ID, 1);
		qkdn_wire_put_str(m, QKDN_W_M_QKD_MODULE, "A-tx");
		qkdn_wire_put_str(m, QKDN_W_M_PEER_QKD_MODULE, "B-rx");
		qkdn_wire_put_u64(m, QKDN_W_KEY_AMOUNT, 4096);
		break;
	case QKDN_W_CMD_M_ACCOUNT:
		PUT(QKDN_W_M_APP_ID, qkdn_wire_put_str(m, QKDN_W_M_APP_ID, "app-a"));
		PUT(QKDN_W_M_KEY_COUNT, qkdn_wire_put_u64(m, QKDN_W_M_KEY_COUNT, 3));
		PUT(QKDN_W_M_KEY_BITS, qkdn_wire_put_u64(m, QKDN_W_M_KEY_BITS, 768));
		break;
	case QKDN_W_CMD_M_SECURITY:
		PUT(QKDN_W_M_SEC_EVENT, qkdn_wire_put_u16(m, QKDN_W_M_SEC_EVENT,
							  QKDN_W_SEC_EAVESDROPPING));
		qkdn_wire_put_u64(m, QKDN_W_M_ALARM_VALUE, 120000);
		break;
	case QKDN_W_CMD_M_KEY_EVENT:
		PUT(QKDN_W_KEY_ID, qkdn_wire_put_bin(m, QKDN_W_KEY_ID, test_key_id,
						     sizeof(test_key_id)));
		PUT(QKDN_W_M_KEY_EVENT, qkdn_wire_put_u8(m, QKDN_W_M_KEY_EVENT, QKDN_W_KEY_RELAYED));
		qkdn_wire_put_u32(m, QKDN_W_NEXT_HOP_NODE_ID, 5);
		break;
	case QKDN_W_CMD_M_RESILIENCE:
		PUT(QKDN_W_M_RESIL_KIND, qkdn_wire_put_u8(m, QKDN_W_M_RESIL_KIND, QKDN_W_RESIL_LINK));
		PUT(QKDN_W_M_RESIL_OP, qkdn_wire_put_u8(m, QKDN_W_M_RESIL_OP,
							QKDN_W_RESIL_OP_MATCHUP));
		PUT(QKDN_W_M_WORKING, qkdn_wire_put_str(m, QKDN_W_M_WORKING, "qkd-link-3-1"));
		qkdn_wire_put_str(m, QKDN_W_M_PROTECTION, "qkd-link-3-2");
		break;
	case QKDN_W_CMD_M_DIAG:
		PUT(QKDN_W_M_RESOURCE_ID, qkdn_wire_put_str(m, QKDN_W_M_RESOURCE_ID, "qkd-link-3-1"));
		break;
	case QKDN_W_CMD_M_CONTROL:
		PUT(QKDN_W_M_ACTION_TYPE, qkdn_wire_put_u8(m, QKDN_W_M_ACTION_TYPE,
							   QKDN_W_ACTION_REROUTE));
		PUT(QKDN_W_PRIORITY, qkdn_wire_put_u8(m, QKDN_W_PRIORITY, 1));
		PUT(QKDN_W_M_ACTION_VALUE, qkdn_wire_put_str(m, QKDN_W_M_ACTION_VALUE,
							     "avoid km-link-3-4"));
		PUT(QKDN_W_M_RESOURCE_ID, qkdn_wire_put_str(m, QKDN_W_M_RESOURCE_ID, "km-link-3-4"));
		PUT(QKDN_W_M_ACTION_ID, qkdn_wire_put_u64(m, QKDN_W_M_ACTION_ID, 12));
		break;
	}
#undef PUT
	return m;
}

static const struct {
	uint16_t cmd;
	uint16_t required[6];
} m_required[] = {
	{ QKDN_W_CMD_M_AUTH, { QKDN_W_AUTH_INFO, QKDN_W_SENDER_HOSTNAME, QKDN_W_M_AGENT_KIND,
			       QKDN_W_M_EPOCH } },
	{ QKDN_W_CMD_M_ALARM, { QKDN_W_M_SEQ, QKDN_W_M_RESOURCE_ID, QKDN_W_M_ALARM_TYPE,
				QKDN_W_M_ALARM_ID, QKDN_W_M_ALARM_SOURCE, QKDN_W_M_SEVERITY } },
	{ QKDN_W_CMD_M_PERF, { QKDN_W_M_TIME_MS, QKDN_W_M_PERF_TYPE, QKDN_W_M_PERF_TARGET,
			       QKDN_W_M_PERF_VALUE } },
	{ QKDN_W_CMD_M_CONFIG, { QKDN_W_M_RESOURCE_KIND, QKDN_W_M_RESOURCE_STATE } },
	{ QKDN_W_CMD_M_ACCOUNT, { QKDN_W_M_APP_ID, QKDN_W_M_KEY_COUNT, QKDN_W_M_KEY_BITS } },
	{ QKDN_W_CMD_M_SECURITY, { QKDN_W_M_SEC_EVENT } },
	{ QKDN_W_CMD_M_KEY_EVENT, { QKDN_W_KEY_ID, QKDN_W_M_KEY_EVENT } },
	{ QKDN_W_CMD_M_RESILIENCE, { QKDN_W_M_RESIL_KIND, QKDN_W_M_RESIL_OP, QKDN_W_M_WORKING } },
	{ QKDN_W_CMD_M_DIAG, { QKDN_W_M_RESOURCE_ID } },
	{ QKDN_W_CMD_M_CONTROL, { QKDN_W_M_ACTION_TYPE, QKDN_W_PRIORITY, QKDN_W_M_ACTION_VALUE,
				  QKDN_W_M_RESOURCE_ID, QKDN_W_M_ACTION_ID } },
};

/* tb points into the copy: the next m_parse() frees it. */
static int m_parse(struct qkdn_wire_msg *m, const struct nlattr **tb, struct qkdn_wire_hdr *hdr)
{
	static void *copy;
	int ret;

	free(copy);
	copy = NULL;
	if (!m)
		return 0;
	ret = parse_msg(m, &qkdn_wire_mgmt_policy, tb, hdr, &copy);
	qkdn_wire_msg_free(m);
	return ret;
}

/* M_SUPPORT (seed 001 10.7): the controller's request and the manager's
 * table of links. */
static void test_mgmt_support(const struct nlattr **tb)
{
	const struct nlattr *ntb[QKDN_W_MAX + 1], *a;
	struct qkdn_wire_hdr hdr;
	struct qkdn_wire_msg *m;
	unsigned int links = 0;
	char err[160];
	long t, n;
	int ret;

	m = qkdn_wire_msg_new(QKDN_W_CMD_M_SUPPORT, QKDN_W_CONTROLLER_ID);
	qkdn_wire_put_str(m, QKDN_W_M_RESOURCE_ID, "km-link-1-2");
	ret = m_parse(m, tb, &hdr);
	ok(ret == 0 && !strcmp(qkdn_wire_get_str(tb[QKDN_W_M_RESOURCE_ID]), "km-link-1-2"),
	   "M_SUPPORT request for a link (%s)", hdr.error);
	m = qkdn_wire_msg_new(QKDN_W_CMD_M_SUPPORT, QKDN_W_CONTROLLER_ID);
	ok(m_parse(m, tb, &hdr) == 0, "M_SUPPORT request for every link (%s)", hdr.error);
	m = qkdn_wire_msg_new(QKDN_W_CMD_M_SUPPORT, QKDN_W_CONTROLLER_ID);
	qkdn_wire_put_u64(m, QKDN_W_M_SEQ, 1);
	ret = m_parse(m, tb, &hdr);
	ok(ret == -EPROTO && strstr(hdr.error, "(M_SEQ) not allowed in M_SUPPORT"),
	   "M_SUPPORT is no notification: %s", hdr.error);

	m = qkdn_wire_response_new(QKDN_W_CMD_M_SUPPORT, 4000, 9, QKDN_W_RESP_SUCCESS);
	t = qkdn_wire_nest_start(m, QKDN_W_M_SUPPORT_TABLE);
	n = qkdn_wire_nest_start(m, QKDN_W_M_SUPPORT_LINK);
	qkdn_wire_put_str(m, QKDN_W_M_RESOURCE_ID, "km-link-1-2");
	qkdn_wire_put_u32(m, QKDN_W_SOURCE_NODE_ID, 1);
	qkdn_wire_put_u32(m, QKDN_W_PEER_NODE_ID, 2);
	qkdn_wire_put_u8(m, QKDN_W_M_RESOURCE_STATE, QKDN_W_STATE_OUT_OF_SERVICE);
	qkdn_wire_put_u16(m, QKDN_W_M_ALARM_TYPE, QKDN_W_ALARM_QKD_LINK_DOWN);
	qkdn_wire_put_str(m, QKDN_W_M_ALARM_DESC, "QLM: fibre cut");
	qkdn_wire_put_u8(m, QKDN_W_M_SEVERITY, QKDN_W_SEV_MAJOR);
	qkdn_wire_put_u64(m, QKDN_W_GENERATION_RATE, 0);
	qkdn_wire_put_u32(m, QKDN_W_QBER, 21000);
	qkdn_wire_put_u64(m, QKDN_W_KEY_AMOUNT, 4096);
	qkdn_wire_nest_end(m, n);
	n = qkdn_wire_nest_start(m, QKDN_W_M_SUPPORT_LINK);
	qkdn_wire_put_str(m, QKDN_W_M_RESOURCE_ID, "km-link-2-3");
	qkdn_wire_put_u32(m, QKDN_W_SOURCE_NODE_ID, 2);
	qkdn_wire_put_u32(m, QKDN_W_PEER_NODE_ID, 3);
	qkdn_wire_put_u8(m, QKDN_W_M_RESOURCE_STATE, QKDN_W_STATE_IN_SERVICE);
	qkdn_wire_nest_end(m, n);
	qkdn_wire_nest_end(m, t);
	ret = m_parse(m, tb, &hdr);
	ok(ret == 0 && hdr.is_response, "M_SUPPORT answer with two links (%s)", hdr.error);
	if (!ret)
		mnl_attr_for_each_nested(a, tb[QKDN_W_M_SUPPORT_TABLE]) {
			if (qkdn_wire_parse_nested(a, &qkdn_wire_m_support_link_nest, ntb, err,
						   sizeof(err)))
				break;
			links += links == 0 ? qkdn_wire_get_u8(ntb[QKDN_W_M_RESOURCE_STATE]) ==
					      QKDN_W_STATE_OUT_OF_SERVICE &&
					      qkdn_wire_get_u32(ntb[QKDN_W_QBER]) == 21000 &&
					      !strcmp(qkdn_wire_get_str(ntb[QKDN_W_M_ALARM_DESC]),
						      "QLM: fibre cut")
					    : !ntb[QKDN_W_M_ALARM_TYPE];
		}
	ok(links == 2, "both links read back, the first with its cause and figures");

	m = qkdn_wire_response_new(QKDN_W_CMD_M_SUPPORT, 4000, 9, QKDN_W_RESP_SUCCESS);
	t = qkdn_wire_nest_start(m, QKDN_W_M_SUPPORT_TABLE);
	n = qkdn_wire_nest_start(m, QKDN_W_M_SUPPORT_LINK);
	qkdn_wire_put_str(m, QKDN_W_M_RESOURCE_ID, "km-link-1-2");
	qkdn_wire_put_u32(m, QKDN_W_SOURCE_NODE_ID, 1);
	qkdn_wire_put_u32(m, QKDN_W_PEER_NODE_ID, 2);
	qkdn_wire_nest_end(m, n);
	qkdn_wire_nest_end(m, t);
	ret = m_parse(m, tb, &hdr);
	ok(ret == -EPROTO && strstr(hdr.error, "required attribute 64 (nested) missing"),
	   "a support link without its advice refused: %s", hdr.error);
	m = qkdn_wire_response_new(QKDN_W_CMD_M_SUPPORT, 4000, 9, QKDN_W_RESP_SUCCESS);
	t = qkdn_wire_nest_start(m, QKDN_W_M_SUPPORT_TABLE);
	n = qkdn_wire_nest_start(m, QKDN_W_M_SUPPORT_LINK);
	qkdn_wire_put_str(m, QKDN_W_M_RESOURCE_ID, "km-link-1-2");
	qkdn_wire_put_u32(m, QKDN_W_SOURCE_NODE_ID, 1);
	qkdn_wire_put_u32(m, QKDN_W_PEER_NODE_ID, 2);
	qkdn_wire_put_u8(m, QKDN_W_M_RESOURCE_STATE, QKDN_W_STATE_IN_SERVICE);
	qkdn_wire_put_u32(m, QKDN_W_QBER, QKDN_W_QBER_MAX + 1);
	qkdn_wire_nest_end(m, n);
	qkdn_wire_nest_end(m, t);
	ret = m_parse(m, tb, &hdr);
	ok(ret == -EPROTO && strstr(hdr.error, "1000001 out of range 0..1000000"),
	   "a QBER over 100%% refused: %s", hdr.error);
	ok(!strcmp(qkdn_wire_cmd_name(QKDN_W_CMD_M_SUPPORT), "M_SUPPORT"), "M_SUPPORT named");
}

static void test_mgmt(void)
{
	const struct nlattr *tb[QKDN_W_MAX + 1];
	struct qkdn_wire_hdr hdr;
	struct qkdn_wire_msg *m;
	char want[160];
	int ret;

	for (size_t i = 0; i < QKDN_ARRAY_SIZE_T(m_required); i++) {
		uint16_t cmd = m_required[i].cmd;

		ret = m_parse(m_command(cmd, 0), tb, &hdr);
		ok(ret == 0 && hdr.cmd == cmd, "%s with every attribute accepted (%s)",
		   qkdn_wire_cmd_name(cmd), hdr.error);
		for (size_t j = 0; j < 6 && m_required[i].required[j]; j++) {
			uint16_t t = m_required[i].required[j];

			ret = m_parse(m_command(cmd, t), tb, &hdr);
			snprintf(want, sizeof(want), "%s: required attribute %u (%s) missing",
				 qkdn_wire_cmd_name(cmd), t, qkdn_wire_attr_name(t));
			ok(ret == -EPROTO && !strcmp(hdr.error, want),
			   "%s without %s refused: want \"%s\", got \"%s\"",
			   qkdn_wire_cmd_name(cmd), qkdn_wire_attr_name(t), want, hdr.error);
		}
	}
	ret = m_parse(m_command(QKDN_W_CMD_M_KEY_EVENT, 0), tb, &hdr);
	ok(ret == 0 && qkdn_wire_get_len(tb[QKDN_W_KEY_ID]) == QKDN_KEY_ID_LEN &&
	   !memcmp(qkdn_wire_get_bin(tb[QKDN_W_KEY_ID]), test_key_id, QKDN_KEY_ID_LEN) &&
	   qkdn_wire_get_u32(tb[QKDN_W_NEXT_HOP_NODE_ID]) == 5 &&
	   qkdn_wire_get_u64(tb[QKDN_W_M_SEQ]) == 42, "M_KEY_EVENT round trip");

	/* Out of range. */
	m = m_command(QKDN_W_CMD_M_ALARM, QKDN_W_M_SEVERITY);
	qkdn_wire_put_u8(m, QKDN_W_M_SEVERITY, QKDN_W_SEV_MAX + 1);
	ret = m_parse(m, tb, &hdr);
	ok(ret == -EPROTO && strstr(hdr.error, "(M_SEVERITY): 5 out of range 0..4"),
	   "severity 5 refused: %s", hdr.error);
	m = m_command(QKDN_W_CMD_M_PERF, QKDN_W_M_SEQ);
	qkdn_wire_put_u64(m, QKDN_W_M_SEQ, 0);
	ret = m_parse(m, tb, &hdr);
	ok(ret == -EPROTO && strstr(hdr.error, "(M_SEQ): 0 out of range"),
	   "sequence number 0 refused: %s", hdr.error);
	m = m_command(QKDN_W_CMD_M_ALARM, QKDN_W_M_ALARM_TYPE);
	qkdn_wire_put_u16(m, QKDN_W_M_ALARM_TYPE, QKDN_W_ALARM_MAX + 1);
	ret = m_parse(m, tb, &hdr);
	ok(ret == -EPROTO && strstr(hdr.error, "(M_ALARM_TYPE)"), "unknown alarm type refused: %s",
	   hdr.error);
	m = m_command(QKDN_W_CMD_M_KEY_EVENT, QKDN_W_KEY_ID);
	qkdn_wire_put_bin(m, QKDN_W_KEY_ID, test_key_id, 8);
	ret = m_parse(m, tb, &hdr);
	ok(ret == -EPROTO && strstr(hdr.error, "(KEY_ID): 8 bytes, want exactly 16"),
	   "short key ID refused: %s", hdr.error);
	m = m_command(QKDN_W_CMD_M_ALARM, QKDN_W_M_RESOURCE_ID);
	qkdn_wire_put_str(m, QKDN_W_M_RESOURCE_ID, "");
	ret = m_parse(m, tb, &hdr);
	ok(ret == -EPROTO && strstr(hdr.error, "(M_RESOURCE_ID): string of 1 bytes"),
	   "empty resource ID refused: %s", hdr.error);
	m = m_command(QKDN_W_CMD_M_CONFIG, 0);
	qkdn_wire_put_u32(m, QKDN_W_QBER, 5);
	ret = m_parse(m, tb, &hdr);
	ok(ret == -EPROTO && strstr(hdr.error, "(QBER) not allowed in M_CONFIG"),
	   "foreign attribute refused: %s", hdr.error);

	/* Other protocols' commands, and the controller's sender ID. */
	m = ck_command(QKDN_W_CMD_CK_AUTH, 0);
	ret = m_parse(m, tb, &hdr);
	ok(ret == -EOPNOTSUPP && strstr(hdr.error, "not part of protocol mgmt"),
	   "CK_AUTH refused on mgmt: %s", hdr.error);
	m = qkdn_wire_msg_new(QKDN_W_CMD_KEEPALIVE, QKDN_W_CONTROLLER_ID);
	ok(m_parse(m, tb, &hdr) == 0, "controller's sender ID accepted on mgmt");

	/* The busy answer. */
	m = qkdn_wire_response_new(QKDN_W_CMD_M_PERF, 4000, 5, QKDN_W_RESP_FAILURE);
	qkdn_wire_put_str(m, QKDN_W_REASON, "busy");
	qkdn_wire_put_u64(m, QKDN_W_M_SEQ, 42);
	qkdn_wire_put_u32(m, QKDN_W_M_RETRY_MS, 250);
	ret = m_parse(m, tb, &hdr);
	ok(ret == 0 && hdr.is_response && qkdn_wire_get_u32(tb[QKDN_W_M_RETRY_MS]) == 250 &&
	   qkdn_wire_get_u64(tb[QKDN_W_M_SEQ]) == 42, "busy response with retry-after");
	m = qkdn_wire_response_new(QKDN_W_CMD_M_PERF, 4000, 5, QKDN_W_RESP_FAILURE);
	qkdn_wire_put_u32(m, QKDN_W_M_RETRY_MS, 0);
	ret = m_parse(m, tb, &hdr);
	ok(ret == -EPROTO && strstr(hdr.error, "(M_RETRY_MS): 0 out of range 1..600000"),
	   "retry-after 0 refused: %s", hdr.error);
	ok(!strcmp(qkdn_wire_cmd_name(QKDN_W_CMD_M_RESILIENCE), "M_RESILIENCE") &&
	   !strcmp(qkdn_wire_attr_name(QKDN_W_M_ACTION_ID), "M_ACTION_ID"), "management names");
	test_mgmt_support(tb);
	m_parse(NULL, tb, &hdr);	/* frees the last copy */
}

/* qkdn-mgrd end */

/* qkdn-secd: SA_PROPOSE, SA_INSTALLED, SA_DELETE */

static const uint8_t sa_ids[3][QKDN_KEY_ID_LEN] = { { 1, 2, 3 }, { 4, 5, 6 }, { 7, 8, 9 } };

static int sa_parse(struct qkdn_wire_msg *m, const struct nlattr **tb, struct qkdn_wire_hdr *hdr)
{
	static void *copy;
	int ret;

	free(copy);
	copy = NULL;
	if (!m)
		return 0;
	ret = parse_msg(m, &qkdn_wire_sa_policy, tb, hdr, &copy);
	qkdn_wire_msg_free(m);
	return ret;
}

/* A valid SA_PROPOSE of kind; skip leaves that attribute out. */
static struct qkdn_wire_msg *sa_propose(uint8_t kind, uint16_t skip)
{
	struct qkdn_wire_msg *m = qkdn_wire_msg_new(QKDN_W_CMD_SA_PROPOSE, 1);

	if (skip != QKDN_W_SA_KIND)
		qkdn_wire_put_u8(m, QKDN_W_SA_KIND, kind);
	if (skip != QKDN_W_SA_GENERATION)
		qkdn_wire_put_u32(m, QKDN_W_SA_GENERATION, 7);
	if (skip != QKDN_W_SA_KEY_IDS_FWD)
		qkdn_wire_put_bin(m, QKDN_W_SA_KEY_IDS_FWD, sa_ids, 2 * QKDN_KEY_ID_LEN);
	if (skip != QKDN_W_SA_KEY_IDS_REV && kind != QKDN_W_SA_PPK)
		qkdn_wire_put_bin(m, QKDN_W_SA_KEY_IDS_REV, sa_ids[2], QKDN_KEY_ID_LEN);
	if (skip != QKDN_W_SA_LIFETIME)
		qkdn_wire_put_u32(m, QKDN_W_SA_LIFETIME, 36);
	if (kind == QKDN_W_SA_MACSEC) {
		qkdn_wire_put_u8(m, QKDN_W_SA_AN, 3);
		qkdn_wire_put_u64(m, QKDN_W_SA_SCI, 0x0102030405060001ULL);
	}
	return m;
}

static void test_sa(void)
{
	static const uint16_t required[] = {
		QKDN_W_SA_KIND, QKDN_W_SA_GENERATION, QKDN_W_SA_KEY_IDS_FWD,
		QKDN_W_SA_LIFETIME,
	};
	const struct nlattr *tb[QKDN_W_MAX + 1];
	struct qkdn_wire_hdr hdr;
	struct qkdn_wire_msg *m;
	char want[160];
	int ret;

	ret = sa_parse(sa_propose(QKDN_W_SA_IPSEC, 0), tb, &hdr);
	ok(ret == 0 && hdr.cmd == QKDN_W_CMD_SA_PROPOSE && !hdr.is_response &&
	   qkdn_wire_get_u8(tb[QKDN_W_SA_KIND]) == QKDN_W_SA_IPSEC &&
	   qkdn_wire_get_u32(tb[QKDN_W_SA_GENERATION]) == 7 &&
	   qkdn_wire_get_len(tb[QKDN_W_SA_KEY_IDS_FWD]) == 32 &&
	   !memcmp(qkdn_wire_get_bin(tb[QKDN_W_SA_KEY_IDS_FWD]), sa_ids, 32) &&
	   !memcmp(qkdn_wire_get_bin(tb[QKDN_W_SA_KEY_IDS_REV]), sa_ids[2], 16) &&
	   qkdn_wire_get_u32(tb[QKDN_W_SA_LIFETIME]) == 36 && !tb[QKDN_W_SA_AN],
	   "SA_PROPOSE (IPsec) round trip (%s)", hdr.error);
	ret = sa_parse(sa_propose(QKDN_W_SA_MACSEC, 0), tb, &hdr);
	ok(ret == 0 && qkdn_wire_get_u8(tb[QKDN_W_SA_AN]) == 3 &&
	   qkdn_wire_get_u64(tb[QKDN_W_SA_SCI]) == 0x0102030405060001ULL,
	   "SA_PROPOSE (MACsec) with AN and SCI round trip (%s)", hdr.error);
	/* PPK: one key, both ends; the policy leaves REV to qkdn-secd. */
	ret = sa_parse(sa_propose(QKDN_W_SA_PPK, 0), tb, &hdr);
	ok(ret == 0 && qkdn_wire_get_u8(tb[QKDN_W_SA_KIND]) == QKDN_W_SA_PPK &&
	   qkdn_wire_get_len(tb[QKDN_W_SA_KEY_IDS_FWD]) == 32 && !tb[QKDN_W_SA_KEY_IDS_REV],
	   "SA_PROPOSE (PPK) without reverse keys round trip (%s)", hdr.error);
	for (size_t i = 0; i < QKDN_ARRAY_SIZE_T(required); i++) {
		ret = sa_parse(sa_propose(QKDN_W_SA_IPSEC, required[i]), tb, &hdr);
		snprintf(want, sizeof(want), "SA_PROPOSE: required attribute %u (%s) missing",
			 required[i], qkdn_wire_attr_name(required[i]));
		ok(ret == -EPROTO && !strcmp(hdr.error, want), "SA_PROPOSE without %s refused: %s",
		   qkdn_wire_attr_name(required[i]), hdr.error);
	}

	/* Responses carry the new SPI or the SCI. */
	m = qkdn_wire_response_new(QKDN_W_CMD_SA_PROPOSE, 4, 99, QKDN_W_RESP_SUCCESS);
	qkdn_wire_put_u32(m, QKDN_W_SA_GENERATION, 7);
	qkdn_wire_put_u32(m, QKDN_W_SA_SPI, 0xc0ffee00);
	ret = sa_parse(m, tb, &hdr);
	ok(ret == 0 && hdr.is_response && hdr.orig_msg_id == 99 &&
	   qkdn_wire_get_u32(tb[QKDN_W_SA_SPI]) == 0xc0ffee00, "SA_PROPOSE response with SPI (%s)",
	   hdr.error);
	m = qkdn_wire_response_new(QKDN_W_CMD_SA_PROPOSE, 4, 99, QKDN_W_RESP_FAILURE);
	qkdn_wire_put_str(m, QKDN_W_REASON, "KEY_GET_ID: a key ID is not at this node");
	ret = sa_parse(m, tb, &hdr);
	ok(ret == 0 && hdr.response_code == QKDN_W_RESP_FAILURE && tb[QKDN_W_REASON],
	   "SA_PROPOSE refusal with a reason (%s)", hdr.error);
	m = qkdn_wire_msg_new(QKDN_W_CMD_SA_INSTALLED, 1);
	qkdn_wire_put_u8(m, QKDN_W_SA_KIND, QKDN_W_SA_IPSEC);
	qkdn_wire_put_u32(m, QKDN_W_SA_GENERATION, 7);
	qkdn_wire_put_u32(m, QKDN_W_SA_SPI, QKDN_W_SA_SPI_MIN);
	ok(sa_parse(m, tb, &hdr) == 0, "SA_INSTALLED with SPI 256 accepted (%s)", hdr.error);
	m = qkdn_wire_msg_new(QKDN_W_CMD_SA_DELETE, 1);
	qkdn_wire_put_u8(m, QKDN_W_SA_KIND, QKDN_W_SA_MACSEC);
	qkdn_wire_put_u32(m, QKDN_W_SA_GENERATION, 6);
	ok(sa_parse(m, tb, &hdr) == 0 && qkdn_wire_get_u32(tb[QKDN_W_SA_GENERATION]) == 6,
	   "SA_DELETE round trip (%s)", hdr.error);

	/* Out of range, wrong lengths, foreign attributes and commands. */
	m = sa_propose(QKDN_W_SA_MACSEC, 0);
	qkdn_wire_put_u8(m, QKDN_W_SA_AN, 4);
	ret = sa_parse(m, tb, &hdr);
	ok(ret == -EPROTO && strstr(hdr.error, "appears twice"), "a second AN refused: %s",
	   hdr.error);
	m = qkdn_wire_msg_new(QKDN_W_CMD_SA_PROPOSE, 1);
	qkdn_wire_put_u8(m, QKDN_W_SA_KIND, QKDN_W_SA_MACSEC);
	qkdn_wire_put_u32(m, QKDN_W_SA_GENERATION, 7);
	qkdn_wire_put_bin(m, QKDN_W_SA_KEY_IDS_FWD, sa_ids[0], QKDN_KEY_ID_LEN);
	qkdn_wire_put_bin(m, QKDN_W_SA_KEY_IDS_REV, sa_ids[1], QKDN_KEY_ID_LEN);
	qkdn_wire_put_u32(m, QKDN_W_SA_LIFETIME, 36);
	qkdn_wire_put_u8(m, QKDN_W_SA_AN, 4);
	ret = sa_parse(m, tb, &hdr);
	ok(ret == -EPROTO && strstr(hdr.error, "(SA_AN): 4 out of range 0..3"),
	   "AN 4 refused: %s", hdr.error);
	m = qkdn_wire_msg_new(QKDN_W_CMD_SA_DELETE, 1);
	qkdn_wire_put_u8(m, QKDN_W_SA_KIND, QKDN_W_SA_PPK + 1);
	qkdn_wire_put_u32(m, QKDN_W_SA_GENERATION, 6);
	ret = sa_parse(m, tb, &hdr);
	ok(ret == -EPROTO && strstr(hdr.error, "(SA_KIND): 4 out of range 1..3"),
	   "unknown SA kind refused: %s", hdr.error);
	m = qkdn_wire_msg_new(QKDN_W_CMD_SA_DELETE, 1);
	qkdn_wire_put_u8(m, QKDN_W_SA_KIND, QKDN_W_SA_IPSEC);
	qkdn_wire_put_u32(m, QKDN_W_SA_GENERATION, 0);
	ret = sa_parse(m, tb, &hdr);
	ok(ret == -EPROTO && strstr(hdr.error, "(SA_GENERATION): 0 out of range"),
	   "generation 0 refused: %s", hdr.error);
	m = qkdn_wire_msg_new(QKDN_W_CMD_SA_INSTALLED, 1);
	qkdn_wire_put_u8(m, QKDN_W_SA_KIND, QKDN_W_SA_IPSEC);
	qkdn_wire_put_u32(m, QKDN_W_SA_GENERATION, 7);
	qkdn_wire_put_u32(m, QKDN_W_SA_SPI, 255);
	ret = sa_parse(m, tb, &hdr);
	ok(ret == -EPROTO && strstr(hdr.error, "(SA_SPI): 255 out of range"),
	   "reserved SPI 255 refused: %s", hdr.error);
	m = sa_propose(QKDN_W_SA_IPSEC, QKDN_W_SA_KEY_IDS_FWD);
	qkdn_wire_put_bin(m, QKDN_W_SA_KEY_IDS_FWD, sa_ids, 8);
	ret = sa_parse(m, tb, &hdr);
	ok(ret == -EPROTO && strstr(hdr.error, "(SA_KEY_IDS_FWD): 8 bytes, want 16..64"),
	   "half a key ID refused: %s", hdr.error);
	m = sa_propose(QKDN_W_SA_IPSEC, QKDN_W_SA_KEY_IDS_REV);
	{
		uint8_t five[5 * QKDN_KEY_ID_LEN] = { 0 };

		qkdn_wire_put_bin(m, QKDN_W_SA_KEY_IDS_REV, five, sizeof(five));
	}
	ret = sa_parse(m, tb, &hdr);
	ok(ret == -EPROTO && strstr(hdr.error, "(SA_KEY_IDS_REV): 80 bytes, want 16..64"),
	   "five key IDs for one direction refused: %s", hdr.error);
	m = sa_propose(QKDN_W_SA_IPSEC, 0);
	qkdn_wire_put_bin(m, QKDN_W_KX_FRAME, "x", 1);
	ret = sa_parse(m, tb, &hdr);
	ok(ret == -EPROTO && strstr(hdr.error, "(KX_FRAME) not allowed in SA_PROPOSE"),
	   "foreign attribute refused: %s", hdr.error);
	m = qkdn_wire_response_new(QKDN_W_CMD_SA_DELETE, 4, 5, QKDN_W_RESP_SUCCESS);
	qkdn_wire_put_u32(m, QKDN_W_SA_SPI, 4096);
	ret = sa_parse(m, tb, &hdr);
	ok(ret == -EPROTO && strstr(hdr.error, "not allowed in a response"),
	   "SPI in a SA_DELETE response refused: %s", hdr.error);
	m = qkdn_wire_msg_new(QKDN_W_CMD_HELLO, 1);
	ret = sa_parse(m, tb, &hdr);
	ok(ret == -EOPNOTSUPP && strstr(hdr.error, "not part of protocol sa"),
	   "HELLO refused on the SA channel: %s", hdr.error);
	{
		void *copy;

		m = sa_propose(QKDN_W_SA_IPSEC, 0);
		ret = parse_msg(m, &qkdn_wire_kx_policy, tb, &hdr, &copy);
		qkdn_wire_msg_free(m);
		free(copy);
		ok(ret == -EOPNOTSUPP, "SA_PROPOSE refused on Kx: %s", hdr.error);
	}
	ok(!strcmp(qkdn_wire_cmd_name(QKDN_W_CMD_SA_INSTALLED), "SA_INSTALLED") &&
	   !strcmp(qkdn_wire_attr_name(QKDN_W_SA_KEY_IDS_FWD), "SA_KEY_IDS_FWD"), "SA names");
	sa_parse(NULL, tb, &hdr);	/* frees the last copy */
}

/* qkdn-secd end */

int main(void)
{
	test_round_trips();
	test_nests();
	test_builder_limits();
	test_rejections();
	test_ck_valid();
	test_ck_refused();
	test_ck_route_ext();
	test_mgmt();
	test_sa();	/* qkdn-secd */
	return tap_done();
}
