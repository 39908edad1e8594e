// SPDX-License-Identifier: GPL-2.0
/*
 * Ak key supply sessions (seed 000 clause 7.2.1): AK_AUTH, AK_KEY and
 * AK_DEL, one fresh pair of nodes per test:
 *
 *   netns A (node 1 "alpha")                 netns B (node 2 "beta")
 *   +----------------------------+           +----------------------------+
 *   | link 1: alice, A-tx, 32 B  |~~~ QKD ~~~| link 1: bob, B-rx, 32 B    |
 *   | sa: local, uid 0           |           | sb: local, uid 0           |
 *   | sb: at node 2              |           | sa: at node 1              |
 *   | socket nl (opens sessions) |           | sockets nl2, other         |
 *   +----------------------------+           +----------------------------+
 *
 * 12 KMA-keys of 32 bytes at each end: 6 in each half. Every refused
 * request must fail with its exact errno and leave the pools as they were.
 * Runs as root inside the test VM, with qkdn.ko loaded.
 */

#include <pthread.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "qkdn_nl.h"

/* What an Ak reply carried; keys go to @keys if set. */
struct ak_reply {
	uint8_t response;
	uint8_t app_code;
	uint64_t session;
	uint32_t count_id, amount, key_size, node, peer_node, link;
	bool has_count_id, has_amount, has_keys, has_status;
	uint64_t stored, max_count;
	uint32_t per_request, st_key_size, st_max_size, st_min_size;
	char sae[QKDN_ID_MAXLEN], peer_sae[QKDN_ID_MAXLEN];
	struct keys *keys;
};

static void ak_status_parse(const struct nlattr *nest, struct ak_reply *r)
{
	const struct nlattr *a;

	r->has_status = true;
	mnl_attr_for_each_nested(a, nest) {
		switch (mnl_attr_get_type(a)) {
		case QKDN_AK_STATUS_A_STORED_KEY_COUNT:
			r->stored = mnl_attr_get_u64(a);
			break;
		case QKDN_AK_STATUS_A_MAX_KEY_COUNT:
			r->max_count = mnl_attr_get_u64(a);
			break;
		case QKDN_AK_STATUS_A_MAX_KEY_PER_REQUEST:
			r->per_request = mnl_attr_get_u32(a);
			break;
		case QKDN_AK_STATUS_A_KEY_SIZE:
			r->st_key_size = mnl_attr_get_u32(a);
			break;
		case QKDN_AK_STATUS_A_MAX_KEY_SIZE:
			r->st_max_size = mnl_attr_get_u32(a);
			break;
		case QKDN_AK_STATUS_A_MIN_KEY_SIZE:
			r->st_min_size = mnl_attr_get_u32(a);
			break;
		}
	}
}

static int ak_cb(const struct nlmsghdr *nlh, void *data)
{
	struct ak_reply *r = data;
	struct nlattr *a;

	mnl_attr_for_each(a, nlh, sizeof(struct genlmsghdr)) {
		switch (mnl_attr_get_type(a)) {
		case QKDN_A_AK_RESPONSE:
			r->response = mnl_attr_get_u8(a);
			break;
		case QKDN_A_AK_APP_CODE:
			r->app_code = mnl_attr_get_u8(a);
			break;
		case QKDN_A_AK_SESSION_ID:
			r->session = mnl_attr_get_u64(a);
			break;
		case QKDN_A_AK_COUNT_ID:
			r->count_id = mnl_attr_get_u32(a);
			r->has_count_id = true;
			break;
		case QKDN_A_KEY_AMOUNT:
			r->amount = mnl_attr_get_u32(a);
			r->has_amount = true;
			break;
		case QKDN_A_KEY_SIZE:
			r->key_size = mnl_attr_get_u32(a);
			break;
		case QKDN_A_NODE_ID:
			r->node = mnl_attr_get_u32(a);
			break;
		case QKDN_A_PEER_NODE_ID:
			r->peer_node = mnl_attr_get_u32(a);
			break;
		case QKDN_A_LINK_ID:
			r->link = mnl_attr_get_u32(a);
			break;
		case QKDN_A_SAE_ID:
			snprintf(r->sae, sizeof(r->sae), "%s", mnl_attr_get_str(a));
			break;
		case QKDN_A_PEER_SAE_ID:
			snprintf(r->peer_sae, sizeof(r->peer_sae), "%s",
				 mnl_attr_get_str(a));
			break;
		case QKDN_A_KEYS:
			r->has_keys = true;
			break;
		case QKDN_A_AK_STATUS:
			ak_status_parse(a, r);
			break;
		}
	}
	return r->keys ? keys_cb(nlh, r->keys) : MNL_CB_OK;
}

static struct nlmsghdr *auth_msg(struct nl *nl, const char *sae,
				 const char *peer)
{
	struct nlmsghdr *nlh = req(nl, QKDN_CMD_AK_AUTH);

	if (sae)
		mnl_attr_put_strz(nlh, QKDN_A_SAE_ID, sae);
	if (peer)
		mnl_attr_put_strz(nlh, QKDN_A_PEER_SAE_ID, peer);
	return nlh;
}

