// SPDX-License-Identifier: GPL-2.0 OR MIT
#include "nl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/netlink.h>
#include <linux/qkdn.h>

#include "secmem.h"

#define MAX_GROUPS 16

struct qkdn_nl {
	struct mnl_socket *sock;
	uint32_t portid;
	uint32_t seq;
	uint16_t family_id;
	uint32_t family_version;
	unsigned int n_groups;
	struct {
		char name[GENL_NAMSIZ];
		uint32_t id;
	} groups[MAX_GROUPS];
	unsigned char *rx;		/* secbuf of QKDN_NL_RX_SIZE */
	char extack[512];
	int extack_attr;
	int extack_missing;
};

/* State of one request being answered. */
struct transact {
	struct qkdn_nl *nl;
	const struct qkdn_nl_msg *msg;
	qkdn_nl_cb cb;
	void *data;
	int cb_err;
	bool interrupted;
};

static void extack_clear(struct qkdn_nl *nl)
{
	nl->extack[0] = '\0';
	nl->extack_attr = -1;
	nl->extack_missing = -1;
}

/* Maps a byte offset into the request to the top-level attribute there. */
static int attr_at_offset(const struct qkdn_nl_msg *msg, uint32_t offs)
{
	const struct nlmsghdr *nlh = msg->nlh;
	const struct nlattr *a;
	size_t base = (size_t)((const char *)mnl_nlmsg_get_payload_offset(nlh,
				sizeof(struct genlmsghdr)) - (const char *)nlh);

	if (offs < base)
		return -1;
	mnl_attr_for_each(a, nlh, sizeof(struct genlmsghdr)) {
		size_t start = (size_t)((const char *)a - (const char *)nlh);

		if (offs >= start && offs < start + a->nla_len)
			return mnl_attr_get_type(a);
	}
	return -1;
}

static int extack_attr_cb(const struct nlattr *a, void *data)
{
	struct transact *t = data;
	struct qkdn_nl *nl = t->nl;

	switch (mnl_attr_get_type(a)) {
	case NLMSGERR_ATTR_MSG:
		if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
			snprintf(nl->extack, sizeof(nl->extack), "%s", mnl_attr_get_str(a));
		break;
	case NLMSGERR_ATTR_OFFS:
		if (mnl_attr_validate(a, MNL_TYPE_U32) == 0 && t->msg)
			nl->extack_attr = attr_at_offset(t->msg, mnl_attr_get_u32(a));
		break;
#ifdef NLMSGERR_ATTR_MISS_TYPE
	case NLMSGERR_ATTR_MISS_TYPE:
		if (mnl_attr_validate(a, MNL_TYPE_U32) == 0)
			nl->extack_missing = (int)mnl_attr_get_u32(a);
		break;
#endif
	}
	return MNL_CB_OK;
}

/* Handles NLMSG_ERROR (error or ack) and NLMSG_DONE. Returns the error. */
static int parse_status(struct transact *t, const struct nlmsghdr *nlh)
{
	size_t tlv_offset;
	int err;

	if (nlh->nlmsg_type == NLMSG_DONE) {
		/* A dump's end: an int error (0 when all went well), then
		 * extack attributes if the kernel had any to say. */
		if (mnl_nlmsg_get_payload_len(nlh) < sizeof(int))
			return 0;
		memcpy(&err, mnl_nlmsg_get_payload(nlh), sizeof(err));
		tlv_offset = sizeof(int);
	} else {
		const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

		if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*e))
			return -EBADMSG;
		err = e->error;
		tlv_offset = sizeof(*e);
		if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
			tlv_offset += e->msg.nlmsg_len - sizeof(e->msg);
	}
	if (err > 0)
		err = -err; /* never happens; be safe */
	if ((nlh->nlmsg_flags & NLM_F_ACK_TLVS) &&
	    mnl_nlmsg_get_payload_len(nlh) > tlv_offset)
		mnl_attr_parse(nlh, (unsigned int)tlv_offset, extack_attr_cb, t);
	return err;
}

