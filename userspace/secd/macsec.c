// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * MACsec data plane: one secure channel each way on one link, through the
 * "macsec" generic netlink family (SAs) and rtnetlink (the device, its
 * encoding SA).
 *
 * Generation N uses association number N % 4 in both directions, its key
 * ID (MACSEC_SA_ATTR_KEYID) being the 16-byte ID of the QKD key it was cut
 * from. The new RX SA is installed at both ends before either switches its
 * encoding SA, and the old SAs go a grace period later, so no frame is
 * sent under an SA its receiver does not have. Four ANs and a grace period
 * shorter than the rekey interval mean an AN is free again long before it
 * comes round.
 *
 * The kernel refuses to delete an active SA (EBUSY): removal deactivates
 * first. The device is used if it exists (and left in place at exit, its
 * SAs removed) or created on the configured link (and deleted at exit).
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/if_macsec.h>
#include <linux/rtnetlink.h>

#include "log.h"
#include "secd.h"

struct macsec_priv {
	struct secd_rtnl *rt;
	struct qkdn_nl *gnl;
	unsigned int ifindex;
	bool created;
	bool rxsc;			/* an RX SC for rxsc_sci exists */
	uint64_t rxsc_sci;
	size_t key_len;
};

static struct macsec_priv *priv(struct secd *s)
{
	return s->dp_priv;
}

static void log_fail(struct secd *s, const char *what, uint8_t an, int ret)
{
	qkdn_log(QKDN_LOG_ERR, "macsec request failed", "event=macsec-failed op=%s an=%u err=%s extack=\"%s\"",
		 what, an, strerrorname_np(-ret), qkdn_nl_extack(priv(s)->gnl));
}

/* rtnetlink: create, bring up, set the encoding SA, delete */

static int link_request(struct secd *s, uint16_t type, uint16_t flags, const char *create_on,
			int encoding_sa)
{
	struct macsec_priv *p = priv(s);
	struct nlmsghdr *nlh = secd_rtnl_msg(p->rt, type, flags);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	struct nlattr *info, *data;

	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = (int)p->ifindex;
	if (type == RTM_DELLINK)
		return secd_rtnl_talk(p->rt, nlh, NULL, NULL);
	if (create_on) {
		uint64_t cipher = p->key_len == 16 ? MACSEC_CIPHER_ID_GCM_AES_128
						   : MACSEC_CIPHER_ID_GCM_AES_256;

		mnl_attr_put_strz(nlh, IFLA_IFNAME, s->cfg.macsec.device);
		mnl_attr_put_u32(nlh, IFLA_LINK, if_nametoindex(create_on));
		info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
		mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "macsec");
		data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
		mnl_attr_put_u64(nlh, IFLA_MACSEC_CIPHER_SUITE, cipher);
		mnl_attr_put_u8(nlh, IFLA_MACSEC_ICV_LEN, MACSEC_STD_ICV_LEN);
		mnl_attr_put_u8(nlh, IFLA_MACSEC_ENCRYPT, 1);
		mnl_attr_put_u8(nlh, IFLA_MACSEC_REPLAY_PROTECT, 1);
		mnl_attr_put_u32(nlh, IFLA_MACSEC_WINDOW, 0);
		mnl_attr_nest_end(nlh, data);
		mnl_attr_nest_end(nlh, info);
	} else if (encoding_sa >= 0) {
		info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
		mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "macsec");
		data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
		mnl_attr_put_u8(nlh, IFLA_MACSEC_ENCODING_SA, (uint8_t)encoding_sa);
		mnl_attr_nest_end(nlh, data);
		mnl_attr_nest_end(nlh, info);
	} else {
		ifi->ifi_flags = IFF_UP;
		ifi->ifi_change = IFF_UP;
	}
	return secd_rtnl_talk(p->rt, nlh, NULL, NULL);
}

/* genetlink: the SecY's SCI and cipher, its RX SCs */

struct secy_info {
	unsigned int ifindex;
	bool found;
	uint64_t sci, cipher;
	uint64_t rxscs[8];
	size_t n_rxscs;
};

