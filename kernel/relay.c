// SPDX-License-Identifier: GPL-2.0
/*
 * Key relay across trusted nodes (Kx-1; seed 000 clauses 7.1.3-7.1.4).
 *
 * The source draws the keys to share from the pool of its link to the
 * first hop: at that hop they are already shared, so the first frame names
 * the link keys instead of carrying ciphertext. Every later hop encrypts
 * them with a one-time pad from its own link's pool. Every hop's frame is
 * authenticated with Poly1305 keyed by 32 bytes of link key used once (a
 * Wegman-Carter MAC). A receiver verifies before it consumes anything, so
 * forgeries cost nothing but a counter; an authenticated frame consumes
 * exactly the link keys it names, at both ends.
 *
 * The destination stores the keys and acknowledges them; only the ACK
 * makes them usable at the source. A source that hears nothing in time
 * abandons the relay and sends ABORT, on which the destination wipes its
 * copies; an orphan left by a lost ABORT can only be named by an ID that
 * no application at the source was ever given.
 */

#include <linux/jhash.h>
#include <linux/random.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/timekeeping.h>
#include <crypto/algapi.h>

#include "ksa.h"
#include "kx.h"
#include "main.h"
#include "netlink.h"
#include "node.h"
#include "relay.h"

static u32 id_hash(const u8 *id)
{
	return jhash(id, QKDN_KEY_ID_LEN, 0);
}

struct qkdn_store *qkdn_store_find(struct qkdn_node *node, u32 peer)
{
	return xa_load(&node->stores, peer);
}

static struct qkdn_store *store_get(struct qkdn_node *node, u32 peer)
{
	struct qkdn_store *store = qkdn_store_find(node, peer);

	if (store)
		return store;
	store = kzalloc(sizeof(*store), GFP_KERNEL);
	if (!store)
		return NULL;
	store->peer = peer;
	INIT_LIST_HEAD(&store->own);
	INIT_LIST_HEAD(&store->peer_keys);
	if (xa_insert(&node->stores, peer, store, GFP_KERNEL)) {
		kfree(store);
		return NULL;
	}
	qkdn_objects_inc();
	return store;
}

static struct qkdn_relayed_key *relayed_alloc(u32 len)
{
	struct qkdn_relayed_key *key;

	key = kzalloc(struct_size(key, data, len), GFP_KERNEL);
	if (!key)
		return NULL;
	INIT_LIST_HEAD(&key->list);
	INIT_HLIST_NODE(&key->hash);
	key->len = len;
	qkdn_objects_inc();
	return key;
}

/* Wipes and frees @key, taking it out of @store first if it is in one. */
void qkdn_relayed_free(struct qkdn_node *node, struct qkdn_store *store,
		       struct qkdn_relayed_key *key)
{
	if (!key)
		return;
	if (store) {
		list_del(&key->list);
		hash_del(&key->hash);
		if (key->own) {
			--store->own_available;
			store->own_verified -= key->verified;
		} else {
			--store->peer_stored;
			store->peer_verified -= key->verified;
		}
	}
	kfree_sensitive(key);
	qkdn_objects_dec();
}

struct qkdn_relayed_key *qkdn_relayed_find(struct qkdn_node *node,
					   const u8 *id)
{
	struct qkdn_relayed_key *key;

	hash_for_each_possible(node->relayed, key, hash, id_hash(id))
		if (!memcmp(key->id, id, QKDN_KEY_ID_LEN))
			return key;
	return NULL;
}

static void store_add(struct qkdn_node *node, struct qkdn_store *store,
		      struct qkdn_relayed_key *key)
{
	hash_add(node->relayed, &key->hash, id_hash(key->id));
	if (key->own) {
		list_add_tail(&key->list, &store->own);
		++store->own_available;
	} else {
		list_add_tail(&key->list, &store->peer_keys);
		++store->peer_stored;
	}
}

static void relays_rerouted(struct qkdn_node *node, u32 dest);

int qkdn_route_add(struct qkdn_node *node, u32 dest, u32 next_hop,
		   struct netlink_ext_ack *extack)
{
	void *old;

	if (!node->id) {
		NL_SET_ERR_MSG(extack, "node ID not set");
		return -EINVAL;
	}
	if (dest == node->id || next_hop == node->id) {
		NL_SET_ERR_MSG(extack, "a route cannot lead to this node");
		return -EINVAL;
	}
	if (!xa_load(&node->routes, dest) &&
	    node->route_count >= QKDN_ROUTES_MAX) {
		NL_SET_ERR_MSG(extack, "too many routes");
		return -ENOSPC;
	}
	old = xa_store(&node->routes, dest, xa_mk_value(next_hop), GFP_KERNEL);
	if (xa_is_err(old))
		return xa_err(old);
	if (!old)
		++node->route_count;
	++node->generation;
	relays_rerouted(node, dest);
	return 0;
}

int qkdn_route_del(struct qkdn_node *node, u32 dest)
{
	if (!xa_erase(&node->routes, dest))
		return -ENOENT;
	--node->route_count;
	++node->generation;
	relays_rerouted(node, dest);
	return 0;
}

