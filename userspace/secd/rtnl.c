// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Raw netlink for xfrm and rtnetlink. lib/nl.c speaks generic netlink
 * only; these families have their own headers. xfrm messages carry keys
 * (NEWSA) and so do the replies to GETSA: both buffers are secbufs, wiped
 * after every exchange, and NETLINK_CAP_ACK keeps an error from echoing a
 * request back.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <linux/netlink.h>

#include "secd.h"
#include "secmem.h"

#define RTNL_BUF_SIZE (64 * 1024)

struct secd_rtnl {
	struct mnl_socket *sock;
	uint32_t portid, seq;
	unsigned char *tx, *rx;
	char extack[256];
};

int secd_rtnl_open(struct secd_rtnl **nlp, int proto)
{
	struct secd_rtnl *nl = calloc(1, sizeof(*nl));
	int one = 1, ret;

	if (!nl)
		return -ENOMEM;
	nl->tx = qkdn_secbuf_alloc(RTNL_BUF_SIZE);
	nl->rx = qkdn_secbuf_alloc(RTNL_BUF_SIZE);
	nl->sock = mnl_socket_open(proto);
	if (!nl->tx || !nl->rx || !nl->sock ||
	    mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		ret = -errno;
		secd_rtnl_close(nl);
		return ret ? ret : -ENOMEM;
	}
	nl->portid = mnl_socket_get_portid(nl->sock);
	mnl_socket_setsockopt(nl->sock, NETLINK_EXT_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(nl->sock, NETLINK_CAP_ACK, &one, sizeof(one));
	*nlp = nl;
	return 0;
}

void secd_rtnl_close(struct secd_rtnl *nl)
{
	if (!nl)
		return;
	if (nl->sock)
		mnl_socket_close(nl->sock);
	qkdn_secbuf_free(nl->tx);
	qkdn_secbuf_free(nl->rx);
	free(nl);
}

struct nlmsghdr *secd_rtnl_msg(struct secd_rtnl *nl, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *nlh;

	explicit_bzero(nl->tx, RTNL_BUF_SIZE);
	nlh = mnl_nlmsg_put_header(nl->tx);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = flags;
	return nlh;
}

const char *secd_rtnl_extack(const struct secd_rtnl *nl)
{
	return nl->extack;
}

static int extack_cb(const struct nlattr *a, void *data)
{
	struct secd_rtnl *nl = data;

	if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG &&
	    mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
		snprintf(nl->extack, sizeof(nl->extack), "%s", mnl_attr_get_str(a));
	return MNL_CB_OK;
}

/* mnl_cb_run2() gives the control callbacks the same data as the data
 * callback: both get this. */
struct talk {
	struct secd_rtnl *nl;
	mnl_cb_t cb;
	void *data;
};

static int data_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct talk *t = arg;

	return t->cb ? t->cb(nlh, t->data) : MNL_CB_OK;
}

static int error_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct secd_rtnl *nl = ((struct talk *)arg)->nl;
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*e)) {
		errno = EBADMSG;
		return MNL_CB_ERROR;
	}
	if ((nlh->nlmsg_flags & NLM_F_ACK_TLVS) && (nlh->nlmsg_flags & NLM_F_CAPPED))
		mnl_attr_parse(nlh, sizeof(*e), extack_cb, nl);
	if (e->error) {
		errno = -e->error;
		return MNL_CB_ERROR;
	}
	return MNL_CB_STOP;
}

int secd_rtnl_talk(struct secd_rtnl *nl, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	/* Types past the array (NLMSG_DONE, NLMSG_OVERRUN) get libmnl's
	 * defaults; ones inside it without a callback would be ignored. */
	mnl_cb_t ctl[NLMSG_ERROR + 1] = { [NLMSG_ERROR] = error_cb };
	struct talk t = { .nl = nl, .cb = cb, .data = data };
	uint32_t seq = ++nl->seq;
	int ret;

	nl->extack[0] = '\0';
	/* NLM_F_DUMP is two bits, one of which is NLM_F_EXCL on a NEW. */
	if ((nlh->nlmsg_flags & NLM_F_DUMP) != NLM_F_DUMP)
		nlh->nlmsg_flags |= NLM_F_ACK;
	nlh->nlmsg_flags |= NLM_F_REQUEST;
	nlh->nlmsg_seq = seq;
	if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0) {
		ret = -errno;
		goto out;
	}
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl->sock, nl->rx, RTNL_BUF_SIZE);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			break;
		}
		errno = 0;
		ret = mnl_cb_run2(nl->rx, (size_t)n, seq, nl->portid, data_cb, &t, ctl,
				  QKDN_ARRAY_SIZE(ctl));
		explicit_bzero(nl->rx, (size_t)n);
		if (ret == MNL_CB_ERROR) {
			ret = errno ? -errno : -EIO;
			break;
		}
		if (ret == MNL_CB_STOP) {
			ret = 0;
			break;
		}
	}
out:
	explicit_bzero(nl->tx, RTNL_BUF_SIZE);
	return ret;
}
