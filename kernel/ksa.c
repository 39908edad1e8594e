// SPDX-License-Identifier: GPL-2.0
/*
 * KSA synchronisation (Kx-2; seed 000 clause 7.1.5), ahead of supply and
 * in batches.
 *
 * Before a key leaves a node for an application, the node and the peer
 * SAE's node compare a digest of the key and its ID. Instead of one SYNC
 * round trip per request, each source of keys to supply (the encrypting
 * half of a link pool, or the keys a store holds for a distant node) keeps
 * a stock of keys already checked: when that stock falls below
 * QKDN_KSA_LOW, one batch of up to as many unchecked keys (more if a
 * waiting request needs them; the stock doubles when it ran out before a
 * batch came back) goes in one SYNC frame, its
 * one-time MAC keyed by link key as every Kx frame is; the peer's node
 * compares every entry, marks the keys verified at its end if all match
 * and answers SYNC_ACK; this node then marks them verified at its end.
 * A supply request takes verified keys only: from the stock it needs no
 * round trip, and only with too few does it wait for a batch.
 *
 * States of a key of the supplying end: unchecked -> in a batch -> verified
 * -> supplied; in a batch or verified, any other use (a relay frame taking
 * it as link key, eviction) just takes it out; a batch that fails
 * (mismatch or missing) deletes all its keys at both ends and raises the
 * alarm at both; a batch without answer expires and its keys go back to
 * unchecked. At most one batch per source is in flight. The peer marks a
 * key only when it answers that all match, and this node marks only keys
 * still live when the answer comes: a key verified here is verified at
 * the peer. Documentation/key-pool.rst has the whole state machine.
 *
 * Everything runs under node->lock; a request that waits drops it.
 */

#include <linux/jiffies.h>
#include <linux/minmax.h>
#include <linux/overflow.h>
#include <linux/random.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <crypto/algapi.h>

#include "ksa.h"
#include "kx.h"
#include "main.h"
#include "netlink.h"
#include "node.h"
#include "relay.h"

/* An asynchronous batch waits until it can check at least this many keys. */
#define QKDN_KSA_MIN	(QKDN_KSA_LOW / 4)

/* Where a batch's keys are: a link's encrypting half or a store's own keys. */
struct ksa_src {
	struct qkdn_link *link;
	struct qkdn_store *store;
	u32 peer;
};

static struct qkdn_sync **src_batch(struct ksa_src *src)
{
	return src->link ? &src->link->ksa_batch : &src->store->ksa_batch;
}

static u64 src_verified(const struct ksa_src *src)
{
	return src->link ? src->link->pool.verified : src->store->own_verified;
}

/*
 * The stock a source keeps: QKDN_KSA_LOW, doubled (up to
 * QKDN_KEY_AMOUNT_MAX) each time a request finds it used up while a batch
 * is on its way, i.e. when one batch does not last a round trip.
 */
static u32 *src_low(struct ksa_src *src)
{
	return src->link ? &src->link->ksa_low : &src->store->ksa_low;
}

static u32 src_stock(struct ksa_src *src)
{
	u32 *low = src_low(src);

	if (!*low)
		*low = QKDN_KSA_LOW;
	return *low;
}

static void src_grow(struct ksa_src *src, struct qkdn_sync *batch)
{
	if (batch->grew)
		return;
	batch->grew = true;
	*src_low(src) = min_t(u32, 2 * src_stock(src), QKDN_KEY_AMOUNT_MAX);
}

static u64 src_unverified(const struct ksa_src *src)
{
	if (src->link)
		return src->link->pool.enc_avail - src->link->pool.verified;
	return src->store->own_available - src->store->own_verified;
}

/* Finds the source again, e.g. after node->lock was dropped. */
static bool src_find(struct qkdn_node *node, u32 link_id, u32 peer,
		     struct ksa_src *src)
{
	src->link = link_id ? qkdn_link_find(node, link_id) : NULL;
	src->store = link_id ? NULL : qkdn_store_find(node, peer);
	src->peer = peer;
	return src->link || src->store;
}

