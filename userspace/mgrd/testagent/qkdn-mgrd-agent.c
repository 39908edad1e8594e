// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * qkdn-mgrd-agent: a management agent for tests and benchmarks, on
 * lib/mgmt.c exactly as the daemons use it.
 *
 *   qkdn-mgrd-agent -m ADDR:PORT -C CERT -K KEY -A CA -n CN -i ID -k km|qkd|ctl
 *                   [--load N] [--linger] [--timeout S] [--diag TEXT] < SCRIPT
 *
 * SCRIPT has one notification a line, "CMD RESOURCE NAME=VALUE...": CMD is
 * alarm, perf, config, account, security, key or resilience; NAME is an
 * attribute's name without its M_ prefix, in any case (alarm_type,
 * severity, peer_node_id, key_id, ...); VALUE a number, a string, or for
 * key_id a UUID or 32 hex digits. --load N adds N performance records.
 * The agent sends them all and exits 0 once the manager acknowledged every
 * one (1 after --timeout seconds, default 60), printing its counters;
 * --linger keeps it running until SIGTERM. As the controller (-k ctl) it
 * accepts every M_CONTROL and records the reroute it stands for (an
 * M_RESILIENCE reroute of the resource).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hex.h"
#include "log.h"
#include "mgmt.h"
#include "util.h"

static struct event_base *base;
static struct qkdn_mgmt *mg;
static bool linger;
static const char *diag_text = "no detections on the quantum channel: fibre cut suspected";

static const struct {
	const char *name;
	uint16_t cmd;
} cmds[] = {
	{ "alarm", QKDN_W_CMD_M_ALARM }, { "perf", QKDN_W_CMD_M_PERF },
	{ "config", QKDN_W_CMD_M_CONFIG }, { "account", QKDN_W_CMD_M_ACCOUNT },
	{ "security", QKDN_W_CMD_M_SECURITY }, { "key", QKDN_W_CMD_M_KEY_EVENT },
	{ "resilience", QKDN_W_CMD_M_RESILIENCE },
};

static int put_attr(struct qkdn_wire_msg *m, uint16_t cmd, const char *name, const char *value)
{
	const struct qkdn_wire_attr_policy *pol = qkdn_wire_mgmt_policy.cmds[cmd].command;
	uint8_t id[QKDN_KEY_ID_LEN];
	uint64_t v;

	for (uint16_t t = 1; t <= QKDN_W_MAX; t++) {
		const char *an = qkdn_wire_attr_name(t);

		if (!strncmp(an, "M_", 2))
			an += 2;
		if (strcasecmp(an, name))
			continue;
		if (pol[t].type == QKDN_WT_STRING) {
			qkdn_wire_put_str(m, t, value);
			return 0;
		}
		if (pol[t].type == QKDN_WT_BINARY) {
			if (qkdn_uuid_parse(id, value) < 0 &&
			    qkdn_hex_decode(id, sizeof(id), value, strlen(value)) != sizeof(id))
				return -EINVAL;
			qkdn_wire_put_bin(m, t, id, sizeof(id));
			return 0;
		}
		if (qkdn_parse_u64(value, 0, UINT64_MAX, &v))
			return -EINVAL;
		switch (pol[t].type) {
		case QKDN_WT_U8: qkdn_wire_put_u8(m, t, (uint8_t)v); return 0;
		case QKDN_WT_U16: qkdn_wire_put_u16(m, t, (uint16_t)v); return 0;
		case QKDN_WT_U32: qkdn_wire_put_u32(m, t, (uint32_t)v); return 0;
		case QKDN_WT_U64: qkdn_wire_put_u64(m, t, v); return 0;
		default: return -EINVAL;	/* not allowed in cmd */
		}
	}
	return -ENOENT;
}

