// SPDX-License-Identifier: GPL-2.0 OR MIT
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <linux/qkdn.h>

#include "cli.h"
#include "log.h"

static const char *alarm_name(uint32_t a)
{
	switch (a) {
	case QKDN_ALARM_POOL_LOW:
		return "pool-low";
	case QKDN_ALARM_POOL_LOW_CLEARED:
		return "pool-low-cleared";
	case QKDN_ALARM_POOL_HIGH:
		return "pool-high";
	case QKDN_ALARM_POOL_FULL:
		return "pool-full";
	case QKDN_ALARM_RELAY_FAILED:
		return "relay-failed";
	case QKDN_ALARM_KSA_MISMATCH:
		return "ksa-mismatch";
	case QKDN_ALARM_QKD_DOWN:
		return "qkd-down";
	case QKDN_ALARM_QKD_EAVESDROP:
		return "qkd-eavesdrop";
	case QKDN_ALARM_QKD_UP:
		return "qkd-up";
	default:
		return NULL;
	}
}

struct monitor {
	bool json;
	uint64_t seen, count;	/* count 0: until a signal */
};

/* A relay alarm names the relay and its destination, not a link. */
static void print_relay_alarm(const struct monitor *m, const char *name, uint32_t node,
			      const struct nlattr *const *tb)
{
	uint32_t dest = 0;
	uint64_t relay = 0;
	char relay_id[17];

	qkdn_nla_u32(tb[QKDN_A_DEST_NODE_ID], &dest);
	qkdn_nla_u64(tb[QKDN_A_RELAY_ID], &relay);
	snprintf(relay_id, sizeof(relay_id), "%016" PRIx64, relay);
	if (m->json && tb[QKDN_A_RELAY_ID])
		cli_json_print(json_pack("{s:s, s:I, s:I, s:s}", "alarm", name,
					 "node", (json_int_t)node, "dest", (json_int_t)dest,
					 "relay_id", relay_id));
	else if (m->json)
		cli_json_print(json_pack("{s:s, s:I, s:I}", "alarm", name,
					 "node", (json_int_t)node, "dest", (json_int_t)dest));
	else if (tb[QKDN_A_RELAY_ID])
		printf("alarm %s node %u dest %u relay %s\n", name, node, dest, relay_id);
	else
		printf("alarm %s node %u dest %u\n", name, node, dest);
}

static int alarm_cb(const struct nlmsghdr *nlh, void *data)
{
	struct monitor *m = data;
	const struct nlattr *tb[QKDN_A_MAX + 1];
	uint32_t alarm = 0, node = 0, link = 0;
	struct cli_stats st;
	const char *name;
	char unknown[32];

	if (qkdn_nl_cmd(nlh) != QKDN_CMD_ALARM || qkdn_nl_parse(nlh, tb, QKDN_A_MAX) < 0)
		return 0;
	qkdn_nla_u32(tb[QKDN_A_ALARM], &alarm);
	qkdn_nla_u32(tb[QKDN_A_NODE_ID], &node);
	qkdn_nla_u32(tb[QKDN_A_LINK_ID], &link);
	cli_stats_parse(tb[QKDN_A_LINK_STATS], &st);
	name = alarm_name(alarm);
	if (!name) {
		snprintf(unknown, sizeof(unknown), "unknown-%u", alarm);
		name = unknown;
	}
	if (alarm == QKDN_ALARM_RELAY_FAILED || alarm == QKDN_ALARM_KSA_MISMATCH) {
		print_relay_alarm(m, name, node, tb);
	} else if (m->json) {
		cli_json_print(json_pack("{s:s, s:I, s:I, s:o}", "alarm", name,
					 "node", (json_int_t)node, "link", (json_int_t)link,
					 "stats", cli_stats_json(&st)));
	} else {
		printf("alarm %s node %u link %u", name, node, link);
		if (st.present & (1U << QKDN_STAT_A_ENC_AVAILABLE))
			printf(" enc-available %llu",
			       (unsigned long long)st.v[QKDN_STAT_A_ENC_AVAILABLE]);
		if (alarm >= QKDN_ALARM_QKD_DOWN && alarm <= QKDN_ALARM_QKD_UP) {
			uint64_t rate = 0;
			uint32_t qber = 0;

			qkdn_nla_u64(tb[QKDN_A_QKD_KEY_RATE], &rate);
			qkdn_nla_u32(tb[QKDN_A_QKD_QBER], &qber);
			printf(" rate %llu qber %.4f", (unsigned long long)rate, qber / 1e6);
		}
		printf("\n");
	}
	if (!m->json && fflush(stdout) == EOF)
		qkdn_die_err(errno, "monitor: write");
	m->seen++;
	return m->count && m->seen >= m->count ? 1 : 0;
}

