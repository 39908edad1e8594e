// SPDX-License-Identifier: GPL-2.0 OR MIT
/* The qkdn-qkdd config schema (see qkdd_config.h), on the INI reader of
 * config.c. */
#include "qkdd_config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

enum section_kind { SEC_NONE, SEC_NODE, SEC_LINK, SEC_MANAGER };

/* Who may give a key: a bit set of these. */
enum { ANY = 0, SIM = 1, ETSI = 2, TX = 4, RX = 8 };

enum {
	L_ID, L_ROLE, L_MODE, L_MODULE, L_PEER_MODULE, L_PEER, L_LISTEN,
	L_LENGTH, L_KEY_BYTES, L_RATE_CAP, L_LOSS, L_DET_EFF, L_DARK, L_PULSE, L_MU,
	L_MISALIGN, L_EC, L_KME, L_SAE, L_PEER_SAE, L_CERT, L_KEY, L_CA, L_SIZE,
	L_NUMBER, L_INTERVAL,
};

static const struct {
	const char *name;
	unsigned int who;	/* SIM/ETSI: mode; TX/RX: role; 0: both */
	bool required;		/* for those it applies to */
} link_keys[] = {
	[L_ID] = { "id", ANY, true },
	[L_ROLE] = { "role", ANY, true },
	[L_MODE] = { "mode", ANY, true },
	[L_MODULE] = { "module", ANY, true },
	[L_PEER_MODULE] = { "peer-module", ANY, true },
	[L_PEER] = { "peer", TX, true },
	[L_LISTEN] = { "listen", RX, true },
	[L_LENGTH] = { "length-km", SIM | TX, true },
	[L_KEY_BYTES] = { "qkd-key-bytes", SIM | TX, false },
	[L_RATE_CAP] = { "rate-cap-bps", SIM | TX, false },
	[L_LOSS] = { "loss-db-km", SIM | TX, false },
	[L_DET_EFF] = { "detector-efficiency", SIM | TX, false },
	[L_DARK] = { "dark-count", SIM | TX, false },
	[L_PULSE] = { "pulse-rate-hz", SIM | TX, false },
	[L_MU] = { "mu", SIM | TX, false },
	[L_MISALIGN] = { "misalignment", SIM | TX, false },
	[L_EC] = { "ec-efficiency", SIM | TX, false },
	[L_KME] = { "kme", ETSI, true },
	[L_SAE] = { "sae", ETSI, true },
	[L_PEER_SAE] = { "peer-sae", ETSI, true },
	[L_CERT] = { "cert", ETSI, true },
	[L_KEY] = { "key", ETSI, true },
	[L_CA] = { "ca", ETSI, true },
	[L_SIZE] = { "size-bits", ETSI, false },
	[L_NUMBER] = { "number", ETSI | TX, false },
	[L_INTERVAL] = { "interval-ms", ETSI | TX, false },
};

