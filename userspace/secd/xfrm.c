// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * IPsec data plane: ESP in tunnel mode between the two gateways, over
 * NETLINK_XFRM.
 *
 * Every state and policy of the daemon carries the configured reqid:
 * that is how it finds what it owns (at start, leftovers of a run that
 * died; at exit, everything). Policies are installed together with the
 * first outbound SA, so a session that never comes up programs nothing.
 *
 * Which outbound state the kernel uses (6.1, xfrm_state_find() and
 * xfrm_state_look_at()): of the valid states matching the policy
 * template (addresses, ESP, tunnel, reqid), the one with the latest
 * add_time, a ties going to the last inserted (it heads the hash chain);
 * inserting a state bumps the genid of its older siblings, which makes
 * the cached bundles stale. So adding the new outbound state is the
 * switch itself, effective for the next packet: the daemon adds it only
 * once the peer's inbound state of that generation exists. Inbound states
 * are found by SPI, so old and new coexist until the old is deleted.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <libmnl/libmnl.h>
#include <linux/xfrm.h>

#include "log.h"
#include "secd.h"

#define AEAD_NAME "rfc4106(gcm(aes))"
#define AEAD_KEY_LEN 32
#define AEAD_SALT_LEN 4
#define AEAD_ICV_BITS 128
#define REPLAY_WINDOW 32
#define SPI_TRIES 16

struct xfrm_priv {
	struct secd_rtnl *nl;
	bool policies;
};

static struct xfrm_priv *priv(struct secd *s)
{
	return s->dp_priv;
}

static void put_addr(xfrm_address_t *a, const struct qkdn_secd_prefix *p)
{
	memset(a, 0, sizeof(*a));
	memcpy(a, p->addr, p->family == AF_INET ? 4 : 16);
}

static int new_state(struct secd *s, const struct secd_gen *g, bool inbound, uint32_t spi,
		     const uint8_t *key)
{
	const struct qkdn_secd_config *c = &s->cfg;
	struct secd_rtnl *nl = priv(s)->nl;
	struct nlmsghdr *nlh = secd_rtnl_msg(nl, XFRM_MSG_NEWSA, NLM_F_CREATE | NLM_F_EXCL);
	struct xfrm_usersa_info *sa = mnl_nlmsg_put_extra_header(nlh, sizeof(*sa));
	struct xfrm_algo_aead *alg;
	struct nlattr *a;

	put_addr(&sa->id.daddr, inbound ? &c->ipsec.local : &c->ipsec.remote);
	put_addr(&sa->saddr, inbound ? &c->ipsec.remote : &c->ipsec.local);
	sa->id.spi = htonl(spi);
	sa->id.proto = IPPROTO_ESP;
	sa->family = (uint16_t)c->ipsec.local.family;
	sa->mode = XFRM_MODE_TUNNEL;
	sa->reqid = c->ipsec.reqid;
	sa->replay_window = REPLAY_WINDOW;
	sa->lft.soft_byte_limit = XFRM_INF;
	sa->lft.hard_byte_limit = XFRM_INF;
	sa->lft.soft_packet_limit = XFRM_INF;
	sa->lft.hard_packet_limit = XFRM_INF;
	sa->lft.hard_add_expires_seconds = g->lifetime_s;

	/* The key goes straight into the (locked) message buffer. */
	a = mnl_nlmsg_get_payload_tail(nlh);
	a->nla_type = XFRMA_ALG_AEAD;
	a->nla_len = (uint16_t)(MNL_ATTR_HDRLEN + sizeof(*alg) + AEAD_KEY_LEN + AEAD_SALT_LEN);
	alg = mnl_attr_get_payload(a);
	snprintf(alg->alg_name, sizeof(alg->alg_name), AEAD_NAME);
	alg->alg_key_len = (AEAD_KEY_LEN + AEAD_SALT_LEN) * 8;
	alg->alg_icv_len = AEAD_ICV_BITS;
	memcpy(alg->alg_key, key, AEAD_KEY_LEN + AEAD_SALT_LEN);
	nlh->nlmsg_len += MNL_ALIGN(a->nla_len);
	return secd_rtnl_talk(nl, nlh, NULL, NULL);
}