/* The key @id of this node's own, as a batch of @src named it. */
static struct qkdn_relayed_key *own_key(struct qkdn_node *node,
					const struct ksa_src *src, const u8 *id)
{
	struct qkdn_relayed_key *key = qkdn_relayed_find(node, id);

	return key && key->own && key->dest == src->peer ? key : NULL;
}

static void src_mark(struct qkdn_node *node, struct ksa_src *src,
		     const u8 *id)
{
	struct qkdn_relayed_key *key;

	if (src->link) {
		qkdn_pool_mark_id(&src->link->pool, id);
		return;
	}
	key = own_key(node, src, id);
	if (key && !key->verified) {
		key->verified = true;
		++src->store->own_verified;
	}
}

static void src_drop(struct qkdn_node *node, struct ksa_src *src,
		     const u8 *id)
{
	struct qkdn_relayed_key *key;

	if (src->link) {
		qkdn_pool_drop_id(&src->link->pool, id);
		return;
	}
	key = own_key(node, src, id);
	if (key) {
		qkdn_relayed_free(node, src->store, key);
		++src->store->deleted;
	}
}

static void sync_release(struct kref *ref)
{
	kfree(container_of(ref, struct qkdn_sync, ref));
	qkdn_objects_dec();
}

void qkdn_sync_put(struct qkdn_sync *sync)
{
	kref_put(&sync->ref, sync_release);
}

/* Ends a batch in flight: its source forgets it, its waiters wake. */
static void batch_end(struct qkdn_node *node, struct qkdn_sync *batch,
		      int result)
{
	struct ksa_src src;

	if (src_find(node, batch->link_id, batch->peer, &src) &&
	    *src_batch(&src) == batch)
		*src_batch(&src) = NULL;
	batch->result = result;
	list_del(&batch->list);
	complete_all(&batch->done);
	qkdn_sync_put(batch);
}

/* A batch past its deadline is given up; its keys are unchecked again. */
static void batch_expire(struct qkdn_node *node, struct ksa_src *src)
{
	struct qkdn_sync *batch = *src_batch(src);

	if (batch && time_after_eq(jiffies, batch->deadline)) {
		++node->relay_stats.sync_timeout;
		batch_end(node, batch, -ETIMEDOUT);
	}
}

/* Collects a batch: the IDs it keeps, the SYNC entries it sends. */
struct batch_fill {
	struct qkdn_sync *batch;
	u8 *entries;
};

static int fill_entry(void *ctx, const struct qkdn_pool_key *key)
{
	struct batch_fill *f = ctx;
	u32 i = f->batch->count++;
	u8 *entry = f->entries + i * QKDN_KX_SYNC_ENTRY_LEN;

	memcpy(entry, key->id, QKDN_KEY_ID_LEN);
	memcpy(f->batch->ids + i * QKDN_KEY_ID_LEN, key->id, QKDN_KEY_ID_LEN);
	qkdn_kx_digest(key->id, key->data, key->len, entry + QKDN_KEY_ID_LEN);
	return 0;
}

static void store_select(struct qkdn_store *store, u32 want,
			 struct batch_fill *f)
{
	struct qkdn_relayed_key *key;

	list_for_each_entry(key, &store->own, list) {
		struct qkdn_pool_key out = {
			.id = key->id,
			.data = key->data,
			.len = key->len,
			.created = key->created,
		};

		if (f->batch->count == want)
			break;
		if (!key->verified)
			fill_entry(f, &out);
	}
}

/*
 * Sends a SYNC for up to @want unchecked keys of @src, oldest first. When
 * the SYNC leaves on the link whose keys it checks, the link keys the
 * frame itself takes (the oldest) are left out of it.
 */
static int batch_start(struct qkdn_node *node, struct ksa_src *src, u32 want,
		       struct netlink_ext_ack *extack)
{
	struct batch_fill f = {};
	struct qkdn_sync *batch;
	struct qkdn_link *route;
	u32 skip = 0;
	int ret;

