// SPDX-License-Identifier: GPL-2.0 OR MIT
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Generic INI reader */

static char *trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		*--end = '\0';
	return s;
}

int qkdn_ini_read(FILE *f, const char *name, qkdn_ini_cb cb, void *data,
		  char *err, size_t err_len)
{
	char section[64] = "", msg[QKDN_CONFIG_ERR_LEN];
	char *buf = NULL;
	size_t cap = 0;
	unsigned int line = 0;
	ssize_t n;
	int ret = 0;

	while ((n = getline(&buf, &cap, f)) >= 0) {
		char *s, *eq, *key, *value;

		line++;
		msg[0] = '\0';
		if (n > 0 && buf[n - 1] == '\n')
			buf[--n] = '\0';
		if (strlen(buf) != (size_t)n) {
			snprintf(msg, sizeof(msg), "NUL byte in line");
			ret = -EINVAL;
			break;
		}
		s = trim(buf);
		if (*s == '\0' || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			size_t len = strlen(s);

			if (s[len - 1] != ']') {
				snprintf(msg, sizeof(msg), "section header without ']'");
				ret = -EINVAL;
				break;
			}
			s[len - 1] = '\0';
			s = trim(s + 1);
			if (*s == '\0' || strlen(s) >= sizeof(section)) {
				snprintf(msg, sizeof(msg), "bad section name");
				ret = -EINVAL;
				break;
			}
			snprintf(section, sizeof(section), "%s", s);
			ret = cb(section, NULL, NULL, line, data, msg, sizeof(msg));
			if (ret)
				break;
			continue;
		}
		eq = strchr(s, '=');
		if (!eq) {
			snprintf(msg, sizeof(msg), "expected \"key = value\", \"[section]\" or a comment");
			ret = -EINVAL;
			break;
		}
		*eq = '\0';
		key = trim(s);
		value = trim(eq + 1);
		if (*key == '\0') {
			snprintf(msg, sizeof(msg), "missing key before '='");
			ret = -EINVAL;
			break;
		}
		if (section[0] == '\0') {
			snprintf(msg, sizeof(msg), "\"%s\" outside any section", key);
			ret = -EINVAL;
			break;
		}
		ret = cb(section, key, value, line, data, msg, sizeof(msg));
		if (ret)
			break;
	}
	if (!ret && ferror(f)) {
		ret = -EIO;
		snprintf(err, err_len, "%s: read error", name);
	} else if (ret) {
		snprintf(err, err_len, "%s:%u: %s", name, line, msg);
	}
	free(buf);
	return ret;
}

/* Addresses */

int qkdn_parse_sockaddr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[INET6_ADDRSTRLEN];
	const char *port_s, *colon;
	uint16_t port;
	size_t hlen;

	memset(ss, 0, sizeof(*ss));
	if (!s)
		return -EINVAL;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		hlen = (size_t)(close - s - 1);
		port_s = close + 2;
		if (hlen == 0 || hlen >= sizeof(host))
			return -EINVAL;
		memcpy(host, s + 1, hlen);
		host[hlen] = '\0';
		if (qkdn_parse_u16(port_s, 1, UINT16_MAX, &port) < 0)
			return -EINVAL;
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return -EINVAL;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		*len = sizeof(*sin6);
		return 0;
	}
	colon = strchr(s, ':');
	if (!colon || strchr(colon + 1, ':'))
		return -EINVAL;
	hlen = (size_t)(colon - s);
	if (hlen == 0 || hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (qkdn_parse_u16(colon + 1, 1, UINT16_MAX, &port) < 0)
		return -EINVAL;
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;

	if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
		return -EINVAL;
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	*len = sizeof(*sin);
	return 0;
}

