// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * libqkdn's handling of Ak replies, without a kernel: replies are built
 * here as the module builds them and handed to the library's parser. The
 * library source is included so its static functions can be reached.
 */
#include "../libqkdn/qkdn.c"

#include "tap.h"

static char buf[8192];

/* A reply as AK_KEY sends it, with @n keys of @len bytes (byte i of key k
 * is k * 16 + i), or none if n is 0. */
static struct nlmsghdr *reply(uint8_t response, uint32_t n, uint32_t len)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	struct nlattr *keys, *key;
	unsigned char data[64];

	g->cmd = QKDN_CMD_AK_KEY;
	if (n) {
		keys = mnl_attr_nest_start(nlh, QKDN_A_KEYS);
		for (uint32_t k = 0; k < n; k++) {
			uint8_t id[QKDN_KEY_ID_LEN] = { [15] = (uint8_t)k };

			for (uint32_t i = 0; i < len; i++)
				data[i] = (unsigned char)(k * 16 + i);
			key = mnl_attr_nest_start(nlh, QKDN_A_KEY);
			mnl_attr_put(nlh, QKDN_KEY_A_ID, sizeof(id), id);
			mnl_attr_put(nlh, QKDN_KEY_A_DATA, len, data);
			mnl_attr_put_u64(nlh, QKDN_KEY_A_TIMESTAMP, 1000 + k);
			mnl_attr_nest_end(nlh, key);
		}
		mnl_attr_nest_end(nlh, keys);
		mnl_attr_put_u32(nlh, QKDN_A_LINK_ID, 7);
	}
	mnl_attr_put_u8(nlh, QKDN_A_AK_RESPONSE, response);
	mnl_attr_put_u64(nlh, QKDN_A_AK_SESSION_ID, 0x1234567890abcdefULL);
	mnl_attr_put_strz(nlh, QKDN_A_SAE_ID, "sa");
	mnl_attr_put_strz(nlh, QKDN_A_PEER_SAE_ID, "sb");
	mnl_attr_put_u32(nlh, QKDN_A_NODE_ID, 1);
	mnl_attr_put_u32(nlh, QKDN_A_PEER_NODE_ID, 2);
	mnl_attr_put_u8(nlh, QKDN_A_AK_APP_CODE, QKDN_AK_ENCRYPT);
	mnl_attr_put_u32(nlh, QKDN_A_AK_COUNT_ID, 3);
	mnl_attr_put_u32(nlh, QKDN_A_KEY_SIZE, len * 8);
	mnl_attr_put_u32(nlh, QKDN_A_KEY_AMOUNT, n ? n : 5);
	if (!n) {
		struct nlattr *st = mnl_attr_nest_start(nlh, QKDN_A_AK_STATUS);

		mnl_attr_put_u64(nlh, QKDN_AK_STATUS_A_STORED_KEY_COUNT, 4);
		mnl_attr_put_u64(nlh, QKDN_AK_STATUS_A_MAX_KEY_COUNT, 1000);
		mnl_attr_put_u32(nlh, QKDN_AK_STATUS_A_MAX_KEY_PER_REQUEST, 1024);
		mnl_attr_put_u32(nlh, QKDN_AK_STATUS_A_KEY_SIZE, 256);
		mnl_attr_nest_end(nlh, st);
	}
	return nlh;
}

static void test_keys_to_secbuf(void)
{
	struct qkdn_keys *keys = NULL;
	struct keys_dest dest = { .keys = &keys };
	struct answer a = { .dest = &dest };
	bool bytes_ok = true;

	ok(answer_cb(reply(QKDN_AK_SUPPLY_SUFFICIENT, 3, 32), &a) == 0,
	   "a reply with 3 keys parses");
	ok(a.info.response == QKDN_AK_SUPPLY_SUFFICIENT && a.info.count_id == 3 &&
	   a.info.session == 0x1234567890abcdefULL && a.info.amount == 3 &&
	   a.info.key_size == 256 && a.info.link == 7 && a.info.source_node == 1 &&
	   a.info.target_node == 2 && !strcmp(a.info.sae, "sa") &&
	   !strcmp(a.info.peer_sae, "sb") && !a.info.has_status,
	   "every item of Table 7-5 is read");
	if (!ok(keys && keys->count == 3, "3 keys in library memory"))
		return;
	for (uint32_t k = 0; k < 3; k++) {
		bytes_ok &= keys->key[k].len == 32 && keys->key[k].id[15] == k &&
			    keys->key[k].created == 1000 + k;
		for (uint32_t i = 0; i < 32; i++)
			bytes_ok &= keys->key[k].data[i] == (unsigned char)(k * 16 + i);
	}
	ok(bytes_ok, "IDs, time stamps and bytes as sent");
	ok(qkdn_secbuf_len(keys) >= sizeof(*keys) + 3 * sizeof(keys->key[0]) + 96,
	   "keys and their data in one secbuf");
	qkdn_keys_free(keys);
	ok(answer_cb(reply(QKDN_AK_SUPPLY_SUCCESS, 1, 32), &a) == -EBADMSG,
	   "a second reply to one request is refused");
}