/* Reads until the answer to sequence number seq is complete. */
static int transact_recv(struct transact *t, uint32_t seq)
{
	struct qkdn_nl *nl = t->nl;
	int ret = 0;
	bool done = false;

	while (!done) {
		ssize_t n = mnl_socket_recvfrom(nl->sock, nl->rx, QKDN_NL_RX_SIZE);
		const struct nlmsghdr *nlh;
		int len;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		len = (int)n;
		for (nlh = (const struct nlmsghdr *)nl->rx; mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len)) {
			if (nlh->nlmsg_seq != seq ||
			    (nlh->nlmsg_pid && nlh->nlmsg_pid != nl->portid))
				continue;
			if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
				t->interrupted = true;
			if (nlh->nlmsg_type == NLMSG_ERROR || nlh->nlmsg_type == NLMSG_DONE) {
				ret = parse_status(t, nlh);
				done = true;
				break;
			}
			if (nlh->nlmsg_type == NLMSG_OVERRUN) {
				ret = -EIO;
				done = true;
				break;
			}
			if (nlh->nlmsg_type < NLMSG_MIN_TYPE)
				continue;
			if (t->cb && !t->cb_err)
				t->cb_err = t->cb(nlh, t->data);
		}
		explicit_bzero(nl->rx, (size_t)n);
	}
	if (ret == 0 && t->cb_err)
		ret = t->cb_err < 0 ? t->cb_err : -t->cb_err;
	return ret;
}

static int transact(struct qkdn_nl *nl, struct qkdn_nl_msg *msg, uint16_t type,
		    uint16_t mode, qkdn_nl_cb cb, void *data, bool *interrupted)
{
	struct transact t = { .nl = nl, .msg = msg, .cb = cb, .data = data };
	struct nlmsghdr *nlh = msg->nlh;
	int ret;

	extack_clear(nl);
	if (msg->overflow) {
		snprintf(nl->extack, sizeof(nl->extack),
			 "request does not fit in %d bytes", QKDN_NL_MSG_SIZE);
		return -EMSGSIZE;
	}
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | mode | msg->flags;
	nlh->nlmsg_seq = ++nl->seq;
	if (nlh->nlmsg_seq == 0) /* 0 is what notifications carry */
		nlh->nlmsg_seq = ++nl->seq;
	nlh->nlmsg_pid = 0;
	if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	ret = transact_recv(&t, nlh->nlmsg_seq);
	if (interrupted)
		*interrupted = t.interrupted;
	return ret;
}

int qkdn_nl_request(struct qkdn_nl *nl, struct qkdn_nl_msg *msg, qkdn_nl_cb cb, void *data)
{
	return transact(nl, msg, nl->family_id, NLM_F_ACK, cb, data, NULL);
}

int qkdn_nl_dump(struct qkdn_nl *nl, struct qkdn_nl_msg *msg, qkdn_nl_cb cb, void *data)
{
	for (int attempt = 0; attempt < QKDN_NL_DUMP_TRIES; attempt++) {
		bool interrupted = false;
		int ret;

		if (cb) {
			ret = cb(NULL, data);
			if (ret)
				return ret < 0 ? ret : -ret;
		}
		ret = transact(nl, msg, nl->family_id, NLM_F_DUMP, cb, data, &interrupted);
		if (ret || !interrupted)
			return ret;
	}
	snprintf(nl->extack, sizeof(nl->extack),
		 "dump interrupted by changes %d times in a row", QKDN_NL_DUMP_TRIES);
	return -EAGAIN;
}

int qkdn_nl_recv_notifications(struct qkdn_nl *nl, qkdn_nl_cb cb, void *data)
{
	ssize_t n = mnl_socket_recvfrom(nl->sock, nl->rx, QKDN_NL_RX_SIZE);
	const struct nlmsghdr *nlh;
	int len, ret = 0;

	if (n < 0)
		return -errno;
	len = (int)n;
	for (nlh = (const struct nlmsghdr *)nl->rx; mnl_nlmsg_ok(nlh, len);
	     nlh = mnl_nlmsg_next(nlh, &len)) {
		if (nlh->nlmsg_seq != 0 || nlh->nlmsg_type < NLMSG_MIN_TYPE)
			continue;
		ret = cb(nlh, data);
		if (ret)
			break;
	}
	explicit_bzero(nl->rx, (size_t)n);
	return ret;
}