static int script_line(char *line, unsigned int n)
{
	char *save = NULL, *word = strtok_r(line, " \t\n", &save), *res;
	struct qkdn_wire_msg *m;
	uint16_t cmd = 0;

	if (!word || *word == '#')
		return 0;
	for (size_t i = 0; i < QKDN_ARRAY_SIZE(cmds); i++)
		if (!strcmp(cmds[i].name, word))
			cmd = cmds[i].cmd;
	res = strtok_r(NULL, " \t\n", &save);
	if (!cmd || !res) {
		fprintf(stderr, "line %u: want \"CMD RESOURCE NAME=VALUE...\"\n", n);
		return -EINVAL;
	}
	m = qkdn_mgmt_begin(mg, cmd, res);
	while ((word = strtok_r(NULL, " \t\n", &save))) {
		char *eq = strchr(word, '=');

		if (!eq || (*eq = '\0', put_attr(m, cmd, word, eq + 1) < 0)) {
			fprintf(stderr, "line %u: bad attribute \"%s\"\n", n, word);
			qkdn_wire_msg_free(m);
			return -EINVAL;
		}
	}
	return qkdn_mgmt_send(mg, m);
}

static int diag(void *arg, const char *resource, uint8_t *state, char *info, size_t len)
{
	(void)arg;
	(void)resource;
	*state = QKDN_W_STATE_OUT_OF_SERVICE;
	snprintf(info, len, "%s", diag_text);
	return 0;
}

