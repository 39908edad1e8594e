/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _QKDN_NETLINK_H
#define _QKDN_NETLINK_H

#include <uapi/linux/qkdn.h>

struct qkdn_node;
struct qkdn_link;

int qkdn_netlink_init(void);
void qkdn_netlink_uninit(void);
void qkdn_netlink_alarm(struct qkdn_node *node, struct qkdn_link *link,
			enum qkdn_alarm alarm);

#endif /* _QKDN_NETLINK_H */
