// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of kernel/pool.c, built in userspace with tests/kshim.h:
 * reformatting of QKD-keys into KMA-keys, ID derivation, pool halves,
 * capacity, all-or-nothing refusals and memory per key.
 */

#include <stdio.h>

#include "../kernel/pool.h"
#include "tap.h"

long qkdn_test_objects;
int qkdn_test_fail_alloc_after = -1;

#define UNIT 32

struct link {
	struct qkdn_pool alice;
	struct qkdn_pool bob;
};

static void link_init(struct link *l, u32 unit, u32 capacity)
{
	qkdn_pool_init(&l->alice, unit, true, "A-tx", "B-rx", capacity, 0, 1);
	qkdn_pool_init(&l->bob, unit, false, "A-tx", "B-rx", capacity, 0, 1);
}

static void link_destroy(struct link *l)
{
	qkdn_pool_destroy(&l->alice);
	qkdn_pool_destroy(&l->bob);
}

/* A deterministic QKD-key stream: lengths 1..97, bytes from a counter. */
static u8 stream_byte(u64 i)
{
	return (u8)(i * 2654435761u >> 13);
}

static int push_stream(struct qkdn_pool *pool, u64 *pos, int qkd_keys,
		       int first_key_no)
{
	u8 buf[128];
	char id[32];
	int k, ret;

	for (k = 0; k < qkd_keys; ++k) {
		u32 len = 1 + (first_key_no + k) * 37 % 97, i;

		for (i = 0; i < len; ++i)
			buf[i] = stream_byte(*pos + i);
		snprintf(id, sizeof(id), "qkd-%d", first_key_no + k);
		ret = qkdn_pool_push(pool, id, buf, len, 1000 + k);
		if (ret)
			return ret;
		*pos += len;
	}
	return 0;
}

struct collected {
	u8 id[64][QKDN_KEY_ID_LEN];
	u8 data[64][UNIT];
	int n;
};

static int collect(void *ctx, const struct qkdn_pool_key *key)
{
	struct collected *c = ctx;

	memcpy(c->id[c->n], key->id, QKDN_KEY_ID_LEN);
	memcpy(c->data[c->n], key->data, key->len);
	++c->n;
	return 0;
}

static void test_same_stream_same_keys(void)
{
	struct collected a = {}, b = {}, got;
	struct link l;
	u64 pa = 0, pb = 0;
	bool same = true, halves = true, once = true;
	int i;

	link_init(&l, UNIT, 1000);
	push_stream(&l.alice, &pa, 40, 0);
	push_stream(&l.bob, &pb, 40, 0);
	ok(l.alice.next_seq == l.bob.next_seq && l.alice.next_seq == pa / UNIT,
	   "both ends cut %llu KMA-keys from %llu bytes",
	   (unsigned long long)l.alice.next_seq, (unsigned long long)pa);
	ok(l.alice.enc_avail == l.bob.dec_stored &&
	   l.bob.enc_avail == l.alice.dec_stored,
	   "one end's encrypting half is the other's decrypting half");

	ok(qkdn_pool_take(&l.alice, 20, collect, &a) == 0 && a.n == 20,
	   "alice hands out 20 keys");
	ok(qkdn_pool_take(&l.bob, 20, collect, &b) == 0 && b.n == 20,
	   "bob hands out 20 keys at the same time");
	for (i = 0; i < 20; ++i) {
		u64 sa = qkdn_key_id_seq(a.id[i]), sb = qkdn_key_id_seq(b.id[i]);

		halves &= sa % 2 == 0 && sb % 2 == 1;
		got.n = 0;
		same &= qkdn_pool_take_id(&l.bob, a.id[i], collect, &got) == 0 &&
			!memcmp(got.data[0], a.data[i], UNIT) &&
			!memcmp(got.id[0], a.id[i], QKDN_KEY_ID_LEN);
		got.n = 0;
		same &= qkdn_pool_take_id(&l.alice, b.id[i], collect, &got) == 0 &&
			!memcmp(got.data[0], b.data[i], UNIT);
		once &= qkdn_pool_take_id(&l.bob, a.id[i], collect, &got) ==
			-ENOKEY;
		once &= !qkdn_pool_has_id(&l.alice, a.id[i]);
	}
	ok(halves, "alice's keys are even, bob's odd: the halves are disjoint");
	ok(same, "the same ID names the same bytes at both ends");
	ok(once, "a key fetched by ID is gone, and never in the encrypting half");
	ok(l.alice.stats.consumed == 40 && l.bob.stats.consumed == 40,
	   "consumed counts every key that left");
	link_destroy(&l);
	ok(qkdn_test_objects == 0, "no object outlives the pools");
}