/* Opens a session; 0 or -errno. */
static int auth(struct nl *nl, const char *sae, const char *peer,
		uint64_t *session)
{
	struct ak_reply r = { 0 };
	int ret;

	ret = talk(nl, auth_msg(nl, sae, peer), ak_cb, &r);
	*session = r.session;
	return ret;
}

static struct nlmsghdr *ak_msg(struct nl *nl, uint8_t cmd, uint64_t session,
			       uint8_t code)
{
	struct nlmsghdr *nlh = req(nl, cmd);

	mnl_attr_put_u64(nlh, QKDN_A_AK_SESSION_ID, session);
	if (code)
		mnl_attr_put_u8(nlh, QKDN_A_AK_APP_CODE, code);
	return nlh;
}

/* ENCRYPT: @amount new keys (no QKDN_A_KEY_AMOUNT if 0). */
static struct nlmsghdr *enc_msg(struct nl *nl, uint64_t session,
				uint32_t amount)
{
	struct nlmsghdr *nlh = ak_msg(nl, QKDN_CMD_AK_KEY, session,
				      QKDN_AK_ENCRYPT);

	if (amount)
		mnl_attr_put_u32(nlh, QKDN_A_KEY_AMOUNT, amount);
	return nlh;
}

/* DECRYPT: the keys with these IDs. */
static struct nlmsghdr *dec_msg(struct nl *nl, uint64_t session,
				const uint8_t (*ids)[QKDN_KEY_ID_LEN], int n)
{
	struct nlmsghdr *nlh = ak_msg(nl, QKDN_CMD_AK_KEY, session,
				      QKDN_AK_DECRYPT);

	put_key_ids(nlh, ids, n);
	return nlh;
}

static struct nlmsghdr *status_msg(struct nl *nl, uint64_t session,
				   uint8_t code)
{
	struct nlmsghdr *nlh = ak_msg(nl, QKDN_CMD_AK_KEY, session, code);

	mnl_attr_put(nlh, QKDN_A_AK_GET_STATUS, 0, NULL);
	return nlh;
}

/* AK_DEL: these keys, or with n == 0 the session itself. */
static struct nlmsghdr *del_msg(struct nl *nl, uint64_t session,
				const uint8_t (*ids)[QKDN_KEY_ID_LEN], int n)
{
	struct nlmsghdr *nlh = ak_msg(nl, QKDN_CMD_AK_DEL, session, 0);

	if (n)
		put_key_ids(nlh, ids, n);
	return nlh;
}

FIXTURE(ak) {
	struct nl nl;		/* node 1, alice */
	struct nl nl2;		/* node 2, bob */
	struct nl other;	/* node 2 too: another application's socket */
	struct pool_stats before;
	struct pool_stats before2;
	struct keys *k;
};

FIXTURE_SETUP(ak)
{
	ASSERT_EQ(0, two_nodes(&self->nl, &self->nl2))
		TH_LOG("is qkdn.ko loaded?");
	ASSERT_EQ(0, nl_open(&self->other));
	ASSERT_EQ(0, link_stats(&self->nl, 1, &self->before));
	ASSERT_EQ(0, link_stats(&self->nl2, 1, &self->before2));
	ASSERT_EQ(6, self->before.v[QKDN_STAT_A_ENC_AVAILABLE]);
	ASSERT_EQ(6, self->before2.v[QKDN_STAT_A_DEC_STORED]);
	self->k = calloc(2, sizeof(*self->k));
	ASSERT_NE(NULL, self->k);
}

FIXTURE_TEARDOWN(ak)
{
	free(self->k);
	if (self->other.sk)
		mnl_socket_close(self->other.sk);
	mnl_socket_close(self->nl.sk);
	mnl_socket_close(self->nl2.sk);
}

#define EXPECT_REFUSED(err, nlh) \
	EXPECT_REFUSED_ON(&self->nl, &self->before, err, nlh)

TEST_F(ak, auth_opens_a_session)
{
	struct ak_reply r = { 0 }, r2 = { 0 };

	ASSERT_EQ(0, talk(&self->nl, auth_msg(&self->nl, "sa", "sb"), ak_cb,
			  &r));
	EXPECT_EQ(QKDN_AK_RESULT_SUCCESS, r.response);
	EXPECT_NE(0, r.session);
	EXPECT_EQ(1, r.node);
	EXPECT_EQ(2, r.peer_node);
	EXPECT_STREQ("sa", r.sae);
	EXPECT_STREQ("sb", r.peer_sae);
	/* A second session of the same SAEs has an ID of its own. */
	ASSERT_EQ(0, talk(&self->nl, auth_msg(&self->nl, "sa", "sb"), ak_cb,
			  &r2));
	EXPECT_NE(0, r2.session);
	EXPECT_NE(r.session, r2.session);
	EXPECT_POOL_UNCHANGED(&self->nl, &self->before);
}

