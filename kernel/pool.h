/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Key pool of one KMA link: QKD-keys in, KMA-keys out.
 *
 * The pool is pure logic with no locking and no kernel services beyond
 * memory and SHA-256, so that it also builds in userspace for unit tests
 * (userspace/tests/test_pool.c). Callers serialise access.
 */

#ifndef _QKDN_POOL_H
#define _QKDN_POOL_H

#ifdef __KERNEL__
#include <linux/bits.h>
#include <linux/types.h>
#include <crypto/sha2.h>
#include <uapi/linux/qkdn.h>
#endif

struct qkdn_chunk;

struct qkdn_pool_stats {
	u64 generated;
	u64 consumed;
	u64 deleted;
	u64 discarded;
	u64 qkd_keys;
	u64 qkd_bytes;
};

/* Bits of qkdn_pool_alarms(): which alarm conditions hold now. */
#define QKDN_POOL_LOW	0x1
#define QKDN_POOL_HIGH	0x2
#define QKDN_POOL_FULL	0x4

struct qkdn_pool {
	u32 unit;		/* KMA-key length, bytes */
	u32 slot_size;		/* key ID and key */
	u32 per_chunk;		/* KMA-keys per chunk */
	u32 chunk_bytes;
	u8 enc_parity;		/* sequence parity of our encrypting half */
	u32 capacity;
	u32 low;
	u32 high;

	u64 next_seq;		/* sequence of the KMA-key being assembled */
	u64 enc_next;		/* next encrypting key to hand out */
	u64 enc_avail;		/* live keys of the encrypting half */
	u64 dec_stored;		/* live keys of the decrypting half */
	u64 verified;		/* of enc_avail, verified with the peer */
	u64 dec_verified;	/* of dec_stored, verified by the peer */

	/* Chunks [first_chunk, end_chunk) live at ring[index & ring_mask]. */
	struct qkdn_chunk **ring;
	u32 ring_mask;
	u64 first_chunk;
	u64 end_chunk;

	u8 tag[SHA256_DIGEST_SIZE];	/* names the QKD module pair */
	u8 *pending;			/* KMA-key being assembled */
	u32 pending_len;
	struct sha256_state pending_id;

	struct qkdn_pool_stats stats;
};

/**
 * struct qkdn_pool_key - a key as the pool hands it out
 * @id: KMA-key ID, QKDN_KEY_ID_LEN bytes
 * @data: the key; wiped as soon as the visitor returns
 * @len: length of @data, the pool's unit
 * @created: generation time of the chunk holding the key, ns
 */
struct qkdn_pool_key {
	const u8 *id;
	const u8 *data;
	u32 len;
	u64 created;
};

typedef int (*qkdn_pool_visit_t)(void *ctx, const struct qkdn_pool_key *key);

int qkdn_pool_init(struct qkdn_pool *pool, u32 unit, bool alice,
		   const char *alice_module, const char *bob_module,
		   u32 capacity, u32 low, u32 high);
void qkdn_pool_destroy(struct qkdn_pool *pool);
void qkdn_pool_set_limits(struct qkdn_pool *pool, u32 capacity, u32 low,
			  u32 high);

int qkdn_pool_push(struct qkdn_pool *pool, const char *qkd_key_id,
		   const u8 *data, u32 len, u64 now_ns);
int qkdn_pool_take(struct qkdn_pool *pool, u32 amount,
		   qkdn_pool_visit_t visit, void *ctx);
bool qkdn_pool_has_id(const struct qkdn_pool *pool, const u8 *id);
int qkdn_pool_peek_id(const struct qkdn_pool *pool, const u8 *id,
		      qkdn_pool_visit_t visit, void *ctx);
int qkdn_pool_take_id(struct qkdn_pool *pool, const u8 *id,
		      qkdn_pool_visit_t visit, void *ctx);

int qkdn_pool_take_verified(struct qkdn_pool *pool, u32 amount,
			    qkdn_pool_visit_t visit, void *ctx);
u32 qkdn_pool_select(const struct qkdn_pool *pool, u32 skip, u32 max,
		     qkdn_pool_visit_t visit, void *ctx);
int qkdn_pool_mark_id(struct qkdn_pool *pool, const u8 *id);
int qkdn_pool_drop_id(struct qkdn_pool *pool, const u8 *id);

unsigned int qkdn_pool_alarms(const struct qkdn_pool *pool);

static inline u64 qkdn_pool_stored(const struct qkdn_pool *pool)
{
	return pool->enc_avail + pool->dec_stored;
}

static inline u64 qkdn_key_id_seq(const u8 *id)
{
	return (u64)id[10] << 40 | (u64)id[11] << 32 | (u64)id[12] << 24 |
	       (u64)id[13] << 16 | (u64)id[14] << 8 | (u64)id[15];
}

#define QKDN_SEQ_LIMIT BIT_ULL(48)

#endif /* _QKDN_POOL_H */