/* The link to a neighbour with the most keys to spend. */
static struct qkdn_link *link_to(struct qkdn_node *node, u32 peer)
{
	struct qkdn_link *link, *best = NULL;
	unsigned long index;

	xa_for_each(&node->links, index, link)
		if (link->peer_node == peer &&
		    (!best || link->pool.enc_avail > best->pool.enc_avail))
			best = link;
	return best;
}

/* A route if there is one; a neighbour needs none. */
static u32 route_next(struct qkdn_node *node, u32 dest)
{
	void *entry = xa_load(&node->routes, dest);

	if (entry)
		return xa_to_value(entry);
	return link_to(node, dest) ? dest : 0;
}

/* Collects link keys: their IDs into the frame, their bytes into a pad. */
struct key_stream {
	u8 *ids;
	u8 *bytes;
	u32 filled;
};

static int stream_add(void *ctx, const struct qkdn_pool_key *key)
{
	struct key_stream *ks = ctx;

	if (ks->ids)
		memcpy(ks->ids + ks->filled / key->len * QKDN_KEY_ID_LEN,
		       key->id, QKDN_KEY_ID_LEN);
	memcpy(ks->bytes + ks->filled, key->data, key->len);
	ks->filled += key->len;
	return 0;
}

static int consume(void *ctx, const struct qkdn_pool_key *key)
{
	return 0;
}

/**
 * struct kx_out - a frame to send
 * @type: enum qkdn_kx_type
 * @source: node that started the exchange (or answers it)
 * @dest: node the frame is ultimately for
 * @relay_id: the relay or synchronisation it belongs to
 * @hops: hops the frame has travelled so far
 * @keys: RELAY: the keys; on the first hop their bytes are drawn from the
 *	link here
 * @entries: SYNC, SYNC_ACK: the entries, ready made
 * @count: keys or entries
 * @key_len: bytes of each key (RELAY)
 * @via: the first hop instead of the route to @dest, 0 for the route
 */
struct kx_out {
	u8 type;
	u32 source;
	u32 dest;
	u64 relay_id;
	u16 hops;
	struct qkdn_relayed_key **keys;
	const u8 *entries;
	u16 count;
	u16 key_len;
	u32 via;
};

/*
 * A relay leaving its source carries no key bytes on its first hop, but
 * every later hop's frame does. Refuse up front (nothing taken) a relay
 * whose later frames would not fit a KX_FRAME on links of the first
 * link's unit, instead of letting a trusted node spend link keys on it.
 */
static bool kx_fits_onward(const struct kx_out *out,
			   const struct qkdn_link *link, u32 next)
{
	u16 onward;

	if (out->type != QKDN_KX_RELAY || out->hops || next == out->dest)
		return true;
	onward = qkdn_kx_link_keys(link->pool.unit, out->count, out->key_len);
	return qkdn_kx_frame_len(out->type, out->count, out->key_len, onward,
				 1) <= QKDN_KX_FRAME_MAX;
}

/*
 * Frames and pads reach 64 KB. A kvmalloc() of that size for each at every
 * hop costs order-4 page allocations or, once memory is fragmented, a
 * vmalloc() and its TLB flushes; so each node keeps one buffer of each
 * kind (enum in relay.h), allocated on first use, reused under node->lock
 * (which every caller of kx_send() and qkdn_kx_receive() holds) and freed
 * with the node. Pads are wiped after every use, as before.
 *
 * The largest pad is that of a first-hop RELAY frame of QKDN_RELAY_KEYS_MAX
 * keys of QKDN_KEY_UNIT_MAX bytes, which a peer may send: its key bytes
 * are the pad and are not in the frame.
 */
#define KX_SCRATCH_LEN	max_t(size_t, QKDN_KX_FRAME_MAX,			\
			      QKDN_KX_MAC_KEY_LEN + QKDN_KEY_UNIT_MAX +		\
			      QKDN_RELAY_KEYS_MAX * QKDN_KEY_UNIT_MAX)

static void *kx_scratch(struct qkdn_node *node, int which, size_t len)
{
	lockdep_assert_held(&node->lock);
	if (len > KX_SCRATCH_LEN)
		return NULL;
	if (!node->kx_scratch[which])
		node->kx_scratch[which] = kvmalloc(KX_SCRATCH_LEN, GFP_KERNEL);
	return node->kx_scratch[which];
}

/* The link a frame for @dest leaves on, and how many of its keys it uses. */
static struct qkdn_link *kx_route(struct qkdn_node *node,
				  const struct kx_out *out, u16 *link_keys,
				  struct netlink_ext_ack *extack)
{
	struct qkdn_link *link;
	u32 next;