TEST_F(ak, auth_bad_input)
{
	EXPECT_REFUSED(ENOENT, auth_msg(&self->nl, "nobody", "sb"));
	EXPECT_REFUSED(ENOENT, auth_msg(&self->nl, "sa", "nobody"));
	EXPECT_REFUSED(EINVAL, auth_msg(&self->nl, "sb", "sa"));
	EXPECT_REFUSED(EINVAL, auth_msg(&self->nl, "sa", "sa"));
	EXPECT_REFUSED(EINVAL, auth_msg(&self->nl, "sa", NULL));
	EXPECT_REFUSED(EINVAL, auth_msg(&self->nl, NULL, "sb"));
	EXPECT_REFUSED(EINVAL, auth_msg(&self->nl, "s:a", "sb"));
}

/* The wrong uid opens no session, and cannot use one uid 0 opened. */
TEST_F(ak, auth_and_use_need_the_sae_uid)
{
	uint64_t session;
	pid_t pid;
	int status;

	ASSERT_EQ(0, auth(&self->nl, "sa", "sb", &session));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		uint64_t none = 0;
		int fails = 0;

		if (setuid(65534))
			_exit(100);
		fails += auth(&self->nl, "sa", "sb", &none) != -EACCES;
		fails += none != 0;
		/* The socket is shared, the uid is not the SAE's. */
		fails += talk(&self->nl, enc_msg(&self->nl, session, 1), NULL,
			      NULL) != -EACCES;
		_exit(fails);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	EXPECT_POOL_UNCHANGED(&self->nl, &self->before);
	EXPECT_EQ(0, talk(&self->nl, enc_msg(&self->nl, session, 1), NULL,
			  NULL));
}

/* Encrypt at A, decrypt by ID at B: the same bytes under the same IDs. */
TEST_F(ak, encrypt_at_a_decrypt_at_b)
{
	struct ak_reply ra = { .keys = &self->k[0] };
	struct ak_reply rb = { .keys = &self->k[1] };
	struct keys *a = &self->k[0], *b = &self->k[1];
	struct pool_stats st;
	uint64_t sa, sb;
	int i;

	ASSERT_EQ(0, auth(&self->nl, "sa", "sb", &sa));
	ASSERT_EQ(0, auth(&self->nl2, "sb", "sa", &sb));
	ASSERT_EQ(0, talk(&self->nl, enc_msg(&self->nl, sa, 3), ak_cb, &ra));
	ASSERT_EQ(3, a->n);
	EXPECT_EQ(QKDN_AK_SUPPLY_SUCCESS, ra.response);
	EXPECT_EQ(QKDN_AK_ENCRYPT, ra.app_code);
	EXPECT_EQ(sa, ra.session);
	EXPECT_EQ(1, ra.count_id);
	EXPECT_EQ(3, ra.amount);
	EXPECT_EQ(256, ra.key_size);
	EXPECT_EQ(1, ra.node);
	EXPECT_EQ(2, ra.peer_node);
	EXPECT_EQ(1, ra.link);
	EXPECT_STREQ("sa", ra.sae);
	EXPECT_STREQ("sb", ra.peer_sae);
	EXPECT_FALSE(ra.has_status);

	ASSERT_EQ(0, talk(&self->nl2, dec_msg(&self->nl2, sb,
					      (const void *)a->id, 3),
			  ak_cb, &rb));
	ASSERT_EQ(3, b->n);
	EXPECT_EQ(QKDN_AK_SUPPLY_SUCCESS, rb.response);
	EXPECT_EQ(QKDN_AK_DECRYPT, rb.app_code);
	EXPECT_EQ(1, rb.count_id);
	EXPECT_EQ(3, rb.amount);
	EXPECT_EQ(256, rb.key_size);
	EXPECT_EQ(2, rb.node);
	EXPECT_EQ(1, rb.peer_node);
	for (i = 0; i < 3; ++i) {
		EXPECT_EQ(32, b->len[i]);
		EXPECT_EQ(0, memcmp(a->id[i], b->id[i], QKDN_KEY_ID_LEN));
		EXPECT_EQ(0, memcmp(a->data[i], b->data[i], 32));
	}
	/* Once per side: the same IDs again are unknown at B. */
	ASSERT_EQ(0, link_stats(&self->nl2, 1, &st));
	EXPECT_EQ(3, st.v[QKDN_STAT_A_DEC_STORED]);
	EXPECT_EQ(3, st.v[QKDN_STAT_A_CONSUMED]);
	EXPECT_REFUSED_ON(&self->nl2, &st, ENOKEY,
			  dec_msg(&self->nl2, sb, (const void *)a->id, 1));
}