/* Family resolution (CTRL_CMD_GETFAMILY). */

static int mcgrp_cb(const struct nlattr *a, void *data)
{
	struct qkdn_nl *nl = data;
	const struct nlattr *tb[CTRL_ATTR_MCAST_GRP_MAX + 1] = { 0 };
	const char *name;
	uint32_t id;

	if (qkdn_nl_parse_nested(a, tb, CTRL_ATTR_MCAST_GRP_MAX) < 0)
		return MNL_CB_OK;
	name = qkdn_nla_str(tb[CTRL_ATTR_MCAST_GRP_NAME]);
	if (!name || !qkdn_nla_u32(tb[CTRL_ATTR_MCAST_GRP_ID], &id) ||
	    nl->n_groups >= MAX_GROUPS)
		return MNL_CB_OK;
	snprintf(nl->groups[nl->n_groups].name, GENL_NAMSIZ, "%s", name);
	nl->groups[nl->n_groups].id = id;
	nl->n_groups++;
	return MNL_CB_OK;
}

static int family_cb(const struct nlmsghdr *nlh, void *data)
{
	struct qkdn_nl *nl = data;
	const struct nlattr *tb[CTRL_ATTR_MAX + 1];

	if (!nlh)
		return 0;
	if (qkdn_nl_parse(nlh, tb, CTRL_ATTR_MAX) < 0 ||
	    !qkdn_nla_u16(tb[CTRL_ATTR_FAMILY_ID], &nl->family_id))
		return -EBADMSG;
	qkdn_nla_u32(tb[CTRL_ATTR_VERSION], &nl->family_version);
	nl->n_groups = 0;
	if (tb[CTRL_ATTR_MCAST_GROUPS])
		mnl_attr_parse_nested(tb[CTRL_ATTR_MCAST_GROUPS], mcgrp_cb, nl);
	return 0;
}

