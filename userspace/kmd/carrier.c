// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Local fault detection, the pure half: rtnetlink messages in, decisions
 * out. peer.c owns the sockets and acts on them (see kmd.h).
 *
 * A KM attached to a fibre knows at once when its own end of the link
 * fails; the Kx keep-alive (three keepalive-ms of silence) only has to
 * catch faults further away. So each Kx neighbour's output interface is
 * learnt from the kernel's route to its address (RTM_GETROUTE, when a
 * connection to it comes up), and an RTM_NEWLINK/RTM_DELLINK for that
 * interface saying it is down, without carrier (IFF_LOWER_UP) or not
 * operational (IFF_RUNNING), or gone, takes the neighbour down on the
 * spot.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <linux/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>

#include "kmd.h"

bool kmd_carrier_lost(unsigned int flags)
{
	const unsigned int need = IFF_UP | IFF_RUNNING | IFF_LOWER_UP;

	return (flags & need) != need;
}

static int link_attr_cb(const struct nlattr *attr, void *data)
{
	struct kmd_link_event *ev = data;

	if (mnl_attr_get_type(attr) == IFLA_IFNAME && mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0)
		snprintf(ev->name, sizeof(ev->name), "%s", mnl_attr_get_str(attr));
	return MNL_CB_OK;
}

int kmd_carrier_parse_link(const struct nlmsghdr *nlh, struct kmd_link_event *ev)
{
	const struct ifinfomsg *ifi;

	memset(ev, 0, sizeof(*ev));
	if ((nlh->nlmsg_type != RTM_NEWLINK && nlh->nlmsg_type != RTM_DELLINK) ||
	    nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*ifi)))
		return -EINVAL;
	ifi = mnl_nlmsg_get_payload(nlh);
	if (ifi->ifi_index <= 0)
		return -EINVAL;
	ev->ifindex = (uint32_t)ifi->ifi_index;
	ev->flags = ifi->ifi_flags;
	ev->gone = nlh->nlmsg_type == RTM_DELLINK;
	ev->lost = ev->gone || kmd_carrier_lost(ifi->ifi_flags);
	if (mnl_attr_parse(nlh, sizeof(*ifi), link_attr_cb, ev) < 0)
		return -EINVAL;
	if (!ev->name[0])
		snprintf(ev->name, sizeof(ev->name), "if%u", ev->ifindex);
	return 0;
}

struct nlmsghdr *kmd_carrier_route_request(void *buf, size_t size, const struct sockaddr *dst,
					   uint32_t seq)
{
	struct nlmsghdr *nlh;
	struct rtmsg *rtm;

	if (size < 256 ||
	    (dst->sa_family != AF_INET && dst->sa_family != AF_INET6))
		return NULL;
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETROUTE;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	nlh->nlmsg_seq = seq;
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = dst->sa_family;
	if (dst->sa_family == AF_INET) {
		rtm->rtm_dst_len = 32;
		mnl_attr_put(nlh, RTA_DST, sizeof(struct in_addr),
			     &((const struct sockaddr_in *)dst)->sin_addr);
	} else {
		rtm->rtm_dst_len = 128;
		mnl_attr_put(nlh, RTA_DST, sizeof(struct in6_addr),
			     &((const struct sockaddr_in6 *)dst)->sin6_addr);
	}
	return nlh;
}

static int route_attr_cb(const struct nlattr *attr, void *data)
{
	uint32_t *oif = data;

	if (mnl_attr_get_type(attr) == RTA_OIF && mnl_attr_validate(attr, MNL_TYPE_U32) == 0)
		*oif = mnl_attr_get_u32(attr);
	return MNL_CB_OK;
}

int kmd_carrier_parse_route(const struct nlmsghdr *nlh, uint32_t *oif)
{
	*oif = 0;
	if (nlh->nlmsg_type != RTM_NEWROUTE ||
	    nlh->nlmsg_len < mnl_nlmsg_size(sizeof(struct rtmsg)))
		return -EINVAL;
	if (mnl_attr_parse(nlh, sizeof(struct rtmsg), route_attr_cb, oif) < 0)
		return -EINVAL;
	return *oif ? 0 : -ENOENT;
}