/* Each sub-session that supplies keys gets the next count ID. */
TEST_F(ak, count_id_counts_sub_sessions)
{
	uint64_t session, other;
	int i;

	ASSERT_EQ(0, auth(&self->nl, "sa", "sb", &session));
	ASSERT_EQ(0, auth(&self->nl, "sa", "sb", &other));
	for (i = 1; i <= 3; ++i) {
		struct ak_reply r = { 0 };

		ASSERT_EQ(0, talk(&self->nl, enc_msg(&self->nl, session, 0),
				  ak_cb, &r));
		EXPECT_EQ(i, r.count_id);
		EXPECT_EQ(1, r.amount);
	}
	{
		/* Status takes no number and says the last one. */
		struct ak_reply r = { 0 };

		ASSERT_EQ(0, talk(&self->nl, status_msg(&self->nl, session,
							QKDN_AK_ENCRYPT),
				  ak_cb, &r));
		EXPECT_EQ(QKDN_AK_SUPPLY_STATUS_TABLE, r.response);
		EXPECT_EQ(3, r.count_id);
	}
	{
		/* Nor does an insufficient answer: 3 keys left, 4 asked. */
		struct ak_reply r = { 0 };

		ASSERT_EQ(0, talk(&self->nl, enc_msg(&self->nl, session, 4),
				  ak_cb, &r));
		EXPECT_EQ(QKDN_AK_SUPPLY_INSUFFICIENT, r.response);
		EXPECT_EQ(3, r.count_id);
	}
	{
		/* Nor a refused request. */
		struct nlmsghdr *nlh = enc_msg(&self->nl, session, 1);
		struct ak_reply r = { 0 };

		mnl_attr_put_u32(nlh, QKDN_A_KEY_SIZE, 128);
		EXPECT_EQ(-EINVAL, talk(&self->nl, nlh, NULL, NULL));
		ASSERT_EQ(0, talk(&self->nl, enc_msg(&self->nl, session, 1),
				  ak_cb, &r));
		EXPECT_EQ(4, r.count_id);
	}
	{
		/* Another session counts on its own. */
		struct ak_reply r = { 0 };

		ASSERT_EQ(0, talk(&self->nl, enc_msg(&self->nl, other, 1),
				  ak_cb, &r));
		EXPECT_EQ(1, r.count_id);
	}
}

/* SUCCESS while as many remain, SUFFICIENT when just enough. */
TEST_F(ak, success_sufficient_insufficient)
{
	struct ak_reply r = { .keys = self->k };
	struct pool_stats st;
	uint64_t session;

	ASSERT_EQ(0, auth(&self->nl, "sa", "sb", &session));
	ASSERT_EQ(0, talk(&self->nl, enc_msg(&self->nl, session, 2), ak_cb,
			  &r));
	EXPECT_EQ(QKDN_AK_SUPPLY_SUCCESS, r.response);	/* 4 left >= 2 */
	memset(&r, 0, sizeof(r));
	ASSERT_EQ(0, talk(&self->nl, enc_msg(&self->nl, session, 3), ak_cb,
			  &r));
	EXPECT_EQ(QKDN_AK_SUPPLY_SUFFICIENT, r.response); /* 1 left < 3 */
	EXPECT_EQ(3, r.amount);
	EXPECT_TRUE(r.has_keys);
	EXPECT_EQ(2, r.count_id);

	/* 1 left, 2 asked: nothing taken, the status says 1. */
	ASSERT_EQ(0, link_stats(&self->nl, 1, &st));
	memset(&r, 0, sizeof(r));
	ASSERT_EQ(0, talk(&self->nl, enc_msg(&self->nl, session, 2), ak_cb,
			  &r));
	EXPECT_EQ(QKDN_AK_SUPPLY_INSUFFICIENT, r.response);
	EXPECT_FALSE(r.has_keys);
	EXPECT_TRUE(r.has_status);
	EXPECT_EQ(1, r.stored);
	EXPECT_EQ(2, r.amount);
	EXPECT_EQ(256, r.key_size);
	EXPECT_EQ(2, r.count_id);
	EXPECT_POOL_UNCHANGED(&self->nl, &st);

	memset(&r, 0, sizeof(r));
	ASSERT_EQ(0, talk(&self->nl, enc_msg(&self->nl, session, 1), ak_cb,
			  &r));
	EXPECT_EQ(QKDN_AK_SUPPLY_SUFFICIENT, r.response); /* 0 left < 1 */
	memset(&r, 0, sizeof(r));
	ASSERT_EQ(0, talk(&self->nl, enc_msg(&self->nl, session, 1), ak_cb,
			  &r));
	EXPECT_EQ(QKDN_AK_SUPPLY_INSUFFICIENT, r.response);
	EXPECT_EQ(0, r.stored);
}

