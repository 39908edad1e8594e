// SPDX-License-Identifier: GPL-2.0
/*
 * Key relay in the module, with this test carrying the frames between
 * nodes the way qkdn-kmd does, so it can also drop, forge, truncate,
 * replay and reorder them:
 *
 *   node 1 ---link 1--- node 2 ---link 2--- node 3 ---link 3--- node 4 ---link 4--- node 5
 *   sa (uid 0)          trusted             trusted             trusted            se (uid 0)
 *
 * Each link's QKD-keys are fed identically to both ends; routes lead
 * along the chain both ways. Each node lives in a namespace of its own.
 */

#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "qkdn_nl.h"

#define NODES 5
#define UNIT 32
/* The fixed part of a frame, as the uapi header draws it. */
#define KX_HDR_LEN 52

struct frame {
	uint32_t to;
	uint32_t alarm;
	size_t len;
	uint8_t bytes[QKDN_KX_FRAME_MAX];
};

struct chain {
	struct nl nl[NODES + 1];	/* requests */
	struct nl kx[NODES + 1];	/* frames the node sends */
	struct nl relay_nl;		/* node 1, for the blocking RELAY */
	int ksa_alarms[NODES + 1];	/* KSA_MISMATCH alarms pump() saw */
	pid_t relay_pid;
	int relay_pipe;
};

static int join(struct nl *nl, uint32_t group)
{
	return mnl_socket_setsockopt(nl->sk, NETLINK_ADD_MEMBERSHIP, &group,
				     sizeof(group));
}

static int frame_cb(const struct nlmsghdr *nlh, void *data)
{
	struct frame *f = data;
	struct nlattr *attr;

	mnl_attr_for_each(attr, nlh, sizeof(struct genlmsghdr)) {
		if (mnl_attr_get_type(attr) == QKDN_A_PEER_NODE_ID)
			f->to = mnl_attr_get_u32(attr);
		if (mnl_attr_get_type(attr) == QKDN_A_ALARM)
			f->alarm = mnl_attr_get_u32(attr);
		if (mnl_attr_get_type(attr) == QKDN_A_KX_FRAME) {
			f->len = mnl_attr_get_payload_len(attr);
			memcpy(f->bytes, mnl_attr_get_payload(attr), f->len);
		}
	}
	return MNL_CB_STOP;
}

/*
 * The next frame node @from sends, or -ETIMEDOUT after @ms. Alarms on the
 * way are counted (KSA_MISMATCH) and passed over.
 */
static int next_frame(struct chain *c, int from, struct frame *f, int ms)
{
	struct pollfd pfd = { .fd = mnl_socket_get_fd(c->kx[from].sk),
			      .events = POLLIN };
	int ret;

	for (;;) {
		if (poll(&pfd, 1, ms) != 1)
			return -ETIMEDOUT;
		ret = mnl_socket_recvfrom(c->kx[from].sk, c->kx[from].buf,
					  sizeof(c->kx[from].buf));
		if (ret <= 0)
			return -errno;
		f->len = 0;
		f->alarm = 0;
		mnl_cb_run(c->kx[from].buf, ret, 0, 0, frame_cb, f);
		if (f->alarm == QKDN_ALARM_KSA_MISMATCH)
			c->ksa_alarms[from]++;
		if (!f->alarm)
			return f->len ? 0 : -EBADMSG;
	}
}

/* Hands @f to its next hop as coming from @from: what qkdn-kmd does. */
static int deliver(struct chain *c, int from, const struct frame *f)
{
	struct nl *nl = &c->nl[f->to];
	struct nlmsghdr *nlh = req(nl, QKDN_CMD_KX_FRAME);

	mnl_attr_put_u32(nlh, QKDN_A_PEER_NODE_ID, from);
	mnl_attr_put(nlh, QKDN_A_KX_FRAME, f->len, f->bytes);
	return talk(nl, nlh, NULL, NULL);
}

/* Carries frames hop by hop until nothing moves for @ms. */
static int pump(struct chain *c, int ms)
{
	struct frame *f = malloc(sizeof(*f));
	struct pollfd pfd[NODES];
	int moved = 0, n, ret;

	for (n = 1; n <= NODES; ++n) {
		pfd[n - 1].fd = mnl_socket_get_fd(c->kx[n].sk);
		pfd[n - 1].events = POLLIN;
	}
	while (f && poll(pfd, NODES, ms) > 0) {
		for (n = 1; n <= NODES; ++n) {
			if (!(pfd[n - 1].revents & POLLIN) ||
			    next_frame(c, n, f, 0))
				continue;
			ret = deliver(c, n, f);
			if (getenv("QKDN_TEST_DEBUG"))
				fprintf(stderr, "# frame %d -> %u type %u: %d\n",
					n, f->to, f->bytes[1], ret);
			if (ret == 0)
				moved++;
		}
	}
	free(f);
	return moved;
}

struct relay_result {
	int ret;
	int n;
	uint8_t ids[QKDN_RELAY_KEYS_MAX][QKDN_KEY_ID_LEN];
};

static int relay_cb(const struct nlmsghdr *nlh, void *data)
{
	struct relay_result *r = data;
	struct nlattr *attr, *key, *a;

	mnl_attr_for_each(attr, nlh, sizeof(struct genlmsghdr)) {
		if (mnl_attr_get_type(attr) != QKDN_A_KEYS)
			continue;
		mnl_attr_for_each_nested(key, attr)
			mnl_attr_for_each_nested(a, key)
				if (mnl_attr_get_type(a) == QKDN_KEY_A_ID &&
				    r->n < QKDN_RELAY_KEYS_MAX)
					memcpy(r->ids[r->n++],
					       mnl_attr_get_payload(a),
					       QKDN_KEY_ID_LEN);
	}
	return MNL_CB_OK;
}

static struct nlmsghdr *relay_msg(struct nl *nl, uint32_t dest,
				  uint32_t amount)
{
	struct nlmsghdr *nlh = req(nl, QKDN_CMD_RELAY);

	mnl_attr_put_u32(nlh, QKDN_A_DEST_NODE_ID, dest);
	mnl_attr_put_u32(nlh, QKDN_A_KEY_AMOUNT, amount);
	return nlh;
}

static void relay_start_bits(struct chain *c, uint32_t dest, uint32_t amount,
			     uint32_t bits);

/* RELAY blocks until acknowledged: ask from a child, collect later. */
static void relay_start(struct chain *c, uint32_t dest, uint32_t amount)
{
	relay_start_bits(c, dest, amount, 0);
}

/* The same with keys of @bits (0: the default, 256). */
static void relay_start_bits(struct chain *c, uint32_t dest, uint32_t amount,
			     uint32_t bits)
{
	int fds[2];

	if (pipe(fds))
		abort();
	c->relay_pid = fork();
	if (!c->relay_pid) {
		struct relay_result r = { 0 };

		struct nlmsghdr *nlh = relay_msg(&c->relay_nl, dest, amount);

		close(fds[0]);
		if (bits)
			mnl_attr_put_u32(nlh, QKDN_A_KEY_SIZE, bits);
		r.ret = talk(&c->relay_nl, nlh, relay_cb, &r);
		if (write(fds[1], &r, sizeof(r)) != sizeof(r))
			_exit(1);
		_exit(0);
	}
	close(fds[1]);
	c->relay_pipe = fds[0];
}