	next = out->via ? out->via : route_next(node, out->dest);
	if (!next) {
		NL_SET_ERR_MSG(extack, "no route to the destination");
		return ERR_PTR(-EHOSTUNREACH);
	}
	link = link_to(node, next);
	if (!link) {
		NL_SET_ERR_MSG(extack, "no link to the next hop");
		return ERR_PTR(-EHOSTUNREACH);
	}
	*link_keys = qkdn_kx_link_keys(link->pool.unit, out->count,
				       out->key_len);
	if (!kx_fits_onward(out, link, next)) {
		NL_SET_ERR_MSG(extack, "relay too large for a frame after the first hop");
		return ERR_PTR(-EMSGSIZE);
	}
	if (link->pool.enc_avail < *link_keys) {
		NL_SET_ERR_MSG(extack, "not enough keys on the link to the next hop");
		return ERR_PTR(-EAGAIN);
	}
	return link;
}

/*
 * One hop of a frame towards its destination. Everything that can fail
 * is checked before a link key is taken.
 */
static int kx_send(struct qkdn_node *node, const struct kx_out *out,
		   struct netlink_ext_ack *extack)
{
	struct key_stream ks = {};
	struct qkdn_kx_hdr *hdr;
	struct qkdn_link *link;
	size_t len, entry_len;
	u16 link_keys, i;
	u8 *frame, *entries;
	int ret;

	link = kx_route(node, out, &link_keys, extack);
	if (IS_ERR(link))
		return PTR_ERR(link);
	len = qkdn_kx_frame_len(out->type, out->count, out->key_len,
				link_keys, out->hops);
	if (len > QKDN_KX_FRAME_MAX) {
		NL_SET_ERR_MSG(extack, "frame too large for a KX_FRAME");
		return -EMSGSIZE;
	}
	entry_len = qkdn_kx_entry_len(out->type, out->key_len, out->hops);
	frame = kx_scratch(node, QKDN_KX_TX_FRAME, len);
	ks.bytes = kx_scratch(node, QKDN_KX_TX_PAD,
			      link_keys * link->pool.unit);
	if (!frame || !ks.bytes) {
		ret = -ENOMEM;
		goto out;
	}
	memset(frame, 0, len);

	hdr = (void *)frame;
	ks.ids = frame + sizeof(*hdr);
	entries = ks.ids + link_keys * QKDN_KEY_ID_LEN;
	ret = qkdn_pool_take(&link->pool, link_keys, stream_add, &ks);
	if (ret)
		goto out;
	hdr->version = QKDN_KX_VERSION;
	hdr->type = out->type;
	hdr->method = QKDN_KX_OTP_POLY1305;
	hdr->source = cpu_to_be32(out->source);
	hdr->dest = cpu_to_be32(out->dest);
	hdr->hop_from = cpu_to_be32(node->id);
	hdr->hop_to = cpu_to_be32(link->peer_node);
	hdr->relay_id = cpu_to_be64(out->relay_id);
	hdr->seq = cpu_to_be64(++link->kx_tx_seq);
	hdr->timestamp = cpu_to_be64(ktime_get_real_ns());
	hdr->count = cpu_to_be16(out->count);
	hdr->key_len = cpu_to_be16(out->key_len);
	hdr->link_keys = cpu_to_be16(link_keys);
	hdr->hops = cpu_to_be16(out->hops);

	if (out->entries)
		memcpy(entries, out->entries, out->count * entry_len);
	for (i = 0; out->keys && i < out->count; ++i) {
		struct qkdn_kx_entry *entry = (void *)(entries + i * entry_len);
		struct qkdn_relayed_key *key = out->keys[i];
		const u8 *pad = ks.bytes + QKDN_KX_MAC_KEY_LEN +
				i * out->key_len;

		memcpy(entry->id, key->id, QKDN_KEY_ID_LEN);
		entry->created = cpu_to_be64(key->created);
		if (out->hops)
			crypto_xor_cpy(entry->ciphertext, key->data, pad,
				       out->key_len);
		else
			memcpy(key->data, pad, out->key_len);
	}
	qkdn_kx_mac(frame, len - QKDN_KX_TAG_LEN, ks.bytes,
		    frame + len - QKDN_KX_TAG_LEN);

	++node->relay_stats.frames_tx;
	node->relay_stats.link_keys_used += link_keys;
	qkdn_link_update(node, link);
	qkdn_netlink_kx(node, link->peer_node, frame, len);
out:
	if (ks.bytes)
		memzero_explicit(ks.bytes, link_keys * link->pool.unit);
	return ret;
}

/* Sends a frame that carries no keys: ACK, ABORT. */
static int kx_send_bare(struct qkdn_node *node, u8 type, u32 dest,
			u64 relay_id)
{
	struct kx_out out = {
		.type = type,
		.source = node->id,
		.dest = dest,
		.relay_id = relay_id,
	};

	return kx_send(node, &out, NULL);
}

/*
 * A relay of @count fresh keys of @len bytes, with new random IDs; the key
 * bytes are filled in when the first frame takes its link keys.
 */
