// SPDX-License-Identifier: GPL-2.0
/*
 * The generic netlink family "qkdn": the contract is
 * include/uapi/linux/qkdn.h, which documents every command.
 */

#include <linux/cred.h>
#include <linux/module.h>
#include <linux/rcupdate.h>
#include <linux/skbuff.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/timekeeping.h>
#include <net/genetlink.h>
#include <net/sock.h>
#include <crypto/algapi.h>

#include "ak.h"
#include "main.h"
#include "netlink.h"
#include "node.h"

static struct genl_family qkdn_family;

enum {
	QKDN_MCGRP_ALARM_INDEX,
	QKDN_MCGRP_KX_INDEX,
};

static struct netlink_range_validation qkdn_node_id_range = {
	.min = 1,
	.max = QKDN_NODE_ID_MAX,
};

static struct netlink_range_validation qkdn_relay_timeout_range = {
	.min = 1,
	.max = QKDN_RELAY_TIMEOUT_MS_MAX,
};

static struct netlink_range_validation qkdn_qber_range = {
	.min = 0,
	.max = 1000000,
};

static struct netlink_range_validation qkdn_capacity_range = {
	.min = 1,
	.max = QKDN_POOL_CAPACITY_MAX,
};

#define QKDN_ID_POLICY { .type = NLA_NUL_STRING, .len = QKDN_ID_MAXLEN - 1 }

static const struct nla_policy qkdn_key_policy[QKDN_KEY_A_MAX + 1] = {
	[QKDN_KEY_A_ID]		= NLA_POLICY_EXACT_LEN(QKDN_KEY_ID_LEN),
	[QKDN_KEY_A_DATA]	= { .type = NLA_REJECT },
	[QKDN_KEY_A_TIMESTAMP]	= { .type = NLA_REJECT },
};

static const struct nla_policy qkdn_keys_policy[QKDN_A_KEY + 1] = {
	[QKDN_A_KEY]		= NLA_POLICY_NESTED(qkdn_key_policy),
};

static const struct nla_policy qkdn_sae_ids_policy[QKDN_A_PEER_SAE_ID + 1] = {
	[QKDN_A_PEER_SAE_ID]	= QKDN_ID_POLICY,
};

static const struct nla_policy qkdn_policy[QKDN_A_MAX + 1] = {
	[QKDN_A_NODE_ID]	= NLA_POLICY_FULL_RANGE(NLA_U32,
							&qkdn_node_id_range),
	[QKDN_A_NODE_NAME]	= QKDN_ID_POLICY,
	[QKDN_A_KEYRING_TTL]	= { .type = NLA_U32 },
	[QKDN_A_LINK_COUNT]	= { .type = NLA_REJECT },
	[QKDN_A_APP_COUNT]	= { .type = NLA_REJECT },
	[QKDN_A_LINK_ID]	= NLA_POLICY_MIN(NLA_U32, 1),
	[QKDN_A_PEER_NODE_ID]	= NLA_POLICY_FULL_RANGE(NLA_U32,
							&qkdn_node_id_range),
	[QKDN_A_LINK_ROLE]	= NLA_POLICY_RANGE(NLA_U8, QKDN_ROLE_ALICE,
						   QKDN_ROLE_MAX),
	[QKDN_A_QKD_MODULE_ID]	= QKDN_ID_POLICY,
	[QKDN_A_MATCHING_QKD_MODULE_ID] = QKDN_ID_POLICY,
	[QKDN_A_KEY_UNIT]	= NLA_POLICY_RANGE(NLA_U16, QKDN_KEY_UNIT_MIN,
						   QKDN_KEY_UNIT_MAX),
	[QKDN_A_POOL_CAPACITY]	= NLA_POLICY_FULL_RANGE(NLA_U32,
							&qkdn_capacity_range),
	[QKDN_A_POOL_LOW]	= { .type = NLA_U32 },
	[QKDN_A_POOL_HIGH]	= { .type = NLA_U32 },
	[QKDN_A_LINK_STATS]	= { .type = NLA_REJECT },
	[QKDN_A_QKD_KEY_ID]	= QKDN_ID_POLICY,
	[QKDN_A_QKD_KEY_DATA]	= { .type = NLA_BINARY,
				    .len = QKDN_QKD_KEY_MAX },
	[QKDN_A_QKD_KEY_TIMESTAMP] = { .type = NLA_U64 },
	[QKDN_A_QKD_KEY_HASH]	= NLA_POLICY_EXACT_LEN(SHA256_DIGEST_SIZE),
	[QKDN_A_SAE_ID]		= QKDN_ID_POLICY,
	[QKDN_A_PEER_SAE_ID]	= QKDN_ID_POLICY,
	[QKDN_A_UID]		= { .type = NLA_U32 },
	[QKDN_A_KEYS_SUPPLIED]	= { .type = NLA_REJECT },
	[QKDN_A_KEY_AMOUNT]	= NLA_POLICY_RANGE(NLA_U32, 1,
						   QKDN_KEY_AMOUNT_MAX),
	[QKDN_A_KEY_SIZE]	= { .type = NLA_U32 },
	[QKDN_A_KEYS]		= NLA_POLICY_NESTED(qkdn_keys_policy),
	[QKDN_A_KEY]		= { .type = NLA_REJECT },
	[QKDN_A_ALARM]		= { .type = NLA_REJECT },
	[QKDN_A_DEST_NODE_ID]	= NLA_POLICY_FULL_RANGE(NLA_U32,
							&qkdn_node_id_range),
	[QKDN_A_NEXT_HOP_NODE_ID] = NLA_POLICY_FULL_RANGE(NLA_U32,
							  &qkdn_node_id_range),
	[QKDN_A_RELAY_ID]	= { .type = NLA_REJECT },
	[QKDN_A_RELAY_TIMEOUT]	= NLA_POLICY_FULL_RANGE(NLA_U32,
							&qkdn_relay_timeout_range),
	[QKDN_A_KX_FRAME]	= { .type = NLA_BINARY,
				    .len = QKDN_KX_FRAME_MAX },
	[QKDN_A_RELAY_STATS]	= { .type = NLA_REJECT },
	[QKDN_A_STORE_STATS]	= { .type = NLA_REJECT },
	[QKDN_A_KSA_SYNC]	= NLA_POLICY_MAX(NLA_U8, 1),
	[QKDN_A_KSA_NOWAIT]	= { .type = NLA_FLAG },
	[QKDN_A_QKD_STATE]	= NLA_POLICY_RANGE(NLA_U8, QKDN_QKD_UP,
						   QKDN_QKD_STATE_MAX),
	[QKDN_A_QKD_KEY_RATE]	= { .type = NLA_U64 },
	[QKDN_A_QKD_QBER]	= NLA_POLICY_FULL_RANGE(NLA_U32,
							&qkdn_qber_range),
	[QKDN_A_QKD_UPDATED]	= { .type = NLA_REJECT },
	[QKDN_A_PEER_SAE_IDS]	= NLA_POLICY_NESTED(qkdn_sae_ids_policy),
	[QKDN_A_AK_SESSION_ID]	= NLA_POLICY_MIN(NLA_U64, 1),
	[QKDN_A_AK_APP_CODE]	= NLA_POLICY_RANGE(NLA_U8, QKDN_AK_ENCRYPT,
						   QKDN_AK_APP_MAX),
	[QKDN_A_AK_COUNT_ID]	= { .type = NLA_REJECT },
	[QKDN_A_AK_RESPONSE]	= { .type = NLA_REJECT },
	[QKDN_A_AK_STATUS]	= { .type = NLA_REJECT },
	[QKDN_A_AK_GET_STATUS]	= { .type = NLA_FLAG },
};

static struct qkdn_node *info_node(struct genl_info *info)
{
	return qkdn_node_of(genl_info_net(info));
}

/*
 * IDs travel in keyring descriptions as "<sae>:<peer-sae>[:<key-id>]", so
 * they must be non-empty and free of separators and blanks.
 */
static const char *id_of(const struct nlattr *attr,
			 struct netlink_ext_ack *extack)
{
	const char *id = nla_data(attr), *c;

