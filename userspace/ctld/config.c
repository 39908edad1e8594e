// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * ctld.conf, on the INI reader of lib/config.c (same rules as kmd.conf:
 * strict, "FILE:LINE: message"). Documentation/controller.rst has the
 * reference; the example is userspace/ctld/ctld.conf.example.
 *
 *   [controller]   once: listen, state, cert, key, control
 *   [policy]       at most once: pool-low, qber-max-ppm, protection,
 *                  reroute, reroute-interval-s, adaptive-change-pct,
 *                  schedule, status-period-ms, push-timeout-ms
 *   [node]         any number: id, name, address
 *   [link]         any number: a, b, state
 *   [app]          any number: sae, node, priority
 *   [manager]      at most once: reporting to qkdn-mgrd (Mc, lib/mgmt.h)
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctld.h"
#include "util.h"

enum sec { SEC_NONE, SEC_CONTROLLER, SEC_POLICY, SEC_NODE, SEC_LINK, SEC_APP, SEC_MANAGER };

struct reader {
	struct ctld_config *cfg;
	const char *dir;
	enum sec sec;
	unsigned int line, seen;
	bool controller_seen, policy_seen, manager_seen;
	size_t nodes_cap, links_cap, apps_cap;
};

static const char *const controller_keys[] = { "listen", "state", "cert", "key", "control", NULL };
static const char *const policy_keys[] = {
	"pool-low", "qber-max-ppm", "protection", "reroute", "reroute-interval-s",
	"adaptive-change-pct", "schedule", "status-period-ms", "push-timeout-ms", NULL
};
static const char *const node_keys[] = { "id", "name", "address", NULL };
static const char *const link_keys[] = { "a", "b", "state", NULL };
static const char *const app_keys[] = { "sae", "node", "priority", NULL };
static const char *const no_keys[] = { NULL };	/* [manager]: lib/mgmt.c checks */

