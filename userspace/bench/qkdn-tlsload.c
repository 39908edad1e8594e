// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * qkdn-tlsload: an HTTP/1.1 load client over TLS 1.3 with a client
 * certificate, for benchmarking the ETSI GS QKD 014 API of qkdn-kmd beside
 * a reference server (scripts/bench-etsi014).
 *
 *   qkdn-tlsload --connect ADDR:PORT --host NAME --path PATH
 *                --cert FILE --key FILE --ca FILE
 *                [--method GET|POST] [--body JSON] [-n|--connections N]
 *                [-s|--seconds S] [-w|--warmup S] [--status CODE] [-j|--json]
 *
 * Why not a packaged client: wrk cannot present a client certificate
 * (its SSL_CTX is fixed, no option or Lua hook sets one), h2load (nghttp2
 * 1.52) has no client certificate option either, ab (apache2-utils) can
 * but speaks HTTP/1.0 only and reports latencies in whole milliseconds,
 * and siege reports no percentiles. Mutual TLS is what the 014 API
 * requires, so this small client does exactly that and nothing more.
 *
 * N connections (default 1) are opened and their handshakes completed
 * first (full TLS 1.3 handshakes with the credentials lib/tls.c loads for
 * the daemons, the server name checked against --host); each connection
 * then sends one request, waits for the whole response (HTTP/1.1,
 * Content-Length, kept alive: anything else stops the run) and sends the
 * next, for --warmup seconds (default 1) unmeasured, then --seconds
 * (default 5) measured. A request counts if it was sent and answered
 * inside the measured window; its latency runs from handing the request
 * to TLS to the last byte of the body. One thread, one libevent loop: the
 * client takes one CPU and leaves the other to the server.
 *
 * Output: one line of key=value pairs, or a JSON object with --json:
 * requests, errors (answers with another status than --status, default
 * 200), seconds, rate (requests/s), p50, p90, p99 and max latency in
 * microseconds, and the mean body size in bytes. Bodies are drained
 * unread: a key in a response goes no further than the TLS buffers.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include "config.h"
#include "log.h"
#include "tls.h"
#include "util.h"

#define HEADERS_MAX	8192

struct load;

struct conn {
	struct load *load;
	struct bufferevent *bev;
	uint64_t sent_ns;	/* 0: no request out */
	bool in_body;		/* the headers of the answer are in */
	size_t body_len, body_left;
	int status;
};

struct load {
	struct event_base *base;
	SSL_CTX *tls;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	const char *host;
	char *request;
	size_t request_len;
	int want_status;
	struct conn *conns;
	unsigned int n_conns, n_ready;
	double warmup, seconds;
	uint64_t measure_from, measure_until;	/* CLOCK_MONOTONIC, ns */
	struct event *timer;
	bool stopping;
	uint64_t requests, errors, body_bytes;
	uint32_t *lat_us;
	size_t n_lat, cap_lat;
};

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void send_request(struct conn *c)
{
	struct load *l = c->load;

	if (l->stopping)
		return;
	c->sent_ns = now_ns();
	c->in_body = false;
	if (bufferevent_write(c->bev, l->request, l->request_len) < 0)
		qkdn_die("bufferevent_write failed");
}

static void answered(struct conn *c)
{
	struct load *l = c->load;
	uint64_t end = now_ns();

	if (c->sent_ns >= l->measure_from && end <= l->measure_until) {
		uint32_t *slot = qkdn_grow((void **)&l->lat_us, &l->n_lat, &l->cap_lat,
					   sizeof(*slot));

		if (!slot)
			qkdn_die("out of memory");
		*slot = (uint32_t)((end - c->sent_ns) / 1000);
		l->requests++;
		l->body_bytes += c->body_len;
		if (c->status != l->want_status)
			l->errors++;
	}
	c->sent_ns = 0;
	send_request(c);
}

/* A header line's name, case-insensitively. */
static bool header_is(const char *line, const char *name)
{
	return !strncasecmp(line, name, strlen(name));
}

/* "HTTP/1.1 200 OK\r\n" then headers; Content-Length required, chunked
 * and Connection: close refused. 0 or -EPROTO. */
static int parse_headers(struct conn *c, const char *h, size_t len)
{
	const char *p = h, *end = h + len;
	bool have_len = false;

	if (len < 12 || strncmp(h, "HTTP/1.1 ", 9) != 0)
		return -EPROTO;
	c->status = atoi(h + 9);
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		size_t n;

		if (!eol)
			break;
		n = (size_t)(eol - p);
		if (header_is(p, "Content-Length:")) {
			c->body_len = strtoul(p + 15, NULL, 10);
			have_len = true;
		} else if (header_is(p, "Transfer-Encoding:")) {
			return -EPROTO;
		} else if (header_is(p, "Connection:") && memmem(p, n, "close", 5)) {
			return -EPROTO;
		}
		p = eol + 1;
	}
	return have_len ? 0 : -EPROTO;
}

