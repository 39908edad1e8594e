/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * qkdn-secd: IPsec or MACsec between two security gateways, keyed from the
 * QKD network (Documentation/ipsec-macsec.rst).
 *
 * Each gateway is an application (SAE) of its QKD node. The initiator
 * (the end whose config names a peer) dials the responder over TLS 1.3
 * with SAE certificates and drives every rekey; only key IDs cross the
 * wire (lib/wire.h, qkdn_wire_sa_policy). One generation is one set of
 * SAs, both directions, each direction with a key of its own:
 *
 *   initiator                                  responder
 *   KEY_GET fwd + rev keys
 *   SA_PROPOSE gen, IDs, [AN, SCI]  ------->   KEY_GET_ID fwd + rev
 *                                              install inbound (fwd key)
 *                                  <-------    response: SPI / SCI
 *   install inbound (rev key)
 *   install outbound (fwd key): switches
 *   SA_INSTALLED gen, [SPI]         ------->   install outbound (rev key):
 *                                              switches
 *   ... grace-ms ...
 *   delete gen - 1                             delete gen - 1
 *   SA_DELETE gen - 1               ------->
 *
 * Nobody sends with a generation before the other end can receive it, and
 * old SAs stay until the grace period is over: traffic never stops.
 */
#ifndef QKDN_SECD_H
#define QKDN_SECD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include <linux/qkdn.h>

#include "config.h"
#include "nl.h"
#include "util.h"
#include "wire.h"

#define SECD_GENS_MAX 4			/* generations alive at once */
#define SECD_REPLY_TIMEOUT_S 15		/* for an answer of the peer */
#define SECD_RETRY_MS 2000		/* after a failed rekey */
#define SECD_BACKOFF_MAX_MS 30000

/* Key bytes of one direction, in a secbuf. */
struct secd_keys {
	unsigned int n_ids;
	uint8_t ids[QKDN_W_SA_KEYS_MAX][QKDN_KEY_ID_LEN];
	uint8_t *bytes;			/* secbuf, len bytes */
	size_t len;
};

/* One generation of SAs, as this end sees it. in: what this end receives
 * with, out: what it sends with. */
struct secd_gen {
	bool used;
	uint32_t gen;
	bool in_installed, out_installed;
	uint32_t spi_in, spi_out;	/* IPsec */
	uint8_t an;			/* MACsec */
	uint8_t id_in[QKDN_KEY_ID_LEN], id_out[QKDN_KEY_ID_LEN];
	uint32_t lifetime_s;		/* hard limit of its SAs */
	uint32_t ike_id;		/* PPK, initiator: its IKE SA's unique ID */
	uint64_t conn_serial;		/* the connection that made it */
};

struct secd;

/* The data plane: xfrm (IPsec) or the macsec device. */
struct secd_dp_ops {
	const char *name;
	/* Takes over what the daemon owns (flushing leftovers of an earlier
	 * run); nothing visible to traffic yet. */
	int (*start)(struct secd *s);
	/* Before a proposal: what the peer needs to know (SPI, SCI). */
	int (*install_in)(struct secd *s, struct secd_gen *g, const struct secd_keys *k);
	int (*install_out)(struct secd *s, struct secd_gen *g, const struct secd_keys *k);
	void (*remove)(struct secd *s, struct secd_gen *g);
	/* Bytes carried so far by the generation's SAs (both directions). */
	int (*bytes)(struct secd *s, const struct secd_gen *g, uint64_t *bytes);
	void (*stop)(struct secd *s);
};

extern const struct secd_dp_ops secd_xfrm_ops;
extern const struct secd_dp_ops secd_macsec_ops;
extern const struct secd_dp_ops secd_ppk_ops;

#define SECD_PPK_LEN 32			/* bytes of a PPK */

struct secd_stats {
	uint64_t rekeys;		/* generations switched to */
	uint64_t rekey_failures;
	uint64_t keys_fetched;
	uint64_t refused_conns;
	uint64_t protocol_errors;
	uint64_t deleted;		/* generations removed */
};

struct secd_conn;

struct secd {
	struct qkdn_secd_config cfg;
	const struct secd_dp_ops *dp;
	void *dp_priv;
	struct event_base *base;
	SSL_CTX *tls;
	struct qkdn_nl *nl;		/* qkdn family: key supply */
	uint32_t node_id;
	bool initiator;
	bool stopping;
	size_t key_len;			/* key bytes a direction needs */

