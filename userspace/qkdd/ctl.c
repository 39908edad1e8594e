// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The control socket of qkdn-qkdd: AF_UNIX, SOCK_STREAM, mode 0600, one
 * command a line. A reply is zero or more lines of data, then "ok" or
 * "error: MESSAGE" on a line of its own.
 *
 *   show
 *       link ID role tx|rx mode sim|etsi014 state up|down|eavesdropped
 *            rate BIT/S qber FRACTION keys N bytes N [length-km KM
 *            rate-cap-bps N eavesdrop F outage on|off flood on|off]
 *   set LINK length-km KM | rate-cap-bps N (0: none) | outage on|off |
 *            eavesdrop FRACTION (0..1) | flood on|off
 *       (tx side of a link; length-km, rate-cap-bps and eavesdrop only
 *       for sim links)
 *
 * "qkdn-qkdd ctl SOCKET COMMAND..." is the client.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "log.h"
#include "qkdd.h"
#include "util.h"

#define LINE_MAX_LEN 512

static void show(struct qkdd *q, struct evbuffer *out)
{
	for (size_t i = 0; i < q->n_links; i++) {
		const struct qkdd_link *l = &q->links[i];
		const struct qkdd_link_conf *c = l->conf;

		evbuffer_add_printf(out, "link %u role %s mode %s state %s rate %" PRIu64
				    " qber %.4f keys %" PRIu64 " bytes %" PRIu64, l->id,
				    qkdd_role_name(c->role), qkdd_mode_name(c->mode),
				    qkdd_state_name(l->state), l->rate_bps, l->qber_ppm / 1e6,
				    l->keys, l->bytes);
		if (c->role == QKDD_TX && c->mode == QKDD_SIM)
			evbuffer_add_printf(out, " length-km %g model-rate %" PRIu64
					    " rate-cap-bps %" PRIu64 " eavesdrop %g",
					    l->model.length_km, qkdd_link_sim_rate(l),
					    l->rate_cap_bps, l->model.eavesdrop);
		if (c->role == QKDD_TX)
			evbuffer_add_printf(out, " outage %s flood %s", l->outage ? "on" : "off",
					    l->flood ? "on" : "off");
		evbuffer_add_printf(out, " kme-errors %" PRIu64 " push-errors %" PRIu64 "\n",
				    l->kme_errors, l->push_errors);
	}
}

static int on_off(const char *v, bool *out)
{
	if (!strcmp(v, "on"))
		*out = true;
	else if (!strcmp(v, "off"))
		*out = false;
	else
		return -EINVAL;
	return 0;
}

/* "set LINK WHAT VALUE": NULL on success, else the error. */
static const char *set(struct qkdd *q, char **argv, int argc, char *err, size_t err_len)
{
	struct qkdd_link *l;
	uint32_t id;
	bool b;
	double d;
	uint64_t u;

	if (argc != 4)
		return "usage: set LINK length-km KM | rate-cap-bps N | outage on|off | "
		       "eavesdrop FRACTION | flood on|off";
	if (qkdn_parse_u32(argv[1], 1, UINT32_MAX, &id) || !(l = qkdd_link_find(q, id))) {
		snprintf(err, err_len, "no link %s", argv[1]);
		return err;
	}
	if (l->conf->role != QKDD_TX) {
		snprintf(err, err_len, "link %u: this is its rx side; set parameters at the tx side",
			 id);
		return err;
	}
	if (!strcmp(argv[2], "outage") || !strcmp(argv[2], "flood")) {
		if (on_off(argv[3], &b))
			return "want on or off";
		if (!strcmp(argv[2], "outage"))
			l->outage = b;
		else
			l->flood = b;
	} else if (l->conf->mode != QKDD_SIM) {
		snprintf(err, err_len, "link %u: %s applies to simulated links only", id, argv[2]);
		return err;
	} else if (!strcmp(argv[2], "length-km")) {
		if (qkdd_parse_double(argv[3], 0, 1000, &d))
			return "length-km: want a number 0..1000";
		l->model.length_km = d;
	} else if (!strcmp(argv[2], "rate-cap-bps")) {
		if (qkdn_parse_u64(argv[3], 0, UINT64_MAX, &u))
			return "rate-cap-bps: want a decimal number (0: no cap)";
		l->rate_cap_bps = u;
	} else if (!strcmp(argv[2], "eavesdrop")) {
		if (qkdd_parse_double(argv[3], 0, 1, &d))
			return "eavesdrop: want a fraction 0..1";
		l->model.eavesdrop = d;
	} else {
		snprintf(err, err_len, "unknown parameter \"%.64s\"", argv[2]);
		return err;
	}
	qkdn_log(QKDN_LOG_INFO, "parameter set", "event=set link=%u %s=%s", id, argv[2], argv[3]);
	qkdd_link_update(l);
	return NULL;
}