	want = clamp_t(u32, want, 1, QKDN_KEY_AMOUNT_MAX);
	route = qkdn_kx_sync_route(node, src->peer, want, extack);
	if (IS_ERR(route))
		return PTR_ERR(route);
	if (route == src->link)
		skip = qkdn_kx_link_keys(route->pool.unit, want, 0);
	batch = kzalloc(struct_size(batch, ids, (size_t)want * QKDN_KEY_ID_LEN),
			GFP_KERNEL);
	f.entries = kcalloc(want, QKDN_KX_SYNC_ENTRY_LEN, GFP_KERNEL);
	if (!batch || !f.entries) {
		kfree(batch);
		kfree(f.entries);
		return -ENOMEM;
	}
	qkdn_objects_inc();
	kref_init(&batch->ref);
	init_completion(&batch->done);
	batch->id = get_random_u64();
	batch->peer = src->peer;
	batch->link_id = src->link ? src->link->id : 0;
	batch->result = -EINPROGRESS;
	f.batch = batch;
	if (src->link)
		qkdn_pool_select(&src->link->pool, skip, want, fill_entry, &f);
	else
		store_select(src->store, want, &f);
	if (!batch->count) {
		if (src->link)
			NL_SET_ERR_MSG(extack, "not enough keys in the pool");
		else
			NL_SET_ERR_MSG(extack,
				       "not enough relayed keys for the peer SAE's node");
		ret = -EAGAIN;
		goto out;
	}
	ret = qkdn_kx_send_sync(node, QKDN_KX_SYNC, src->peer, batch->id,
				f.entries, batch->count, extack);
	if (ret)
		goto out;
	batch->deadline = jiffies + msecs_to_jiffies(node->relay_timeout_ms);
	++node->relay_stats.sync_batches;
	kref_get(&batch->ref);
	list_add_tail(&batch->list, &node->syncs);
	*src_batch(src) = batch;
out:
	kfree_sensitive(f.entries);
	qkdn_sync_put(batch);
	return ret;
}

/* Starts a batch without waiting for it, if the stock runs low. */
static void refill(struct qkdn_node *node, struct ksa_src *src)
{
	if (!node->ksa_sync)
		return;
	batch_expire(node, src);
	if (*src_batch(src) || src_verified(src) >= src_stock(src) ||
	    src_unverified(src) < QKDN_KSA_MIN + (src->link ? 1 : 0))
		return;
	batch_start(node, src, src_stock(src), NULL);
}

void qkdn_ksa_link_refill(struct qkdn_node *node, struct qkdn_link *link)
{
	struct ksa_src src = { .link = link, .peer = link->peer_node };

	refill(node, &src);
}

void qkdn_ksa_store_refill(struct qkdn_node *node, struct qkdn_store *store)
{
	struct ksa_src src = { .store = store, .peer = store->peer };

	refill(node, &src);
}

/*
 * Until the source has @amount verified keys: starts a batch if none is
 * in flight and waits for it, without node->lock, within the relay
 * timeout (with @nowait, EINPROGRESS instead of the wait). Returns 0 with
 * the lock held and the stock there (the caller looks the link or store
 * up again), or why not.
 */
static int ksa_wait(struct qkdn_node *node, u32 link_id, u32 peer,
		    u32 amount, bool nowait, struct netlink_ext_ack *extack)
{
	unsigned long deadline = jiffies +
				 msecs_to_jiffies(node->relay_timeout_ms);
	struct qkdn_sync *batch;
	struct ksa_src src;
	bool counted = false;
	unsigned long until, left;
	long waited;
	int ret;

	for (;;) {
		if (!src_find(node, link_id, peer, &src)) {
			NL_SET_ERR_MSG(extack, "the keys went away while being checked");
			return -EAGAIN;
		}
		if (src_verified(&src) >= amount)
			return 0;
		if (time_after_eq(jiffies, deadline)) {
			NL_SET_ERR_MSG(extack, "the peer's node did not answer the key check");
			return -ETIMEDOUT;
		}
		batch_expire(node, &src);
		if (*src_batch(&src)) {
			src_grow(&src, *src_batch(&src));
		} else {
			ret = batch_start(node, &src, amount - src_verified(&src) +
					  src_stock(&src), extack);
			if (ret)
				return ret;
		}
		if (nowait) {
			NL_SET_ERR_MSG(extack, "too few verified keys: a batch is being checked");
			return -EINPROGRESS;
		}
		if (!counted) {
			++node->relay_stats.sync_waits;
			counted = true;
		}
		batch = *src_batch(&src);
		until = time_before(batch->deadline, deadline) ?
			batch->deadline : deadline;
		left = time_after(until, jiffies) ? until - jiffies : 0;
		kref_get(&batch->ref);
		mutex_unlock(&node->lock);
		waited = wait_for_completion_killable_timeout(&batch->done, left);
		mutex_lock(&node->lock);
		ret = batch->result;
		if (ret == -EINPROGRESS && time_after_eq(jiffies, batch->deadline)) {
			++node->relay_stats.sync_timeout;
			batch_end(node, batch, -ETIMEDOUT);
			ret = -ETIMEDOUT;
		}
		qkdn_sync_put(batch);
		if (waited < 0)
			return -EINTR;
		if (ret == -EKEYREJECTED) {
			NL_SET_ERR_MSG(extack, "the peer's node holds different keys");
			return ret;
		}
		if (ret == -ETIMEDOUT) {
			NL_SET_ERR_MSG(extack, "the peer's node did not answer the key check");
			return ret;
		}
	}
}