TEST_F(ak, insufficient_leaves_the_pool_unchanged)
{
	struct ak_reply r = { 0 };
	uint64_t session;

	ASSERT_EQ(0, auth(&self->nl, "sa", "sb", &session));
	ASSERT_EQ(0, talk(&self->nl, enc_msg(&self->nl, session, 7), ak_cb,
			  &r));
	EXPECT_EQ(QKDN_AK_SUPPLY_INSUFFICIENT, r.response);
	EXPECT_EQ(6, r.stored);
	EXPECT_EQ(7, r.amount);
	EXPECT_EQ(0, r.count_id);
	EXPECT_FALSE(r.has_keys);
	EXPECT_POOL_UNCHANGED(&self->nl, &self->before);
}

/* ETSI GS QKD 014 Table 9, for both application codes. */
TEST_F(ak, status_table)
{
	struct ak_reply r = { 0 };
	uint64_t sa, sb;

	ASSERT_EQ(0, auth(&self->nl, "sa", "sb", &sa));
	ASSERT_EQ(0, talk(&self->nl, status_msg(&self->nl, sa,
						QKDN_AK_ENCRYPT), ak_cb, &r));
	EXPECT_EQ(QKDN_AK_SUPPLY_STATUS_TABLE, r.response);
	EXPECT_EQ(QKDN_AK_ENCRYPT, r.app_code);
	EXPECT_TRUE(r.has_status);
	EXPECT_FALSE(r.has_keys);
	EXPECT_FALSE(r.has_amount);
	EXPECT_EQ(6, r.stored);
	EXPECT_EQ(1000, r.max_count);
	EXPECT_EQ(QKDN_KEY_AMOUNT_MAX, r.per_request);
	EXPECT_EQ(256, r.st_key_size);
	EXPECT_EQ(256, r.st_max_size);
	EXPECT_EQ(256, r.st_min_size);
	EXPECT_EQ(256, r.key_size);
	EXPECT_EQ(0, r.count_id);
	EXPECT_EQ(1, r.node);
	EXPECT_EQ(2, r.peer_node);
	EXPECT_POOL_UNCHANGED(&self->nl, &self->before);

	/* B's decrypting half holds A's 6 encrypting keys, less 2 taken. */
	ASSERT_EQ(0, talk(&self->nl, enc_msg(&self->nl, sa, 2), NULL, NULL));
	ASSERT_EQ(0, auth(&self->nl2, "sb", "sa", &sb));
	memset(&r, 0, sizeof(r));
	ASSERT_EQ(0, talk(&self->nl2, status_msg(&self->nl2, sb,
						 QKDN_AK_DECRYPT), ak_cb, &r));
	EXPECT_EQ(QKDN_AK_SUPPLY_STATUS_TABLE, r.response);
	EXPECT_EQ(QKDN_AK_DECRYPT, r.app_code);
	EXPECT_EQ(6, r.stored);
	memset(&r, 0, sizeof(r));
	ASSERT_EQ(0, talk(&self->nl, status_msg(&self->nl, sa,
						QKDN_AK_ENCRYPT), ak_cb, &r));
	EXPECT_EQ(4, r.stored);
}

/* A peer on a node without a link: a session, zero status, no keys. */
TEST_F(ak, unreachable_peer)
{
	struct ak_reply r = { 0 };
	uint64_t session;

	ASSERT_EQ(0, app_add(&self->nl, "far", 9, -1));
	ASSERT_EQ(0, auth(&self->nl, "sa", "far", &session));
	ASSERT_EQ(0, talk(&self->nl, status_msg(&self->nl, session,
						QKDN_AK_ENCRYPT), ak_cb, &r));
	EXPECT_EQ(0, r.stored);
	EXPECT_EQ(0, r.st_key_size);
	EXPECT_EQ(0, r.per_request);
	EXPECT_REFUSED(EHOSTUNREACH, enc_msg(&self->nl, session, 1));
}