int qkdn_nl_open_family(struct qkdn_nl **nlp, const char *family)
{
	struct qkdn_nl *nl = calloc(1, sizeof(*nl));
	struct qkdn_nl_msg *msg = NULL;
	int one = 1, ret;

	if (!nl)
		return -ENOMEM;
	extack_clear(nl);
	nl->rx = qkdn_secbuf_alloc(QKDN_NL_RX_SIZE);
	if (!nl->rx) {
		ret = -errno;
		goto err;
	}
	nl->sock = mnl_socket_open(NETLINK_GENERIC);
	if (!nl->sock) {
		ret = -errno;
		goto err;
	}
	if (mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		ret = -errno;
		goto err;
	}
	nl->portid = mnl_socket_get_portid(nl->sock);
	/* Both options are best effort: kernels before 4.12 lack them. */
	mnl_socket_setsockopt(nl->sock, NETLINK_EXT_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(nl->sock, NETLINK_CAP_ACK, &one, sizeof(one));

	msg = qkdn_nl_msg_new(CTRL_CMD_GETFAMILY, 0);
	if (!msg) {
		ret = -ENOMEM;
		goto err;
	}
	((struct genlmsghdr *)mnl_nlmsg_get_payload(msg->nlh))->version = 1;
	qkdn_nl_put_str(msg, CTRL_ATTR_FAMILY_NAME, family);
	ret = transact(nl, msg, GENL_ID_CTRL, NLM_F_ACK, family_cb, nl, NULL);
	qkdn_nl_msg_free(msg);
	if (ret)
		goto err;
	*nlp = nl;
	return 0;
err:
	if (nl->sock)
		mnl_socket_close(nl->sock);
	qkdn_secbuf_free(nl->rx);
	free(nl);
	return ret;
}

int qkdn_nl_open(struct qkdn_nl **nlp)
{
	return qkdn_nl_open_family(nlp, QKDN_GENL_NAME);
}

void qkdn_nl_close(struct qkdn_nl *nl)
{
	if (!nl)
		return;
	mnl_socket_close(nl->sock);
	qkdn_secbuf_free(nl->rx);
	free(nl);
}

int qkdn_nl_fd(const struct qkdn_nl *nl)
{
	return mnl_socket_get_fd(nl->sock);
}

uint16_t qkdn_nl_family_id(const struct qkdn_nl *nl)
{
	return nl->family_id;
}

uint32_t qkdn_nl_family_version(const struct qkdn_nl *nl)
{
	return nl->family_version;
}

const char *qkdn_nl_extack(const struct qkdn_nl *nl)
{
	return nl->extack;
}

int qkdn_nl_extack_attr(const struct qkdn_nl *nl)
{
	return nl->extack_attr;
}

int qkdn_nl_extack_missing(const struct qkdn_nl *nl)
{
	return nl->extack_missing;
}

int qkdn_nl_join_group(struct qkdn_nl *nl, const char *group)
{
	for (unsigned int i = 0; i < nl->n_groups; i++) {
		int id;

		if (strcmp(nl->groups[i].name, group) != 0)
			continue;
		id = (int)nl->groups[i].id;
		if (mnl_socket_setsockopt(nl->sock, NETLINK_ADD_MEMBERSHIP,
					  &id, sizeof(id)) < 0)
			return -errno;
		return 0;
	}
	return -ENOENT;
}

/* Messages. */

struct qkdn_nl_msg *qkdn_nl_msg_new(uint8_t cmd, uint16_t flags)
{
	struct qkdn_nl_msg *msg = calloc(1, sizeof(*msg));

	if (!msg)
		return NULL;
	msg->size = QKDN_NL_MSG_SIZE;
	msg->nlh = qkdn_secbuf_alloc(msg->size);
	if (!msg->nlh) {
		free(msg);
		return NULL;
	}
	qkdn_nl_msg_reset(msg, cmd, flags);
	return msg;
}

void qkdn_nl_msg_reset(struct qkdn_nl_msg *msg, uint8_t cmd, uint16_t flags)
{
	struct genlmsghdr *genl;

	/* Wipe what the previous use left: it may have been a key push. */
	explicit_bzero(msg->nlh, msg->nlh->nlmsg_len ? msg->nlh->nlmsg_len : msg->size);
	msg->nlh = mnl_nlmsg_put_header(msg->nlh);
	genl = mnl_nlmsg_put_extra_header(msg->nlh, sizeof(*genl));
	genl->cmd = cmd;
	genl->version = QKDN_GENL_VERSION;
	msg->flags = flags;
	msg->overflow = false;
}

void qkdn_nl_msg_free(struct qkdn_nl_msg *msg)
{
	if (!msg)
		return;
	qkdn_secbuf_free(msg->nlh);
	free(msg);
}

void qkdn_nl_put_u8(struct qkdn_nl_msg *msg, uint16_t type, uint8_t v)
{
	if (!mnl_attr_put_u8_check(msg->nlh, msg->size, type, v))
		msg->overflow = true;
}

void qkdn_nl_put_u16(struct qkdn_nl_msg *msg, uint16_t type, uint16_t v)
{
	if (!mnl_attr_put_u16_check(msg->nlh, msg->size, type, v))
		msg->overflow = true;
}

void qkdn_nl_put_u32(struct qkdn_nl_msg *msg, uint16_t type, uint32_t v)
{
	if (!mnl_attr_put_u32_check(msg->nlh, msg->size, type, v))
		msg->overflow = true;
}

void qkdn_nl_put_u64(struct qkdn_nl_msg *msg, uint16_t type, uint64_t v)
{
	/* The kernel reads NLA_U64 unaligned-safe; no pad attribute needed. */
	if (!mnl_attr_put_u64_check(msg->nlh, msg->size, type, v))
		msg->overflow = true;
}

void qkdn_nl_put_str(struct qkdn_nl_msg *msg, uint16_t type, const char *s)
{
	if (!mnl_attr_put_strz_check(msg->nlh, msg->size, type, s))
		msg->overflow = true;
}

void qkdn_nl_put(struct qkdn_nl_msg *msg, uint16_t type, const void *p, size_t len)
{
	if (len > UINT16_MAX - MNL_ATTR_HDRLEN ||
	    !mnl_attr_put_check(msg->nlh, msg->size, type, len, p))
		msg->overflow = true;
}

struct nlattr *qkdn_nl_nest_start(struct qkdn_nl_msg *msg, uint16_t type)
{
	struct nlattr *nest = mnl_attr_nest_start_check(msg->nlh, msg->size, type);

	if (!nest)
		msg->overflow = true;
	return nest;
}

void qkdn_nl_nest_end(struct qkdn_nl_msg *msg, struct nlattr *nest)
{
	if (!nest)
		return;
	/* nla_len is 16 bits: a nest longer than that cannot be expressed. */
	if ((size_t)((char *)mnl_nlmsg_get_payload_tail(msg->nlh) - (char *)nest) > UINT16_MAX)
		msg->overflow = true;
	else
		mnl_attr_nest_end(msg->nlh, nest);
}

/* Parsing. */

uint8_t qkdn_nl_cmd(const struct nlmsghdr *nlh)
{
	const struct genlmsghdr *genl = mnl_nlmsg_get_payload(nlh);

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*genl))
		return 0;
	return genl->cmd;
}

