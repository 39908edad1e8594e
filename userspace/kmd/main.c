// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * qkdn-kmd: the key manager daemon of one QKD node (see kmd.h).
 *
 *   qkdn-kmd [--config FILE] [--listen ADDR:PORT] [--log-level LEVEL]
 *            [--foreground] [--help]
 *
 * Start-up, in order, each step fatal on failure: read the config
 * (lib/config.h); load the TLS certificate, key and CA (and the CRL, if
 * [node] crl names one); open netlink and make the module's node the
 * config's (NODE_GET; NODE_SET if its ID is unset; refuse another ID);
 * program relay-timeout-ms and every [route]; join the "kx" and "alarm"
 * groups; listen; dial every [peer]; dial the manager if [manager] is
 * configured (mgr.c); serve the ETSI GS QKD 014 API if
 * [etsi014] is configured; dial the controller if [controller] is; start
 * refilling the stores of the [session]s.
 *
 * Signals: SIGTERM/SIGINT close every connection with a TLS close_notify
 * and exit 0; SIGUSR1 logs the counters (as does shutdown); SIGHUP only
 * says reloading is not supported yet.
 *
 * Test aid: --no-kernel skips netlink altogether (nothing is programmed,
 * frames from neighbours are counted and dropped, none come from the
 * module). It exists to exercise TLS, HELLO and SESSION on a host
 * without qkdn.ko and is left out of --help on purpose; never run a
 * node with it.
 *
 * The daemon never forks: systemd runs it as Type=simple; --foreground is
 * accepted for operators' habits and changes nothing.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "kmd.h"
#include "log.h"
#include "secmem.h"
#include "tls.h"

#define DEFAULT_CONFIG "/etc/qkdn/kmd.conf"
#define STOP_GRACE_S 3

static void usage(FILE *out)
{
	fprintf(out,
		"usage: qkdn-kmd [--config FILE] [--listen ADDR:PORT] [--log-level LEVEL]\n"
		"                [--foreground] [--help]\n"
		"\n"
		"Key manager daemon of a qkdn node: carries key relay frames between\n"
		"qkdn.ko and the neighbour nodes' daemons over mutually authenticated TLS 1.3.\n"
		"\n"
		"  -c, --config FILE       config file (default " DEFAULT_CONFIG ")\n"
		"  -l, --listen ADDR:PORT  listen address, overrides [node] listen\n"
		"                          (A.B.C.D:PORT or [IPV6]:PORT)\n"
		"  -L, --log-level LEVEL   debug, info (default), warn or error\n"
		"  -f, --foreground        accepted; the daemon never forks anyway\n"
		"  -h, --help              this help\n"
		"\n"
		"Signals: TERM/INT stop, USR1 logs counters, HUP (reload) not supported yet.\n");
}

void kmd_log_stats(struct kmd *kmd, const char *why)
{
	for (size_t i = 0; i < kmd->n_peers; i++) {
		const struct kmd_peer *p = &kmd->peers[i];
		const struct kmd_peer_stats *s = &p->stats;

		qkdn_log(QKDN_LOG_INFO, "neighbour counters",
			 "event=stats why=%s peer=%u up=%d session=%016" PRIx64
			 " frames_tx=%" PRIu64 " frames_rx=%" PRIu64 " frames_accepted=%" PRIu64
			 " frames_dropped=%" PRIu64 " kernel_refused=%" PRIu64
			 " kernel_replays=%" PRIu64 " sessions=%" PRIu64,
			 why, p->id, p->session_up, p->session_id, s->frames_tx, s->frames_rx,
			 s->frames_accepted, s->frames_dropped, s->kernel_refused,
			 s->kernel_replays, s->sessions);
	}
	qkdn_log(QKDN_LOG_INFO, "node counters",
		 "event=stats why=%s frames_not_for_a_peer=%" PRIu64 " bad_notifications=%" PRIu64
		 " notify_overruns=%" PRIu64 " protocol_errors=%" PRIu64
		 " refused_conns=%" PRIu64 " carrier_losses=%" PRIu64 " link_overruns=%" PRIu64
		 " loop_stalls=%" PRIu64,
		 why, kmd->stats.frames_no_peer, kmd->stats.bad_notifications,
		 kmd->stats.notify_overruns, kmd->stats.protocol_errors,
		 kmd->stats.refused_conns, kmd->stats.carrier_losses, kmd->stats.link_overruns,
		 kmd->stalls);
	qkdn_log(QKDN_LOG_INFO, "route counters",
		 "event=stats why=%s routes=%zu protection_switches=%" PRIu64
		 " withdrawals_sent=%" PRIu64 " withdrawals_received=%" PRIu64,
		 why, kmd->n_routes, kmd->protection_switches, kmd->withdrawals_sent,
		 kmd->withdrawals_received);
	kmd_supply_log_stats(kmd, why);
	kmd_mgr_log_stats(kmd, why);
}