static void relay_wait(struct chain *c, struct relay_result *r)
{
	memset(r, 0, sizeof(*r));
	r->ret = -EPIPE;
	if (read(c->relay_pipe, r, sizeof(*r)) != sizeof(*r))
		r->ret = -EPIPE;
	close(c->relay_pipe);
	waitpid(c->relay_pid, NULL, 0);
}

/* GET_KEY blocks with KSA synchronisation on: from a child too. */
static void get_start(struct chain *c, const char *sae, const char *peer,
		      uint32_t amount)
{
	int fds[2];

	if (pipe(fds))
		abort();
	c->relay_pid = fork();
	if (!c->relay_pid) {
		struct keys *k = calloc(1, sizeof(*k));
		int ret;

		close(fds[0]);
		ret = talk(&c->relay_nl, get_msg(&c->relay_nl, sae, peer, amount),
			   keys_cb, k);
		if (write(fds[1], &ret, sizeof(ret)) != sizeof(ret) ||
		    write(fds[1], k, sizeof(*k)) != sizeof(*k))
			_exit(1);
		_exit(0);
	}
	close(fds[1]);
	c->relay_pipe = fds[0];
}

static int get_wait(struct chain *c, struct keys *k)
{
	int ret = -EPIPE;
	size_t got = 0;
	ssize_t n;

	if (read(c->relay_pipe, &ret, sizeof(ret)) != sizeof(ret))
		ret = -EPIPE;
	while (got < sizeof(*k)) {
		n = read(c->relay_pipe, (char *)k + got, sizeof(*k) - got);
		if (n <= 0)
			break;
		got += n;
	}
	close(c->relay_pipe);
	waitpid(c->relay_pid, NULL, 0);
	return ret;
}

static int set_ksa_sync(struct nl *nl, uint8_t on)
{
	struct nlmsghdr *nlh = req(nl, QKDN_CMD_NODE_SET);

	mnl_attr_put_u8(nlh, QKDN_A_KSA_SYNC, on);
	return talk(nl, nlh, NULL, NULL);
}

struct relay_stats {
	uint64_t v[QKDN_RELAY_A_MAX + 1];
};

static int relay_stats_cb(const struct nlmsghdr *nlh, void *data)
{
	struct relay_stats *st = data;
	struct nlattr *attr, *s;

	mnl_attr_for_each(attr, nlh, sizeof(struct genlmsghdr)) {
		if (mnl_attr_get_type(attr) != QKDN_A_RELAY_STATS)
			continue;
		mnl_attr_for_each_nested(s, attr)
			if (mnl_attr_get_type(s) <= QKDN_RELAY_A_MAX &&
			    mnl_attr_get_type(s) != QKDN_RELAY_A_PAD)
				st->v[mnl_attr_get_type(s)] = mnl_attr_get_u64(s);
	}
	return MNL_CB_OK;
}

static uint64_t relay_stat(struct chain *c, int n, int which)
{
	struct relay_stats st = { 0 };

	talk(&c->nl[n], req(&c->nl[n], QKDN_CMD_NODE_GET), relay_stats_cb, &st);
	return st.v[which];
}

static uint64_t link_stat(struct chain *c, int n, uint32_t link, int which)
{
	struct pool_stats st;

	if (link_stats(&c->nl[n], link, &st))
		return ~0ULL;
	return st.v[which];
}

static int route_add(struct nl *nl, uint32_t dest, uint32_t via)
{
	struct nlmsghdr *nlh = req(nl, QKDN_CMD_ROUTE_ADD);

	mnl_attr_put_u32(nlh, QKDN_A_DEST_NODE_ID, dest);
	mnl_attr_put_u32(nlh, QKDN_A_NEXT_HOP_NODE_ID, via);
	return talk(nl, nlh, NULL, NULL);
}

/*
 * A link between nodes @a (alice) and @b fed @qkd_keys QKD-keys of 128
 * bytes, the same at both ends except QKD-key @diverge (if >= 0), which
 * @b gets with other bytes under the same ID.
 */
static int chain_link_fed(struct chain *c, uint32_t link, int a, int b,
			  int qkd_keys, int diverge)
{
	char ma[32], mb[32];
	struct nlmsghdr *nlh;
	int n, ret = 0;

	snprintf(ma, sizeof(ma), "L%u-alice", link);
	snprintf(mb, sizeof(mb), "L%u-bob", link);
	for (n = 0; n < 2 && !ret; ++n) {
		struct nl *nl = &c->nl[n ? b : a];

		nlh = req(nl, QKDN_CMD_LINK_ADD);
		mnl_attr_put_u32(nlh, QKDN_A_LINK_ID, link);
		mnl_attr_put_u32(nlh, QKDN_A_PEER_NODE_ID, n ? a : b);
		mnl_attr_put_u8(nlh, QKDN_A_LINK_ROLE,
				n ? QKDN_ROLE_BOB : QKDN_ROLE_ALICE);
		mnl_attr_put_strz(nlh, QKDN_A_QKD_MODULE_ID, n ? mb : ma);
		mnl_attr_put_strz(nlh, QKDN_A_MATCHING_QKD_MODULE_ID, n ? ma : mb);
		mnl_attr_put_u16(nlh, QKDN_A_KEY_UNIT, UNIT);
		mnl_attr_put_u32(nlh, QKDN_A_POOL_CAPACITY, 10000);
		mnl_attr_put_u32(nlh, QKDN_A_POOL_LOW, 1);
		mnl_attr_put_u32(nlh, QKDN_A_POOL_HIGH, 9000);
		ret = talk(nl, nlh, NULL, NULL);
	}
	for (n = 0; n < qkd_keys && !ret; ++n) {
		uint8_t data[128];
		char id[32];
		size_t i;

		for (i = 0; i < sizeof(data); ++i)
			data[i] = rand();
		snprintf(id, sizeof(id), "L%u-q%d", link, n);
		ret = talk(&c->nl[a], push_msg(&c->nl[a], link, id, data,
					       sizeof(data)), NULL, NULL);
		if (n == diverge)
			data[5] ^= 1;
		if (!ret)
			ret = talk(&c->nl[b], push_msg(&c->nl[b], link, id, data,
						       sizeof(data)), NULL, NULL);
	}
	return ret;
}

/* 8 QKD-keys of 128 bytes: 32 KMA-keys, 16 in each half. */
static int chain_link(struct chain *c, uint32_t link, int a, int b)
{
	return chain_link_fed(c, link, a, b, 8, -1);
}

FIXTURE(chain) {
	struct chain *c;
};