	struct secd_gen gens[SECD_GENS_MAX];
	uint32_t next_gen;		/* initiator */
	uint32_t active_gen;		/* the generation this end sends with */
	uint64_t own_sci, peer_sci;	/* MACsec, as the kernel stores them */
	uint64_t conn_serial;

	struct secd_conn *conn;		/* the one control connection */
	struct evconnlistener *listener;
	struct event *rekey_timer, *grace_timer, *dial_timer, *tick;
	struct event *sig_term, *sig_int, *sig_usr1, *sig_hup;
	unsigned int backoff_ms;
	struct secd_stats stats;
};

/* main.c */
void secd_log_stats(struct secd *s, const char *why);

/* keys.c */
/* At least need bytes of new keys for the peer SAE (KEY_GET, one key at a
 * time, at most QKDN_W_SA_KEYS_MAX). 0 or -errno; reason filled. */
int secd_keys_get(struct secd *s, size_t need, struct secd_keys *k, char *reason,
		  size_t reason_len);
/* The keys of fwd and rev by ID (KEY_GET_ID, all or nothing). */
int secd_keys_get_ids(struct secd *s, const uint8_t *fwd, size_t fwd_len, const uint8_t *rev,
		      size_t rev_len, size_t need, struct secd_keys *kf, struct secd_keys *kr,
		      char *reason, size_t reason_len);
void secd_keys_wipe(struct secd_keys *k);
/* Checks the node knows both SAEs as it must (ours local, the peer's
 * remote). 0 or -errno with reason. */
int secd_keys_check_saes(struct secd *s, char *reason, size_t reason_len);
/* ctl.c: the generation table */
struct secd_gen *secd_gen_find(struct secd *s, uint32_t gen);
struct secd_gen *secd_gen_new(struct secd *s, uint32_t gen);
void secd_gen_remove(struct secd *s, struct secd_gen *g);
void secd_gen_remove_all(struct secd *s);

/* ctl.c */
int secd_ctl_start(struct secd *s);
void secd_ctl_stop(struct secd *s);

/* vici.c: charon's VICI socket, one synchronous request at a time. A
 * request is built with begin and the put functions, then sent with
 * call (which wants "success = yes" in the answer), plain (an answer
 * without one) or stream (events of that name until the answer). Each
 * key-value and list item of answers and events goes to cb: depth 0 for
 * the top level, else section is the top-level section's name. */
struct secd_vici;
typedef void (*secd_vici_cb)(void *data, unsigned int depth, const char *section,
			     const char *key, const uint8_t *val, size_t len);
int secd_vici_open(struct secd_vici **v, const char *path, unsigned int timeout_s);
void secd_vici_close(struct secd_vici *v);
void secd_vici_begin(struct secd_vici *v, const char *cmd);
void secd_vici_kv(struct secd_vici *v, const char *key, const void *val, size_t len);
void secd_vici_kv_str(struct secd_vici *v, const char *key, const char *val);
void secd_vici_section(struct secd_vici *v, const char *name);
void secd_vici_end(struct secd_vici *v);
/* A list of the comma-separated items of csv, blanks trimmed. */
void secd_vici_list_csv(struct secd_vici *v, const char *name, const char *csv);
/* 0, -EREMOTEIO (charon's errmsg in secd_vici_err) or another -errno. */
int secd_vici_call(struct secd_vici *v, secd_vici_cb cb, void *data);
int secd_vici_plain(struct secd_vici *v, secd_vici_cb cb, void *data);
int secd_vici_stream(struct secd_vici *v, const char *event, secd_vici_cb cb, void *data);
const char *secd_vici_err(const struct secd_vici *v);

/* rtnl.c: a raw netlink socket (NETLINK_XFRM, NETLINK_ROUTE) with secbuf
 * buffers, acks capped, wiped after each use. */
struct secd_rtnl;
int secd_rtnl_open(struct secd_rtnl **nlp, int proto);
void secd_rtnl_close(struct secd_rtnl *nl);
/* A zeroed request in the send buffer. */
struct nlmsghdr *secd_rtnl_msg(struct secd_rtnl *nl, uint16_t type, uint16_t flags);
/* Sends it (adding NLM_F_REQUEST, and NLM_F_ACK unless a dump) and hands
 * replies to cb. 0 or -errno; both buffers are wiped on return. */
int secd_rtnl_talk(struct secd_rtnl *nl, struct nlmsghdr *nlh, mnl_cb_t cb, void *data);
/* The extended-ack message of the last failure, or "". */
const char *secd_rtnl_extack(const struct secd_rtnl *nl);

#endif