	for (c = id; *c; ++c)
		if (*c == ':' || *c <= ' ' || *c > '~')
			break;
	if (!*id || *c) {
		NL_SET_ERR_MSG_ATTR(extack, attr,
				    "IDs are printable ASCII without ':' or blanks");
		return NULL;
	}
	return id;
}

static const char *get_id(struct genl_info *info, int attr)
{
	if (GENL_REQ_ATTR_CHECK(info, attr))
		return NULL;
	return id_of(info->attrs[attr], info->extack);
}

static int qkdn_nl_ping(struct sk_buff *skb, struct genl_info *info)
{
	struct sk_buff *msg;
	void *hdr;

	msg = genlmsg_new(0, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &qkdn_family, 0, QKDN_CMD_PING);
	if (!hdr) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);
}

struct counter {
	int type;
	u64 value;
};

/* A nest of 64-bit counters, the way every statistics block travels. */
static int put_counters(struct sk_buff *msg, int nest_type, int pad,
			const struct counter *counters, size_t n)
{
	struct nlattr *nest;
	size_t i;

	nest = nla_nest_start(msg, nest_type);
	if (!nest)
		return -EMSGSIZE;
	for (i = 0; i < n; ++i)
		if (nla_put_u64_64bit(msg, counters[i].type, counters[i].value,
				      pad))
			return -EMSGSIZE;
	nla_nest_end(msg, nest);
	return 0;
}

static int put_relay_stats(struct sk_buff *msg,
			   const struct qkdn_relay_stats *stats)
{
	const struct counter counters[] = {
		{ QKDN_RELAY_A_STARTED, stats->started },
		{ QKDN_RELAY_A_COMPLETED, stats->completed },
		{ QKDN_RELAY_A_FAILED, stats->failed },
		{ QKDN_RELAY_A_RECEIVED, stats->received },
		{ QKDN_RELAY_A_FORWARDED, stats->forwarded },
		{ QKDN_RELAY_A_FRAMES_TX, stats->frames_tx },
		{ QKDN_RELAY_A_FRAMES_RX, stats->frames_rx },
		{ QKDN_RELAY_A_BAD_FRAME, stats->bad_frame },
		{ QKDN_RELAY_A_BAD_MAC, stats->bad_mac },
		{ QKDN_RELAY_A_REPLAYED, stats->replayed },
		{ QKDN_RELAY_A_UNKNOWN_LINK, stats->unknown_link },
		{ QKDN_RELAY_A_UNKNOWN_KEY, stats->unknown_key },
		{ QKDN_RELAY_A_UNROUTABLE, stats->unroutable },
		{ QKDN_RELAY_A_LINK_KEYS_USED, stats->link_keys_used },
		{ QKDN_RELAY_A_SYNC_OK, stats->sync_ok },
		{ QKDN_RELAY_A_SYNC_MISMATCH, stats->sync_mismatch },
		{ QKDN_RELAY_A_SYNC_TIMEOUT, stats->sync_timeout },
		{ QKDN_RELAY_A_SYNC_BATCHES, stats->sync_batches },
		{ QKDN_RELAY_A_SYNC_WAITS, stats->sync_waits },
	};

	return put_counters(msg, QKDN_A_RELAY_STATS, QKDN_RELAY_A_PAD,
			    counters, ARRAY_SIZE(counters));
}

static int qkdn_nl_node_get(struct sk_buff *skb, struct genl_info *info)
{
	struct qkdn_node *node = info_node(info);
	struct sk_buff *msg;
	void *hdr;
	int ret = -EMSGSIZE;

	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &qkdn_family, 0, QKDN_CMD_NODE_GET);
	if (!hdr)
		goto err;
	mutex_lock(&node->lock);
	if (nla_put_u32(msg, QKDN_A_NODE_ID, node->id) ||
	    nla_put_string(msg, QKDN_A_NODE_NAME, node->name) ||
	    nla_put_u32(msg, QKDN_A_KEYRING_TTL, node->keyring_ttl) ||
	    nla_put_u32(msg, QKDN_A_LINK_COUNT, node->link_count) ||
	    nla_put_u32(msg, QKDN_A_APP_COUNT, node->app_count) ||
	    nla_put_u32(msg, QKDN_A_RELAY_TIMEOUT, node->relay_timeout_ms) ||
	    nla_put_u8(msg, QKDN_A_KSA_SYNC, node->ksa_sync) ||
	    put_relay_stats(msg, &node->relay_stats)) {
		mutex_unlock(&node->lock);
		goto err;
	}
	mutex_unlock(&node->lock);
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);
err:
	nlmsg_free(msg);
	return ret;
}

static int qkdn_nl_node_set(struct sk_buff *skb, struct genl_info *info)
{
	struct qkdn_node *node = info_node(info);
	struct nlattr **attrs = info->attrs;
	int ret = 0;

	mutex_lock(&node->lock);
	if (attrs[QKDN_A_NODE_ID]) {
		u32 id = nla_get_u32(attrs[QKDN_A_NODE_ID]);

		if (id != node->id && (node->link_count || node->app_count)) {
			NL_SET_ERR_MSG(info->extack,
				       "node ID is fixed while links or applications exist");
			ret = -EBUSY;
			goto out;
		}
		node->id = id;
	}
	if (attrs[QKDN_A_NODE_NAME])
		nla_strscpy(node->name, attrs[QKDN_A_NODE_NAME],
			    sizeof(node->name));
	if (attrs[QKDN_A_KEYRING_TTL])
		node->keyring_ttl = nla_get_u32(attrs[QKDN_A_KEYRING_TTL]);
	if (attrs[QKDN_A_RELAY_TIMEOUT])
		node->relay_timeout_ms = nla_get_u32(attrs[QKDN_A_RELAY_TIMEOUT]);
	if (attrs[QKDN_A_KSA_SYNC])
		node->ksa_sync = nla_get_u8(attrs[QKDN_A_KSA_SYNC]);
out:
	mutex_unlock(&node->lock);
	return ret;
}

static int check_watermarks(struct genl_info *info, u32 capacity, u32 low,
			    u32 high)
{
	if (low < high && high <= capacity)
		return 0;
	NL_SET_ERR_MSG(info->extack,
		       "watermarks must satisfy low < high <= capacity");
	return -EINVAL;
}

static int qkdn_nl_link_add(struct sk_buff *skb, struct genl_info *info)
{
	struct qkdn_node *node = info_node(info);
	struct nlattr **attrs = info->attrs;
	struct qkdn_link_config cfg = {
		.unit = QKDN_KEY_UNIT_DEFAULT,
		.capacity = QKDN_POOL_CAPACITY_DEFAULT,
	};
	int ret;

	if (GENL_REQ_ATTR_CHECK(info, QKDN_A_LINK_ID) ||
	    GENL_REQ_ATTR_CHECK(info, QKDN_A_PEER_NODE_ID) ||
	    GENL_REQ_ATTR_CHECK(info, QKDN_A_LINK_ROLE))
		return -EINVAL;
	cfg.module = get_id(info, QKDN_A_QKD_MODULE_ID);
	cfg.peer_module = get_id(info, QKDN_A_MATCHING_QKD_MODULE_ID);
	if (!cfg.module || !cfg.peer_module)
		return -EINVAL;
	cfg.id = nla_get_u32(attrs[QKDN_A_LINK_ID]);
	cfg.peer_node = nla_get_u32(attrs[QKDN_A_PEER_NODE_ID]);
	cfg.role = nla_get_u8(attrs[QKDN_A_LINK_ROLE]);
	if (attrs[QKDN_A_KEY_UNIT])
		cfg.unit = nla_get_u16(attrs[QKDN_A_KEY_UNIT]);
	if (cfg.unit % 8) {
		NL_SET_ERR_MSG_ATTR(info->extack, attrs[QKDN_A_KEY_UNIT],
				    "key unit must be a multiple of 8 bytes");
		return -EINVAL;
	}
	if (attrs[QKDN_A_POOL_CAPACITY])
		cfg.capacity = nla_get_u32(attrs[QKDN_A_POOL_CAPACITY]);
	cfg.low = attrs[QKDN_A_POOL_LOW] ?
		  nla_get_u32(attrs[QKDN_A_POOL_LOW]) : cfg.capacity / 10;
	cfg.high = attrs[QKDN_A_POOL_HIGH] ?
		   nla_get_u32(attrs[QKDN_A_POOL_HIGH]) :
		   cfg.capacity - cfg.capacity / 10;
	ret = check_watermarks(info, cfg.capacity, cfg.low, cfg.high);
	if (ret)
		return ret;

	mutex_lock(&node->lock);
	if (!node->id) {
		NL_SET_ERR_MSG(info->extack, "node ID not set");
		ret = -EINVAL;
	} else if (cfg.peer_node == node->id) {
		NL_SET_ERR_MSG_ATTR(info->extack, attrs[QKDN_A_PEER_NODE_ID],
				    "a link cannot lead to its own node");
		ret = -EINVAL;
	} else {
		ret = qkdn_link_add(node, &cfg, info->extack);
	}
	mutex_unlock(&node->lock);
	return ret;
}

