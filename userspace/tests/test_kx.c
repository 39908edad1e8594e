// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of kernel/kx.c, built in userspace with tests/kshim.h: the
 * relay frame parser accepts exactly the frames the uapi header draws and
 * refuses everything else without reading past the end; the one-time MAC
 * is Poly1305 (RFC 8439 test vector); link keys per hop follow the
 * documented formula.
 */

#include <stdio.h>

#include "../kernel/kx.h"
#include "tap.h"

long qkdn_test_objects;
int qkdn_test_fail_alloc_after = -1;

/* A frame as the uapi header draws it, in a buffer of its exact length. */
static u8 *build(u8 type, u16 count, u16 key_len, u16 link_keys, u16 hops,
		 size_t *len)
{
	size_t n = qkdn_kx_frame_len(type, count, key_len, link_keys, hops);
	u8 *f = calloc(1, n);
	struct qkdn_kx_hdr *h = (struct qkdn_kx_hdr *)f;
	size_t i;

	h->version = QKDN_KX_VERSION;
	h->type = type;
	h->method = QKDN_KX_OTP_POLY1305;
	h->source = cpu_to_be32(1);
	h->dest = cpu_to_be32(5);
	h->hop_from = cpu_to_be32(2);
	h->hop_to = cpu_to_be32(3);
	h->relay_id = cpu_to_be64(0x1122334455667788ULL);
	h->seq = cpu_to_be64(7);
	h->timestamp = cpu_to_be64(1000);
	h->count = cpu_to_be16(count);
	h->key_len = cpu_to_be16(key_len);
	h->link_keys = cpu_to_be16(link_keys);
	h->hops = cpu_to_be16(hops);
	for (i = sizeof(*h); i < n; ++i)
		f[i] = (u8)(i * 7);
	*len = n;
	return f;
}

static void test_layout(void)
{
	struct qkdn_kx kx;
	size_t len;
	u8 *f;

	ok(sizeof(struct qkdn_kx_hdr) == 52, "the fixed header is 52 bytes");
	ok(sizeof(struct qkdn_kx_entry) == 24, "a key entry is 24 bytes before ciphertext");
	ok(qkdn_kx_link_keys(32, 4, 32) == 5 && qkdn_kx_link_keys(32, 0, 0) == 1 &&
	   qkdn_kx_link_keys(16, 0, 0) == 2 && qkdn_kx_link_keys(1024, 64, 256) == 17,
	   "link keys a hop takes: ceil((32 + count * key_len) / unit)");

	f = build(QKDN_KX_RELAY, 4, 32, 5, 2, &len);
	ok(len == 52 + 5 * 16 + 4 * (24 + 32) + 16, "a 2nd-hop RELAY of 4 keys is %zu bytes",
	   len);
	ok(qkdn_kx_parse(f, len, &kx) == 0 && kx.type == QKDN_KX_RELAY &&
	   kx.source == 1 && kx.dest == 5 && kx.hop_from == 2 && kx.hop_to == 3 &&
	   kx.relay_id == 0x1122334455667788ULL && kx.seq == 7 && kx.count == 4 &&
	   kx.key_len == 32 && kx.link_keys == 5 && kx.hops == 2 &&
	   kx.link_key_ids == f + 52 && kx.entries == f + 52 + 80 &&
	   kx.entry_len == 56 && kx.tag == f + len - 16 && kx.mac_len == len - 16,
	   "a well-formed RELAY parses, every field in place");
	free(f);

	f = build(QKDN_KX_RELAY, 4, 32, 5, 0, &len);
	ok(qkdn_kx_parse(f, len, &kx) == 0 && kx.entry_len == 24,
	   "the first hop carries no ciphertext");
	free(f);

	f = build(QKDN_KX_SYNC, 3, 0, 1, 0, &len);
	ok(len == 52 + 16 + 3 * 32 + 16 && qkdn_kx_parse(f, len, &kx) == 0 &&
	   kx.entry_len == 32, "SYNC entries are 32 bytes");
	free(f);

	f = build(QKDN_KX_ACK, 0, 0, 1, 3, &len);
	ok(qkdn_kx_parse(f, len, &kx) == 0, "an ACK carries no entries");
	free(f);
}

