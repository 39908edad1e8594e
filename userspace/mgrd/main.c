// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * qkdn-mgrd: the QKDN manager (see mgrd.h).
 *
 *   qkdn-mgrd [--config FILE] [--log-level LEVEL] [--help]
 *
 * Start-up, each step fatal on failure: read the config, open the
 * database (created if missing), listen for agents, serve HTTPS if [http]
 * is configured. SIGTERM/SIGINT commit what is pending, acknowledge it,
 * close every connection and exit 0; SIGUSR1 logs the counters.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mgmt.h"
#include "mgrd.h"
#include "store.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: qkdn-mgrd [--config FILE] [--log-level LEVEL] [--help]\n"
		"\n"
		"The QKDN manager: agents (qkdn-kmd, qkdn-qkdd, qkdn-ctld) report to it over\n"
		"TLS; operators read alarms, inventory, topology, performance, key traces and\n"
		"charging records over HTTPS (JSON, Prometheus metrics, a web page).\n"
		"\n"
		"  -c, --config FILE      config file (default " MGRD_DEFAULT_CONFIG ")\n"
		"  -L, --log-level LEVEL  debug, info (default), warn or error\n"
		"  -h, --help             this text\n");
}

static void log_stats(struct mgrd *m)
{
	qkdn_log(QKDN_LOG_INFO, "counters", "event=stats events=%" PRIu64 " duplicates=%" PRIu64
		 " busy=%" PRIu64 " refused_msgs=%" PRIu64 " refused_conns=%" PRIu64 " commits=%"
		 PRIu64 " actions_sent=%" PRIu64, m->stats.events, m->stats.duplicates,
		 m->stats.busy, m->stats.refused_msgs, m->stats.refused_conns, m->stats.commits,
		 m->stats.actions_sent);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct mgrd *m = arg;

	(void)what;
	if (sig == SIGUSR1) {
		log_stats(m);
		return;
	}
	qkdn_log(QKDN_LOG_INFO, "stopping", "event=stopping signal=%s",
		 sig == SIGTERM ? "TERM" : "INT");
	event_base_loopexit(m->base, NULL);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	enum qkdn_log_level level = QKDN_LOG_INFO;
	const char *config = MGRD_DEFAULT_CONFIG;
	struct mgrd m = { 0 };
	char err[QKDN_CONFIG_ERR_LEN];
	int opt, ret;

	while ((opt = getopt_long(argc, argv, "c:L:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config = optarg;
			break;
		case 'L':
			if (qkdn_log_level_parse(optarg, &level) < 0)
				qkdn_die("--log-level: \"%s\" is not debug, info, warn or error", optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	qkdn_daemon_start("qkdn-mgrd", level);
	if (mgrd_config_load(&m.cfg, config, err, sizeof(err)) < 0)
		qkdn_die("%s", err);
	if ((m.cfg.store_pg ? mgrd_store_pg_open(&m.store, m.cfg.conninfo, m.cfg.sync_full, err,
						 sizeof(err))
			    : mgrd_store_sqlite_open(&m.store, m.cfg.db, m.cfg.sync_full, err,
						     sizeof(err))) < 0)
		qkdn_die("database: %s", err);
	m.base = event_base_new();
	if (!m.base)
		qkdn_die("out of memory");
	m.started_ms = qkdn_mgmt_now_ms();
	ret = mgrd_agents_start(&m);
	if (!ret)
		ret = mgrd_http_start(&m);
	if (!ret)
		ret = mgrd_perf_start(&m);
	if (!ret)
		ret = mgrd_mx_start(&m);
	m.sig_term = evsignal_new(m.base, SIGTERM, signal_cb, &m);
	m.sig_int = evsignal_new(m.base, SIGINT, signal_cb, &m);
	m.sig_usr1 = evsignal_new(m.base, SIGUSR1, signal_cb, &m);
	if (!ret && (!m.sig_term || !m.sig_int || !m.sig_usr1 || evsignal_add(m.sig_term, NULL) ||
		     evsignal_add(m.sig_int, NULL) || evsignal_add(m.sig_usr1, NULL)))
		ret = -ENOMEM;
	if (!ret) {
		qkdn_log(QKDN_LOG_INFO, "started", "event=started name=%s store=%s db=%s "
			 "synchronous=%s", m.cfg.name, m.store->ops->name,
			 m.cfg.store_pg ? "(conninfo)" : m.cfg.db, m.cfg.sync_full ? "full" : "normal");
		event_base_dispatch(m.base);
		log_stats(&m);
	}
	mgrd_perf_stop(&m);
	mgrd_http_stop(&m);
	mgrd_agents_stop(&m);
	mgrd_mx_stop(&m);
	if (m.sig_term)
		event_free(m.sig_term);
	if (m.sig_int)
		event_free(m.sig_int);
	if (m.sig_usr1)
		event_free(m.sig_usr1);
	m.store->ops->close(m.store);
	event_base_free(m.base);
	mgrd_config_free(&m.cfg);
	return ret ? 1 : 0;
}