static int del_state(struct secd *s, const xfrm_address_t *daddr, uint32_t spi_be,
		     uint16_t family)
{
	struct secd_rtnl *nl = priv(s)->nl;
	struct nlmsghdr *nlh = secd_rtnl_msg(nl, XFRM_MSG_DELSA, 0);
	struct xfrm_usersa_id *id = mnl_nlmsg_put_extra_header(nlh, sizeof(*id));

	id->daddr = *daddr;
	id->spi = spi_be;
	id->family = family;
	id->proto = IPPROTO_ESP;
	return secd_rtnl_talk(nl, nlh, NULL, NULL);
}

static void sel_set(struct xfrm_selector *sel, const struct qkdn_secd_prefix *src,
		    const struct qkdn_secd_prefix *dst)
{
	put_addr(&sel->saddr, src);
	put_addr(&sel->daddr, dst);
	sel->prefixlen_s = src->len;
	sel->prefixlen_d = dst->len;
	sel->family = (uint16_t)src->family;
}

/* out: local subnet -> remote subnet through local -> remote; in and fwd:
 * the reverse. */
static int policy(struct secd *s, uint8_t dir, bool add)
{
	const struct qkdn_secd_config *c = &s->cfg;
	struct secd_rtnl *nl = priv(s)->nl;
	bool out = dir == XFRM_POLICY_OUT;
	const struct qkdn_secd_prefix *src = out ? &c->ipsec.local_subnet : &c->ipsec.remote_subnet;
	const struct qkdn_secd_prefix *dst = out ? &c->ipsec.remote_subnet : &c->ipsec.local_subnet;
	struct nlmsghdr *nlh;

	if (!add) {
		struct xfrm_userpolicy_id *id;

		nlh = secd_rtnl_msg(nl, XFRM_MSG_DELPOLICY, 0);
		id = mnl_nlmsg_put_extra_header(nlh, sizeof(*id));
		sel_set(&id->sel, src, dst);
		id->dir = dir;
	} else {
		struct xfrm_userpolicy_info *pol;
		struct xfrm_user_tmpl tmpl;

		nlh = secd_rtnl_msg(nl, XFRM_MSG_UPDPOLICY, NLM_F_CREATE);
		pol = mnl_nlmsg_put_extra_header(nlh, sizeof(*pol));
		sel_set(&pol->sel, src, dst);
		pol->lft.soft_byte_limit = XFRM_INF;
		pol->lft.hard_byte_limit = XFRM_INF;
		pol->lft.soft_packet_limit = XFRM_INF;
		pol->lft.hard_packet_limit = XFRM_INF;
		pol->dir = dir;
		pol->action = XFRM_POLICY_ALLOW;
		pol->share = XFRM_SHARE_ANY;
		memset(&tmpl, 0, sizeof(tmpl));
		put_addr(&tmpl.id.daddr, out ? &c->ipsec.remote : &c->ipsec.local);
		put_addr(&tmpl.saddr, out ? &c->ipsec.local : &c->ipsec.remote);
		tmpl.id.proto = IPPROTO_ESP;
		tmpl.family = (uint16_t)c->ipsec.local.family;
		tmpl.reqid = c->ipsec.reqid;
		tmpl.mode = XFRM_MODE_TUNNEL;
		tmpl.share = XFRM_SHARE_ANY;
		tmpl.aalgos = tmpl.ealgos = tmpl.calgos = ~0U;
		mnl_attr_put(nlh, XFRMA_TMPL, sizeof(tmpl), &tmpl);
	}
	return secd_rtnl_talk(nl, nlh, NULL, NULL);
}

static const uint8_t policy_dirs[] = { XFRM_POLICY_IN, XFRM_POLICY_FWD, XFRM_POLICY_OUT };

static void policies_del(struct secd *s)
{
	for (size_t i = 0; i < sizeof(policy_dirs); i++) {
		int ret = policy(s, policy_dirs[i], false);

		if (ret && ret != -ENOENT)
			qkdn_log(QKDN_LOG_WARN, "cannot delete policy",
				 "event=xfrm-policy-del-failed dir=%u err=%s", policy_dirs[i],
				 strerrorname_np(-ret));
	}
	priv(s)->policies = false;
}

