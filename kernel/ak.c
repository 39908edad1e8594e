// SPDX-License-Identifier: GPL-2.0
/*
 * Ak key supply sessions (seed 000 clause 7.2.1, Tables 7-2..7-7).
 *
 * A session binds a local SAE, its peer SAE and the netlink socket that
 * authenticated. Keys are supplied and deleted within it through the same
 * node functions KEY_GET, KEY_GET_ID and KEY_DEL use, so the pools see one
 * kind of consumer and every rule of theirs (pool halves, all or nothing,
 * KSA synchronisation) holds for sessions too. A session holds no key
 * bytes: only who may use it and how many sub-sessions it has had.
 */

#include <linux/cred.h>
#include <linux/netlink.h>
#include <linux/notifier.h>
#include <linux/random.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <net/genetlink.h>

#include "ak.h"
#include "main.h"
#include "netlink.h"
#include "node.h"

/**
 * struct qkdn_ak_session - one Ak key supply session
 * @hash: in qkdn_ak.sessions
 * @id: session ID, random, never 0
 * @portid: the netlink socket that opened it and alone may use it
 * @count: sub-sessions that supplied keys so far: the last count ID given
 * @peer_node: the peer SAE's node when the session was opened
 * @busy: a request of the session is waiting with the node's lock
 *	dropped (KSA synchronisation); others are refused meanwhile
 * @sae: the local SAE
 * @peer_sae: the remote SAE
 */
struct qkdn_ak_session {
	struct hlist_node hash;
	u64 id;
	u32 portid;
	u32 count;
	u32 peer_node;
	bool busy;
	char sae[QKDN_ID_MAXLEN];
	char peer_sae[QKDN_ID_MAXLEN];
};

/* Status of key supply to a session (ETSI GS QKD 014 Table 9). */
struct ak_status {
	u64 stored;
	u64 max_count;
	u32 per_request;
	u32 key_bits;
};

/* What every Ak reply says, gathered under the node's lock. */
struct ak_answer {
	u8 response;
	u8 app_code;		/* 0: not in the reply */
	u64 session;
	u32 node;
	u32 peer_node;		/* 0: not in the reply */
	u32 count_id;
	u32 amount;
	u32 key_bits;
	bool has_count;		/* count ID and key size */
	bool has_amount;
	bool has_status;
	struct ak_status status;
	char sae[QKDN_ID_MAXLEN];
	char peer_sae[QKDN_ID_MAXLEN];
};

/* Room for every attribute of struct ak_answer. */
#define AK_ANSWER_SIZE	(2 * nla_total_size(sizeof(u8)) +		\
			 nla_total_size_64bit(sizeof(u64)) +		\
			 2 * nla_total_size(QKDN_ID_MAXLEN) +		\
			 5 * nla_total_size(sizeof(u32)) +		\
			 nla_total_size(0) +				\
			 2 * nla_total_size_64bit(sizeof(u64)) +	\
			 4 * nla_total_size(sizeof(u32)))

static struct qkdn_node *info_node(struct genl_info *info)
{
	return qkdn_node_of(genl_info_net(info));
}

static struct qkdn_ak_session *session_find(struct qkdn_node *node, u64 id)
{
	struct qkdn_ak_session *session;

	hash_for_each_possible(node->ak.sessions, session, hash, id)
		if (session->id == id)
			return session;
	return NULL;
}

static void session_end(struct qkdn_node *node, struct qkdn_ak_session *session)
{
	hash_del(&session->hash);
	kfree_sensitive(session);
	WRITE_ONCE(node->ak.count, node->ak.count - 1);
	qkdn_objects_dec();
}

/* The session a request names, if the requesting socket owns it. */
static struct qkdn_ak_session *info_session(struct qkdn_node *node,
					    struct genl_info *info)
{
	struct nlattr *attr = info->attrs[QKDN_A_AK_SESSION_ID];
	struct qkdn_ak_session *session;

