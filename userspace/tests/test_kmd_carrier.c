// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * qkdn-kmd's local fault detection, the pure half (kmd/carrier.c): which
 * interface flags mean a neighbour is cut off, rtnetlink link events and
 * route lookups built and parsed. peer.c's use of them (a neighbour
 * taken down at once) is proven in the VM by selftests/ctl_mesh.test.sh.
 *
 * carrier.c needs only libmnl, so it is compiled in here rather than
 * through a test_kmd_carrier_SRCS line in the Makefile.
 */
#include "../kmd/carrier.c"

#include <arpa/inet.h>
#include <stdalign.h>

#include "tap.h"

static alignas(struct nlmsghdr) char buf[4096];

static struct nlmsghdr *link_msg(uint16_t type, int index, unsigned int flags, const char *name)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifinfomsg *ifi;

	nlh->nlmsg_type = type;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = index;
	ifi->ifi_flags = flags;
	ifi->ifi_change = 0xffffffff;
	mnl_attr_put_u32(nlh, IFLA_MTU, 1500);
	if (name)
		mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	return nlh;
}

static void test_flags(void)
{
	const unsigned int working = IFF_UP | IFF_RUNNING | IFF_LOWER_UP;

	ok(!kmd_carrier_lost(working), "up, running, carrier: working");
	ok(!kmd_carrier_lost(working | IFF_BROADCAST | IFF_MULTICAST), "other flags do not matter");
	ok(kmd_carrier_lost(IFF_UP | IFF_BROADCAST), "up without carrier (the veth's peer is down): lost");
	ok(kmd_carrier_lost(IFF_UP | IFF_LOWER_UP), "carrier but not running (dormant): lost");
	ok(kmd_carrier_lost(IFF_RUNNING | IFF_LOWER_UP), "administratively down: lost");
	ok(kmd_carrier_lost(0), "no flags: lost");
}

static void test_link(void)
{
	struct kmd_link_event ev;
	struct nlmsghdr *nlh;

	nlh = link_msg(RTM_NEWLINK, 7, IFF_UP | IFF_RUNNING | IFF_LOWER_UP, "veth-n2");
	ok(kmd_carrier_parse_link(nlh, &ev) == 0 && ev.ifindex == 7 && !ev.lost && !ev.gone &&
	   strcmp(ev.name, "veth-n2") == 0, "RTM_NEWLINK up: index 7, veth-n2, not lost");
	nlh = link_msg(RTM_NEWLINK, 7, IFF_UP, "veth-n2");
	ok(kmd_carrier_parse_link(nlh, &ev) == 0 && ev.ifindex == 7 && ev.lost && !ev.gone &&
	   ev.flags == IFF_UP, "RTM_NEWLINK without carrier: lost, flags kept");
	nlh = link_msg(RTM_DELLINK, 9, IFF_UP | IFF_RUNNING | IFF_LOWER_UP, NULL);
	ok(kmd_carrier_parse_link(nlh, &ev) == 0 && ev.ifindex == 9 && ev.lost && ev.gone &&
	   strcmp(ev.name, "if9") == 0, "RTM_DELLINK: gone and lost whatever its flags; no name: if9");
	nlh = link_msg(RTM_NEWROUTE, 7, 0, NULL);
	ok(kmd_carrier_parse_link(nlh, &ev) == -EINVAL, "not a link message: -EINVAL");
	nlh = link_msg(RTM_NEWLINK, 0, 0, NULL);
	ok(kmd_carrier_parse_link(nlh, &ev) == -EINVAL, "interface index 0: -EINVAL");
	nlh = link_msg(RTM_NEWLINK, 7, 0, NULL);
	nlh->nlmsg_len = mnl_nlmsg_size(sizeof(struct ifinfomsg)) - 4;
	ok(kmd_carrier_parse_link(nlh, &ev) == -EINVAL, "truncated ifinfomsg: -EINVAL");
	nlh = link_msg(RTM_NEWLINK, 7, IFF_UP | IFF_RUNNING | IFF_LOWER_UP, "veth-n2");
	((struct nlattr *)((char *)mnl_nlmsg_get_payload(nlh) + sizeof(struct ifinfomsg)))->nla_len = 200;
	ok(kmd_carrier_parse_link(nlh, &ev) == 0 && ev.ifindex == 7 && !ev.lost &&
	   strcmp(ev.name, "if7") == 0,
	   "attribute overrunning the message: the rest skipped, flags still read, name if7");
}