static struct qkdn_relay *relay_new(struct qkdn_node *node, u32 dest,
				    u32 count, u32 len)
{
	struct qkdn_relay *relay;
	u64 now = ktime_get_real_ns();
	u32 i;

	relay = kzalloc(sizeof(*relay), GFP_KERNEL);
	if (!relay)
		return NULL;
	qkdn_objects_inc();
	kref_init(&relay->ref);
	init_completion(&relay->done);
	relay->id = get_random_u64();
	relay->dest = dest;
	relay->result = -EINPROGRESS;
	for (i = 0; i < count; ++i) {
		struct qkdn_relayed_key *key = relayed_alloc(len);

		if (!key) {
			qkdn_relay_put(relay);
			return NULL;
		}
		get_random_bytes(key->id, QKDN_KEY_ID_LEN);
		key->id[6] = (key->id[6] & 0x0f) | 0x80;
		key->id[8] = (key->id[8] & 0x3f) | 0x80;
		memcpy(relay->ids[relay->count], key->id, QKDN_KEY_ID_LEN);
		relay->keys[relay->count++] = key;
		key->relay_id = relay->id;
		key->created = now;
		key->relayed = now;
		key->source = node->id;
		key->dest = dest;
		key->method = QKDN_KX_OTP_POLY1305;
		key->own = true;
	}
	return relay;
}

int qkdn_relay_start(struct qkdn_node *node, u32 dest, u32 count, u32 len,
		     u32 via, struct netlink_ext_ack *extack,
		     struct qkdn_relay **started)
{
	struct kx_out out = {
		.type = QKDN_KX_RELAY,
		.source = node->id,
		.dest = dest,
		.count = count,
		.key_len = len,
		.via = via,
	};
	struct qkdn_relay *relay;
	int ret;

	if (!node->id) {
		NL_SET_ERR_MSG(extack, "node ID not set");
		return -EINVAL;
	}
	if (dest == node->id) {
		NL_SET_ERR_MSG(extack, "cannot relay to this node");
		return -EINVAL;
	}
	if (!store_get(node, dest))
		return -ENOMEM;
	relay = relay_new(node, dest, count, len);
	if (!relay)
		return -ENOMEM;
	out.relay_id = relay->id;
	out.keys = relay->keys;
	ret = kx_send(node, &out, extack);
	if (ret)
		goto err;
	relay->first_hop = route_next(node, dest);
	++node->relay_stats.started;
	kref_get(&relay->ref);
	list_add_tail(&relay->list, &node->relays);
	*started = relay;
	return 0;
err:
	qkdn_relay_put(relay);
	return ret;
}

/*
 * A multicast relay failed: every destination, acknowledged or not, wipes
 * its copies, so no slave SAE ever holds a key the others lack.
 */
static void multicast_abort(struct qkdn_node *node, struct qkdn_relay *relay)
{
	u32 i;

	node->relay_stats.failed += relay->legs;
	for (i = 0; i < relay->legs; ++i)
		kx_send_bare(node, QKDN_KX_ABORT, relay->leg[i].dest,
			     relay->leg[i].id);
	qkdn_netlink_relay_failed(node, relay);
}

/*
 * A multicast relay (ETSI GS QKD 014 additional slave SAEs): the same
 * fresh keys, under the same IDs, to every node in @dests, one leg per
 * entry (a node listed twice gets two copies, one per slave SAE there),
 * each with its own relay ID and ACK. The key bytes are drawn from the
 * first link of the first leg, whose frame names those link keys as a
 * relay's first frame does; the other legs' frames carry the keys
 * one-time-padded from their first hop on, so they leave with a hop count
 * of 1. @local more copies of each key are allocated for slave SAEs of
 * this node. Everything that can fail is checked for every leg before the
 * first link key is taken.
 */
int qkdn_multicast_start(struct qkdn_node *node, const u32 *dests, u32 n,
			 u32 count, u32 len, u32 local,
			 struct netlink_ext_ack *extack,
			 struct qkdn_relay **started)
{
	struct qkdn_link *links[QKDN_MULTICAST_SAES_MAX];
	u16 need[QKDN_MULTICAST_SAES_MAX];
	struct kx_out out = {
		.type = QKDN_KX_RELAY,
		.source = node->id,
		.count = count,
		.key_len = len,
	};
	struct qkdn_relay *relay;
	u32 i, j, sum;
	int ret = 0;