FIXTURE_SETUP(chain)
{
	struct chain *c;
	int n;

	c = self->c = calloc(1, sizeof(*c));
	ASSERT_NE(NULL, c);
	for (n = 1; n <= NODES; ++n) {
		ASSERT_EQ(0, unshare(CLONE_NEWNET));
		ASSERT_EQ(0, nl_open(&c->nl[n])) TH_LOG("is qkdn.ko loaded?");
		ASSERT_EQ(0, nl_open(&c->kx[n]));
		ASSERT_EQ(0, join(&c->kx[n], c->kx[n].kx_group));
		ASSERT_EQ(0, join(&c->kx[n], c->kx[n].alarm_group));
		if (n == 1)
			ASSERT_EQ(0, nl_open(&c->relay_nl));
		ASSERT_EQ(0, node_set(&c->nl[n], n));
	}
	for (n = 1; n < NODES; ++n)
		ASSERT_EQ(0, chain_link(c, n, n, n + 1));
	for (n = 1; n <= NODES; ++n) {
		if (n < NODES)
			ASSERT_EQ(0, route_add(&c->nl[n], NODES, n + 1));
		if (n > 1)
			ASSERT_EQ(0, route_add(&c->nl[n], 1, n - 1));
	}
	ASSERT_EQ(0, app_add(&c->nl[1], "sa", 1, 0));
	ASSERT_EQ(0, app_add(&c->nl[1], "se", NODES, -1));
	ASSERT_EQ(0, app_add(&c->nl[NODES], "se", NODES, 0));
	ASSERT_EQ(0, app_add(&c->nl[NODES], "sa", 1, -1));
}

FIXTURE_TEARDOWN(chain)
{
	int n;

	for (n = 1; n <= NODES; ++n) {
		mnl_socket_close(self->c->nl[n].sk);
		mnl_socket_close(self->c->kx[n].sk);
	}
	mnl_socket_close(self->c->relay_nl.sk);
	free(self->c);
}

static int set_timeout(struct nl *nl, uint32_t ms)
{
	struct nlmsghdr *nlh = req(nl, QKDN_CMD_NODE_SET);

	mnl_attr_put_u32(nlh, QKDN_A_RELAY_TIMEOUT, ms);
	return talk(nl, nlh, NULL, NULL);
}

TEST_F(chain, four_hops_same_keys_at_both_ends)
{
	struct chain *c = self->c;
	struct keys *a = calloc(1, sizeof(*a)), *e = calloc(1, sizeof(*e));
	struct relay_result r;
	int i, n;

	ASSERT_NE(NULL, a);
	ASSERT_NE(NULL, e);
	relay_start(c, NODES, 4);
	/* 4 hops of RELAY, 4 of ACK. */
	EXPECT_EQ(8, pump(c, 2000));
	relay_wait(c, &r);
	ASSERT_EQ(0, r.ret);
	ASSERT_EQ(4, r.n);

	ASSERT_EQ(0, talk(&c->nl[1], get_msg(&c->nl[1], "sa", "se", 4),
			  keys_cb, a));
	ASSERT_EQ(4, a->n);
	ASSERT_EQ(0, talk(&c->nl[NODES],
			  by_id_as(&c->nl[NODES], QKDN_CMD_KEY_GET_ID, "se", "sa",
				   (const void *)a->id, 4), keys_cb, e));
	ASSERT_EQ(4, e->n);
	for (i = 0; i < 4; ++i) {
		EXPECT_EQ(0, memcmp(r.ids[i], a->id[i], QKDN_KEY_ID_LEN));
		EXPECT_EQ(0, memcmp(a->id[i], e->id[i], QKDN_KEY_ID_LEN));
		EXPECT_EQ(0, memcmp(a->data[i], e->data[i], UNIT));
	}
	EXPECT_EQ(-EAGAIN, talk(&c->nl[1], get_msg(&c->nl[1], "sa", "se", 1),
				NULL, NULL));
	EXPECT_EQ(-ENOKEY, talk(&c->nl[NODES],
				by_id_as(&c->nl[NODES], QKDN_CMD_KEY_GET_ID,
					 "se", "sa", (const void *)a->id, 1),
				NULL, NULL));

	/*
	 * Each link spent exactly what the relay needed, at both ends: the
	 * RELAY frame's MAC key and four 32-byte keys (5 link keys), and the
	 * ACK's MAC key (1).
	 */
	for (n = 1; n < NODES; ++n) {
		EXPECT_EQ(6, link_stat(c, n, n, QKDN_STAT_A_CONSUMED))
			TH_LOG("link %d at node %d", n, n);
		EXPECT_EQ(6, link_stat(c, n + 1, n, QKDN_STAT_A_CONSUMED))
			TH_LOG("link %d at node %d", n, n + 1);
		EXPECT_EQ(32 - 6, link_stat(c, n, n, QKDN_STAT_A_STORED));
	}
	EXPECT_EQ(1, relay_stat(c, 1, QKDN_RELAY_A_COMPLETED));
	EXPECT_EQ(1, relay_stat(c, NODES, QKDN_RELAY_A_RECEIVED));
	for (n = 2; n < NODES; ++n)
		EXPECT_EQ(2, relay_stat(c, n, QKDN_RELAY_A_FORWARDED));
	free(a);
	free(e);
}

/* An intermediate node's daemon dies: frames to node 3 are lost. */
TEST_F(chain, lost_frame_abandons_the_relay_at_both_ends)
{
	struct chain *c = self->c;
	struct relay_result r, r2;
	struct frame *f = malloc(sizeof(*f)), *again = malloc(sizeof(*again));

	ASSERT_NE(NULL, f);
	ASSERT_NE(NULL, again);
	ASSERT_EQ(0, set_timeout(&c->nl[1], 500));
	relay_start(c, NODES, 2);
	ASSERT_EQ(0, next_frame(c, 1, f, 2000));
	ASSERT_EQ(0, deliver(c, 1, f));
	ASSERT_EQ(0, next_frame(c, 2, f, 2000));	/* 2 -> 3: dropped */
	relay_wait(c, &r);
	EXPECT_EQ(-ETIMEDOUT, r.ret);
	EXPECT_EQ(1, relay_stat(c, 1, QKDN_RELAY_A_FAILED));
	EXPECT_EQ(-EAGAIN, talk(&c->nl[1], get_msg(&c->nl[1], "sa", "se", 1),
				NULL, NULL));
	/* The ABORT follows the route; node 3's daemon is back. */
	pump(c, 1000);
	/* The lost frame, if it turned up now, would be a replay. */
	EXPECT_EQ(-EALREADY, deliver(c, 2, f));

	/* A new relay works and uses fresh link keys. */
	ASSERT_EQ(0, set_timeout(&c->nl[1], 5000));
	relay_start(c, NODES, 2);
	pump(c, 2000);
	relay_wait(c, &r2);
	ASSERT_EQ(0, r2.ret);
	EXPECT_NE(0, memcmp(r.ids[0], r2.ids[0], QKDN_KEY_ID_LEN));
	EXPECT_EQ(0, talk(&c->nl[1], get_msg(&c->nl[1], "sa", "se", 2),
			  NULL, NULL));
	free(f);
	free(again);
}