/* Looks the link up with node->lock held; says so if it is unknown. */
static struct qkdn_link *info_link(struct qkdn_node *node,
				   struct genl_info *info)
{
	struct qkdn_link *link;

	link = qkdn_link_find(node, nla_get_u32(info->attrs[QKDN_A_LINK_ID]));
	if (!link)
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[QKDN_A_LINK_ID],
				    "no such link");
	return link;
}

static int qkdn_nl_link_set(struct sk_buff *skb, struct genl_info *info)
{
	struct qkdn_node *node = info_node(info);
	struct nlattr **attrs = info->attrs;
	struct qkdn_link *link;
	u32 capacity, low, high;
	int ret;

	if (GENL_REQ_ATTR_CHECK(info, QKDN_A_LINK_ID))
		return -EINVAL;
	mutex_lock(&node->lock);
	link = info_link(node, info);
	if (!link) {
		ret = -ENODEV;
		goto out;
	}
	capacity = attrs[QKDN_A_POOL_CAPACITY] ?
		   nla_get_u32(attrs[QKDN_A_POOL_CAPACITY]) :
		   link->pool.capacity;
	low = attrs[QKDN_A_POOL_LOW] ?
	      nla_get_u32(attrs[QKDN_A_POOL_LOW]) : link->pool.low;
	high = attrs[QKDN_A_POOL_HIGH] ?
	       nla_get_u32(attrs[QKDN_A_POOL_HIGH]) : link->pool.high;
	ret = check_watermarks(info, capacity, low, high);
	if (ret)
		goto out;
	qkdn_pool_set_limits(&link->pool, capacity, low, high);
	qkdn_link_update(node, link);
out:
	mutex_unlock(&node->lock);
	return ret;
}

static int qkdn_nl_link_del(struct sk_buff *skb, struct genl_info *info)
{
	struct qkdn_node *node = info_node(info);
	struct qkdn_link *link;
	int ret = 0;

	if (GENL_REQ_ATTR_CHECK(info, QKDN_A_LINK_ID))
		return -EINVAL;
	mutex_lock(&node->lock);
	link = info_link(node, info);
	if (link)
		qkdn_link_del(node, link);
	else
		ret = -ENODEV;
	mutex_unlock(&node->lock);
	return ret;
}

static int put_link_stats(struct sk_buff *msg, struct qkdn_link *link)
{
	const struct qkdn_pool *pool = &link->pool;
	const struct qkdn_pool_stats *stats = &pool->stats;
	const struct counter counters[] = {
		{ QKDN_STAT_A_STORED, qkdn_pool_stored(pool) },
		{ QKDN_STAT_A_ENC_AVAILABLE, pool->enc_avail },
		{ QKDN_STAT_A_DEC_STORED, pool->dec_stored },
		{ QKDN_STAT_A_GENERATED, stats->generated },
		{ QKDN_STAT_A_CONSUMED, stats->consumed },
		{ QKDN_STAT_A_DELETED, stats->deleted },
		{ QKDN_STAT_A_DISCARDED, stats->discarded },
		{ QKDN_STAT_A_QKD_KEYS, stats->qkd_keys },
		{ QKDN_STAT_A_QKD_BYTES, stats->qkd_bytes },
		{ QKDN_STAT_A_GEN_RATE, link->gen_rate },
		{ QKDN_STAT_A_CONS_RATE, link->cons_rate },
		{ QKDN_STAT_A_NEXT_SEQ, pool->next_seq },
		{ QKDN_STAT_A_VERIFIED, pool->verified },
		{ QKDN_STAT_A_PEER_VERIFIED, pool->dec_verified },
	};

	return put_counters(msg, QKDN_A_LINK_STATS, QKDN_STAT_A_PAD,
			    counters, ARRAY_SIZE(counters));
}

static int put_link(struct sk_buff *msg, struct qkdn_link *link)
{
	if (nla_put_u32(msg, QKDN_A_LINK_ID, link->id) ||
	    nla_put_u32(msg, QKDN_A_PEER_NODE_ID, link->peer_node) ||
	    nla_put_u8(msg, QKDN_A_LINK_ROLE, link->role) ||
	    nla_put_string(msg, QKDN_A_QKD_MODULE_ID, link->module) ||
	    nla_put_string(msg, QKDN_A_MATCHING_QKD_MODULE_ID,
			   link->peer_module) ||
	    nla_put_u16(msg, QKDN_A_KEY_UNIT, link->pool.unit) ||
	    nla_put_u32(msg, QKDN_A_POOL_CAPACITY, link->pool.capacity) ||
	    nla_put_u32(msg, QKDN_A_POOL_LOW, link->pool.low) ||
	    nla_put_u32(msg, QKDN_A_POOL_HIGH, link->pool.high))
		return -EMSGSIZE;
	if (link->qkd_state &&
	    (nla_put_u8(msg, QKDN_A_QKD_STATE, link->qkd_state) ||
	     nla_put_u64_64bit(msg, QKDN_A_QKD_KEY_RATE, link->qkd_key_rate,
			       QKDN_A_PAD) ||
	     nla_put_u32(msg, QKDN_A_QKD_QBER, link->qkd_qber) ||
	     nla_put_u64_64bit(msg, QKDN_A_QKD_UPDATED, link->qkd_updated,
			       QKDN_A_PAD)))
		return -EMSGSIZE;
	return put_link_stats(msg, link);
}

static int qkdn_nl_link_get(struct sk_buff *skb, struct genl_info *info)
{
	struct qkdn_node *node = info_node(info);
	struct qkdn_link *link;
	struct sk_buff *msg;
	void *hdr;
	int ret;

	if (GENL_REQ_ATTR_CHECK(info, QKDN_A_LINK_ID))
		return -EINVAL;
	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &qkdn_family, 0, QKDN_CMD_LINK_GET);
	mutex_lock(&node->lock);
	link = info_link(node, info);
	if (!link)
		ret = -ENODEV;
	else
		ret = hdr ? put_link(msg, link) : -EMSGSIZE;
	if (link)
		qkdn_link_update(node, link);
	mutex_unlock(&node->lock);
	if (ret) {
		nlmsg_free(msg);
		return ret;
	}
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);
}

static int qkdn_nl_link_dump_start(struct netlink_callback *cb)
{
	cb->args[0] = 0;	/* the next link ID to report */
	return 0;
}

static int qkdn_nl_link_dump(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct qkdn_node *node = qkdn_node_of(sock_net(skb->sk));
	unsigned long index = cb->args[0];
	struct qkdn_link *link;
	int ret = 0;
	void *hdr;

	mutex_lock(&node->lock);
	cb->seq = node->generation;
	xa_for_each_start(&node->links, index, link, cb->args[0]) {
		qkdn_link_update(node, link);
		hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid,
				  cb->nlh->nlmsg_seq, &qkdn_family, NLM_F_MULTI,
				  QKDN_CMD_LINK_GET);
		if (!hdr)
			break;
		genl_dump_check_consistent(cb, hdr);
		if (put_link(skb, link)) {
			genlmsg_cancel(skb, hdr);
			break;
		}
		genlmsg_end(skb, hdr);
		cb->args[0] = index + 1;
	}
	mutex_unlock(&node->lock);
	if (!ret)
		ret = skb->len;
	return ret;
}

