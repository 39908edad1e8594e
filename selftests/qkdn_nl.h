/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Netlink helpers shared by the C selftests: one socket per node, requests
 * that return 0 or -errno, and parsers for the replies the tests check.
 */
#ifndef QKDN_SELFTEST_NL_H
#define QKDN_SELFTEST_NL_H

#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/qkdn.h>

struct nl {
	struct mnl_socket *sk;
	uint16_t family;
	uint32_t alarm_group;
	uint32_t kx_group;
	uint32_t seq;
	char buf[1 << 17];
};

static inline int family_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nl *nl = data;
	struct nlattr *attr, *grp, *ga;

	mnl_attr_for_each(attr, nlh, sizeof(struct genlmsghdr)) {
		if (mnl_attr_get_type(attr) == CTRL_ATTR_FAMILY_ID)
			nl->family = mnl_attr_get_u16(attr);
		if (mnl_attr_get_type(attr) != CTRL_ATTR_MCAST_GROUPS)
			continue;
		mnl_attr_for_each_nested(grp, attr) {
			uint32_t id = 0;
			const char *name = NULL;

			mnl_attr_for_each_nested(ga, grp) {
				if (mnl_attr_get_type(ga) == CTRL_ATTR_MCAST_GRP_ID)
					id = mnl_attr_get_u32(ga);
				if (mnl_attr_get_type(ga) == CTRL_ATTR_MCAST_GRP_NAME)
					name = mnl_attr_get_str(ga);
			}
			if (name && !strcmp(name, QKDN_MCGRP_ALARM))
				nl->alarm_group = id;
			if (name && !strcmp(name, QKDN_MCGRP_KX))
				nl->kx_group = id;
		}
	}
	return MNL_CB_OK;
}

static inline struct nlmsghdr *msg(struct nl *nl, uint16_t type, uint8_t cmd,
			    uint16_t flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(nl->buf);
	struct genlmsghdr *g;

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	nlh->nlmsg_seq = ++nl->seq;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = cmd;
	g->version = QKDN_GENL_VERSION;
	return nlh;
}

static inline struct nlmsghdr *req(struct nl *nl, uint8_t cmd)
{
	return msg(nl, nl->family, cmd, 0);
}