/* Bad frames lose nothing: the pools are as before. */
TEST_F(chain, forged_truncated_misrouted_replayed_frames)
{
	struct chain *c = self->c;
	struct frame *f = malloc(sizeof(*f)), *bad = malloc(sizeof(*bad));
	struct pool_stats before, after;
	struct relay_result r;
	int i;

	ASSERT_NE(NULL, f);
	ASSERT_NE(NULL, bad);
	relay_start(c, NODES, 1);
	ASSERT_EQ(0, next_frame(c, 1, f, 2000));
	ASSERT_EQ(0, link_stats(&c->nl[2], 1, &before));

	*bad = *f;
	bad->bytes[bad->len - 20] ^= 1;			/* forged */
	EXPECT_EQ(-EBADMSG, deliver(c, 1, bad));
	EXPECT_EQ(1, relay_stat(c, 2, QKDN_RELAY_A_BAD_MAC));
	*bad = *f;
	bad->bytes[bad->len - 1] ^= 0x80;		/* forged tag */
	EXPECT_EQ(-EBADMSG, deliver(c, 1, bad));
	EXPECT_EQ(2, relay_stat(c, 2, QKDN_RELAY_A_BAD_MAC));
	*bad = *f;
	bad->len -= 1;					/* truncated */
	EXPECT_EQ(-EBADMSG, deliver(c, 1, bad));
	EXPECT_EQ(1, relay_stat(c, 2, QKDN_RELAY_A_BAD_FRAME));
	*bad = *f;
	bad->len = 10;
	EXPECT_EQ(-EBADMSG, deliver(c, 1, bad));
	EXPECT_EQ(2, relay_stat(c, 2, QKDN_RELAY_A_BAD_FRAME));
	EXPECT_EQ(-EBADMSG, deliver(c, 3, f));		/* not from node 3 */
	EXPECT_EQ(3, relay_stat(c, 2, QKDN_RELAY_A_BAD_FRAME));
	*bad = *f;
	bad->bytes[KX_HDR_LEN + 3] ^= 1;	/* key ID */
	EXPECT_EQ(-ENOKEY, deliver(c, 1, bad));
	EXPECT_EQ(1, relay_stat(c, 2, QKDN_RELAY_A_UNKNOWN_KEY));
	/* Addressed to node 3 from node 1, which it has no link to. */
	*bad = *f;
	bad->to = 3;
	bad->bytes[19] = 3;				/* hop receiver */
	EXPECT_EQ(-ENODEV, deliver(c, 1, bad));
	EXPECT_EQ(1, relay_stat(c, 3, QKDN_RELAY_A_UNKNOWN_LINK));

	ASSERT_EQ(0, link_stats(&c->nl[2], 1, &after));
	for (i = 1; i <= QKDN_STAT_A_NEXT_SEQ; ++i)
		if (i != QKDN_STAT_A_GEN_RATE && i != QKDN_STAT_A_CONS_RATE)
			EXPECT_EQ(before.v[i], after.v[i])
				TH_LOG("counter %d of link 1 at node 2", i);

	EXPECT_EQ(0, deliver(c, 1, f));			/* the real one */
	EXPECT_EQ(-EALREADY, deliver(c, 1, f));		/* replayed */
	EXPECT_EQ(1, relay_stat(c, 2, QKDN_RELAY_A_REPLAYED));
	pump(c, 2000);
	relay_wait(c, &r);
	EXPECT_EQ(0, r.ret);
	free(f);
	free(bad);
}

TEST_F(chain, reordered_frames)
{
	struct chain *c = self->c;
	struct frame *f1 = malloc(sizeof(*f1)), *f2 = malloc(sizeof(*f2));
	struct relay_result r;
	pid_t first;
	int first_pipe;

	ASSERT_NE(NULL, f1);
	ASSERT_NE(NULL, f2);
	ASSERT_EQ(0, set_timeout(&c->nl[1], 1000));
	relay_start(c, NODES, 1);
	first = c->relay_pid;
	first_pipe = c->relay_pipe;
	ASSERT_EQ(0, next_frame(c, 1, f1, 2000));
	relay_start(c, NODES, 1);
	ASSERT_EQ(0, next_frame(c, 1, f2, 2000));
	EXPECT_EQ(0, deliver(c, 1, f2));
	EXPECT_EQ(-EALREADY, deliver(c, 1, f1));
	EXPECT_EQ(1, relay_stat(c, 2, QKDN_RELAY_A_REPLAYED));
	pump(c, 2000);
	relay_wait(c, &r);
	EXPECT_EQ(0, r.ret);
	c->relay_pid = first;
	c->relay_pipe = first_pipe;
	relay_wait(c, &r);
	EXPECT_EQ(-ETIMEDOUT, r.ret);
	free(f1);
	free(f2);
}

TEST_F(chain, relay_bad_input)
{
	struct chain *c = self->c;
	struct pool_stats before, after;
	struct nlmsghdr *nlh;

	ASSERT_EQ(0, link_stats(&c->nl[1], 1, &before));
	EXPECT_EQ(-EINVAL, talk(&c->nl[1], relay_msg(&c->nl[1], 1, 1), NULL,
				NULL));
	EXPECT_EQ(-EHOSTUNREACH, talk(&c->nl[1], relay_msg(&c->nl[1], 9, 1),
				      NULL, NULL));
	EXPECT_EQ(-ERANGE, talk(&c->nl[1],
				relay_msg(&c->nl[1], NODES,
					  QKDN_RELAY_KEYS_MAX + 1), NULL, NULL));
	nlh = relay_msg(&c->nl[1], NODES, 1);
	mnl_attr_put_u32(nlh, QKDN_A_KEY_SIZE, 100);
	EXPECT_EQ(-EINVAL, talk(&c->nl[1], nlh, NULL, NULL));
	/* 16 link keys in node 1's half; 64 x 32 bytes needs 65. */
	EXPECT_EQ(-EAGAIN, talk(&c->nl[1],
				relay_msg(&c->nl[1], NODES,
					  QKDN_RELAY_KEYS_MAX), NULL, NULL));
	nlh = req(&c->nl[1], QKDN_CMD_ROUTE_DEL);
	mnl_attr_put_u32(nlh, QKDN_A_DEST_NODE_ID, 7);
	EXPECT_EQ(-ENOENT, talk(&c->nl[1], nlh, NULL, NULL));
	EXPECT_EQ(-EINVAL, route_add(&c->nl[1], 1, 2));
	ASSERT_EQ(0, link_stats(&c->nl[1], 1, &after));
	EXPECT_EQ(before.v[QKDN_STAT_A_STORED], after.v[QKDN_STAT_A_STORED]);
	EXPECT_EQ(before.v[QKDN_STAT_A_CONSUMED],
		  after.v[QKDN_STAT_A_CONSUMED]);
	EXPECT_EQ(0, relay_stat(c, 1, QKDN_RELAY_A_STARTED));
}

/*
 * Large relays: links of 1024-byte units beside the 32-byte ones, whose
 * frames after the first hop come close to QKDN_KX_FRAME_MAX.
 */
#define BIG_UNIT 1024
#define BIG_LINK(n) (10 + (n))	/* between nodes n and n + 1 */
#define BIG_KEYS (QKDN_RELAY_BYTES_MAX / BIG_UNIT)	/* 60 of 8192 bits */

