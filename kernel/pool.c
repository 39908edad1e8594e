// SPDX-License-Identifier: GPL-2.0
/*
 * Key pool of one KMA link.
 *
 * QKD-keys of any length arrive in order (Kq-1) and are cut into KMA-keys
 * of the link's unit length, across QKD-key boundaries (seed 000 clause
 * 7.1.2). Every KMA-key gets a sequence number in the link's stream and an
 * ID derived from the QKD module pair, the sequence number and the QKD-key
 * fragments it was cut from, so both ends of the link name the same bytes
 * the same way without talking to each other.
 *
 * Keys live in chunks of about a page: a bitmap of live slots, then slots
 * of (ID, key). A chunk is found from a sequence number by division, so
 * neither a lookup by ID nor the oldest-first walk of the encrypting half
 * needs any per-key pointer; that keeps a stored 256-bit key under
 * 50 bytes of kernel memory.
 */

#ifdef __KERNEL__
#include <linux/bitmap.h>
#include <linux/math64.h>
#include <linux/minmax.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/errno.h>
#include <linux/log2.h>
#include "main.h"
#endif

#include "pool.h"

/*
 * map[] is two bitmaps of per_chunk bits: the live slots, then the slots
 * KSA synchronisation verified with the peer's node (chunk_vmap()).
 */
struct qkdn_chunk {
	u64 created;
	u32 live;
	u32 reserved;
	unsigned long map[];
};

static const char qkdn_id_domain[] = "qkdn kma-key id v1";

static u32 chunk_header_bytes(u32 per_chunk)
{
	return sizeof(struct qkdn_chunk) +
	       2 * BITS_TO_LONGS(per_chunk) * sizeof(unsigned long);
}

static unsigned long *chunk_vmap(const struct qkdn_pool *pool,
				 struct qkdn_chunk *chunk)
{
	return chunk->map + BITS_TO_LONGS(pool->per_chunk);
}

static u8 *chunk_slot(const struct qkdn_pool *pool, struct qkdn_chunk *chunk,
		      u32 slot)
{
	return (u8 *)chunk + chunk_header_bytes(pool->per_chunk) +
	       (size_t)slot * pool->slot_size;
}

static struct qkdn_chunk *chunk_of(const struct qkdn_pool *pool, u64 seq,
				   u32 *slot)
{
	u64 index = div_u64_rem(seq, pool->per_chunk, slot);

	if (index < pool->first_chunk || index >= pool->end_chunk)
		return NULL;
	return pool->ring[index & pool->ring_mask];
}

static bool seq_is_enc(const struct qkdn_pool *pool, u64 seq)
{
	return (seq & 1) == pool->enc_parity;
}

static void chunk_free(struct qkdn_pool *pool, struct qkdn_chunk *chunk)
{
	kfree_sensitive(chunk);
	qkdn_objects_dec();
}

/*
 * A chunk goes once it holds no live key and no later key can land in it;
 * the ring then forgets every empty chunk at its head.
 */
static void chunk_maybe_release(struct qkdn_pool *pool, u64 index)
{
	struct qkdn_chunk **entry = &pool->ring[index & pool->ring_mask];

	if (index < pool->first_chunk || index >= pool->end_chunk)
		return;
	if (!*entry || (*entry)->live ||
	    pool->next_seq < (index + 1) * pool->per_chunk)
		return;
	chunk_free(pool, *entry);
	*entry = NULL;
	while (pool->first_chunk < pool->end_chunk &&
	       !pool->ring[pool->first_chunk & pool->ring_mask])
		++pool->first_chunk;
}

static void slot_wipe(struct qkdn_pool *pool, struct qkdn_chunk *chunk,
		      u32 slot, u64 seq)
{
	bool verified = test_bit(slot, chunk_vmap(pool, chunk));

	memzero_explicit(chunk_slot(pool, chunk, slot), pool->slot_size);
	__clear_bit(slot, chunk->map);
	__clear_bit(slot, chunk_vmap(pool, chunk));
	--chunk->live;
	if (seq_is_enc(pool, seq)) {
		--pool->enc_avail;
		pool->verified -= verified;
	} else {
		--pool->dec_stored;
		pool->dec_verified -= verified;
	}
}