static void stopped(struct kmd *kmd)
{
	event_base_loopexit(kmd->base, NULL);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct kmd *kmd = arg;

	(void)fd;
	(void)what;
	qkdn_log(QKDN_LOG_WARN, "neighbours did not take our last bytes in time",
		 "event=stop-deadline");
	event_base_loopexit(kmd->base, NULL);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct kmd *kmd = arg;
	struct timeval grace = { STOP_GRACE_S, 0 };

	(void)what;
	switch (sig) {
	case SIGTERM:
	case SIGINT:
		if (kmd->stopping)
			return;
		qkdn_log(QKDN_LOG_INFO, "stopping", "event=stopping signal=%s",
			 sig == SIGTERM ? "TERM" : "INT");
		kmd->stop_deadline = evtimer_new(kmd->base, deadline_cb, kmd);
		if (kmd->stop_deadline)
			evtimer_add(kmd->stop_deadline, &grace);
		kmd_supply_stop(kmd);
		kmd_ck_stop(kmd);
		kmd_peers_stop(kmd, stopped);
		break;
	case SIGHUP:
		qkdn_log(QKDN_LOG_WARN, "reload: only the CRL file is re-read; restart to apply "
			 "other changes", "event=sighup");
		kmd_crl_check(kmd, "SIGHUP");
		break;
	case SIGUSR1:
		kmd_log_stats(kmd, "SIGUSR1");
		break;
	}
}

static int add_signal(struct kmd *kmd, struct event **ev, int sig)
{
	*ev = evsignal_new(kmd->base, sig, signal_cb, kmd);
	return *ev && evsignal_add(*ev, NULL) == 0 ? 0 : -1;
}

static void kmd_free(struct kmd *kmd)
{
	struct event **sigs[] = { &kmd->sig_term, &kmd->sig_int, &kmd->sig_hup, &kmd->sig_usr1,
				  &kmd->stop_deadline };

	kmd_crl_free(kmd);
	kmd_supply_free(kmd);
	kmd_etsi014_free(kmd);
	kmd_ck_free(kmd);
	kmd_peers_free(kmd);
	kmd_mgr_free(kmd);
	kmd_routes_free(kmd);
	kmd_kernel_stop(kmd);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		if (*sigs[i])
			event_free(*sigs[i]);
		*sigs[i] = NULL;
	}
	SSL_CTX_free(kmd->tls);
	kmd->tls = NULL;
	SSL_CTX_free(kmd->tls_ck);
	kmd->tls_ck = NULL;
	if (kmd->base)
		event_base_free(kmd->base);
	kmd->base = NULL;
	qkdn_kmd_config_free(&kmd->cfg);
}

