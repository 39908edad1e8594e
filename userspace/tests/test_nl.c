// SPDX-License-Identifier: GPL-2.0 OR MIT
/* The netlink layer without the module: message building and overflow,
 * parsing, and family resolution against the always-present "nlctrl". */
#include <errno.h>
#include <string.h>

#include <linux/qkdn.h>

#include "nl.h"
#include "tap.h"

static void test_build_parse(void)
{
	struct qkdn_nl_msg *msg = qkdn_nl_msg_new(QKDN_CMD_LINK_ADD, 0);
	const struct nlattr *tb[QKDN_A_MAX + 1], *kb[QKDN_KEY_A_MAX + 1];
	struct nlattr *keys, *key;
	uint8_t id[QKDN_KEY_ID_LEN] = { 1, 2, 3 };
	uint64_t v64 = 0;
	uint32_t v32 = 0;
	uint16_t v16 = 0;
	uint8_t v8 = 0;

	ok(msg != NULL, "msg_new");
	if (!msg)
		return;
	qkdn_nl_put_u32(msg, QKDN_A_LINK_ID, 7);
	qkdn_nl_put_u8(msg, QKDN_A_LINK_ROLE, QKDN_ROLE_BOB);
	qkdn_nl_put_u16(msg, QKDN_A_KEY_UNIT, 64);
	qkdn_nl_put_u64(msg, QKDN_A_QKD_KEY_TIMESTAMP, 0x123456789abcULL);
	qkdn_nl_put_str(msg, QKDN_A_QKD_MODULE_ID, "A-tx");
	keys = qkdn_nl_nest_start(msg, QKDN_A_KEYS);
	key = qkdn_nl_nest_start(msg, QKDN_A_KEY);
	qkdn_nl_put(msg, QKDN_KEY_A_ID, id, sizeof(id));
	qkdn_nl_nest_end(msg, key);
	qkdn_nl_nest_end(msg, keys);
	ok(!msg->overflow, "no overflow");
	ok(qkdn_nl_cmd(msg->nlh) == QKDN_CMD_LINK_ADD, "genl cmd set");

	ok(qkdn_nl_parse(msg->nlh, tb, QKDN_A_MAX) == 0, "parse");
	ok(qkdn_nla_u32(tb[QKDN_A_LINK_ID], &v32) && v32 == 7, "u32 back");
	ok(qkdn_nla_u8(tb[QKDN_A_LINK_ROLE], &v8) && v8 == QKDN_ROLE_BOB, "u8 back");
	ok(qkdn_nla_u16(tb[QKDN_A_KEY_UNIT], &v16) && v16 == 64, "u16 back");
	ok(qkdn_nla_u64(tb[QKDN_A_QKD_KEY_TIMESTAMP], &v64) && v64 == 0x123456789abcULL, "u64 back");
	ok(qkdn_nla_str(tb[QKDN_A_QKD_MODULE_ID]) &&
	   strcmp(qkdn_nla_str(tb[QKDN_A_QKD_MODULE_ID]), "A-tx") == 0, "string back");
	ok(!qkdn_nla_u32(tb[QKDN_A_LINK_ROLE], &v32), "u32 read of a u8 refused");
	ok(!qkdn_nla_str(tb[QKDN_A_LINK_ID]) || 1, "string read of a u32 does not crash");
	ok(!qkdn_nla_u32(tb[QKDN_A_POOL_LOW], &v32), "absent attribute refused");
	ok(qkdn_nl_parse_nested(tb[QKDN_A_KEYS], tb, QKDN_A_MAX) == 0 && tb[QKDN_A_KEY] &&
	   qkdn_nl_parse_nested(tb[QKDN_A_KEY], kb, QKDN_KEY_A_MAX) == 0 && kb[QKDN_KEY_A_ID] &&
	   mnl_attr_get_payload_len(kb[QKDN_KEY_A_ID]) == QKDN_KEY_ID_LEN &&
	   memcmp(mnl_attr_get_payload(kb[QKDN_KEY_A_ID]), id, sizeof(id)) == 0,
	   "nested key ID back");

	qkdn_nl_msg_reset(msg, QKDN_CMD_PING, 0);
	ok(msg->nlh->nlmsg_len == NLMSG_HDRLEN + GENL_HDRLEN && qkdn_nl_cmd(msg->nlh) == QKDN_CMD_PING,
	   "reset empties the message");

	/* A push of the largest QKD-key fits; twice that does not. */
	{
		static uint8_t data[QKDN_QKD_KEY_MAX];

		qkdn_nl_msg_reset(msg, QKDN_CMD_KEY_PUSH, 0);
		qkdn_nl_put_u32(msg, QKDN_A_LINK_ID, 1);
		qkdn_nl_put_str(msg, QKDN_A_QKD_KEY_ID, "a-qkd-key-id-of-some-length-0123456789-0123456789-0123456789");
		qkdn_nl_put(msg, QKDN_A_QKD_KEY_DATA, data, sizeof(data));
		ok(!msg->overflow, "largest key push fits");
		qkdn_nl_put(msg, QKDN_A_QKD_KEY_DATA, data, sizeof(data));
		ok(msg->overflow, "overflow detected");
	}
	/* The largest ID list fits. */
	qkdn_nl_msg_reset(msg, QKDN_CMD_KEY_GET_ID, 0);
	qkdn_nl_put_str(msg, QKDN_A_SAE_ID, "0123456789012345678901234567890123456789012345678901234567890123");
	qkdn_nl_put_str(msg, QKDN_A_PEER_SAE_ID, "0123456789012345678901234567890123456789012345678901234567890123");
	keys = qkdn_nl_nest_start(msg, QKDN_A_KEYS);
	for (int i = 0; i < QKDN_KEY_AMOUNT_MAX; i++) {
		key = qkdn_nl_nest_start(msg, QKDN_A_KEY);
		qkdn_nl_put(msg, QKDN_KEY_A_ID, id, sizeof(id));
		qkdn_nl_nest_end(msg, key);
	}
	qkdn_nl_nest_end(msg, keys);
	ok(!msg->overflow, "%d key IDs fit", QKDN_KEY_AMOUNT_MAX);
	qkdn_nl_msg_free(msg);
}

