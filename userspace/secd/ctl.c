// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The control channel between the two gateways and the rekey state
 * machine (see secd.h for the message sequence).
 *
 * One connection at a time. The initiator dials (with backoff after a
 * failure) and, once TLS is up and the peer certificate's CN is the
 * configured peer-sae, starts a generation at once, then one every
 * rekey-seconds (or when an SA has carried rekey-bytes). The responder
 * listens; a new verified connection replaces the old one. Anything out
 * of order, malformed, or unanswered for SECD_REPLY_TIMEOUT_S closes the
 * connection; the SAs in place keep carrying traffic meanwhile, up to
 * their hard lifetime.
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>
#include <openssl/err.h>

#include "hex.h"
#include "log.h"
#include "secd.h"
#include "tls.h"

enum conn_state { CONN_TLS, CONN_UP, CONN_CLOSING };

/* What the initiator waits for. */
enum pending { PEND_NONE, PEND_PROPOSE, PEND_INSTALLED };

struct secd_conn {
	struct secd *s;
	struct bufferevent *bev;
	enum conn_state state;
	uint64_t serial;
	bool installed_once;		/* responder: first generation switched */
	enum pending pending;
	uint64_t pending_msg_id, pending_since_ms;
	uint32_t pending_gen;
	/* Keys between the two round trips: the initiator holds both
	 * directions from KEY_GET until the response to SA_PROPOSE, the
	 * responder the reverse direction until SA_INSTALLED. */
	struct secd_keys fwd, rev;
	uint32_t held_gen;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void ms_timer(struct event *ev, unsigned int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	evtimer_add(ev, &tv);
}

/* The generation table */

struct secd_gen *secd_gen_find(struct secd *s, uint32_t gen)
{
	for (int i = 0; i < SECD_GENS_MAX; i++)
		if (s->gens[i].used && s->gens[i].gen == gen)
			return &s->gens[i];
	return NULL;
}

struct secd_gen *secd_gen_new(struct secd *s, uint32_t gen)
{
	for (int i = 0; i < SECD_GENS_MAX; i++) {
		struct secd_gen *g = &s->gens[i];

		if (!g->used) {
			memset(g, 0, sizeof(*g));
			g->used = true;
			g->gen = gen;
			return g;
		}
	}
	return NULL;
}

void secd_gen_remove(struct secd *s, struct secd_gen *g)
{
	if (!g || !g->used)
		return;
	if (g->in_installed || g->out_installed) {
		s->dp->remove(s, g);
		s->stats.deleted++;
		qkdn_log(QKDN_LOG_INFO, "generation deleted", "event=sa-deleted gen=%u", g->gen);
	}
	if (s->active_gen == g->gen)
		s->active_gen = 0;
	memset(g, 0, sizeof(*g));
}

void secd_gen_remove_all(struct secd *s)
{
	for (int i = 0; i < SECD_GENS_MAX; i++)
		secd_gen_remove(s, &s->gens[i]);
}

/* A slot for a new generation: every slot but the active one may go, the
 * oldest first (a rekey faster than the grace period, or a peer that never
 * asked to delete). */
static struct secd_gen *gen_slot(struct secd *s, uint32_t gen)
{
	struct secd_gen *g = secd_gen_find(s, gen), *oldest = NULL;