int qkdn_ksa_link_wait(struct qkdn_node *node, u32 link_id, u32 amount,
		       bool nowait, struct netlink_ext_ack *extack)
{
	struct qkdn_link *link = qkdn_link_find(node, link_id);

	if (!link)
		return -ENOENT;
	return ksa_wait(node, link_id, link->peer_node, amount, nowait,
			extack);
}

int qkdn_ksa_store_wait(struct qkdn_node *node, u32 peer, u32 amount,
			bool nowait, struct netlink_ext_ack *extack)
{
	return ksa_wait(node, 0, peer, amount, nowait, extack);
}

/* A link goes: its batch in flight ends, its waiters look again. */
void qkdn_ksa_link_gone(struct qkdn_node *node, struct qkdn_link *link)
{
	if (link->ksa_batch)
		batch_end(node, link->ksa_batch, -ENOLINK);
}

/* The node goes, before its links and stores: every batch ends. */
void qkdn_ksa_node_exit(struct qkdn_node *node)
{
	struct qkdn_sync *batch, *next;

	list_for_each_entry_safe(batch, next, &node->syncs, list)
		batch_end(node, batch, -ESHUTDOWN);
}

/* Where the key @id shared with @source is held at this end, if it is. */
struct held {
	struct qkdn_link *link;
	struct qkdn_relayed_key *relayed;
};

static bool held_find(struct qkdn_node *node, u32 source, const u8 *id,
		      struct held *held)
{
	struct qkdn_link *link;
	unsigned long index;

	held->link = NULL;
	held->relayed = NULL;
	xa_for_each(&node->links, index, link) {
		if (link->peer_node == source &&
		    qkdn_pool_has_id(&link->pool, id)) {
			held->link = link;
			return true;
		}
	}
	held->relayed = qkdn_relayed_find(node, id);
	if (held->relayed && (held->relayed->own ||
			      held->relayed->source != source))
		held->relayed = NULL;
	return held->relayed;
}

static int digest_key(void *ctx, const struct qkdn_pool_key *key)
{
	qkdn_kx_digest(key->id, key->data, key->len, ctx);
	return 0;
}

static u8 verdict(struct qkdn_node *node, u32 source, const u8 *entry)
{
	u8 digest[QKDN_KX_DIGEST_LEN];
	struct held held;
	u8 ret;

	if (!held_find(node, source, entry, &held))
		return QKDN_KSA_MISSING;
	if (held.link)
		qkdn_pool_peek_id(&held.link->pool, entry, digest_key, digest);
	else
		qkdn_kx_digest(entry, held.relayed->data, held.relayed->len,
			       digest);
	ret = crypto_memneq(digest, entry + QKDN_KEY_ID_LEN, sizeof(digest)) ?
	      QKDN_KSA_MISMATCH : QKDN_KSA_MATCH;
	memzero_explicit(digest, sizeof(digest));
	return ret;
}

/*
 * SYNC reached the peer SAE's node: compare every digest with the key of
 * that ID here. All match: mark them verified here, then answer. Any
 * differs or is missing: delete every key of the batch here, raise the
 * alarm, and answer with the verdicts (the source deletes them too).
 */