	if (!node->id || !n || n + local > QKDN_MULTICAST_SAES_MAX)
		return -EINVAL;
	for (i = 0; i < n; ++i) {
		if (dests[i] == node->id)
			return -EINVAL;
		out.dest = dests[i];
		out.hops = i ? 1 : 0;
		links[i] = kx_route(node, &out, &need[i], extack);
		if (IS_ERR(links[i]))
			return PTR_ERR(links[i]);
		if (qkdn_kx_frame_len(out.type, count, len, need[i], out.hops) >
		    QKDN_KX_FRAME_MAX) {
			NL_SET_ERR_MSG(extack, "frame too large for a KX_FRAME");
			return -EMSGSIZE;
		}
	}
	for (i = 0; i < n; ++i) {
		for (sum = 0, j = 0; j < n; ++j)
			if (links[j] == links[i])
				sum += need[j];
		if (links[i]->pool.enc_avail < sum) {
			NL_SET_ERR_MSG(extack,
				       "not enough keys on a first link for every slave's node");
			return -EAGAIN;
		}
	}
	for (i = 0; i < n; ++i)
		if (!store_get(node, dests[i]))
			return -ENOMEM;
	if (local && !store_get(node, node->id))
		return -ENOMEM;
	relay = relay_new(node, dests[0], count, len);
	if (!relay)
		return -ENOMEM;
	relay->local = local;
	if (local) {
		relay->copies = kcalloc(local * count, sizeof(*relay->copies),
					GFP_KERNEL);
		for (i = 0; relay->copies && i < local * count; ++i) {
			relay->copies[i] = relayed_alloc(len);
			if (!relay->copies[i])
				break;
		}
		if (!relay->copies || i < local * count) {
			qkdn_relay_put(relay);
			return -ENOMEM;
		}
	}
	for (i = 0; i < n; ++i) {
		relay->leg[i].id = i ? get_random_u64() : relay->id;
		relay->leg[i].dest = dests[i];
	}
	out.keys = relay->keys;
	for (i = 0; i < n && !ret; ++i) {
		out.dest = dests[i];
		out.relay_id = relay->leg[i].id;
		out.hops = i ? 1 : 0;
		ret = kx_send(node, &out, extack);
		if (!ret) {
			relay->legs = i + 1;
			++node->relay_stats.started;
		}
	}
	if (ret) {
		/* Only ENOMEM gets here: abandon the legs already sent. */
		if (relay->legs)
			multicast_abort(node, relay);
		qkdn_relay_put(relay);
		return ret;
	}
	relay->pending = n;
	kref_get(&relay->ref);
	list_add_tail(&relay->list, &node->relays);
	*started = relay;
	return 0;
}

/*
 * A multicast relay every destination acknowledged: the copies for this
 * node's own slave SAEs join its store for itself, where KEY_GET_ID finds
 * them. Nothing here can fail: they were allocated before the first frame
 * left.
 */
void qkdn_multicast_keep(struct qkdn_node *node, struct qkdn_relay *relay)
{
	struct qkdn_store *store = qkdn_store_find(node, node->id);
	u64 now = ktime_get_real_ns();
	u32 i;

	for (i = 0; store && i < relay->local * relay->count; ++i) {
		const struct qkdn_relayed_key *key =
			relay->keys[i % relay->count];
		struct qkdn_relayed_key *copy = relay->copies[i];

		memcpy(copy->id, key->id, QKDN_KEY_ID_LEN);
		memcpy(copy->data, key->data, key->len);
		copy->relay_id = relay->id;
		copy->created = key->created;
		copy->relayed = now;
		copy->source = node->id;
		copy->dest = node->id;
		copy->method = key->method;
		store_add(node, store, copy);
		relay->copies[i] = NULL;
		++store->relayed_in;
	}
}

static void relay_release(struct kref *ref)
{
	struct qkdn_relay *relay = container_of(ref, struct qkdn_relay, ref);
	u32 i;

	for (i = 0; i < relay->count; ++i)
		qkdn_relayed_free(NULL, NULL, relay->keys[i]);
	for (i = 0; relay->copies && i < relay->local * relay->count; ++i)
		qkdn_relayed_free(NULL, NULL, relay->copies[i]);
	kfree(relay->copies);
	kfree(relay);
	qkdn_objects_dec();
}

void qkdn_relay_put(struct qkdn_relay *relay)
{
	kref_put(&relay->ref, relay_release);
}

/* The destination acknowledged: the keys become usable here. */
static void relay_complete(struct qkdn_node *node, struct qkdn_relay *relay)
{
	struct qkdn_store *store = qkdn_store_find(node, relay->dest);
	u32 i;

	for (i = 0; i < relay->count; ++i) {
		store_add(node, store, relay->keys[i]);
		relay->keys[i] = NULL;
	}
	store->relayed_out += relay->count;
	relay->result = 0;
	++node->relay_stats.completed;
	list_del(&relay->list);
	complete(&relay->done);
	qkdn_relay_put(relay);
}

/*
 * The route to @dest changed (or went): a relay in flight to it whose
 * first frame left on another next hop is abandoned now, here and (by
 * ABORT, over the new route) at the destination, instead of at its
 * timeout. Its frames most likely went down with the old route, and its
 * caller (qkdn-kmd's store refill) would wait relay_timeout_ms before it
 * could relay again over the new one. No relay-failed alarm: the route's
 * owner changed it, it knows. The caller gets ECONNABORTED.
 */
static void relays_rerouted(struct qkdn_node *node, u32 dest)
{
	struct qkdn_relay *relay, *tmp;
	u32 next = route_next(node, dest);

	list_for_each_entry_safe(relay, tmp, &node->relays, list) {
		if (relay->legs || relay->dest != dest ||
		    relay->first_hop == next)
			continue;
		relay->result = -ECONNABORTED;
		list_del(&relay->list);
		++node->relay_stats.failed;
		kx_send_bare(node, QKDN_KX_ABORT, dest, relay->id);
		complete(&relay->done);
		qkdn_relay_put(relay);
	}
}