TEST_F(ak, key_bad_input)
{
	uint8_t ids[1][QKDN_KEY_ID_LEN] = { { 0 } };
	struct nlmsghdr *nlh;
	uint64_t session;

	ASSERT_EQ(0, auth(&self->nl, "sa", "sb", &session));
	nlh = req(&self->nl, QKDN_CMD_AK_KEY);
	mnl_attr_put_u8(nlh, QKDN_A_AK_APP_CODE, QKDN_AK_ENCRYPT);
	EXPECT_REFUSED(EINVAL, nlh);			/* no session */
	EXPECT_REFUSED(EINVAL, ak_msg(&self->nl, QKDN_CMD_AK_KEY, session, 0));
	EXPECT_REFUSED(ERANGE, ak_msg(&self->nl, QKDN_CMD_AK_KEY, session, 3));
	EXPECT_REFUSED(ERANGE, ak_msg(&self->nl, QKDN_CMD_AK_KEY, 0,
				      QKDN_AK_ENCRYPT));
	EXPECT_REFUSED(ENOENT, enc_msg(&self->nl, session + 1, 1));
	EXPECT_REFUSED(ERANGE, ({
		nlh = enc_msg(&self->nl, session, 0);
		mnl_attr_put_u32(nlh, QKDN_A_KEY_AMOUNT, 0);
		nlh;
	}));
	EXPECT_REFUSED(ERANGE, enc_msg(&self->nl, session,
				       QKDN_KEY_AMOUNT_MAX + 1));
	EXPECT_REFUSED(EINVAL, ({
		nlh = enc_msg(&self->nl, session, 1);
		mnl_attr_put_u32(nlh, QKDN_A_KEY_SIZE, 128);
		nlh;
	}));
	EXPECT_REFUSED(EINVAL, ({			/* keys with ENCRYPT */
		nlh = enc_msg(&self->nl, session, 1);
		put_key_ids(nlh, (const void *)ids, 1);
		nlh;
	}));
	EXPECT_REFUSED(EINVAL, ak_msg(&self->nl, QKDN_CMD_AK_KEY, session,
				      QKDN_AK_DECRYPT));	/* no keys */
	EXPECT_REFUSED(EINVAL, ({			/* status with amount */
		nlh = status_msg(&self->nl, session, QKDN_AK_ENCRYPT);
		mnl_attr_put_u32(nlh, QKDN_A_KEY_AMOUNT, 1);
		nlh;
	}));
	EXPECT_REFUSED(EINVAL, ({			/* reply-only */
		nlh = enc_msg(&self->nl, session, 1);
		mnl_attr_put_u32(nlh, QKDN_A_AK_COUNT_ID, 1);
		nlh;
	}));
	EXPECT_REFUSED(EINVAL, ({			/* not the session's */
		nlh = enc_msg(&self->nl, session, 1);
		mnl_attr_put_strz(nlh, QKDN_A_PEER_SAE_ID, "far");
		nlh;
	}));
	EXPECT_REFUSED(ENOKEY, dec_msg(&self->nl, session, (const void *)ids,
				       1));
	{
		/* Matching source and target IDs are fine. */
		struct ak_reply r = { 0 };

		nlh = enc_msg(&self->nl, session, 1);
		mnl_attr_put_strz(nlh, QKDN_A_SAE_ID, "sa");
		mnl_attr_put_strz(nlh, QKDN_A_PEER_SAE_ID, "sb");
		EXPECT_EQ(0, talk(&self->nl, nlh, ak_cb, &r));
		EXPECT_EQ(1, r.count_id);
	}
}

/* DECRYPT is all or nothing, and checks amount and size first. */
TEST_F(ak, decrypt_bad_input_takes_nothing)
{
	struct ak_reply r = { .keys = self->k };
	uint8_t ids[2][QKDN_KEY_ID_LEN];
	struct nlmsghdr *nlh;
	uint64_t sa, sb;

	ASSERT_EQ(0, auth(&self->nl, "sa", "sb", &sa));
	ASSERT_EQ(0, auth(&self->nl2, "sb", "sa", &sb));
	ASSERT_EQ(0, talk(&self->nl, enc_msg(&self->nl, sa, 2), ak_cb, &r));
	ASSERT_EQ(2, self->k->n);
	memcpy(ids, self->k->id, sizeof(ids));

	nlh = dec_msg(&self->nl2, sb, (const void *)ids, 2);
	mnl_attr_put_u32(nlh, QKDN_A_KEY_AMOUNT, 3);
	EXPECT_REFUSED_ON(&self->nl2, &self->before2, EINVAL, nlh);
	nlh = dec_msg(&self->nl2, sb, (const void *)ids, 2);
	mnl_attr_put_u32(nlh, QKDN_A_KEY_SIZE, 128);
	EXPECT_REFUSED_ON(&self->nl2, &self->before2, EINVAL, nlh);
	ids[1][3] ^= 1;
	EXPECT_REFUSED_ON(&self->nl2, &self->before2, ENOKEY,
			  dec_msg(&self->nl2, sb, (const void *)ids, 2));
	ids[1][3] ^= 1;
	memcpy(ids[1], ids[0], QKDN_KEY_ID_LEN);
	EXPECT_REFUSED_ON(&self->nl2, &self->before2, EINVAL,
			  dec_msg(&self->nl2, sb, (const void *)ids, 2));
	/* With the right amount and size, it works. */
	nlh = dec_msg(&self->nl2, sb, (const void *)self->k->id, 2);
	mnl_attr_put_u32(nlh, QKDN_A_KEY_AMOUNT, 2);
	mnl_attr_put_u32(nlh, QKDN_A_KEY_SIZE, 256);
	memset(&r, 0, sizeof(r));
	EXPECT_EQ(0, talk(&self->nl2, nlh, ak_cb, &r));
	EXPECT_EQ(1, r.count_id);
	EXPECT_EQ(2, r.amount);
}