/* Drop the oldest chunk, live keys and all, to bound the ring's span. */
static void chunk_evict_first(struct qkdn_pool *pool)
{
	u64 index = pool->first_chunk;
	struct qkdn_chunk *chunk = pool->ring[index & pool->ring_mask];
	u64 base = index * pool->per_chunk;
	u32 slot;

	if (chunk) {
		for_each_set_bit(slot, chunk->map, pool->per_chunk) {
			slot_wipe(pool, chunk, slot, base + slot);
			++pool->stats.discarded;
		}
		chunk_free(pool, chunk);
		pool->ring[index & pool->ring_mask] = NULL;
	}
	++pool->first_chunk;
	while (pool->first_chunk < pool->end_chunk &&
	       !pool->ring[pool->first_chunk & pool->ring_mask])
		++pool->first_chunk;
	base = pool->first_chunk * pool->per_chunk;
	if (pool->enc_next < base)
		pool->enc_next = base + ((base & 1) != pool->enc_parity);
}

static u64 max_span(const struct qkdn_pool *pool)
{
	return 2 * DIV_ROUND_UP((u64)pool->capacity, pool->per_chunk) + 2;
}

static int ring_resize(struct qkdn_pool *pool, u64 span)
{
	u32 size = roundup_pow_of_two(max_t(u64, span, 4));
	struct qkdn_chunk **ring;
	u64 index;

	if (size <= pool->ring_mask + 1)
		return 0;
	ring = kvcalloc(size, sizeof(*ring), GFP_KERNEL);
	if (!ring)
		return -ENOMEM;
	for (index = pool->first_chunk; index < pool->end_chunk; ++index)
		ring[index & (size - 1)] =
			pool->ring[index & pool->ring_mask];
	kvfree(pool->ring);
	pool->ring = ring;
	pool->ring_mask = size - 1;
	return 0;
}

int qkdn_pool_init(struct qkdn_pool *pool, u32 unit, bool alice,
		   const char *alice_module, const char *bob_module,
		   u32 capacity, u32 low, u32 high)
{
	struct sha256_state tag;
	u8 len;

	memset(pool, 0, sizeof(*pool));
	pool->unit = unit;
	pool->slot_size = QKDN_KEY_ID_LEN + unit;
	/* At least eight keys a chunk, in as few pages as that takes. */
	pool->chunk_bytes = PAGE_SIZE;
	while (pool->chunk_bytes < chunk_header_bytes(8) + 8 * pool->slot_size)
		pool->chunk_bytes <<= 1;
	pool->per_chunk = (pool->chunk_bytes - sizeof(struct qkdn_chunk)) /
			  pool->slot_size;
	while (chunk_header_bytes(pool->per_chunk) +
	       pool->per_chunk * pool->slot_size > pool->chunk_bytes)
		--pool->per_chunk;
	pool->enc_parity = alice ? 0 : 1;
	pool->enc_next = pool->enc_parity;
	pool->capacity = capacity;
	pool->low = low;
	pool->high = high;

	sha256_init(&tag);
	sha256_update(&tag, (const u8 *)"qkdn link", 9);
	len = strlen(alice_module);
	sha256_update(&tag, &len, 1);
	sha256_update(&tag, (const u8 *)alice_module, len);
	len = strlen(bob_module);
	sha256_update(&tag, &len, 1);
	sha256_update(&tag, (const u8 *)bob_module, len);
	sha256_final(&tag, pool->tag);

	pool->pending = kzalloc(unit, GFP_KERNEL);
	if (!pool->pending)
		return -ENOMEM;
	qkdn_objects_inc();
	if (ring_resize(pool, 4)) {
		kfree(pool->pending);
		qkdn_objects_dec();
		return -ENOMEM;
	}
	return 0;
}

void qkdn_pool_destroy(struct qkdn_pool *pool)
{
	while (pool->first_chunk < pool->end_chunk)
		chunk_evict_first(pool);
	kvfree(pool->ring);
	kfree_sensitive(pool->pending);
	qkdn_objects_dec();
	memzero_explicit(&pool->pending_id, sizeof(pool->pending_id));
	pool->ring = NULL;
	pool->pending = NULL;
}

void qkdn_pool_set_limits(struct qkdn_pool *pool, u32 capacity, u32 low,
			  u32 high)
{
	pool->capacity = capacity;
	pool->low = low;
	pool->high = high;
}