	session = session_find(node, nla_get_u64(attr));
	if (!session) {
		NL_SET_ERR_MSG_ATTR(info->extack, attr, "no such session");
		return ERR_PTR(-ENOENT);
	}
	if (session->portid != info->snd_portid) {
		NL_SET_ERR_MSG_ATTR(info->extack, attr,
				    "the session belongs to another socket");
		return ERR_PTR(-EPERM);
	}
	if (session->busy) {
		NL_SET_ERR_MSG_ATTR(info->extack, attr,
				    "another request of the session is in progress");
		return ERR_PTR(-EBUSY);
	}
	return session;
}

/*
 * A request within @session passes the checks of KEY_GET again, with the
 * caller's uid now: a session never outlives the registration it was
 * opened under. Source and target IDs, if given, must be the session's.
 * Returns the peer SAE's node.
 */
static int session_check(struct qkdn_node *node,
			 struct qkdn_ak_session *session,
			 struct genl_info *info, struct qkdn_supply *req)
{
	struct nlattr **attrs = info->attrs;
	struct qkdn_app *app;

	if ((attrs[QKDN_A_SAE_ID] &&
	     nla_strcmp(attrs[QKDN_A_SAE_ID], session->sae)) ||
	    (attrs[QKDN_A_PEER_SAE_ID] &&
	     nla_strcmp(attrs[QKDN_A_PEER_SAE_ID], session->peer_sae))) {
		NL_SET_ERR_MSG(info->extack,
			       "source or target SAE is not the session's");
		return -EINVAL;
	}
	req->sae = session->sae;
	req->peer_sae = session->peer_sae;
	req->caller = current_euid();
	req->extack = info->extack;
	return qkdn_supply_check(node, req, &app);
}

static void answer_init(struct ak_answer *answer, struct qkdn_node *node,
			struct qkdn_ak_session *session, u32 peer_node)
{
	answer->session = session->id;
	answer->node = node->id;
	answer->peer_node = peer_node;
	answer->count_id = session->count;
	strscpy(answer->sae, session->sae, sizeof(answer->sae));
	strscpy(answer->peer_sae, session->peer_sae, sizeof(answer->peer_sae));
}

static int put_status(struct sk_buff *msg, const struct ak_status *st)
{
	struct nlattr *nest = nla_nest_start(msg, QKDN_A_AK_STATUS);

	if (!nest ||
	    nla_put_u64_64bit(msg, QKDN_AK_STATUS_A_STORED_KEY_COUNT,
			      st->stored, QKDN_AK_STATUS_A_PAD) ||
	    nla_put_u64_64bit(msg, QKDN_AK_STATUS_A_MAX_KEY_COUNT,
			      st->max_count, QKDN_AK_STATUS_A_PAD) ||
	    nla_put_u32(msg, QKDN_AK_STATUS_A_MAX_KEY_PER_REQUEST,
			st->per_request) ||
	    nla_put_u32(msg, QKDN_AK_STATUS_A_KEY_SIZE, st->key_bits) ||
	    nla_put_u32(msg, QKDN_AK_STATUS_A_MAX_KEY_SIZE, st->key_bits) ||
	    nla_put_u32(msg, QKDN_AK_STATUS_A_MIN_KEY_SIZE, st->key_bits))
		return -EMSGSIZE;
	nla_nest_end(msg, nest);
	return 0;
}

static int put_answer(struct sk_buff *msg, const struct ak_answer *answer)
{
	if (nla_put_u8(msg, QKDN_A_AK_RESPONSE, answer->response) ||
	    nla_put_u64_64bit(msg, QKDN_A_AK_SESSION_ID, answer->session,
			      QKDN_A_PAD) ||
	    nla_put_string(msg, QKDN_A_SAE_ID, answer->sae) ||
	    nla_put_string(msg, QKDN_A_PEER_SAE_ID, answer->peer_sae) ||
	    nla_put_u32(msg, QKDN_A_NODE_ID, answer->node))
		return -EMSGSIZE;
	if (answer->peer_node &&
	    nla_put_u32(msg, QKDN_A_PEER_NODE_ID, answer->peer_node))
		return -EMSGSIZE;
	if (answer->app_code &&
	    nla_put_u8(msg, QKDN_A_AK_APP_CODE, answer->app_code))
		return -EMSGSIZE;
	if (answer->has_count &&
	    (nla_put_u32(msg, QKDN_A_AK_COUNT_ID, answer->count_id) ||
	     nla_put_u32(msg, QKDN_A_KEY_SIZE, answer->key_bits)))
		return -EMSGSIZE;
	if (answer->has_amount &&
	    nla_put_u32(msg, QKDN_A_KEY_AMOUNT, answer->amount))
		return -EMSGSIZE;
	return answer->has_status ? put_status(msg, &answer->status) : 0;
}