static void conn_read(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t take;

	if (!c->sent_ns)
		qkdn_die("the server sent bytes nobody asked for");
	if (!c->in_body) {
		struct evbuffer_ptr eoh = evbuffer_search(in, "\r\n\r\n", 4, NULL);
		size_t hlen;
		char *h;

		if (eoh.pos < 0) {
			if (evbuffer_get_length(in) > HEADERS_MAX)
				qkdn_die("response headers over %d bytes", HEADERS_MAX);
			return;
		}
		hlen = (size_t)eoh.pos + 4;
		h = (char *)evbuffer_pullup(in, (ssize_t)hlen);
		if (parse_headers(c, h, hlen) < 0)
			qkdn_die("unsupported response (want HTTP/1.1, Content-Length, keep-alive): "
				 "%.*s", (int)(hlen > 300 ? 300 : hlen), h);
		evbuffer_drain(in, hlen);
		c->in_body = true;
		c->body_left = c->body_len;
	}
	take = evbuffer_get_length(in);
	if (take > c->body_left)
		qkdn_die("the server sent more than Content-Length");
	evbuffer_drain(in, take);
	c->body_left -= take;
	if (!c->body_left)
		answered(c);
}

static void stop(evutil_socket_t fd, short what, void *arg)
{
	struct load *l = arg;

	(void)fd;
	(void)what;
	l->stopping = true;
	event_base_loopexit(l->base, NULL);
}

static void conn_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	struct load *l = c->load;
	char err[256];

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		if (++l->n_ready == l->n_conns) {
			/* Every handshake is done: warm up, then measure. */
			struct timeval tv = { (time_t)(l->warmup + l->seconds), 0 };

			l->measure_from = now_ns() + (uint64_t)(l->warmup * 1e9);
			l->measure_until = l->measure_from + (uint64_t)(l->seconds * 1e9);
			l->timer = evtimer_new(l->base, stop, l);
			if (!l->timer || evtimer_add(l->timer, &tv) < 0)
				qkdn_die("timer");
			for (unsigned int i = 0; i < l->n_conns; i++)
				send_request(&l->conns[i]);
		}
		return;
	}
	if (l->stopping)
		return;
	qkdn_die("connection %zu: %s%s%s", (size_t)(c - l->conns),
		 what & BEV_EVENT_EOF ? "closed by the server" : "error",
		 what & BEV_EVENT_ERROR ? ": " : "",
		 what & BEV_EVENT_ERROR ? qkdn_tls_error(err, sizeof(err)) : "");
}