static int qkdn_nl_dump_done(struct netlink_callback *cb)
{
	return 0;
}

static int key_push(struct qkdn_node *node, struct genl_info *info)
{
	struct nlattr **attrs = info->attrs;
	const struct nlattr *data = attrs[QKDN_A_QKD_KEY_DATA];
	struct qkdn_link *link;
	const char *qkd_key_id;
	u64 now;
	int ret;

	if (GENL_REQ_ATTR_CHECK(info, QKDN_A_LINK_ID))
		return -EINVAL;
	qkd_key_id = get_id(info, QKDN_A_QKD_KEY_ID);
	if (!qkd_key_id)
		return -EINVAL;
	if (!nla_len(data)) {
		NL_SET_ERR_MSG_ATTR(info->extack, data, "empty QKD-key");
		return -EINVAL;
	}
	link = info_link(node, info);
	if (!link)
		return -ENODEV;
	if (link->qkd_state == QKDN_QKD_DOWN ||
	    link->qkd_state == QKDN_QKD_EAVESDROPPED) {
		NL_SET_ERR_MSG(info->extack,
			       "the link's QKD driver reports it down or eavesdropped");
		return -ENETDOWN;
	}
	if ((attrs[QKDN_A_QKD_MODULE_ID] &&
	     nla_strcmp(attrs[QKDN_A_QKD_MODULE_ID], link->module)) ||
	    (attrs[QKDN_A_MATCHING_QKD_MODULE_ID] &&
	     nla_strcmp(attrs[QKDN_A_MATCHING_QKD_MODULE_ID],
			link->peer_module))) {
		NL_SET_ERR_MSG(info->extack,
			       "QKD module IDs differ from the link's");
		return -EINVAL;
	}
	if (attrs[QKDN_A_QKD_KEY_HASH]) {
		u8 digest[SHA256_DIGEST_SIZE];

		sha256(nla_data(data), nla_len(data), digest);
		ret = crypto_memneq(digest, nla_data(attrs[QKDN_A_QKD_KEY_HASH]),
				    sizeof(digest));
		memzero_explicit(digest, sizeof(digest));
		if (ret) {
			NL_SET_ERR_MSG_ATTR(info->extack,
					    attrs[QKDN_A_QKD_KEY_HASH],
					    "QKD-key hash does not match its data");
			return -EBADMSG;
		}
	}
	now = attrs[QKDN_A_QKD_KEY_TIMESTAMP] ?
	      nla_get_u64(attrs[QKDN_A_QKD_KEY_TIMESTAMP]) :
	      ktime_get_real_ns();
	ret = qkdn_pool_push(&link->pool, qkd_key_id, nla_data(data),
			     nla_len(data), now);
	if (ret == -EOVERFLOW)
		NL_SET_ERR_MSG(info->extack, "link sequence space used up");
	qkdn_link_update(node, link);
	return ret;
}

static int qkdn_nl_key_push(struct sk_buff *skb, struct genl_info *info)
{
	struct qkdn_node *node = info_node(info);
	struct nlattr *data = info->attrs[QKDN_A_QKD_KEY_DATA];
	int ret;

	if (GENL_REQ_ATTR_CHECK(info, QKDN_A_QKD_KEY_DATA))
		return -EINVAL;
	mutex_lock(&node->lock);
	ret = key_push(node, info);
	mutex_unlock(&node->lock);
	/* Whatever happened, wipe the key bytes before the skb is freed. */
	memzero_explicit(nla_data(data), nla_len(data));
	return ret;
}

static int qkdn_nl_qkd_status(struct sk_buff *skb, struct genl_info *info)
{
	static const u8 alarms[] = {
		[QKDN_QKD_UP] = QKDN_ALARM_QKD_UP,
		[QKDN_QKD_DOWN] = QKDN_ALARM_QKD_DOWN,
		[QKDN_QKD_EAVESDROPPED] = QKDN_ALARM_QKD_EAVESDROP,
	};
	struct qkdn_node *node = info_node(info);
	struct nlattr **attrs = info->attrs;
	struct qkdn_link *link;
	u8 state, was;
	int ret = 0;

	if (GENL_REQ_ATTR_CHECK(info, QKDN_A_LINK_ID) ||
	    GENL_REQ_ATTR_CHECK(info, QKDN_A_QKD_STATE))
		return -EINVAL;
	state = nla_get_u8(attrs[QKDN_A_QKD_STATE]);
	mutex_lock(&node->lock);
	link = info_link(node, info);
	if (!link) {
		ret = -ENODEV;
		goto out;
	}
	was = link->qkd_state;
	link->qkd_state = state;
	if (attrs[QKDN_A_QKD_KEY_RATE])
		link->qkd_key_rate = nla_get_u64(attrs[QKDN_A_QKD_KEY_RATE]);
	if (attrs[QKDN_A_QKD_QBER])
		link->qkd_qber = nla_get_u32(attrs[QKDN_A_QKD_QBER]);
	link->qkd_updated = ktime_get_real_ns();
	/* A link first heard of as up raises nothing: nothing was wrong. */
	if (state != was && (was || state != QKDN_QKD_UP))
		qkdn_netlink_alarm(node, link, alarms[state]);
out:
	mutex_unlock(&node->lock);
	return ret;
}

static int qkdn_nl_app_add(struct sk_buff *skb, struct genl_info *info)
{
	struct qkdn_node *node = info_node(info);
	struct nlattr **attrs = info->attrs;
	kuid_t uid = INVALID_UID;
	const char *sae;
	u32 node_id;
	int ret;

	sae = get_id(info, QKDN_A_SAE_ID);
	if (!sae)
		return -EINVAL;
	mutex_lock(&node->lock);
	node_id = attrs[QKDN_A_NODE_ID] ? nla_get_u32(attrs[QKDN_A_NODE_ID]) :
		  node->id;
	ret = -EINVAL;
	if (!node->id) {
		NL_SET_ERR_MSG(info->extack, "node ID not set");
		goto out;
	}
	if (node_id == node->id) {
		if (!attrs[QKDN_A_UID]) {
			NL_SET_ERR_MSG(info->extack,
				       "a local SAE needs the uid that acts as it");
			goto out;
		}
		uid = make_kuid(current_user_ns(),
				nla_get_u32(attrs[QKDN_A_UID]));
		if (!uid_valid(uid)) {
			NL_SET_ERR_MSG_ATTR(info->extack, attrs[QKDN_A_UID],
					    "uid not mapped");
			goto out;
		}
	} else if (attrs[QKDN_A_UID]) {
		NL_SET_ERR_MSG_ATTR(info->extack, attrs[QKDN_A_UID],
				    "only a local SAE has a uid");
		goto out;
	}
	ret = qkdn_app_add(node, sae, node_id, uid, info->extack);
out:
	mutex_unlock(&node->lock);
	return ret;
}

static int qkdn_nl_app_del(struct sk_buff *skb, struct genl_info *info)
{
	struct qkdn_node *node = info_node(info);
	struct qkdn_app *app;
	const char *sae;
	int ret = 0;

	sae = get_id(info, QKDN_A_SAE_ID);
	if (!sae)
		return -EINVAL;
	mutex_lock(&node->lock);
	app = qkdn_app_find(node, sae);
	if (app) {
		qkdn_app_del(node, app);
	} else {
		NL_SET_ERR_MSG(info->extack, "unknown SAE ID");
		ret = -ENOENT;
	}
	mutex_unlock(&node->lock);
	return ret;
}