struct reader {
	struct qkdd_config *cfg;
	const char *dir;
	enum section_kind kind;
	bool node_seen, node_id_seen, control_seen;
	unsigned int node_line;
	bool manager_seen;
	size_t links_cap;
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

const char *qkdd_role_name(enum qkdd_role role)
{
	return role == QKDD_TX ? "tx" : "rx";
}

const char *qkdd_mode_name(enum qkdd_mode mode)
{
	return mode == QKDD_SIM ? "sim" : "etsi014";
}

int qkdd_parse_double(const char *s, double min, double max, double *out)
{
	char *end;
	double v;

	if (*s == '\0' || *s == ' ' || *s == '+' || *s == '-' ||
	    strpbrk(s, "xXnNiI"))	/* no hex, nan, inf */
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (*end != '\0')
		return -EINVAL;
	if (errno == ERANGE || !isfinite(v) || v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

static int parse_u32(const char *key, const char *value, uint32_t min, uint32_t max,
		     uint32_t *out, char *err, size_t err_len)
{
	int ret = qkdn_parse_u32(value, min, max, out);

	if (ret)
		return fail(err, err_len, "%s = %s: %s %u..%u", key, value,
			    ret == -ERANGE ? "out of range" : "not a decimal number in", min, max);
	return 0;
}

static int parse_dbl(const char *key, const char *value, double min, double max, double *out,
		     char *err, size_t err_len)
{
	int ret = qkdd_parse_double(value, min, max, out);

	if (ret)
		return fail(err, err_len, "%s = %s: %s %g..%g", key, value,
			    ret == -ERANGE ? "out of range" : "not a decimal number in", min, max);
	return 0;
}

static int parse_id_text(const char *key, const char *value, char *out, size_t out_len,
			 char *err, size_t err_len)
{
	if (*value == '\0')
		return fail(err, err_len, "%s is empty", key);
	if (strlen(value) >= out_len)
		return fail(err, err_len, "%s is longer than %zu characters", key, out_len - 1);
	for (const char *p = value; *p; p++)
		if (*p <= 0x20 || *p > 0x7e || *p == ':')
			return fail(err, err_len, "%s: character 0x%02x not allowed "
				    "(printable ASCII, no blanks or ':')", key, (unsigned char)*p);
	snprintf(out, out_len, "%s", value);
	return 0;
}

static int parse_path(const char *value, const char *dir, char **out, char *err, size_t err_len)
{
	int n;

	free(*out);
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

static int node_key(struct reader *r, const char *key, const char *value, char *err,
		    size_t err_len)
{
	struct qkdd_config *c = r->cfg;

	if (!strcmp(key, "id")) {
		if (r->node_id_seen)
			return fail(err, err_len, "\"id\" given twice in [node]");
		r->node_id_seen = true;
		return parse_u32(key, value, 1, QKDN_NODE_ID_MAX, &c->node_id, err, err_len);
	}
	if (!strcmp(key, "control")) {
		if (r->control_seen)
			return fail(err, err_len, "\"control\" given twice in [node]");
		r->control_seen = true;
		if (*value == '\0' || strlen(value) >= 108)
			return fail(err, err_len, "control: empty, or longer than a socket path "
				    "can be (107)");
		return parse_path(value, r->dir, &c->control, err, err_len);
	}
	return fail(err, err_len, "unknown key \"%s\" in [node] (known: id, control)", key);
}

static int link_key(struct reader *r, int k, const char *key, const char *value, char *err,
		    size_t err_len)
{
	struct qkdd_link_conf *l = &r->cfg->links[r->cfg->n_links - 1];
	struct qkdd_sim_conf *s = &l->sim;
	struct qkdd_etsi_conf *e = &l->etsi;

	switch (k) {
	case L_ID:
		return parse_u32(key, value, 1, UINT32_MAX, &l->id, err, err_len);
	case L_ROLE:
		if (strcmp(value, "tx") && strcmp(value, "rx"))
			return fail(err, err_len, "role = %s: not tx or rx", value);
		l->role = strcmp(value, "tx") ? QKDD_RX : QKDD_TX;
		return 0;
	case L_MODE:
		if (strcmp(value, "sim") && strcmp(value, "etsi014"))
			return fail(err, err_len, "mode = %s: not sim or etsi014", value);
		l->mode = strcmp(value, "sim") ? QKDD_ETSI014 : QKDD_SIM;
		return 0;
	case L_MODULE:
		return parse_id_text(key, value, l->module, sizeof(l->module), err, err_len);
	case L_PEER_MODULE:
		return parse_id_text(key, value, l->peer_module, sizeof(l->peer_module), err,
				     err_len);
	case L_PEER:
	case L_LISTEN:
		if (strlen(value) >= QKDN_ADDR_STRLEN ||
		    qkdn_parse_sockaddr(value, &l->addr, &l->addr_len) < 0)
			return fail(err, err_len, "%s = %s: not A.B.C.D:PORT or [IPV6]:PORT "
				    "(numeric, port 1..65535)", key, value);
		snprintf(l->addr_str, sizeof(l->addr_str), "%s", value);
		return 0;
	case L_LENGTH:
		return parse_dbl(key, value, 0, 1000, &s->length_km, err, err_len);
	case L_KEY_BYTES:
		return parse_u32(key, value, 1, QKDN_QKD_KEY_MAX, &s->qkd_key_bytes, err, err_len);
	case L_RATE_CAP: {
		int ret = qkdn_parse_u64(value, 1, UINT64_MAX, &s->rate_cap_bps);

		if (ret)
			return fail(err, err_len, "%s = %s: not a decimal number of bit/s, at least 1",
				    key, value);
		return 0;
	}
	case L_LOSS:
		return parse_dbl(key, value, 0, 10, &s->loss_db_km, err, err_len);
	case L_DET_EFF:
		return parse_dbl(key, value, 1e-6, 1, &s->detector_efficiency, err, err_len);
	case L_DARK:
		return parse_dbl(key, value, 0, 0.1, &s->dark_count, err, err_len);
	case L_PULSE:
		return parse_dbl(key, value, 1, 1e11, &s->pulse_rate_hz, err, err_len);
	case L_MU:
		return parse_dbl(key, value, 0.01, 2, &s->mu, err, err_len);
	case L_MISALIGN:
		return parse_dbl(key, value, 0, 0.5, &s->misalignment, err, err_len);
	case L_EC:
		return parse_dbl(key, value, 1, 2, &s->ec_efficiency, err, err_len);
	case L_KME: {
		size_t n = strlen(value);

		if (strncmp(value, "https://", 8) || n <= 8 || n > 512 || strpbrk(value, " \t?#"))
			return fail(err, err_len, "kme = %s: want https://HOST[:PORT][/PATH]", value);
		free(e->kme);
		e->kme = strdup(value);
		if (!e->kme)
			return fail(err, err_len, "out of memory");
		while (n > 9 && e->kme[n - 1] == '/')
			e->kme[--n] = '\0';
		return 0;
	}
	case L_SAE:
		return parse_id_text(key, value, e->sae, sizeof(e->sae), err, err_len);
	case L_PEER_SAE:
		return parse_id_text(key, value, e->peer_sae, sizeof(e->peer_sae), err, err_len);
	case L_CERT:
		return parse_path(value, r->dir, &e->cert, err, err_len);
	case L_KEY:
		return parse_path(value, r->dir, &e->key, err, err_len);
	case L_CA:
		return parse_path(value, r->dir, &e->ca, err, err_len);
	case L_SIZE: {
		int ret = parse_u32(key, value, 8, QKDN_QKD_KEY_MAX * 8, &e->size_bits, err,
				    err_len);

		if (!ret && e->size_bits % 8)
			return fail(err, err_len, "size-bits = %s: not a multiple of 8", value);
		return ret;
	}
	case L_NUMBER:
		return parse_u32(key, value, 1, QKDD_ETSI_NUMBER_MAX, &e->number, err, err_len);
	case L_INTERVAL:
		return parse_u32(key, value, 10, 3600000, &e->interval_ms, err, err_len);
	}
	return -EINVAL;
}

static int new_link(struct reader *r, unsigned int line, char *err, size_t err_len)
{
	struct qkdd_config *c = r->cfg;
	struct qkdd_link_conf *l;

	if (c->n_links == QKDD_LINKS_MAX)
		return fail(err, err_len, "more than %d [link] sections", QKDD_LINKS_MAX);
	l = qkdn_grow((void **)&c->links, &c->n_links, &r->links_cap, sizeof(*l));
	if (!l)
		return fail(err, err_len, "out of memory");
	l->line = line;
	l->sim.qkd_key_bytes = 256;
	l->sim.loss_db_km = 0.2;
	l->sim.detector_efficiency = 0.1;
	l->sim.dark_count = 1e-6;
	l->sim.pulse_rate_hz = 1e9;
	l->sim.mu = 0.5;
	l->sim.misalignment = 0.01;
	l->sim.ec_efficiency = 1.16;
	l->etsi.size_bits = 256;
	l->etsi.number = 8;
	l->etsi.interval_ms = 1000;
	return 0;
}

static int ini_cb(const char *section, const char *key, const char *value, unsigned int line,
		  void *data, char *err, size_t err_len)
{
	struct reader *r = data;
	struct qkdd_link_conf *l;
	int k = -1;

	if (!key) {
		if (!strcmp(section, "node")) {
			if (r->node_seen)
				return fail(err, err_len, "second [node] section (first at line %u)",
					    r->node_line);
			r->node_seen = true;
			r->node_line = line;
			r->kind = SEC_NODE;
			return 0;
		}
		if (!strcmp(section, "link")) {
			r->kind = SEC_LINK;
			return new_link(r, line, err, err_len);
		}
		if (!strcmp(section, "manager")) {
			if (r->manager_seen)
				return fail(err, err_len, "second [manager] section (first at line %u)",
					    r->cfg->manager.line);
			r->manager_seen = true;
			r->cfg->manager.line = line;
			r->kind = SEC_MANAGER;
			return 0;
		}
		return fail(err, err_len, "unknown section [%s] (known: [node], [link], [manager])",
			    section);
	}
	if (r->kind == SEC_NODE)
		return node_key(r, key, value, err, err_len);
	if (r->kind == SEC_MANAGER)
		return qkdn_mgmt_conf_key(&r->cfg->manager, key, value, r->dir, err, err_len);
	if (r->kind != SEC_LINK)
		return fail(err, err_len, "\"%s\" outside a section", key);
	l = &r->cfg->links[r->cfg->n_links - 1];
	for (size_t i = 0; i < QKDN_ARRAY_SIZE(link_keys); i++)
		if (!strcmp(link_keys[i].name, key))
			k = (int)i;
	if (k < 0)
		return fail(err, err_len, "unknown key \"%s\" in [link]", key);
	if (l->seen & (1ULL << k))
		return fail(err, err_len, "\"%s\" given twice in this [link] section", key);
	l->seen |= 1ULL << k;
	return link_key(r, k, key, value, err, err_len);
}

/* Each key applies to the link's mode and role? Required ones given? */
static int check_link(const struct qkdd_link_conf *l, const char *name, char *err,
		      size_t err_len)
{
	unsigned int mode = l->mode == QKDD_SIM ? SIM : ETSI;
	unsigned int role = l->role == QKDD_TX ? TX : RX;

	/* Keys that do not belong first: they say more than what is missing. */
	for (size_t i = 0; i < 2 * QKDN_ARRAY_SIZE(link_keys); i++) {
		size_t k = i % QKDN_ARRAY_SIZE(link_keys);
		bool first_pass = i < QKDN_ARRAY_SIZE(link_keys);
		unsigned int who = link_keys[k].who;
		bool applies = (!(who & (SIM | ETSI)) || (who & mode)) &&
			       (!(who & (TX | RX)) || (who & role));
		bool given = l->seen & (1ULL << k);

		if (k == L_ROLE || k == L_MODE || k == L_ID)
			continue;
		if (first_pass && given && !applies)
			return fail(err, err_len, "%s:%u: [link] %u: \"%s\" does not apply to a "
				    "%s link of role %s", name, l->line, l->id, link_keys[k].name,
				    qkdd_mode_name(l->mode), qkdd_role_name(l->role));
		if (!first_pass && !given && applies && link_keys[k].required)
			return fail(err, err_len, "%s:%u: [link] %u (%s, %s) lacks \"%s\"", name,
				    l->line, l->id, qkdd_mode_name(l->mode),
				    qkdd_role_name(l->role), link_keys[k].name);
	}
	if (!strcmp(l->module, l->peer_module))
		return fail(err, err_len, "%s:%u: [link] %u: module and peer-module are the same",
			    name, l->line, l->id);
	if (l->mode == QKDD_ETSI014 && !strcmp(l->etsi.sae, l->etsi.peer_sae))
		return fail(err, err_len, "%s:%u: [link] %u: sae and peer-sae are the same",
			    name, l->line, l->id);
	return 0;
}

int qkdd_config_read(struct qkdd_config *cfg, FILE *f, const char *name, const char *dir,
		     char *err, size_t err_len)
{
	struct reader r = { .cfg = cfg, .dir = dir };
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	ret = qkdn_ini_read(f, name, ini_cb, &r, err, err_len);
	for (size_t i = 0; !ret && i < cfg->n_links; i++) {
		const struct qkdd_link_conf *l = &cfg->links[i];

		for (int must = L_ID; must <= L_MODE && !ret; must++)
			if (!(l->seen & (1ULL << must)))
				ret = fail(err, err_len, "%s:%u: [link] lacks \"%s\"", name, l->line,
					   link_keys[must].name);
		if (!ret)
			ret = check_link(l, name, err, err_len);
		for (size_t j = 0; !ret && j < i; j++)
			if (cfg->links[j].id == l->id)
				ret = fail(err, err_len, "%s:%u: [link] id %u already given at line %u",
					   name, l->line, l->id, cfg->links[j].line);
	}
	if (!ret && (!r.node_seen || !r.node_id_seen))
		ret = fail(err, err_len, "%s: %s", name,
			   r.node_seen ? "[node] lacks \"id\"" : "no [node] section");
	if (!ret && cfg->n_links == 0)
		ret = fail(err, err_len, "%s: no [link] section", name);
	if (!ret && qkdn_mgmt_conf_check(&cfg->manager, err, err_len) < 0) {
		char why[QKDN_CONFIG_ERR_LEN];

		snprintf(why, sizeof(why), "%s", err);
		ret = fail(err, err_len, "%s: %s", name, why);
	}
	if (!ret && !cfg->control &&
	    asprintf(&cfg->control, QKDD_CONTROL_DEFAULT_FMT, cfg->node_id) < 0) {
		cfg->control = NULL;
		ret = fail(err, err_len, "out of memory");
	}
	if (ret)
		qkdd_config_free(cfg);
	return ret;
}

static int read_qkdd(void *cfg, FILE *f, const char *name, const char *dir,
		     char *err, size_t err_len)
{
	return qkdd_config_read(cfg, f, name, dir, err, err_len);
}

int qkdd_config_load(struct qkdd_config *cfg, const char *path, char *err, size_t err_len)
{
	memset(cfg, 0, sizeof(*cfg));
	return qkdn_config_read_path(path, read_qkdd, cfg, err, err_len);
}

void qkdd_config_free(struct qkdd_config *cfg)
{
	for (size_t i = 0; i < cfg->n_links; i++) {
		struct qkdd_etsi_conf *e = &cfg->links[i].etsi;

		free(e->kme);
		free(e->cert);
		free(e->key);
		free(e->ca);
	}
	free(cfg->links);
	free(cfg->control);
	qkdn_mgmt_conf_free(&cfg->manager);
	memset(cfg, 0, sizeof(*cfg));
}