static int txsc_cb(const struct nlmsghdr *nlh, void *data)
{
	struct secy_info *si = data;
	const struct nlattr *tb[MACSEC_ATTR_MAX + 1], *sy[MACSEC_SECY_ATTR_MAX + 1];
	const struct nlattr *rxsc;
	uint32_t ifindex;

	if (!nlh)
		return 0;
	if (qkdn_nl_parse(nlh, tb, MACSEC_ATTR_MAX) < 0 ||
	    !qkdn_nla_u32(tb[MACSEC_ATTR_IFINDEX], &ifindex) || ifindex != si->ifindex ||
	    !tb[MACSEC_ATTR_SECY] || qkdn_nl_parse_nested(tb[MACSEC_ATTR_SECY], sy, MACSEC_SECY_ATTR_MAX) < 0 ||
	    !qkdn_nla_u64(sy[MACSEC_SECY_ATTR_SCI], &si->sci) ||
	    !qkdn_nla_u64(sy[MACSEC_SECY_ATTR_CIPHER_SUITE], &si->cipher))
		return 0;
	si->found = true;
	if (tb[MACSEC_ATTR_RXSC_LIST]) {
		mnl_attr_for_each_nested(rxsc, tb[MACSEC_ATTR_RXSC_LIST]) {
			const struct nlattr *rb[MACSEC_RXSC_ATTR_MAX + 1];

			if (qkdn_nl_parse_nested(rxsc, rb, MACSEC_RXSC_ATTR_MAX) == 0 &&
			    si->n_rxscs < QKDN_ARRAY_SIZE(si->rxscs) &&
			    qkdn_nla_u64(rb[MACSEC_RXSC_ATTR_SCI], &si->rxscs[si->n_rxscs]))
				si->n_rxscs++;
		}
	}
	return 0;
}

static struct qkdn_nl_msg *gmsg(struct secd *s, uint8_t cmd)
{
	struct qkdn_nl_msg *m = qkdn_nl_msg_new(cmd, 0);

	if (m)
		qkdn_nl_put_u32(m, MACSEC_ATTR_IFINDEX, priv(s)->ifindex);
	return m;
}

static int gsend(struct secd *s, struct qkdn_nl_msg *m)
{
	int ret = m ? qkdn_nl_request(priv(s)->gnl, m, NULL, NULL) : -ENOMEM;

	qkdn_nl_msg_free(m);
	return ret;
}

static void put_rxsc(struct qkdn_nl_msg *m, uint64_t sci)
{
	struct nlattr *n = qkdn_nl_nest_start(m, MACSEC_ATTR_RXSC_CONFIG);

	qkdn_nl_put_u64(m, MACSEC_RXSC_ATTR_SCI, sci);
	qkdn_nl_nest_end(m, n);
}

/* One SA's config; key NULL for a change of ACTIVE only. */
static void put_sa(struct qkdn_nl_msg *m, uint8_t an, bool active, const struct secd_keys *k,
		   size_t key_len, const uint8_t *key_id)
{
	struct nlattr *n = qkdn_nl_nest_start(m, MACSEC_ATTR_SA_CONFIG);

	qkdn_nl_put_u8(m, MACSEC_SA_ATTR_AN, an);
	qkdn_nl_put_u8(m, MACSEC_SA_ATTR_ACTIVE, active);
	if (k) {
		qkdn_nl_put_u32(m, MACSEC_SA_ATTR_PN, 1);
		qkdn_nl_put(m, MACSEC_SA_ATTR_KEY, k->bytes, key_len);
		qkdn_nl_put(m, MACSEC_SA_ATTR_KEYID, key_id, MACSEC_KEYID_LEN);
	}
	qkdn_nl_nest_end(m, n);
}

static void del_rxsa(struct secd *s, uint64_t sci, uint8_t an)
{
	struct qkdn_nl_msg *m = gmsg(s, MACSEC_CMD_UPD_RXSA);

	if (m) {
		put_rxsc(m, sci);
		put_sa(m, an, false, NULL, 0, NULL);
	}
	gsend(s, m);
	m = gmsg(s, MACSEC_CMD_DEL_RXSA);
	if (m) {
		put_rxsc(m, sci);
		put_sa(m, an, false, NULL, 0, NULL);
	}
	gsend(s, m);
}