enum { OPT_NO_KERNEL = 256 };

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "listen", required_argument, NULL, 'l' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ "no-kernel", no_argument, NULL, OPT_NO_KERNEL },
		{ 0 }
	};
	const char *config = DEFAULT_CONFIG, *listen = NULL;
	enum qkdn_log_level level = QKDN_LOG_INFO;
	static struct kmd kmd;
	char err[QKDN_CONFIG_ERR_LEN];
	int opt, ret;

	qkdn_log_init("qkdn-kmd", QKDN_LOG_INFO);
	while ((opt = getopt_long(argc, argv, "c:l:L:fh", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config = optarg;
			break;
		case 'l':
			listen = optarg;
			break;
		case 'L':
			if (strcmp(optarg, "error") == 0)
				level = QKDN_LOG_ERR;
			else if (qkdn_log_level_parse(optarg, &level) < 0)
				qkdn_die("--log-level %s: want debug, info, warn or error", optarg);
			break;
		case 'f':
			break;
		case 'h':
			usage(stdout);
			return 0;
		case OPT_NO_KERNEL:
			kmd.no_kernel = true;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		qkdn_warn("unexpected argument \"%s\"", argv[optind]);
		usage(stderr);
		return 2;
	}
	qkdn_daemon_start("qkdn-kmd", level);

	if (qkdn_kmd_config_load(&kmd.cfg, config, err, sizeof(err)) < 0)
		qkdn_die("%s", err);
	if (listen && qkdn_kmd_config_set_listen(&kmd.cfg, listen) < 0)
		qkdn_die("--listen %s: not A.B.C.D:PORT or [IPV6]:PORT (numeric, port 1..65535)",
			 listen);
	if (qkdn_kmd_config_check(&kmd.cfg, err, sizeof(err)) < 0)
		qkdn_die("%s: %s", config, err);
	kmd.tls = qkdn_tls_ctx_new(kmd.cfg.cert, kmd.cfg.key, kmd.cfg.ca, err, sizeof(err));
	if (!kmd.tls)
		qkdn_die("%s", err);
	if (kmd.cfg.crl) {
		X509_CRL *crl = qkdn_tls_crl_load(kmd.cfg.crl, err, sizeof(err));

		if (!crl || qkdn_tls_ctx_set_crl(kmd.tls, kmd.cfg.ca, crl, err, sizeof(err)) < 0)
			qkdn_die("%s", err);
		X509_CRL_free(crl);
	}

	kmd.base = event_base_new();
	if (!kmd.base)
		qkdn_die("cannot create the event loop");
	ret = kmd_kernel_start(&kmd);
	if (!ret)
		ret = kmd_peers_start(&kmd);
	if (!ret)
		ret = kmd_mgr_start(&kmd);
	if (!ret)
		ret = kmd_routes_start(&kmd);
	if (!ret)
		ret = kmd_etsi014_start(&kmd);
	if (!ret)
		ret = kmd_ck_start(&kmd);
	if (!ret)
		ret = kmd_supply_start(&kmd);
	if (!ret)
		ret = kmd_crl_start(&kmd);
	if (!ret && (add_signal(&kmd, &kmd.sig_term, SIGTERM) || add_signal(&kmd, &kmd.sig_int, SIGINT) ||
		     add_signal(&kmd, &kmd.sig_hup, SIGHUP) || add_signal(&kmd, &kmd.sig_usr1, SIGUSR1)))
		ret = -ENOMEM;
	if (ret) {
		/* The reason is logged above. */
		kmd_free(&kmd);
		return 1;
	}
	qkdn_log(QKDN_LOG_INFO, "started",
		 "event=started node=%u listen=%s peers=%zu routes=%zu sessions=%zu controller=%s "
		 "crl=%s kernel=%s",
		 kmd.cfg.node_id, kmd.cfg.listen_str, kmd.cfg.n_peers, kmd.cfg.n_routes,
		 kmd.cfg.n_sessions,
		 kmd.cfg.controller.enabled ? kmd.cfg.controller.address_str : "none",
		 kmd.cfg.crl ? "yes" : "no", kmd.no_kernel ? "no" : "yes");

	event_base_dispatch(kmd.base);

	kmd_log_stats(&kmd, "shutdown");
	kmd_free(&kmd);
	qkdn_log(QKDN_LOG_INFO, "stopped", "event=stopped");
	return 0;
}