/*
 * Sends @msg (its header @hdr) with the answer's attributes added; a
 * reply that carries keys already holds them.
 */
static int send_answer(struct genl_info *info, struct sk_buff *msg, void *hdr,
		       const struct ak_answer *answer)
{
	if (put_answer(msg, answer)) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);
}

/*
 * What one request of @app_code could get now: for ENCRYPT, the keys of
 * the link GET_KEY would take from (or of the relayed keys for the peer's
 * node when there is no link); for DECRYPT, every key waiting in the
 * decrypting halves of links to the peer's node or relayed from it.
 */
static void ak_status(struct qkdn_node *node, u8 app_code, u32 peer_node,
		      struct ak_status *st)
{
	struct qkdn_store *store = qkdn_store_find(node, peer_node);
	struct qkdn_link *link;
	unsigned long index;
	u32 unit = 0;

	memset(st, 0, sizeof(*st));
	if (app_code == QKDN_AK_ENCRYPT) {
		link = qkdn_supply_link(node, peer_node);
		if (link) {
			st->stored = qkdn_supply_link_avail(node, link);
			st->max_count = link->pool.capacity;
			unit = link->pool.unit;
		} else if (store && store->own_available) {
			st->stored = store->own_available;
			unit = list_first_entry(&store->own,
						struct qkdn_relayed_key,
						list)->len;
		}
	} else {
		xa_for_each(&node->links, index, link) {
			if (link->peer_node != peer_node)
				continue;
			st->stored += link->pool.dec_stored;
			st->max_count += link->pool.capacity;
			if (!unit)
				unit = link->pool.unit;
		}
		if (store)
			st->stored += store->peer_stored;
	}
	if (unit) {
		st->key_bits = unit * 8;
		st->per_request = min_t(u32, QKDN_KEY_AMOUNT_MAX,
					QKDN_KEY_BYTES_MAX / unit);
	}
}

int qkdn_ak_nl_auth(struct sk_buff *skb, struct genl_info *info)
{
	struct qkdn_node *node = info_node(info);
	struct qkdn_supply req = {
		.caller = current_euid(),
		.extack = info->extack,
	};
	struct ak_answer answer = { .response = QKDN_AK_RESULT_SUCCESS };
	struct qkdn_ak_session *session;
	struct qkdn_app *app;
	struct sk_buff *msg;
	void *hdr;
	int ret;

	req.sae = qkdn_netlink_id(info, QKDN_A_SAE_ID);
	req.peer_sae = req.sae ? qkdn_netlink_id(info, QKDN_A_PEER_SAE_ID) :
		       NULL;
	if (!req.peer_sae)
		return -EINVAL;
	session = kzalloc(sizeof(*session), GFP_KERNEL);
	msg = qkdn_netlink_reply_new(info, AK_ANSWER_SIZE, &hdr);
	if (!session || !msg) {
		kfree(session);
		nlmsg_free(msg);
		return -ENOMEM;
	}

	mutex_lock(&node->lock);
	ret = qkdn_supply_check(node, &req, &app);
	if (ret < 0)
		goto err;
	session->peer_node = ret;
	if (node->ak.count >= QKDN_AK_SESSIONS_MAX) {
		NL_SET_ERR_MSG(info->extack, "too many sessions in the node");
		ret = -ENOSPC;
		goto err;
	}
	do {
		session->id = get_random_u64();
	} while (!session->id || session_find(node, session->id));
	session->portid = info->snd_portid;
	strscpy(session->sae, req.sae, sizeof(session->sae));
	strscpy(session->peer_sae, req.peer_sae, sizeof(session->peer_sae));
	hash_add(node->ak.sessions, &session->hash, session->id);
	WRITE_ONCE(node->ak.count, node->ak.count + 1);
	qkdn_objects_inc();
	answer_init(&answer, node, session, session->peer_node);
	mutex_unlock(&node->lock);

	ret = send_answer(info, msg, hdr, &answer);
	if (ret) {
		/* Nobody learnt its ID: no one could use or end it. */
		mutex_lock(&node->lock);
		session = session_find(node, answer.session);
		if (session)
			session_end(node, session);
		mutex_unlock(&node->lock);
	}
	return ret;

err:
	mutex_unlock(&node->lock);
	kfree(session);
	nlmsg_free(msg);
	return ret;
}