static void pending_start(struct qkdn_pool *pool)
{
	__le64 seq = cpu_to_le64(pool->next_seq);

	sha256_init(&pool->pending_id);
	sha256_update(&pool->pending_id, (const u8 *)qkdn_id_domain,
		      sizeof(qkdn_id_domain) - 1);
	sha256_update(&pool->pending_id, pool->tag, sizeof(pool->tag));
	sha256_update(&pool->pending_id, (const u8 *)&seq, sizeof(seq));
}

static void pending_fragment(struct qkdn_pool *pool, const char *qkd_key_id,
			     u32 offset, u32 len)
{
	u8 id_len = strlen(qkd_key_id);
	__le32 words[2] = { cpu_to_le32(offset), cpu_to_le32(len) };

	sha256_update(&pool->pending_id, &id_len, 1);
	sha256_update(&pool->pending_id, (const u8 *)qkd_key_id, id_len);
	sha256_update(&pool->pending_id, (const u8 *)words, sizeof(words));
}

static void pending_commit(struct qkdn_pool *pool, u64 now_ns)
{
	u64 seq = pool->next_seq;
	u8 digest[SHA256_DIGEST_SIZE];
	struct qkdn_chunk *chunk;
	u64 index;
	u32 slot;
	u8 *dst;
	int i;

	sha256_final(&pool->pending_id, digest);
	++pool->next_seq;
	++pool->stats.generated;
	index = div_u64_rem(seq, pool->per_chunk, &slot);

	/*
	 * Full, or no chunk reserved for this key: pool_reserve() reserves
	 * for the room it saw, and evicting old chunks to keep the window
	 * within max_span() makes more room than it reserved for; such a key
	 * is discarded like one that finds the pool full.
	 */
	if (qkdn_pool_stored(pool) >= pool->capacity ||
	    index < pool->first_chunk || index >= pool->end_chunk ||
	    !pool->ring[index & pool->ring_mask]) {
		++pool->stats.discarded;
		goto out;
	}
	chunk = pool->ring[index & pool->ring_mask];
	if (!chunk->created)
		chunk->created = now_ns;
	dst = chunk_slot(pool, chunk, slot);
	memcpy(dst, digest, 10);
	dst[6] = (dst[6] & 0x0f) | 0x80;	/* UUID version 8 */
	dst[8] = (dst[8] & 0x3f) | 0x80;	/* RFC 9562 variant */
	for (i = 0; i < 6; ++i)
		dst[10 + i] = seq >> (40 - 8 * i);
	memcpy(dst + QKDN_KEY_ID_LEN, pool->pending, pool->unit);
	__set_bit(slot, chunk->map);
	++chunk->live;
	if (seq_is_enc(pool, seq))
		++pool->enc_avail;
	else
		++pool->dec_stored;
out:
	memzero_explicit(pool->pending, pool->unit);
	memzero_explicit(digest, sizeof(digest));
	pool->pending_len = 0;
	chunk_maybe_release(pool, index);
}

/*
 * Everything that can fail happens before the first byte is taken in, so
 * a refused push leaves the pool as it was and both ends aligned.
 */
static int pool_reserve(struct qkdn_pool *pool, u64 new_keys)
{
	u64 room = pool->capacity - min_t(u64, qkdn_pool_stored(pool),
					   pool->capacity);
	u64 live = min(new_keys, room);
	u64 first, last, index, span;
	int ret;

	if (!live)
		return 0;
	first = div_u64(pool->next_seq, pool->per_chunk);
	last = div_u64(pool->next_seq + live - 1, pool->per_chunk);
	if (pool->first_chunk == pool->end_chunk) {
		pool->first_chunk = first;
		pool->end_chunk = first;
	}
	span = min(last + 1 - pool->first_chunk, max_span(pool));
	ret = ring_resize(pool, span);
	if (ret)
		return ret;
	for (index = max(first, pool->end_chunk); index <= last; ++index) {
		struct qkdn_chunk *chunk;

		while (index + 1 - pool->first_chunk > max_span(pool) ||
		       index + 1 - pool->first_chunk > pool->ring_mask + 1)
			chunk_evict_first(pool);
		chunk = kzalloc(pool->chunk_bytes, GFP_KERNEL);
		if (!chunk)
			return -ENOMEM;
		qkdn_objects_inc();
		pool->ring[index & pool->ring_mask] = chunk;
		pool->end_chunk = index + 1;
	}
	return 0;
}

