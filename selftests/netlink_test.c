// SPDX-License-Identifier: GPL-2.0
/*
 * Netlink contract of qkdn.ko, one fresh node per test:
 *
 *   netns of the test (node 1 "alpha")          node 2 (not here)
 *   +------------------------------------+
 *   | link 1: peer 2, alice, unit 32     |~~~ QKD link ~~~ [ node 2 ]
 *   | apps: sa (local, uid 0), sb (node 2)|
 *   +------------------------------------+
 *
 * Every bad request must fail with its exact errno and leave the pool as
 * it was. Runs as root inside the test VM, with qkdn.ko loaded.
 */

#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "qkdn_nl.h"

FIXTURE(node) {
	struct nl nl;		/* node 1, alice */
	struct nl nl2;		/* node 2, bob, in a namespace of its own */
	struct pool_stats before;
	struct pool_stats before2;
};

FIXTURE_SETUP(node)
{
	ASSERT_EQ(0, two_nodes(&self->nl, &self->nl2))
		TH_LOG("is qkdn.ko loaded?");
	ASSERT_EQ(0, link_stats(&self->nl2, 1, &self->before2));
	ASSERT_EQ(0, link_stats(&self->nl, 1, &self->before));
	ASSERT_EQ(12, self->before.v[QKDN_STAT_A_GENERATED]);
	ASSERT_EQ(6, self->before.v[QKDN_STAT_A_ENC_AVAILABLE]);
}

FIXTURE_TEARDOWN(node)
{
	mnl_socket_close(self->nl.sk);
	mnl_socket_close(self->nl2.sk);
}

#define EXPECT_REFUSED(err, nlh) \
	EXPECT_REFUSED_ON(&self->nl, &self->before, err, nlh)

TEST_F(node, ping)
{
	EXPECT_EQ(0, talk(&self->nl, req(&self->nl, QKDN_CMD_PING), NULL,
			  NULL));
}

TEST_F(node, node_id_fixed_while_links_exist)
{
	EXPECT_REFUSED(EBUSY, ({
		struct nlmsghdr *n = req(&self->nl, QKDN_CMD_NODE_SET);

		mnl_attr_put_u32(n, QKDN_A_NODE_ID, 5);
		n;
	}));
}

TEST_F(node, node_id_zero_out_of_range)
{
	struct nlmsghdr *nlh = req(&self->nl, QKDN_CMD_NODE_SET);

	mnl_attr_put_u32(nlh, QKDN_A_NODE_ID, 0);
	EXPECT_REFUSED(ERANGE, nlh);
}

TEST_F(node, link_add_missing_attributes)
{
	struct nlmsghdr *nlh = req(&self->nl, QKDN_CMD_LINK_ADD);

	mnl_attr_put_u32(nlh, QKDN_A_LINK_ID, 7);
	EXPECT_REFUSED(EINVAL, nlh);
	nlh = req(&self->nl, QKDN_CMD_LINK_ADD);
	mnl_attr_put_u32(nlh, QKDN_A_LINK_ID, 7);
	mnl_attr_put_u32(nlh, QKDN_A_PEER_NODE_ID, 3);
	mnl_attr_put_u8(nlh, QKDN_A_LINK_ROLE, QKDN_ROLE_BOB);
	EXPECT_REFUSED(EINVAL, nlh);	/* no QKD module IDs */
}

TEST_F(node, link_add_exists)
{
	EXPECT_REFUSED(EEXIST, link_add_msg(&self->nl, 1, 3, 32));
}

TEST_F(node, link_add_same_module_pair)
{
	struct nlmsghdr *nlh = req(&self->nl, QKDN_CMD_LINK_ADD);

	/* Link 1 already pairs A-tx with B-rx: its keys' IDs would repeat. */
	mnl_attr_put_u32(nlh, QKDN_A_LINK_ID, 2);
	mnl_attr_put_u32(nlh, QKDN_A_PEER_NODE_ID, 3);
	mnl_attr_put_u8(nlh, QKDN_A_LINK_ROLE, QKDN_ROLE_ALICE);
	mnl_attr_put_strz(nlh, QKDN_A_QKD_MODULE_ID, "A-tx");
	mnl_attr_put_strz(nlh, QKDN_A_MATCHING_QKD_MODULE_ID, "B-rx");
	EXPECT_REFUSED(EEXIST, nlh);
}