/*
 * After the caller's wait, with node->lock held: a relay still in flight
 * is abandoned, here and (by ABORT) at the destination.
 */
int qkdn_relay_finish(struct qkdn_node *node, struct qkdn_relay *relay,
		      int wait_result)
{
	if (relay->result != -EINPROGRESS)
		return relay->result;
	relay->result = wait_result < 0 ? -EINTR : -ETIMEDOUT;
	list_del(&relay->list);
	if (relay->legs) {
		multicast_abort(node, relay);
	} else {
		++node->relay_stats.failed;
		kx_send_bare(node, QKDN_KX_ABORT, relay->dest, relay->id);
		qkdn_netlink_relay_failed(node, relay);
	}
	qkdn_relay_put(relay);
	return relay->result;
}

static struct qkdn_relay_leg *multicast_leg(struct qkdn_relay *relay, u64 id,
					    u32 dest)
{
	u32 i;

	for (i = 0; i < relay->legs; ++i)
		if (relay->leg[i].id == id && relay->leg[i].dest == dest)
			return &relay->leg[i];
	return NULL;
}

static struct qkdn_relay *relay_find(struct qkdn_node *node, u64 id, u32 dest)
{
	struct qkdn_relay *relay;

	list_for_each_entry(relay, &node->relays, list) {
		if (relay->legs ? !!multicast_leg(relay, id, dest) :
		    relay->id == id && relay->dest == dest)
			return relay;
	}
	return NULL;
}

/*
 * One destination of a multicast relay acknowledged; the keys become
 * usable only once every one has, and then only for the waiting caller.
 */
static void multicast_acked(struct qkdn_node *node, struct qkdn_relay *relay,
			    u64 id, u32 dest)
{
	struct qkdn_relay_leg *leg = multicast_leg(relay, id, dest);
	struct qkdn_store *store;

	if (!leg || leg->acked)
		return;
	leg->acked = true;
	if (--relay->pending)
		return;
	for (leg = relay->leg; leg < relay->leg + relay->legs; ++leg) {
		store = qkdn_store_find(node, leg->dest);
		if (store)
			store->relayed_out += relay->count;
	}
	relay->result = 0;
	node->relay_stats.completed += relay->legs;
	list_del(&relay->list);
	complete(&relay->done);
	qkdn_relay_put(relay);
}

/* ABORT reached the destination: wipe what that relay left here. */
static void relay_aborted(struct qkdn_node *node, u32 source, u64 relay_id)
{
	struct qkdn_store *store = qkdn_store_find(node, source);
	struct qkdn_relayed_key *key, *tmp;

	if (!store)
		return;
	list_for_each_entry_safe(key, tmp, &store->peer_keys, list) {
		if (key->relay_id != relay_id)
			continue;
		qkdn_relayed_free(node, store, key);
		++store->deleted;
	}
}

/*
 * Whether @key may join the keys held here under its ID: only if it is
 * new, or another copy of one the same source relayed here (a multicast
 * relay sends one leg per slave SAE at this node, each taken once). The
 * same ID never names different bytes.
 */
static bool relayed_copy_ok(struct qkdn_node *node, u32 source,
			    const struct qkdn_relayed_key *key)
{
	struct qkdn_relayed_key *held = qkdn_relayed_find(node, key->id);

	return !held || (!held->own && held->source == source &&
			 held->len == key->len &&
			 !crypto_memneq(held->data, key->data, key->len));
}

/* A RELAY frame reached its destination: store, then acknowledge. */
static int relay_arrived(struct qkdn_node *node, const struct qkdn_kx *kx,
			 struct qkdn_relayed_key **keys)
{
	struct qkdn_store *store = store_get(node, kx->source);
	u16 i;

	if (!store)
		return -ENOMEM;
	for (i = 0; i < kx->count; ++i) {
		if (!relayed_copy_ok(node, kx->source, keys[i]))
			return -EEXIST;
	}
	for (i = 0; i < kx->count; ++i) {
		store_add(node, store, keys[i]);
		keys[i] = NULL;
	}
	store->relayed_in += kx->count;
	++node->relay_stats.received;
	return kx_send_bare(node, QKDN_KX_ACK, kx->source, kx->relay_id);
}

/*
 * Verifies @kx against the keys it names in the link to its sender, and
 * only then consumes them; @pad receives their bytes.
 */
static int kx_verify(struct qkdn_node *node, const struct qkdn_kx *kx,
		     struct qkdn_link *link, u8 *pad,
		     struct netlink_ext_ack *extack)
{
	struct qkdn_relay_stats *stats = &node->relay_stats;
	struct key_stream ks = { .bytes = pad };
	u8 tag[QKDN_KX_TAG_LEN];
	u16 i;
	int ret;