/*
 * Link BIG_LINK(@a) between nodes @a and @a + 1: @unit-byte units, fed 4
 * QKD-keys of 32 KiB (for 1024-byte units 128 KMA-keys, 64 in each half);
 * with more keys than the 32-byte link beside it, relays take it
 * (link_to()).
 */
static int chain_link_big(struct chain *c, int a, uint16_t unit)
{
	static uint8_t data[QKDN_QKD_KEY_MAX];
	char ma[32], mb[32], id[32];
	struct nlmsghdr *nlh;
	int n, ret = 0;
	size_t i;

	snprintf(ma, sizeof(ma), "B%d-alice", a);
	snprintf(mb, sizeof(mb), "B%d-bob", a);
	for (n = 0; n < 2 && !ret; ++n) {
		struct nl *nl = &c->nl[a + n];

		nlh = req(nl, QKDN_CMD_LINK_ADD);
		mnl_attr_put_u32(nlh, QKDN_A_LINK_ID, BIG_LINK(a));
		mnl_attr_put_u32(nlh, QKDN_A_PEER_NODE_ID, n ? a : a + 1);
		mnl_attr_put_u8(nlh, QKDN_A_LINK_ROLE,
				n ? QKDN_ROLE_BOB : QKDN_ROLE_ALICE);
		mnl_attr_put_strz(nlh, QKDN_A_QKD_MODULE_ID, n ? mb : ma);
		mnl_attr_put_strz(nlh, QKDN_A_MATCHING_QKD_MODULE_ID, n ? ma : mb);
		mnl_attr_put_u16(nlh, QKDN_A_KEY_UNIT, unit);
		mnl_attr_put_u32(nlh, QKDN_A_POOL_CAPACITY, 4000);
		mnl_attr_put_u32(nlh, QKDN_A_POOL_LOW, 1);
		mnl_attr_put_u32(nlh, QKDN_A_POOL_HIGH, 3900);
		ret = talk(nl, nlh, NULL, NULL);
	}
	for (n = 0; n < 4 && !ret; ++n) {
		for (i = 0; i < sizeof(data); ++i)
			data[i] = rand();
		snprintf(id, sizeof(id), "B%d-q%d", a, n);
		ret = talk(&c->nl[a], push_msg(&c->nl[a], BIG_LINK(a), id, data,
					       sizeof(data)), NULL, NULL);
		if (!ret)
			ret = talk(&c->nl[a + 1],
				   push_msg(&c->nl[a + 1], BIG_LINK(a), id, data,
					    sizeof(data)), NULL, NULL);
	}
	return ret;
}

/* IDs and an FNV-1a hash of the bytes of each key in a reply. */
struct key_sums {
	uint8_t id[QKDN_RELAY_KEYS_MAX][QKDN_KEY_ID_LEN];
	uint64_t sum[QKDN_RELAY_KEYS_MAX];
	uint16_t len[QKDN_RELAY_KEYS_MAX];
	int n;
};

static int key_sums_cb(const struct nlmsghdr *nlh, void *data)
{
	struct key_sums *k = data;
	struct nlattr *attr, *key, *a;

	mnl_attr_for_each(attr, nlh, sizeof(struct genlmsghdr)) {
		if (mnl_attr_get_type(attr) != QKDN_A_KEYS)
			continue;
		mnl_attr_for_each_nested(key, attr) {
			if (k->n >= QKDN_RELAY_KEYS_MAX)
				return MNL_CB_ERROR;
			mnl_attr_for_each_nested(a, key) {
				const uint8_t *p = mnl_attr_get_payload(a);
				uint64_t h = 0xcbf29ce484222325ULL;
				uint16_t i;

				if (mnl_attr_get_type(a) == QKDN_KEY_A_ID)
					memcpy(k->id[k->n], p, QKDN_KEY_ID_LEN);
				if (mnl_attr_get_type(a) != QKDN_KEY_A_DATA)
					continue;
				k->len[k->n] = mnl_attr_get_payload_len(a);
				for (i = 0; i < k->len[k->n]; ++i)
					h = (h ^ p[i]) * 0x100000001b3ULL;
				k->sum[k->n] = h;
			}
			k->n++;
		}
	}
	return MNL_CB_OK;
}

/* 60 KiB in one relay over four hops: one frame a hop, the same keys. */
TEST_F(chain, large_relay_four_hops)
{
	struct chain *c = self->c;
	struct key_sums *a = calloc(1, sizeof(*a)), *e = calloc(1, sizeof(*e));
	struct relay_result r;
	struct nlmsghdr *nlh;
	int i, n;

	ASSERT_NE(NULL, a);
	ASSERT_NE(NULL, e);
	for (n = 1; n < NODES; ++n)
		ASSERT_EQ(0, chain_link_big(c, n, BIG_UNIT));
	relay_start_bits(c, NODES, BIG_KEYS, BIG_UNIT * 8);
	EXPECT_EQ(8, pump(c, 4000));
	relay_wait(c, &r);
	ASSERT_EQ(0, r.ret);
	ASSERT_EQ(BIG_KEYS, r.n);

	nlh = get_msg(&c->nl[1], "sa", "se", BIG_KEYS);
	mnl_attr_put_u32(nlh, QKDN_A_KEY_SIZE, BIG_UNIT * 8);
	ASSERT_EQ(0, talk(&c->nl[1], nlh, key_sums_cb, a));
	ASSERT_EQ(BIG_KEYS, a->n);
	ASSERT_EQ(0, talk(&c->nl[NODES],
			  by_id_as(&c->nl[NODES], QKDN_CMD_KEY_GET_ID, "se", "sa",
				   (const void *)a->id, BIG_KEYS),
			  key_sums_cb, e));
	ASSERT_EQ(BIG_KEYS, e->n);
	for (i = 0; i < BIG_KEYS; ++i) {
		EXPECT_EQ(0, memcmp(r.ids[i], a->id[i], QKDN_KEY_ID_LEN));
		EXPECT_EQ(0, memcmp(a->id[i], e->id[i], QKDN_KEY_ID_LEN));
		EXPECT_EQ(BIG_UNIT, a->len[i]);
		EXPECT_EQ(BIG_UNIT, e->len[i]);
		EXPECT_EQ(a->sum[i], e->sum[i]) TH_LOG("key %d", i);
	}
	/*
	 * RELAY: ceil((32 + 60 * 1024) / 1024) = 61 link keys, ACK 1, on
	 * every big link at both ends; the 32-byte links untouched.
	 */
	for (n = 1; n < NODES; ++n) {
		EXPECT_EQ(62, link_stat(c, n, BIG_LINK(n), QKDN_STAT_A_CONSUMED));
		EXPECT_EQ(62, link_stat(c, n + 1, BIG_LINK(n),
					QKDN_STAT_A_CONSUMED));
		EXPECT_EQ(0, link_stat(c, n, n, QKDN_STAT_A_CONSUMED));
	}
	free(a);
	free(e);
}

