/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Ak key supply sessions (seed 000 clause 7.2.1): an application
 * authenticates as its SAE towards a peer SAE, then takes and deletes keys
 * within the session. The commands are documented in
 * include/uapi/linux/qkdn.h; Documentation/ak.rst maps each item of the
 * seed's Tables 7-2..7-7 to its attribute.
 */
#ifndef _QKDN_AK_H
#define _QKDN_AK_H

#include <linux/hashtable.h>
#include <linux/types.h>

struct genl_info;
struct qkdn_node;
struct sk_buff;

/**
 * struct qkdn_ak - the Ak sessions of one node, under its lock
 * @sessions: struct qkdn_ak_session by session ID
 * @count: entries in @sessions, at most QKDN_AK_SESSIONS_MAX; read
 *	without the lock only to skip sockets that cannot own any
 */
struct qkdn_ak {
	DECLARE_HASHTABLE(sessions, 7);
	u32 count;
};

void qkdn_ak_node_init(struct qkdn_node *node);
void qkdn_ak_node_exit(struct qkdn_node *node);

int qkdn_ak_init(void);
void qkdn_ak_uninit(void);

int qkdn_ak_nl_auth(struct sk_buff *skb, struct genl_info *info);
int qkdn_ak_nl_key(struct sk_buff *skb, struct genl_info *info);
int qkdn_ak_nl_del(struct sk_buff *skb, struct genl_info *info);

#endif /* _QKDN_AK_H */
