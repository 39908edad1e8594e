// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The module side of qkdn-qkdd: checks that each configured link exists
 * with the same QKD module pair, then KEY_PUSH (Kq-1) and QKD_STATUS.
 * Requests are synchronous: the kernel answers without sleeping.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "qkdd.h"

const char *qkdd_errno_name(int err)
{
	switch (err < 0 ? -err : err) {
	case 0: return "0";
	case ENODEV: return "ENODEV";
	case ENETDOWN: return "ENETDOWN";
	case EBADMSG: return "EBADMSG";
	case EINVAL: return "EINVAL";
	case EOVERFLOW: return "EOVERFLOW";
	case EPERM: return "EPERM";
	case ERANGE: return "ERANGE";
	case ENOMEM: return "ENOMEM";
	case ENOBUFS: return "ENOBUFS";
	case EPROTO: return "EPROTO";
	case ENOENT: return "ENOENT";
	default: return "other";
	}
}

struct link_info {
	bool found;
	char module[QKDN_ID_MAXLEN + 1], peer_module[QKDN_ID_MAXLEN + 1];
	uint8_t role;
	uint32_t peer_node;
};

static int link_cb(const struct nlmsghdr *nlh, void *data)
{
	struct link_info *info = data;
	const struct nlattr *tb[QKDN_A_MAX + 1];
	const char *s;

	if (!nlh)
		return 0;
	if (qkdn_nl_parse(nlh, tb, QKDN_A_MAX) < 0)
		return -EBADMSG;
	info->found = true;
	s = qkdn_nla_str(tb[QKDN_A_QKD_MODULE_ID]);
	snprintf(info->module, sizeof(info->module), "%s", s ? s : "");
	s = qkdn_nla_str(tb[QKDN_A_MATCHING_QKD_MODULE_ID]);
	snprintf(info->peer_module, sizeof(info->peer_module), "%s", s ? s : "");
	qkdn_nla_u8(tb[QKDN_A_LINK_ROLE], &info->role);
	qkdn_nla_u32(tb[QKDN_A_PEER_NODE_ID], &info->peer_node);
	return 0;
}

uint32_t qkdd_kernel_peer_node(struct qkdd *q, uint32_t link)
{
	struct link_info info = { 0 };

	qkdn_nl_msg_reset(q->msg, QKDN_CMD_LINK_GET, 0);
	qkdn_nl_put_u32(q->msg, QKDN_A_LINK_ID, link);
	if (qkdn_nl_request(q->nl, q->msg, link_cb, &info))
		return 0;
	return info.peer_node;
}

/* A link missing from the module is only a warning (it may be added
 * later; pushes fail with ENODEV until then); a link with other QKD
 * modules is a configuration error. */
static int check_link(struct qkdd *q, const struct qkdd_link_conf *c)
{
	struct link_info info = { 0 };
	int ret;

	qkdn_nl_msg_reset(q->msg, QKDN_CMD_LINK_GET, 0);
	qkdn_nl_put_u32(q->msg, QKDN_A_LINK_ID, c->id);
	ret = qkdn_nl_request(q->nl, q->msg, link_cb, &info);
	if (ret == -ENODEV) {
		qkdn_log(QKDN_LOG_WARN, "the module has no such KMA link yet; keys for it are refused "
			 "until it is added", "event=link-missing link=%u", c->id);
		return 0;
	}
	if (ret) {
		qkdn_log(QKDN_LOG_ERR, "LINK_GET failed", "event=start-failed link=%u errno=%s err=\"%s\"",
			 c->id, qkdd_errno_name(ret), strerror(-ret));
		return ret;
	}
	if (strcmp(info.module, c->module) || strcmp(info.peer_module, c->peer_module)) {
		qkdn_log(QKDN_LOG_ERR, "the KMA link has other QKD modules than the config",
			 "event=start-failed link=%u module=%s peer_module=%s config_module=%s "
			 "config_peer_module=%s", c->id, info.module, info.peer_module, c->module,
			 c->peer_module);
		return -EINVAL;
	}
	if ((c->role == QKDD_TX) != (info.role == QKDN_ROLE_ALICE))
		qkdn_log(QKDN_LOG_WARN, "the tx side is usually Alice's and the rx side Bob's",
			 "event=role-unusual link=%u role=%s kma_role=%s", c->id,
			 qkdd_role_name(c->role), info.role == QKDN_ROLE_ALICE ? "alice" : "bob");
	return 0;
}