/* Our states: collected from a dump, deleted after it (one socket). */
struct owned {
	struct {
		xfrm_address_t daddr;
		uint32_t spi;
		uint16_t family;
	} st[256];
	size_t n;
	uint32_t reqid;
};

static int owned_cb(const struct nlmsghdr *nlh, void *data)
{
	struct owned *o = data;
	const struct xfrm_usersa_info *sa = mnl_nlmsg_get_payload(nlh);

	if (nlh->nlmsg_type != XFRM_MSG_NEWSA || mnl_nlmsg_get_payload_len(nlh) < sizeof(*sa))
		return MNL_CB_OK;
	if (sa->reqid == o->reqid && sa->id.proto == IPPROTO_ESP &&
	    o->n < QKDN_ARRAY_SIZE(o->st)) {
		o->st[o->n].daddr = sa->id.daddr;
		o->st[o->n].spi = sa->id.spi;
		o->st[o->n].family = sa->family;
		o->n++;
	}
	return MNL_CB_OK;
}

static int flush_owned(struct secd *s, const char *why)
{
	struct secd_rtnl *nl = priv(s)->nl;
	struct owned *o = calloc(1, sizeof(*o));
	unsigned int deleted = 0;
	int ret;

	if (!o)
		return -ENOMEM;
	o->reqid = s->cfg.ipsec.reqid;
	ret = secd_rtnl_talk(nl, secd_rtnl_msg(nl, XFRM_MSG_GETSA, NLM_F_DUMP), owned_cb, o);
	for (size_t i = 0; !ret && i < o->n; i++)
		if (del_state(s, &o->st[i].daddr, o->st[i].spi, o->st[i].family) == 0)
			deleted++;
	if (deleted)
		qkdn_log(QKDN_LOG_INFO, "xfrm states removed", "event=xfrm-flush why=%s reqid=%u count=%u",
			 why, s->cfg.ipsec.reqid, deleted);
	free(o);
	return ret;
}

static int xfrm_start(struct secd *s)
{
	struct xfrm_priv *p = calloc(1, sizeof(*p));
	int ret;

	if (!p)
		return -ENOMEM;
	s->dp_priv = p;
	ret = secd_rtnl_open(&p->nl, NETLINK_XFRM);
	if (ret) {
		qkdn_log(QKDN_LOG_ERR, "cannot open NETLINK_XFRM", "event=start-failed err=%s",
			 strerrorname_np(-ret));
		return ret;
	}
	ret = flush_owned(s, "start");
	if (ret) {
		qkdn_log(QKDN_LOG_ERR, "cannot list xfrm states", "event=start-failed err=%s",
			 strerrorname_np(-ret));
		return ret;
	}
	policies_del(s);
	return 0;
}

static uint32_t random_spi(void)
{
	uint32_t spi = 0;

	while (spi < QKDN_W_SA_SPI_MIN)
		if (getrandom(&spi, sizeof(spi), 0) != sizeof(spi))
			spi = 0;
	return spi;
}

static int xfrm_install_in(struct secd *s, struct secd_gen *g, const struct secd_keys *k)
{
	int ret = -EEXIST;

	/* A fresh random SPI for every generation; a clash with a state
	 * the node already has just draws again. */
	for (int i = 0; i < SPI_TRIES && ret == -EEXIST; i++) {
		g->spi_in = random_spi();
		ret = new_state(s, g, true, g->spi_in, k->bytes);
	}
	if (ret)
		qkdn_log(QKDN_LOG_ERR, "cannot add inbound state",
			 "event=xfrm-add-failed gen=%u dir=in err=%s extack=\"%s\"", g->gen,
			 strerrorname_np(-ret), secd_rtnl_extack(priv(s)->nl));
	return ret;
}