static void conn_open(struct load *l, struct conn *c)
{
	SSL *ssl = SSL_new(l->tls);
	int one = 1;

	c->load = l;
	if (!ssl || SSL_set_tlsext_host_name(ssl, l->host) != 1 || SSL_set1_host(ssl, l->host) != 1)
		qkdn_die("SSL_new");
	c->bev = bufferevent_openssl_socket_new(l->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
						BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev)
		qkdn_die("bufferevent_openssl_socket_new");
	bufferevent_setcb(c->bev, conn_read, NULL, conn_event, c);
	if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&l->addr, (int)l->addr_len) < 0)
		qkdn_die("connect failed");
	setsockopt(bufferevent_getfd(c->bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static uint32_t percentile(const struct load *l, double p)
{
	size_t i;

	if (!l->n_lat)
		return 0;
	i = (size_t)(p * (double)l->n_lat);
	return l->lat_us[i < l->n_lat ? i : l->n_lat - 1];
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: qkdn-tlsload --connect ADDR:PORT --host NAME --path PATH\n"
		"                    --cert FILE --key FILE --ca FILE\n"
		"                    [--method GET|POST] [--body JSON] [--connections N]\n"
		"                    [--seconds S] [--warmup S] [--status CODE] [--json]\n"
		"\n"
		"HTTP/1.1 keep-alive load over TLS 1.3 with a client certificate: N\n"
		"connections, one request in flight on each; prints the rate and latency\n"
		"percentiles of the requests answered in the measured window.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "connect", required_argument, NULL, 'C' },
		{ "host", required_argument, NULL, 'H' },
		{ "path", required_argument, NULL, 'p' },
		{ "cert", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "ca", required_argument, NULL, 'a' },
		{ "method", required_argument, NULL, 'm' },
		{ "body", required_argument, NULL, 'b' },
		{ "connections", required_argument, NULL, 'n' },
		{ "seconds", required_argument, NULL, 's' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "status", required_argument, NULL, 'S' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *connect = NULL, *path = NULL, *cert = NULL, *key = NULL, *ca = NULL;
	const char *method = "GET", *body = NULL;
	struct load l = { .want_status = 200, .warmup = 1, .seconds = 5 };
	uint32_t n_conns = 1, u;
	char err[QKDN_CONFIG_ERR_LEN];
	bool json = false;
	size_t cap;
	double secs;
	int opt;

	qkdn_log_init("qkdn-tlsload", QKDN_LOG_INFO);
	while ((opt = getopt_long(argc, argv, "n:s:w:jh", opts, NULL)) != -1) {
		switch (opt) {
		case 'C':
			connect = optarg;
			break;
		case 'H':
			l.host = optarg;
			break;
		case 'p':
			path = optarg;
			break;
		case 'c':
			cert = optarg;
			break;
		case 'k':
			key = optarg;
			break;
		case 'a':
			ca = optarg;
			break;
		case 'm':
			method = optarg;
			if (strcmp(method, "GET") && strcmp(method, "POST"))
				qkdn_die("--method: GET or POST");
			break;
		case 'b':
			body = optarg;
			break;
		case 'n':
			if (qkdn_parse_u32(optarg, 1, 10000, &n_conns) < 0)
				qkdn_die("--connections: 1..10000");
			break;
		case 's':
		case 'w':
			if (qkdn_parse_u32(optarg, opt == 's' ? 1 : 0, 3600, &u) < 0)
				qkdn_die("--%s: whole seconds, %d..3600",
					 opt == 's' ? "seconds" : "warmup", opt == 's');
			*(opt == 's' ? &l.seconds : &l.warmup) = u;
			break;
		case 'S':
			if (qkdn_parse_u32(optarg, 100, 599, &u) < 0)
				qkdn_die("--status: an HTTP status code");
			l.want_status = (int)u;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc || !connect || !l.host || !path || !cert || !key || !ca) {
		usage(stderr);
		return 2;
	}
	if (qkdn_parse_sockaddr(connect, &l.addr, &l.addr_len) < 0)
		qkdn_die("--connect %s: not A.B.C.D:PORT or [IPV6]:PORT", connect);
	l.tls = qkdn_tls_ctx_new(cert, key, ca, err, sizeof(err));
	if (!l.tls)
		qkdn_die("%s", err);

	cap = strlen(method) + strlen(path) + strlen(l.host) + (body ? strlen(body) : 0) + 200;
	l.request = malloc(cap);
	if (!l.request)
		qkdn_die("out of memory");
	if (body)
		l.request_len = (size_t)snprintf(l.request, cap,
			"%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: qkdn-tlsload\r\n"
			"Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
			method, path, l.host, strlen(body), body);
	else
		l.request_len = (size_t)snprintf(l.request, cap,
			"%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: qkdn-tlsload\r\n\r\n",
			method, path, l.host);

	l.base = event_base_new();
	l.n_conns = n_conns;
	l.conns = calloc(n_conns, sizeof(*l.conns));
	if (!l.base || !l.conns)
		qkdn_die("out of memory");
	for (unsigned int i = 0; i < n_conns; i++)
		conn_open(&l, &l.conns[i]);
	event_base_dispatch(l.base);

	qsort(l.lat_us, l.n_lat, sizeof(*l.lat_us), cmp_u32);
	secs = l.seconds;
	if (json)
		printf("{\"connections\":%u,\"requests\":%" PRIu64 ",\"errors\":%" PRIu64
		       ",\"seconds\":%.3f,\"rate\":%.1f,\"p50_us\":%u,\"p90_us\":%u,\"p99_us\":%u"
		       ",\"max_us\":%u,\"body_bytes\":%.0f}\n",
		       n_conns, l.requests, l.errors, secs, (double)l.requests / secs,
		       percentile(&l, 0.50), percentile(&l, 0.90), percentile(&l, 0.99),
		       l.n_lat ? l.lat_us[l.n_lat - 1] : 0,
		       l.requests ? (double)l.body_bytes / (double)l.requests : 0.0);
	else
		printf("connections=%u requests=%" PRIu64 " errors=%" PRIu64 " seconds=%.3f"
		       " rate=%.1f p50_us=%u p90_us=%u p99_us=%u max_us=%u body_bytes=%.0f\n",
		       n_conns, l.requests, l.errors, secs, (double)l.requests / secs,
		       percentile(&l, 0.50), percentile(&l, 0.90), percentile(&l, 0.99),
		       l.n_lat ? l.lat_us[l.n_lat - 1] : 0,
		       l.requests ? (double)l.body_bytes / (double)l.requests : 0.0);
	for (unsigned int i = 0; i < n_conns; i++)
		bufferevent_free(l.conns[i].bev);
	if (l.timer)
		event_free(l.timer);
	event_base_free(l.base);
	SSL_CTX_free(l.tls);
	free(l.conns);
	free(l.lat_us);
	free(l.request);
	return l.errors ? 1 : 0;
}