int qkdn_ksa_arrived(struct qkdn_node *node, const struct qkdn_kx *kx)
{
	struct qkdn_store *store = qkdn_store_find(node, kx->source);
	bool ok = true;
	u8 *answer;
	u16 i;
	int ret;

	answer = kcalloc(kx->count, QKDN_KX_SYNC_ENTRY_LEN, GFP_KERNEL);
	if (!answer)
		return -ENOMEM;
	for (i = 0; i < kx->count; ++i) {
		const u8 *entry = kx->entries + i * QKDN_KX_SYNC_ENTRY_LEN;
		u8 *out = answer + i * QKDN_KX_SYNC_ENTRY_LEN;

		memcpy(out, entry, QKDN_KEY_ID_LEN);
		out[QKDN_KEY_ID_LEN] = verdict(node, kx->source, entry);
		ok &= out[QKDN_KEY_ID_LEN] == QKDN_KSA_MATCH;
	}
	for (i = 0; i < kx->count; ++i) {
		const u8 *id = kx->entries + i * QKDN_KX_SYNC_ENTRY_LEN;
		struct held held;

		if (!held_find(node, kx->source, id, &held))
			continue;
		if (held.link && ok) {
			qkdn_pool_mark_id(&held.link->pool, id);
		} else if (held.link) {
			qkdn_pool_drop_id(&held.link->pool, id);
			qkdn_link_update(node, held.link);
		} else if (ok && !held.relayed->verified) {
			held.relayed->verified = true;
			++store->peer_verified;
		} else if (!ok) {
			qkdn_relayed_free(node, store, held.relayed);
			++store->deleted;
		}
	}
	if (ok) {
		node->relay_stats.sync_ok += kx->count;
	} else {
		node->relay_stats.sync_mismatch += kx->count;
		qkdn_netlink_ksa_mismatch(node, kx->source);
	}
	ret = qkdn_kx_send_sync(node, QKDN_KX_SYNC_ACK, kx->source,
				kx->relay_id, answer, kx->count, NULL);
	kfree(answer);
	return ret;
}

static struct qkdn_sync *batch_find(struct qkdn_node *node, u64 id, u32 peer)
{
	struct qkdn_sync *batch;

	list_for_each_entry(batch, &node->syncs, list)
		if (batch->id == id && batch->peer == peer)
			return batch;
	return NULL;
}

/*
 * SYNC_ACK came back: all match, and the batch's keys still here are
 * verified; otherwise every one of them still here is deleted. An answer
 * to a batch already given up changes nothing: its keys are unchecked
 * here and go into a later batch.
 */
void qkdn_ksa_answered(struct qkdn_node *node, const struct qkdn_kx *kx)
{
	struct qkdn_sync *batch = batch_find(node, kx->relay_id, kx->source);
	struct ksa_src src;
	bool ok = true, have;
	u32 i;

	if (!batch || kx->count != batch->count)
		return;
	for (i = 0; i < batch->count; ++i) {
		const u8 *entry = kx->entries + i * QKDN_KX_SYNC_ENTRY_LEN;

		if (memcmp(entry, batch->ids + i * QKDN_KEY_ID_LEN,
			   QKDN_KEY_ID_LEN) ||
		    entry[QKDN_KEY_ID_LEN] != QKDN_KSA_MATCH)
			ok = false;
	}
	have = src_find(node, batch->link_id, batch->peer, &src);
	for (i = 0; have && i < batch->count; ++i) {
		const u8 *id = batch->ids + i * QKDN_KEY_ID_LEN;

		if (ok)
			src_mark(node, &src, id);
		else
			src_drop(node, &src, id);
	}
	if (ok) {
		node->relay_stats.sync_ok += batch->count;
	} else {
		node->relay_stats.sync_mismatch += batch->count;
		qkdn_netlink_ksa_mismatch(node, batch->peer);
	}
	if (have && src.link)
		qkdn_link_update(node, src.link);
	batch_end(node, batch, ok ? 0 : -EKEYREJECTED);
	if (have && ok)
		refill(node, &src);
}
