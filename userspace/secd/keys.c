// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Keys from the node (Ak): KEY_GET at the initiator, KEY_GET_ID at the
 * responder, through lib/nl.c. The bytes go straight from the netlink
 * receive buffer (a secbuf, wiped after each datagram) into a secbuf of
 * ours, and are wiped as soon as the SA is programmed.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "secd.h"
#include "secmem.h"

#define KEYS_BUF (QKDN_W_SA_KEYS_MAX * QKDN_KEY_UNIT_MAX)

void secd_keys_wipe(struct secd_keys *k)
{
	qkdn_secbuf_free(k->bytes);
	memset(k, 0, sizeof(*k));
}

static int keys_alloc(struct secd_keys *k)
{
	memset(k, 0, sizeof(*k));
	k->bytes = qkdn_secbuf_alloc(KEYS_BUF);
	return k->bytes ? 0 : -errno;
}

static void keys_append(struct secd_keys *k, const uint8_t *id, const void *data, size_t len)
{
	size_t room = KEYS_BUF - k->len;

	memcpy(k->ids[k->n_ids++], id, QKDN_KEY_ID_LEN);
	if (len > room)
		len = room;
	memcpy(k->bytes + k->len, data, len);
	k->len += len;
}

/* Collects the keys of a KEY_GET or KEY_GET_ID reply: into want[i] the key
 * whose ID is ids[i] (KEY_GET_ID), or into want[0] in order (KEY_GET). */
struct collect {
	struct secd_keys *want[2];
	const uint8_t *ids[2];
	size_t n_ids[2];
	unsigned int found;
};

static int collect_cb(const struct nlmsghdr *nlh, void *data)
{
	struct collect *c = data;
	const struct nlattr *tb[QKDN_A_MAX + 1];
	const struct nlattr *key;

	if (qkdn_nl_parse(nlh, tb, QKDN_A_MAX) < 0 || !tb[QKDN_A_KEYS])
		return -EBADMSG;
	mnl_attr_for_each_nested(key, tb[QKDN_A_KEYS]) {
		const struct nlattr *kb[QKDN_KEY_A_MAX + 1];
		const uint8_t *id;
		bool placed = false;

		if (qkdn_nl_parse_nested(key, kb, QKDN_KEY_A_MAX) < 0 || !kb[QKDN_KEY_A_ID] ||
		    mnl_attr_get_payload_len(kb[QKDN_KEY_A_ID]) != QKDN_KEY_ID_LEN ||
		    !kb[QKDN_KEY_A_DATA])
			return -EBADMSG;
		id = mnl_attr_get_payload(kb[QKDN_KEY_A_ID]);
		if (!c->ids[0]) {
			if (c->want[0]->n_ids >= QKDN_W_SA_KEYS_MAX)
				return -EBADMSG;
			keys_append(c->want[0], id, mnl_attr_get_payload(kb[QKDN_KEY_A_DATA]),
				    mnl_attr_get_payload_len(kb[QKDN_KEY_A_DATA]));
			c->found++;
			continue;
		}
		/* By ID: the reply's order is the module's business. Keys of
		 * one direction are appended in the order the IDs were sent. */
		for (int d = 0; d < 2 && !placed; d++) {
			struct secd_keys *k = c->want[d];

			if (k->n_ids < c->n_ids[d] &&
			    memcmp(c->ids[d] + k->n_ids * QKDN_KEY_ID_LEN, id, QKDN_KEY_ID_LEN) == 0) {
				keys_append(k, id, mnl_attr_get_payload(kb[QKDN_KEY_A_DATA]),
					    mnl_attr_get_payload_len(kb[QKDN_KEY_A_DATA]));
				placed = true;
			}
		}
		if (!placed)
			return -EBADMSG;
		c->found++;
	}
	return 0;
}