/* Required keys of each section, as bits of keys[]. */
static const struct {
	const char *name;
	const char *const *keys;
	unsigned int required;
} secs[] = {
	[SEC_CONTROLLER] = { "controller", controller_keys, 0x0f },
	[SEC_POLICY] = { "policy", policy_keys, 0 },
	[SEC_NODE] = { "node", node_keys, 0x03 },
	[SEC_LINK] = { "link", link_keys, 0x03 },
	[SEC_APP] = { "app", app_keys, 0x03 },
	[SEC_MANAGER] = { "manager", no_keys, 0 },
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

void ctld_policy_default(struct ctld_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->pool_low = 4096;
	p->qber_max_ppm = 80000;
	p->protection = true;
	p->method = CTLD_REROUTE_NONE;
	p->interval_s = 300;
	p->adaptive_pct = 50;
	p->status_period_ms = 1000;
	p->push_timeout_ms = 5000;
}

static int finish(struct reader *r, char *err, size_t err_len)
{
	if (r->sec == SEC_NONE)
		return 0;
	for (unsigned int i = 0; secs[r->sec].keys[i]; i++)
		if ((secs[r->sec].required & (1U << i)) && !(r->seen & (1U << i)))
			return fail(err, err_len, "[%s] section of line %u lacks \"%s\"",
				    secs[r->sec].name, r->line, secs[r->sec].keys[i]);
	return 0;
}

static int num(const char *key, const char *v, uint64_t min, uint64_t max, uint64_t *out,
	       char *err, size_t err_len)
{
	int ret = qkdn_parse_u64(v, min, max, out);

	if (ret == -ERANGE)
		return fail(err, err_len, "%s = %s: out of range %llu..%llu", key, v,
			    (unsigned long long)min, (unsigned long long)max);
	if (ret)
		return fail(err, err_len, "%s = %s: not a decimal number", key, v);
	return 0;
}

static int path(const char *key, const char *v, const char *dir, char **out, char *err,
		size_t err_len)
{
	if (!*v)
		return fail(err, err_len, "%s is empty", key);
	free(*out);
	if (asprintf(out, "%s%s%s", v[0] == '/' || !dir ? "" : dir,
		     v[0] == '/' || !dir ? "" : "/", v) < 0) {
		*out = NULL;
		return fail(err, err_len, "out of memory");
	}
	return 0;
}

static int text(const char *key, const char *v, char *out, size_t len, char *err, size_t err_len)
{
	if (!*v || strlen(v) >= len)
		return fail(err, err_len, "%s: want 1..%zu characters", key, len - 1);
	for (const char *p = v; *p; p++)
		if (*p <= ' ' || *p > '~' || *p == ':')
			return fail(err, err_len, "%s: character 0x%02x not allowed (printable ASCII, no blanks or ':')",
				    key, (unsigned char)*p);
	snprintf(out, len, "%s", v);
	return 0;
}

static int schedule(struct ctld_policy *p, const char *v, char *err, size_t err_len)
{
	char buf[256], *save = NULL, *tok;

	if (strlen(v) >= sizeof(buf))
		return fail(err, err_len, "schedule: too long");
	snprintf(buf, sizeof(buf), "%s", v);
	p->n_schedule = 0;
	for (tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
		unsigned int h, m;
		int n = -1;

		if (sscanf(tok, "%2u:%2u%n", &h, &m, &n) != 2 || n != (int)strlen(tok) || h > 23 ||
		    m > 59)
			return fail(err, err_len, "schedule: \"%s\" is not HH:MM", tok);
		if (p->n_schedule == CTLD_SCHEDULE_MAX)
			return fail(err, err_len, "schedule: more than %d times", CTLD_SCHEDULE_MAX);
		p->schedule[p->n_schedule++] = (uint16_t)(h * 60 + m);
	}
	if (!p->n_schedule)
		return fail(err, err_len, "schedule is empty");
	return 0;
}

static int policy_key(struct ctld_policy *p, int k, const char *key, const char *v, char *err,
		      size_t err_len)
{
	uint64_t n;
	int ret = 0;

	switch (k) {
	case 0:
		ret = num(key, v, 0, QKDN_ROUTE_AMOUNT_MAX, &p->pool_low, err, err_len);
		break;
	case 1:
		ret = num(key, v, 0, 1000000, &n, err, err_len);
		p->qber_max_ppm = (uint32_t)n;
		break;
	case 2:
		if (strcmp(v, "yes") && strcmp(v, "no"))
			return fail(err, err_len, "%s = %s: not yes or no", key, v);
		p->protection = !strcmp(v, "yes");
		break;
	case 3:
		if (!strcmp(v, "none"))
			p->method = CTLD_REROUTE_NONE;
		else if (!strcmp(v, "fixed"))
			p->method = CTLD_REROUTE_FIXED;
		else if (!strcmp(v, "adaptive"))
			p->method = CTLD_REROUTE_ADAPTIVE;
		else if (!strcmp(v, "scheduled"))
			p->method = CTLD_REROUTE_SCHEDULED;
		else
			return fail(err, err_len, "%s = %s: not none, fixed, adaptive or scheduled",
				    key, v);
		break;
	case 4:
		ret = num(key, v, 1, 86400, &n, err, err_len);
		p->interval_s = (uint32_t)n;
		break;
	case 5:
		ret = num(key, v, 1, 1000, &n, err, err_len);
		p->adaptive_pct = (uint32_t)n;
		break;
	case 6:
		return schedule(p, v, err, err_len);
	case 7:
		ret = num(key, v, 100, QKDN_W_PERIOD_MAX, &n, err, err_len);
		p->status_period_ms = (uint32_t)n;
		break;
	case 8:
		ret = num(key, v, 100, 60000, &n, err, err_len);
		p->push_timeout_ms = (uint32_t)n;
		break;
	}
	return ret;
}

static int cb(const char *section, const char *key, const char *value, unsigned int line,
	      void *data, char *err, size_t err_len)
{
	struct reader *r = data;
	struct ctld_config *c = r->cfg;
	uint64_t n;
	int k = -1, ret;

	if (!key) {
		ret = finish(r, err, err_len);
		if (ret)
			return ret;
		r->line = line;
		r->seen = 0;
		if (!strcmp(section, "controller")) {
			if (r->controller_seen)
				return fail(err, err_len, "second [controller] section");
			r->controller_seen = true;
			r->sec = SEC_CONTROLLER;
		} else if (!strcmp(section, "policy")) {
			if (r->policy_seen)
				return fail(err, err_len, "second [policy] section");
			r->policy_seen = true;
			r->sec = SEC_POLICY;
		} else if (!strcmp(section, "node")) {
			struct ctld_node_conf *nd = qkdn_grow((void **)&c->nodes, &c->n_nodes,
							      &r->nodes_cap, sizeof(*nd));

			if (!nd)
				return fail(err, err_len, "out of memory");
			nd->line = line;
			r->sec = SEC_NODE;
		} else if (!strcmp(section, "link")) {
			struct ctld_link_conf *l = qkdn_grow((void **)&c->links, &c->n_links,
							     &r->links_cap, sizeof(*l));

			if (!l)
				return fail(err, err_len, "out of memory");
			l->line = line;
			l->state = QKDN_TOPO_IN_SERVICE;
			r->sec = SEC_LINK;
		} else if (!strcmp(section, "app")) {
			struct ctld_app_conf *a = qkdn_grow((void **)&c->apps, &c->n_apps,
							    &r->apps_cap, sizeof(*a));

			if (!a)
				return fail(err, err_len, "out of memory");
			a->line = line;
			a->priority = 4;
			r->sec = SEC_APP;
		} else if (!strcmp(section, "manager")) {
			if (r->manager_seen)
				return fail(err, err_len, "second [manager] section (first at line %u)",
					    c->manager.line);
			r->manager_seen = true;
			c->manager.line = line;
			r->sec = SEC_MANAGER;
		} else {
			return fail(err, err_len,
				    "unknown section [%s] (known: [controller], [policy], [node], [link], [app], [manager])",
				    section);
		}
		return 0;
	}
	if (r->sec == SEC_MANAGER)
		return qkdn_mgmt_conf_key(&c->manager, key, value, r->dir, err, err_len);
	for (int i = 0; secs[r->sec].keys[i]; i++)
		if (!strcmp(secs[r->sec].keys[i], key))
			k = i;
	if (k < 0)
		return fail(err, err_len, "unknown key \"%s\" in [%s]", key, secs[r->sec].name);
	if (r->seen & (1U << k))
		return fail(err, err_len, "\"%s\" given twice in this [%s] section", key,
			    secs[r->sec].name);
	r->seen |= 1U << k;

	switch (r->sec) {
	case SEC_CONTROLLER:
		switch (k) {
		case 0:
			if (strlen(value) >= QKDN_ADDR_STRLEN ||
			    qkdn_parse_sockaddr(value, &c->listen, &c->listen_len) < 0)
				return fail(err, err_len,
					    "listen = %s: not A.B.C.D:PORT or [IPV6]:PORT (numeric, port 1..65535)",
					    value);
			snprintf(c->listen_str, sizeof(c->listen_str), "%s", value);
			return 0;
		case 1: return path(key, value, r->dir, &c->state_dir, err, err_len);
		case 2: return path(key, value, r->dir, &c->cert, err, err_len);
		case 3: return path(key, value, r->dir, &c->key, err, err_len);
		case 4: return path(key, value, r->dir, &c->control, err, err_len);
		}
		break;
	case SEC_POLICY:
		return policy_key(&c->policy, k, key, value, err, err_len);
	case SEC_NODE: {
		struct ctld_node_conf *nd = &c->nodes[c->n_nodes - 1];

		if (k == 0) {
			ret = num(key, value, 1, QKDN_NODE_ID_MAX, &n, err, err_len);
			nd->id = (uint32_t)n;
			return ret;
		}
		if (k == 1)
			return text(key, value, nd->name, sizeof(nd->name), err, err_len);
		{
			struct sockaddr_storage ss;
			socklen_t len;

			if (strlen(value) >= QKDN_ADDR_STRLEN ||
			    qkdn_parse_sockaddr(value, &ss, &len) < 0)
				return fail(err, err_len,
					    "address = %s: not A.B.C.D:PORT or [IPV6]:PORT", value);
			snprintf(nd->address, sizeof(nd->address), "%s", value);
		}
		return 0;
	}
	case SEC_LINK: {
		struct ctld_link_conf *l = &c->links[c->n_links - 1];

		if (k == 2) {
			l->state = qkdn_topo_state_parse(value);
			if (l->state < 0)
				return fail(err, err_len,
					    "state = %s: not in-service, out-of-service, standby or reserved",
					    value);
			return 0;
		}
		ret = num(key, value, 1, QKDN_NODE_ID_MAX, &n, err, err_len);
		*(k == 0 ? &l->a : &l->b) = (uint32_t)n;
		return ret;
	}
	case SEC_APP: {
		struct ctld_app_conf *a = &c->apps[c->n_apps - 1];

		if (k == 0)
			return text(key, value, a->sae, sizeof(a->sae), err, err_len);
		ret = num(key, value, k == 1 ? 1 : 0, k == 1 ? QKDN_NODE_ID_MAX : QKDN_W_PRIORITY_MAX,
			  &n, err, err_len);
		if (k == 1)
			a->node = (uint32_t)n;
		else
			a->priority = (uint8_t)n;
		return ret;
	}
	default:
		break;
	}
	return -EINVAL;
}

const struct ctld_node_conf *ctld_config_node(const struct ctld_config *cfg, uint32_t id)
{
	for (size_t i = 0; i < cfg->n_nodes; i++)
		if (cfg->nodes[i].id == id)
			return &cfg->nodes[i];
	return NULL;
}

static int cross_check(const struct ctld_config *c, const char *name, char *err, size_t err_len)
{
	for (size_t i = 0; i < c->n_nodes; i++)
		for (size_t j = 0; j < i; j++)
			if (c->nodes[j].id == c->nodes[i].id)
				return fail(err, err_len, "%s:%u: [node] id %u already given at line %u",
					    name, c->nodes[i].line, c->nodes[i].id, c->nodes[j].line);
	for (size_t i = 0; i < c->n_links; i++) {
		const struct ctld_link_conf *l = &c->links[i];

		if (l->a == l->b)
			return fail(err, err_len, "%s:%u: [link] joins node %u to itself", name,
				    l->line, l->a);
		if (!ctld_config_node(c, l->a) || !ctld_config_node(c, l->b))
			return fail(err, err_len, "%s:%u: [link] %u-%u: node %u is not a [node]",
				    name, l->line, l->a, l->b,
				    ctld_config_node(c, l->a) ? l->b : l->a);
		for (size_t j = 0; j < i; j++) {
			const struct ctld_link_conf *o = &c->links[j];

			if ((o->a == l->a && o->b == l->b) || (o->a == l->b && o->b == l->a))
				return fail(err, err_len,
					    "%s:%u: [link] %u-%u already given at line %u", name,
					    l->line, l->a, l->b, o->line);
		}
	}
	for (size_t i = 0; i < c->n_apps; i++) {
		if (!ctld_config_node(c, c->apps[i].node))
			return fail(err, err_len, "%s:%u: [app] node %u is not a [node]", name,
				    c->apps[i].line, c->apps[i].node);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(c->apps[j].sae, c->apps[i].sae))
				return fail(err, err_len, "%s:%u: [app] sae %s already given at line %u",
					    name, c->apps[i].line, c->apps[i].sae, c->apps[j].line);
	}
	return 0;
}