	for (i = 0; i < kx->link_keys; ++i) {
		ret = qkdn_pool_peek_id(&link->pool,
					kx->link_key_ids + i * QKDN_KEY_ID_LEN,
					stream_add, &ks);
		if (ret) {
			++stats->unknown_key;
			NL_SET_ERR_MSG(extack, "frame names link keys not held here");
			return -ENOKEY;
		}
	}
	qkdn_kx_mac((const u8 *)kx->hdr, kx->mac_len, pad, tag);
	ret = crypto_memneq(tag, kx->tag, sizeof(tag));
	memzero_explicit(tag, sizeof(tag));
	if (ret) {
		++stats->bad_mac;
		NL_SET_ERR_MSG(extack, "frame MAC does not verify");
		return -EBADMSG;
	}
	for (i = 0; i < kx->link_keys; ++i) {
		ret = qkdn_pool_take_id(&link->pool,
					kx->link_key_ids + i * QKDN_KEY_ID_LEN,
					consume, NULL);
		if (ret) {
			/* Named twice: its MAC was made by a broken sender. */
			++stats->bad_frame;
			NL_SET_ERR_MSG(extack, "frame names a link key twice");
			qkdn_link_update(node, link);
			return -EBADMSG;
		}
	}
	link->kx_rx_seq = kx->seq;
	++stats->frames_rx;
	stats->link_keys_used += kx->link_keys;
	qkdn_link_update(node, link);
	return 0;
}

/* Decrypts a RELAY frame's keys into fresh relayed-key objects. */
static int kx_open_keys(struct qkdn_node *node, const struct qkdn_kx *kx,
			const u8 *pad, struct qkdn_relayed_key **keys)
{
	u16 i;

	for (i = 0; i < kx->count; ++i) {
		const struct qkdn_kx_entry *entry =
			(const void *)(kx->entries + i * kx->entry_len);
		const u8 *key_pad = pad + QKDN_KX_MAC_KEY_LEN + i * kx->key_len;
		struct qkdn_relayed_key *key = relayed_alloc(kx->key_len);

		if (!key)
			return -ENOMEM;
		keys[i] = key;
		memcpy(key->id, entry->id, QKDN_KEY_ID_LEN);
		key->created = be64_to_cpu(entry->created);
		key->relayed = kx->timestamp;
		key->relay_id = kx->relay_id;
		key->source = kx->source;
		key->dest = kx->dest;
		key->method = QKDN_KX_OTP_POLY1305;
		if (kx->hops)
			crypto_xor_cpy(key->data, entry->ciphertext, key_pad,
				       kx->key_len);
		else
			memcpy(key->data, key_pad, kx->key_len);
	}
	return 0;
}

static struct qkdn_link *link_holding(struct qkdn_node *node, u32 peer,
				      const u8 *id, bool *any)
{
	struct qkdn_link *link;
	unsigned long index;

	*any = false;
	xa_for_each(&node->links, index, link) {
		if (link->peer_node != peer)
			continue;
		*any = true;
		if (qkdn_pool_has_id(&link->pool, id))
			return link;
	}
	return NULL;
}

static int kx_dispatch(struct qkdn_node *node, const struct qkdn_kx *kx,
		       const u8 *pad, struct netlink_ext_ack *extack)
{
	struct qkdn_relayed_key *keys[QKDN_RELAY_KEYS_MAX] = {};
	struct kx_out out = {
		.type = kx->type,
		.source = kx->source,
		.dest = kx->dest,
		.relay_id = kx->relay_id,
		.hops = kx->hops + 1,
		.count = kx->count,
		.key_len = kx->key_len,
	};
	struct qkdn_relay *relay;
	int ret = 0;
	u16 i;

	if (kx->type == QKDN_KX_RELAY) {
		ret = kx_open_keys(node, kx, pad, keys);
		out.keys = keys;
		if (!ret && kx->dest == node->id)
			ret = relay_arrived(node, kx, keys);
		else if (!ret)
			ret = kx_send(node, &out, extack);
		for (i = 0; i < kx->count; ++i)
			qkdn_relayed_free(node, NULL, keys[i]);
	} else if (kx->dest != node->id) {
		if (qkdn_kx_is_sync(kx->type))
			out.entries = kx->entries;
		ret = kx_send(node, &out, extack);
	} else if (kx->type == QKDN_KX_ACK) {
		relay = relay_find(node, kx->relay_id, kx->source);
		if (relay && relay->legs)
			multicast_acked(node, relay, kx->relay_id, kx->source);
		else if (relay)
			relay_complete(node, relay);
	} else if (kx->type == QKDN_KX_ABORT) {
		relay_aborted(node, kx->source, kx->relay_id);
	} else if (kx->type == QKDN_KX_SYNC) {
		ret = qkdn_ksa_arrived(node, kx);
	} else {
		qkdn_ksa_answered(node, kx);
	}
	if (kx->dest != node->id) {
		if (ret)
			++node->relay_stats.unroutable;
		else
			++node->relay_stats.forwarded;
	}
	return ret;
}

