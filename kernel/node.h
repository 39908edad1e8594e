/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _QKDN_NODE_H
#define _QKDN_NODE_H

#include <linux/hashtable.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/netlink.h>
#include <linux/uidgid.h>
#include <linux/xarray.h>
#include <net/net_namespace.h>
#include <uapi/linux/qkdn.h>

#include "pool.h"
#include "relay.h"
#include "ak.h"

/**
 * struct qkdn_link - a KMA link to a neighbour node and its key pool
 * @id: link ID, unique in the node
 * @peer_node: the neighbour's node ID
 * @role: enum qkdn_link_role of this node's QKD module
 * @module: this node's QKD module ID
 * @peer_module: the matching QKD module ID
 * @pool: the keys
 * @alarms: QKDN_POOL_* conditions last reported on the alarm group
 * @rate_stamp: jiffies of the last rate sample
 * @rate_generated: pool counter at @rate_stamp
 * @rate_consumed: pool counter at @rate_stamp
 * @gen_rate: KMA-keys generated per second over the last sample
 * @cons_rate: keys consumed per second over the last sample
 * @kx_tx_seq: sequence number of the last relay frame sent on the link
 * @kx_rx_seq: sequence number of the last relay frame accepted from it
 * @qkd_state: enum qkdn_qkd_state, as the QKD driver last reported it
 * @qkd_key_rate: secret key rate it reported, bit/s
 * @qkd_qber: QBER it reported, parts per million
 * @qkd_updated: when it reported, ns since the epoch
 * @ksa_batch: the KSA synchronisation of this pool's keys in flight, if any
 * @ksa_low: the verified stock it keeps (ksa.c), 0 until the first batch
 */
struct qkdn_link {
	u32 id;
	u32 peer_node;
	u8 role;
	char module[QKDN_ID_MAXLEN];
	char peer_module[QKDN_ID_MAXLEN];
	struct qkdn_pool pool;
	unsigned int alarms;
	unsigned long rate_stamp;
	u64 rate_generated;
	u64 rate_consumed;
	u64 gen_rate;
	u64 cons_rate;
	u64 kx_tx_seq;
	u64 kx_rx_seq;
	u8 qkd_state;
	u64 qkd_key_rate;
	u32 qkd_qber;
	u64 qkd_updated;
	struct qkdn_sync *ksa_batch;
	u32 ksa_low;
};

/**
 * struct qkdn_app - a registered application (SAE)
 * @list: in qkdn_node.apps
 * @sae: SAE ID
 * @node: the node the SAE is attached to
 * @uid: for a local SAE, the uid allowed to act as it
 * @supplied: keys supplied to it here
 */
struct qkdn_app {
	struct list_head list;
	char sae[QKDN_ID_MAXLEN];
	u32 node;
	kuid_t uid;
	u64 supplied;
};

/**
 * struct qkdn_node - the QKD node of one network namespace
 * @net: its namespace
 * @lock: serialises everything below, the pools included
 * @id: KM and KMA ID; 0 until the admin sets it
 * @name: human-readable name
 * @keyring_ttl: seconds a keyring key lives, 0 for ever
 * @links: struct qkdn_link by link ID
 * @link_count: entries in @links
 * @apps: struct qkdn_app, in registration order
 * @app_count: entries in @apps
 * @generation: bumped whenever a link, application or route comes or
 *	goes, so dumps can tell they were interrupted
 * @routes: next hop node ID (as an xarray value) by destination node ID
 * @route_count: entries in @routes
 * @stores: struct qkdn_store by remote node ID
 * @relayed: struct qkdn_relayed_key of every store, by key ID
 * @relays: struct qkdn_relay this node started, awaiting acknowledgment
 * @syncs: struct qkdn_sync this node started, awaiting an answer
 * @relay_timeout_ms: how long a relay or a KSA synchronisation waits
 * @ksa_sync: check keys with the peer's node before supplying them
 * @relay_stats: relay counters
 * @kx_scratch: buffers for building and opening frames (relay.c)
 * @ak: Ak key supply sessions (ak.c)
 */
