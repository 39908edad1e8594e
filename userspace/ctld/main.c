// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * qkdn-ctld: the QKDN controller (see ctld.h).
 *
 *   qkdn-ctld init   --state DIR --network NAME
 *   qkdn-ctld enrol  --state DIR ENTITY --out DIR [--name N] [--csr FILE]
 *   qkdn-ctld revoke --state DIR ENTITY
 *   qkdn-ctld list   --state DIR
 *   qkdn-ctld run    [--config FILE] [--log-level LEVEL]
 *   qkdn-ctld ctl    [--socket PATH] COMMAND [ARGS...]
 *
 * run: reads the config, loads the CA and CRL of [controller] state and
 * its own certificate, builds the topology from [node] and [link], opens
 * the control socket and serves Ck. Signals: TERM/INT stop; HUP re-reads
 * crl.pem (after `qkdn-ctld revoke`), pushes it to every KM and closes
 * connections of revoked peers.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "net.h"

#define DEFAULT_CONFIG "/etc/qkdn/ctld.conf"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: qkdn-ctld init   --state DIR --network NAME\n"
		"       qkdn-ctld enrol  --state DIR ENTITY --out DIR [--name NAME] [--csr FILE] [--days N]\n"
		"       qkdn-ctld revoke --state DIR ENTITY\n"
		"       qkdn-ctld list   --state DIR\n"
		"       qkdn-ctld run    [--config FILE] [--log-level LEVEL]\n"
		"       qkdn-ctld ctl    [--socket PATH] COMMAND [ARGS...]\n"
		"ENTITY: --node ID | --qkd ID | --app CN | --ctl | --mgr\n"
		"\n"
		"The QKDN controller: certificate authority, Ck server, routing,\n"
		"rerouting, protection and recovery (Documentation/controller.rst).\n");
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct ctld *c = arg;
	char err[512];

	(void)what;
	if (sig == SIGHUP) {
		if (ctld_reload_crl(c, err, sizeof(err)) < 0)
			qkdn_log(QKDN_LOG_ERR, "CRL reload failed", "event=crl-failed err=\"%s\"", err);
		return;
	}
	qkdn_log(QKDN_LOG_INFO, "stopping", "event=stopping signal=%s",
		 sig == SIGTERM ? "TERM" : "INT");
	c->stopping = true;
	event_base_loopexit(c->base, NULL);
}

static int topology(struct ctld *c)
{
	const struct ctld_config *cfg = c->cfg;

	c->topo = qkdn_topo_new();
	c->kms = calloc(cfg->n_nodes + 1, sizeof(*c->kms));
	c->links = calloc(cfg->n_links + 1, sizeof(*c->links));
	if (!c->topo || !c->kms || !c->links)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->n_nodes; i++) {
		struct ctld_km *km = &c->kms[c->n_kms++];

		km->id = cfg->nodes[i].id;
		km->state = QKDN_TOPO_IN_SERVICE;
		snprintf(km->name, sizeof(km->name), "%s", cfg->nodes[i].name);
		if (qkdn_topo_node_add(c->topo, km->id) < 0 ||
		    qkdn_topo_node_set_up(c->topo, km->id, false) < 0)
			return -ENOMEM;
	}
	for (size_t i = 0; i < cfg->n_links; i++) {
		struct ctld_link *l = &c->links[c->n_links++];

		l->a = cfg->links[i].a;
		l->b = cfg->links[i].b;
		l->admin_state = cfg->links[i].state;
		l->fault = CTLD_FAULT_LINK_DOWN;	/* until both ends report */
		if (qkdn_topo_link_add(c->topo, l->a, l->b, NULL) < 0 ||
		    qkdn_topo_link_set_state(c->topo, l->a, l->b, l->admin_state) < 0)
			return -ENOMEM;
	}
	qkdn_route_opts_default(&c->opts);
	c->opts.low_water = cfg->policy.pool_low;
	c->opts.qber_max = cfg->policy.qber_max_ppm / 1e6;
	return 0;
}

static int run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *config = DEFAULT_CONFIG;
	enum qkdn_log_level level = QKDN_LOG_INFO;
	static struct ctld_config cfg;
	static struct ctld c;
	char err[QKDN_CONFIG_ERR_LEN];
	int opt, ret;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:L:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config = optarg;
			break;
		case 'L':
			if (!strcmp(optarg, "error"))
				level = QKDN_LOG_ERR;
			else if (qkdn_log_level_parse(optarg, &level) < 0)
				qkdn_die("--log-level %s: want debug, info, warn or error", optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc)
		qkdn_die("unexpected argument \"%s\"", argv[optind]);
	qkdn_daemon_start("qkdn-ctld", level);
	if (ctld_config_load(&cfg, config, err, sizeof(err)) < 0)
		qkdn_die("%s", err);
	c.cfg = &cfg;
	if (asprintf(&c.ca_path, "%s/ca.crt", cfg.state_dir) < 0 ||
	    asprintf(&c.crl_path, "%s/crl.pem", cfg.state_dir) < 0)
		qkdn_die("out of memory");
	c.base = event_base_new();
	if (!c.base)
		qkdn_die("cannot create the event loop");
	ret = topology(&c);
	if (!ret)
		ret = ctld_net_start(&c);
	if (!ret)
		ret = ctld_control_start(&c);
	if (!ret)
		ret = ctld_mgr_start(&c);
	if (!ret) {
		c.sig_term = evsignal_new(c.base, SIGTERM, signal_cb, &c);
		c.sig_int = evsignal_new(c.base, SIGINT, signal_cb, &c);
		c.sig_hup = evsignal_new(c.base, SIGHUP, signal_cb, &c);
		if (!c.sig_term || !c.sig_int || !c.sig_hup || evsignal_add(c.sig_term, NULL) ||
		    evsignal_add(c.sig_int, NULL) || evsignal_add(c.sig_hup, NULL))
			ret = -ENOMEM;
	}
	if (!ret) {
		qkdn_log(QKDN_LOG_INFO, "started",
			 "event=started listen=%s nodes=%zu links=%zu control=%s protection=%s",
			 cfg.listen_str, c.n_kms, c.n_links, cfg.control,
			 cfg.policy.protection ? "yes" : "no");
		event_base_dispatch(c.base);
	}
	ctld_control_stop(&c);
	ctld_mgr_stop(&c);
	ctld_net_stop(&c);
	if (c.sig_term)
		event_free(c.sig_term);
	if (c.sig_int)
		event_free(c.sig_int);
	if (c.sig_hup)
		event_free(c.sig_hup);
	qkdn_topo_free(c.topo);
	free(c.kms);
	free(c.links);
	free(c.ca_path);
	free(c.crl_path);
	event_base_free(c.base);
	ctld_config_free(&cfg);
	qkdn_log(ret ? QKDN_LOG_ERR : QKDN_LOG_INFO, ret ? "failed to start" : "stopped",
		 "event=stopped");
	return ret ? 1 : 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";

	qkdn_log_init("qkdn-ctld", QKDN_LOG_INFO);
	if (!strcmp(cmd, "init") || !strcmp(cmd, "enrol") || !strcmp(cmd, "revoke") ||
	    !strcmp(cmd, "list"))
		return ctld_pki_main(argc - 1, argv + 1);
	if (!strcmp(cmd, "run"))
		return run(argc - 1, argv + 1);
	if (!strcmp(cmd, "ctl"))
		return ctld_ctl_main(argc - 1, argv + 1);
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
		usage(stdout);
		return 0;
	}
	usage(stderr);
	return 2;
}
