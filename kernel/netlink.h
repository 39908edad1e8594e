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

#endif /* _QKDN_NETLINK_H */