/* Every prefix and every extension of a good frame is refused. */
static void test_lengths(void)
{
	struct qkdn_kx kx;
	size_t len, n;
	bool all = true;
	u8 *f, *big;

	f = build(QKDN_KX_RELAY, 2, 64, 5, 1, &len);
	for (n = 0; n < len; ++n) {
		u8 *exact = malloc(n ? n : 1);

		memcpy(exact, f, n);
		all &= qkdn_kx_parse(exact, n, &kx) == -EBADMSG;
		free(exact);
	}
	ok(all, "each of the %zu truncations is refused", len);
	big = calloc(1, len + 16);
	memcpy(big, f, len);
	ok(qkdn_kx_parse(big, len + 1, &kx) == -EBADMSG &&
	   qkdn_kx_parse(big, len + 16, &kx) == -EBADMSG, "trailing bytes are refused");
	free(big);
	free(f);
}

static int parse_with(u8 type, u16 count, u16 key_len, u16 link_keys, u16 hops,
		      void (*spoil)(struct qkdn_kx_hdr *))
{
	struct qkdn_kx kx;
	size_t len;
	u8 *f = build(type, count, key_len, link_keys, hops, &len);
	int ret;

	if (spoil)
		spoil((struct qkdn_kx_hdr *)f);
	ret = qkdn_kx_parse(f, len, &kx);
	free(f);
	return ret;
}

static void bad_version(struct qkdn_kx_hdr *h) { h->version = 2; }
static void bad_method(struct qkdn_kx_hdr *h) { h->method = 2; }
static void bad_reserved(struct qkdn_kx_hdr *h) { h->reserved = 1; }
static void loop_source(struct qkdn_kx_hdr *h) { h->dest = h->source; }
static void loop_hop(struct qkdn_kx_hdr *h) { h->hop_to = h->hop_from; }

static void test_fields(void)
{
	ok(parse_with(QKDN_KX_RELAY, 1, 32, 2, 1, NULL) == 0, "baseline frame parses");
	ok(parse_with(QKDN_KX_RELAY, 1, 32, 2, 1, bad_version) == -EBADMSG,
	   "unknown version refused");
	ok(parse_with(QKDN_KX_RELAY, 1, 32, 2, 1, bad_method) == -EBADMSG,
	   "unknown encryption method refused");
	ok(parse_with(QKDN_KX_RELAY, 1, 32, 2, 1, bad_reserved) == -EBADMSG,
	   "non-zero reserved byte refused");
	ok(parse_with(QKDN_KX_RELAY, 1, 32, 2, 1, loop_source) == -EBADMSG,
	   "source equal to destination refused");
	ok(parse_with(QKDN_KX_RELAY, 1, 32, 2, 1, loop_hop) == -EBADMSG,
	   "a hop to itself refused");
	ok(parse_with(0, 0, 0, 1, 0, NULL) == -EBADMSG &&
	   parse_with(QKDN_KX_MAX + 1, 0, 0, 1, 0, NULL) == -EBADMSG,
	   "unknown frame types refused");
	ok(parse_with(QKDN_KX_RELAY, 0, 32, 1, 1, NULL) == -EBADMSG,
	   "a RELAY without keys refused");
	ok(parse_with(QKDN_KX_RELAY, QKDN_RELAY_KEYS_MAX + 1, 16, 70, 0, NULL) == -EBADMSG,
	   "a RELAY of more than QKDN_RELAY_KEYS_MAX keys refused");
	ok(parse_with(QKDN_KX_RELAY, 1, 20, 2, 1, NULL) == -EBADMSG &&
	   parse_with(QKDN_KX_RELAY, 1, 8, 2, 1, NULL) == -EBADMSG &&
	   parse_with(QKDN_KX_RELAY, 1, 2048, 66, 0, NULL) == -EBADMSG,
	   "key lengths outside 16..1024 or not a multiple of 8 refused");
	ok(parse_with(QKDN_KX_ACK, 1, 0, 1, 0, NULL) == -EBADMSG &&
	   parse_with(QKDN_KX_ABORT, 0, 32, 1, 0, NULL) == -EBADMSG,
	   "ACK and ABORT carrying entries refused");
	ok(parse_with(QKDN_KX_SYNC, 0, 0, 1, 0, NULL) == -EBADMSG &&
	   parse_with(QKDN_KX_SYNC_ACK, 1, 32, 1, 0, NULL) == -EBADMSG,
	   "SYNC without entries, or with a key length, refused");
	ok(parse_with(QKDN_KX_ACK, 0, 0, 0, 0, NULL) == -EBADMSG,
	   "a frame naming no link key (no MAC key) refused");
}

