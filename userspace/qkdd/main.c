// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * qkdn-qkdd: the QKD device driver of one node (see qkdd.h).
 *
 *   qkdn-qkdd [--config FILE] [--control PATH] [--log-level LEVEL] [--help]
 *   qkdn-qkdd ctl SOCKET COMMAND...
 *
 * Start-up, each step fatal on failure: read the config; open netlink
 * and check every link's QKD module pair in the module; start the
 * channels to the other drivers (tx dials, rx listens) and the KME
 * clients; open the control socket.
 *
 * Signals: TERM/INT stop producing keys, wait up to QKDD_STOP_GRACE_MS
 * for the batches in flight to be acknowledged and pushed, report every
 * link DOWN to the module, close and exit 0. USR1 logs the counters,
 * HUP says reloading is not supported (the control socket changes the
 * run-time parameters).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "qkdd.h"
#include "secmem.h"

#define DEFAULT_CONFIG "/etc/qkdn/qkdd.conf"

double qkdd_elapsed(const struct timespec *from, const struct timespec *to)
{
	return (double)(to->tv_sec - from->tv_sec) + (double)(to->tv_nsec - from->tv_nsec) / 1e9;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: qkdn-qkdd [--config FILE] [--control PATH] [--log-level LEVEL] [--help]\n"
		"       qkdn-qkdd ctl SOCKET COMMAND...\n"
		"\n"
		"QKD device driver of a qkdn node: QKD-keys from simulated QKD module pairs or\n"
		"from real devices (ETSI GS QKD 014) into qkdn.ko (Kq-1), with each link's\n"
		"state, key rate and QBER (Mq).\n"
		"\n"
		"  -c, --config FILE       config file (default " DEFAULT_CONFIG ")\n"
		"  -s, --control PATH      control socket, overrides [node] control\n"
		"  -L, --log-level LEVEL   debug, info (default), warn or error\n"
		"  -f, --foreground        accepted; the daemon never forks anyway\n"
		"  -h, --help              this help\n"
		"\n"
		"Control commands (qkdn-qkdd ctl SOCKET ...): show; set LINK length-km KM;\n"
		"set LINK rate-cap-bps N; set LINK outage on|off; set LINK eavesdrop FRACTION;\n"
		"set LINK flood on|off.\n"
		"Signals: TERM/INT stop, USR1 logs counters, HUP (reload) not supported.\n");
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct qkdd *q = arg;
	struct timespec now;

	(void)fd;
	(void)what;
	clock_gettime(CLOCK_MONOTONIC, &now);
	for (size_t i = 0; i < q->n_links; i++) {
		struct qkdd_link *l = &q->links[i];

		qkdd_link_update(l);
		if (l->conf->role == QKDD_TX && l->conf->mode == QKDD_SIM)
			qkdd_sim_tick(l, &now);
	}
	if (q->stopping && qkdd_links_idle(q) && qkdd_mgr_idle(q))
		event_base_loopexit(q->base, NULL);
}

static void stop_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct qkdd *q = arg;

	(void)fd;
	(void)what;
	qkdn_log(QKDN_LOG_WARN, "batches still in flight at the deadline are dropped",
		 "event=stop-deadline");
	event_base_loopexit(q->base, NULL);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct qkdd *q = arg;
	struct timeval grace = { QKDD_STOP_GRACE_MS / 1000, (QKDD_STOP_GRACE_MS % 1000) * 1000 };

	(void)what;
	switch (sig) {
	case SIGTERM:
	case SIGINT:
		if (q->stopping)
			return;
		q->stopping = true;
		qkdn_log(QKDN_LOG_INFO, "stopping", "event=stopping signal=%s",
			 sig == SIGTERM ? "TERM" : "INT");
		q->stop_timer = evtimer_new(q->base, stop_timer_cb, q);
		if (!q->stop_timer || evtimer_add(q->stop_timer, &grace) ||
		    (qkdd_links_idle(q) && qkdd_mgr_idle(q)))
			event_base_loopexit(q->base, NULL);
		break;
	case SIGHUP:
		qkdn_log(QKDN_LOG_WARN, "reload not supported; restart to apply config changes "
			 "(run-time parameters: the control socket)", "event=sighup");
		break;
	case SIGUSR1:
		qkdd_log_stats(q, "SIGUSR1");
		break;
	}
}

static int add_signal(struct qkdd *q, struct event **ev, int sig)
{
	*ev = evsignal_new(q->base, sig, signal_cb, q);
	return *ev && evsignal_add(*ev, NULL) == 0 ? 0 : -1;
}

static void qkdd_free(struct qkdd *q)
{
	struct event **evs[] = { &q->sig_term, &q->sig_int, &q->sig_hup, &q->sig_usr1,
				 &q->stop_timer, &q->tick };

	qkdd_ctl_stop(q);
	qkdd_links_free(q);
	qkdd_mgr_stop(q);
	qkdd_etsi_stop(q);
	qkdd_kernel_stop(q);
	for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++) {
		if (*evs[i])
			event_free(*evs[i]);
		*evs[i] = NULL;
	}
	if (q->base)
		event_base_free(q->base);
	q->base = NULL;
	qkdd_config_free(&q->cfg);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "control", required_argument, NULL, 's' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *config = DEFAULT_CONFIG, *control = NULL;
	enum qkdn_log_level level = QKDN_LOG_INFO;
	static struct qkdd q;
	struct timeval tick = { 0, QKDD_TICK_MS * 1000 };
	char err[QKDN_CONFIG_ERR_LEN];
	int opt, ret;

	qkdn_log_init("qkdn-qkdd", QKDN_LOG_INFO);
	if (argc >= 2 && !strcmp(argv[1], "ctl"))
		return qkdd_ctl_client(argc - 2, argv + 2);
	while ((opt = getopt_long(argc, argv, "c:s:L:fh", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config = optarg;
			break;
		case 's':
			control = optarg;
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
	qkdn_daemon_start("qkdn-qkdd", level);

	if (qkdd_config_load(&q.cfg, config, err, sizeof(err)) < 0)
		qkdn_die("%s", err);
	if (control) {
		free(q.cfg.control);
		q.cfg.control = strdup(control);
		if (!q.cfg.control)
			qkdn_die("out of memory");
	}
	q.ctl_fd = -1;
	q.base = event_base_new();
	if (!q.base)
		qkdn_die("cannot create the event loop");
	ret = qkdd_kernel_start(&q);
	if (!ret)
		ret = qkdd_etsi_start(&q);
	if (!ret)
		ret = qkdd_links_start(&q);
	if (!ret)
		ret = qkdd_ctl_start(&q);
	if (!ret)
		ret = qkdd_mgr_start(&q);
	q.tick = event_new(q.base, -1, EV_PERSIST, tick_cb, &q);
	if (!ret && (!q.tick || evtimer_add(q.tick, &tick)))
		ret = -ENOMEM;
	if (!ret && (add_signal(&q, &q.sig_term, SIGTERM) || add_signal(&q, &q.sig_int, SIGINT) ||
		     add_signal(&q, &q.sig_hup, SIGHUP) || add_signal(&q, &q.sig_usr1, SIGUSR1)))
		ret = -ENOMEM;
	if (ret) {
		qkdd_free(&q);
		return 1;
	}
	qkdn_log(QKDN_LOG_INFO, "started", "event=started node=%u links=%zu control=%s",
		 q.cfg.node_id, q.n_links, q.cfg.control);

	event_base_dispatch(q.base);

	qkdd_log_stats(&q, "shutdown");
	qkdd_free(&q);
	qkdn_log(QKDN_LOG_INFO, "stopped", "event=stopped");
	return 0;
}
