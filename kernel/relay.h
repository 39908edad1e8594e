/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _QKDN_RELAY_H
#define _QKDN_RELAY_H

#include <linux/completion.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/netlink.h>
#include <linux/types.h>
#include <uapi/linux/qkdn.h>

struct qkdn_node;
struct qkdn_sync;

/*
 * Per-node buffers for frames and one-time pads (kx_scratch() in relay.c):
 * the frame being built, its pad, and the pad of a frame being opened.
 */
enum {
	QKDN_KX_TX_FRAME,
	QKDN_KX_TX_PAD,
	QKDN_KX_RX_PAD,
	QKDN_KX_SCRATCH_BUFS
};

/**
 * struct qkdn_relayed_key - a key shared with a distant node by relay, with
 *	the metadata of seed 000 Table 7-1 (3)
 * @hash: in qkdn_node.relayed, by @id
 * @list: in its store's own or peer list
 * @relay_id: the relay that brought it
 * @created: generation time of the key at the source, ns
 * @relayed: key relay time stamp of the last hop, ns
 * @source: source KMA (node) of the relay
 * @dest: destination KMA (node) of the relay
 * @method: enum qkdn_kx_method
 * @own: this node started the relay; it hands the key out with GET_KEY
 * @verified: KSA synchronisation checked it with the other end (ksa.c)
 * @id: KMA-key ID
 * @len: bytes of @data
 * @data: the key
 */
struct qkdn_relayed_key {
	struct hlist_node hash;
	struct list_head list;
	u64 relay_id;
	u64 created;
	u64 relayed;
	u32 source;
	u32 dest;
	u8 method;
	bool own;
	bool verified;
	u8 id[QKDN_KEY_ID_LEN];
	u32 len;
	u8 data[];
};

/**
 * struct qkdn_store - keys shared with one distant node
 * @peer: the distant node
 * @own: keys this node relayed there, oldest first
 * @peer_keys: keys the distant node relayed here, taken by ID
 * @own_available: entries in @own
 * @peer_stored: entries in @peer_keys
 * @relayed_out: keys relayed there and acknowledged
 * @relayed_in: keys relayed from there
 * @consumed: keys supplied from this store
 * @deleted: keys wiped on request or abort
 * @own_verified: of @own_available, verified with the distant node
 * @peer_verified: of @peer_stored, verified by the distant node
 * @ksa_batch: the KSA synchronisation of @own keys in flight, if any
 * @ksa_low: the verified stock it keeps (ksa.c), 0 until the first batch
 */
struct qkdn_store {
	u32 peer;
	struct list_head own;
	struct list_head peer_keys;
	u64 own_available;
	u64 peer_stored;
	u64 relayed_out;
	u64 relayed_in;
	u64 consumed;
	u64 deleted;
	u64 own_verified;
	u64 peer_verified;
	struct qkdn_sync *ksa_batch;
	u32 ksa_low;
};

struct qkdn_relay_stats {
	u64 started;
	u64 completed;
	u64 failed;
	u64 received;
	u64 forwarded;
	u64 frames_tx;
	u64 frames_rx;
	u64 bad_frame;
	u64 bad_mac;
	u64 replayed;
	u64 unknown_link;
	u64 unknown_key;
	u64 unroutable;
	u64 link_keys_used;
	u64 sync_ok;
	u64 sync_mismatch;
	u64 sync_timeout;
	u64 sync_batches;
	u64 sync_waits;
};

/**
 * struct qkdn_relay_leg - one destination of a multicast relay
 * @id: the leg's relay ID, in its frames, its ACK and its ABORT
 * @dest: the node of one slave SAE
 * @acked: its ACK arrived
 */
struct qkdn_relay_leg {
	u64 id;
	u32 dest;
	bool acked;
};

/**
 * struct qkdn_relay - a relay this node started, until it is acknowledged
 *	or abandoned
 * @list: in qkdn_node.relays
 * @ref: the waiting caller and the node's list hold one each
 * @done: completed on acknowledgment
 * @id: relay ID
 * @dest: destination node
 * @first_hop: the neighbour its first frame went to (unicast relays)
 * @result: -EINPROGRESS, then 0 or why it was abandoned
 * @count: keys in @keys
 * @keys: the keys, until they are stored on acknowledgment
 * @ids: their IDs, which outlive the keys' move into the store
 * @legs: a multicast relay's destinations (0: a relay to @dest alone); its
 *	keys stay in @keys for the caller, and @id and @dest are the first
 *	leg's
 * @pending: legs not yet acknowledged
 * @leg: the destinations
 * @local: copies of each key kept for slave SAEs of this node
 * @copies: those copies (@local times @count), allocated before the first
 *	frame leaves, so that nothing can fail once every leg acknowledged
 */
struct qkdn_relay {
	struct list_head list;
	struct kref ref;
	struct completion done;
	u64 id;
	u32 dest;
	u32 first_hop;
	int result;
	u32 count;
	struct qkdn_relayed_key *keys[QKDN_RELAY_KEYS_MAX];
	u8 ids[QKDN_RELAY_KEYS_MAX][QKDN_KEY_ID_LEN];
	u32 legs;
	u32 pending;
	struct qkdn_relay_leg leg[QKDN_MULTICAST_SAES_MAX];
	u32 local;
	struct qkdn_relayed_key **copies;
};

int qkdn_route_add(struct qkdn_node *node, u32 dest, u32 next_hop,
		   struct netlink_ext_ack *extack);
int qkdn_route_del(struct qkdn_node *node, u32 dest);

int qkdn_relay_start(struct qkdn_node *node, u32 dest, u32 count, u32 len,
		     u32 via, struct netlink_ext_ack *extack,
		     struct qkdn_relay **started);
int qkdn_relay_finish(struct qkdn_node *node, struct qkdn_relay *relay,
		      int wait_result);
void qkdn_relay_put(struct qkdn_relay *relay);
int qkdn_multicast_start(struct qkdn_node *node, const u32 *dests, u32 n,
			 u32 count, u32 len, u32 local,
			 struct netlink_ext_ack *extack,
			 struct qkdn_relay **started);
void qkdn_multicast_keep(struct qkdn_node *node, struct qkdn_relay *relay);

int qkdn_kx_receive(struct qkdn_node *node, u32 from, const u8 *frame,
		    size_t len, struct netlink_ext_ack *extack);

struct qkdn_link *qkdn_kx_sync_route(struct qkdn_node *node, u32 dest,
				     u16 count, struct netlink_ext_ack *extack);
int qkdn_kx_send_sync(struct qkdn_node *node, u8 type, u32 dest, u64 id,
		      const u8 *entries, u16 count,
		      struct netlink_ext_ack *extack);

struct qkdn_store *qkdn_store_find(struct qkdn_node *node, u32 peer);
struct qkdn_relayed_key *qkdn_relayed_find(struct qkdn_node *node,
					   const u8 *id);
void qkdn_relayed_free(struct qkdn_node *node, struct qkdn_store *store,
		       struct qkdn_relayed_key *key);

void qkdn_relay_node_init(struct qkdn_node *node);
void qkdn_relay_node_exit(struct qkdn_node *node);

#endif /* _QKDN_RELAY_H */