/* The ID is the documented SHA-256 construction, recomputed here. */
static void test_id_derivation(void)
{
	u8 expect[SHA256_DIGEST_SIZE], tag[SHA256_DIGEST_SIZE];
	struct collected c = {};
	struct qkdn_pool pool;
	u8 data[40], len;
	SHA256_CTX s;
	__le64 seq = htole64(0);
	__le32 words[2];
	int i;

	for (i = 0; i < 40; ++i)
		data[i] = i;
	qkdn_pool_init(&pool, 16, true, "alice-mod", "bob-mod", 100, 0, 1);
	qkdn_pool_push(&pool, "k1", data, 10, 0);
	qkdn_pool_push(&pool, "k2", data + 10, 30, 0);
	qkdn_pool_take(&pool, 1, collect, &c);

	SHA256_Init(&s);
	SHA256_Update(&s, "qkdn link", 9);
	len = 9;
	SHA256_Update(&s, &len, 1);
	SHA256_Update(&s, "alice-mod", 9);
	len = 7;
	SHA256_Update(&s, &len, 1);
	SHA256_Update(&s, "bob-mod", 7);
	SHA256_Final(tag, &s);

	SHA256_Init(&s);
	SHA256_Update(&s, "qkdn kma-key id v1", 18);
	SHA256_Update(&s, tag, sizeof(tag));
	SHA256_Update(&s, &seq, sizeof(seq));
	len = 2;
	SHA256_Update(&s, &len, 1);
	SHA256_Update(&s, "k1", 2);
	words[0] = htole32(0);
	words[1] = htole32(10);
	SHA256_Update(&s, words, sizeof(words));
	SHA256_Update(&s, &len, 1);
	SHA256_Update(&s, "k2", 2);
	words[0] = htole32(0);
	words[1] = htole32(6);
	SHA256_Update(&s, words, sizeof(words));
	SHA256_Final(expect, &s);
	expect[6] = (expect[6] & 0x0f) | 0x80;
	expect[8] = (expect[8] & 0x3f) | 0x80;

	ok(c.n == 1 && !memcmp(c.id[0], expect, 10),
	   "KMA-key ID is SHA-256(domain, module pair tag, seq, fragments)");
	ok((c.id[0][6] >> 4) == 8 && (c.id[0][8] >> 6) == 2,
	   "KMA-key ID is a version 8 UUID with the RFC 9562 variant");
	ok(!memcmp(c.data[0], data, 16),
	   "a KMA-key spanning two QKD-keys holds their bytes in order");
	ok(pool.next_seq == 2 && pool.pending_len == 8,
	   "40 bytes make two 16-byte keys and 8 pending bytes");
	qkdn_pool_destroy(&pool);
}

/* One end missed a QKD-key: IDs differ; no ID names different bytes. */
static void test_diverged_stream(void)
{
	struct collected a = {}, got;
	struct link l;
	u64 pa = 0, pb = 0;
	bool never_wrong = true;
	int i, found = 0;

	link_init(&l, UNIT, 1000);
	push_stream(&l.alice, &pa, 30, 0);
	push_stream(&l.bob, &pb, 10, 0);
	pb += 1 + 10 * 37 % 97;		/* bob never got qkd-10 */
	push_stream(&l.bob, &pb, 19, 11);
	qkdn_pool_take(&l.alice, l.alice.enc_avail, collect, &a);
	for (i = 0; i < a.n; ++i) {
		got.n = 0;
		if (qkdn_pool_take_id(&l.bob, a.id[i], collect, &got))
			continue;
		++found;
		never_wrong &= !memcmp(got.data[0], a.data[i], UNIT);
	}
	ok(never_wrong, "every ID both ends hold names the same bytes");
	ok(found > 0 && found < a.n,
	   "keys before the gap match (%d of %d), keys after it are refused",
	   found, a.n);
	link_destroy(&l);
}