static void del_txsa(struct secd *s, uint8_t an)
{
	struct qkdn_nl_msg *m = gmsg(s, MACSEC_CMD_UPD_TXSA);

	if (m)
		put_sa(m, an, false, NULL, 0, NULL);
	gsend(s, m);
	m = gmsg(s, MACSEC_CMD_DEL_TXSA);
	if (m)
		put_sa(m, an, false, NULL, 0, NULL);
	gsend(s, m);
}

static int del_rxsc(struct secd *s, uint64_t sci)
{
	struct qkdn_nl_msg *m = gmsg(s, MACSEC_CMD_DEL_RXSC);

	if (m)
		put_rxsc(m, sci);
	return gsend(s, m);
}

static int macsec_start(struct secd *s)
{
	struct macsec_priv *p = calloc(1, sizeof(*p));
	const struct qkdn_secd_config *c = &s->cfg;
	struct secy_info si = { 0 };
	struct qkdn_nl_msg *m;
	int ret;

	if (!p)
		return -ENOMEM;
	s->dp_priv = p;
	p->key_len = c->macsec.key_bits / 8;
	ret = secd_rtnl_open(&p->rt, NETLINK_ROUTE);
	if (!ret)
		ret = qkdn_nl_open_family(&p->gnl, MACSEC_GENL_NAME);
	if (ret) {
		qkdn_log(QKDN_LOG_ERR, "cannot open netlink", "event=start-failed err=%s%s",
			 strerrorname_np(-ret),
			 ret == -ENOENT ? " hint=\"macsec module not loaded: modprobe macsec\"" : "");
		return ret;
	}
	p->ifindex = if_nametoindex(c->macsec.device);
	if (!p->ifindex) {
		if (!if_nametoindex(c->macsec.link)) {
			qkdn_log(QKDN_LOG_ERR, "no such link", "event=start-failed link=%s",
				 c->macsec.link);
			return -ENODEV;
		}
		ret = link_request(s, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, c->macsec.link, -1);
		p->ifindex = if_nametoindex(c->macsec.device);
		if (ret || !p->ifindex) {
			qkdn_log(QKDN_LOG_ERR, "cannot create the macsec device",
				 "event=start-failed device=%s link=%s err=%s extack=\"%s\"",
				 c->macsec.device, c->macsec.link, strerrorname_np(-ret),
				 secd_rtnl_extack(p->rt));
			return ret ? ret : -ENODEV;
		}
		p->created = true;
		qkdn_log(QKDN_LOG_INFO, "macsec device created",
			 "event=macsec-created device=%s link=%s cipher=gcm-aes-%u", c->macsec.device,
			 c->macsec.link, c->macsec.key_bits);
	}
	si.ifindex = p->ifindex;
	m = qkdn_nl_msg_new(MACSEC_CMD_GET_TXSC, 0);
	ret = m ? qkdn_nl_dump(p->gnl, m, txsc_cb, &si) : -ENOMEM;
	qkdn_nl_msg_free(m);
	if (!ret && !si.found)
		ret = -ENODEV;
	if (ret) {
		qkdn_log(QKDN_LOG_ERR, "not a macsec device", "event=start-failed device=%s err=%s",
			 c->macsec.device, strerrorname_np(-ret));
		return ret;
	}
	if (!((p->key_len == 16 && (si.cipher == MACSEC_CIPHER_ID_GCM_AES_128 ||
				    si.cipher == MACSEC_DEFAULT_CIPHER_ID)) ||
	      (p->key_len == 32 && si.cipher == MACSEC_CIPHER_ID_GCM_AES_256))) {
		qkdn_log(QKDN_LOG_ERR, "macsec device has another cipher",
			 "event=start-failed device=%s want=gcm-aes-%u cipher=0x%016llx",
			 c->macsec.device, c->macsec.key_bits, (unsigned long long)si.cipher);
		return -EINVAL;
	}
	s->own_sci = si.sci;
	/* The device is the daemon's: SAs and RX SCs of an earlier run go. */
	for (uint8_t an = 0; an < 4; an++)
		del_txsa(s, an);
	for (size_t i = 0; i < si.n_rxscs; i++)
		del_rxsc(s, si.rxscs[i]);
	ret = link_request(s, RTM_NEWLINK, 0, NULL, -1);
	if (ret)
		qkdn_log(QKDN_LOG_WARN, "cannot bring the device up", "event=macsec-up-failed err=%s",
			 strerrorname_np(-ret));
	return 0;
}