static int control(void *arg, const struct nlattr *const *tb, char *reason, size_t len)
{
	const char *res = qkdn_wire_get_str(tb[QKDN_W_M_RESOURCE_ID]);
	struct qkdn_wire_msg *m = qkdn_mgmt_begin(mg, QKDN_W_CMD_M_RESILIENCE, res);

	(void)arg;
	(void)reason;
	(void)len;
	printf("control action=%llu type=%u value=\"%s\"\n",
	       (unsigned long long)qkdn_wire_get_u64(tb[QKDN_W_M_ACTION_ID]),
	       qkdn_wire_get_u8(tb[QKDN_W_M_ACTION_TYPE]),
	       qkdn_wire_get_str(tb[QKDN_W_M_ACTION_VALUE]));
	fflush(stdout);
	if (!m)
		return -ENOMEM;
	qkdn_wire_put_u8(m, QKDN_W_M_RESIL_KIND, QKDN_W_RESIL_ROUTE);
	qkdn_wire_put_u8(m, QKDN_W_M_RESIL_OP, QKDN_W_RESIL_OP_REROUTE);
	qkdn_wire_put_str(m, QKDN_W_M_WORKING, res);
	qkdn_wire_put_str(m, QKDN_W_M_PROTECTION, "rerouted");
	return qkdn_mgmt_send(mg, m);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (!linger && qkdn_mgmt_idle(mg))
		event_base_loopexit(base, NULL);
}

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	*(bool *)arg = true;
	event_base_loopexit(base, NULL);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "manager", required_argument, NULL, 'm' }, { "cert", required_argument, NULL, 'C' },
		{ "key", required_argument, NULL, 'K' }, { "ca", required_argument, NULL, 'A' },
		{ "cn", required_argument, NULL, 'n' }, { "id", required_argument, NULL, 'i' },
		{ "kind", required_argument, NULL, 'k' }, { "load", required_argument, NULL, 'l' },
		{ "linger", no_argument, NULL, 'g' }, { "timeout", required_argument, NULL, 't' },
		{ "diag", required_argument, NULL, 'd' }, { NULL, 0, NULL, 0 },
	};
	struct qkdn_mgmt_conf conf = { 0 };
	struct qkdn_mgmt_ident ident = { .hostname = "test-agent" };
	struct qkdn_mgmt_handlers h = { .diag = diag, .control = control };
	struct qkdn_mgmt_stats st;
	char err[512], *line = NULL;
	const char *manager = NULL;
	uint32_t timeout = 60, load = 0;
	size_t cap = 0;
	unsigned int n = 0;
	bool stopped = false, timed_out = false;
	struct event *tick, *ev_timeout, *ev_term;
	struct timeval tv = { 0, 20000 }, tvt;
	int opt;

	qkdn_daemon_start("qkdn-mgrd-agent", QKDN_LOG_WARN);
	while ((opt = getopt_long(argc, argv, "m:C:K:A:n:i:k:l:gt:d:", opts, NULL)) != -1) {
		switch (opt) {
		case 'm': manager = optarg; break;
		case 'C': conf.cert = optarg; break;
		case 'K': conf.key = optarg; break;
		case 'A': conf.ca = optarg; break;
		case 'n': ident.cn = optarg; break;
		case 'i':
			if (qkdn_parse_u32(optarg, 1, UINT32_MAX, &ident.sender_id))
				qkdn_die("--id: \"%s\" is not a node ID", optarg);
			break;
		case 'k':
			ident.kind = !strcmp(optarg, "km") ? QKDN_W_AGENT_KM :
				     !strcmp(optarg, "qkd") ? QKDN_W_AGENT_QKD :
				     !strcmp(optarg, "ctl") ? QKDN_W_AGENT_CTL : 0;
			if (!ident.kind)
				qkdn_die("--kind: want km, qkd or ctl");
			break;
		case 'l':
			if (qkdn_parse_u32(optarg, 0, 100000000, &load))
				qkdn_die("--load: \"%s\" is not a count", optarg);
			break;
		case 'g': linger = true; break;
		case 't':
			if (qkdn_parse_u32(optarg, 1, 86400, &timeout))
				qkdn_die("--timeout: \"%s\" is not 1..86400 seconds", optarg);
			break;
		case 'd': diag_text = optarg; break;
		default: return 2;
		}
	}
	if (!manager || !conf.cert || !conf.key || !conf.ca || !ident.cn || !ident.kind)
		qkdn_die("need --manager, --cert, --key, --ca, --cn and --kind");
	if (ident.kind == QKDN_W_AGENT_CTL)
		ident.sender_id = QKDN_W_CONTROLLER_ID;
	if (qkdn_parse_sockaddr(manager, &conf.address, &conf.address_len) < 0)
		qkdn_die("--manager: \"%s\" is not a numeric ADDR:PORT", manager);
	snprintf(conf.address_str, sizeof(conf.address_str), "%s", manager);
	conf.enabled = true;
	conf.queue_max = QKDN_MGMT_QUEUE_MAX;
	base = event_base_new();
	mg = base ? qkdn_mgmt_new(base, &conf, &ident, &h, err, sizeof(err)) : NULL;
	if (!mg)
		qkdn_die("%s", base ? err : "out of memory");
	while (getline(&line, &cap, stdin) >= 0)
		if (script_line(line, ++n) < 0)
			qkdn_die("script line %u refused", n);
	free(line);
	for (uint32_t i = 0; i < load; i++) {
		char target[32];

		snprintf(target, sizeof(target), "load-%u", i % 64);
		if (qkdn_mgmt_perf(mg, "qkd-link-load", QKDN_W_PERF_KEY_RATE, target, i, 0) < 0)
			qkdn_die("cannot queue notification %u", i);
	}
	tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
	ev_timeout = evtimer_new(base, stop_cb, &timed_out);
	ev_term = evsignal_new(base, SIGTERM, stop_cb, &stopped);
	tvt.tv_sec = timeout;
	tvt.tv_usec = 0;
	event_add(tick, &tv);
	if (!linger)
		evtimer_add(ev_timeout, &tvt);
	evsignal_add(ev_term, NULL);
	event_base_dispatch(base);
	qkdn_mgmt_get_stats(mg, &st);
	printf("agent %s: acked_seq=%llu queued=%zu sent=%llu resent=%llu busy=%llu dropped=%llu "
	       "refused=%llu connects=%llu\n", ident.cn, (unsigned long long)st.acked_seq,
	       st.queued, (unsigned long long)st.sent, (unsigned long long)st.resent,
	       (unsigned long long)st.busy, (unsigned long long)st.dropped,
	       (unsigned long long)st.refused, (unsigned long long)st.connects);
	qkdn_mgmt_free(mg);
	event_free(tick);
	event_free(ev_timeout);
	event_free(ev_term);
	event_base_free(base);
	return timed_out ? 1 : 0;
}
