// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * qkdn-secd: IPsec or MACsec between two security gateways, keyed from
 * the QKD network (see secd.h, Documentation/ipsec-macsec.rst).
 *
 *   qkdn-secd [--config FILE] [--log-level LEVEL] [--foreground] [--help]
 *
 * Start-up, in order, each step fatal: read the config; load the TLS
 * certificate, key and CA; open the qkdn family, read the node's ID and
 * check both SAEs are registered as they must be; take over the data
 * plane (flush the xfrm states of our reqid, or find or create the macsec
 * device); dial the peer or listen. Nothing is programmed for traffic
 * before a verified peer agreed on the first generation.
 *
 * Signals: TERM/INT delete every SA (and policy, and a device the daemon
 * created) and exit 0; USR1 logs the counters; HUP: reload is not
 * supported.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "secd.h"
#include "tls.h"

#define DEFAULT_CONFIG "/etc/qkdn/secd.conf"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: qkdn-secd [--config FILE] [--log-level LEVEL] [--foreground] [--help]\n"
		"\n"
		"IPsec (ESP tunnel) or MACsec between two security gateways, keyed and\n"
		"rekeyed with QKD keys of the gateways' qkdn nodes, or QKD keys as IKEv2\n"
		"PPKs (RFC 8784) of the gateways' strongSwan.\n"
		"\n"
		"  -c, --config FILE       config file (default " DEFAULT_CONFIG ")\n"
		"  -L, --log-level LEVEL   debug, info (default), warn or error\n"
		"  -f, --foreground        accepted; the daemon never forks anyway\n"
		"  -h, --help              this help\n"
		"\n"
		"Signals: TERM/INT remove every SA and stop, USR1 logs counters.\n");
}

void secd_log_stats(struct secd *s, const char *why)
{
	qkdn_log(QKDN_LOG_INFO, "counters",
		 "event=stats why=%s gen=%u rekeys=%" PRIu64 " rekey_failures=%" PRIu64
		 " keys_fetched=%" PRIu64 " deleted=%" PRIu64 " refused_conns=%" PRIu64
		 " protocol_errors=%" PRIu64,
		 why, s->active_gen, s->stats.rekeys, s->stats.rekey_failures,
		 s->stats.keys_fetched, s->stats.deleted, s->stats.refused_conns,
		 s->stats.protocol_errors);
}

static int node_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *tb[QKDN_A_MAX + 1];

	if (qkdn_nl_parse(nlh, tb, QKDN_A_MAX) < 0 || !qkdn_nla_u32(tb[QKDN_A_NODE_ID], data))
		return -EBADMSG;
	return 0;
}

static int node_start(struct secd *s)
{
	struct qkdn_nl_msg *msg;
	char reason[256];
	int ret;

	ret = qkdn_nl_open(&s->nl);
	if (ret) {
		qkdn_log(QKDN_LOG_ERR, "cannot reach the qkdn node", "event=start-failed err=%s%s",
			 strerrorname_np(-ret), ret == -ENOENT ? " hint=\"qkdn.ko not loaded\"" : "");
		return ret;
	}
	msg = qkdn_nl_msg_new(QKDN_CMD_NODE_GET, 0);
	ret = msg ? qkdn_nl_request(s->nl, msg, node_cb, &s->node_id) : -ENOMEM;
	qkdn_nl_msg_free(msg);
	if (!ret && !s->node_id)
		ret = -ENODATA;
	if (ret) {
		qkdn_log(QKDN_LOG_ERR, "node has no ID", "event=start-failed err=%s",
			 strerrorname_np(-ret));
		return ret;
	}
	ret = secd_keys_check_saes(s, reason, sizeof(reason));
	if (ret)
		qkdn_log(QKDN_LOG_ERR, "SAEs not registered as they must be",
			 "event=start-failed reason=\"%s\"", reason);
	return ret;
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct secd *s = arg;

	(void)what;
	switch (sig) {
	case SIGTERM:
	case SIGINT:
		qkdn_log(QKDN_LOG_INFO, "stopping", "event=stopping signal=%s",
			 sig == SIGTERM ? "TERM" : "INT");
		event_base_loopexit(s->base, NULL);
		break;
	case SIGUSR1:
		secd_log_stats(s, "SIGUSR1");
		break;
	case SIGHUP:
		qkdn_log(QKDN_LOG_WARN, "reload not supported; restart to apply changes",
			 "event=sighup");
		break;
	}
}