/* An AK_KEY request whose reply carries keys. */
struct ak_keys {
	struct qkdn_supply_reply reply;
	u32 size_bits;		/* DECRYPT: the size asked for, or 0 */
	u32 count;		/* keys in the reply */
	u32 key_bits;		/* their size, 0 if they differ */
	struct netlink_ext_ack *extack;
};

static int ak_keys_prepare(void *ctx, u32 count, u32 bytes)
{
	struct ak_keys *keys = ctx;

	if (keys->size_bits && (u64)count * keys->size_bits != (u64)bytes * 8) {
		NL_SET_ERR_MSG(keys->extack,
			       "the keys are not of the requested size");
		return -EINVAL;
	}
	return qkdn_supply_reply_prepare(&keys->reply, count, bytes);
}

static int ak_keys_visit(void *ctx, const struct qkdn_pool_key *key)
{
	struct ak_keys *keys = ctx;
	u32 bits = key->len * 8;

	if (!keys->count++)
		keys->key_bits = bits;
	else if (keys->key_bits != bits)
		keys->key_bits = 0;
	return qkdn_supply_reply_key(&keys->reply, key);
}

/* Attributes the application code and a status request allow. */
static int key_request_check(struct genl_info *info, u8 app_code,
			     bool status)
{
	struct nlattr **attrs = info->attrs;

	if (status && (attrs[QKDN_A_KEY_AMOUNT] || attrs[QKDN_A_KEY_SIZE] ||
		       attrs[QKDN_A_KEYS])) {
		NL_SET_ERR_MSG(info->extack,
			       "a status request carries no amount, size or key IDs");
		return -EINVAL;
	}
	if (app_code == QKDN_AK_ENCRYPT && attrs[QKDN_A_KEYS]) {
		NL_SET_ERR_MSG_ATTR(info->extack, attrs[QKDN_A_KEYS],
				    "key IDs are for decryption");
		return -EINVAL;
	}
	if (app_code == QKDN_AK_DECRYPT && !status &&
	    GENL_REQ_ATTR_CHECK(info, QKDN_A_KEYS))
		return -EINVAL;
	return 0;
}

/* The sub-session proper, with the node's lock held and @session busy. */
static int ak_supply(struct qkdn_node *node, struct qkdn_supply *req,
		     struct ak_answer *answer, const u8 *ids, u32 amount)
{
	u32 peer_node = answer->peer_node;
	int ret;

	if (answer->app_code == QKDN_AK_DECRYPT) {
		answer->response = QKDN_AK_SUPPLY_SUCCESS;
		return qkdn_supply_by_id(node, req, ids, amount, false);
	}
	ret = qkdn_supply_new(node, req, amount);
	if (ret == -EAGAIN) {
		/* Nothing was taken: say what there is instead. */
		answer->response = QKDN_AK_SUPPLY_INSUFFICIENT;
		answer->has_status = true;
		ak_status(node, QKDN_AK_ENCRYPT, peer_node, &answer->status);
		return 0;
	}
	if (ret)
		return ret;
	ak_status(node, QKDN_AK_ENCRYPT, peer_node, &answer->status);
	answer->response = answer->status.stored >= amount ?
			   QKDN_AK_SUPPLY_SUCCESS : QKDN_AK_SUPPLY_SUFFICIENT;
	return 0;
}