static int monitor_run(struct cli *cli, int argc, char **argv)
{
	const char *what = "monitor";
	struct monitor m = { .json = cli->json };
	bool have_count = false;
	struct pollfd pfd[2];
	sigset_t mask;
	int err, sfd;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "count")) {
			cli_once(what, "count", &have_count);
			m.count = cli_u64(cli_value(what, argc, argv, &i), "count");
			if (m.count == 0)
				qkdn_die("%s: count must be at least 1", what);
		} else {
			cli_unknown_arg(what, argv[i]);
		}
	}

	/* Signals arrive through a signalfd, polled with the socket: no
	 * window where a SIGTERM is taken but the loop goes back to sleep. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		qkdn_die_err(errno, "%s: sigprocmask", what);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0)
		qkdn_die_err(errno, "%s: signalfd", what);

	err = qkdn_nl_join_group(cli_nl(cli), QKDN_MCGRP_ALARM);
	if (err == -ENOENT)
		qkdn_die("%s: family \"%s\" has no \"%s\" multicast group", what,
			 QKDN_GENL_NAME, QKDN_MCGRP_ALARM);
	if (err)
		qkdn_die_err(err, "%s: joining group \"%s\"", what, QKDN_MCGRP_ALARM);

	pfd[0] = (struct pollfd){ .fd = qkdn_nl_fd(cli->nl), .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = sfd, .events = POLLIN };
	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			qkdn_die_err(errno, "%s: poll", what);
		}
		if (pfd[1].revents)
			break;
		if (!pfd[0].revents)
			continue;
		err = qkdn_nl_recv_notifications(cli->nl, alarm_cb, &m);
		if (err == 1)
			break;
		if (err == -ENOBUFS) {
			/* The kernel dropped events: say so, keep listening. */
			qkdn_warn_err(err, "%s: events lost", what);
			continue;
		}
		if (err && err != -EINTR && err != -EAGAIN)
			qkdn_die_err(err, "%s", what);
	}
	close(sfd);
	return 0;
}

static const struct cli_cmd monitor_cmd = {
	NULL, "[count N]",
	"print alarms (pool-low, pool-low-cleared, pool-high, pool-full, relay-failed, ksa-mismatch, "
	"qkd-down, qkd-eavesdrop, qkd-up) "
	"until SIGINT/SIGTERM or N events", monitor_run,
};

const struct cli_object cli_monitor = {
	.name = "monitor", .help = "watch the alarm multicast group", .single = &monitor_cmd,
};

static int ping_run(struct cli *cli, int argc, char **argv)
{
	const char *what = "ping";
	struct qkdn_nl_msg *msg;
	struct timespec t0, t1;
	bool have_count = false;
	uint64_t count = 1;
	double secs;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "count")) {
			cli_once(what, "count", &have_count);
			count = cli_u64(cli_value(what, argc, argv, &i), "count");
			if (count == 0)
				qkdn_die("%s: count must be at least 1", what);
		} else {
			cli_unknown_arg(what, argv[i]);
		}
	}
	msg = cli_msg(QKDN_CMD_PING);
	cli_nl(cli);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (uint64_t i = 0; i < count; i++)
		cli_request(cli, what, msg, NULL, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	qkdn_nl_msg_free(msg);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("%llu round trips in %.6f s: %.0f/s\n", (unsigned long long)count, secs,
	       secs > 0 ? (double)count / secs : 0.0);
	return 0;
}

static const struct cli_cmd ping_cmd = {
	NULL, "[count N]", "N netlink round trips (default 1), with the rate", ping_run,
};

const struct cli_object cli_ping = {
	.name = "ping", .help = "measure the netlink round trip", .single = &ping_cmd,
};