static const char *errno_reason(int err)
{
	switch (err) {
	case ENOENT: return "an SAE is not registered at this node";
	case EACCES: return "this process's uid is not the one registered for our SAE";
	case EINVAL: return "our SAE is not local, or the peer SAE is not remote";
	case EHOSTUNREACH: return "no link or relayed keys to the peer SAE's node";
	case EAGAIN: return "not enough keys: relay more (qkdn relay)";
	case ENOKEY: return "a key ID is not (or no longer) at this node";
	default: return strerror(err);
	}
}

static void fill_reason(struct secd *s, const char *what, int err, char *reason, size_t len)
{
	const char *ext = qkdn_nl_extack(s->nl);

	snprintf(reason, len, "%s: %s (%s)%s%s", what, errno_reason(err),
		 strerrorname_np(err) ? strerrorname_np(err) : "?", *ext ? ": " : "", ext);
}

static void put_saes(struct secd *s, struct qkdn_nl_msg *msg)
{
	qkdn_nl_put_str(msg, QKDN_A_SAE_ID, s->cfg.sae);
	qkdn_nl_put_str(msg, QKDN_A_PEER_SAE_ID, s->cfg.peer_sae);
}

int secd_keys_get(struct secd *s, size_t need, struct secd_keys *k, char *reason,
		  size_t reason_len)
{
	struct qkdn_nl_msg *msg;
	struct collect c = { .want = { k } };
	int ret;

	ret = keys_alloc(k);
	if (ret) {
		snprintf(reason, reason_len, "no locked memory for keys: %s", strerror(-ret));
		return ret;
	}
	msg = qkdn_nl_msg_new(QKDN_CMD_KEY_GET, 0);
	if (!msg) {
		secd_keys_wipe(k);
		snprintf(reason, reason_len, "out of memory");
		return -ENOMEM;
	}
	/* One key at a time, until there are enough bytes: a relayed key of
	 * 320 bits does for an IPsec direction, 256-bit link keys take two. */
	while (k->len < need) {
		if (k->n_ids >= QKDN_W_SA_KEYS_MAX) {
			snprintf(reason, reason_len,
				 "keys too short: %u keys give %zu bytes, %zu needed", k->n_ids,
				 k->len, need);
			ret = -EMSGSIZE;
			break;
		}
		qkdn_nl_msg_reset(msg, QKDN_CMD_KEY_GET, 0);
		put_saes(s, msg);
		qkdn_nl_put_u32(msg, QKDN_A_KEY_AMOUNT, 1);
		ret = qkdn_nl_request(s->nl, msg, collect_cb, &c);
		if (ret) {
			fill_reason(s, "KEY_GET", -ret, reason, reason_len);
			break;
		}
		s->stats.keys_fetched++;
	}
	qkdn_nl_msg_free(msg);
	if (ret)
		secd_keys_wipe(k);
	return ret;
}