static void test_family(void)
{
	struct qkdn_nl *nl;
	int ret;

	ret = qkdn_nl_open_family(&nl, "qkdnnosuch");
	ok(ret == -ENOENT, "unknown family is ENOENT (%s)", strerror(-ret));

	ret = qkdn_nl_open_family(&nl, "nlctrl");
	if (!ok(ret == 0, "resolve nlctrl (%s)", strerror(-ret)))
		return;
	ok(qkdn_nl_family_id(nl) == GENL_ID_CTRL, "nlctrl id is GENL_ID_CTRL");
	ok(qkdn_nl_join_group(nl, "notify") == 0, "join nlctrl's notify group");
	ok(qkdn_nl_join_group(nl, "no-such-group") == -ENOENT, "unknown group is ENOENT");

	/* A malformed request comes back as an error with extack. */
	{
		struct qkdn_nl_msg *msg = qkdn_nl_msg_new(CTRL_CMD_GETFAMILY, 0);

		/* Longer than GENL_NAMSIZ: refused by nlctrl's policy. */
		qkdn_nl_put_u16(msg, CTRL_ATTR_FAMILY_ID, 0);
		qkdn_nl_put_str(msg, CTRL_ATTR_FAMILY_NAME, "a-family-name-too-long-for-genl");
		ret = qkdn_nl_request(nl, msg, NULL, NULL);
		ok(ret == -EINVAL, "bad request fails (%s: %s, attr %d)", strerror(-ret),
		   qkdn_nl_extack(nl), qkdn_nl_extack_attr(nl));
		if (qkdn_nl_extack(nl)[0])
			ok(qkdn_nl_extack_attr(nl) == CTRL_ATTR_FAMILY_NAME,
			   "extack points at the bad attribute");
		ret = qkdn_nl_request(nl, msg, NULL, NULL);
		ok(ret < 0, "the same message can be sent again (%s)", strerror(-ret));
		qkdn_nl_msg_free(msg);
	}
	qkdn_nl_close(nl);
}

int main(void)
{
	test_build_parse();
	test_family();
	return tap_done();
}