static int put_app(struct sk_buff *msg, struct qkdn_node *node,
		   struct qkdn_app *app)
{
	if (nla_put_string(msg, QKDN_A_SAE_ID, app->sae) ||
	    nla_put_u32(msg, QKDN_A_NODE_ID, app->node) ||
	    nla_put_u64_64bit(msg, QKDN_A_KEYS_SUPPLIED, app->supplied,
			      QKDN_A_PAD))
		return -EMSGSIZE;
	if (app->node == node->id &&
	    nla_put_u32(msg, QKDN_A_UID,
			from_kuid_munged(current_user_ns(), app->uid)))
		return -EMSGSIZE;
	return 0;
}

static int qkdn_nl_app_get(struct sk_buff *skb, struct genl_info *info)
{
	struct qkdn_node *node = info_node(info);
	struct qkdn_app *app;
	struct sk_buff *msg;
	const char *sae;
	void *hdr;
	int ret;

	sae = get_id(info, QKDN_A_SAE_ID);
	if (!sae)
		return -EINVAL;
	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &qkdn_family, 0, QKDN_CMD_APP_GET);
	mutex_lock(&node->lock);
	app = qkdn_app_find(node, sae);
	if (!app) {
		NL_SET_ERR_MSG(info->extack, "unknown SAE ID");
		ret = -ENOENT;
	} else {
		ret = hdr ? put_app(msg, node, app) : -EMSGSIZE;
	}
	mutex_unlock(&node->lock);
	if (ret) {
		nlmsg_free(msg);
		return ret;
	}
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);
}

static int qkdn_nl_app_dump(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct qkdn_node *node = qkdn_node_of(sock_net(skb->sk));
	long skip = cb->args[0], index = 0;
	struct qkdn_app *app;
	void *hdr;

	mutex_lock(&node->lock);
	cb->seq = node->generation;
	list_for_each_entry(app, &node->apps, list) {
		if (index++ < skip)
			continue;
		hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid,
				  cb->nlh->nlmsg_seq, &qkdn_family, NLM_F_MULTI,
				  QKDN_CMD_APP_GET);
		if (!hdr)
			break;
		genl_dump_check_consistent(cb, hdr);
		if (put_app(skb, node, app)) {
			genlmsg_cancel(skb, hdr);
			break;
		}
		genlmsg_end(skb, hdr);
		cb->args[0] = index;
	}
	mutex_unlock(&node->lock);
	return skb->len;
}

static int qkdn_nl_app_dump_start(struct netlink_callback *cb)
{
	cb->args[0] = 0;	/* applications already reported */
	return 0;
}

/*
 * A netlink reply that carries keys is copied to the reader and then freed
 * by the networking core, which does not wipe it. So the reply gets a
 * zerocopy completion: the core calls it when it releases the reply's
 * data, after the reader has copied it (or the socket went away), and it
 * wipes the data. Each reply in flight holds a module reference, so the
 * module cannot go while a callback may still come.
 */
static void reply_wipe(struct sk_buff *skb, struct ubuf_info *uarg,
		       bool zerocopy_success)
{
	memzero_explicit(skb->head, skb_end_offset(skb));
	refcount_dec(&uarg->refcnt);
	module_put(THIS_MODULE);
}

static struct ubuf_info reply_wipe_uarg = {
	.callback = reply_wipe,
	.refcnt = REFCOUNT_INIT(1),
	/* Clones (netlink taps) share the data rather than copy it. */
	.flags = SKBFL_ZEROCOPY_ENABLE | SKBFL_DONT_ORPHAN,
};

static void reply_wipe_on_free(struct sk_buff *skb)
{
	__module_get(THIS_MODULE);
	skb_zcopy_set(skb, &reply_wipe_uarg, NULL);
}

int qkdn_supply_reply_prepare(void *ctx, u32 count, u32 bytes)
{
	struct qkdn_supply_reply *reply = ctx;
	size_t size = nla_total_size(sizeof(u32)) + nla_total_size(0) +
		      count * (nla_total_size(0) +
			       nla_total_size(QKDN_KEY_ID_LEN) +
			       nla_total_size_64bit(sizeof(u64)) +
			       nla_total_size(0) + NLA_ALIGNTO) + bytes +
		      reply->extra;

	reply->msg = genlmsg_new(size, GFP_KERNEL);
	if (!reply->msg)
		return -ENOMEM;
	reply_wipe_on_free(reply->msg);
	reply->hdr = genlmsg_put_reply(reply->msg, reply->info, &qkdn_family,
				       0, reply->cmd);
	if (!reply->hdr)
		return -EMSGSIZE;
	reply->keys = nla_nest_start(reply->msg, QKDN_A_KEYS);
	return reply->keys ? 0 : -EMSGSIZE;
}

int qkdn_supply_reply_key(void *ctx, const struct qkdn_pool_key *key)
{
	struct qkdn_supply_reply *reply = ctx;
	struct sk_buff *msg = reply->msg;
	struct nlattr *entry;

	entry = nla_nest_start(msg, QKDN_A_KEY);
	if (!entry ||
	    nla_put(msg, QKDN_KEY_A_ID, QKDN_KEY_ID_LEN, key->id) ||
	    nla_put(msg, QKDN_KEY_A_DATA, key->len, key->data) ||
	    nla_put_u64_64bit(msg, QKDN_KEY_A_TIMESTAMP, key->created,
			      QKDN_KEY_A_PAD))
		return -EMSGSIZE;
	nla_nest_end(msg, entry);
	return 0;
}

/* Frees a reply that was not sent; reply_wipe() wipes it. */
void qkdn_supply_reply_free(struct qkdn_supply_reply *reply)
{
	nlmsg_free(reply->msg);
}

int qkdn_supply_reply_end(struct qkdn_supply_reply *reply, u32 link_id)
{
	nla_nest_end(reply->msg, reply->keys);
	if (nla_put_u32(reply->msg, QKDN_A_LINK_ID, link_id)) {
		qkdn_supply_reply_free(reply);
		return -EMSGSIZE;
	}
	return 0;
}

static int supply_reply_send(struct qkdn_supply_reply *reply, u32 link_id)
{
	int ret = qkdn_supply_reply_end(reply, link_id);

	if (ret)
		return ret;
	genlmsg_end(reply->msg, reply->hdr);
	return genlmsg_reply(reply->msg, reply->info);
}

static int supply_request(struct genl_info *info, struct qkdn_supply *req,
			  struct qkdn_supply_reply *reply)
{
	req->sae = get_id(info, QKDN_A_SAE_ID);
	req->peer_sae = req->sae ? get_id(info, QKDN_A_PEER_SAE_ID) : NULL;
	if (!req->peer_sae)
		return -EINVAL;
	req->caller = current_euid();
	req->prepare = qkdn_supply_reply_prepare;
	req->visit = qkdn_supply_reply_key;
	req->ctx = reply;
	req->extack = info->extack;
	reply->info = info;
	reply->cmd = info->genlhdr->cmd;
	return 0;
}

static int qkdn_nl_key_get(struct sk_buff *skb, struct genl_info *info)
{
	struct qkdn_node *node = info_node(info);
	struct qkdn_supply_reply reply = {};
	struct qkdn_supply req = {};
	u32 amount = 1;
	int ret;

	ret = supply_request(info, &req, &reply);
	if (ret)
		return ret;
	if (info->attrs[QKDN_A_KEY_AMOUNT])
		amount = nla_get_u32(info->attrs[QKDN_A_KEY_AMOUNT]);
	if (info->attrs[QKDN_A_KEY_SIZE])
		req.size_bits = nla_get_u32(info->attrs[QKDN_A_KEY_SIZE]);
	req.nowait = nla_get_flag(info->attrs[QKDN_A_KSA_NOWAIT]);

	mutex_lock(&node->lock);
	ret = qkdn_supply_new(node, &req, amount);
	mutex_unlock(&node->lock);
	if (ret) {
		qkdn_supply_reply_free(&reply);
		return ret;
	}
	return supply_reply_send(&reply, req.link_id);
}