TEST_F(ak, delete_keys_and_end_session)
{
	struct ak_reply r = { .keys = self->k };
	struct pool_stats st;
	uint64_t sa, sb;

	ASSERT_EQ(0, auth(&self->nl, "sa", "sb", &sa));
	ASSERT_EQ(0, auth(&self->nl2, "sb", "sa", &sb));
	ASSERT_EQ(0, talk(&self->nl, enc_msg(&self->nl, sa, 2), ak_cb, &r));
	ASSERT_EQ(2, self->k->n);

	/* Keys supplied for encryption are no longer the KM's to delete. */
	EXPECT_REFUSED_ON(&self->nl2, &self->before2, EINVAL, ({
		struct nlmsghdr *nlh = del_msg(&self->nl2, sb,
					       (const void *)self->k->id, 1);

		mnl_attr_put_u8(nlh, QKDN_A_AK_APP_CODE, QKDN_AK_ENCRYPT);
		nlh;
	}));
	memset(&r, 0, sizeof(r));
	ASSERT_EQ(0, talk(&self->nl2, del_msg(&self->nl2, sb,
					      (const void *)self->k->id, 1),
			  ak_cb, &r));
	EXPECT_EQ(QKDN_AK_RESULT_SUCCESS, r.response);
	EXPECT_EQ(sb, r.session);
	EXPECT_EQ(1, r.amount);
	EXPECT_EQ(2, r.node);
	EXPECT_EQ(1, r.peer_node);
	ASSERT_EQ(0, link_stats(&self->nl2, 1, &st));
	EXPECT_EQ(1, st.v[QKDN_STAT_A_DELETED]);
	EXPECT_EQ(5, st.v[QKDN_STAT_A_DEC_STORED]);
	EXPECT_EQ(0, st.v[QKDN_STAT_A_CONSUMED]);
	/* The deleted key is gone, the other one is still there. */
	EXPECT_REFUSED_ON(&self->nl2, &st, ENOKEY,
			  dec_msg(&self->nl2, sb, (const void *)self->k->id, 1));
	EXPECT_EQ(0, talk(&self->nl2, dec_msg(&self->nl2, sb,
					      (const void *)self->k->id[1], 1),
			  NULL, NULL));

	/* Ending the session: its ID is unknown from then on. */
	memset(&r, 0, sizeof(r));
	ASSERT_EQ(0, talk(&self->nl2, del_msg(&self->nl2, sb, NULL, 0), ak_cb,
			  &r));
	EXPECT_EQ(QKDN_AK_RESULT_SUCCESS, r.response);
	EXPECT_EQ(0, r.amount);
	EXPECT_EQ(-ENOENT, talk(&self->nl2, status_msg(&self->nl2, sb,
						       QKDN_AK_DECRYPT),
				NULL, NULL));
	EXPECT_EQ(-ENOENT, talk(&self->nl2, del_msg(&self->nl2, sb, NULL, 0),
				NULL, NULL));
}

/* A session whose SAE is deregistered is refused, but can be ended. */
TEST_F(ak, registration_gone)
{
	struct nlmsghdr *nlh;
	uint64_t session;

	ASSERT_EQ(0, auth(&self->nl, "sa", "sb", &session));
	nlh = req(&self->nl, QKDN_CMD_APP_DEL);
	mnl_attr_put_strz(nlh, QKDN_A_SAE_ID, "sa");
	ASSERT_EQ(0, talk(&self->nl, nlh, NULL, NULL));
	EXPECT_REFUSED(ENOENT, enc_msg(&self->nl, session, 1));
	EXPECT_EQ(0, talk(&self->nl, del_msg(&self->nl, session, NULL, 0),
			  NULL, NULL));
}

/* An AK_KEY sent from another thread, which blocks until it is answered. */
struct pending {
	struct nl *nl;
	struct nlmsghdr *nlh;
	uint32_t seq;
};

static void *send_pending(void *arg)
{
	struct pending *p = arg;

	mnl_socket_sendto(p->nl->sk, p->nlh, p->nlh->nlmsg_len);
	return NULL;
}

/*
 * With KSA synchronisation a request waits for the peer's node without the
 * node's lock. Meanwhile its session is busy (EBUSY for its other
 * requests); and when the wait ends unanswered, no count ID was used.
 */