/* A forged or truncated large frame loses nothing either. */
TEST_F(chain, large_frame_forged_truncated)
{
	struct chain *c = self->c;
	struct frame *f = malloc(sizeof(*f)), *bad = malloc(sizeof(*bad));
	struct pool_stats before, after;
	struct relay_result r;
	int i, n;

	ASSERT_NE(NULL, f);
	ASSERT_NE(NULL, bad);
	for (n = 1; n < NODES; ++n)
		ASSERT_EQ(0, chain_link_big(c, n, BIG_UNIT));
	relay_start_bits(c, NODES, BIG_KEYS, BIG_UNIT * 8);
	ASSERT_EQ(0, next_frame(c, 1, f, 4000));
	ASSERT_EQ(0, deliver(c, 1, f));
	/* The second hop carries the keys: 52 + 61 * 16 + 60 * 1048 + 16. */
	ASSERT_EQ(0, next_frame(c, 2, f, 4000));
	ASSERT_EQ(52 + 61 * 16 + BIG_KEYS * (24 + BIG_UNIT) + 16, f->len);
	ASSERT_EQ(0, link_stats(&c->nl[3], BIG_LINK(2), &before));

	*bad = *f;
	bad->bytes[f->len / 2] ^= 1;			/* forged key byte */
	EXPECT_EQ(-EBADMSG, deliver(c, 2, bad));
	EXPECT_EQ(1, relay_stat(c, 3, QKDN_RELAY_A_BAD_MAC));
	*bad = *f;
	bad->bytes[f->len - 17] ^= 0x40;		/* last key byte */
	EXPECT_EQ(-EBADMSG, deliver(c, 2, bad));
	EXPECT_EQ(2, relay_stat(c, 3, QKDN_RELAY_A_BAD_MAC));
	*bad = *f;
	bad->len -= 1024;				/* a key short */
	EXPECT_EQ(-EBADMSG, deliver(c, 2, bad));
	*bad = *f;
	bad->len = 16384;				/* cut at 16 KiB */
	EXPECT_EQ(-EBADMSG, deliver(c, 2, bad));
	EXPECT_EQ(2, relay_stat(c, 3, QKDN_RELAY_A_BAD_FRAME));
	ASSERT_EQ(0, link_stats(&c->nl[3], BIG_LINK(2), &after));
	for (i = 1; i <= QKDN_STAT_A_NEXT_SEQ; ++i)
		if (i != QKDN_STAT_A_GEN_RATE && i != QKDN_STAT_A_CONS_RATE)
			EXPECT_EQ(before.v[i], after.v[i])
				TH_LOG("counter %d of link %d at node 3", i,
				       BIG_LINK(2));

	EXPECT_EQ(0, deliver(c, 2, f));			/* the real one */
	pump(c, 4000);
	relay_wait(c, &r);
	EXPECT_EQ(0, r.ret);
	EXPECT_EQ(BIG_KEYS, r.n);
	free(f);
	free(bad);
}

/*
 * Too large: over QKDN_RELAY_BYTES_MAX, or a frame after the first hop
 * that would not fit on links of the first link's unit (32 bytes here:
 * 60 KiB would be a 93780-byte frame). Refused before anything is taken.
 */
TEST_F(chain, relay_too_large)
{
	struct chain *c = self->c;
	struct pool_stats before, after;
	struct nlmsghdr *nlh;

	ASSERT_EQ(0, link_stats(&c->nl[1], 1, &before));
	nlh = relay_msg(&c->nl[1], NODES, 64);
	mnl_attr_put_u32(nlh, QKDN_A_KEY_SIZE, 8192);
	EXPECT_EQ(-EMSGSIZE, talk(&c->nl[1], nlh, NULL, NULL));
	nlh = relay_msg(&c->nl[1], NODES, BIG_KEYS);
	mnl_attr_put_u32(nlh, QKDN_A_KEY_SIZE, BIG_UNIT * 8);
	EXPECT_EQ(-EMSGSIZE, talk(&c->nl[1], nlh, NULL, NULL));
	/* To the neighbour there is no later hop: only too few keys. */
	nlh = relay_msg(&c->nl[1], 2, BIG_KEYS);
	mnl_attr_put_u32(nlh, QKDN_A_KEY_SIZE, BIG_UNIT * 8);
	EXPECT_EQ(-EAGAIN, talk(&c->nl[1], nlh, NULL, NULL));
	ASSERT_EQ(0, link_stats(&c->nl[1], 1, &after));
	EXPECT_EQ(before.v[QKDN_STAT_A_STORED], after.v[QKDN_STAT_A_STORED]);
	EXPECT_EQ(before.v[QKDN_STAT_A_CONSUMED],
		  after.v[QKDN_STAT_A_CONSUMED]);
	EXPECT_EQ(0, relay_stat(c, 1, QKDN_RELAY_A_STARTED));
}

/*
 * QKDN_A_NEXT_HOP_NODE_ID (a key manager's multipath refill names the
 * first hop): a node that is no neighbour is refused before anything is
 * taken, even with a route to the destination.
 */
TEST_F(chain, relay_first_hop_not_a_neighbour)
{
	struct chain *c = self->c;
	struct pool_stats before, after;
	struct nlmsghdr *nlh;

	ASSERT_EQ(0, link_stats(&c->nl[1], 1, &before));
	nlh = relay_msg(&c->nl[1], NODES, 2);
	mnl_attr_put_u32(nlh, QKDN_A_NEXT_HOP_NODE_ID, 3);
	EXPECT_EQ(-EHOSTUNREACH, talk(&c->nl[1], nlh, NULL, NULL));
	ASSERT_EQ(0, link_stats(&c->nl[1], 1, &after));
	EXPECT_EQ(before.v[QKDN_STAT_A_STORED], after.v[QKDN_STAT_A_STORED]);
	EXPECT_EQ(before.v[QKDN_STAT_A_CONSUMED],
		  after.v[QKDN_STAT_A_CONSUMED]);
	EXPECT_EQ(0, relay_stat(c, 1, QKDN_RELAY_A_STARTED));
}

/*
 * A trusted node whose onward link has smaller units than the first
 * (256 bytes after 1024): the onward frame would be 66900 bytes
 * (EMSGSIZE there, counted unroutable). The relay times out and is
 * ABORTed; no node keeps a key.
 */
TEST_F(chain, large_relay_onto_small_units)
{
	struct chain *c = self->c;
	struct relay_result r;
	struct frame *f = malloc(sizeof(*f));

	ASSERT_NE(NULL, f);
	ASSERT_EQ(0, chain_link_big(c, 1, BIG_UNIT));
	ASSERT_EQ(0, chain_link_big(c, 2, 256));
	ASSERT_EQ(0, set_timeout(&c->nl[1], 1000));
	relay_start_bits(c, NODES, BIG_KEYS, BIG_UNIT * 8);
	ASSERT_EQ(0, next_frame(c, 1, f, 4000));
	EXPECT_EQ(-EMSGSIZE, deliver(c, 1, f));
	EXPECT_EQ(1, relay_stat(c, 2, QKDN_RELAY_A_UNROUTABLE));
	relay_wait(c, &r);
	EXPECT_EQ(-ETIMEDOUT, r.ret);
	EXPECT_EQ(1, relay_stat(c, 1, QKDN_RELAY_A_FAILED));
	pump(c, 1000);
	EXPECT_EQ(-EAGAIN, talk(&c->nl[1], get_msg(&c->nl[1], "sa", "se", 1),
				NULL, NULL));
	EXPECT_EQ(0, relay_stat(c, NODES, QKDN_RELAY_A_RECEIVED));
	free(f);
}

