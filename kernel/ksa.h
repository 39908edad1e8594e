/* SPDX-License-Identifier: GPL-2.0 */
/*
 * KSA synchronisation (Kx-2, seed 000 clause 7.1.5), ahead of supply and
 * in batches: see ksa.c and Documentation/key-pool.rst.
 */

#ifndef _QKDN_KSA_H
#define _QKDN_KSA_H

#include <linux/completion.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/netlink.h>
#include <linux/types.h>

struct qkdn_node;
struct qkdn_link;
struct qkdn_store;
struct qkdn_kx;

/*
 * The verified stock below which a batch starts, and the keys it checks:
 * the initial value, which grows (ksa.c, src_grow()).
 */
#define QKDN_KSA_LOW	128

/**
 * struct qkdn_sync - a batch of keys this node asked a peer's node to
 *	check, until it answers or the batch expires
 * @list: in qkdn_node.syncs
 * @ref: the node's list holds one, and each waiting request one
 * @done: completed (for all waiters) when the batch ends
 * @id: names it in the frames, as a relay ID does
 * @peer: the node asked
 * @link_id: the link whose encrypting half the keys are of, or 0 when
 *	they are of the store of keys relayed to @peer
 * @deadline: jiffies after which the batch is given up
 * @grew: a request found the stock used up while this batch was on its
 *	way; the stock has doubled for it
 * @result: -EINPROGRESS, then 0, -EKEYREJECTED, -ETIMEDOUT or -ENOLINK
 *	(the link went away)
 * @count: keys checked
 * @ids: their IDs
 */
struct qkdn_sync {
	struct list_head list;
	struct kref ref;
	struct completion done;
	u64 id;
	u32 peer;
	u32 link_id;
	unsigned long deadline;
	bool grew;
	int result;
	u32 count;
	u8 ids[];
};

int qkdn_ksa_link_wait(struct qkdn_node *node, u32 link_id, u32 amount,
		       bool nowait, struct netlink_ext_ack *extack);
int qkdn_ksa_store_wait(struct qkdn_node *node, u32 peer, u32 amount,
			bool nowait, struct netlink_ext_ack *extack);
void qkdn_ksa_link_refill(struct qkdn_node *node, struct qkdn_link *link);
void qkdn_ksa_store_refill(struct qkdn_node *node, struct qkdn_store *store);
void qkdn_ksa_link_gone(struct qkdn_node *node, struct qkdn_link *link);
void qkdn_ksa_node_exit(struct qkdn_node *node);

int qkdn_ksa_arrived(struct qkdn_node *node, const struct qkdn_kx *kx);
void qkdn_ksa_answered(struct qkdn_node *node, const struct qkdn_kx *kx);

void qkdn_sync_put(struct qkdn_sync *sync);

#endif /* _QKDN_KSA_H */