int qkdn_ak_nl_key(struct sk_buff *skb, struct genl_info *info)
{
	struct qkdn_node *node = info_node(info);
	struct nlattr **attrs = info->attrs;
	struct ak_keys keys = { .extack = info->extack };
	struct qkdn_supply req = {
		.prepare = ak_keys_prepare,
		.visit = ak_keys_visit,
		.ctx = &keys,
	};
	struct ak_answer answer = {};
	struct qkdn_ak_session *session;
	struct sk_buff *msg;
	u32 amount = 1;
	u8 *ids = NULL;
	bool status;
	void *hdr;
	int ret;

	if (GENL_REQ_ATTR_CHECK(info, QKDN_A_AK_SESSION_ID) ||
	    GENL_REQ_ATTR_CHECK(info, QKDN_A_AK_APP_CODE))
		return -EINVAL;
	answer.app_code = nla_get_u8(attrs[QKDN_A_AK_APP_CODE]);
	status = nla_get_flag(attrs[QKDN_A_AK_GET_STATUS]);
	ret = key_request_check(info, answer.app_code, status);
	if (ret)
		return ret;
	if (attrs[QKDN_A_KEY_AMOUNT])
		amount = nla_get_u32(attrs[QKDN_A_KEY_AMOUNT]);
	if (attrs[QKDN_A_KEY_SIZE])
		req.size_bits = nla_get_u32(attrs[QKDN_A_KEY_SIZE]);
	if (answer.app_code == QKDN_AK_DECRYPT && !status) {
		u32 count;

		ids = qkdn_netlink_key_ids(info, &count);
		if (IS_ERR(ids))
			return PTR_ERR(ids);
		if (attrs[QKDN_A_KEY_AMOUNT] && amount != count) {
			NL_SET_ERR_MSG_ATTR(info->extack,
					    attrs[QKDN_A_KEY_AMOUNT],
					    "key amount is not the number of key IDs");
			kfree(ids);
			return -EINVAL;
		}
		amount = count;
		/* The pool checks an ENCRYPT size; this one, ak_keys_prepare(). */
		keys.size_bits = req.size_bits;
		req.size_bits = 0;
	}
	keys.reply.info = info;
	keys.reply.cmd = info->genlhdr->cmd;
	keys.reply.extra = AK_ANSWER_SIZE;

	mutex_lock(&node->lock);
	session = info_session(node, info);
	if (IS_ERR(session)) {
		ret = PTR_ERR(session);
		goto out;
	}
	ret = session_check(node, session, info, &req);
	if (ret < 0)
		goto out;
	answer_init(&answer, node, session, ret);
	answer.has_count = true;
	if (status) {
		answer.response = QKDN_AK_SUPPLY_STATUS_TABLE;
		answer.has_status = true;
		ak_status(node, answer.app_code, answer.peer_node,
			  &answer.status);
		answer.key_bits = answer.status.key_bits;
		ret = 0;
		goto out;
	}
	/*
	 * With KSA synchronisation the supply drops the node's lock while it
	 * waits. The session stays: only its own socket may end it, and this
	 * request holds that socket; busy turns away its other requests.
	 */
	session->busy = true;
	ret = ak_supply(node, &req, &answer, ids, amount);
	session->busy = false;
	if (!ret && answer.response != QKDN_AK_SUPPLY_INSUFFICIENT)
		answer.count_id = ++session->count;
	answer.has_amount = true;
	answer.amount = keys.count ?: amount;
	answer.key_bits = keys.count ? keys.key_bits :
			  answer.status.key_bits;
out:
	mutex_unlock(&node->lock);
	kfree(ids);
	if (ret || !keys.count) {
		/* No keys: an empty reply for the answer, if there is one. */
		qkdn_supply_reply_free(&keys.reply);
		if (ret)
			return ret;
		msg = qkdn_netlink_reply_new(info, AK_ANSWER_SIZE, &hdr);
		if (!msg)
			return -ENOMEM;
		return send_answer(info, msg, hdr, &answer);
	}
	ret = qkdn_supply_reply_end(&keys.reply, req.link_id);
	if (ret)
		return ret;
	return send_answer(info, keys.reply.msg, keys.reply.hdr, &answer);
}