/*
 * Kx-2 between neighbours: keys supplied only once both ends agree. The
 * first request finds no verified key: its batch checks every key it can
 * (link 1 holds 16 in node 1's half, one of which the SYNC's MAC takes)
 * and the next request takes from that stock without a round trip.
 */
TEST_F(chain, ksa_sync_confirms_keys)
{
	struct chain *c = self->c;
	struct keys *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	int i;

	ASSERT_NE(NULL, a);
	ASSERT_NE(NULL, b);
	ASSERT_EQ(0, app_add(&c->nl[1], "sb", 2, -1));
	ASSERT_EQ(0, app_add(&c->nl[2], "sb", 2, 0));
	ASSERT_EQ(0, app_add(&c->nl[2], "sa", 1, -1));
	ASSERT_EQ(0, set_ksa_sync(&c->nl[1], 1));
	ASSERT_EQ(0, set_ksa_sync(&c->nl[2], 1));
	get_start(c, "sa", "sb", 3);
	EXPECT_EQ(2, pump(c, 1000));		/* SYNC and SYNC_ACK */
	ASSERT_EQ(0, get_wait(c, a));
	ASSERT_EQ(3, a->n);
	ASSERT_EQ(0, talk(&c->nl[2], by_id_as(&c->nl[2], QKDN_CMD_KEY_GET_ID,
					      "sb", "sa", (const void *)a->id, 3),
			  keys_cb, b));
	ASSERT_EQ(3, b->n);
	for (i = 0; i < 3; ++i)
		EXPECT_EQ(0, memcmp(a->data[i], b->data[i], UNIT));
	EXPECT_EQ(15, relay_stat(c, 1, QKDN_RELAY_A_SYNC_OK));
	EXPECT_EQ(15, relay_stat(c, 2, QKDN_RELAY_A_SYNC_OK));
	EXPECT_EQ(1, relay_stat(c, 1, QKDN_RELAY_A_SYNC_BATCHES));
	EXPECT_EQ(1, relay_stat(c, 1, QKDN_RELAY_A_SYNC_WAITS));
	/* 3 supplied and the SYNC frame's MAC key; the SYNC_ACK's. */
	EXPECT_EQ(5, link_stat(c, 1, 1, QKDN_STAT_A_CONSUMED));
	/* The 12 left are verified at both ends. */
	EXPECT_EQ(12, link_stat(c, 1, 1, QKDN_STAT_A_VERIFIED));
	EXPECT_EQ(12, link_stat(c, 2, 1, QKDN_STAT_A_PEER_VERIFIED));

	/* From the stock: no frame, no wait. */
	ASSERT_EQ(0, talk(&c->nl[1], get_msg(&c->nl[1], "sa", "sb", 2),
			  keys_cb, a));
	EXPECT_EQ(0, pump(c, 200));
	EXPECT_EQ(1, relay_stat(c, 1, QKDN_RELAY_A_SYNC_WAITS));
	EXPECT_EQ(10, link_stat(c, 1, 1, QKDN_STAT_A_VERIFIED));
	free(a);
	free(b);
}

/*
 * Link 9 (node 1 alice, node 2 bob) fed @qkd_keys QKD-keys: 4 KMA-keys
 * each, 2 in each half; GET_KEY for sb then draws from it, the fullest
 * link to node 2.
 */
static void ksa_setup(struct chain *c, int qkd_keys, int diverge,
		      uint32_t timeout_ms)
{
	if (chain_link_fed(c, 9, 1, 2, qkd_keys, diverge) ||
	    app_add(&c->nl[1], "sb", 2, -1) || app_add(&c->nl[2], "sb", 2, 0) ||
	    app_add(&c->nl[2], "sa", 1, -1) || set_ksa_sync(&c->nl[1], 1) ||
	    set_ksa_sync(&c->nl[2], 1) || set_timeout(&c->nl[1], timeout_ms))
		abort();
}

/* The ends of link 9 hold the same keys, and the same of them verified. */
static void expect_same_pools(struct __test_metadata *_metadata,
			      struct chain *c)
{
	EXPECT_EQ(link_stat(c, 1, 9, QKDN_STAT_A_ENC_AVAILABLE),
		  link_stat(c, 2, 9, QKDN_STAT_A_DEC_STORED));
	EXPECT_EQ(link_stat(c, 1, 9, QKDN_STAT_A_DEC_STORED),
		  link_stat(c, 2, 9, QKDN_STAT_A_ENC_AVAILABLE));
	EXPECT_EQ(link_stat(c, 1, 9, QKDN_STAT_A_VERIFIED),
		  link_stat(c, 2, 9, QKDN_STAT_A_PEER_VERIFIED));
}

/*
 * Verification runs ahead of supply: the first request waits for a batch
 * of 129 keys (its own and the low-water stock of 128); the next ones
 * are served from the stock without a round trip, and the one that takes
 * the stock below 128 starts the next batch without waiting for it. Both
 * ends mark the same keys verified.
 */
TEST_F(chain, ksa_sync_verifies_ahead)
{
	struct chain *c = self->c;
	struct keys *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	int i;

	ASSERT_NE(NULL, a);
	ASSERT_NE(NULL, b);
	ksa_setup(c, 100, -1, 5000);	/* 200 keys in node 1's half */
	get_start(c, "sa", "sb", 1);
	EXPECT_EQ(2, pump(c, 1000));
	ASSERT_EQ(0, get_wait(c, a));
	EXPECT_EQ(129, relay_stat(c, 1, QKDN_RELAY_A_SYNC_OK));
	EXPECT_EQ(128, link_stat(c, 1, 9, QKDN_STAT_A_VERIFIED));
	EXPECT_EQ(1, relay_stat(c, 1, QKDN_RELAY_A_SYNC_WAITS));

	/*
	 * Ten more, one key each, with no one carrying frames: none waits.
	 * The first leaves 127 verified and sends the next batch: the 70
	 * keys left unchecked (200 - 129 - the first SYNC's MAC key); its
	 * own MAC key is the oldest key, a verified one.
	 */
	for (i = 0; i < 10; ++i)
		ASSERT_EQ(0, talk(&c->nl[1], get_msg(&c->nl[1], "sa", "sb", 1),
				  keys_cb, a));
	EXPECT_EQ(1, relay_stat(c, 1, QKDN_RELAY_A_SYNC_WAITS));
	EXPECT_EQ(2, relay_stat(c, 1, QKDN_RELAY_A_SYNC_BATCHES));
	EXPECT_EQ(117, link_stat(c, 1, 9, QKDN_STAT_A_VERIFIED));
	EXPECT_EQ(2, pump(c, 1000));		/* its SYNC and SYNC_ACK */
	EXPECT_EQ(129 + 70, relay_stat(c, 1, QKDN_RELAY_A_SYNC_OK));
	EXPECT_EQ(129 + 70, relay_stat(c, 2, QKDN_RELAY_A_SYNC_OK));
	EXPECT_EQ(117 + 70, link_stat(c, 1, 9, QKDN_STAT_A_VERIFIED));
	EXPECT_EQ(0, link_stat(c, 1, 9, QKDN_STAT_A_ENC_AVAILABLE) -
		     link_stat(c, 1, 9, QKDN_STAT_A_VERIFIED));

	/* Node 2 hands out the 11 supplied keys by ID: same bytes. */
	ASSERT_EQ(0, talk(&c->nl[1], get_msg(&c->nl[1], "sa", "sb", 5),
			  keys_cb, a));
	ASSERT_EQ(0, talk(&c->nl[2], by_id_as(&c->nl[2], QKDN_CMD_KEY_GET_ID,
					      "sb", "sa", (const void *)a->id, 5),
			  keys_cb, b));
	for (i = 0; i < 5; ++i)
		EXPECT_EQ(0, memcmp(a->data[i], b->data[i], UNIT));
	EXPECT_EQ(1, relay_stat(c, 1, QKDN_RELAY_A_SYNC_WAITS));
	EXPECT_EQ(0, relay_stat(c, 1, QKDN_RELAY_A_SYNC_TIMEOUT));
	/* The 11 keys supplied before are still waiting at node 2. */
	EXPECT_EQ(link_stat(c, 1, 9, QKDN_STAT_A_VERIFIED) + 11,
		  link_stat(c, 2, 9, QKDN_STAT_A_PEER_VERIFIED));
	free(a);
	free(b);
}

