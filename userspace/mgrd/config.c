// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * mgrd.conf, in the INI dialect of lib/config.h:
 *
 *   [manager]                  exactly once
 *   name = mgr-1               required, this manager's name
 *   id = 4294967294            optional, QKDN_W_SENDER_ID of our messages,
 *                              1..QKDN_NODE_ID_MAX, default QKDN_NODE_ID_MAX
 *   listen = 0.0.0.0:7500      agents (Mk, Mq, Mc), required
 *   cert = mgr.pem             CN "qkdn-mgr", signed by the network CA
 *   key = mgr.key              required, mode 0600
 *   ca = ca.pem                the network CA, required
 *   crl = crl.pem              optional: agents it revokes are refused
 *   db = /var/lib/qkdn/mgrd.db the SQLite database, required unless [store]
 *                              says postgresql
 *   synchronous = full         full (survives power loss) or normal
 *                              (survives kill -9), default full
 *   max-pending = 4096         notifications waiting for a commit before
 *                              agents are told "busy", 1..1048576
 *   retry-ms = 200             the retry-after of a busy answer, 1..600000
 *   qber-alarm-ppm = 110000    QLM: a QBER above this is an eavesdropping
 *                              attempt, 1..1000000, default 110000 (11 %)
 *   report-ms = 60000          the periodic performance report (10.4), and
 *                              the degradation rules run with it,
 *                              100..3600000
 *   exhaustion-horizon-s = 900 a key pool predicted to run dry within this
 *                              is a degradation finding, 1..604800
 *
 *   [http]                     optional: Mu (JSON), /metrics, web page
 *   listen = 127.0.0.1:7543    required
 *   client-cert = yes          yes: only clients with a certificate of the
 *                              network CA (default); no: anyone who can
 *                              reach the port reads (the page is read-only)
 *
 *   [store]                    optional: the storage back end (store.h)
 *   backend = sqlite           sqlite (default: [manager] db) or postgresql
 *   conninfo = host=/run/postgresql dbname=qkdn
 *                              libpq connection string, required with
 *                              postgresql (see store_pg.c)
 *
 *   [mx]                       optional: Mx, the peer manager (mx.c)
 *   peer = mgr-2               required, the peer's [manager] name; only its
 *                              certificate (CN qkdn-mgr-mgr-2) is taken on Mx
 *   address = 10.0.0.8:7500    required, where the peer listens for agents
 *   cert = mx.pem              required, our Mx certificate: CN
 *   key = mx.key               "qkdn-mgr-<our name>", signed by the network CA
 *   ca = ca.pem                required, the network CA
 *   crl = crl.pem              optional
 *   queue = 65536              forwarded notifications in memory waiting
 *                              for the peer, 16..1048576 (the rest wait in
 *                              the database's outbox)
 *
 * Relative paths are relative to the file's directory.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/qkdn.h>

#include "mgrd.h"
#include "util.h"

enum { K_NAME, K_ID, K_LISTEN, K_CERT, K_KEY, K_CA, K_CRL, K_DB, K_SYNC, K_PENDING, K_RETRY,
       K_QBER, K_REPORT, K_HORIZON };
enum { H_LISTEN, H_CLIENT_CERT };
enum { X_PEER, X_ADDRESS, X_CERT, X_KEY, X_CA, X_CRL, X_QUEUE };
enum { S_BACKEND, S_CONNINFO };

static const struct {
	const char *name;
	bool required;
} mgr_keys[] = {
	[K_NAME] = { "name", true }, [K_ID] = { "id", false }, [K_LISTEN] = { "listen", true },
	[K_CERT] = { "cert", true }, [K_KEY] = { "key", true }, [K_CA] = { "ca", true },
	[K_CRL] = { "crl", false }, [K_DB] = { "db", false }, [K_SYNC] = { "synchronous", false },
	[K_PENDING] = { "max-pending", false }, [K_RETRY] = { "retry-ms", false },
	[K_QBER] = { "qber-alarm-ppm", false },
	[K_REPORT] = { "report-ms", false }, [K_HORIZON] = { "exhaustion-horizon-s", false },
}, http_keys[] = {
	[H_LISTEN] = { "listen", true }, [H_CLIENT_CERT] = { "client-cert", false },
}, mx_keys[] = {
	[X_PEER] = { "peer", true }, [X_ADDRESS] = { "address", true }, [X_CERT] = { "cert", true },
	[X_KEY] = { "key", true }, [X_CA] = { "ca", true }, [X_CRL] = { "crl", false },
	[X_QUEUE] = { "queue", false },
}, store_keys[] = {
	[S_BACKEND] = { "backend", false }, [S_CONNINFO] = { "conninfo", false },
};

struct reader {
	struct mgrd_config *cfg;
	const char *dir;
	int section;		/* 0 none, 1 manager, 2 http, 3 mx, 4 store */
	unsigned int seen_mgr, seen_http, mgr_line, http_line, seen_mx, mx_line;
	unsigned int seen_store, store_line;
};

__attribute__((format(printf, 3, 4)))
static int fail(char *err, size_t err_len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, err_len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int path(const char *value, const char *dir, char **out, char *err, size_t err_len)
{
	int n = value[0] == '/' || !dir ? asprintf(out, "%s", value)
					: asprintf(out, "%s/%s", dir, value);

	if (n < 0) {
		*out = NULL;
		return fail(err, err_len, "out of memory");
	}
	return 0;
}

static int number(const char *key, const char *value, uint32_t min, uint32_t max, uint32_t *out,
		  char *err, size_t err_len)
{
	if (qkdn_parse_u32(value, min, max, out))
		return fail(err, err_len, "%s \"%s\" is not a number in %u..%u", key, value, min,
			    max);
	return 0;
}

static int yes_no(const char *key, const char *value, bool *out, char *err, size_t err_len)
{
	if (!strcmp(value, "yes"))
		*out = true;
	else if (!strcmp(value, "no"))
		*out = false;
	else
		return fail(err, err_len, "%s \"%s\": want yes or no", key, value);
	return 0;
}

static int manager_key(struct reader *r, int k, const char *key, const char *value, char *err,
		       size_t err_len)
{
	struct mgrd_config *c = r->cfg;

	switch (k) {
	case K_NAME:
		if (strlen(value) >= sizeof(c->name))
			return fail(err, err_len, "name longer than %zu bytes", sizeof(c->name) - 1);
		snprintf(c->name, sizeof(c->name), "%s", value);
		return 0;
	case K_ID:
		return number(key, value, 1, QKDN_NODE_ID_MAX, &c->id, err, err_len);
	case K_LISTEN:
		if (qkdn_parse_sockaddr(value, &c->listen, &c->listen_len) < 0)
			return fail(err, err_len, "listen \"%s\" is not a numeric ADDR:PORT", value);
		snprintf(c->listen_str, sizeof(c->listen_str), "%s", value);
		return 0;
	case K_CERT: return path(value, r->dir, &c->cert, err, err_len);
	case K_KEY: return path(value, r->dir, &c->key, err, err_len);
	case K_CA: return path(value, r->dir, &c->ca, err, err_len);
	case K_CRL: return path(value, r->dir, &c->crl, err, err_len);
	case K_DB: return path(value, r->dir, &c->db, err, err_len);
	case K_SYNC:
		if (!strcmp(value, "full"))
			c->sync_full = true;
		else if (!strcmp(value, "normal"))
			c->sync_full = false;
		else
			return fail(err, err_len, "synchronous \"%s\": want full or normal", value);
		return 0;
	case K_PENDING:
		return number(key, value, 1, 1048576, &c->max_pending, err, err_len);
	case K_RETRY:
		return number(key, value, 1, QKDN_W_M_RETRY_MAX, &c->retry_ms, err, err_len);
	case K_QBER:
		return number(key, value, 1, QKDN_W_QBER_MAX, &c->qber_alarm_ppm, err, err_len);
	case K_REPORT:
		return number(key, value, 100, QKDN_W_PERIOD_MAX, &c->report_ms, err, err_len);
	case K_HORIZON:
		return number(key, value, 1, 7 * 24 * 3600, &c->horizon_s, err, err_len);
	}
	return 0;
}

static int http_key(struct reader *r, int k, const char *value, char *err, size_t err_len)
{
	struct mgrd_config *c = r->cfg;

	if (k == H_LISTEN) {
		if (qkdn_parse_sockaddr(value, &c->http_listen, &c->http_listen_len) < 0)
			return fail(err, err_len, "listen \"%s\" is not a numeric ADDR:PORT", value);
		snprintf(c->http_listen_str, sizeof(c->http_listen_str), "%s", value);
		return 0;
	}
	return yes_no("client-cert", value, &c->http_client_cert, err, err_len);
}

static int mx_key(struct reader *r, int k, const char *key, const char *value, char *err,
		  size_t err_len)
{
	struct qkdn_mgmt_conf *x = &r->cfg->mx;

	switch (k) {
	case X_PEER:
		if (strlen(QKDN_W_MX_CN_PREFIX) + strlen(value) >= sizeof(r->cfg->mx_peer))
			return fail(err, err_len, "peer longer than %zu bytes",
				    sizeof(r->cfg->mx_peer) - 1 - strlen(QKDN_W_MX_CN_PREFIX));
		snprintf(r->cfg->mx_peer, sizeof(r->cfg->mx_peer), "%s", value);
		return 0;
	case X_ADDRESS:
		if (qkdn_parse_sockaddr(value, &x->address, &x->address_len) < 0)
			return fail(err, err_len, "address \"%s\" is not a numeric ADDR:PORT", value);
		snprintf(x->address_str, sizeof(x->address_str), "%s", value);
		return 0;
	case X_CERT: return path(value, r->dir, &x->cert, err, err_len);
	case X_KEY: return path(value, r->dir, &x->key, err, err_len);
	case X_CA: return path(value, r->dir, &x->ca, err, err_len);
	case X_CRL: return path(value, r->dir, &x->crl, err, err_len);
	case X_QUEUE:
		return number(key, value, QKDN_MGMT_QUEUE_MIN, QKDN_MGMT_QUEUE_MAX, &x->queue_max,
			      err, err_len);
	}
	return 0;
}

static int store_key(struct reader *r, int k, const char *value, char *err, size_t err_len)
{
	struct mgrd_config *c = r->cfg;

	if (k == S_CONNINFO) {
		c->conninfo = strdup(value);
		return c->conninfo ? 0 : fail(err, err_len, "out of memory");
	}
	if (!strcmp(value, "sqlite"))
		c->store_pg = false;
	else if (!strcmp(value, "postgresql"))
		c->store_pg = true;
	else
		return fail(err, err_len, "backend \"%s\": want sqlite or postgresql", value);
	return 0;
}

static int ini_cb(const char *section, const char *key, const char *value, unsigned int line,
		  void *data, char *err, size_t err_len)
{
	struct reader *r = data;
	unsigned int *seen;
	int k = -1;

	if (!key) {
		if (!strcmp(section, "manager")) {
			if (r->mgr_line)
				return fail(err, err_len, "second [manager] section (first at line %u)",
					    r->mgr_line);
			r->section = 1;
			r->mgr_line = line;
			return 0;
		}
		if (!strcmp(section, "http")) {
			if (r->http_line)
				return fail(err, err_len, "second [http] section (first at line %u)",
					    r->http_line);
			r->section = 2;
			r->http_line = line;
			r->cfg->http_enabled = true;
			return 0;
		}
		if (!strcmp(section, "mx")) {
			if (r->mx_line)
				return fail(err, err_len, "second [mx] section (first at line %u)",
					    r->mx_line);
			r->section = 3;
			r->mx_line = line;
			r->cfg->mx_enabled = true;
			r->cfg->mx.enabled = true;
			return 0;
		}
		if (!strcmp(section, "store")) {
			if (r->store_line)
				return fail(err, err_len, "second [store] section (first at line %u)",
					    r->store_line);
			r->section = 4;
			r->store_line = line;
			return 0;
		}
		return fail(err, err_len, "unknown section [%s] (known: [manager], [http], [mx], "
			    "[store])", section);
	}
	if (r->section == 4) {
		for (size_t i = 0; i < QKDN_ARRAY_SIZE(store_keys); i++)
			if (!strcmp(store_keys[i].name, key))
				k = (int)i;
		seen = &r->seen_store;
	} else if (r->section == 3) {
		for (size_t i = 0; i < QKDN_ARRAY_SIZE(mx_keys); i++)
			if (!strcmp(mx_keys[i].name, key))
				k = (int)i;
		seen = &r->seen_mx;
	} else if (r->section == 1) {
		for (size_t i = 0; i < QKDN_ARRAY_SIZE(mgr_keys); i++)
			if (!strcmp(mgr_keys[i].name, key))
				k = (int)i;
		seen = &r->seen_mgr;
	} else {
		for (size_t i = 0; i < QKDN_ARRAY_SIZE(http_keys); i++)
			if (!strcmp(http_keys[i].name, key))
				k = (int)i;
		seen = &r->seen_http;
	}
	if (k < 0)
		return fail(err, err_len, "unknown key \"%s\" in [%s]", key,
			    r->section == 1 ? "manager" : r->section == 2 ? "http" :
			    r->section == 3 ? "mx" : "store");
	if (*seen & (1U << k))
		return fail(err, err_len, "\"%s\" given twice", key);
	*seen |= 1U << k;
	if (!*value)
		return fail(err, err_len, "\"%s\" is empty", key);
	if (r->section == 4)
		return store_key(r, k, value, err, err_len);
	if (r->section == 3)
		return mx_key(r, k, key, value, err, err_len);
	return r->section == 1 ? manager_key(r, k, key, value, err, err_len)
			       : http_key(r, k, value, err, err_len);
}

static int read_cfg(void *data, FILE *f, const char *name, const char *dir, char *err,
		    size_t err_len)
{
	struct mgrd_config *c = data;
	struct reader r = { .cfg = c, .dir = dir };
	int ret;

	c->id = QKDN_NODE_ID_MAX;
	c->sync_full = true;
	c->max_pending = MGRD_PENDING_DEFAULT;
	c->retry_ms = MGRD_RETRY_MS_DEFAULT;
	c->qber_alarm_ppm = 110000;
	c->report_ms = MGRD_REPORT_MS_DEFAULT;
	c->horizon_s = MGRD_HORIZON_S_DEFAULT;
	c->http_client_cert = true;
	c->mx.queue_max = QKDN_MGMT_QUEUE_DEFAULT;
	c->mx.report_ms = QKDN_MGMT_REPORT_MS_DEFAULT;
	ret = qkdn_ini_read(f, name, ini_cb, &r, err, err_len);
	if (ret)
		return ret;
	if (!r.mgr_line)
		return fail(err, err_len, "%s: no [manager] section", name);
	for (size_t i = 0; i < QKDN_ARRAY_SIZE(mgr_keys); i++)
		if (mgr_keys[i].required && !(r.seen_mgr & (1U << i)))
			return fail(err, err_len, "%s:%u: [manager] lacks \"%s\"", name, r.mgr_line,
				    mgr_keys[i].name);
	if (c->store_pg && !c->conninfo)
		return fail(err, err_len, "%s:%u: [store] backend postgresql lacks \"conninfo\"",
			    name, r.store_line);
	if (!c->store_pg && c->conninfo)
		return fail(err, err_len, "%s:%u: [store] conninfo is for backend postgresql",
			    name, r.store_line);
	if (!c->store_pg && !c->db)
		return fail(err, err_len, "%s:%u: [manager] lacks \"db\" (or [store] backend = "
			    "postgresql)", name, r.mgr_line);
	if (r.http_line && !(r.seen_http & (1U << H_LISTEN)))
		return fail(err, err_len, "%s:%u: [http] lacks \"listen\"", name, r.http_line);
	if (r.mx_line) {
		for (size_t i = 0; i < QKDN_ARRAY_SIZE(mx_keys); i++)
			if (mx_keys[i].required && !(r.seen_mx & (1U << i)))
				return fail(err, err_len, "%s:%u: [mx] lacks \"%s\"", name, r.mx_line,
					    mx_keys[i].name);
		if (!strcmp(c->mx_peer, c->name))
			return fail(err, err_len, "%s:%u: [mx] peer \"%s\" is this manager's own "
				    "name", name, r.mx_line, c->name);
		if (strlen(QKDN_W_MX_CN_PREFIX) + strlen(c->name) >= QKDN_ID_MAXLEN)
			return fail(err, err_len, "%s:%u: [mx]: the name \"%s\" is too long for an "
				    "Mx certificate CN", name, r.mgr_line, c->name);
	}
	return 0;
}

int mgrd_config_load(struct mgrd_config *cfg, const char *file, char *err, size_t err_len)
{
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	ret = qkdn_config_read_path(file, read_cfg, cfg, err, err_len);
	if (ret)
		mgrd_config_free(cfg);
	return ret;
}

void mgrd_config_free(struct mgrd_config *cfg)
{
	free(cfg->cert);
	free(cfg->key);
	free(cfg->ca);
	free(cfg->crl);
	free(cfg->db);
	free(cfg->conninfo);
	qkdn_mgmt_conf_free(&cfg->mx);
	memset(cfg, 0, sizeof(*cfg));
}