struct qkdn_node {
	struct net *net;
	struct mutex lock; /* the node's state and all its pools */
	u32 id;
	char name[QKDN_ID_MAXLEN];
	u32 keyring_ttl;
	struct xarray links;
	u32 link_count;
	struct list_head apps;
	u32 app_count;
	unsigned int generation;
	struct xarray routes;
	u32 route_count;
	struct xarray stores;
	DECLARE_HASHTABLE(relayed, 8);
	struct list_head relays;
	struct list_head syncs;
	u32 relay_timeout_ms;
	bool ksa_sync;
	struct qkdn_relay_stats relay_stats;
	void *kx_scratch[QKDN_KX_SCRATCH_BUFS];
	struct qkdn_ak ak;
};

struct qkdn_link_config {
	u32 id;
	u32 peer_node;
	u8 role;
	const char *module;
	const char *peer_module;
	u32 unit;
	u32 capacity;
	u32 low;
	u32 high;
};

struct qkdn_node *qkdn_node_of(struct net *net);
int qkdn_node_register(void);
void qkdn_node_unregister(void);

struct qkdn_link *qkdn_link_find(struct qkdn_node *node, u32 id);
int qkdn_link_add(struct qkdn_node *node, const struct qkdn_link_config *cfg,
		  struct netlink_ext_ack *extack);
void qkdn_link_del(struct qkdn_node *node, struct qkdn_link *link);
void qkdn_link_update(struct qkdn_node *node, struct qkdn_link *link);

struct qkdn_app *qkdn_app_find(struct qkdn_node *node, const char *sae);
int qkdn_app_add(struct qkdn_node *node, const char *sae, u32 node_id,
		 kuid_t uid, struct netlink_ext_ack *extack);
void qkdn_app_del(struct qkdn_node *node, struct qkdn_app *app);

/**
 * struct qkdn_supply - one key supply request (Ak), from netlink or keyring
 * @sae: the local SAE asking
 * @peer_sae: the remote SAE to share the keys with
 * @caller: effective uid of the caller
 * @size_bits: requested key size, 0 for the link's unit
 * @prepare: called once the request is known to succeed, before any key
 *	is taken, with the number of keys and their total length; an error
 *	it returns fails the request with nothing taken
 * @visit: called for each key supplied; the bytes are wiped after it
 * @ctx: passed to @prepare and @visit
 * @link_id: set to the link the keys came from
 * @extack: where to say what went wrong, may be NULL
 * @nowait: with KSA synchronisation, EINPROGRESS rather than a wait for
 *	a batch when there are too few verified keys
 */
struct qkdn_supply {
	const char *sae;
	const char *peer_sae;
	kuid_t caller;
	u32 size_bits;
	int (*prepare)(void *ctx, u32 count, u32 bytes);
	qkdn_pool_visit_t visit;
	void *ctx;
	u32 link_id;
	struct netlink_ext_ack *extack;
	bool nowait;
};

int qkdn_supply_new(struct qkdn_node *node, struct qkdn_supply *req,
		    u32 amount);
int qkdn_supply_by_id(struct qkdn_node *node, struct qkdn_supply *req,
		      const u8 *ids, u32 count, bool delete);

/* For Ak sessions (ak.c): the checks and the link of KEY_GET. */
int qkdn_supply_check(struct qkdn_node *node, struct qkdn_supply *req,
		      struct qkdn_app **app);
struct qkdn_link *qkdn_supply_link(struct qkdn_node *node, u32 peer_node);
u64 qkdn_supply_link_avail(struct qkdn_node *node, struct qkdn_link *link);
int qkdn_supply_multicast(struct qkdn_node *node, struct qkdn_supply *req,
			  const char *const *more, u32 n_more, u32 amount,
			  u32 len);

#endif /* _QKDN_NODE_H */