int qkdn_pool_push(struct qkdn_pool *pool, const char *qkd_key_id,
		   const u8 *data, u32 len, u64 now_ns)
{
	u64 new_keys = (pool->pending_len + (u64)len) / pool->unit;
	u32 offset = 0;
	int ret;

	if (!len)
		return -EINVAL;
	if (pool->next_seq + new_keys >= QKDN_SEQ_LIMIT)
		return -EOVERFLOW;
	ret = pool_reserve(pool, new_keys);
	if (ret)
		return ret;

	while (offset < len) {
		u32 n = min(pool->unit - pool->pending_len, len - offset);

		if (!pool->pending_len)
			pending_start(pool);
		memcpy(pool->pending + pool->pending_len, data + offset, n);
		pending_fragment(pool, qkd_key_id, offset, n);
		pool->pending_len += n;
		offset += n;
		if (pool->pending_len == pool->unit)
			pending_commit(pool, now_ns);
	}
	++pool->stats.qkd_keys;
	pool->stats.qkd_bytes += len;
	return 0;
}

static int slot_take(struct qkdn_pool *pool, struct qkdn_chunk *chunk,
		     u32 slot, u64 seq, qkdn_pool_visit_t visit, void *ctx)
{
	u8 *src = chunk_slot(pool, chunk, slot);
	struct qkdn_pool_key key = {
		.id = src,
		.data = src + QKDN_KEY_ID_LEN,
		.len = pool->unit,
		.created = chunk->created,
	};
	int ret = visit ? visit(ctx, &key) : 0;

	slot_wipe(pool, chunk, slot, seq);
	chunk_maybe_release(pool, div_u64(seq, pool->per_chunk));
	return ret;
}

int qkdn_pool_take(struct qkdn_pool *pool, u32 amount,
		   qkdn_pool_visit_t visit, void *ctx)
{
	int ret = 0;

	if (pool->enc_avail < amount)
		return -EAGAIN;
	while (amount && !ret) {
		u64 seq = pool->enc_next;
		struct qkdn_chunk *chunk;
		u32 slot;

		pool->enc_next += 2;
		chunk = chunk_of(pool, seq, &slot);
		if (!chunk || !test_bit(slot, chunk->map))
			continue;
		ret = slot_take(pool, chunk, slot, seq, visit, ctx);
		++pool->stats.consumed;
		--amount;
	}
	return ret;
}

static struct qkdn_chunk *find_any_id(const struct qkdn_pool *pool,
				      const u8 *id, u32 *slot, bool enc_too)
{
	u64 seq = qkdn_key_id_seq(id);
	struct qkdn_chunk *chunk;

	if (!enc_too && seq_is_enc(pool, seq))
		return NULL;
	chunk = chunk_of(pool, seq, slot);
	if (!chunk || !test_bit(*slot, chunk->map) ||
	    memcmp(chunk_slot(pool, chunk, *slot), id, QKDN_KEY_ID_LEN))
		return NULL;
	return chunk;
}

static struct qkdn_chunk *find_id(const struct qkdn_pool *pool, const u8 *id,
				  u32 *slot)
{
	return find_any_id(pool, id, slot, false);
}

bool qkdn_pool_has_id(const struct qkdn_pool *pool, const u8 *id)
{
	u32 slot;

	return find_id(pool, id, &slot);
}

/* Shows a key of the decrypting half without taking it. */
int qkdn_pool_peek_id(const struct qkdn_pool *pool, const u8 *id,
		      qkdn_pool_visit_t visit, void *ctx)
{
	struct qkdn_chunk *chunk;
	struct qkdn_pool_key key;
	u32 slot;
	u8 *src;

	chunk = find_id(pool, id, &slot);
	if (!chunk)
		return -ENOKEY;
	src = chunk_slot(pool, chunk, slot);
	key.id = src;
	key.data = src + QKDN_KEY_ID_LEN;
	key.len = pool->unit;
	key.created = chunk->created;
	return visit(ctx, &key);
}

/* With @visit NULL the key is deleted rather than consumed. */
int qkdn_pool_take_id(struct qkdn_pool *pool, const u8 *id,
		      qkdn_pool_visit_t visit, void *ctx)
{
	struct qkdn_chunk *chunk;
	u32 slot;

	chunk = find_id(pool, id, &slot);
	if (!chunk)
		return -ENOKEY;
	if (visit)
		++pool->stats.consumed;
	else
		++pool->stats.deleted;
	return slot_take(pool, chunk, slot, qkdn_key_id_seq(id), visit, ctx);
}