	/* The same number again: what is left of an earlier connection. */
	secd_gen_remove(s, g);
	g = secd_gen_new(s, gen);
	if (g)
		return g;
	for (int i = 0; i < SECD_GENS_MAX; i++)
		if (s->gens[i].gen != s->active_gen &&
		    (!oldest || s->gens[i].gen < oldest->gen))
			oldest = &s->gens[i];
	secd_gen_remove(s, oldest);
	return secd_gen_new(s, gen);
}

/* Connections */

static void dial(struct secd *s);

static void conn_free(struct secd_conn *c)
{
	struct secd *s = c->s;

	secd_keys_wipe(&c->fwd);
	secd_keys_wipe(&c->rev);
	if (s->conn == c)
		s->conn = NULL;
	ERR_clear_error();
	bufferevent_free(c->bev);
	free(c);
}

static void schedule_dial(struct secd *s)
{
	if (!s->initiator || s->stopping || s->conn || evtimer_pending(s->dial_timer, NULL))
		return;
	ms_timer(s->dial_timer, s->backoff_ms);
	s->backoff_ms = s->backoff_ms * 2 > SECD_BACKOFF_MAX_MS ? SECD_BACKOFF_MAX_MS
							       : s->backoff_ms * 2;
}

static void conn_close(struct secd_conn *c, enum qkdn_log_level level, const char *reason)
{
	struct secd *s = c->s;
	char q[320];

	qkdn_log(level, "control connection closed", "event=conn-closed reason=%s",
		 qkdn_log_quote(q, sizeof(q), reason));
	if (c->pending == PEND_PROPOSE) {
		/* Nothing of it is installed here; the peer drops its half
		 * when the next connection starts over. */
		struct secd_gen *g = secd_gen_find(s, c->pending_gen);

		if (g && !g->out_installed)
			secd_gen_remove(s, g);
	}
	if (s->conn == c) {
		s->conn = NULL;
		evtimer_del(s->rekey_timer);
	}
	if (c->state == CONN_UP) {
		SSL *ssl = bufferevent_openssl_get_ssl(c->bev);

		if (ssl)
			SSL_shutdown(ssl);
	}
	conn_free(c);
	schedule_dial(s);
}

__attribute__((format(printf, 2, 3)))
static void protocol_error(struct secd_conn *c, const char *fmt, ...)
{
	char reason[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	c->s->stats.protocol_errors++;
	conn_close(c, QKDN_LOG_WARN, reason);
}

static int conn_send(struct secd_conn *c, struct qkdn_wire_msg *m)
{
	const void *bytes;
	size_t len;
	int ret = m ? qkdn_wire_msg_finish(m, &bytes, &len) : -ENOMEM;

	if (!ret && bufferevent_write(c->bev, bytes, len) < 0)
		ret = -ENOMEM;
	if (ret)
		qkdn_log(QKDN_LOG_ERR, "cannot send", "event=send-failed err=%s",
			 strerrorname_np(-ret));
	qkdn_wire_msg_free(m);
	return ret;
}

static struct qkdn_wire_msg *msg_new(struct secd *s, uint16_t cmd, uint32_t gen)
{
	struct qkdn_wire_msg *m = qkdn_wire_msg_new(cmd, s->node_id);

	if (m) {
		qkdn_wire_put_u8(m, QKDN_W_SA_KIND, (uint8_t)s->cfg.kind);
		qkdn_wire_put_u32(m, QKDN_W_SA_GENERATION, gen);
	}
	return m;
}

static void respond(struct secd_conn *c, uint16_t cmd, uint64_t orig, const char *reason,
		    uint32_t gen)
{
	struct secd *s = c->s;
	struct qkdn_wire_msg *m = qkdn_wire_response_new(cmd, s->node_id, orig,
							 reason ? QKDN_W_RESP_FAILURE
								: QKDN_W_RESP_SUCCESS);

	if (m && reason)
		qkdn_wire_put_str(m, QKDN_W_REASON, reason);
	if (m && !reason && cmd != QKDN_W_CMD_SA_DELETE)
		qkdn_wire_put_u32(m, QKDN_W_SA_GENERATION, gen);
	conn_send(c, m);
}

static void log_switch(struct secd *s, const struct secd_gen *g)
{
	char in[QKDN_UUID_STRLEN + 1], out[QKDN_UUID_STRLEN + 1];

	s->stats.rekeys++;
	s->active_gen = g->gen;
	if (s->cfg.kind == QKDN_SECD_PPK)
		qkdn_log(QKDN_LOG_INFO, "rekeyed",
			 "event=rekey gen=%u ppk_id=%s ike_sa=%u rekeys=%" PRIu64, g->gen,
			 (qkdn_uuid_format(in, g->id_in), in), g->ike_id, s->stats.rekeys);
	else if (s->cfg.kind == QKDN_SECD_IPSEC)
		qkdn_log(QKDN_LOG_INFO, "rekeyed",
			 "event=rekey gen=%u spi_in=0x%08x spi_out=0x%08x key_in=%s key_out=%s rekeys=%" PRIu64,
			 g->gen, g->spi_in, g->spi_out, (qkdn_uuid_format(in, g->id_in), in),
			 (qkdn_uuid_format(out, g->id_out), out), s->stats.rekeys);
	else
		qkdn_log(QKDN_LOG_INFO, "rekeyed",
			 "event=rekey gen=%u an=%u key_in=%s key_out=%s rekeys=%" PRIu64, g->gen,
			 g->an, (qkdn_uuid_format(in, g->id_in), in), (qkdn_uuid_format(out, g->id_out), out),
			 s->stats.rekeys);
}

/* Initiator */

static void rekey_failed(struct secd *s, const char *reason)
{
	char q[320];

	s->stats.rekey_failures++;
	qkdn_log(QKDN_LOG_WARN, "rekey failed", "event=rekey-failed reason=%s retry_ms=%u",
		 qkdn_log_quote(q, sizeof(q), reason), SECD_RETRY_MS);
	ms_timer(s->rekey_timer, SECD_RETRY_MS);
}

static void start_rekey(struct secd *s)
{
	struct secd_conn *c = s->conn;
	struct qkdn_wire_msg *m;
	struct secd_gen *g;
	char reason[256];
	uint32_t gen;

	if (!c || c->state != CONN_UP || c->pending != PEND_NONE || s->stopping)
		return;
	evtimer_del(s->rekey_timer);
	gen = s->next_gen++;
	if (s->next_gen == 0)
		s->next_gen = 1;
	/* PPK: one key, the same at both ends. */
	if (secd_keys_get(s, s->key_len, &c->fwd, reason, sizeof(reason)) ||
	    (s->cfg.kind != QKDN_SECD_PPK &&
	     secd_keys_get(s, s->key_len, &c->rev, reason, sizeof(reason)))) {
		/* A fwd key already taken is wiped: never used for anything. */
		secd_keys_wipe(&c->fwd);
		rekey_failed(s, reason);
		return;
	}
	g = gen_slot(s, gen);
	g->conn_serial = c->serial;
	g->an = (uint8_t)(gen % 4);
	g->lifetime_s = s->cfg.rekey_seconds * 3 + 30;
	memcpy(g->id_out, c->fwd.ids[0], QKDN_KEY_ID_LEN);
	memcpy(g->id_in, s->cfg.kind == QKDN_SECD_PPK ? c->fwd.ids[0] : c->rev.ids[0],
	       QKDN_KEY_ID_LEN);
	m = msg_new(s, QKDN_W_CMD_SA_PROPOSE, gen);
	if (m) {
		qkdn_wire_put_bin(m, QKDN_W_SA_KEY_IDS_FWD, c->fwd.ids,
				  c->fwd.n_ids * QKDN_KEY_ID_LEN);
		if (c->rev.n_ids)
			qkdn_wire_put_bin(m, QKDN_W_SA_KEY_IDS_REV, c->rev.ids,
					  c->rev.n_ids * QKDN_KEY_ID_LEN);
		qkdn_wire_put_u32(m, QKDN_W_SA_LIFETIME, g->lifetime_s);
		if (s->cfg.kind == QKDN_SECD_MACSEC) {
			qkdn_wire_put_u8(m, QKDN_W_SA_AN, g->an);
			qkdn_wire_put_u64(m, QKDN_W_SA_SCI, s->own_sci);
		}
		c->pending_msg_id = qkdn_wire_msg_id(m);
	}
	if (conn_send(c, m)) {
		secd_keys_wipe(&c->fwd);
		secd_keys_wipe(&c->rev);
		secd_gen_remove(s, g);
		rekey_failed(s, "cannot send SA_PROPOSE");
		return;
	}
	c->pending = PEND_PROPOSE;
	c->pending_gen = gen;
	c->pending_since_ms = now_ms();
	qkdn_log(QKDN_LOG_DEBUG, "proposed", "event=sa-propose gen=%u keys_fwd=%u keys_rev=%u", gen,
		 c->fwd.n_ids, c->rev.n_ids);
}

static void send_delete(struct secd_conn *c, uint32_t gen)
{
	conn_send(c, msg_new(c->s, QKDN_W_CMD_SA_DELETE, gen));
}

static void on_propose_response(struct secd_conn *c, const struct nlattr **tb,
				const struct qkdn_wire_hdr *h)
{
	struct secd *s = c->s;
	struct secd_gen *g = secd_gen_find(s, c->pending_gen);
	struct qkdn_wire_msg *m;
	char reason[320];
	int ret;

	if (c->pending != PEND_PROPOSE || h->orig_msg_id != c->pending_msg_id || !g) {
		protocol_error(c, "unexpected SA_PROPOSE response");
		return;
	}
	c->pending = PEND_NONE;
	if (h->response_code != QKDN_W_RESP_SUCCESS) {
		secd_keys_wipe(&c->fwd);
		secd_keys_wipe(&c->rev);
		secd_gen_remove(s, g);
		snprintf(reason, sizeof(reason), "peer refused generation %u: %s", c->pending_gen,
			 tb[QKDN_W_REASON] ? qkdn_wire_get_str(tb[QKDN_W_REASON]) : "no reason");
		rekey_failed(s, reason);
		return;
	}
	if (s->cfg.kind == QKDN_SECD_IPSEC) {
		if (!tb[QKDN_W_SA_SPI] || qkdn_wire_get_u32(tb[QKDN_W_SA_SPI]) < QKDN_W_SA_SPI_MIN) {
			protocol_error(c, "SA_PROPOSE response without a valid SPI");
			return;
		}
		g->spi_out = qkdn_wire_get_u32(tb[QKDN_W_SA_SPI]);
	} else if (s->cfg.kind == QKDN_SECD_MACSEC) {
		if (!tb[QKDN_W_SA_SCI]) {
			protocol_error(c, "SA_PROPOSE response without an SCI");
			return;
		}
		s->peer_sci = qkdn_wire_get_u64(tb[QKDN_W_SA_SCI]);
	}
	/* Our inbound first, then the switch of our outbound: the peer's
	 * inbound exists since it answered. PPK: the PPK into our charon,
	 * then the new IKE SA with it. */
	ret = s->dp->install_in(s, g, s->cfg.kind == QKDN_SECD_PPK ? &c->fwd : &c->rev);
	if (!ret) {
		g->in_installed = true;
		ret = s->dp->install_out(s, g, &c->fwd);
		if (!ret)
			g->out_installed = true;
	}
	secd_keys_wipe(&c->fwd);
	secd_keys_wipe(&c->rev);
	if (ret) {
		secd_gen_remove(s, g);
		send_delete(c, c->pending_gen);
		snprintf(reason, sizeof(reason), "cannot install generation %u: %s",
			 c->pending_gen, strerror(-ret));
		rekey_failed(s, reason);
		return;
	}
	m = msg_new(s, QKDN_W_CMD_SA_INSTALLED, g->gen);
	if (m && s->cfg.kind == QKDN_SECD_IPSEC)
		qkdn_wire_put_u32(m, QKDN_W_SA_SPI, g->spi_in);
	if (m)
		c->pending_msg_id = qkdn_wire_msg_id(m);
	if (conn_send(c, m) == 0) {
		c->pending = PEND_INSTALLED;
		c->pending_since_ms = now_ms();
	}
}

static void on_installed_response(struct secd_conn *c, const struct nlattr **tb,
				  const struct qkdn_wire_hdr *h)
{
	struct secd *s = c->s;
	struct secd_gen *g = secd_gen_find(s, c->pending_gen);
	char reason[320];

	if (c->pending != PEND_INSTALLED || h->orig_msg_id != c->pending_msg_id || !g) {
		protocol_error(c, "unexpected SA_INSTALLED response");
		return;
	}
	c->pending = PEND_NONE;
	/* This end sends with the new generation either way. */
	log_switch(s, g);
	if (h->response_code != QKDN_W_RESP_SUCCESS) {
		snprintf(reason, sizeof(reason), "peer did not switch to generation %u: %s",
			 g->gen,
			 tb[QKDN_W_REASON] ? qkdn_wire_get_str(tb[QKDN_W_REASON]) : "no reason");
		rekey_failed(s, reason);
		return;
	}
	ms_timer(s->grace_timer, s->cfg.grace_ms);
	ms_timer(s->rekey_timer, s->cfg.rekey_seconds * 1000);
}

/* After the grace period: every generation but the active one goes. */
static void grace_cb(evutil_socket_t fd, short what, void *arg)
{
	struct secd *s = arg;

	(void)fd;
	(void)what;
	for (int i = 0; i < SECD_GENS_MAX; i++) {
		struct secd_gen *g = &s->gens[i];

		if (!g->used || g->gen == s->active_gen)
			continue;
		if (s->conn && s->conn->pending != PEND_NONE && g->gen == s->conn->pending_gen)
			continue;
		if (s->initiator && s->conn && s->conn->state == CONN_UP)
			send_delete(s->conn, g->gen);
		secd_gen_remove(s, g);
	}
}

static void rekey_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	start_rekey(arg);
}

/* Responder */

static bool ids_overlap(const struct nlattr *a, const struct nlattr *b)
{
	const uint8_t *pa = qkdn_wire_get_bin(a), *pb = qkdn_wire_get_bin(b);

	for (size_t i = 0; i < qkdn_wire_get_len(a); i += QKDN_KEY_ID_LEN)
		for (size_t j = 0; j < qkdn_wire_get_len(b); j += QKDN_KEY_ID_LEN)
			if (memcmp(pa + i, pb + j, QKDN_KEY_ID_LEN) == 0)
				return true;
	return false;
}

static const char *check_common(struct secd *s, const struct nlattr **tb)
{
	uint8_t kind = qkdn_wire_get_u8(tb[QKDN_W_SA_KIND]);

	static const char *const refusals[][4] = {
		[QKDN_SECD_IPSEC] = { [QKDN_W_SA_MACSEC] = "this gateway runs IPsec, not MACsec",
				      [QKDN_W_SA_PPK] = "this gateway runs IPsec, not PPK" },
		[QKDN_SECD_MACSEC] = { [QKDN_W_SA_IPSEC] = "this gateway runs MACsec, not IPsec",
				       [QKDN_W_SA_PPK] = "this gateway runs MACsec, not PPK" },
		[QKDN_SECD_PPK] = { [QKDN_W_SA_IPSEC] = "this gateway runs PPK, not IPsec",
				    [QKDN_W_SA_MACSEC] = "this gateway runs PPK, not MACsec" },
	};

	if (kind != s->cfg.kind)
		return kind < 4 && refusals[s->cfg.kind][kind] ? refusals[s->cfg.kind][kind]
							       : "unknown SA kind";
	if (qkdn_wire_get_u32(tb[QKDN_W_SA_GENERATION]) == 0)
		return "generation 0";
	return NULL;
}

static void on_propose(struct secd_conn *c, const struct nlattr **tb,
		       const struct qkdn_wire_hdr *h)
{
	struct secd *s = c->s;
	const struct nlattr *fwd = tb[QKDN_W_SA_KEY_IDS_FWD], *rev = tb[QKDN_W_SA_KEY_IDS_REV];
	uint32_t gen = qkdn_wire_get_u32(tb[QKDN_W_SA_GENERATION]);
	uint32_t lifetime = qkdn_wire_get_u32(tb[QKDN_W_SA_LIFETIME]);
	const char *bad = check_common(s, tb);
	struct qkdn_wire_msg *m;
	struct secd_gen *g;
	char reason[320];
	int ret;

	if (!bad && s->cfg.kind == QKDN_SECD_PPK && rev)
		bad = "PPK takes one key: no reverse key IDs";
	else if (!bad && s->cfg.kind != QKDN_SECD_PPK && !rev)
		bad = "reverse key IDs missing";
	else if (!bad && (qkdn_wire_get_len(fwd) % QKDN_KEY_ID_LEN ||
			  (rev && qkdn_wire_get_len(rev) % QKDN_KEY_ID_LEN)))
		bad = "key IDs: not a multiple of 16 bytes";
	else if (!bad && rev && ids_overlap(fwd, rev))
		bad = "the same key ID for both directions";
	else if (!bad && (lifetime == 0 || lifetime > QKDN_W_TIMER_MAX))
		bad = "lifetime out of range";
	else if (!bad && s->cfg.kind == QKDN_SECD_MACSEC &&
		 (!tb[QKDN_W_SA_AN] || qkdn_wire_get_u8(tb[QKDN_W_SA_AN]) > 3 || !tb[QKDN_W_SA_SCI]))
		bad = "MACsec needs an AN of 0..3 and an SCI";
	else if (!bad && gen == s->active_gen)
		bad = "that generation is the active one";
	if (bad) {
		respond(c, QKDN_W_CMD_SA_PROPOSE, h->msg_id, bad, gen);
		qkdn_log(QKDN_LOG_WARN, "proposal refused", "event=sa-refused gen=%u reason=\"%s\"",
			 gen, bad);
		return;
	}
	/* A proposal replaces one that never got its SA_INSTALLED. */
	if (c->held_gen) {
		secd_gen_remove(s, secd_gen_find(s, c->held_gen));
		secd_keys_wipe(&c->rev);
		c->held_gen = 0;
	}
	/* PPK: no reverse keys, so the length of the one is checked here. */
	ret = secd_keys_get_ids(s, qkdn_wire_get_bin(fwd), qkdn_wire_get_len(fwd),
				rev ? qkdn_wire_get_bin(rev) : NULL, rev ? qkdn_wire_get_len(rev) : 0,
				rev ? s->key_len : 0, &c->fwd, &c->rev, reason, sizeof(reason));
	if (!ret && c->fwd.len < s->key_len) {
		snprintf(reason, sizeof(reason), "keys too short: %zu bytes, %zu needed",
			 c->fwd.len, s->key_len);
		secd_keys_wipe(&c->fwd);
		secd_keys_wipe(&c->rev);
		ret = -EMSGSIZE;
	}
	if (ret) {
		respond(c, QKDN_W_CMD_SA_PROPOSE, h->msg_id, reason, gen);
		qkdn_log(QKDN_LOG_WARN, "proposal refused", "event=sa-refused gen=%u reason=\"%s\"",
			 gen, reason);
		s->stats.rekey_failures++;
		return;
	}
	g = gen_slot(s, gen);
	g->conn_serial = c->serial;
	g->lifetime_s = lifetime;
	g->an = s->cfg.kind == QKDN_SECD_MACSEC ? qkdn_wire_get_u8(tb[QKDN_W_SA_AN]) : 0;
	memcpy(g->id_in, c->fwd.ids[0], QKDN_KEY_ID_LEN);
	memcpy(g->id_out, rev ? c->rev.ids[0] : c->fwd.ids[0], QKDN_KEY_ID_LEN);
	if (s->cfg.kind == QKDN_SECD_MACSEC)
		s->peer_sci = qkdn_wire_get_u64(tb[QKDN_W_SA_SCI]);
	ret = s->dp->install_in(s, g, &c->fwd);
	secd_keys_wipe(&c->fwd);
	if (ret) {
		secd_keys_wipe(&c->rev);
		secd_gen_remove(s, g);
		snprintf(reason, sizeof(reason), "cannot install the inbound SA: %s", strerror(-ret));
		respond(c, QKDN_W_CMD_SA_PROPOSE, h->msg_id, reason, gen);
		s->stats.rekey_failures++;
		return;
	}
	g->in_installed = true;
	c->held_gen = gen;
	m = qkdn_wire_response_new(QKDN_W_CMD_SA_PROPOSE, s->node_id, h->msg_id,
				   QKDN_W_RESP_SUCCESS);
	if (m) {
		qkdn_wire_put_u32(m, QKDN_W_SA_GENERATION, gen);
		if (s->cfg.kind == QKDN_SECD_IPSEC)
			qkdn_wire_put_u32(m, QKDN_W_SA_SPI, g->spi_in);
		else if (s->cfg.kind == QKDN_SECD_MACSEC)
			qkdn_wire_put_u64(m, QKDN_W_SA_SCI, s->own_sci);
	}
	conn_send(c, m);
}

static void on_installed(struct secd_conn *c, const struct nlattr **tb,
			 const struct qkdn_wire_hdr *h)
{
	struct secd *s = c->s;
	uint32_t gen = qkdn_wire_get_u32(tb[QKDN_W_SA_GENERATION]);
	const char *bad = check_common(s, tb);
	struct secd_gen *g = secd_gen_find(s, gen);
	char reason[160];
	int ret;

	if (!bad && (!c->held_gen || gen != c->held_gen || !g))
		bad = "no proposal of that generation is waiting";
	else if (!bad && s->cfg.kind == QKDN_SECD_IPSEC &&
		 (!tb[QKDN_W_SA_SPI] || qkdn_wire_get_u32(tb[QKDN_W_SA_SPI]) < QKDN_W_SA_SPI_MIN))
		bad = "IPsec needs the initiator's SPI (256..)";
	if (bad) {
		respond(c, QKDN_W_CMD_SA_INSTALLED, h->msg_id, bad, gen);
		return;
	}
	if (s->cfg.kind == QKDN_SECD_IPSEC)
		g->spi_out = qkdn_wire_get_u32(tb[QKDN_W_SA_SPI]);
	ret = s->dp->install_out(s, g, &c->rev);
	secd_keys_wipe(&c->rev);
	c->held_gen = 0;
	if (ret) {
		snprintf(reason, sizeof(reason), "cannot install the outbound SA: %s", strerror(-ret));
		respond(c, QKDN_W_CMD_SA_INSTALLED, h->msg_id, reason, gen);
		s->stats.rekey_failures++;
		return;
	}
	g->out_installed = true;
	log_switch(s, g);
	respond(c, QKDN_W_CMD_SA_INSTALLED, h->msg_id, NULL, gen);
	/* What earlier connections left goes after a grace period too; the
	 * initiator deletes its own generations itself. */
	if (!c->installed_once) {
		c->installed_once = true;
		for (int i = 0; i < SECD_GENS_MAX; i++)
			if (s->gens[i].used && s->gens[i].conn_serial != c->serial)
				ms_timer(s->grace_timer, s->cfg.grace_ms);
	}
}

static void on_delete(struct secd_conn *c, const struct nlattr **tb,
		      const struct qkdn_wire_hdr *h)
{
	struct secd *s = c->s;
	uint32_t gen = qkdn_wire_get_u32(tb[QKDN_W_SA_GENERATION]);
	const char *bad = check_common(s, tb);

	if (!bad && gen == s->active_gen)
		bad = "that generation is the active one";
	if (!bad && gen == c->held_gen) {
		secd_keys_wipe(&c->rev);
		c->held_gen = 0;
	}
	if (!bad)
		secd_gen_remove(s, secd_gen_find(s, gen));
	respond(c, QKDN_W_CMD_SA_DELETE, h->msg_id, bad, gen);
}

static void handle_message(struct secd_conn *c, const void *buf, size_t len)
{
	const struct nlattr *tb[QKDN_W_MAX + 1];
	struct qkdn_wire_hdr h;
	struct secd *s = c->s;

	if (qkdn_wire_parse(buf, len, &qkdn_wire_sa_policy, tb, &h)) {
		protocol_error(c, "bad message: %s", h.error);
		return;
	}
	qkdn_log(QKDN_LOG_DEBUG, "message", "event=msg-rx cmd=%s response=%d",
		 qkdn_wire_cmd_name(h.cmd), h.is_response);
	if (s->initiator != h.is_response) {
		protocol_error(c, "%s %s: only the initiator sends commands",
			       qkdn_wire_cmd_name(h.cmd), h.is_response ? "response" : "command");
		return;
	}
	switch (h.cmd) {
	case QKDN_W_CMD_SA_PROPOSE:
		h.is_response ? on_propose_response(c, tb, &h) : on_propose(c, tb, &h);
		return;
	case QKDN_W_CMD_SA_INSTALLED:
		h.is_response ? on_installed_response(c, tb, &h) : on_installed(c, tb, &h);
		return;
	case QKDN_W_CMD_SA_DELETE:
		if (!h.is_response)
			on_delete(c, tb, &h);
		else if (h.response_code != QKDN_W_RESP_SUCCESS)
			qkdn_log(QKDN_LOG_WARN, "peer refused SA_DELETE",
				 "event=sa-delete-refused reason=\"%s\"",
				 tb[QKDN_W_REASON] ? qkdn_wire_get_str(tb[QKDN_W_REASON]) : "");
		return;
	}
	protocol_error(c, "command %u not handled", h.cmd);
}

/* libevent */

static void read_cb(struct bufferevent *bev, void *arg)
{
	struct secd_conn *c = arg;
	struct secd *s = c->s;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint64_t serial = c->serial;

	/* A handler may close c: stop when it is no longer the connection. */
	while (s->conn && s->conn->serial == serial) {
		unsigned char prefix[QKDN_WIRE_LEN_SIZE];
		size_t avail = evbuffer_get_length(in);
		uint32_t body;
		void *buf;

		if (avail < sizeof(prefix))
			return;
		evbuffer_copyout(in, prefix, sizeof(prefix));
		if (qkdn_wire_frame_body_len(prefix, &body) < 0) {
			protocol_error(c, "message over %u bytes announced", QKDN_WIRE_BODY_MAX);
			return;
		}
		if (avail < sizeof(prefix) + body)
			return;
		buf = malloc(sizeof(prefix) + body);
		if (!buf) {
			protocol_error(c, "out of memory");
			return;
		}
		evbuffer_remove(in, buf, sizeof(prefix) + body);
		handle_message(c, buf, sizeof(prefix) + body);
		free(buf);
	}
}

/* TLS is up: is it the peer SAE? */
static void conn_identified(struct secd_conn *c)
{
	struct secd *s = c->s;
	SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
	char cn[QKDN_CN_MAXLEN], err[256], q[96];

	setsockopt(bufferevent_getfd(c->bev), IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	err[0] = '\0';
	if (qkdn_tls_peer_cn(ssl, cn, sizeof(cn), err, sizeof(err)) == 0 &&
	    strcmp(cn, s->cfg.peer_sae) != 0)
		snprintf(err, sizeof(err), "peer certificate CN %s is not peer-sae %s",
			 qkdn_log_quote(q, sizeof(q), cn), s->cfg.peer_sae);
	if (err[0]) {
		s->stats.refused_conns++;
		qkdn_log(QKDN_LOG_ERR, "peer refused", "event=peer-refused reason=\"%s\"", err);
		c->state = CONN_UP;	/* close with close_notify */
		if (s->conn == c)
			s->conn = NULL;
		conn_close(c, QKDN_LOG_INFO, err);
		return;
	}
	if (s->conn && s->conn != c)
		conn_close(s->conn, QKDN_LOG_INFO, "replaced by a new connection");
	s->conn = c;
	c->state = CONN_UP;
	c->serial = ++s->conn_serial;
	s->backoff_ms = 1000;
	qkdn_log(QKDN_LOG_INFO, "peer up", "event=peer-up peer_sae=%s role=%s", s->cfg.peer_sae,
		 s->initiator ? "initiator" : "responder");
	if (s->initiator)
		start_rekey(s);
}

static void event_cb(struct bufferevent *bev, short events, void *arg)
{
	struct secd_conn *c = arg;
	char reason[300];
	unsigned long e;
	size_t o = 0;

	if (events & BEV_EVENT_CONNECTED) {
		conn_identified(c);
		return;
	}
	if (!(events & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)))
		return;
	reason[0] = '\0';
	while ((e = bufferevent_get_openssl_error(bev)) != 0) {
		char one[160];

		if (ERR_GET_LIB(e) == 0 || o >= sizeof(reason))
			continue;
		ERR_error_string_n(e, one, sizeof(one));
		o += (size_t)snprintf(reason + o, sizeof(reason) - o, "%s%s", o ? "; " : "", one);
	}
	if (!o)
		snprintf(reason, sizeof(reason), "%s",
			 events & BEV_EVENT_EOF ? "closed by the peer"
			 : EVUTIL_SOCKET_ERROR() ? strerror(EVUTIL_SOCKET_ERROR())
						 : "connection lost");
	if (c->state == CONN_TLS && o)
		c->s->stats.refused_conns++;
	conn_close(c, c->state == CONN_TLS && !o ? QKDN_LOG_INFO : QKDN_LOG_WARN, reason);
}

static struct secd_conn *conn_new(struct secd *s, evutil_socket_t fd,
				  enum bufferevent_ssl_state state)
{
	struct secd_conn *c = calloc(1, sizeof(*c));
	SSL *ssl = SSL_new(s->tls);