TEST_F(node, app_add_bad_input)
{
	EXPECT_EQ(-EEXIST, app_add(&self->nl, "sa", 1, 0));
	EXPECT_EQ(-EINVAL, app_add(&self->nl, "far", 7, 1000));
	EXPECT_EQ(-EINVAL, app_add(&self->nl, "local", 1, -1));
	EXPECT_EQ(-EINVAL, app_add(&self->nl, "a:b", 1, 0));
	EXPECT_EQ(-EINVAL, app_add(&self->nl, "", 1, 0));
}

TEST_F(node, link_add_to_itself)
{
	EXPECT_REFUSED(EINVAL, link_add_msg(&self->nl, 2, 1, 32));
}

TEST_F(node, link_add_bad_unit)
{
	EXPECT_REFUSED(ERANGE, link_add_msg(&self->nl, 2, 3, 8));
	EXPECT_REFUSED(ERANGE, link_add_msg(&self->nl, 2, 3, 2048));
	EXPECT_REFUSED(EINVAL, link_add_msg(&self->nl, 2, 3, 20));
}

TEST_F(node, link_add_bad_role)
{
	struct nlmsghdr *nlh = link_add_msg(&self->nl, 2, 3, 32);
	struct nlattr *attr;

	mnl_attr_for_each(attr, nlh, sizeof(struct genlmsghdr))
		if (mnl_attr_get_type(attr) == QKDN_A_LINK_ROLE)
			*(uint8_t *)mnl_attr_get_payload(attr) = 3;
	EXPECT_REFUSED(ERANGE, nlh);
}