/* Collects the key IDs of a KEY_GET_ID or KEY_DEL request. */
static u8 *get_key_ids(struct genl_info *info, u32 *count)
{
	struct nlattr *tb[QKDN_KEY_A_MAX + 1];
	struct nlattr *entry;
	u8 *ids;
	int rem, ret;
	u32 n = 0;

	if (GENL_REQ_ATTR_CHECK(info, QKDN_A_KEYS))
		return ERR_PTR(-EINVAL);
	nla_for_each_nested(entry, info->attrs[QKDN_A_KEYS], rem)
		++n;
	if (!n || n > QKDN_KEY_AMOUNT_MAX) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[QKDN_A_KEYS],
				    "between 1 and QKDN_KEY_AMOUNT_MAX key IDs");
		return ERR_PTR(-EINVAL);
	}
	ids = kmalloc_array(n, QKDN_KEY_ID_LEN, GFP_KERNEL);
	if (!ids)
		return ERR_PTR(-ENOMEM);
	n = 0;
	nla_for_each_nested(entry, info->attrs[QKDN_A_KEYS], rem) {
		ret = nla_parse_nested(tb, QKDN_KEY_A_MAX, entry,
				       qkdn_key_policy, info->extack);
		if (!ret && !tb[QKDN_KEY_A_ID]) {
			NL_SET_ERR_MSG_ATTR(info->extack, entry,
					    "key entry without an ID");
			ret = -EINVAL;
		}
		if (ret) {
			kfree(ids);
			return ERR_PTR(ret);
		}
		memcpy(ids + n++ * QKDN_KEY_ID_LEN, nla_data(tb[QKDN_KEY_A_ID]),
		       QKDN_KEY_ID_LEN);
	}
	*count = n;
	return ids;
}

static int key_by_id(struct genl_info *info, bool delete)
{
	struct qkdn_node *node = info_node(info);
	struct qkdn_supply_reply reply = {};
	struct qkdn_supply req = {};
	u32 count;
	u8 *ids;
	int ret;

	ret = supply_request(info, &req, &reply);
	if (ret)
		return ret;
	if (delete)
		req.prepare = NULL;
	ids = get_key_ids(info, &count);
	if (IS_ERR(ids))
		return PTR_ERR(ids);

	mutex_lock(&node->lock);
	ret = qkdn_supply_by_id(node, &req, ids, count, delete);
	mutex_unlock(&node->lock);
	kfree(ids);
	if (ret || delete) {
		qkdn_supply_reply_free(&reply);
		return ret;
	}
	return supply_reply_send(&reply, req.link_id);
}

static int qkdn_nl_key_get_id(struct sk_buff *skb, struct genl_info *info)
{
	return key_by_id(info, false);
}

static int qkdn_nl_key_del(struct sk_buff *skb, struct genl_info *info)
{
	return key_by_id(info, true);
}

static int qkdn_nl_route_add(struct sk_buff *skb, struct genl_info *info)
{
	struct qkdn_node *node = info_node(info);
	int ret;

	if (GENL_REQ_ATTR_CHECK(info, QKDN_A_DEST_NODE_ID) ||
	    GENL_REQ_ATTR_CHECK(info, QKDN_A_NEXT_HOP_NODE_ID))
		return -EINVAL;
	mutex_lock(&node->lock);
	ret = qkdn_route_add(node,
			     nla_get_u32(info->attrs[QKDN_A_DEST_NODE_ID]),
			     nla_get_u32(info->attrs[QKDN_A_NEXT_HOP_NODE_ID]),
			     info->extack);
	mutex_unlock(&node->lock);
	return ret;
}

static int qkdn_nl_route_del(struct sk_buff *skb, struct genl_info *info)
{
	struct qkdn_node *node = info_node(info);
	int ret;

	if (GENL_REQ_ATTR_CHECK(info, QKDN_A_DEST_NODE_ID))
		return -EINVAL;
	mutex_lock(&node->lock);
	ret = qkdn_route_del(node,
			     nla_get_u32(info->attrs[QKDN_A_DEST_NODE_ID]));
	mutex_unlock(&node->lock);
	if (ret)
		NL_SET_ERR_MSG(info->extack, "no route to that node");
	return ret;
}

static int qkdn_nl_route_dump(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct qkdn_node *node = qkdn_node_of(sock_net(skb->sk));
	unsigned long dest;
	void *entry, *hdr;

	mutex_lock(&node->lock);
	cb->seq = node->generation;
	xa_for_each_start(&node->routes, dest, entry, cb->args[0]) {
		hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid,
				  cb->nlh->nlmsg_seq, &qkdn_family, NLM_F_MULTI,
				  QKDN_CMD_ROUTE_GET);
		if (!hdr)
			break;
		genl_dump_check_consistent(cb, hdr);
		if (nla_put_u32(skb, QKDN_A_DEST_NODE_ID, dest) ||
		    nla_put_u32(skb, QKDN_A_NEXT_HOP_NODE_ID,
				xa_to_value(entry))) {
			genlmsg_cancel(skb, hdr);
			break;
		}
		genlmsg_end(skb, hdr);
		cb->args[0] = dest + 1;
	}
	mutex_unlock(&node->lock);
	return skb->len;
}

/* QKDN_A_KEY_AMOUNT and QKDN_A_KEY_SIZE of a relay, defaults 1 and 256. */
static int relay_amount(struct genl_info *info, u32 *count, u32 *bits)
{
	struct nlattr **attrs = info->attrs;

	*count = 1;
	*bits = 256;
	if (attrs[QKDN_A_KEY_AMOUNT])
		*count = nla_get_u32(attrs[QKDN_A_KEY_AMOUNT]);
	if (*count > QKDN_RELAY_KEYS_MAX) {
		NL_SET_ERR_MSG_ATTR(info->extack, attrs[QKDN_A_KEY_AMOUNT],
				    "at most QKDN_RELAY_KEYS_MAX keys a relay");
		return -ERANGE;
	}
	if (attrs[QKDN_A_KEY_SIZE])
		*bits = nla_get_u32(attrs[QKDN_A_KEY_SIZE]);
	if (*bits % 64 || *bits < QKDN_KEY_UNIT_MIN * 8 ||
	    *bits > QKDN_KEY_UNIT_MAX * 8) {
		NL_SET_ERR_MSG_ATTR(info->extack, attrs[QKDN_A_KEY_SIZE],
				    "key size: a multiple of 64 bits, 128..8192");
		return -EINVAL;
	}
	if (*count * (*bits / 8) > QKDN_RELAY_BYTES_MAX) {
		NL_SET_ERR_MSG(info->extack,
			       "at most QKDN_RELAY_BYTES_MAX key bytes a relay");
		return -EMSGSIZE;
	}
	return 0;
}

static int qkdn_nl_relay(struct sk_buff *skb, struct genl_info *info)
{
	struct qkdn_node *node = info_node(info);
	struct nlattr **attrs = info->attrs;
	u32 count, bits, dest, via = 0;
	struct qkdn_relay *relay;
	struct nlattr *keys, *entry;
	unsigned long timeout;
	struct sk_buff *msg;
	long waited;
	void *hdr;
	int ret;
	u32 i;

	if (GENL_REQ_ATTR_CHECK(info, QKDN_A_DEST_NODE_ID))
		return -EINVAL;
	dest = nla_get_u32(attrs[QKDN_A_DEST_NODE_ID]);
	if (attrs[QKDN_A_NEXT_HOP_NODE_ID])
		via = nla_get_u32(attrs[QKDN_A_NEXT_HOP_NODE_ID]);
	ret = relay_amount(info, &count, &bits);
	if (ret)
		return ret;
	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;

	mutex_lock(&node->lock);
	ret = qkdn_relay_start(node, dest, count, bits / 8, via, info->extack,
			       &relay);
	timeout = msecs_to_jiffies(node->relay_timeout_ms);
	mutex_unlock(&node->lock);
	if (ret) {
		nlmsg_free(msg);
		return ret;
	}
	waited = wait_for_completion_killable_timeout(&relay->done, timeout);

	mutex_lock(&node->lock);
	ret = qkdn_relay_finish(node, relay, waited);
	hdr = genlmsg_put_reply(msg, info, &qkdn_family, 0, QKDN_CMD_RELAY);
	if (!ret && (!hdr || nla_put_u64_64bit(msg, QKDN_A_RELAY_ID, relay->id,
					       QKDN_A_PAD)))
		ret = -EMSGSIZE;
	keys = ret ? NULL : nla_nest_start(msg, QKDN_A_KEYS);
	for (i = 0; keys && i < relay->count; ++i) {
		entry = nla_nest_start(msg, QKDN_A_KEY);
		if (!entry || nla_put(msg, QKDN_KEY_A_ID, QKDN_KEY_ID_LEN,
				      relay->ids[i])) {
			ret = -EMSGSIZE;
			break;
		}
		nla_nest_end(msg, entry);
	}
	mutex_unlock(&node->lock);
	qkdn_relay_put(relay);
	if (ret) {
		if (ret == -ETIMEDOUT)
			NL_SET_ERR_MSG(info->extack,
				       "no acknowledgment in time; relay abandoned");
		else if (ret == -ECONNABORTED)
			NL_SET_ERR_MSG(info->extack,
				       "the route changed; relay abandoned");
		nlmsg_free(msg);
		return ret;
	}
	nla_nest_end(msg, keys);
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);
}