struct parse_ctx {
	const struct nlattr **tb;
	unsigned int max;
};

static int parse_cb(const struct nlattr *a, void *data)
{
	struct parse_ctx *ctx = data;
	uint16_t type = mnl_attr_get_type(a);

	if (type <= ctx->max)
		ctx->tb[type] = a;
	return MNL_CB_OK;
}

int qkdn_nl_parse(const struct nlmsghdr *nlh, const struct nlattr **tb, unsigned int max)
{
	struct parse_ctx ctx = { tb, max };

	memset(tb, 0, sizeof(*tb) * (max + 1));
	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(struct genlmsghdr))
		return -EINVAL;
	return mnl_attr_parse(nlh, sizeof(struct genlmsghdr), parse_cb, &ctx) < 0 ? -EINVAL : 0;
}

int qkdn_nl_parse_nested(const struct nlattr *nest, const struct nlattr **tb, unsigned int max)
{
	struct parse_ctx ctx = { tb, max };

	memset(tb, 0, sizeof(*tb) * (max + 1));
	if (!nest)
		return -EINVAL;
	return mnl_attr_parse_nested(nest, parse_cb, &ctx) < 0 ? -EINVAL : 0;
}

bool qkdn_nla_u8(const struct nlattr *a, uint8_t *out)
{
	if (!a || mnl_attr_get_payload_len(a) != sizeof(uint8_t))
		return false;
	*out = mnl_attr_get_u8(a);
	return true;
}

bool qkdn_nla_u16(const struct nlattr *a, uint16_t *out)
{
	if (!a || mnl_attr_get_payload_len(a) != sizeof(uint16_t))
		return false;
	*out = mnl_attr_get_u16(a);
	return true;
}

bool qkdn_nla_u32(const struct nlattr *a, uint32_t *out)
{
	if (!a || mnl_attr_get_payload_len(a) != sizeof(uint32_t))
		return false;
	*out = mnl_attr_get_u32(a);
	return true;
}

bool qkdn_nla_u64(const struct nlattr *a, uint64_t *out)
{
	if (!a || mnl_attr_get_payload_len(a) != sizeof(uint64_t))
		return false;
	*out = mnl_attr_get_u64(a);
	return true;
}

const char *qkdn_nla_str(const struct nlattr *a)
{
	const char *s;
	uint16_t len;

	if (!a)
		return NULL;
	len = mnl_attr_get_payload_len(a);
	s = mnl_attr_get_str(a);
	if (len == 0 || memchr(s, '\0', len) == NULL)
		return NULL;
	return s;
}