static void test_insufficient(void)
{
	struct qkdn_keys *keys = NULL;
	struct keys_dest dest = { .keys = &keys };
	struct answer a = { .dest = &dest };

	ok(answer_cb(reply(QKDN_AK_SUPPLY_INSUFFICIENT, 0, 32), &a) == 0 && !keys,
	   "insufficient: no keys");
	ok(a.info.has_status && a.info.status.stored_key_count == 4 &&
	   a.info.status.max_key_count == 1000 &&
	   a.info.status.max_key_per_request == 1024 && a.info.status.key_size == 256 &&
	   a.info.amount == 5,
	   "insufficient: the status table and the amount asked");
}

static void test_keys_to_buf(void)
{
	uint8_t ids[2][QKDN_KEY_ID_LEN] = { { 0 } };
	unsigned char out[64], zero[64] = { 0 };
	struct keys_dest dest = { .ids = ids, .buf = out, .len = sizeof(out),
				  .key_len = 32, .max = 2 };
	struct answer a = { .dest = &dest };

	memset(out, 0, sizeof(out));
	ok(answer_cb(reply(QKDN_AK_SUPPLY_SUCCESS, 2, 32), &a) == 0 &&
	   out[0] == 0 && out[31] == 31 && out[32] == 16 && out[63] == 47 &&
	   ids[1][15] == 1, "two keys into the caller's buffer, in order");

	memset(out, 0, sizeof(out));
	a = (struct answer){ .dest = &dest };
	ok(answer_cb(reply(QKDN_AK_SUPPLY_SUCCESS, 3, 16), &a) == -EBADMSG &&
	   !memcmp(out, zero, sizeof(out)),
	   "keys of another size: refused, the buffer untouched");
	dest.key_len = 16;
	a = (struct answer){ .dest = &dest };
	ok(answer_cb(reply(QKDN_AK_SUPPLY_SUCCESS, 3, 16), &a) == -EBADMSG &&
	   !memcmp(out, zero, sizeof(out)),
	   "more keys than room: refused, the buffer untouched");
}

static void test_bad_replies(void)
{
	struct answer a = { 0 };
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));

	g->cmd = QKDN_CMD_AK_KEY;
	mnl_attr_put_u64(nlh, QKDN_A_AK_SESSION_ID, 1);
	ok(answer_cb(nlh, &a) == -EBADMSG, "a reply without a response code");
	a = (struct answer){ 0 };
	ok(answer_cb(reply(QKDN_AK_SUPPLY_SUCCESS, 1, 32), &a) == -EBADMSG,
	   "keys where none were asked for");
}

static void test_buffer_checks(void)
{
	struct qkdn h = { 0 };
	struct keys_dest dest = { 0 };
	unsigned char out[64];

	ok(buf_dest(&h, &dest, 2, 0, out, sizeof(out)) == -EINVAL,
	   "the _into functions need a key size");
	ok(buf_dest(&h, &dest, 2, 257, out, sizeof(out)) == -EINVAL,
	   "in whole bytes");
	ok(buf_dest(&h, &dest, 3, 256, out, sizeof(out)) == -ENOBUFS &&
	   strstr(h.error, "do not fit"), "3 keys of 32 bytes do not fit in 64");
	ok(buf_dest(&h, &dest, 2, 256, out, sizeof(out)) == 0 && dest.key_len == 32 &&
	   dest.max == 2, "2 do");
	ok(qkdn_ak_get(NULL, 1, 1, 0, NULL, NULL) == -EINVAL &&
	   qkdn_ak_auth(NULL, "a", "b", NULL, NULL) == -EINVAL,
	   "NULL arguments are refused");
}

static void test_key_ids(void)
{
	uint8_t id[QKDN_KEY_ID_LEN], back[QKDN_KEY_ID_LEN];
	char text[QKDN_KEY_ID_STRLEN];

	for (int i = 0; i < QKDN_KEY_ID_LEN; i++)
		id[i] = (uint8_t)(i * 17);
	qkdn_key_id_format(text, id);
	ok(!strcmp(text, "00112233-4455-6677-8899-aabbccddeeff"), "key ID as text");
	ok(qkdn_key_id_parse(back, text) == 0 && !memcmp(id, back, sizeof(id)),
	   "and back");
	ok(qkdn_key_id_parse(back, "00112233") == -EINVAL, "not a UUID");
}

int main(void)
{
	test_keys_to_secbuf();
	test_insufficient();
	test_keys_to_buf();
	test_bad_replies();
	test_buffer_checks();
	test_key_ids();
	return tap_done();
}