/*
 * Random bytes and random mutations of good frames: the parser never reads
 * outside the frame (ASan watches) and accepts only consistent lengths.
 */
static void test_random(void)
{
	unsigned int seed = 12345, i, accepted = 0;
	bool consistent = true;
	struct qkdn_kx kx;

	for (i = 0; i < 200000; ++i) {
		size_t len, j;
		u8 *f;

		if (i % 2) {
			f = build(1 + rand_r(&seed) % QKDN_KX_MAX, rand_r(&seed) % 4,
				  (rand_r(&seed) % 3) * 16, 1 + rand_r(&seed) % 4,
				  rand_r(&seed) % 3, &len);
			for (j = 0; j < 1 + (size_t)(rand_r(&seed) % 3); ++j)
				f[rand_r(&seed) % 52] ^= 1 << (rand_r(&seed) % 8);
			len -= rand_r(&seed) % 2 ? 0 : (size_t)rand_r(&seed) % (len + 1);
		} else {
			len = rand_r(&seed) % 400;
			f = malloc(len ? len : 1);
			for (j = 0; j < len; ++j)
				f[j] = rand_r(&seed);
		}
		if (!qkdn_kx_parse(f, len, &kx)) {
			++accepted;
			consistent &= len == qkdn_kx_frame_len(kx.type, kx.count, kx.key_len,
							       kx.link_keys, kx.hops) &&
				      kx.tag + 16 == f + len;
		}
		free(f);
	}
	ok(consistent, "200000 random and mutated frames: the %u accepted are all consistent",
	   accepted);
}

static void test_mac(void)
{
	static const u8 key[32] = {
		0x85, 0xd6, 0xbe, 0x78, 0x57, 0x55, 0x6d, 0x33, 0x7f, 0x44, 0x52, 0xfe,
		0x42, 0xd5, 0x06, 0xa8, 0x01, 0x03, 0x80, 0x8a, 0xfb, 0x0d, 0xb2, 0xfd,
		0x4a, 0xbf, 0xf6, 0xaf, 0x41, 0x49, 0xf5, 0x1b,
	};
	static const u8 expect[16] = {
		0xa8, 0x06, 0x1d, 0xc1, 0x30, 0x51, 0x36, 0xc6, 0xc2, 0x2b, 0x8b, 0xaf,
		0x0c, 0x01, 0x27, 0xa9,
	};
	static const char msg[] = "Cryptographic Forum Research Group";
	u8 tag[16], d1[16], d2[16], id[16] = { 1 }, k[32] = { 2 };

	qkdn_kx_mac((const u8 *)msg, sizeof(msg) - 1, key, tag);
	ok(!memcmp(tag, expect, 16), "the frame MAC is Poly1305 (RFC 8439 2.5.2)");
	qkdn_kx_digest(id, k, 32, d1);
	k[31] ^= 1;
	qkdn_kx_digest(id, k, 32, d2);
	ok(memcmp(d1, d2, 16), "the KSA digest changes with the key");
}

int main(void)
{
	test_layout();
	test_lengths();
	test_fields();
	test_random();
	test_mac();
	return tap_done();
}