	if (!c || !ssl)
		goto fail;
	c->s = s;
	c->bev = bufferevent_openssl_socket_new(s->base, fd, ssl, state,
						BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (!c->bev)
		goto fail;
	bufferevent_setcb(c->bev, read_cb, NULL, event_cb, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, QKDN_WIRE_LEN_SIZE + QKDN_WIRE_BODY_MAX);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	return c;
fail:
	if (!c || !c->bev)
		SSL_free(ssl);
	free(c);
	return NULL;
}

static void dial(struct secd *s)
{
	struct secd_conn *c;

	if (s->stopping || s->conn)
		return;
	c = conn_new(s, -1, BUFFEREVENT_SSL_CONNECTING);
	if (!c) {
		schedule_dial(s);
		return;
	}
	/* Until TLS is up the dial is s->conn, so no second one starts. */
	s->conn = c;
	qkdn_log(QKDN_LOG_DEBUG, "dialling", "event=dial peer=%s", s->cfg.peer_str);
	if (bufferevent_socket_connect(c->bev, (const struct sockaddr *)&s->cfg.peer,
				       (int)s->cfg.peer_len) < 0)
		conn_close(c, QKDN_LOG_INFO, "connect failed");
}

static void dial_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	dial(arg);
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
		      int socklen, void *arg)
{
	struct secd *s = arg;
	char addr[QKDN_ADDR_STRLEN];

	(void)l;
	(void)socklen;
	qkdn_format_sockaddr(sa, addr);
	if (s->stopping || !conn_new(s, fd, BUFFEREVENT_SSL_ACCEPTING)) {
		evutil_closesocket(fd);
		return;
	}
	/* Not s->conn until its certificate is checked: a stranger cannot
	 * push the peer off. (A flood of handshakes is bounded by the
	 * listen backlog and the handshake's own cost.) */
	qkdn_log(QKDN_LOG_DEBUG, "accepted", "event=accept remote=%s", addr);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct secd *s = arg;
	struct secd_conn *c = s->conn;
	struct secd_gen *g;
	uint64_t bytes;

	(void)fd;
	(void)what;
	if (!c || c->state != CONN_UP)
		return;
	if (c->pending != PEND_NONE && now_ms() - c->pending_since_ms > SECD_REPLY_TIMEOUT_S * 1000) {
		protocol_error(c, "no answer from the peer in %d s", SECD_REPLY_TIMEOUT_S);
		return;
	}
	g = s->active_gen ? secd_gen_find(s, s->active_gen) : NULL;
	if (s->initiator && s->cfg.rekey_bytes && g && c->pending == PEND_NONE &&
	    s->dp->bytes(s, g, &bytes) == 0 && bytes >= s->cfg.rekey_bytes) {
		qkdn_log(QKDN_LOG_INFO, "byte limit reached", "event=rekey-bytes gen=%u bytes=%" PRIu64,
			 g->gen, bytes);
		start_rekey(s);
	}
}

int secd_ctl_start(struct secd *s)
{
	struct timeval tick = { 1, 0 };

	s->backoff_ms = 1000;
	s->next_gen = 1;
	s->rekey_timer = evtimer_new(s->base, rekey_cb, s);
	s->grace_timer = evtimer_new(s->base, grace_cb, s);
	s->dial_timer = evtimer_new(s->base, dial_cb, s);
	s->tick = event_new(s->base, -1, EV_PERSIST, tick_cb, s);
	if (!s->rekey_timer || !s->grace_timer || !s->dial_timer || !s->tick ||
	    event_add(s->tick, &tick) < 0)
		return -ENOMEM;
	if (s->initiator) {
		dial(s);
		return 0;
	}
	s->listener = evconnlistener_new_bind(s->base, accept_cb, s,
					      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
					      LEV_OPT_CLOSE_ON_EXEC, -1,
					      (const struct sockaddr *)&s->cfg.listen,
					      (int)s->cfg.listen_len);
	if (!s->listener) {
		int err = EVUTIL_SOCKET_ERROR();

		qkdn_log(QKDN_LOG_ERR, "cannot listen", "event=start-failed listen=%s err=\"%s\"",
			 s->cfg.listen_str, strerror(err));
		return -(err ? err : EADDRNOTAVAIL);
	}
	return 0;
}

void secd_ctl_stop(struct secd *s)
{
	struct event **evs[] = { &s->rekey_timer, &s->grace_timer, &s->dial_timer, &s->tick };

	s->stopping = true;
	if (s->listener)
		evconnlistener_free(s->listener);
	s->listener = NULL;
	if (s->conn)
		conn_close(s->conn, QKDN_LOG_INFO, "shutting down");
	for (size_t i = 0; i < QKDN_ARRAY_SIZE(evs); i++) {
		if (*evs[i])
			event_free(*evs[i]);
		*evs[i] = NULL;
	}
}