const char *qkdn_format_sockaddr(const struct sockaddr *sa, char buf[QKDN_ADDR_STRLEN])
{
	char host[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(buf, QKDN_ADDR_STRLEN, "%s:%u", host, ntohs(sin->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		snprintf(buf, QKDN_ADDR_STRLEN, "[%s]:%u", host, ntohs(sin6->sin6_port));
	} else {
		snprintf(buf, QKDN_ADDR_STRLEN, "?");
	}
	return buf;
}

/* qkdn-kmd schema */

enum section_kind {
	SEC_NONE, SEC_NODE, SEC_PEER, SEC_ROUTE, SEC_ETSI014, SEC_SAE, SEC_CONTROLLER,
	SEC_SESSION, SEC_MANAGER,
};

/* Keys of each section, as bits of the "seen" mask. */
enum {
	K_NODE_ID, K_NODE_NAME, K_NODE_LISTEN, K_NODE_CERT, K_NODE_KEY, K_NODE_CA,
	K_NODE_COMMUNITY, K_NODE_RELAY_TIMEOUT, K_NODE_KSA_SYNC, K_NODE_KEEPALIVE, K_NODE_CRL,
};
enum { K_PEER_ID, K_PEER_ADDRESS };
enum { K_ROUTE_DEST, K_ROUTE_VIA };
enum { K_E14_LISTEN, K_E14_CERT, K_E14_KEY, K_E14_CA, K_E14_MAX_KEYS };
enum { K_SAE_ID, K_SAE_CN };
enum { K_CTL_ADDRESS, K_CTL_CERT, K_CTL_KEY, K_CTL_CA };
enum { K_SES_DEST, K_SES_KEEP, K_SES_PRIORITY, K_SES_KEY_SIZE, K_SES_TOLERANCE };

struct key_def {
	const char *name;
	bool required;
};

static const struct key_def node_keys[] = {
	[K_NODE_ID] = { "id", true },
	[K_NODE_NAME] = { "name", true },
	[K_NODE_LISTEN] = { "listen", false },
	[K_NODE_CERT] = { "cert", true },
	[K_NODE_KEY] = { "key", true },
	[K_NODE_CA] = { "ca", true },
	[K_NODE_COMMUNITY] = { "community", true },
	[K_NODE_RELAY_TIMEOUT] = { "relay-timeout-ms", false },
	[K_NODE_KSA_SYNC] = { "ksa-sync", false },
	[K_NODE_KEEPALIVE] = { "keepalive-ms", false },
	[K_NODE_CRL] = { "crl", false },
};

static const struct key_def peer_keys[] = {
	[K_PEER_ID] = { "id", true },
	[K_PEER_ADDRESS] = { "address", true },
};

static const struct key_def route_keys[] = {
	[K_ROUTE_DEST] = { "dest", true },
	[K_ROUTE_VIA] = { "via", true },
};

static const struct key_def etsi014_keys[] = {
	[K_E14_LISTEN] = { "listen", true },
	[K_E14_CERT] = { "cert", true },
	[K_E14_KEY] = { "key", true },
	[K_E14_CA] = { "ca", true },
	[K_E14_MAX_KEYS] = { "max-keys-per-request", false },
};

static const struct key_def sae_keys[] = {
	[K_SAE_ID] = { "id", true },
	[K_SAE_CN] = { "cn", true },
};

static const struct key_def controller_keys[] = {
	[K_CTL_ADDRESS] = { "address", true },
	[K_CTL_CERT] = { "cert", false },
	[K_CTL_KEY] = { "key", false },
	[K_CTL_CA] = { "ca", false },
};

static const struct key_def session_keys[] = {
	[K_SES_DEST] = { "dest", true },
	[K_SES_KEEP] = { "keep", false },
	[K_SES_PRIORITY] = { "priority", false },
	[K_SES_KEY_SIZE] = { "key-size", false },
	[K_SES_TOLERANCE] = { "tolerance-ms", false },
};

struct reader {
	struct qkdn_kmd_config *cfg;
	const char *dir;
	enum section_kind kind;
	unsigned int section_line;
	unsigned int seen;
	bool node_seen;
	unsigned int node_line;
	size_t peers_cap, routes_cap, saes_cap, sessions_cap;
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

static const struct key_def *section_keys(enum section_kind kind, size_t *n, const char **name)
{
	switch (kind) {
	case SEC_NODE:
		*n = QKDN_ARRAY_SIZE(node_keys);
		*name = "node";
		return node_keys;
	case SEC_PEER:
		*n = QKDN_ARRAY_SIZE(peer_keys);
		*name = "peer";
		return peer_keys;
	case SEC_ROUTE:
		*n = QKDN_ARRAY_SIZE(route_keys);
		*name = "route";
		return route_keys;
	case SEC_ETSI014:
		*n = QKDN_ARRAY_SIZE(etsi014_keys);
		*name = "etsi014";
		return etsi014_keys;
	case SEC_SAE:
		*n = QKDN_ARRAY_SIZE(sae_keys);
		*name = "sae";
		return sae_keys;
	case SEC_CONTROLLER:
		*n = QKDN_ARRAY_SIZE(controller_keys);
		*name = "controller";
		return controller_keys;
	case SEC_SESSION:
		*n = QKDN_ARRAY_SIZE(session_keys);
		*name = "session";
		return session_keys;
	default:
		*n = 0;
		*name = "";
		return NULL;
	}
}

/* The section that just ended has every required key? */
static int finish_section(struct reader *r, char *err, size_t err_len)
{
	const struct key_def *keys;
	const char *name;
	size_t n;

	keys = section_keys(r->kind, &n, &name);
	for (size_t i = 0; i < n; i++)
		if (keys[i].required && !(r->seen & (1U << i)))
			return fail(err, err_len, "[%s] section of line %u lacks \"%s\"", name,
				    r->section_line, keys[i].name);
	return 0;
}

static int parse_id(const char *key, const char *value, uint32_t *out, char *err, size_t err_len)
{
	int ret = qkdn_parse_u32(value, 1, QKDN_NODE_ID_MAX, out);

	if (ret == -ERANGE)
		return fail(err, err_len, "%s = %s: out of range 1..%u", key, value,
			    QKDN_NODE_ID_MAX);
	if (ret)
		return fail(err, err_len, "%s = %s: not a decimal number", key, value);
	return 0;
}

static int parse_range(const char *key, const char *value, uint32_t min, uint32_t max,
		       uint32_t *out, char *err, size_t err_len)
{
	int ret = qkdn_parse_u32(value, min, max, out);

	if (ret == -ERANGE)
		return fail(err, err_len, "%s = %s: out of range %u..%u", key, value, min, max);
	if (ret)
		return fail(err, err_len, "%s = %s: not a decimal number", key, value);
	return 0;
}

static int parse_text(const char *key, const char *value, char *out, size_t out_len,
		      bool blanks_ok, char *err, size_t err_len)
{
	if (*value == '\0')
		return fail(err, err_len, "%s is empty", key);
	if (strlen(value) >= out_len)
		return fail(err, err_len, "%s is longer than %zu characters", key, out_len - 1);
	for (const char *p = value; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c > 0x7e || (!blanks_ok && (c == ' ' || c == ':')))
			return fail(err, err_len, "%s: character 0x%02x not allowed%s", key, c,
				    blanks_ok ? "" : " (printable ASCII, no blanks or ':')");
	}
	snprintf(out, out_len, "%s", value);
	return 0;
}

static int parse_path(const char *key, const char *value, const char *dir, char **out,
		      char *err, size_t err_len)
{
	int n;

	if (*value == '\0')
		return fail(err, err_len, "%s is empty", key);
	if (value[0] == '/' || !dir)
		n = asprintf(out, "%s", value);
	else
		n = asprintf(out, "%s/%s", dir, value);
	if (n < 0) {
		*out = NULL;
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

static int parse_addr(const char *key, const char *value, char *str,
		      struct sockaddr_storage *ss, socklen_t *len, char *err, size_t err_len)
{
	if (strlen(value) >= QKDN_ADDR_STRLEN || qkdn_parse_sockaddr(value, ss, len) < 0)
		return fail(err, err_len,
			    "%s = %s: not A.B.C.D:PORT or [IPV6]:PORT (numeric, port 1..65535)",
			    key, value);
	snprintf(str, QKDN_ADDR_STRLEN, "%s", value);
	return 0;
}

static int node_key(struct reader *r, int k, const char *key, const char *value,
		    char *err, size_t err_len)
{
	struct qkdn_kmd_config *c = r->cfg;

	switch (k) {
	case K_NODE_ID:
		return parse_id(key, value, &c->node_id, err, err_len);
	case K_NODE_NAME:
		return parse_text(key, value, c->name, sizeof(c->name), true, err, err_len);
	case K_NODE_LISTEN:
		return parse_addr(key, value, c->listen_str, &c->listen, &c->listen_len,
				  err, err_len);
	case K_NODE_CERT:
		return parse_path(key, value, r->dir, &c->cert, err, err_len);
	case K_NODE_KEY:
		return parse_path(key, value, r->dir, &c->key, err, err_len);
	case K_NODE_CA:
		return parse_path(key, value, r->dir, &c->ca, err, err_len);
	case K_NODE_COMMUNITY:
		return parse_text(key, value, c->community, sizeof(c->community), false,
				  err, err_len);
	case K_NODE_KSA_SYNC:
		if (!strcmp(value, "yes") || !strcmp(value, "no")) {
			c->ksa_sync = !strcmp(value, "yes");
			return 0;
		}
		return fail(err, err_len, "%s = %s: not yes or no", key, value);
	case K_NODE_RELAY_TIMEOUT: {
		int ret = qkdn_parse_u32(value, 1, QKDN_RELAY_TIMEOUT_MS_MAX,
					 &c->relay_timeout_ms);

		if (ret)
			return fail(err, err_len, "%s = %s: %s", key, value,
				    ret == -ERANGE ? "out of range 1..60000" :
						     "not a decimal number");
		return 0;
	}
	case K_NODE_KEEPALIVE:
		return parse_range(key, value, QKDN_KMD_KEEPALIVE_MS_MIN,
				   QKDN_KMD_KEEPALIVE_MS_MAX, &c->keepalive_ms, err, err_len);
	case K_NODE_CRL:
		return parse_path(key, value, r->dir, &c->crl, err, err_len);
	}
	return -EINVAL;
}

static int controller_key(struct reader *r, int k, const char *key, const char *value,
			  char *err, size_t err_len)
{
	struct qkdn_kmd_controller_conf *ctl = &r->cfg->controller;

	switch (k) {
	case K_CTL_ADDRESS:
		return parse_addr(key, value, ctl->address_str, &ctl->address, &ctl->address_len,
				  err, err_len);
	case K_CTL_CERT:
		return parse_path(key, value, r->dir, &ctl->cert, err, err_len);
	case K_CTL_KEY:
		return parse_path(key, value, r->dir, &ctl->key, err, err_len);
	case K_CTL_CA:
		return parse_path(key, value, r->dir, &ctl->ca, err, err_len);
	}
	return -EINVAL;
}

static int session_key(struct reader *r, int k, const char *key, const char *value,
		       char *err, size_t err_len)
{
	struct qkdn_kmd_session_conf *s = &r->cfg->sessions[r->cfg->n_sessions - 1];
	uint32_t v;
	int ret;

	switch (k) {
	case K_SES_DEST:
		return parse_id(key, value, &s->dest, err, err_len);
	case K_SES_KEEP:
		return parse_range(key, value, 1, QKDN_KMD_SESSION_KEEP_MAX, &s->keep,
				   err, err_len);
	case K_SES_PRIORITY:
		ret = parse_range(key, value, 0, QKDN_KMD_SESSION_PRIO_MAX, &v, err, err_len);
		s->priority = (uint8_t)v;
		return ret;
	case K_SES_KEY_SIZE:
		ret = parse_range(key, value, QKDN_KEY_UNIT_MIN * 8, QKDN_KEY_UNIT_MAX * 8,
				  &s->key_bits, err, err_len);
		if (!ret && s->key_bits % 64)
			return fail(err, err_len, "%s = %s: not a multiple of 64", key, value);
		return ret;
	case K_SES_TOLERANCE:
		return parse_range(key, value, 1, 3600000, &s->tolerance_ms, err, err_len);
	}
	return -EINVAL;
}

static int etsi014_key(struct reader *r, int k, const char *key, const char *value,
		       char *err, size_t err_len)
{
	struct qkdn_kmd_etsi014_conf *e = &r->cfg->etsi014;
	int ret;

	switch (k) {
	case K_E14_LISTEN:
		return parse_addr(key, value, e->listen_str, &e->listen, &e->listen_len,
				  err, err_len);
	case K_E14_CERT:
		return parse_path(key, value, r->dir, &e->cert, err, err_len);
	case K_E14_KEY:
		return parse_path(key, value, r->dir, &e->key, err, err_len);
	case K_E14_CA:
		return parse_path(key, value, r->dir, &e->ca, err, err_len);
	case K_E14_MAX_KEYS:
		ret = qkdn_parse_u32(value, 1, QKDN_KEY_AMOUNT_MAX, &e->max_keys_per_request);
		if (ret == -ERANGE)
			return fail(err, err_len, "%s = %s: out of range 1..%u", key, value,
				    QKDN_KEY_AMOUNT_MAX);
		if (ret)
			return fail(err, err_len, "%s = %s: not a decimal number", key, value);
		return 0;
	}
	return -EINVAL;
}

static int ini_cb(const char *section, const char *key, const char *value, unsigned int line,
		  void *data, char *err, size_t err_len)
{
	struct reader *r = data;
	struct qkdn_kmd_config *c = r->cfg;
	const struct key_def *keys;
	const char *sname;
	size_t n;
	int k = -1, ret;

	if (!key) {
		ret = finish_section(r, err, err_len);
		if (ret)
			return ret;
		r->section_line = line;
		r->seen = 0;
		if (strcmp(section, "node") == 0) {
			if (r->node_seen)
				return fail(err, err_len, "second [node] section (first at line %u)",
					    r->node_line);
			r->node_seen = true;
			r->node_line = line;
			r->kind = SEC_NODE;
		} else if (strcmp(section, "peer") == 0) {
			struct qkdn_kmd_peer_conf *peer = qkdn_grow((void **)&c->peers,
								    &c->n_peers, &r->peers_cap,
								    sizeof(*peer));

			if (!peer)
				return fail(err, err_len, "out of memory");
			peer->line = line;
			r->kind = SEC_PEER;
		} else if (strcmp(section, "route") == 0) {
			struct qkdn_kmd_route_conf *route = qkdn_grow((void **)&c->routes,
								      &c->n_routes,
								      &r->routes_cap,
								      sizeof(*route));

			if (!route)
				return fail(err, err_len, "out of memory");
			route->line = line;
			r->kind = SEC_ROUTE;
		} else if (strcmp(section, "etsi014") == 0) {
			if (c->etsi014.enabled)
				return fail(err, err_len,
					    "second [etsi014] section (first at line %u)",
					    c->etsi014.line);
			c->etsi014.enabled = true;
			c->etsi014.line = line;
			r->kind = SEC_ETSI014;
		} else if (strcmp(section, "sae") == 0) {
			struct qkdn_kmd_sae_conf *sae = qkdn_grow((void **)&c->saes, &c->n_saes,
								  &r->saes_cap, sizeof(*sae));

			if (!sae)
				return fail(err, err_len, "out of memory");
			sae->line = line;
			r->kind = SEC_SAE;
		} else if (strcmp(section, "controller") == 0) {
			if (c->controller.enabled)
				return fail(err, err_len,
					    "second [controller] section (first at line %u)",
					    c->controller.line);
			c->controller.enabled = true;
			c->controller.line = line;
			r->kind = SEC_CONTROLLER;
		} else if (strcmp(section, "session") == 0) {
			struct qkdn_kmd_session_conf *ses = qkdn_grow((void **)&c->sessions,
								      &c->n_sessions,
								      &r->sessions_cap,
								      sizeof(*ses));

			if (!ses)
				return fail(err, err_len, "out of memory");
			ses->line = line;
			ses->keep = QKDN_KMD_SESSION_KEEP_DEFAULT;
			ses->priority = QKDN_KMD_SESSION_PRIO_DEFAULT;
			ses->key_bits = QKDN_KMD_SESSION_BITS_DEFAULT;
			r->kind = SEC_SESSION;
		} else if (strcmp(section, "manager") == 0) {
			if (c->manager.line)
				return fail(err, err_len,
					    "second [manager] section (first at line %u)",
					    c->manager.line);
			c->manager.line = line;
			r->kind = SEC_MANAGER;
		} else {
			return fail(err, err_len,
				    "unknown section [%s] (known: [node], [peer], [route], [etsi014], [sae], [controller], [session], [manager])",
				    section);
		}
		return 0;
	}
	if (r->kind == SEC_MANAGER)
		return qkdn_mgmt_conf_key(&c->manager, key, value, r->dir, err, err_len);

	keys = section_keys(r->kind, &n, &sname);
	for (size_t i = 0; i < n; i++)
		if (strcmp(keys[i].name, key) == 0)
			k = (int)i;
	if (k < 0)
		return fail(err, err_len, "unknown key \"%s\" in [%s]", key, sname);
	if (r->seen & (1U << k))
		return fail(err, err_len, "\"%s\" given twice in this [%s] section", key, sname);
	r->seen |= 1U << k;

	switch (r->kind) {
	case SEC_NODE:
		return node_key(r, k, key, value, err, err_len);
	case SEC_PEER: {
		struct qkdn_kmd_peer_conf *p = &c->peers[c->n_peers - 1];

		if (k == K_PEER_ID)
			return parse_id(key, value, &p->id, err, err_len);
		return parse_addr(key, value, p->address_str, &p->address, &p->address_len,
				  err, err_len);
	}
	case SEC_ROUTE: {
		struct qkdn_kmd_route_conf *rt = &c->routes[c->n_routes - 1];

		return parse_id(key, value, k == K_ROUTE_DEST ? &rt->dest : &rt->via,
				err, err_len);
	}
	case SEC_ETSI014:
		return etsi014_key(r, k, key, value, err, err_len);
	case SEC_CONTROLLER:
		return controller_key(r, k, key, value, err, err_len);
	case SEC_SESSION:
		return session_key(r, k, key, value, err, err_len);
	case SEC_SAE: {
		struct qkdn_kmd_sae_conf *sae = &c->saes[c->n_saes - 1];

		if (k == K_SAE_ID)
			return parse_text(key, value, sae->id, sizeof(sae->id), false, err, err_len);
		return parse_text(key, value, sae->cn, sizeof(sae->cn), true, err, err_len);
	}
	default:
		return -EINVAL;
	}
}

/* What only the whole file can tell. */
static int cross_check(const struct qkdn_kmd_config *c, const char *name, char *err,
		       size_t err_len)
{
	for (size_t i = 0; i < c->n_peers; i++) {
		const struct qkdn_kmd_peer_conf *p = &c->peers[i];

		if (p->id == c->node_id)
			return fail(err, err_len, "%s:%u: [peer] id %u is this node's own id",
				    name, p->line, p->id);
		for (size_t j = 0; j < i; j++) {
			if (c->peers[j].id == p->id)
				return fail(err, err_len,
					    "%s:%u: [peer] id %u already given at line %u",
					    name, p->line, p->id, c->peers[j].line);
			if (c->peers[j].address_len == p->address_len &&
			    memcmp(&c->peers[j].address, &p->address, p->address_len) == 0)
				return fail(err, err_len,
					    "%s:%u: [peer] address %s already given at line %u",
					    name, p->line, p->address_str, c->peers[j].line);
		}
	}
	for (size_t i = 0; i < c->n_routes; i++) {
		const struct qkdn_kmd_route_conf *rt = &c->routes[i];

		if (rt->dest == c->node_id)
			return fail(err, err_len, "%s:%u: [route] dest %u is this node",
				    name, rt->line, rt->dest);
		if (!qkdn_kmd_config_peer(c, rt->via))
			return fail(err, err_len,
				    "%s:%u: [route] via %u is not a [peer]: frames go to neighbours only",
				    name, rt->line, rt->via);
		for (size_t j = 0; j < i; j++)
			if (c->routes[j].dest == rt->dest)
				return fail(err, err_len,
					    "%s:%u: [route] dest %u already given at line %u",
					    name, rt->line, rt->dest, c->routes[j].line);
	}
	for (size_t i = 0; i < c->n_sessions; i++) {
		const struct qkdn_kmd_session_conf *s = &c->sessions[i];

		if (s->dest == c->node_id)
			return fail(err, err_len, "%s:%u: [session] dest %u is this node",
				    name, s->line, s->dest);
		for (size_t j = 0; j < i; j++)
			if (c->sessions[j].dest == s->dest)
				return fail(err, err_len,
					    "%s:%u: [session] dest %u already given at line %u",
					    name, s->line, s->dest, c->sessions[j].line);
	}
	if (c->n_saes && !c->etsi014.enabled)
		return fail(err, err_len, "%s:%u: [sae] without an [etsi014] section to serve it",
			    name, c->saes[0].line);
	if (c->etsi014.enabled && c->listen_len &&
	    c->etsi014.listen_len == c->listen_len &&
	    memcmp(&c->etsi014.listen, &c->listen, c->listen_len) == 0)
		return fail(err, err_len, "%s:%u: [etsi014] listen %s is also [node] listen",
			    name, c->etsi014.line, c->etsi014.listen_str);
	for (size_t i = 0; i < c->n_saes; i++) {
		const struct qkdn_kmd_sae_conf *sae = &c->saes[i];

		for (size_t j = 0; j < i; j++) {
			if (strcmp(c->saes[j].id, sae->id) == 0)
				return fail(err, err_len,
					    "%s:%u: [sae] id %s already given at line %u",
					    name, sae->line, sae->id, c->saes[j].line);
			if (strcmp(c->saes[j].cn, sae->cn) == 0)
				return fail(err, err_len,
					    "%s:%u: [sae] cn %s already given at line %u",
					    name, sae->line, sae->cn, c->saes[j].line);
		}
	}
	return 0;
}

int qkdn_kmd_config_read(struct qkdn_kmd_config *cfg, FILE *f, const char *name,
			 const char *dir, char *err, size_t err_len)
{
	struct reader r = { .cfg = cfg, .dir = dir };
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	cfg->ksa_sync = true;
	cfg->etsi014.max_keys_per_request = QKDN_KMD_E14_MAX_KEYS_DEFAULT;
	cfg->keepalive_ms = QKDN_KMD_KEEPALIVE_MS_DEFAULT;
	ret = qkdn_ini_read(f, name, ini_cb, &r, err, err_len);
	if (!ret) {
		char msg[QKDN_CONFIG_ERR_LEN];

		ret = finish_section(&r, msg, sizeof(msg));
		if (ret)
			snprintf(err, err_len, "%s: %s", name, msg);
	}
	if (!ret && !r.node_seen) {
		snprintf(err, err_len, "%s: no [node] section", name);
		ret = -EINVAL;
	}
	if (!ret)
		ret = cross_check(cfg, name, err, err_len);
	if (!ret && cfg->manager.line && !cfg->manager.enabled) {
		snprintf(err, err_len, "%s: [manager] section of line %u lacks \"address\"", name,
			 cfg->manager.line);
		ret = -EINVAL;
	}
	if (!ret) {
		char msg[QKDN_CONFIG_ERR_LEN];

		ret = qkdn_mgmt_conf_check(&cfg->manager, msg, sizeof(msg));
		if (ret)
			snprintf(err, err_len, "%s: %s", name, msg);
	}
	if (ret)
		qkdn_kmd_config_free(cfg);
	return ret;
}

int qkdn_config_read_path(const char *path, qkdn_config_reader read, void *cfg,
			  char *err, size_t err_len)
{
	FILE *f = fopen(path, "re");
	char *dir, *slash;
	int ret;

	if (!f) {
		ret = -errno;
		snprintf(err, err_len, "%s: %s", path, strerror(-ret));
		return ret;
	}
	dir = strdup(path);
	if (!dir) {
		fclose(f);
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	slash = strrchr(dir, '/');
	if (slash)
		slash == dir ? (void)(slash[1] = '\0') : (void)(*slash = '\0');
	ret = read(cfg, f, path, slash ? dir : NULL, err, err_len);
	free(dir);
	fclose(f);
	return ret;
}

static int kmd_config_read(void *cfg, FILE *f, const char *name, const char *dir,
			   char *err, size_t err_len)
{
	return qkdn_kmd_config_read(cfg, f, name, dir, err, err_len);
}

int qkdn_kmd_config_load(struct qkdn_kmd_config *cfg, const char *path,
			 char *err, size_t err_len)
{
	memset(cfg, 0, sizeof(*cfg));
	return qkdn_config_read_path(path, kmd_config_read, cfg, err, err_len);
}

int qkdn_kmd_config_set_listen(struct qkdn_kmd_config *cfg, const char *addr)
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (strlen(addr) >= QKDN_ADDR_STRLEN || qkdn_parse_sockaddr(addr, &ss, &len) < 0)
		return -EINVAL;
	cfg->listen = ss;
	cfg->listen_len = len;
	snprintf(cfg->listen_str, sizeof(cfg->listen_str), "%s", addr);
	return 0;
}

int qkdn_kmd_config_check(const struct qkdn_kmd_config *cfg, char *err, size_t err_len)
{
	if (!cfg->listen_len)
		return fail(err, err_len, "no listen address: set listen in [node] or --listen");
	if (cfg->etsi014.enabled && cfg->etsi014.listen_len == cfg->listen_len &&
	    memcmp(&cfg->etsi014.listen, &cfg->listen, cfg->listen_len) == 0)
		return fail(err, err_len, "[etsi014] listen %s is also the neighbours' listen address",
			    cfg->etsi014.listen_str);
	return 0;
}

void qkdn_kmd_config_free(struct qkdn_kmd_config *cfg)
{
	free(cfg->cert);
	free(cfg->key);
	free(cfg->ca);
	free(cfg->peers);
	free(cfg->routes);
	free(cfg->etsi014.cert);
	free(cfg->etsi014.key);
	free(cfg->etsi014.ca);
	free(cfg->saes);
	free(cfg->crl);
	free(cfg->controller.cert);
	free(cfg->controller.key);
	free(cfg->controller.ca);
	free(cfg->sessions);
	qkdn_mgmt_conf_free(&cfg->manager);
	memset(cfg, 0, sizeof(*cfg));
}

const struct qkdn_kmd_peer_conf *qkdn_kmd_config_peer(const struct qkdn_kmd_config *cfg,
						      uint32_t id)
{
	for (size_t i = 0; i < cfg->n_peers; i++)
		if (cfg->peers[i].id == id)
			return &cfg->peers[i];
	return NULL;
}

const struct qkdn_kmd_sae_conf *qkdn_kmd_config_sae_by_cn(const struct qkdn_kmd_config *cfg,
							  const char *cn)
{
	for (size_t i = 0; i < cfg->n_saes; i++)
		if (strcmp(cfg->saes[i].cn, cn) == 0)
			return &cfg->saes[i];
	return NULL;
}

/* qkdn-secd -------------------------------------------------------------- */

int qkdn_parse_prefix(const char *s, struct qkdn_secd_prefix *out)
{
	char host[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	size_t hlen = slash ? (size_t)(slash - s) : strlen(s);
	unsigned int max;

	memset(out, 0, sizeof(*out));
	if (hlen == 0 || hlen >= sizeof(host) || strlen(s) >= sizeof(out->str))
		return -EINVAL;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (inet_pton(AF_INET, host, out->addr) == 1)
		out->family = AF_INET;
	else if (inet_pton(AF_INET6, host, out->addr) == 1)
		out->family = AF_INET6;
	else
		return -EINVAL;
	max = out->family == AF_INET ? 32 : 128;
	out->len = (uint8_t)max;
	if (slash && qkdn_parse_u8(slash + 1, 0, (uint8_t)max, &out->len) < 0)
		return -EINVAL;
	/* Host bits must be clear: 10.0.0.1/24 is a typo for 10.0.0.0/24 or
	 * for the address alone. */
	for (unsigned int bit = out->len; bit < max; bit++)
		if (out->addr[bit / 8] & (0x80 >> (bit % 8)))
			return -EINVAL;
	snprintf(out->str, sizeof(out->str), "%s", s);
	return 0;
}

enum secd_section { SECD_SEC_NONE, SECD_SEC_SECD, SECD_SEC_IPSEC, SECD_SEC_MACSEC, SECD_SEC_PPK };
enum {
	K_SECD_SAE, K_SECD_PEER_SAE, K_SECD_CERT, K_SECD_KEY, K_SECD_CA, K_SECD_PEER,
	K_SECD_LISTEN, K_SECD_REKEY_S, K_SECD_REKEY_BYTES, K_SECD_GRACE,
};
enum { K_IPSEC_LOCAL, K_IPSEC_REMOTE, K_IPSEC_LSUB, K_IPSEC_RSUB, K_IPSEC_REQID };
enum { K_MACSEC_LINK, K_MACSEC_DEVICE, K_MACSEC_CIPHER };
enum {
	K_PPK_VICI, K_PPK_CONN, K_PPK_LADDRS, K_PPK_RADDRS, K_PPK_LTS, K_PPK_RTS, K_PPK_LID,
	K_PPK_RID, K_PPK_AUTH, K_PPK_PROPOSALS, K_PPK_ESP,
};

static const struct key_def secd_keys[] = {
	[K_SECD_SAE] = { "sae", true },
	[K_SECD_PEER_SAE] = { "peer-sae", true },
	[K_SECD_CERT] = { "cert", true },
	[K_SECD_KEY] = { "key", true },
	[K_SECD_CA] = { "ca", true },
	[K_SECD_PEER] = { "peer", false },
	[K_SECD_LISTEN] = { "listen", false },
	[K_SECD_REKEY_S] = { "rekey-seconds", false },
	[K_SECD_REKEY_BYTES] = { "rekey-bytes", false },
	[K_SECD_GRACE] = { "grace-ms", false },
};

static const struct key_def secd_ipsec_keys[] = {
	[K_IPSEC_LOCAL] = { "local", true },
	[K_IPSEC_REMOTE] = { "remote", true },
	[K_IPSEC_LSUB] = { "local-subnet", true },
	[K_IPSEC_RSUB] = { "remote-subnet", true },
	[K_IPSEC_REQID] = { "reqid", false },
};

static const struct key_def secd_macsec_keys[] = {
	[K_MACSEC_LINK] = { "link", true },
	[K_MACSEC_DEVICE] = { "device", false },
	[K_MACSEC_CIPHER] = { "cipher", false },
};

static const struct key_def secd_ppk_keys[] = {
	[K_PPK_VICI] = { "vici", false },
	[K_PPK_CONN] = { "conn", false },
	[K_PPK_LADDRS] = { "local-addrs", false },
	[K_PPK_RADDRS] = { "remote-addrs", false },
	[K_PPK_LTS] = { "local-ts", false },
	[K_PPK_RTS] = { "remote-ts", false },
	[K_PPK_LID] = { "local-id", false },
	[K_PPK_RID] = { "remote-id", false },
	[K_PPK_AUTH] = { "auth", false },
	[K_PPK_PROPOSALS] = { "proposals", false },
	[K_PPK_ESP] = { "esp-proposals", false },
};

static const char *const secd_section_names[] = { "", "secd", "ipsec", "macsec", "ppk" };

struct secd_reader {
	struct qkdn_secd_config *cfg;
	const char *dir;
	enum secd_section kind;
	unsigned int section_line, seen;
	unsigned int lines[5];		/* where each section was, 0: not yet */
};

static const struct key_def *secd_section_keys(enum secd_section kind, size_t *n)
{
	switch (kind) {
	case SECD_SEC_SECD:
		*n = QKDN_ARRAY_SIZE(secd_keys);
		return secd_keys;
	case SECD_SEC_IPSEC:
		*n = QKDN_ARRAY_SIZE(secd_ipsec_keys);
		return secd_ipsec_keys;
	case SECD_SEC_MACSEC:
		*n = QKDN_ARRAY_SIZE(secd_macsec_keys);
		return secd_macsec_keys;
	case SECD_SEC_PPK:
		*n = QKDN_ARRAY_SIZE(secd_ppk_keys);
		return secd_ppk_keys;
	default:
		*n = 0;
		return NULL;
	}
}

static int secd_finish_section(struct secd_reader *r, char *err, size_t err_len)
{
	size_t n;
	const struct key_def *keys = secd_section_keys(r->kind, &n);

	for (size_t i = 0; i < n; i++)
		if (keys[i].required && !(r->seen & (1U << i)))
			return fail(err, err_len, "[%s] section of line %u lacks \"%s\"",
				    secd_section_names[r->kind], r->section_line, keys[i].name);
	return 0;
}

static int secd_prefix(const char *key, const char *value, bool address_only,
		       struct qkdn_secd_prefix *out, char *err, size_t err_len)
{
	if (qkdn_parse_prefix(value, out) < 0 ||
	    (address_only && strchr(value, '/')))
		return fail(err, err_len, "%s = %s: not %s", key, value,
			    address_only ? "a numeric IPv4 or IPv6 address"
					 : "ADDRESS/PREFIX with the host bits clear");
	return 0;
}

static int secd_secd_key(struct secd_reader *r, int k, const char *key, const char *value,
			 char *err, size_t err_len)
{
	struct qkdn_secd_config *c = r->cfg;
	int ret;

	switch (k) {
	case K_SECD_SAE:
		return parse_text(key, value, c->sae, sizeof(c->sae), false, err, err_len);
	case K_SECD_PEER_SAE:
		return parse_text(key, value, c->peer_sae, sizeof(c->peer_sae), false, err,
				  err_len);
	case K_SECD_CERT:
		return parse_path(key, value, r->dir, &c->cert, err, err_len);
	case K_SECD_KEY:
		return parse_path(key, value, r->dir, &c->key, err, err_len);
	case K_SECD_CA:
		return parse_path(key, value, r->dir, &c->ca, err, err_len);
	case K_SECD_PEER:
		return parse_addr(key, value, c->peer_str, &c->peer, &c->peer_len, err, err_len);
	case K_SECD_LISTEN:
		return parse_addr(key, value, c->listen_str, &c->listen, &c->listen_len, err,
				  err_len);
	case K_SECD_REKEY_S:
		return parse_range(key, value, 1, 86400, &c->rekey_seconds, err, err_len);
	case K_SECD_REKEY_BYTES:
		ret = qkdn_parse_u64(value, 0, UINT64_MAX, &c->rekey_bytes);
		return ret ? fail(err, err_len, "%s = %s: not a decimal number", key, value) : 0;
	case K_SECD_GRACE:
		return parse_range(key, value, 10, 60000, &c->grace_ms, err, err_len);
	}
	return -EINVAL;
}

static int secd_ipsec_key(struct secd_reader *r, int k, const char *key, const char *value,
			  char *err, size_t err_len)
{
	struct qkdn_secd_config *c = r->cfg;

	switch (k) {
	case K_IPSEC_LOCAL:
		return secd_prefix(key, value, true, &c->ipsec.local, err, err_len);
	case K_IPSEC_REMOTE:
		return secd_prefix(key, value, true, &c->ipsec.remote, err, err_len);
	case K_IPSEC_LSUB:
		return secd_prefix(key, value, false, &c->ipsec.local_subnet, err, err_len);
	case K_IPSEC_RSUB:
		return secd_prefix(key, value, false, &c->ipsec.remote_subnet, err, err_len);
	case K_IPSEC_REQID:
		return parse_range(key, value, 1, UINT32_MAX, &c->ipsec.reqid, err, err_len);
	}
	return -EINVAL;
}

static int secd_ifname(const char *key, const char *value, char *out, char *err, size_t err_len)
{
	size_t n = strlen(value);

	if (n == 0 || n >= QKDN_SECD_IFNAMSIZ || strpbrk(value, " \t/:") ||
	    strcmp(value, ".") == 0 || strcmp(value, "..") == 0)
		return fail(err, err_len, "%s = %s: not a network device name (1..15 characters, no '/', ':' or blanks)",
			    key, value);
	snprintf(out, QKDN_SECD_IFNAMSIZ, "%s", value);
	return 0;
}

static int secd_macsec_key(struct secd_reader *r, int k, const char *key, const char *value,
			   char *err, size_t err_len)
{
	struct qkdn_secd_config *c = r->cfg;

	switch (k) {
	case K_MACSEC_LINK:
		return secd_ifname(key, value, c->macsec.link, err, err_len);
	case K_MACSEC_DEVICE:
		return secd_ifname(key, value, c->macsec.device, err, err_len);
	case K_MACSEC_CIPHER:
		if (strcmp(value, "gcm-aes-128") == 0)
			c->macsec.key_bits = 128;
		else if (strcmp(value, "gcm-aes-256") == 0)
			c->macsec.key_bits = 256;
		else
			return fail(err, err_len, "%s = %s: want gcm-aes-128 or gcm-aes-256",
				    key, value);
		return 0;
	}
	return -EINVAL;
}

static int secd_ppk_key(struct secd_reader *r, int k, const char *key, const char *value,
			char *err, size_t err_len)
{
	struct qkdn_secd_config *c = r->cfg;

	switch (k) {
	case K_PPK_VICI:
		if (value[0] != '/')
			return fail(err, err_len, "%s = %s: not an absolute path", key, value);
		return parse_text(key, value, c->ppk.vici, sizeof(c->ppk.vici), false, err,
				  err_len);
	case K_PPK_CONN:
		if (strpbrk(value, ".,"))
			return fail(err, err_len, "%s = %s: no '.' or ',' in a conn name", key,
				    value);
		return parse_text(key, value, c->ppk.conn, sizeof(c->ppk.conn), false, err,
				  err_len);
	case K_PPK_LADDRS:
		return parse_text(key, value, c->ppk.local_addrs, QKDN_SECD_PPK_STR, true, err,
				  err_len);
	case K_PPK_RADDRS:
		return parse_text(key, value, c->ppk.remote_addrs, QKDN_SECD_PPK_STR, true, err,
				  err_len);
	case K_PPK_LTS:
		return parse_text(key, value, c->ppk.local_ts, QKDN_SECD_PPK_STR, true, err,
				  err_len);
	case K_PPK_RTS:
		return parse_text(key, value, c->ppk.remote_ts, QKDN_SECD_PPK_STR, true, err,
				  err_len);
	case K_PPK_LID:
		return parse_text(key, value, c->ppk.local_id, QKDN_SECD_PPK_STR, true, err,
				  err_len);
	case K_PPK_RID:
		return parse_text(key, value, c->ppk.remote_id, QKDN_SECD_PPK_STR, true, err,
				  err_len);
	case K_PPK_AUTH:
		if (strcmp(value, "psk") != 0 && strcmp(value, "pubkey") != 0)
			return fail(err, err_len, "%s = %s: want psk or pubkey", key, value);
		snprintf(c->ppk.auth, sizeof(c->ppk.auth), "%s", value);
		return 0;
	case K_PPK_PROPOSALS:
		return parse_text(key, value, c->ppk.proposals, QKDN_SECD_PPK_STR, true, err,
				  err_len);
	case K_PPK_ESP:
		return parse_text(key, value, c->ppk.esp_proposals, QKDN_SECD_PPK_STR, true,
				  err, err_len);
	}
	return -EINVAL;
}

static int secd_ini_cb(const char *section, const char *key, const char *value,
		       unsigned int line, void *data, char *err, size_t err_len)
{
	struct secd_reader *r = data;
	const struct key_def *keys;
	size_t n;
	int k = -1, ret;

	if (!key) {
		enum secd_section kind = SECD_SEC_NONE;

		ret = secd_finish_section(r, err, err_len);
		if (ret)
			return ret;
		for (int i = SECD_SEC_SECD; i <= SECD_SEC_PPK; i++)
			if (strcmp(section, secd_section_names[i]) == 0)
				kind = (enum secd_section)i;
		if (kind == SECD_SEC_NONE)
			return fail(err, err_len,
				    "unknown section [%s] (known: [secd], [ipsec], [macsec], [ppk])",
				    section);
		if (r->lines[kind])
			return fail(err, err_len, "second [%s] section (first at line %u)",
				    section, r->lines[kind]);
		if (kind != SECD_SEC_SECD && r->cfg->kind != QKDN_SECD_NONE)
			return fail(err, err_len,
				    "[%s] and [%s]: one daemon runs one of IPsec, MACsec and PPK",
				    secd_section_names[r->cfg->kind == QKDN_SECD_IPSEC ? SECD_SEC_IPSEC
						       : r->cfg->kind == QKDN_SECD_MACSEC ? SECD_SEC_MACSEC
						       : SECD_SEC_PPK], section);
		if (kind == SECD_SEC_IPSEC)
			r->cfg->kind = QKDN_SECD_IPSEC;
		else if (kind == SECD_SEC_MACSEC)
			r->cfg->kind = QKDN_SECD_MACSEC;
		else if (kind == SECD_SEC_PPK)
			r->cfg->kind = QKDN_SECD_PPK;
		r->lines[kind] = line;
		r->kind = kind;
		r->section_line = line;
		r->seen = 0;
		return 0;
	}
	keys = secd_section_keys(r->kind, &n);
	if (!keys)
		return fail(err, err_len, "\"%s\" outside a section", key);
	for (size_t i = 0; i < n; i++)
		if (strcmp(keys[i].name, key) == 0)
			k = (int)i;
	if (k < 0)
		return fail(err, err_len, "unknown key \"%s\" in [%s]", key,
			    secd_section_names[r->kind]);
	if (r->seen & (1U << k))
		return fail(err, err_len, "\"%s\" given twice in this [%s] section", key,
			    secd_section_names[r->kind]);
	r->seen |= 1U << k;
	switch (r->kind) {
	case SECD_SEC_SECD:
		return secd_secd_key(r, k, key, value, err, err_len);
	case SECD_SEC_IPSEC:
		return secd_ipsec_key(r, k, key, value, err, err_len);
	case SECD_SEC_MACSEC:
		return secd_macsec_key(r, k, key, value, err, err_len);
	case SECD_SEC_PPK:
		return secd_ppk_key(r, k, key, value, err, err_len);
	default:
		return -EINVAL;
	}
}

static int secd_cross_check(const struct qkdn_secd_config *c, const struct secd_reader *r,
			    const char *name, char *err, size_t err_len)
{
	unsigned int at = r->lines[SECD_SEC_SECD];

	if (!at)
		return fail(err, err_len, "%s: no [secd] section", name);
	if (c->kind == QKDN_SECD_NONE)
		return fail(err, err_len, "%s: no [ipsec], [macsec] or [ppk] section", name);
	if (!!c->peer_len == !!c->listen_len)
		return fail(err, err_len,
			    "%s:%u: [secd] needs exactly one of peer (this end dials: initiator) and listen (responder)",
			    name, at);
	if (strcmp(c->sae, c->peer_sae) == 0)
		return fail(err, err_len, "%s:%u: [secd] peer-sae is this gateway's own sae", name,
			    at);
	if ((uint64_t)c->grace_ms >= (uint64_t)c->rekey_seconds * 1000)
		return fail(err, err_len,
			    "%s:%u: [secd] grace-ms %u must be less than rekey-seconds (%u s)", name,
			    at, c->grace_ms, c->rekey_seconds);
	if (c->kind == QKDN_SECD_IPSEC) {
		at = r->lines[SECD_SEC_IPSEC];
		if (c->ipsec.local.family != c->ipsec.remote.family ||
		    c->ipsec.local_subnet.family != c->ipsec.remote_subnet.family)
			return fail(err, err_len,
				    "%s:%u: [ipsec] local and remote (and the two subnets) must be of one address family",
				    name, at);
		if (memcmp(c->ipsec.local.addr, c->ipsec.remote.addr, 16) == 0)
			return fail(err, err_len, "%s:%u: [ipsec] local and remote are the same address",
				    name, at);
	} else if (c->rekey_bytes) {
		return fail(err, err_len, "%s:%u: [secd] rekey-bytes applies to [ipsec] only",
			    name, r->lines[SECD_SEC_SECD]);
	} else if (c->kind == QKDN_SECD_PPK) {
		/* The initiator loads the conn; the responder's is the operator's. */
		if (c->peer_len && (!c->ppk.local_addrs[0] || !c->ppk.remote_addrs[0] ||
				    !c->ppk.local_ts[0] || !c->ppk.remote_ts[0]))
			return fail(err, err_len,
				    "%s:%u: [ppk] the initiator (peer =) needs local-addrs, remote-addrs, local-ts and remote-ts",
				    name, r->lines[SECD_SEC_PPK]);
	} else {
		if (strcmp(c->macsec.link, c->macsec.device) == 0)
			return fail(err, err_len, "%s:%u: [macsec] device and link are the same",
				    name, r->lines[SECD_SEC_MACSEC]);
	}
	return 0;
}

int qkdn_secd_config_read(struct qkdn_secd_config *cfg, FILE *f, const char *name,
			  const char *dir, char *err, size_t err_len)
{
	struct secd_reader r = { .cfg = cfg, .dir = dir };
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	cfg->rekey_seconds = 3600;
	cfg->grace_ms = 1000;
	cfg->ipsec.reqid = QKDN_SECD_REQID;
	snprintf(cfg->macsec.device, sizeof(cfg->macsec.device), "macsec0");
	cfg->macsec.key_bits = 256;
	snprintf(cfg->ppk.vici, sizeof(cfg->ppk.vici), "/var/run/charon.vici");
	snprintf(cfg->ppk.conn, sizeof(cfg->ppk.conn), "qkdn");
	snprintf(cfg->ppk.auth, sizeof(cfg->ppk.auth), "psk");
	ret = qkdn_ini_read(f, name, secd_ini_cb, &r, err, err_len);
	if (!ret) {
		char msg[QKDN_CONFIG_ERR_LEN];

		ret = secd_finish_section(&r, msg, sizeof(msg));
		if (ret)
			snprintf(err, err_len, "%s: %s", name, msg);
	}
	if (!ret)
		ret = secd_cross_check(cfg, &r, name, err, err_len);
	if (ret)
		qkdn_secd_config_free(cfg);
	return ret;
}

static int secd_config_read(void *cfg, FILE *f, const char *name, const char *dir,
			    char *err, size_t err_len)
{
	return qkdn_secd_config_read(cfg, f, name, dir, err, err_len);
}

int qkdn_secd_config_load(struct qkdn_secd_config *cfg, const char *path,
			  char *err, size_t err_len)
{
	memset(cfg, 0, sizeof(*cfg));
	return qkdn_config_read_path(path, secd_config_read, cfg, err, err_len);
}

void qkdn_secd_config_free(struct qkdn_secd_config *cfg)
{
	free(cfg->cert);
	free(cfg->key);
	free(cfg->ca);
	memset(cfg, 0, sizeof(*cfg));
}

/* qkdn-secd end */