static void test_refusals_change_nothing(void)
{
	struct qkdn_pool_stats before;
	struct collected c = {};
	struct link l;
	u64 pa = 0, avail, next;
	u8 byte = 1;

	link_init(&l, UNIT, 1000);
	push_stream(&l.alice, &pa, 10, 0);
	before = l.alice.stats;
	avail = l.alice.enc_avail;
	ok(qkdn_pool_take(&l.alice, avail + 1, collect, &c) == -EAGAIN &&
	   c.n == 0 && l.alice.enc_avail == avail &&
	   !memcmp(&before, &l.alice.stats, sizeof(before)),
	   "asking for one key more than there is takes nothing");
	ok(qkdn_pool_push(&l.alice, "empty", &byte, 0, 0) == -EINVAL,
	   "an empty QKD-key is refused");

	next = l.alice.next_seq;
	l.alice.next_seq = QKDN_SEQ_LIMIT - 1;
	ok(qkdn_pool_push(&l.alice, "x", (u8[64]){}, 64, 0) == -EOVERFLOW &&
	   l.alice.stats.qkd_keys == before.qkd_keys,
	   "a push past the 48-bit sequence space is refused");
	l.alice.next_seq = next;

	/* Room for the push needs a new chunk, and the allocator says no. */
	qkdn_test_fail_alloc_after = 0;
	{
		u8 big[4096] = {};
		u32 pending = l.alice.pending_len;

		ok(qkdn_pool_push(&l.alice, "big", big, sizeof(big), 0) ==
		   -ENOMEM && l.alice.next_seq == next &&
		   l.alice.pending_len == pending &&
		   l.alice.stats.qkd_keys == before.qkd_keys,
		   "a push that cannot allocate leaves the stream untouched");
	}
	qkdn_test_fail_alloc_after = -1;
	link_destroy(&l);
	ok(qkdn_test_objects == 0, "no chunk leaked by the refused push");
}

static void test_capacity(void)
{
	struct link l;
	u64 pa = 0, pb = 0;

	link_init(&l, UNIT, 10);
	push_stream(&l.alice, &pa, 100, 0);
	push_stream(&l.bob, &pb, 100, 0);
	ok(qkdn_pool_stored(&l.alice) == 10 &&
	   l.alice.stats.discarded == l.alice.next_seq - 10,
	   "a full pool keeps %u keys and discards the rest", 10);
	ok(l.alice.next_seq == l.bob.next_seq,
	   "discarding keeps both ends on the same sequence numbers");
	ok(qkdn_pool_alarms(&l.alice) & QKDN_POOL_FULL, "full pool raises FULL");
	link_destroy(&l);
	ok(qkdn_test_objects == 0, "no object outlives a full pool");
}

/*
 * Keys of the decrypting half that nobody fetches must not pin memory for
 * ever while the encrypting half keeps flowing.
 */
static void test_span_bounded(void)
{
	struct qkdn_pool pool;
	u8 buf[UNIT * 8];
	long peak = 0;
	int round;

	memset(buf, 7, sizeof(buf));
	qkdn_pool_init(&pool, UNIT, true, "a", "b", 200, 0, 1);
	for (round = 0; round < 20000; ++round) {
		qkdn_pool_push(&pool, "k", buf, sizeof(buf), 0);
		if (pool.enc_avail)
			qkdn_pool_take(&pool, pool.enc_avail, NULL, NULL);
		if (qkdn_test_objects > peak)
			peak = qkdn_test_objects;
	}
	ok(pool.end_chunk - pool.first_chunk <= 2 * (200 / pool.per_chunk + 1) + 2,
	   "chunk span stays bounded by capacity (%llu chunks)",
	   (unsigned long long)(pool.end_chunk - pool.first_chunk));
	ok(peak < 20, "memory stays bounded: at most %ld objects", peak);
	qkdn_pool_destroy(&pool);
	ok(qkdn_test_objects == 0, "destroy frees every chunk");
}

static void test_memory_per_key(void)
{
	struct qkdn_pool pool;

	qkdn_pool_init(&pool, 32, true, "a", "b", 100, 0, 1);
	ok((double)pool.chunk_bytes / pool.per_chunk <= 50.0,
	   "a 256-bit key costs %.1f bytes of chunk memory (%u keys a chunk)",
	   (double)pool.chunk_bytes / pool.per_chunk, pool.per_chunk);
	qkdn_pool_destroy(&pool);

	qkdn_pool_init(&pool, QKDN_KEY_UNIT_MAX, true, "a", "b", 100, 0, 1);
	ok(pool.per_chunk >= 8, "the largest unit still has %u keys a chunk",
	   pool.per_chunk);
	qkdn_pool_destroy(&pool);
}

int main(void)
{
	test_same_stream_same_keys();
	test_id_derivation();
	test_diverged_stream();
	test_refusals_change_nothing();
	test_capacity();
	test_span_bounded();
	test_memory_per_key();
	return tap_done();
}