int ctld_config_read(struct ctld_config *cfg, FILE *f, const char *name, const char *dir,
		     char *err, size_t err_len)
{
	struct reader r = { .cfg = cfg, .dir = dir };
	char msg[QKDN_CONFIG_ERR_LEN];
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	ctld_policy_default(&cfg->policy);
	ret = qkdn_ini_read(f, name, cb, &r, err, err_len);
	if (!ret && (ret = finish(&r, msg, sizeof(msg))))
		snprintf(err, err_len, "%s: %s", name, msg);
	if (!ret && !r.controller_seen)
		ret = fail(err, err_len, "%s: no [controller] section", name);
	if (!ret && qkdn_mgmt_conf_check(&cfg->manager, msg, sizeof(msg)) < 0)
		ret = fail(err, err_len, "%s: %s", name, msg);
	if (!ret && cfg->policy.method == CTLD_REROUTE_SCHEDULED && !cfg->policy.n_schedule)
		ret = fail(err, err_len, "%s: reroute = scheduled needs a schedule", name);
	if (!ret)
		ret = cross_check(cfg, name, err, err_len);
	if (!ret && !cfg->control && !(cfg->control = strdup(CTLD_DEFAULT_CONTROL)))
		ret = fail(err, err_len, "out of memory");
	if (ret)
		ctld_config_free(cfg);
	return ret;
}

static int reader(void *cfg, FILE *f, const char *name, const char *dir, char *err,
		  size_t err_len)
{
	return ctld_config_read(cfg, f, name, dir, err, err_len);
}

int ctld_config_load(struct ctld_config *cfg, const char *path, char *err, size_t err_len)
{
	memset(cfg, 0, sizeof(*cfg));
	return qkdn_config_read_path(path, reader, cfg, err, err_len);
}

void ctld_config_free(struct ctld_config *cfg)
{
	free(cfg->state_dir);
	free(cfg->cert);
	free(cfg->key);
	free(cfg->control);
	free(cfg->nodes);
	free(cfg->links);
	free(cfg->apps);
	qkdn_mgmt_conf_free(&cfg->manager);
	memset(cfg, 0, sizeof(*cfg));
}