/*
 * The peer's node goes silent: supply from the verified stock goes on;
 * once it is used up, a request waits for the batch in flight and fails
 * with ETIMEDOUT, taking nothing; the keys stay, unchecked. When the peer
 * is back, the next request gets its batch checked.
 */
TEST_F(chain, ksa_sync_peer_down)
{
	struct chain *c = self->c;
	struct keys *a = calloc(1, sizeof(*a));
	struct frame *f = malloc(sizeof(*f));
	uint64_t enc;

	ASSERT_NE(NULL, a);
	ASSERT_NE(NULL, f);
	ksa_setup(c, 100, -1, 600);
	get_start(c, "sa", "sb", 1);
	EXPECT_EQ(2, pump(c, 1000));
	ASSERT_EQ(0, get_wait(c, a));
	EXPECT_EQ(128, link_stat(c, 1, 9, QKDN_STAT_A_VERIFIED));

	/*
	 * Node 2 is gone: what node 1 sends is lost. The first request
	 * sends the next batch, whose MAC key is a verified key.
	 */
	ASSERT_EQ(0, talk(&c->nl[1], get_msg(&c->nl[1], "sa", "sb", 64),
			  keys_cb, a));
	ASSERT_EQ(0, talk(&c->nl[1], get_msg(&c->nl[1], "sa", "sb", 63),
			  keys_cb, a));
	EXPECT_EQ(1, relay_stat(c, 1, QKDN_RELAY_A_SYNC_WAITS));
	EXPECT_EQ(0, link_stat(c, 1, 9, QKDN_STAT_A_VERIFIED));
	EXPECT_EQ(0, next_frame(c, 1, f, 1000));	/* the lost SYNC */
	enc = link_stat(c, 1, 9, QKDN_STAT_A_ENC_AVAILABLE);
	EXPECT_EQ(200 - 2 - 128, enc);	/* 2 MAC keys, 128 supplied */
	get_start(c, "sa", "sb", 1);
	EXPECT_EQ(-ETIMEDOUT, get_wait(c, a));
	EXPECT_EQ(1, relay_stat(c, 1, QKDN_RELAY_A_SYNC_TIMEOUT));
	EXPECT_EQ(2, relay_stat(c, 1, QKDN_RELAY_A_SYNC_WAITS));
	EXPECT_EQ(enc, link_stat(c, 1, 9, QKDN_STAT_A_ENC_AVAILABLE));
	EXPECT_EQ(0, link_stat(c, 1, 9, QKDN_STAT_A_VERIFIED));

	/* Back: a new batch of the same keys (less its MAC key's). */
	get_start(c, "sa", "sb", 1);
	EXPECT_EQ(2, pump(c, 1000));
	ASSERT_EQ(0, get_wait(c, a));
	EXPECT_EQ(enc - 1 - 1, link_stat(c, 1, 9, QKDN_STAT_A_VERIFIED));
	EXPECT_EQ(3, relay_stat(c, 1, QKDN_RELAY_A_SYNC_BATCHES));
	free(a);
	free(f);
}

/*
 * The ends of link 9 got one QKD-key with the same ID but different
 * bytes, so a KMA-key has the same ID and different bytes at the two
 * ends: the batch that holds it fails, both ends delete all its keys and
 * raise the alarm, and their pools still hold the same keys. The next
 * batch, of other keys, passes.
 */
TEST_F(chain, ksa_sync_catches_different_bytes)
{
	struct chain *c = self->c;
	struct keys *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	int i;

	ASSERT_NE(NULL, a);
	ASSERT_NE(NULL, b);
	/* QKD-key 1 differs: alice's KMA-key 4 (its first 32 bytes). */
	ksa_setup(c, 100, 1, 5000);
	get_start(c, "sa", "sb", 3);
	EXPECT_EQ(2, pump(c, 1000));
	EXPECT_EQ(-EKEYREJECTED, get_wait(c, a));
	/* The batch: the 131 oldest keys but the SYNC's MAC key. */
	EXPECT_EQ(131, relay_stat(c, 1, QKDN_RELAY_A_SYNC_MISMATCH));
	EXPECT_EQ(131, relay_stat(c, 2, QKDN_RELAY_A_SYNC_MISMATCH));
	EXPECT_EQ(131, link_stat(c, 1, 9, QKDN_STAT_A_DELETED));
	EXPECT_EQ(131, link_stat(c, 2, 9, QKDN_STAT_A_DELETED));
	EXPECT_EQ(0, relay_stat(c, 1, QKDN_RELAY_A_SYNC_OK));
	EXPECT_EQ(1, c->ksa_alarms[1]);
	EXPECT_EQ(1, c->ksa_alarms[2]);
	EXPECT_EQ(200 - 1 - 131, link_stat(c, 1, 9, QKDN_STAT_A_ENC_AVAILABLE));
	expect_same_pools(_metadata, c);

	get_start(c, "sa", "sb", 3);
	EXPECT_EQ(2, pump(c, 1000));
	ASSERT_EQ(0, get_wait(c, a));
	ASSERT_EQ(0, talk(&c->nl[2], by_id_as(&c->nl[2], QKDN_CMD_KEY_GET_ID,
					      "sb", "sa", (const void *)a->id, 3),
			  keys_cb, b));
	for (i = 0; i < 3; ++i)
		EXPECT_EQ(0, memcmp(a->data[i], b->data[i], UNIT));
	EXPECT_EQ(1, c->ksa_alarms[1]);
	expect_same_pools(_metadata, c);
	free(a);
	free(b);
}

TEST_HARNESS_MAIN