/* Sends @nlh, runs @cb on replies; 0 or -errno of the kernel's answer. */
static inline int talk(struct nl *nl, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	unsigned int portid = mnl_socket_get_portid(nl->sk);
	uint32_t seq = nlh->nlmsg_seq;
	int ret;

	if (mnl_socket_sendto(nl->sk, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	do {
		ret = mnl_socket_recvfrom(nl->sk, nl->buf, sizeof(nl->buf));
		if (ret <= 0)
			return -errno;
		ret = mnl_cb_run(nl->buf, ret, seq, portid, cb, data);
	} while (ret > 0);
	return ret < 0 ? -errno : 0;
}

static inline int nl_open(struct nl *nl)
{
	struct nlmsghdr *nlh;
	int one = 1;

	memset(nl, 0, sizeof(*nl));
	nl->sk = mnl_socket_open(NETLINK_GENERIC);
	if (!nl->sk || mnl_socket_bind(nl->sk, 0, MNL_SOCKET_AUTOPID) < 0)
		return -errno;
	mnl_socket_setsockopt(nl->sk, NETLINK_EXT_ACK, &one, sizeof(one));
	nlh = msg(nl, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 0);
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, QKDN_GENL_NAME);
	return talk(nl, nlh, family_cb, nl);
}

struct pool_stats {
	uint64_t v[QKDN_STAT_A_MAX + 1];
	int seen;
};

static inline int stats_cb(const struct nlmsghdr *nlh, void *data)
{
	struct pool_stats *st = data;
	struct nlattr *attr, *s;

	mnl_attr_for_each(attr, nlh, sizeof(struct genlmsghdr)) {
		if (mnl_attr_get_type(attr) != QKDN_A_LINK_STATS)
			continue;
		mnl_attr_for_each_nested(s, attr)
			if (mnl_attr_get_type(s) <= QKDN_STAT_A_MAX &&
			    mnl_attr_get_type(s) != QKDN_STAT_A_PAD)
				st->v[mnl_attr_get_type(s)] = mnl_attr_get_u64(s);
		st->seen++;
	}
	return MNL_CB_OK;
}

static inline int link_stats(struct nl *nl, uint32_t link, struct pool_stats *st)
{
	struct nlmsghdr *nlh = req(nl, QKDN_CMD_LINK_GET);

	memset(st, 0, sizeof(*st));
	mnl_attr_put_u32(nlh, QKDN_A_LINK_ID, link);
	return talk(nl, nlh, stats_cb, st);
}

struct keys {
	uint8_t id[1024][QKDN_KEY_ID_LEN];
	uint8_t data[1024][64];
	uint16_t len[1024];
	int n;
};

static inline int keys_cb(const struct nlmsghdr *nlh, void *data)
{
	struct keys *k = data;
	struct nlattr *attr, *key, *a;

	mnl_attr_for_each(attr, nlh, sizeof(struct genlmsghdr)) {
		if (mnl_attr_get_type(attr) != QKDN_A_KEYS)
			continue;
		mnl_attr_for_each_nested(key, attr) {
			if (k->n >= 1024)
				return MNL_CB_ERROR;
			mnl_attr_for_each_nested(a, key) {
				if (mnl_attr_get_type(a) == QKDN_KEY_A_ID)
					memcpy(k->id[k->n], mnl_attr_get_payload(a),
					       QKDN_KEY_ID_LEN);
				if (mnl_attr_get_type(a) == QKDN_KEY_A_DATA) {
					k->len[k->n] = mnl_attr_get_payload_len(a);
					if (k->len[k->n] <= 64)
						memcpy(k->data[k->n],
						       mnl_attr_get_payload(a),
						       k->len[k->n]);
				}
			}
			k->n++;
		}
	}
	return MNL_CB_OK;
}

static inline int node_set(struct nl *nl, uint32_t id)
{
	struct nlmsghdr *nlh = req(nl, QKDN_CMD_NODE_SET);

	mnl_attr_put_u32(nlh, QKDN_A_NODE_ID, id);
	mnl_attr_put_strz(nlh, QKDN_A_NODE_NAME, id == 1 ? "alpha" : "beta");
	return talk(nl, nlh, NULL, NULL);
}

static inline struct nlmsghdr *link_add_role(struct nl *nl, uint32_t id,
				      uint32_t peer, uint16_t unit, bool alice)
{
	struct nlmsghdr *nlh = req(nl, QKDN_CMD_LINK_ADD);

	mnl_attr_put_u32(nlh, QKDN_A_LINK_ID, id);
	mnl_attr_put_u32(nlh, QKDN_A_PEER_NODE_ID, peer);
	mnl_attr_put_u8(nlh, QKDN_A_LINK_ROLE,
			alice ? QKDN_ROLE_ALICE : QKDN_ROLE_BOB);
	char a[32] = "A-tx", b[32] = "B-rx";

	/* Link 1 is A-tx/B-rx; others get module pairs of their own. */
	if (id != 1) {
		snprintf(a, sizeof(a), "A%u-tx", id);
		snprintf(b, sizeof(b), "B%u-rx", id);
	}
	mnl_attr_put_strz(nlh, QKDN_A_QKD_MODULE_ID, alice ? a : b);
	mnl_attr_put_strz(nlh, QKDN_A_MATCHING_QKD_MODULE_ID, alice ? b : a);
	mnl_attr_put_u16(nlh, QKDN_A_KEY_UNIT, unit);
	mnl_attr_put_u32(nlh, QKDN_A_POOL_CAPACITY, 1000);
	mnl_attr_put_u32(nlh, QKDN_A_POOL_LOW, 4);
	mnl_attr_put_u32(nlh, QKDN_A_POOL_HIGH, 900);
	return nlh;
}

static inline struct nlmsghdr *link_add_msg(struct nl *nl, uint32_t id,
				     uint32_t peer, uint16_t unit)
{
	return link_add_role(nl, id, peer, unit, true);
}

static inline int app_add(struct nl *nl, const char *sae, uint32_t node, int uid)
{
	struct nlmsghdr *nlh = req(nl, QKDN_CMD_APP_ADD);

	mnl_attr_put_strz(nlh, QKDN_A_SAE_ID, sae);
	mnl_attr_put_u32(nlh, QKDN_A_NODE_ID, node);
	if (uid >= 0)
		mnl_attr_put_u32(nlh, QKDN_A_UID, uid);
	return talk(nl, nlh, NULL, NULL);
}

static inline struct nlmsghdr *push_msg(struct nl *nl, uint32_t link,
				 const char *qkd_id, const uint8_t *data,
				 size_t len)
{
	struct nlmsghdr *nlh = req(nl, QKDN_CMD_KEY_PUSH);

	mnl_attr_put_u32(nlh, QKDN_A_LINK_ID, link);
	mnl_attr_put_strz(nlh, QKDN_A_QKD_KEY_ID, qkd_id);
	mnl_attr_put(nlh, QKDN_A_QKD_KEY_DATA, len, data);
	return nlh;
}

/* The same QKD-key into both ends of link 1, as a QKD module pair would. */
static inline int push(struct nl *nl, struct nl *nl2, const char *qkd_id, size_t len)
{
	uint8_t data[4096];
	size_t i;
	int ret;

	for (i = 0; i < len; ++i)
		data[i] = rand();
	ret = talk(nl, push_msg(nl, 1, qkd_id, data, len), NULL, NULL);
	if (!ret)
		ret = talk(nl2, push_msg(nl2, 1, qkd_id, data, len), NULL, NULL);
	return ret;
}

static inline struct nlmsghdr *get_msg(struct nl *nl, const char *sae,
				const char *peer, uint32_t amount)
{
	struct nlmsghdr *nlh = req(nl, QKDN_CMD_KEY_GET);

	mnl_attr_put_strz(nlh, QKDN_A_SAE_ID, sae);
	mnl_attr_put_strz(nlh, QKDN_A_PEER_SAE_ID, peer);
	if (amount)
		mnl_attr_put_u32(nlh, QKDN_A_KEY_AMOUNT, amount);
	return nlh;
}

/* A number a sysfs file of the module holds, -1 if unreadable. */
static inline long module_number(const char *file)
{
	char path[128];
	FILE *f;
	long n = -1;

	snprintf(path, sizeof(path), "/sys/module/qkdn/%s", file);
	f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%ld", &n) != 1)
			n = -1;
		fclose(f);
	}
	return n;
}