/*
 * For KSA synchronisation (ksa.c): the link a SYNC of @count entries for
 * @dest would leave on, if it can leave now.
 */
struct qkdn_link *qkdn_kx_sync_route(struct qkdn_node *node, u32 dest,
				     u16 count, struct netlink_ext_ack *extack)
{
	struct kx_out out = {
		.type = QKDN_KX_SYNC,
		.dest = dest,
		.count = count,
	};
	u16 link_keys;

	return kx_route(node, &out, &link_keys, extack);
}

/* Sends a SYNC or SYNC_ACK with its entries, ready made. */
int qkdn_kx_send_sync(struct qkdn_node *node, u8 type, u32 dest, u64 id,
		      const u8 *entries, u16 count,
		      struct netlink_ext_ack *extack)
{
	struct kx_out out = {
		.type = type,
		.source = node->id,
		.dest = dest,
		.relay_id = id,
		.entries = entries,
		.count = count,
	};

	return kx_send(node, &out, extack);
}

/* Whether a link to @from has accepted a frame numbered @seq or later. */
static bool kx_seen(struct qkdn_node *node, u32 from, u64 seq)
{
	struct qkdn_link *link;
	unsigned long index;

	xa_for_each(&node->links, index, link)
		if (link->peer_node == from && seq <= link->kx_rx_seq)
			return true;
	return false;
}

int qkdn_kx_receive(struct qkdn_node *node, u32 from, const u8 *frame,
		    size_t len, struct netlink_ext_ack *extack)
{
	struct qkdn_relay_stats *stats = &node->relay_stats;
	struct qkdn_link *link;
	struct qkdn_kx kx;
	size_t pad_len;
	bool any;
	u8 *pad;
	int ret;

	ret = qkdn_kx_parse(frame, len, &kx);
	if (!ret && (kx.hop_from != from || kx.hop_to != node->id ||
		     !node->id))
		ret = -EBADMSG;
	if (ret) {
		++stats->bad_frame;
		NL_SET_ERR_MSG(extack, "malformed frame, or not from that neighbour to this node");
		return ret;
	}
	link = link_holding(node, from, kx.link_key_ids, &any);
	if (!any) {
		++stats->unknown_link;
		NL_SET_ERR_MSG(extack, "no link to that neighbour");
		return -ENODEV;
	}
	if (!link && kx_seen(node, from, kx.seq)) {
		/* A frame accepted before has consumed the keys it names. */
		++stats->replayed;
		NL_SET_ERR_MSG(extack, "replayed or reordered frame");
		return -EALREADY;
	}
	if (!link) {
		++stats->unknown_key;
		NL_SET_ERR_MSG(extack, "frame names link keys not held here");
		return -ENOKEY;
	}
	if (kx.link_keys != qkdn_kx_link_keys(link->pool.unit, kx.count,
					      kx.key_len)) {
		++stats->bad_frame;
		NL_SET_ERR_MSG(extack, "wrong number of link keys for the frame");
		return -EBADMSG;
	}
	if (kx.seq <= link->kx_rx_seq) {
		++stats->replayed;
		NL_SET_ERR_MSG(extack, "replayed or reordered frame");
		return -EALREADY;
	}
	pad_len = (size_t)kx.link_keys * link->pool.unit;
	pad = kx_scratch(node, QKDN_KX_RX_PAD, pad_len);
	if (!pad)
		return -ENOMEM;
	ret = kx_verify(node, &kx, link, pad, extack);
	if (!ret)
		ret = kx_dispatch(node, &kx, pad, extack);
	memzero_explicit(pad, pad_len);
	return ret;
}

void qkdn_relay_node_init(struct qkdn_node *node)
{
	xa_init(&node->routes);
	xa_init(&node->stores);
	hash_init(node->relayed);
	INIT_LIST_HEAD(&node->relays);
	INIT_LIST_HEAD(&node->syncs);
	node->relay_timeout_ms = QKDN_RELAY_TIMEOUT_MS_DEFAULT;
}

void qkdn_relay_node_exit(struct qkdn_node *node)
{
	struct qkdn_relayed_key *key, *tmp;
	struct qkdn_relay *relay, *next;
	struct qkdn_store *store;
	unsigned long index;
	int i;

	list_for_each_entry_safe(relay, next, &node->relays, list) {
		list_del(&relay->list);
		qkdn_relay_put(relay);
	}
	qkdn_ksa_node_exit(node);
	xa_for_each(&node->stores, index, store) {
		list_for_each_entry_safe(key, tmp, &store->own, list)
			qkdn_relayed_free(node, store, key);
		list_for_each_entry_safe(key, tmp, &store->peer_keys, list)
			qkdn_relayed_free(node, store, key);
		kfree(store);
		qkdn_objects_dec();
	}
	xa_destroy(&node->stores);
	xa_destroy(&node->routes);
	for (i = 0; i < QKDN_KX_SCRATCH_BUFS; ++i)
		kvfree(node->kx_scratch[i]);
}