static int add_signal(struct secd *s, struct event **ev, int sig)
{
	*ev = evsignal_new(s->base, sig, signal_cb, s);
	return *ev && evsignal_add(*ev, NULL) == 0 ? 0 : -1;
}

static void secd_free(struct secd *s)
{
	struct event **sigs[] = { &s->sig_term, &s->sig_int, &s->sig_usr1, &s->sig_hup };

	secd_ctl_stop(s);
	/* SAs and policies go before the device and the sockets. */
	if (s->dp_priv)
		secd_gen_remove_all(s);
	if (s->dp)
		s->dp->stop(s);
	for (size_t i = 0; i < QKDN_ARRAY_SIZE(sigs); i++) {
		if (*sigs[i])
			event_free(*sigs[i]);
		*sigs[i] = NULL;
	}
	qkdn_nl_close(s->nl);
	s->nl = NULL;
	SSL_CTX_free(s->tls);
	s->tls = NULL;
	if (s->base)
		event_base_free(s->base);
	s->base = NULL;
	qkdn_secd_config_free(&s->cfg);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *config = DEFAULT_CONFIG;
	enum qkdn_log_level level = QKDN_LOG_INFO;
	static struct secd s;
	char err[QKDN_CONFIG_ERR_LEN];
	int opt, ret;

	qkdn_log_init("qkdn-secd", QKDN_LOG_INFO);
	while ((opt = getopt_long(argc, argv, "c:L:fh", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config = optarg;
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
	qkdn_daemon_start("qkdn-secd", level);

	if (qkdn_secd_config_load(&s.cfg, config, err, sizeof(err)) < 0)
		qkdn_die("%s", err);
	s.initiator = s.cfg.peer_len != 0;
	s.dp = s.cfg.kind == QKDN_SECD_IPSEC ? &secd_xfrm_ops
	       : s.cfg.kind == QKDN_SECD_MACSEC ? &secd_macsec_ops : &secd_ppk_ops;
	/* rfc4106(gcm(aes)): a 256-bit key and a 32-bit salt; MACsec: the
	 * cipher's key; PPK: 256 bits. */
	s.key_len = s.cfg.kind == QKDN_SECD_IPSEC ? 32 + 4
		    : s.cfg.kind == QKDN_SECD_MACSEC ? s.cfg.macsec.key_bits / 8 : SECD_PPK_LEN;
	s.tls = qkdn_tls_ctx_new(s.cfg.cert, s.cfg.key, s.cfg.ca, err, sizeof(err));
	if (!s.tls)
		qkdn_die("%s", err);
	s.base = event_base_new();
	if (!s.base)
		qkdn_die("cannot create the event loop");

	ret = node_start(&s);
	if (!ret)
		ret = s.dp->start(&s);
	if (!ret)
		ret = secd_ctl_start(&s);
	if (!ret && (add_signal(&s, &s.sig_term, SIGTERM) || add_signal(&s, &s.sig_int, SIGINT) ||
		     add_signal(&s, &s.sig_usr1, SIGUSR1) || add_signal(&s, &s.sig_hup, SIGHUP)))
		ret = -ENOMEM;
	if (ret) {
		/* The reason is logged above. */
		secd_free(&s);
		return 1;
	}
	qkdn_log(QKDN_LOG_INFO, "started",
		 "event=started node=%u sae=%s peer_sae=%s mode=%s role=%s %s=%s rekey_s=%u grace_ms=%u",
		 s.node_id, s.cfg.sae, s.cfg.peer_sae, s.dp->name,
		 s.initiator ? "initiator" : "responder", s.initiator ? "peer" : "listen",
		 s.initiator ? s.cfg.peer_str : s.cfg.listen_str, s.cfg.rekey_seconds,
		 s.cfg.grace_ms);

	event_base_dispatch(s.base);

	secd_log_stats(&s, "shutdown");
	secd_free(&s);
	qkdn_log(QKDN_LOG_INFO, "stopped", "event=stopped");
	return 0;
}