/* A QKDN_A_KEYS nest of @n key IDs. */
static inline void put_key_ids(struct nlmsghdr *nlh,
			       const uint8_t (*ids)[QKDN_KEY_ID_LEN], int n)
{
	struct nlattr *keys, *key;
	int i;

	keys = mnl_attr_nest_start(nlh, QKDN_A_KEYS);
	for (i = 0; i < n; ++i) {
		key = mnl_attr_nest_start(nlh, QKDN_A_KEY);
		mnl_attr_put(nlh, QKDN_KEY_A_ID, QKDN_KEY_ID_LEN, ids[i]);
		mnl_attr_nest_end(nlh, key);
	}
	mnl_attr_nest_end(nlh, keys);
}

static inline struct nlmsghdr *by_id_as(struct nl *nl, uint8_t cmd, const char *sae,
				 const char *peer,
				 const uint8_t (*ids)[QKDN_KEY_ID_LEN], int n)
{
	struct nlmsghdr *nlh = req(nl, cmd);

	mnl_attr_put_strz(nlh, QKDN_A_SAE_ID, sae);
	mnl_attr_put_strz(nlh, QKDN_A_PEER_SAE_ID, peer);
	put_key_ids(nlh, ids, n);
	return nlh;
}

/* At node 1, as sa: sa's own decrypting half (node 2's keys for sa). */
static inline struct nlmsghdr *by_id_msg(struct nl *nl, uint8_t cmd,
				  const uint8_t (*ids)[QKDN_KEY_ID_LEN], int n)
{
	return by_id_as(nl, cmd, "sa", "sb", ids, n);
}

/*
 * The two nodes most tests start from, each in a network namespace of its
 * own (the caller is left in node 2's):
 *
 *   node 1 on @a: link 1 to node 2, alice, A-tx, unit 32; sa local (uid 0),
 *                 sb at node 2
 *   node 2 on @b: link 1 to node 1, bob, B-rx, unit 32; sb local (uid 0),
 *                 sa at node 1
 *
 * fed 4 x 100 bytes: 12 KMA-keys of 32 bytes at each end, 6 in each half.
 * Returns 0, -errno of a request, or -1 if unshare() failed.
 */
static inline int two_nodes(struct nl *a, struct nl *b)
{
	static const char *const qkd_ids[] = { "q1", "q2", "q3", "q4" };
	int ret;
	size_t i;

	if (unshare(CLONE_NEWNET))
		return -1;
	ret = nl_open(a);
	if (!ret)
		ret = node_set(a, 1);
	if (!ret)
		ret = talk(a, link_add_msg(a, 1, 2, 32), NULL, NULL);
	if (!ret)
		ret = app_add(a, "sa", 1, 0);
	if (!ret)
		ret = app_add(a, "sb", 2, -1);
	if (ret)
		return ret;
	if (unshare(CLONE_NEWNET))
		return -1;
	ret = nl_open(b);
	if (!ret)
		ret = node_set(b, 2);
	if (!ret)
		ret = talk(b, link_add_role(b, 1, 1, 32, false), NULL, NULL);
	if (!ret)
		ret = app_add(b, "sb", 2, 0);
	if (!ret)
		ret = app_add(b, "sa", 1, -1);
	for (i = 0; !ret && i < sizeof(qkd_ids) / sizeof(qkd_ids[0]); ++i)
		ret = push(a, b, qkd_ids[i], 100);
	return ret;
}

/* For kselftest_harness.h tests: link 1's pool as @before had it, the
 * per-second rates aside. */
#define EXPECT_POOL_UNCHANGED(nl, before) do {				\
	struct pool_stats __after;					\
	int __i;							\
									\
	ASSERT_EQ(0, link_stats((nl), 1, &__after));			\
	for (__i = 1; __i <= QKDN_STAT_A_NEXT_SEQ; ++__i)		\
		if (__i != QKDN_STAT_A_GEN_RATE &&			\
		    __i != QKDN_STAT_A_CONS_RATE)			\
			EXPECT_EQ((before)->v[__i], __after.v[__i])	\
				TH_LOG("pool counter %d changed", __i);	\
} while (0)

/* Sends @nlh on @nl, expects -@err, then the pool exactly as @before. */
#define EXPECT_REFUSED_ON(nl, before, err, nlh) do {			\
	EXPECT_EQ(-(err), talk((nl), (nlh), NULL, NULL));		\
	EXPECT_POOL_UNCHANGED(nl, before);				\
} while (0)

#endif /* QKDN_SELFTEST_NL_H */