static void test_route_request(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
	struct sockaddr sun = { .sa_family = AF_UNIX };
	struct nlmsghdr *nlh;
	struct rtmsg *rtm;
	struct nlattr *a;

	inet_pton(AF_INET, "10.0.12.2", &sin.sin_addr);
	nlh = kmd_carrier_route_request(buf, sizeof(buf), (struct sockaddr *)&sin, 42);
	rtm = nlh ? mnl_nlmsg_get_payload(nlh) : NULL;
	a = nlh ? (struct nlattr *)((char *)rtm + sizeof(*rtm)) : NULL;
	ok(nlh && nlh->nlmsg_type == RTM_GETROUTE && nlh->nlmsg_seq == 42 &&
	   (nlh->nlmsg_flags & NLM_F_REQUEST) && rtm->rtm_family == AF_INET &&
	   rtm->rtm_dst_len == 32 && mnl_attr_get_type(a) == RTA_DST &&
	   mnl_attr_get_payload_len(a) == 4 && memcmp(mnl_attr_get_payload(a), &sin.sin_addr, 4) == 0,
	   "IPv4: RTM_GETROUTE, /32, RTA_DST 10.0.12.2");
	inet_pton(AF_INET6, "fd00::2", &sin6.sin6_addr);
	nlh = kmd_carrier_route_request(buf, sizeof(buf), (struct sockaddr *)&sin6, 43);
	rtm = nlh ? mnl_nlmsg_get_payload(nlh) : NULL;
	a = nlh ? (struct nlattr *)((char *)rtm + sizeof(*rtm)) : NULL;
	ok(nlh && rtm->rtm_family == AF_INET6 && rtm->rtm_dst_len == 128 &&
	   mnl_attr_get_payload_len(a) == 16 && memcmp(mnl_attr_get_payload(a), &sin6.sin6_addr, 16) == 0,
	   "IPv6: /128, RTA_DST fd00::2");
	ok(!kmd_carrier_route_request(buf, sizeof(buf), &sun, 44), "AF_UNIX: no request");
	ok(!kmd_carrier_route_request(buf, 64, (struct sockaddr *)&sin, 45), "buffer too small: no request");
}

static struct nlmsghdr *route_msg(uint16_t type, bool with_oif, uint16_t oif_len)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct rtmsg *rtm;
	uint32_t gw = htonl(0x0a000c02);

	nlh->nlmsg_type = type;
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = AF_INET;
	rtm->rtm_dst_len = 32;
	mnl_attr_put(nlh, RTA_DST, 4, &gw);
	if (with_oif && oif_len == 4)
		mnl_attr_put_u32(nlh, RTA_OIF, 5);
	else if (with_oif)
		mnl_attr_put(nlh, RTA_OIF, oif_len, "\x05\x00\x00\x00\x00\x00\x00\x00");
	return nlh;
}

static void test_route_answer(void)
{
	uint32_t oif = 99;

	ok(kmd_carrier_parse_route(route_msg(RTM_NEWROUTE, true, 4), &oif) == 0 && oif == 5,
	   "RTM_NEWROUTE with RTA_OIF 5: interface 5");
	ok(kmd_carrier_parse_route(route_msg(RTM_NEWROUTE, false, 0), &oif) == -ENOENT && oif == 0,
	   "no RTA_OIF: -ENOENT, interface 0");
	ok(kmd_carrier_parse_route(route_msg(RTM_NEWROUTE, true, 2), &oif) == -ENOENT && oif == 0,
	   "RTA_OIF of 2 bytes is not taken: -ENOENT");
	ok(kmd_carrier_parse_route(route_msg(RTM_NEWLINK, true, 4), &oif) == -EINVAL,
	   "not a route message: -EINVAL");
}

int main(void)
{
	test_flags();
	test_link();
	test_route_request();
	test_route_answer();
	return tap_done();
}