static int xfrm_install_out(struct secd *s, struct secd_gen *g, const struct secd_keys *k)
{
	struct xfrm_priv *p = priv(s);
	int ret;

	if (!p->policies) {
		for (size_t i = 0; i < sizeof(policy_dirs); i++) {
			ret = policy(s, policy_dirs[i], true);
			if (ret) {
				qkdn_log(QKDN_LOG_ERR, "cannot add policy",
					 "event=xfrm-policy-failed dir=%u err=%s extack=\"%s\"",
					 policy_dirs[i], strerrorname_np(-ret),
					 secd_rtnl_extack(p->nl));
				policies_del(s);
				return ret;
			}
		}
		p->policies = true;
		qkdn_log(QKDN_LOG_INFO, "policies installed",
			 "event=xfrm-policies local_subnet=%s remote_subnet=%s reqid=%u",
			 s->cfg.ipsec.local_subnet.str, s->cfg.ipsec.remote_subnet.str,
			 s->cfg.ipsec.reqid);
	}
	ret = new_state(s, g, false, g->spi_out, k->bytes);
	if (ret)
		qkdn_log(QKDN_LOG_ERR, "cannot add outbound state",
			 "event=xfrm-add-failed gen=%u dir=out spi=0x%08x err=%s extack=\"%s\"",
			 g->gen, g->spi_out, strerrorname_np(-ret), secd_rtnl_extack(p->nl));
	return ret;
}

static void xfrm_remove(struct secd *s, struct secd_gen *g)
{
	const struct qkdn_secd_config *c = &s->cfg;
	xfrm_address_t a;
	int ret;

	if (g->in_installed) {
		put_addr(&a, &c->ipsec.local);
		ret = del_state(s, &a, htonl(g->spi_in), (uint16_t)c->ipsec.local.family);
		if (ret && ret != -ESRCH)
			qkdn_log(QKDN_LOG_WARN, "cannot delete state",
				 "event=xfrm-del-failed gen=%u spi=0x%08x err=%s", g->gen, g->spi_in,
				 strerrorname_np(-ret));
	}
	if (g->out_installed) {
		put_addr(&a, &c->ipsec.remote);
		ret = del_state(s, &a, htonl(g->spi_out), (uint16_t)c->ipsec.local.family);
		if (ret && ret != -ESRCH)
			qkdn_log(QKDN_LOG_WARN, "cannot delete state",
				 "event=xfrm-del-failed gen=%u spi=0x%08x err=%s", g->gen, g->spi_out,
				 strerrorname_np(-ret));
	}
	g->in_installed = g->out_installed = false;
}

static int bytes_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct xfrm_usersa_info *sa = mnl_nlmsg_get_payload(nlh);

	if (nlh->nlmsg_type == XFRM_MSG_NEWSA && mnl_nlmsg_get_payload_len(nlh) >= sizeof(*sa))
		*(uint64_t *)data += sa->curlft.bytes;
	return MNL_CB_OK;
}

static int get_bytes(struct secd *s, const struct qkdn_secd_prefix *daddr, uint32_t spi,
		     uint64_t *bytes)
{
	struct secd_rtnl *nl = priv(s)->nl;
	struct nlmsghdr *nlh = secd_rtnl_msg(nl, XFRM_MSG_GETSA, 0);
	struct xfrm_usersa_id *id = mnl_nlmsg_put_extra_header(nlh, sizeof(*id));

	put_addr(&id->daddr, daddr);
	id->spi = htonl(spi);
	id->family = (uint16_t)daddr->family;
	id->proto = IPPROTO_ESP;
	return secd_rtnl_talk(nl, nlh, bytes_cb, bytes);
}

static int xfrm_bytes(struct secd *s, const struct secd_gen *g, uint64_t *bytes)
{
	int ret = 0;

	*bytes = 0;
	if (g->in_installed)
		ret = get_bytes(s, &s->cfg.ipsec.local, g->spi_in, bytes);
	if (!ret && g->out_installed)
		ret = get_bytes(s, &s->cfg.ipsec.remote, g->spi_out, bytes);
	return ret;
}

static void xfrm_stop(struct secd *s)
{
	struct xfrm_priv *p = priv(s);

	if (!p)
		return;
	if (p->nl) {
		policies_del(s);
		flush_owned(s, "stop");
		secd_rtnl_close(p->nl);
	}
	free(p);
	s->dp_priv = NULL;
}

const struct secd_dp_ops secd_xfrm_ops = {
	.name = "ipsec",
	.start = xfrm_start,
	.install_in = xfrm_install_in,
	.install_out = xfrm_install_out,
	.remove = xfrm_remove,
	.bytes = xfrm_bytes,
	.stop = xfrm_stop,
};
