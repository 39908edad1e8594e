// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The control socket of a running qkdn-ctld: a UNIX stream socket (mode
 * 0600, [controller] control, default /run/qkdn-ctld.sock). A client
 * sends one line, "COMMAND [ARGS...]", and reads one JSON object until
 * the daemon closes: {"ok": true, ...} or {"error": "..."}.
 *
 *   kms                       the KMs: connected, state, stores
 *   links                     the links: state, fault, keys, QBER, rates
 *   sessions                  sessions: ends, priority, paths, reroutes
 *   routes                    the entries each KM holds (as pushed)
 *   events                    the last 256 events
 *   all                       all of the above
 *   mgr                       the manager connection (Mc): counters, the
 *                             last decision, each link's hold and the
 *                             manager's support information (10.7)
 *   link-state A B STATE      admin state of link A-B (in-service,
 *                             out-of-service, standby, reserved); reroutes
 *   km-state ID STATE         the same for a KM
 *   reroute                   recompute every session now
 *   revoke node ID | qkd ID | app CN | mgr
 *                             revoke (as `qkdn-ctld revoke`), push the CRL,
 *                             close the revoked entity's connections
 *   reload-crl                re-read crl.pem (as SIGHUP)
 *
 * `qkdn-ctld ctl [--socket PATH] COMMAND [ARGS...]` is the client.
 */
#include <errno.h>
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
#include "net.h"
#include "util.h"

#define LINE_MAX_BYTES 512

static json_t *error_json(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static json_t *error_json(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return json_pack("{s:s}", "error", buf);
}

static json_t *ok_json(void)
{
	return json_pack("{s:b}", "ok", 1);
}

static int parse_node(const char *s, uint32_t *id)
{
	return s ? qkdn_parse_u32(s, 1, QKDN_NODE_ID_MAX, id) : -EINVAL;
}

static json_t *run_command(struct ctld *c, char *line)
{
	char *argv[8], *save = NULL, err[512];
	int argc = 0, ret;
	uint32_t a, b;
	json_t *o;

	for (char *t = strtok_r(line, " \t", &save); t && argc < 8; t = strtok_r(NULL, " \t", &save))
		argv[argc++] = t;
	if (!argc)
		return error_json("empty command");
	if (!strcmp(argv[0], "kms") || !strcmp(argv[0], "links") ||
	    !strcmp(argv[0], "sessions") || !strcmp(argv[0], "routes") ||
	    !strcmp(argv[0], "events") || !strcmp(argv[0], "all")) {
		bool all = !strcmp(argv[0], "all");

		if (argc != 1)
			return error_json("%s takes no arguments", argv[0]);
		o = ok_json();
		if (all || !strcmp(argv[0], "kms"))
			json_object_set_new(o, "kms", ctld_json_kms(c));
		if (all || !strcmp(argv[0], "links"))
			json_object_set_new(o, "links", ctld_json_links(c));
		if (all || !strcmp(argv[0], "sessions"))
			json_object_set_new(o, "sessions", ctld_json_sessions(c));
		if (all || !strcmp(argv[0], "routes"))
			json_object_set_new(o, "routes", ctld_json_routes(c));
		if (all || !strcmp(argv[0], "events"))
			json_object_set_new(o, "events", ctld_json_events(c));
		return o;
	}
	if (!strcmp(argv[0], "mgr") && argc == 1) {
		o = ok_json();
		json_object_set_new(o, "mgr", ctld_mgr_json(c));
		return o;
	}
	if (!strcmp(argv[0], "link-state")) {
		int st = argc == 4 ? qkdn_topo_state_parse(argv[3]) : -EINVAL;

		if (argc != 4 || parse_node(argv[1], &a) || parse_node(argv[2], &b) || st < 0)
			return error_json("usage: link-state A B in-service|out-of-service|standby|reserved");
		ret = ctld_set_link_state(c, a, b, st);
		return ret ? error_json("no link %u-%u", a, b) : ok_json();
	}
	if (!strcmp(argv[0], "km-state")) {
		int st = argc == 3 ? qkdn_topo_state_parse(argv[2]) : -EINVAL;

		if (argc != 3 || parse_node(argv[1], &a) || st < 0)
			return error_json("usage: km-state ID in-service|out-of-service|standby|reserved");
		ret = ctld_set_km_state(c, a, st);
		return ret ? error_json("no KM %u", a) : ok_json();
	}
	if (!strcmp(argv[0], "reroute") && argc == 1) {
		ctld_reroute_all(c, "admin");
		return ok_json();
	}
	if (!strcmp(argv[0], "reload-crl") && argc == 1) {
		ret = ctld_reload_crl(c, err, sizeof(err));
		return ret ? error_json("%s", err) : ok_json();
	}
	if (!strcmp(argv[0], "revoke")) {
		enum ctld_kind kind;
		const char *app = NULL;

		a = 0;
		if (argc == 3 && !strcmp(argv[1], "node") && !parse_node(argv[2], &a))
			kind = CTLD_KIND_NODE;
		else if (argc == 3 && !strcmp(argv[1], "qkd") && !parse_node(argv[2], &a))
			kind = CTLD_KIND_QKD;
		else if (argc == 3 && !strcmp(argv[1], "app"))
			kind = CTLD_KIND_APP, app = argv[2];
		else if (argc == 2 && !strcmp(argv[1], "mgr"))
			kind = CTLD_KIND_MGR;
		else
			return error_json("usage: revoke node ID | qkd ID | app CN | mgr");
		ret = ctld_pki_revoke(c->cfg->state_dir, kind, a, app, err, sizeof(err));
		if (ret)
			return error_json("%s", err);
		qkdn_log(QKDN_LOG_INFO, "revoked", "event=revoked what=%s id=%u", argv[1], a);
		ctld_event(c, "revoke", "%s %s", argv[1], argc == 3 ? argv[2] : "");
		ret = ctld_reload_crl(c, err, sizeof(err));
		return ret ? error_json("%s", err) : ok_json();
	}
	return error_json("unknown command \"%s\" (kms, links, sessions, routes, events, all, mgr, link-state, km-state, reroute, revoke, reload-crl)",
			  argv[0]);
}

static void ctl_write_cb(struct bufferevent *bev, void *arg)
{
	(void)arg;
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		bufferevent_free(bev);
}

static void ctl_event_cb(struct bufferevent *bev, short events, void *arg)
{
	(void)events;
	(void)arg;
	bufferevent_free(bev);
}

static void ctl_read_cb(struct bufferevent *bev, void *arg)
{
	struct ctld *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t n;
	char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF);
	json_t *o;
	char *s;

	if (!line) {
		if (evbuffer_get_length(in) > LINE_MAX_BYTES)
			bufferevent_free(bev);
		return;
	}
	o = n > LINE_MAX_BYTES ? error_json("line too long") : run_command(c, line);
	free(line);
	s = o ? json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
	json_decref(o);
	bufferevent_disable(bev, EV_READ);
	bufferevent_setcb(bev, NULL, ctl_write_cb, ctl_event_cb, c);
	if (!s || bufferevent_write(bev, s, strlen(s)) < 0 || bufferevent_write(bev, "\n", 1) < 0)
		bufferevent_free(bev);
	free(s);
}