int qkdn_ak_nl_del(struct sk_buff *skb, struct genl_info *info)
{
	struct qkdn_node *node = info_node(info);
	struct nlattr **attrs = info->attrs;
	struct ak_answer answer = {
		.response = QKDN_AK_RESULT_SUCCESS,
		.has_amount = true,
	};
	struct qkdn_ak_session *session;
	struct qkdn_supply req = {};
	struct sk_buff *msg;
	u8 *ids = NULL;
	u32 count = 0;
	void *hdr;
	int ret;

	if (GENL_REQ_ATTR_CHECK(info, QKDN_A_AK_SESSION_ID))
		return -EINVAL;
	if (attrs[QKDN_A_AK_APP_CODE])
		answer.app_code = nla_get_u8(attrs[QKDN_A_AK_APP_CODE]);
	if (attrs[QKDN_A_KEYS]) {
		if (answer.app_code == QKDN_AK_ENCRYPT) {
			NL_SET_ERR_MSG_ATTR(info->extack,
					    attrs[QKDN_A_AK_APP_CODE],
					    "keys supplied for encryption are no longer held");
			return -EINVAL;
		}
		ids = qkdn_netlink_key_ids(info, &count);
		if (IS_ERR(ids))
			return PTR_ERR(ids);
	}
	msg = qkdn_netlink_reply_new(info, AK_ANSWER_SIZE, &hdr);
	if (!msg) {
		kfree(ids);
		return -ENOMEM;
	}

	mutex_lock(&node->lock);
	session = info_session(node, info);
	if (IS_ERR(session)) {
		ret = PTR_ERR(session);
		goto out;
	}
	if (ids) {
		ret = session_check(node, session, info, &req);
		if (ret < 0)
			goto out;
		answer_init(&answer, node, session, ret);
		ret = qkdn_supply_by_id(node, &req, ids, count, true);
		answer.amount = count;
	} else {
		/* Ending needs only the socket: the SAE may be gone. */
		answer_init(&answer, node, session, session->peer_node);
		session_end(node, session);
		ret = 0;
	}
out:
	mutex_unlock(&node->lock);
	kfree(ids);
	if (ret) {
		nlmsg_free(msg);
		return ret;
	}
	return send_answer(info, msg, hdr, &answer);
}

/* A socket that goes away takes its sessions with it. */
static int ak_netlink_event(struct notifier_block *nb, unsigned long event,
			    void *ptr)
{
	struct netlink_notify *n = ptr;
	struct qkdn_ak_session *session;
	struct hlist_node *tmp;
	struct qkdn_node *node;
	int bkt;

	if (event != NETLINK_URELEASE || n->protocol != NETLINK_GENERIC)
		return NOTIFY_DONE;
	node = qkdn_node_of(n->net);
	/*
	 * The socket going away cannot be opening a session now, so a node
	 * without sessions has none of it; most sockets stop here.
	 */
	if (!READ_ONCE(node->ak.count))
		return NOTIFY_DONE;
	mutex_lock(&node->lock);
	hash_for_each_safe(node->ak.sessions, bkt, tmp, session, hash)
		if (session->portid == n->portid)
			session_end(node, session);
	mutex_unlock(&node->lock);
	return NOTIFY_DONE;
}

static struct notifier_block ak_netlink_notifier = {
	.notifier_call = ak_netlink_event,
};

void qkdn_ak_node_init(struct qkdn_node *node)
{
	hash_init(node->ak.sessions);
	node->ak.count = 0;
}

void qkdn_ak_node_exit(struct qkdn_node *node)
{
	struct qkdn_ak_session *session;
	struct hlist_node *tmp;
	int bkt;

	hash_for_each_safe(node->ak.sessions, bkt, tmp, session, hash)
		session_end(node, session);
}

int __init qkdn_ak_init(void)
{
	return netlink_register_notifier(&ak_netlink_notifier);
}

void qkdn_ak_uninit(void)
{
	netlink_unregister_notifier(&ak_netlink_notifier);
}