static void command(struct qkdd *q, char *line, struct evbuffer *out)
{
	char *argv[8], *save = NULL, err[200];
	const char *e = NULL;
	int argc = 0;

	for (char *t = strtok_r(line, " \t\r", &save); t; t = strtok_r(NULL, " \t\r", &save)) {
		if (argc == (int)QKDN_ARRAY_SIZE(argv)) {
			evbuffer_add_printf(out, "error: too many words\n");
			return;
		}
		argv[argc++] = t;
	}
	if (argc == 0)
		e = "empty command (show, set)";
	else if (!strcmp(argv[0], "show") && argc == 1)
		show(q, out);
	else if (!strcmp(argv[0], "set"))
		e = set(q, argv, argc, err, sizeof(err));
	else
		e = "unknown command (show, set)";
	if (e)
		evbuffer_add_printf(out, "error: %s\n", e);
	else
		evbuffer_add_printf(out, "ok\n");
}

static void read_cb(struct bufferevent *bev, void *arg)
{
	struct qkdd *q = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;
	size_t n;

	while ((line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF))) {
		command(q, line, bufferevent_get_output(bev));
		free(line);
	}
	if (evbuffer_get_length(in) > LINE_MAX_LEN) {
		evbuffer_add_printf(bufferevent_get_output(bev), "error: line too long\n");
		evbuffer_drain(in, evbuffer_get_length(in));
	}
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)what;
	(void)arg;
	bufferevent_free(bev);
}

static void accept_cb(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa,
		      int len, void *arg)
{
	struct qkdd *q = arg;
	struct bufferevent *bev;

	(void)lis;
	(void)sa;
	(void)len;
	bev = bufferevent_socket_new(q->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		close(fd);
		return;
	}
	bufferevent_setcb(bev, read_cb, NULL, event_cb, q);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

int qkdd_ctl_start(struct qkdd *q)
{
	const char *path = q->cfg.control;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char *dir = strdup(path), *slash;
	mode_t old;
	int fd;

	if (!dir)
		return -ENOMEM;
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		mkdir(dir, 0755);	/* /run/qkdn; an error shows at bind() */
	}
	free(dir);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(path);	/* a stale socket of an earlier run */
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || chmod(path, 0600) < 0) {
		int err = errno;

		umask(old);
		close(fd);
		qkdn_log(QKDN_LOG_ERR, "cannot create the control socket",
			 "event=start-failed control=%s err=\"%s\"", path, strerror(err));
		return -err;
	}
	umask(old);
	q->ctl = evconnlistener_new(q->base, accept_cb, q, LEV_OPT_CLOSE_ON_FREE, 8, fd);
	if (!q->ctl) {
		close(fd);
		return -ENOMEM;
	}
	q->ctl_fd = fd;
	return 0;
}

void qkdd_ctl_stop(struct qkdd *q)
{
	if (q->ctl) {
		evconnlistener_free(q->ctl);
		unlink(q->cfg.control);
	}
	q->ctl = NULL;
}

int qkdd_ctl_client(int argc, char **argv)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char cmd[LINE_MAX_LEN], buf[4096];
	size_t len = 0, have = 0;
	FILE *in;
	int fd;

	if (argc < 2) {
		fprintf(stderr, "usage: qkdn-qkdd ctl SOCKET COMMAND...\n"
				"  commands: show | set LINK length-km KM | set LINK rate-cap-bps N |\n"
				"            set LINK outage on|off | set LINK eavesdrop FRACTION |\n"
				"            set LINK flood on|off\n");
		return 2;
	}
	if (strlen(argv[0]) >= sizeof(sun.sun_path))
		qkdn_die("%s: socket path too long", argv[0]);
	for (int i = 1; i < argc; i++) {
		int n = snprintf(cmd + len, sizeof(cmd) - len, "%s%s", i > 1 ? " " : "", argv[i]);

		if (n < 0 || (size_t)n >= sizeof(cmd) - len - 1)
			qkdn_die("command too long");
		len += (size_t)n;
	}
	cmd[len++] = '\n';
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", argv[0]);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		qkdn_die_err(errno, "%s", argv[0]);
	if (qkdn_write_full(fd, cmd, len))
		qkdn_die_err(errno, "%s: write", argv[0]);
	in = fdopen(fd, "r");
	if (!in)
		qkdn_die_err(errno, "fdopen");
	while (fgets(buf + have, (int)(sizeof(buf) - have), in)) {
		if (!strchr(buf, '\n') && !feof(in)) {
			have = strlen(buf);
			if (have < sizeof(buf) - 1)
				continue;
		}
		have = 0;
		buf[strcspn(buf, "\n")] = '\0';
		if (!strcmp(buf, "ok")) {
			fclose(in);
			return 0;
		}
		if (!strncmp(buf, "error: ", 7))
			qkdn_die("%s", buf + 7);
		puts(buf);
	}
	qkdn_die("%s: connection closed before the reply ended", argv[0]);
}