TEST_F(ak, session_busy_while_ksa_waits)
{
	static uint8_t req_buf[4096];
	struct pending p = { .nl = &self->nl };
	struct nlmsghdr *nlh;
	struct ak_reply r = { 0 };
	pthread_t thread;
	uint64_t session;
	int ret;

	nlh = req(&self->nl, QKDN_CMD_NODE_SET);
	mnl_attr_put_u8(nlh, QKDN_A_KSA_SYNC, 1);
	mnl_attr_put_u32(nlh, QKDN_A_RELAY_TIMEOUT, 1500);
	ASSERT_EQ(0, talk(&self->nl, nlh, NULL, NULL));
	ASSERT_EQ(0, auth(&self->nl, "sa", "sb", &session));

	/* No one carries the SYNC frame to node 2: it waits 1.5 s. */
	nlh = enc_msg(&self->nl, session, 1);
	memcpy(req_buf, nlh, nlh->nlmsg_len);
	p.nlh = (struct nlmsghdr *)req_buf;
	p.seq = p.nlh->nlmsg_seq;
	ASSERT_EQ(0, pthread_create(&thread, NULL, send_pending, &p));
	usleep(400000);
	EXPECT_EQ(-EBUSY, talk(&self->nl, enc_msg(&self->nl, session, 1), NULL,
			       NULL));
	EXPECT_EQ(-EBUSY, talk(&self->nl, del_msg(&self->nl, session, NULL, 0),
			       NULL, NULL));
	ASSERT_EQ(0, pthread_join(thread, NULL));

	/* Its answer: no acknowledgment in time. */
	ret = mnl_socket_recvfrom(self->nl.sk, self->nl.buf, sizeof(self->nl.buf));
	ASSERT_LT(0, ret);
	EXPECT_EQ(-1, mnl_cb_run(self->nl.buf, ret, p.seq,
				 mnl_socket_get_portid(self->nl.sk), NULL, NULL));
	EXPECT_EQ(ETIMEDOUT, errno);

	ASSERT_EQ(0, talk(&self->nl, status_msg(&self->nl, session,
						QKDN_AK_ENCRYPT), ak_cb, &r));
	EXPECT_EQ(0, r.count_id);
	/* The session is usable again; ending it works. */
	EXPECT_EQ(0, talk(&self->nl, del_msg(&self->nl, session, NULL, 0),
			  NULL, NULL));
}

/* A session is its socket's: another socket gets EPERM, even as root. */
TEST_F(ak, session_of_another_socket)
{
	struct ak_reply r = { 0 };
	uint64_t sb;

	ASSERT_EQ(0, auth(&self->nl2, "sb", "sa", &sb));
	EXPECT_REFUSED_ON(&self->other, &self->before2, EPERM,
			  status_msg(&self->other, sb, QKDN_AK_DECRYPT));
	EXPECT_REFUSED_ON(&self->other, &self->before2, EPERM,
			  enc_msg(&self->other, sb, 1));
	EXPECT_REFUSED_ON(&self->other, &self->before2, EPERM,
			  del_msg(&self->other, sb, NULL, 0));
	/* Still there for its own socket. */
	EXPECT_EQ(0, talk(&self->nl2, enc_msg(&self->nl2, sb, 1), ak_cb, &r));
	EXPECT_EQ(1, r.count_id);
	/* A socket of another node does not even see it. */
	EXPECT_EQ(-ENOENT, talk(&self->nl, enc_msg(&self->nl, sb, 1), NULL,
				NULL));
}

/* Closing a socket ends its sessions, and only its. */
TEST_F(ak, socket_close_ends_sessions)
{
	uint64_t gone[3], kept;
	int i;

	for (i = 0; i < 3; ++i)
		ASSERT_EQ(0, auth(&self->other, "sb", "sa", &gone[i]));
	ASSERT_EQ(0, auth(&self->nl2, "sb", "sa", &kept));
	EXPECT_EQ(-EPERM, talk(&self->nl2, enc_msg(&self->nl2, gone[0], 1),
			       NULL, NULL));
	mnl_socket_close(self->other.sk);
	self->other.sk = NULL;
	/* Gone, not someone else's: ENOENT where EPERM was. */
	for (i = 0; i < 3; ++i)
		EXPECT_EQ(-ENOENT, talk(&self->nl2,
					enc_msg(&self->nl2, gone[i], 1),
					NULL, NULL));
	EXPECT_EQ(0, talk(&self->nl2, enc_msg(&self->nl2, kept, 1), NULL,
			  NULL));
}

static long module_objects(void)
{
	return module_number("parameters/objects");
}

/* QKDN_AK_SESSIONS_MAX in a node, ENOSPC beyond; a closed socket frees. */
TEST_F(ak, session_limit)
{
	long objects = module_objects();
	uint64_t session;
	int i;

	for (i = 0; i < QKDN_AK_SESSIONS_MAX; ++i)
		ASSERT_EQ(0, auth(&self->other, "sb", "sa", &session))
			TH_LOG("session %d", i);
	/* Each one is an object of the module (other tests' namespaces may
	 * still be going away, so only at least). */
	EXPECT_LE(objects + QKDN_AK_SESSIONS_MAX - 64, module_objects());
	EXPECT_EQ(-ENOSPC, auth(&self->other, "sb", "sa", &session));
	EXPECT_EQ(-ENOSPC, auth(&self->nl2, "sb", "sa", &session));
	/* The limit is the node's: node 1 is not full. */
	EXPECT_EQ(0, auth(&self->nl, "sa", "sb", &session));
	mnl_socket_close(self->other.sk);
	self->other.sk = NULL;
	EXPECT_EQ(0, auth(&self->nl2, "sb", "sa", &session));
}

TEST_HARNESS_MAIN