static void ctl_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
			  int socklen, void *arg)
{
	struct ctld *c = arg;
	struct bufferevent *bev = bufferevent_socket_new(c->base, fd, BEV_OPT_CLOSE_ON_FREE);

	(void)l;
	(void)sa;
	(void)socklen;
	if (!bev) {
		evutil_closesocket(fd);
		return;
	}
	bufferevent_setcb(bev, ctl_read_cb, NULL, ctl_event_cb, c);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

int ctld_control_start(struct ctld *c)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	mode_t old;

	if (strlen(c->cfg->control) >= sizeof(sun.sun_path)) {
		qkdn_log(QKDN_LOG_ERR, "control socket path too long", "event=start-failed");
		return -ENAMETOOLONG;
	}
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", c->cfg->control);
	unlink(sun.sun_path);
	old = umask(0077);
	c->control = evconnlistener_new_bind(c->base, ctl_accept_cb, c,
					     LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1,
					     (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (!c->control) {
		qkdn_log(QKDN_LOG_ERR, "cannot open the control socket",
			 "event=start-failed path=%s err=\"%s\"", sun.sun_path, strerror(errno));
		return -errno;
	}
	return 0;
}

void ctld_control_stop(struct ctld *c)
{
	if (c->control) {
		evconnlistener_free(c->control);
		unlink(c->cfg->control);
	}
	c->control = NULL;
}

/* The client */

int ctld_ctl_main(int argc, char **argv)
{
	const char *path = CTLD_DEFAULT_CONTROL;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char line[LINE_MAX_BYTES + 2], buf[65536];
	size_t o = 0;
	ssize_t n;
	int i = 1, fd;
	bool error = false;

	if (argc > 2 && !strcmp(argv[1], "--socket")) {
		path = argv[2];
		i = 3;
	}
	if (i >= argc)
		qkdn_die("usage: qkdn-ctld ctl [--socket PATH] COMMAND [ARGS...]");
	line[0] = '\0';
	for (; i < argc; i++) {
		int w = snprintf(line + o, sizeof(line) - o, "%s%s", o ? " " : "", argv[i]);

		if (w < 0 || (size_t)w >= sizeof(line) - o - 1)
			qkdn_die("command too long");
		o += (size_t)w;
	}
	line[o++] = '\n';
	if (strlen(path) >= sizeof(sun.sun_path))
		qkdn_die("%s: path too long", path);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		qkdn_die_err(errno, "%s", path);
	if (qkdn_write_full(fd, line, o) < 0)
		qkdn_die_err(errno, "%s", path);
	o = 0;
	while ((n = read(fd, buf + o, sizeof(buf) - 1 - o)) > 0) {
		o += (size_t)n;
		if (o == sizeof(buf) - 1) {
			fwrite(buf, 1, o, stdout);
			o = 0;
		}
	}
	buf[o] = '\0';
	close(fd);
	if (strstr(buf, "\"error\":")) {
		json_t *j = json_loads(buf, 0, NULL);

		error = true;
		fprintf(stderr, "qkdn-ctld ctl: %s\n",
			j ? json_string_value(json_object_get(j, "error")) : buf);
		json_decref(j);
	} else {
		fputs(buf, stdout);
	}
	return error ? 1 : 0;
}