/* The additional slave SAEs of a multicast request, checked as IDs. */
static int get_more_saes(struct genl_info *info, const char **saes, u32 max)
{
	struct nlattr *nest = info->attrs[QKDN_A_PEER_SAE_IDS], *entry;
	int rem;
	u32 n = 0;

	if (!nest)
		return 0;
	nla_for_each_nested(entry, nest, rem) {
		if (n == max) {
			NL_SET_ERR_MSG_ATTR(info->extack, nest,
					    "at most QKDN_MULTICAST_SAES_MAX slave SAEs");
			return -ERANGE;
		}
		saes[n] = id_of(entry, info->extack);
		if (!saes[n++])
			return -EINVAL;
	}
	if (!n) {
		NL_SET_ERR_MSG_ATTR(info->extack, nest,
				    "an empty list of slave SAEs");
		return -EINVAL;
	}
	return n;
}

static int qkdn_nl_key_get_multicast(struct sk_buff *skb,
				     struct genl_info *info)
{
	const char *more[QKDN_MULTICAST_SAES_MAX - 1];
	struct qkdn_node *node = info_node(info);
	struct qkdn_supply_reply reply = {};
	struct qkdn_supply req = {};
	u32 count, bits;
	int n, ret;

	ret = supply_request(info, &req, &reply);
	if (ret)
		return ret;
	n = get_more_saes(info, more, ARRAY_SIZE(more));
	if (n < 0)
		return n;
	ret = relay_amount(info, &count, &bits);
	if (ret)
		return ret;

	mutex_lock(&node->lock);
	ret = qkdn_supply_multicast(node, &req, more, n, count, bits / 8);
	mutex_unlock(&node->lock);
	if (ret) {
		qkdn_supply_reply_free(&reply);
		return ret;
	}
	return supply_reply_send(&reply, req.link_id);
}

static int qkdn_nl_kx_frame(struct sk_buff *skb, struct genl_info *info)
{
	struct qkdn_node *node = info_node(info);
	const struct nlattr *frame = info->attrs[QKDN_A_KX_FRAME];
	int ret;

	if (GENL_REQ_ATTR_CHECK(info, QKDN_A_PEER_NODE_ID) ||
	    GENL_REQ_ATTR_CHECK(info, QKDN_A_KX_FRAME))
		return -EINVAL;
	mutex_lock(&node->lock);
	ret = qkdn_kx_receive(node,
			      nla_get_u32(info->attrs[QKDN_A_PEER_NODE_ID]),
			      nla_data(frame), nla_len(frame), info->extack);
	mutex_unlock(&node->lock);
	return ret;
}

static int put_store(struct sk_buff *msg, const struct qkdn_store *store)
{
	const struct counter counters[] = {
		{ QKDN_STORE_A_OWN_AVAILABLE, store->own_available },
		{ QKDN_STORE_A_PEER_STORED, store->peer_stored },
		{ QKDN_STORE_A_RELAYED_OUT, store->relayed_out },
		{ QKDN_STORE_A_RELAYED_IN, store->relayed_in },
		{ QKDN_STORE_A_CONSUMED, store->consumed },
		{ QKDN_STORE_A_DELETED, store->deleted },
		{ QKDN_STORE_A_OWN_VERIFIED, store->own_verified },
		{ QKDN_STORE_A_PEER_VERIFIED, store->peer_verified },
	};

	if (nla_put_u32(msg, QKDN_A_PEER_NODE_ID, store->peer))
		return -EMSGSIZE;
	return put_counters(msg, QKDN_A_STORE_STATS, QKDN_STORE_A_PAD,
			    counters, ARRAY_SIZE(counters));
}

static int qkdn_nl_store_dump(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct qkdn_node *node = qkdn_node_of(sock_net(skb->sk));
	struct qkdn_store *store;
	unsigned long peer;
	void *hdr;

	mutex_lock(&node->lock);
	xa_for_each_start(&node->stores, peer, store, cb->args[0]) {
		hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid,
				  cb->nlh->nlmsg_seq, &qkdn_family, NLM_F_MULTI,
				  QKDN_CMD_STORE_GET);
		if (!hdr)
			break;
		if (put_store(skb, store)) {
			genlmsg_cancel(skb, hdr);
			break;
		}
		genlmsg_end(skb, hdr);
		cb->args[0] = peer + 1;
	}
	mutex_unlock(&node->lock);
	return skb->len;
}

static int qkdn_nl_cursor_start(struct netlink_callback *cb)
{
	cb->args[0] = 0;
	return 0;
}

void qkdn_netlink_kx(struct qkdn_node *node, u32 next_hop, const u8 *frame,
		     size_t len)
{
	struct sk_buff *msg;
	void *hdr;

	msg = genlmsg_new(nla_total_size(sizeof(u32)) + nla_total_size(len),
			  GFP_KERNEL);
	if (!msg)
		return;
	hdr = genlmsg_put(msg, 0, 0, &qkdn_family, 0, QKDN_CMD_KX_FRAME);
	if (!hdr || nla_put_u32(msg, QKDN_A_PEER_NODE_ID, next_hop) ||
	    nla_put(msg, QKDN_A_KX_FRAME, len, frame)) {
		nlmsg_free(msg);
		return;
	}
	genlmsg_end(msg, hdr);
	genlmsg_multicast_netns(&qkdn_family, node->net, msg, 0,
				QKDN_MCGRP_KX_INDEX, GFP_KERNEL);
}

/*
 * An alarm for the node's listeners: QKDN_A_ALARM and QKDN_A_NODE_ID are
 * in place; the caller adds what the alarm is about, then alarm_send().
 */
static struct sk_buff *alarm_new(struct qkdn_node *node, enum qkdn_alarm alarm,
				 void **hdr)
{
	struct sk_buff *msg;

	if (!genl_has_listeners(&qkdn_family, node->net, QKDN_MCGRP_ALARM_INDEX))
		return NULL;
	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg)
		return NULL;
	*hdr = genlmsg_put(msg, 0, 0, &qkdn_family, 0, QKDN_CMD_ALARM);
	if (!*hdr || nla_put_u32(msg, QKDN_A_ALARM, alarm) ||
	    nla_put_u32(msg, QKDN_A_NODE_ID, node->id)) {
		nlmsg_free(msg);
		return NULL;
	}
	return msg;
}

/* Sends the alarm, or drops it if @err says it could not be filled in. */
static void alarm_send(struct qkdn_node *node, struct sk_buff *msg, void *hdr,
		       int err)
{
	if (err) {
		nlmsg_free(msg);
		return;
	}
	genlmsg_end(msg, hdr);
	genlmsg_multicast_netns(&qkdn_family, node->net, msg, 0,
				QKDN_MCGRP_ALARM_INDEX, GFP_KERNEL);
}

