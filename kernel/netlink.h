/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _QKDN_NETLINK_H
#define _QKDN_NETLINK_H

#include <linux/types.h>
#include <uapi/linux/qkdn.h>

struct qkdn_node;
struct qkdn_link;
struct qkdn_relay;

int qkdn_netlink_init(void);
void qkdn_netlink_uninit(void);
void qkdn_netlink_alarm(struct qkdn_node *node, struct qkdn_link *link,
			enum qkdn_alarm alarm);
void qkdn_netlink_kx(struct qkdn_node *node, u32 next_hop, const u8 *frame,
		     size_t len);
void qkdn_netlink_ksa_mismatch(struct qkdn_node *node, u32 peer);
void qkdn_netlink_relay_failed(struct qkdn_node *node,
			       struct qkdn_relay *relay);

struct genl_info;
struct nlattr;
struct qkdn_pool_key;
struct sk_buff;

/**
 * struct qkdn_supply_reply - a reply carrying keys, under construction:
 *	the ctx of qkdn_supply_reply_prepare() and qkdn_supply_reply_key()
 *	as the prepare and visit callbacks of a struct qkdn_supply
 * @info: the request; set by the caller
 * @msg: the reply, wiped when the networking core frees it
 * @hdr: its genetlink header
 * @keys: the QKDN_A_KEYS nest
 * @extra: room for attributes the caller adds after the keys, bytes
 * @cmd: the reply's command; set by the caller
 */
struct qkdn_supply_reply {
	struct genl_info *info;
	struct sk_buff *msg;
	void *hdr;
	struct nlattr *keys;
	size_t extra;
	u8 cmd;
};

int qkdn_supply_reply_prepare(void *ctx, u32 count, u32 bytes);
int qkdn_supply_reply_key(void *ctx, const struct qkdn_pool_key *key);
/* Closes the keys, adds QKDN_A_LINK_ID; frees the reply on failure. */
int qkdn_supply_reply_end(struct qkdn_supply_reply *reply, u32 link_id);
/* Frees a reply that was not sent, wiping it. */
void qkdn_supply_reply_free(struct qkdn_supply_reply *reply);

const char *qkdn_netlink_id(struct genl_info *info, int attr);
u8 *qkdn_netlink_key_ids(struct genl_info *info, u32 *count);
/* A reply to @info with room for @size bytes of attributes. */
struct sk_buff *qkdn_netlink_reply_new(struct genl_info *info, size_t size,
				       void **hdr);

#endif /* _QKDN_NETLINK_H */