TEST_F(node, link_add_oversized_module_id)
{
	char id[QKDN_ID_MAXLEN + 8];
	struct nlmsghdr *nlh = req(&self->nl, QKDN_CMD_LINK_ADD);

	memset(id, 'm', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';
	mnl_attr_put_u32(nlh, QKDN_A_LINK_ID, 2);
	mnl_attr_put_u32(nlh, QKDN_A_PEER_NODE_ID, 3);
	mnl_attr_put_u8(nlh, QKDN_A_LINK_ROLE, QKDN_ROLE_ALICE);
	mnl_attr_put_strz(nlh, QKDN_A_QKD_MODULE_ID, id);
	mnl_attr_put_strz(nlh, QKDN_A_MATCHING_QKD_MODULE_ID, "B");
	EXPECT_REFUSED(EINVAL, nlh);
}

TEST_F(node, link_add_id_with_separator)
{
	struct nlmsghdr *nlh = req(&self->nl, QKDN_CMD_LINK_ADD);

	mnl_attr_put_u32(nlh, QKDN_A_LINK_ID, 2);
	mnl_attr_put_u32(nlh, QKDN_A_PEER_NODE_ID, 3);
	mnl_attr_put_u8(nlh, QKDN_A_LINK_ROLE, QKDN_ROLE_ALICE);
	mnl_attr_put_strz(nlh, QKDN_A_QKD_MODULE_ID, "a:b");
	mnl_attr_put_strz(nlh, QKDN_A_MATCHING_QKD_MODULE_ID, "B");
	EXPECT_REFUSED(EINVAL, nlh);
}

TEST_F(node, link_add_bad_watermarks)
{
	struct nlmsghdr *nlh = link_add_msg(&self->nl, 2, 3, 32);

	mnl_attr_put_u32(nlh, QKDN_A_POOL_LOW, 950);	/* low > high */
	EXPECT_REFUSED(EINVAL, nlh);
}

TEST_F(node, unknown_and_reply_only_attributes)
{
	struct nlmsghdr *nlh = req(&self->nl, QKDN_CMD_LINK_DEL);

	mnl_attr_put_u32(nlh, QKDN_A_LINK_ID, 1);
	mnl_attr_put_u32(nlh, QKDN_A_MAX + 1, 0);
	EXPECT_REFUSED(EINVAL, nlh);
	nlh = req(&self->nl, QKDN_CMD_LINK_DEL);
	mnl_attr_put_u32(nlh, QKDN_A_LINK_ID, 1);
	mnl_attr_put_u32(nlh, QKDN_A_LINK_COUNT, 0);
	EXPECT_REFUSED(EINVAL, nlh);
}

TEST_F(node, unknown_link)
{
	struct nlmsghdr *nlh;
	uint8_t byte = 1;

	nlh = req(&self->nl, QKDN_CMD_LINK_DEL);
	mnl_attr_put_u32(nlh, QKDN_A_LINK_ID, 9);
	EXPECT_REFUSED(ENODEV, nlh);
	nlh = req(&self->nl, QKDN_CMD_LINK_SET);
	mnl_attr_put_u32(nlh, QKDN_A_LINK_ID, 9);
	EXPECT_REFUSED(ENODEV, nlh);
	nlh = req(&self->nl, QKDN_CMD_LINK_GET);
	mnl_attr_put_u32(nlh, QKDN_A_LINK_ID, 9);
	EXPECT_REFUSED(ENODEV, nlh);
	EXPECT_REFUSED(ENODEV, push_msg(&self->nl, 9, "q", &byte, 1));
}

TEST_F(node, link_set_bad_watermarks)
{
	struct nlmsghdr *nlh = req(&self->nl, QKDN_CMD_LINK_SET);

	mnl_attr_put_u32(nlh, QKDN_A_LINK_ID, 1);
	mnl_attr_put_u32(nlh, QKDN_A_POOL_HIGH, 2000);	/* over capacity */
	EXPECT_REFUSED(EINVAL, nlh);
}

TEST_F(node, push_bad_input)
{
	uint8_t data[QKDN_QKD_KEY_MAX + 1] = { 0 };
	uint8_t hash[32] = { 0 };
	struct nlmsghdr *nlh;

	nlh = req(&self->nl, QKDN_CMD_KEY_PUSH);
	mnl_attr_put_u32(nlh, QKDN_A_LINK_ID, 1);
	mnl_attr_put_strz(nlh, QKDN_A_QKD_KEY_ID, "q");
	EXPECT_REFUSED(EINVAL, nlh);			/* no data */
	EXPECT_REFUSED(EINVAL, push_msg(&self->nl, 1, "q", data, 0));
	EXPECT_REFUSED(ERANGE, push_msg(&self->nl, 1, "q", data,
					sizeof(data)));
	EXPECT_REFUSED(EINVAL, push_msg(&self->nl, 1, "", data, 8));
	nlh = push_msg(&self->nl, 1, "q", data, 64);
	mnl_attr_put(nlh, QKDN_A_QKD_KEY_HASH, sizeof(hash), hash);
	EXPECT_REFUSED(EBADMSG, nlh);
	nlh = push_msg(&self->nl, 1, "q", data, 64);
	mnl_attr_put(nlh, QKDN_A_QKD_KEY_HASH, 31, hash);
	EXPECT_REFUSED(ERANGE, nlh);
	nlh = push_msg(&self->nl, 1, "q", data, 64);
	mnl_attr_put_strz(nlh, QKDN_A_QKD_MODULE_ID, "not-A-tx");
	EXPECT_REFUSED(EINVAL, nlh);
}

TEST_F(node, get_bad_input)
{
	struct nlmsghdr *nlh;

	EXPECT_REFUSED(ENOENT, get_msg(&self->nl, "nobody", "sb", 1));
	EXPECT_REFUSED(ENOENT, get_msg(&self->nl, "sa", "nobody", 1));
	EXPECT_REFUSED(EINVAL, get_msg(&self->nl, "sb", "sa", 1));
	EXPECT_REFUSED(EINVAL, get_msg(&self->nl, "sa", "sa", 1));
	EXPECT_REFUSED(ERANGE, ({
		nlh = get_msg(&self->nl, "sa", "sb", 0);
		mnl_attr_put_u32(nlh, QKDN_A_KEY_AMOUNT, 0);
		nlh;
	}));
	EXPECT_REFUSED(ERANGE, get_msg(&self->nl, "sa", "sb",
				       QKDN_KEY_AMOUNT_MAX + 1));
	EXPECT_REFUSED(EAGAIN, get_msg(&self->nl, "sa", "sb", 7));
	nlh = get_msg(&self->nl, "sa", "sb", 1);
	mnl_attr_put_u32(nlh, QKDN_A_KEY_SIZE, 128);
	EXPECT_REFUSED(EINVAL, nlh);
	nlh = req(&self->nl, QKDN_CMD_KEY_GET);
	mnl_attr_put_strz(nlh, QKDN_A_SAE_ID, "sa");
	EXPECT_REFUSED(EINVAL, nlh);			/* no peer */
	ASSERT_EQ(0, app_add(&self->nl, "far", 9, -1));
	EXPECT_REFUSED(EHOSTUNREACH, get_msg(&self->nl, "sa", "far", 1));
}

TEST_F(node, get_too_many_bytes)
{
	ASSERT_EQ(0, talk(&self->nl, link_add_msg(&self->nl, 2, 3, 128),
			  NULL, NULL));
	ASSERT_EQ(0, app_add(&self->nl, "sc", 3, -1));
	EXPECT_REFUSED(EMSGSIZE, get_msg(&self->nl, "sa", "sc",
					 QKDN_KEY_AMOUNT_MAX));
}

TEST_F(node, get_supplies_each_key_once)
{
	struct keys *k = calloc(1, sizeof(*k));
	struct pool_stats after;
	int i, j;

	ASSERT_NE(NULL, k);
	ASSERT_EQ(0, talk(&self->nl, get_msg(&self->nl, "sa", "sb", 4),
			  keys_cb, k));
	ASSERT_EQ(4, k->n);
	ASSERT_EQ(0, talk(&self->nl, get_msg(&self->nl, "sa", "sb", 2),
			  keys_cb, k));
	ASSERT_EQ(6, k->n);
	for (i = 0; i < k->n; ++i) {
		EXPECT_EQ(32, k->len[i]);
		/* Alice's half: even sequence numbers, in the last 6 bytes. */
		EXPECT_EQ(0, k->id[i][15] & 1);
		EXPECT_EQ(8, k->id[i][6] >> 4);
		for (j = 0; j < i; ++j)
			EXPECT_NE(0, memcmp(k->id[i], k->id[j], QKDN_KEY_ID_LEN));
	}
	EXPECT_EQ(-EAGAIN, talk(&self->nl, get_msg(&self->nl, "sa", "sb", 1),
				NULL, NULL));
	ASSERT_EQ(0, link_stats(&self->nl, 1, &after));
	EXPECT_EQ(0, after.v[QKDN_STAT_A_ENC_AVAILABLE]);
	EXPECT_EQ(6, after.v[QKDN_STAT_A_CONSUMED]);
	EXPECT_EQ(6, after.v[QKDN_STAT_A_DEC_STORED]);
	/* Our own keys are not in our decrypting half. */
	EXPECT_EQ(-ENOKEY, talk(&self->nl,
				by_id_msg(&self->nl, QKDN_CMD_KEY_GET_ID,
					  (const void *)k->id, 1), NULL, NULL));
	free(k);
}

TEST_F(node, by_id_bad_input)
{
	uint8_t ids[2][QKDN_KEY_ID_LEN] = { { 0 } };
	struct nlmsghdr *nlh;
	struct nlattr *keys, *key;

	ids[0][15] = 1;		/* bob's half, never generated as such */
	EXPECT_REFUSED(ENOKEY, by_id_msg(&self->nl, QKDN_CMD_KEY_GET_ID,
					 (const void *)ids, 1));
	EXPECT_REFUSED(ENOKEY, by_id_msg(&self->nl, QKDN_CMD_KEY_DEL,
					 (const void *)ids, 1));
	EXPECT_REFUSED(EINVAL, by_id_msg(&self->nl, QKDN_CMD_KEY_GET_ID,
					 (const void *)ids, 0));
	nlh = req(&self->nl, QKDN_CMD_KEY_GET_ID);
	mnl_attr_put_strz(nlh, QKDN_A_SAE_ID, "sa");
	mnl_attr_put_strz(nlh, QKDN_A_PEER_SAE_ID, "sb");
	keys = mnl_attr_nest_start(nlh, QKDN_A_KEYS);
	key = mnl_attr_nest_start(nlh, QKDN_A_KEY);
	mnl_attr_put(nlh, QKDN_KEY_A_ID, 15, ids[0]);
	mnl_attr_nest_end(nlh, key);
	mnl_attr_nest_end(nlh, keys);
	EXPECT_REFUSED(ERANGE, nlh);
}

TEST_F(node, same_id_same_bytes_at_both_ends)
{
	struct keys *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	struct pool_stats st;
	int i;

	ASSERT_NE(NULL, a);
	ASSERT_NE(NULL, b);
	/* sa at node 1 takes keys; sb at node 2 fetches them by ID. */
	ASSERT_EQ(0, talk(&self->nl, get_msg(&self->nl, "sa", "sb", 3),
			  keys_cb, a));
	ASSERT_EQ(3, a->n);
	ASSERT_EQ(0, talk(&self->nl2,
			  by_id_as(&self->nl2, QKDN_CMD_KEY_GET_ID, "sb", "sa",
				   (const void *)a->id, 3), keys_cb, b));
	ASSERT_EQ(3, b->n);
	for (i = 0; i < 3; ++i) {
		EXPECT_EQ(0, memcmp(a->id[i], b->id[i], QKDN_KEY_ID_LEN));
		EXPECT_EQ(0, memcmp(a->data[i], b->data[i], 32));
	}
	/* Once per side. */
	EXPECT_EQ(-ENOKEY, talk(&self->nl2,
				by_id_as(&self->nl2, QKDN_CMD_KEY_GET_ID, "sb",
					 "sa", (const void *)a->id, 1),
				NULL, NULL));
	/* And the other way round, at the same time: bob's half. */
	b->n = 0;
	ASSERT_EQ(0, talk(&self->nl2, get_msg(&self->nl2, "sb", "sa", 2),
			  keys_cb, b));
	ASSERT_EQ(2, b->n);
	a->n = 0;
	ASSERT_EQ(0, talk(&self->nl, by_id_msg(&self->nl, QKDN_CMD_KEY_GET_ID,
					       (const void *)b->id, 2),
			  keys_cb, a));
	ASSERT_EQ(2, a->n);
	EXPECT_EQ(0, memcmp(a->data[0], b->data[0], 32));
	EXPECT_EQ(0, memcmp(a->data[1], b->data[1], 32));
	EXPECT_EQ(1, b->id[0][15] & 1);
	ASSERT_EQ(0, link_stats(&self->nl2, 1, &st));
	EXPECT_EQ(3, st.v[QKDN_STAT_A_DEC_STORED]);
	EXPECT_EQ(4, st.v[QKDN_STAT_A_ENC_AVAILABLE]);
	EXPECT_EQ(5, st.v[QKDN_STAT_A_CONSUMED]);
	free(a);
	free(b);
}

TEST_F(node, by_id_all_or_nothing)
{
	struct keys *a = calloc(1, sizeof(*a));
	uint8_t ids[2][QKDN_KEY_ID_LEN];

	ASSERT_NE(NULL, a);
	ASSERT_EQ(0, talk(&self->nl, get_msg(&self->nl, "sa", "sb", 1),
			  keys_cb, a));
	memcpy(ids[0], a->id[0], QKDN_KEY_ID_LEN);
	memcpy(ids[1], a->id[0], QKDN_KEY_ID_LEN);
	EXPECT_REFUSED_ON(&self->nl2, &self->before2, EINVAL,
			  by_id_as(&self->nl2, QKDN_CMD_KEY_GET_ID, "sb", "sa",
				   (const void *)ids, 2));
	ids[1][3] ^= 1;		/* one real ID, one unknown */
	EXPECT_REFUSED_ON(&self->nl2, &self->before2, ENOKEY,
			  by_id_as(&self->nl2, QKDN_CMD_KEY_GET_ID, "sb", "sa",
				   (const void *)ids, 2));
	EXPECT_REFUSED_ON(&self->nl2, &self->before2, ENOKEY,
			  by_id_as(&self->nl2, QKDN_CMD_KEY_DEL, "sb", "sa",
				   (const void *)ids, 2));
	/* sb's uid is 0 at node 2, but "sa" is not local there. */
	EXPECT_REFUSED_ON(&self->nl2, &self->before2, EINVAL,
			  by_id_as(&self->nl2, QKDN_CMD_KEY_GET_ID, "sa", "sb",
				   (const void *)ids, 1));
	free(a);
}

TEST_F(node, delete_wipes_the_key)
{
	struct keys *a = calloc(1, sizeof(*a));
	struct pool_stats st;

	ASSERT_NE(NULL, a);
	ASSERT_EQ(0, talk(&self->nl, get_msg(&self->nl, "sa", "sb", 1),
			  keys_cb, a));
	EXPECT_EQ(0, talk(&self->nl2,
			  by_id_as(&self->nl2, QKDN_CMD_KEY_DEL, "sb", "sa",
				   (const void *)a->id, 1), NULL, NULL));
	EXPECT_EQ(-ENOKEY, talk(&self->nl2,
				by_id_as(&self->nl2, QKDN_CMD_KEY_GET_ID, "sb",
					 "sa", (const void *)a->id, 1),
				NULL, NULL));
	ASSERT_EQ(0, link_stats(&self->nl2, 1, &st));
	EXPECT_EQ(1, st.v[QKDN_STAT_A_DELETED]);
	EXPECT_EQ(0, st.v[QKDN_STAT_A_CONSUMED]);
	EXPECT_EQ(5, st.v[QKDN_STAT_A_DEC_STORED]);
	free(a);
}

static long module_refcnt(void)
{
	return module_number("refcnt");
}

/*
 * A reply carrying keys is wiped when the core frees it; until then it
 * holds the module, so the wiping code cannot go away under it.
 */
TEST_F(node, key_reply_wiped_and_released_after_reading)
{
	struct nlmsghdr *nlh = get_msg(&self->nl, "sa", "sb", 2);
	struct keys *k = calloc(1, sizeof(*k));
	long before = module_refcnt();
	int ret;

	ASSERT_NE(NULL, k);
	ASSERT_LE(0, before);
	ASSERT_LT(0, mnl_socket_sendto(self->nl.sk, nlh, nlh->nlmsg_len));
	usleep(100000);
	EXPECT_EQ(before + 1, module_refcnt());
	ret = mnl_socket_recvfrom(self->nl.sk, self->nl.buf, sizeof(self->nl.buf));
	ASSERT_LT(0, ret);
	mnl_cb_run(self->nl.buf, ret, 0, 0, keys_cb, k);
	EXPECT_EQ(2, k->n);
	/* The ack that follows. */
	ret = mnl_socket_recvfrom(self->nl.sk, self->nl.buf, sizeof(self->nl.buf));
	EXPECT_LT(0, ret);
	EXPECT_EQ(before, module_refcnt());
	free(k);
}

TEST_F(node, dump_links_and_apps)
{
	struct pool_stats st = { 0 };
	struct nlmsghdr *nlh;

	ASSERT_EQ(0, talk(&self->nl, link_add_msg(&self->nl, 5, 3, 32),
			  NULL, NULL));
	nlh = msg(&self->nl, self->nl.family, QKDN_CMD_LINK_GET, NLM_F_DUMP);
	EXPECT_EQ(0, talk(&self->nl, nlh, stats_cb, &st));
	EXPECT_EQ(2, st.seen);
}

TEST_F(node, unprivileged)
{
	pid_t pid = fork();
	int status;

	ASSERT_LE(0, pid);
	if (!pid) {
		struct pool_stats st;
		struct nlmsghdr *nlh;
		uint8_t byte = 1;
		int fails = 0;

		if (setuid(65534))
			_exit(100);
		fails += talk(&self->nl, link_add_msg(&self->nl, 2, 3, 32),
			      NULL, NULL) != -EPERM;
		fails += talk(&self->nl, push_msg(&self->nl, 1, "q", &byte, 1),
			      NULL, NULL) != -EPERM;
		nlh = req(&self->nl, QKDN_CMD_NODE_SET);
		mnl_attr_put_u32(nlh, QKDN_A_NODE_ID, 1);
		fails += talk(&self->nl, nlh, NULL, NULL) != -EPERM;
		fails += app_add(&self->nl, "x", 1, 65534) != -EPERM;
		/* sa belongs to uid 0. */
		fails += talk(&self->nl, get_msg(&self->nl, "sa", "sb", 1),
			      NULL, NULL) != -EACCES;
		/* Reading the configuration is allowed. */
		fails += link_stats(&self->nl, 1, &st) != 0;
		fails += st.v[QKDN_STAT_A_ENC_AVAILABLE] != 6;
		_exit(fails);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
}

TEST_F(node, other_namespace_sees_nothing)
{
	pid_t pid = fork();
	int status;

	ASSERT_LE(0, pid);
	if (!pid) {
		struct nl *other = malloc(sizeof(*other));
		struct pool_stats st;

		if (!other || unshare(CLONE_NEWNET) || nl_open(other))
			_exit(100);
		_exit((link_stats(other, 1, &st) != -ENODEV) +
		      (talk(other, get_msg(other, "sa", "sb", 1), NULL,
			    NULL) != -ENOENT));
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
}

static int alarm_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nlattr *attr;

	mnl_attr_for_each(attr, nlh, sizeof(struct genlmsghdr))
		if (mnl_attr_get_type(attr) == QKDN_A_ALARM)
			*(uint32_t *)data = mnl_attr_get_u32(attr);
	return MNL_CB_STOP;
}

TEST_F(node, alarm_on_low_watermark)
{
	struct nl *mon = malloc(sizeof(*mon));
	uint32_t alarm = 0;
	int ret, group;

	ASSERT_NE(NULL, mon);
	ASSERT_EQ(0, nl_open(mon));
	group = mon->alarm_group;
	ASSERT_NE(0, group);
	ASSERT_EQ(0, mnl_socket_setsockopt(mon->sk, NETLINK_ADD_MEMBERSHIP,
					   &group, sizeof(group)));
	/*
	 * The test now runs in node 2's namespace, where the group reports
	 * node 2: 6 available, low watermark 4, so taking 3 crosses it.
	 */
	ASSERT_EQ(0, talk(&self->nl2, get_msg(&self->nl2, "sb", "sa", 3),
			  NULL, NULL));
	ret = mnl_socket_recvfrom(mon->sk, mon->buf, sizeof(mon->buf));
	ASSERT_LT(0, ret);
	mnl_cb_run(mon->buf, ret, 0, 0, alarm_cb, &alarm);
	EXPECT_EQ(QKDN_ALARM_POOL_LOW, alarm);
	mnl_socket_close(mon->sk);
	free(mon);
}

static struct nlmsghdr *qkd_status_msg(struct nl *nl, uint32_t link,
				       uint8_t state, uint32_t qber)
{
	struct nlmsghdr *nlh = req(nl, QKDN_CMD_QKD_STATUS);

	mnl_attr_put_u32(nlh, QKDN_A_LINK_ID, link);
	mnl_attr_put_u8(nlh, QKDN_A_QKD_STATE, state);
	mnl_attr_put_u64(nlh, QKDN_A_QKD_KEY_RATE, 12345);
	mnl_attr_put_u32(nlh, QKDN_A_QKD_QBER, qber);
	return nlh;
}

static int qkd_cb(const struct nlmsghdr *nlh, void *data)
{
	uint32_t *out = data;	/* state, qber */
	struct nlattr *attr;

	mnl_attr_for_each(attr, nlh, sizeof(struct genlmsghdr)) {
		if (mnl_attr_get_type(attr) == QKDN_A_QKD_STATE)
			out[0] = mnl_attr_get_u8(attr);
		if (mnl_attr_get_type(attr) == QKDN_A_QKD_QBER)
			out[1] = mnl_attr_get_u32(attr);
	}
	return MNL_CB_OK;
}

/*
 * The QKD driver's word on its link: a link reported down or eavesdropped
 * takes no QKD-keys, and every change of state is an alarm.
 */
TEST_F(node, qkd_status_gates_pushes_and_raises_alarms)
{
	struct nl *mon = malloc(sizeof(*mon));
	uint32_t alarm = 0, seen[2] = { 0 };
	uint8_t data[64] = { 1 };
	struct nlmsghdr *nlh;
	int group, ret;

	ASSERT_NE(NULL, mon);
	/* This runs in node 2's namespace, like the alarm test. */
	ASSERT_EQ(0, nl_open(mon));
	group = mon->alarm_group;
	ASSERT_EQ(0, mnl_socket_setsockopt(mon->sk, NETLINK_ADD_MEMBERSHIP,
					   &group, sizeof(group)));

	EXPECT_REFUSED_ON(&self->nl2, &self->before2, ENODEV,
			  qkd_status_msg(&self->nl2, 9, QKDN_QKD_UP, 0));
	EXPECT_REFUSED_ON(&self->nl2, &self->before2, ERANGE,
			  qkd_status_msg(&self->nl2, 1, 0, 0));
	EXPECT_REFUSED_ON(&self->nl2, &self->before2, ERANGE,
			  qkd_status_msg(&self->nl2, 1, QKDN_QKD_UP, 1000001));

	ASSERT_EQ(0, talk(&self->nl2, qkd_status_msg(&self->nl2, 1,
			  QKDN_QKD_EAVESDROPPED, 250000), NULL, NULL));
	ret = mnl_socket_recvfrom(mon->sk, mon->buf, sizeof(mon->buf));
	ASSERT_LT(0, ret);
	mnl_cb_run(mon->buf, ret, 0, 0, alarm_cb, &alarm);
	EXPECT_EQ(QKDN_ALARM_QKD_EAVESDROP, alarm);
	EXPECT_REFUSED_ON(&self->nl2, &self->before2, ENETDOWN,
			  push_msg(&self->nl2, 1, "q9", data, sizeof(data)));
	nlh = req(&self->nl2, QKDN_CMD_LINK_GET);
	mnl_attr_put_u32(nlh, QKDN_A_LINK_ID, 1);
	ASSERT_EQ(0, talk(&self->nl2, nlh, qkd_cb, seen));
	EXPECT_EQ(QKDN_QKD_EAVESDROPPED, seen[0]);
	EXPECT_EQ(250000, seen[1]);

	ASSERT_EQ(0, talk(&self->nl2, qkd_status_msg(&self->nl2, 1,
			  QKDN_QKD_UP, 20000), NULL, NULL));
	ret = mnl_socket_recvfrom(mon->sk, mon->buf, sizeof(mon->buf));
	ASSERT_LT(0, ret);
	mnl_cb_run(mon->buf, ret, 0, 0, alarm_cb, &alarm);
	EXPECT_EQ(QKDN_ALARM_QKD_UP, alarm);
	EXPECT_EQ(0, talk(&self->nl2, push_msg(&self->nl2, 1, "q9", data,
					       sizeof(data)), NULL, NULL));
	mnl_socket_close(mon->sk);
	free(mon);
}

TEST_HARNESS_MAIN