void qkdn_netlink_alarm(struct qkdn_node *node, struct qkdn_link *link,
			enum qkdn_alarm alarm)
{
	struct sk_buff *msg;
	void *hdr;

	msg = alarm_new(node, alarm, &hdr);
	if (msg)
		alarm_send(node, msg, hdr, put_link(msg, link));
}

void qkdn_netlink_ksa_mismatch(struct qkdn_node *node, u32 peer)
{
	struct sk_buff *msg;
	void *hdr;

	msg = alarm_new(node, QKDN_ALARM_KSA_MISMATCH, &hdr);
	if (msg)
		alarm_send(node, msg, hdr,
			   nla_put_u32(msg, QKDN_A_DEST_NODE_ID, peer));
}

static void relay_failed(struct qkdn_node *node, u32 dest, u64 id)
{
	struct sk_buff *msg;
	void *hdr;

	msg = alarm_new(node, QKDN_ALARM_RELAY_FAILED, &hdr);
	if (msg)
		alarm_send(node, msg, hdr,
			   nla_put_u32(msg, QKDN_A_DEST_NODE_ID, dest) ||
			   nla_put_u64_64bit(msg, QKDN_A_RELAY_ID, id,
					     QKDN_A_PAD));
}

/* One alarm per destination: a multicast relay fails on every leg. */
void qkdn_netlink_relay_failed(struct qkdn_node *node,
			       struct qkdn_relay *relay)
{
	u32 i;

	if (!relay->legs)
		relay_failed(node, relay->dest, relay->id);
	for (i = 0; i < relay->legs; ++i)
		relay_failed(node, relay->leg[i].dest, relay->leg[i].id);
}

/* For the Ak session commands, whose handlers are in ak.c. */

const char *qkdn_netlink_id(struct genl_info *info, int attr)
{
	return get_id(info, attr);
}

u8 *qkdn_netlink_key_ids(struct genl_info *info, u32 *count)
{
	return get_key_ids(info, count);
}

struct sk_buff *qkdn_netlink_reply_new(struct genl_info *info, size_t size,
				       void **hdr)
{
	struct sk_buff *msg = genlmsg_new(size, GFP_KERNEL);

	if (!msg)
		return NULL;
	*hdr = genlmsg_put_reply(msg, info, &qkdn_family, 0,
				 info->genlhdr->cmd);
	if (!*hdr) {
		nlmsg_free(msg);
		return NULL;
	}
	return msg;
}

static const struct genl_ops qkdn_ops[] = {
	{
		.cmd = QKDN_CMD_PING,
		.doit = qkdn_nl_ping,
	}, {
		.cmd = QKDN_CMD_NODE_GET,
		.doit = qkdn_nl_node_get,
	}, {
		.cmd = QKDN_CMD_NODE_SET,
		.doit = qkdn_nl_node_set,
		.flags = GENL_UNS_ADMIN_PERM,
	}, {
		.cmd = QKDN_CMD_LINK_ADD,
		.doit = qkdn_nl_link_add,
		.flags = GENL_UNS_ADMIN_PERM,
	}, {
		.cmd = QKDN_CMD_LINK_SET,
		.doit = qkdn_nl_link_set,
		.flags = GENL_UNS_ADMIN_PERM,
	}, {
		.cmd = QKDN_CMD_LINK_DEL,
		.doit = qkdn_nl_link_del,
		.flags = GENL_UNS_ADMIN_PERM,
	}, {
		.cmd = QKDN_CMD_LINK_GET,
		.doit = qkdn_nl_link_get,
		.start = qkdn_nl_link_dump_start,
		.dumpit = qkdn_nl_link_dump,
		.done = qkdn_nl_dump_done,
	}, {
		.cmd = QKDN_CMD_KEY_PUSH,
		.doit = qkdn_nl_key_push,
		.flags = GENL_UNS_ADMIN_PERM,
	}, {
		.cmd = QKDN_CMD_APP_ADD,
		.doit = qkdn_nl_app_add,
		.flags = GENL_UNS_ADMIN_PERM,
	}, {
		.cmd = QKDN_CMD_APP_DEL,
		.doit = qkdn_nl_app_del,
		.flags = GENL_UNS_ADMIN_PERM,
	}, {
		.cmd = QKDN_CMD_APP_GET,
		.doit = qkdn_nl_app_get,
		.start = qkdn_nl_app_dump_start,
		.dumpit = qkdn_nl_app_dump,
		.done = qkdn_nl_dump_done,
	}, {
		.cmd = QKDN_CMD_KEY_GET,
		.doit = qkdn_nl_key_get,
	}, {
		.cmd = QKDN_CMD_KEY_GET_ID,
		.doit = qkdn_nl_key_get_id,
	}, {
		.cmd = QKDN_CMD_KEY_DEL,
		.doit = qkdn_nl_key_del,
	}, {
		.cmd = QKDN_CMD_ROUTE_ADD,
		.doit = qkdn_nl_route_add,
		.flags = GENL_UNS_ADMIN_PERM,
	}, {
		.cmd = QKDN_CMD_ROUTE_DEL,
		.doit = qkdn_nl_route_del,
		.flags = GENL_UNS_ADMIN_PERM,
	}, {
		.cmd = QKDN_CMD_ROUTE_GET,
		.start = qkdn_nl_cursor_start,
		.dumpit = qkdn_nl_route_dump,
		.done = qkdn_nl_dump_done,
	}, {
		.cmd = QKDN_CMD_RELAY,
		.doit = qkdn_nl_relay,
		.flags = GENL_UNS_ADMIN_PERM,
	}, {
		.cmd = QKDN_CMD_KX_FRAME,
		.doit = qkdn_nl_kx_frame,
		.flags = GENL_UNS_ADMIN_PERM,
	}, {
		.cmd = QKDN_CMD_QKD_STATUS,
		.doit = qkdn_nl_qkd_status,
		.flags = GENL_UNS_ADMIN_PERM,
	}, {
		.cmd = QKDN_CMD_STORE_GET,
		.start = qkdn_nl_cursor_start,
		.dumpit = qkdn_nl_store_dump,
		.done = qkdn_nl_dump_done,
	}, {
		.cmd = QKDN_CMD_KEY_GET_MULTICAST,
		.doit = qkdn_nl_key_get_multicast,
	}, {
		.cmd = QKDN_CMD_AK_AUTH,
		.doit = qkdn_ak_nl_auth,
	}, {
		.cmd = QKDN_CMD_AK_KEY,
		.doit = qkdn_ak_nl_key,
	}, {
		.cmd = QKDN_CMD_AK_DEL,
		.doit = qkdn_ak_nl_del,
	},
};

static const struct genl_multicast_group qkdn_mcgrps[] = {
	[QKDN_MCGRP_ALARM_INDEX] = { .name = QKDN_MCGRP_ALARM },
	/* Ciphertext only, but who carries frames is the admin's choice. */
	[QKDN_MCGRP_KX_INDEX] = { .name = QKDN_MCGRP_KX,
				  .flags = GENL_MCAST_CAP_NET_ADMIN },
};

static struct genl_family qkdn_family __ro_after_init = {
	.name = QKDN_GENL_NAME,
	.version = QKDN_GENL_VERSION,
	.maxattr = QKDN_A_MAX,
	.policy = qkdn_policy,
	.netnsok = true,
	/* RELAY sleeps until acknowledged: no genl_mutex around our ops. */
	.parallel_ops = true,
	.module = THIS_MODULE,
	.ops = qkdn_ops,
	.n_ops = ARRAY_SIZE(qkdn_ops),
	.resv_start_op = 0,
	.mcgrps = qkdn_mcgrps,
	.n_mcgrps = ARRAY_SIZE(qkdn_mcgrps),
};

int __init qkdn_netlink_init(void)
{
	return genl_register_family(&qkdn_family);
}

void qkdn_netlink_uninit(void)
{
	genl_unregister_family(&qkdn_family);
	/*
	 * The last reply_wipe() dropped its module reference just before
	 * returning: let every CPU and task get out of it.
	 */
	synchronize_rcu();
	synchronize_rcu_tasks();
}