/*
 * KSA synchronisation (kernel/ksa.c, Documentation/key-pool.rst): keys of
 * either half carry a verified bit. Keys of the encrypting half leave the
 * pool for applications only once verified; any other use (relay frames,
 * eviction, deletion) just takes a verified key out of the count.
 */

/* Keeps enc_next on the oldest live key of the encrypting half. */
static void enc_next_settle(struct qkdn_pool *pool)
{
	struct qkdn_chunk *chunk;
	u32 slot;

	while (pool->enc_next < pool->next_seq) {
		chunk = chunk_of(pool, pool->enc_next, &slot);
		if (chunk && test_bit(slot, chunk->map))
			break;
		pool->enc_next += 2;
	}
}

/* Like qkdn_pool_take(), of the verified keys only, oldest first. */
int qkdn_pool_take_verified(struct qkdn_pool *pool, u32 amount,
			    qkdn_pool_visit_t visit, void *ctx)
{
	u64 seq = pool->enc_next;
	int ret = 0;

	if (pool->verified < amount)
		return -EAGAIN;
	while (amount && !ret && seq < pool->next_seq) {
		struct qkdn_chunk *chunk;
		u32 slot;

		chunk = chunk_of(pool, seq, &slot);
		seq += 2;
		if (!chunk || !test_bit(slot, chunk->map) ||
		    !test_bit(slot, chunk_vmap(pool, chunk)))
			continue;
		ret = slot_take(pool, chunk, slot, seq - 2, visit, ctx);
		++pool->stats.consumed;
		--amount;
	}
	enc_next_settle(pool);
	return ret;
}

/*
 * Shows @visit up to @max live keys of the encrypting half that are not
 * verified, oldest first, after passing over the @skip oldest live keys
 * whatever their state (those a frame is about to take); takes nothing.
 * Returns how many it showed.
 */
u32 qkdn_pool_select(const struct qkdn_pool *pool, u32 skip, u32 max,
		     qkdn_pool_visit_t visit, void *ctx)
{
	u64 seq;
	u32 n = 0;

	for (seq = pool->enc_next; n < max && seq < pool->next_seq; seq += 2) {
		struct qkdn_chunk *chunk;
		struct qkdn_pool_key key;
		u32 slot;
		u8 *src;

		chunk = chunk_of(pool, seq, &slot);
		if (!chunk || !test_bit(slot, chunk->map))
			continue;
		if (skip) {
			--skip;
			continue;
		}
		if (test_bit(slot, chunk_vmap(pool, chunk)))
			continue;
		src = chunk_slot(pool, chunk, slot);
		key.id = src;
		key.data = src + QKDN_KEY_ID_LEN;
		key.len = pool->unit;
		key.created = chunk->created;
		if (visit(ctx, &key))
			break;
		++n;
	}
	return n;
}

/* Marks the live key @id, of either half, verified. */
int qkdn_pool_mark_id(struct qkdn_pool *pool, const u8 *id)
{
	struct qkdn_chunk *chunk;
	u32 slot;

	chunk = find_any_id(pool, id, &slot, true);
	if (!chunk)
		return -ENOKEY;
	if (test_bit(slot, chunk_vmap(pool, chunk)))
		return 0;
	__set_bit(slot, chunk_vmap(pool, chunk));
	if (seq_is_enc(pool, qkdn_key_id_seq(id)))
		++pool->verified;
	else
		++pool->dec_verified;
	return 0;
}

/* Deletes the live key @id of either half (a failed KSA check). */
int qkdn_pool_drop_id(struct qkdn_pool *pool, const u8 *id)
{
	struct qkdn_chunk *chunk;
	u32 slot;

	chunk = find_any_id(pool, id, &slot, true);
	if (!chunk)
		return -ENOKEY;
	++pool->stats.deleted;
	return slot_take(pool, chunk, slot, qkdn_key_id_seq(id), NULL, NULL);
}

unsigned int qkdn_pool_alarms(const struct qkdn_pool *pool)
{
	unsigned int alarms = 0;

	if (pool->enc_avail < pool->low)
		alarms |= QKDN_POOL_LOW;
	if (pool->enc_avail >= pool->high)
		alarms |= QKDN_POOL_HIGH;
	if (qkdn_pool_stored(pool) >= pool->capacity)
		alarms |= QKDN_POOL_FULL;
	return alarms;
}