int secd_keys_get_ids(struct secd *s, const uint8_t *fwd, size_t fwd_len, const uint8_t *rev,
		      size_t rev_len, size_t need, struct secd_keys *kf, struct secd_keys *kr,
		      char *reason, size_t reason_len)
{
	struct collect c = {
		.want = { kf, kr }, .ids = { fwd, rev },
		.n_ids = { fwd_len / QKDN_KEY_ID_LEN, rev_len / QKDN_KEY_ID_LEN },
	};
	struct qkdn_nl_msg *msg;
	struct nlattr *keys;
	int ret;

	if (keys_alloc(kf) || keys_alloc(kr)) {
		secd_keys_wipe(kf);
		secd_keys_wipe(kr);
		snprintf(reason, reason_len, "no locked memory for keys");
		return -ENOMEM;
	}
	msg = qkdn_nl_msg_new(QKDN_CMD_KEY_GET_ID, 0);
	if (!msg) {
		ret = -ENOMEM;
		snprintf(reason, reason_len, "out of memory");
		goto fail;
	}
	put_saes(s, msg);
	keys = qkdn_nl_nest_start(msg, QKDN_A_KEYS);
	for (int d = 0; d < 2; d++) {
		for (size_t i = 0; i < c.n_ids[d]; i++) {
			struct nlattr *key = qkdn_nl_nest_start(msg, QKDN_A_KEY);

			qkdn_nl_put(msg, QKDN_KEY_A_ID, c.ids[d] + i * QKDN_KEY_ID_LEN,
				    QKDN_KEY_ID_LEN);
			qkdn_nl_nest_end(msg, key);
		}
	}
	qkdn_nl_nest_end(msg, keys);
	ret = qkdn_nl_request(s->nl, msg, collect_cb, &c);
	qkdn_nl_msg_free(msg);
	if (ret) {
		fill_reason(s, "KEY_GET_ID", -ret, reason, reason_len);
		goto fail;
	}
	s->stats.keys_fetched += c.found;
	if (kf->n_ids != c.n_ids[0] || kr->n_ids != c.n_ids[1]) {
		ret = -EBADMSG;
		snprintf(reason, reason_len, "KEY_GET_ID: the node answered other keys than asked");
		goto fail;
	}
	if (kf->len < need || kr->len < need) {
		ret = -EMSGSIZE;
		snprintf(reason, reason_len, "keys too short: %zu and %zu bytes, %zu needed",
			 kf->len, kr->len, need);
		goto fail;
	}
	return 0;
fail:
	secd_keys_wipe(kf);
	secd_keys_wipe(kr);
	return ret;
}

struct app_info {
	bool found;
	uint32_t node;
	bool has_uid;
};

static int app_cb(const struct nlmsghdr *nlh, void *data)
{
	struct app_info *a = data;
	const struct nlattr *tb[QKDN_A_MAX + 1];

	if (qkdn_nl_parse(nlh, tb, QKDN_A_MAX) < 0 || !qkdn_nla_u32(tb[QKDN_A_NODE_ID], &a->node))
		return -EBADMSG;
	a->found = true;
	a->has_uid = tb[QKDN_A_UID] != NULL;
	return 0;
}

static int app_get(struct secd *s, const char *sae, struct app_info *a)
{
	struct qkdn_nl_msg *msg = qkdn_nl_msg_new(QKDN_CMD_APP_GET, 0);
	int ret;

	if (!msg)
		return -ENOMEM;
	memset(a, 0, sizeof(*a));
	qkdn_nl_put_str(msg, QKDN_A_SAE_ID, sae);
	ret = qkdn_nl_request(s->nl, msg, app_cb, a);
	qkdn_nl_msg_free(msg);
	return ret;
}

int secd_keys_check_saes(struct secd *s, char *reason, size_t reason_len)
{
	struct app_info a;
	int ret;

	ret = app_get(s, s->cfg.sae, &a);
	if (ret == -ENOENT) {
		snprintf(reason, reason_len,
			 "sae %s is not registered at node %u: qkdn app add %s uid UID", s->cfg.sae,
			 s->node_id, s->cfg.sae);
		return ret;
	}
	if (!ret && (a.node != s->node_id || !a.has_uid)) {
		snprintf(reason, reason_len, "sae %s is attached to node %u, not to this node (%u)",
			 s->cfg.sae, a.node, s->node_id);
		return -EINVAL;
	}
	if (!ret)
		ret = app_get(s, s->cfg.peer_sae, &a);
	if (ret == -ENOENT) {
		snprintf(reason, reason_len,
			 "peer-sae %s is not registered at node %u: qkdn app add %s node PEER_NODE",
			 s->cfg.peer_sae, s->node_id, s->cfg.peer_sae);
		return ret;
	}
	if (!ret && a.node == s->node_id) {
		snprintf(reason, reason_len,
			 "peer-sae %s is attached to this node (%u): it must be the other gateway's",
			 s->cfg.peer_sae, s->node_id);
		return -EINVAL;
	}
	if (ret)
		snprintf(reason, reason_len, "APP_GET: %s", strerror(-ret));
	return ret;
}