static int macsec_install_in(struct secd *s, struct secd_gen *g, const struct secd_keys *k)
{
	struct macsec_priv *p = priv(s);
	struct qkdn_nl_msg *m;
	int ret;

	if (p->rxsc && p->rxsc_sci != s->peer_sci) {
		for (uint8_t an = 0; an < 4; an++)
			del_rxsa(s, p->rxsc_sci, an);
		del_rxsc(s, p->rxsc_sci);
		p->rxsc = false;
	}
	if (!p->rxsc) {
		struct nlattr *n;

		m = gmsg(s, MACSEC_CMD_ADD_RXSC);
		if (m) {
			n = qkdn_nl_nest_start(m, MACSEC_ATTR_RXSC_CONFIG);
			qkdn_nl_put_u64(m, MACSEC_RXSC_ATTR_SCI, s->peer_sci);
			qkdn_nl_put_u8(m, MACSEC_RXSC_ATTR_ACTIVE, 1);
			qkdn_nl_nest_end(m, n);
		}
		ret = gsend(s, m);
		if (ret) {
			log_fail(s, "add-rxsc", g->an, ret);
			return ret;
		}
		p->rxsc = true;
		p->rxsc_sci = s->peer_sci;
	}
	/* A leftover of the generation four back, or of another run. */
	del_rxsa(s, p->rxsc_sci, g->an);
	m = gmsg(s, MACSEC_CMD_ADD_RXSA);
	if (m) {
		put_rxsc(m, p->rxsc_sci);
		put_sa(m, g->an, true, k, p->key_len, g->id_in);
	}
	ret = gsend(s, m);
	if (ret)
		log_fail(s, "add-rxsa", g->an, ret);
	return ret;
}

static int macsec_install_out(struct secd *s, struct secd_gen *g, const struct secd_keys *k)
{
	struct macsec_priv *p = priv(s);
	struct qkdn_nl_msg *m;
	int ret;

	del_txsa(s, g->an);
	m = gmsg(s, MACSEC_CMD_ADD_TXSA);
	if (m)
		put_sa(m, g->an, true, k, p->key_len, g->id_out);
	ret = gsend(s, m);
	if (ret) {
		log_fail(s, "add-txsa", g->an, ret);
		return ret;
	}
	ret = link_request(s, RTM_NEWLINK, 0, NULL, g->an);
	if (ret) {
		qkdn_log(QKDN_LOG_ERR, "cannot switch the encoding SA",
			 "event=macsec-failed op=encoding-sa an=%u err=%s extack=\"%s\"", g->an,
			 strerrorname_np(-ret), secd_rtnl_extack(p->rt));
		del_txsa(s, g->an);
	}
	return ret;
}

static void macsec_remove(struct secd *s, struct secd_gen *g)
{
	struct macsec_priv *p = priv(s);

	if (g->in_installed && p->rxsc)
		del_rxsa(s, p->rxsc_sci, g->an);
	if (g->out_installed)
		del_txsa(s, g->an);
	g->in_installed = g->out_installed = false;
}

static int macsec_bytes(struct secd *s, const struct secd_gen *g, uint64_t *bytes)
{
	(void)s;
	(void)g;
	*bytes = 0;
	return -EOPNOTSUPP;
}

static void macsec_stop(struct secd *s)
{
	struct macsec_priv *p = priv(s);

	if (!p)
		return;
	if (p->gnl && p->ifindex) {
		if (p->rxsc)
			del_rxsc(s, p->rxsc_sci);
		for (uint8_t an = 0; an < 4; an++)
			del_txsa(s, an);
	}
	if (p->created && p->rt && link_request(s, RTM_DELLINK, 0, NULL, -1) == 0)
		qkdn_log(QKDN_LOG_INFO, "macsec device deleted", "event=macsec-deleted device=%s",
			 s->cfg.macsec.device);
	secd_rtnl_close(p->rt);
	qkdn_nl_close(p->gnl);
	free(p);
	s->dp_priv = NULL;
}

const struct secd_dp_ops secd_macsec_ops = {
	.name = "macsec",
	.start = macsec_start,
	.install_in = macsec_install_in,
	.install_out = macsec_install_out,
	.remove = macsec_remove,
	.bytes = macsec_bytes,
	.stop = macsec_stop,
};