int qkdd_kernel_start(struct qkdd *q)
{
	int ret = qkdn_nl_open(&q->nl);

	if (ret) {
		qkdn_log(QKDN_LOG_ERR, ret == -ENOENT ? "generic netlink family qkdn not found "
			 "(is qkdn.ko loaded?)" : "cannot open netlink", "event=start-failed err=\"%s\"",
			 strerror(-ret));
		return ret;
	}
	q->msg = qkdn_nl_msg_new(QKDN_CMD_PING, 0);
	if (!q->msg)
		return -ENOMEM;
	for (size_t i = 0; i < q->cfg.n_links; i++) {
		ret = check_link(q, &q->cfg.links[i]);
		if (ret)
			return ret;
	}
	return 0;
}

void qkdd_kernel_stop(struct qkdd *q)
{
	qkdn_nl_msg_free(q->msg);
	q->msg = NULL;
	if (q->nl)
		qkdn_nl_close(q->nl);
	q->nl = NULL;
}

int qkdd_kernel_push(struct qkdd_link *l, const struct qkdd_key *k)
{
	struct qkdd *q = l->q;
	int ret;

	qkdn_nl_msg_reset(q->msg, QKDN_CMD_KEY_PUSH, 0);
	qkdn_nl_put_u32(q->msg, QKDN_A_LINK_ID, l->id);
	qkdn_nl_put_str(q->msg, QKDN_A_QKD_KEY_ID, k->id);
	qkdn_nl_put(q->msg, QKDN_A_QKD_KEY_DATA, k->data, k->len);
	qkdn_nl_put_u64(q->msg, QKDN_A_QKD_KEY_TIMESTAMP, k->ts_ns);
	qkdn_nl_put(q->msg, QKDN_A_QKD_KEY_HASH, k->hash, sizeof(k->hash));
	qkdn_nl_put_str(q->msg, QKDN_A_QKD_MODULE_ID, l->conf->module);
	qkdn_nl_put_str(q->msg, QKDN_A_MATCHING_QKD_MODULE_ID, l->conf->peer_module);
	ret = qkdn_nl_request(q->nl, q->msg, NULL, NULL);
	/* The message held the key: wipe it now, not at the next reset. */
	explicit_bzero(q->msg->nlh, q->msg->nlh->nlmsg_len);
	qkdn_nl_msg_reset(q->msg, QKDN_CMD_PING, 0);
	if (!ret) {
		l->keys++;
		l->bytes += k->len;
	}
	return ret;
}

int qkdd_kernel_status(struct qkdd_link *l)
{
	struct qkdd *q = l->q;
	int ret;

	if (!q->nl)
		return -ENOTCONN;
	clock_gettime(CLOCK_MONOTONIC, &l->last_status);
	qkdn_nl_msg_reset(q->msg, QKDN_CMD_QKD_STATUS, 0);
	qkdn_nl_put_u32(q->msg, QKDN_A_LINK_ID, l->id);
	qkdn_nl_put_u8(q->msg, QKDN_A_QKD_STATE, l->state);
	qkdn_nl_put_u64(q->msg, QKDN_A_QKD_KEY_RATE, l->rate_bps);
	if (l->has_qber)
		qkdn_nl_put_u32(q->msg, QKDN_A_QKD_QBER, l->qber_ppm);
	ret = qkdn_nl_request(q->nl, q->msg, NULL, NULL);
	if (ret && !l->status_failed) {
		char ext[600];

		qkdn_log(QKDN_LOG_WARN, "QKD_STATUS refused by the module",
			 "event=status-failed link=%u errno=%s err=\"%s\" extack=%s", l->id,
			 qkdd_errno_name(ret), strerror(-ret),
			 qkdn_log_quote(ext, sizeof(ext), qkdn_nl_extack(q->nl)));
	}
	l->status_failed = ret != 0;
	return ret;
}
