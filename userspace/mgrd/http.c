// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Mu and the operators' view (seed 001 I.7, 9.3.2): HTTPS on the
 * manager's loop (evhttp over bufferevent_openssl, as kmd's ETSI 014
 * server does). Read-only: GET only.
 *
 *   /                      the web page: topology, key levels, alarms
 *   /metrics               Prometheus text format
 *   /api/v1/topology       XLMO's whole-network topology, config errors
 *   /api/v1/alarms         ?all=1 for cleared ones too
 *   /api/v1/inventory
 *   /api/v1/performance    latest value of every figure
 *   /api/v1/report         performance report: min/avg/max per figure,
 *                          ?since=MS (default: the last hour)
 *   /api/v1/reports        periodic performance reports, newest first,
 *                          ?limit=N (default 10)
 *   /api/v1/findings       degradation rules' findings, newest first
 *   /api/v1/trace/KEYID    key life cycle; KEYID as UUID or 32 hex digits
 *   /api/v1/cdr            charging data records and their totals
 *   /api/v1/events         event log (audit trail), ?cmd=N&limit=N
 *   /api/v1/actions        control decisions sent to the controller
 *   /api/v1/agents         agents connected now
 *   /api/v1/mx             Mx: the peer manager, both directions
 *   /api/v1/mx/status/RES  a resource's state asked of the peer manager
 *                          (M_DIAG over Mx)
 *   /api/v1/stream         asynchronous notifications (I.7): server-sent
 *                          events (text/event-stream), one per alarm raised
 *                          or cleared ("alarm"), alarm analysed ("cause"),
 *                          resource state reported ("status"), security
 *                          event ("security"), control decision and its
 *                          outcome ("action"), degradation finding
 *                          ("finding"); each "id: N", "event: KIND",
 *                          "data: JSON". Sent once committed: what a user
 *                          network manager sees is in the database. A
 *                          comment line every MGRD_SSE_PING_S keeps
 *                          proxies and the idle timeout away.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "hex.h"
#include "log.h"
#include "mgmt.h"
#include "store.h"
#include "tls.h"
#include "util.h"

#define MGRD_SSE_PING_S		10
#define MGRD_SSE_CLIENTS_MAX	64
#define MGRD_SSE_BACKLOG_MAX	(1 << 20)	/* bytes unsent to one client */

struct sse_client {
	struct sse_client *next;
	struct mgrd_http *h;
	struct evhttp_request *req;
	struct evhttp_connection *conn;
};

struct mgrd_http {
	SSL_CTX *tls;
	struct evhttp *http;
	struct sse_client *clients;
	unsigned int n_clients;
	struct evbuffer *pending;	/* events of the open transaction */
	struct event *ping;
	uint64_t next_id;
};

static void reply(struct evhttp_request *req, int code, const char *type, const char *body,
		  size_t len)
{
	struct evbuffer *b = evbuffer_new();

	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", type);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
	if (b)
		evbuffer_add(b, body, len);
	evhttp_send_reply(req, code, code == 200 ? "OK" : code == 404 ? "Not Found" :
			  code == 400 ? "Bad Request" : code == 405 ? "Method Not Allowed" :
			  "Internal Server Error", b);
	if (b)
		evbuffer_free(b);
}

static void reply_json(struct evhttp_request *req, int code, json_t *o)
{
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

	if (!s)
		reply(req, 500, "application/json", "{\"message\":\"internal error\"}", 28);
	else
		reply(req, code, "application/json", s, strlen(s));
	free(s);
	json_decref(o);
}

static void reply_error(struct evhttp_request *req, int code, const char *msg)
{
	reply_json(req, code, json_pack("{s:s}", "message", msg));
}

/* Prometheus text exposition. */
static void metrics(struct mgrd *m, struct evhttp_request *req)
{
	json_t *topo = mgrd_xlmo_topology(m), *cdr = m->store->ops->cdr_totals(m->store);
	json_t *perf = m->store->ops->performance(m->store), *r;
	uint64_t events = 0, active = 0;
	char *buf = NULL;
	size_t len = 0, i;
	FILE *f = open_memstream(&buf, &len);

	if (!f || !topo || !cdr || !perf) {
		if (f)
			fclose(f);
		free(buf);
		json_decref(topo);
		json_decref(cdr);
		json_decref(perf);
		reply_error(req, 500, "metrics unavailable");
		return;
	}
	m->store->ops->counts(m->store, &events, &active);
	fprintf(f, "# HELP qkdn_mgr_events_stored Notifications stored since the database began.\n"
		"# TYPE qkdn_mgr_events_stored counter\nqkdn_mgr_events_stored %" PRIu64 "\n",
		events);
	fprintf(f, "# HELP qkdn_mgr_notifications_total Notifications stored by this run, by kind.\n"
		"# TYPE qkdn_mgr_notifications_total counter\n");
	for (unsigned int c = QKDN_W_CMD_M_ALARM; c <= QKDN_W_CMD_M_RESILIENCE; c++)
		fprintf(f, "qkdn_mgr_notifications_total{kind=\"%s\"} %" PRIu64 "\n",
			qkdn_wire_cmd_name((uint16_t)c) + 2, m->stats.by_cmd[c]);
	fprintf(f, "# TYPE qkdn_mgr_duplicates_total counter\nqkdn_mgr_duplicates_total %" PRIu64
		"\n# TYPE qkdn_mgr_busy_total counter\nqkdn_mgr_busy_total %" PRIu64
		"\n# TYPE qkdn_mgr_refused_messages_total counter\nqkdn_mgr_refused_messages_total %"
		PRIu64 "\n# TYPE qkdn_mgr_refused_connections_total counter\n"
		"qkdn_mgr_refused_connections_total %" PRIu64 "\n", m->stats.duplicates,
		m->stats.busy, m->stats.refused_msgs, m->stats.refused_conns);
	fprintf(f, "# HELP qkdn_mgr_support_requests_total The controller's rerouting support "
		"requests (10.7).\n# TYPE qkdn_mgr_support_requests_total counter\n"
		"qkdn_mgr_support_requests_total %" PRIu64 "\n", m->stats.support_requests);
	fprintf(f, "# HELP qkdn_mgr_alarms_active Alarms raised and not cleared.\n"
		"# TYPE qkdn_mgr_alarms_active gauge\nqkdn_mgr_alarms_active %" PRIu64 "\n", active);
	fprintf(f, "# HELP qkdn_link_key_bytes Key available on a KM link (latest report).\n"
		"# TYPE qkdn_link_key_bytes gauge\n");
	json_array_foreach(json_object_get(topo, "links"), i, r)
		if (json_is_integer(json_object_get(r, "key_bytes")))
			fprintf(f, "qkdn_link_key_bytes{a=\"%" JSON_INTEGER_FORMAT "\",b=\"%"
				JSON_INTEGER_FORMAT "\"} %" JSON_INTEGER_FORMAT "\n",
				json_integer_value(json_object_get(r, "a")),
				json_integer_value(json_object_get(r, "b")),
				json_integer_value(json_object_get(r, "key_bytes")));
	fprintf(f, "# HELP qkdn_perf Latest performance figure per resource (unit in type).\n"
		"# TYPE qkdn_perf gauge\n");
	json_array_foreach(perf, i, r)
		fprintf(f, "qkdn_perf{resource=\"%s\",type=\"%s\",target=\"%s\"} %"
			JSON_INTEGER_FORMAT "\n", json_string_value(json_object_get(r, "resource")),
			mgrd_perf_type_name((uint16_t)json_integer_value(json_object_get(r, "type"))),
			json_string_value(json_object_get(r, "target")) ?: "",
			json_integer_value(json_object_get(r, "value")));
	fprintf(f, "# HELP qkdn_cdr_keys_total Keys supplied per application (CDR totals).\n"
		"# TYPE qkdn_cdr_keys_total counter\n");
	json_array_foreach(json_object_get(cdr, "applications"), i, r)
		fprintf(f, "qkdn_cdr_keys_total{app=\"%s\"} %" JSON_INTEGER_FORMAT "\n"
			"qkdn_cdr_bits_total{app=\"%s\"} %" JSON_INTEGER_FORMAT "\n",
			json_string_value(json_object_get(r, "app")),
			json_integer_value(json_object_get(r, "keys")),
			json_string_value(json_object_get(r, "app")),
			json_integer_value(json_object_get(r, "bits")));
	fclose(f);
	reply(req, 200, "text/plain; version=0.0.4", buf, len);
	free(buf);
	json_decref(topo);
	json_decref(cdr);
	json_decref(perf);
}

/* The page: server-side SVG of the topology (so it shows without
 * JavaScript), refreshed every 2 s by a little script from
 * /api/v1/topology. No external assets. */
static const char page_head[] =
	"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>qkdn manager</title>"
	"<style>body{font-family:sans-serif;margin:1em;background:#fafafa}"
	"h1{font-size:1.3em}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
	"padding:2px 6px;font-size:.9em}.crit{color:#b00}svg{background:#fff;border:1px solid #ddd}"
	"</style></head><body><h1>qkdn manager</h1>"
	"<svg id=\"topo\" width=\"640\" height=\"420\" viewBox=\"0 0 640 420\">";
static const char page_tail[] =
	"</svg><h2>Active alarms</h2><table id=\"alarms\"><tr><th>id</th><th>type</th>"
	"<th>resource</th><th>severity</th><th>cause</th></tr></table>"
	"<h2>Configuration errors</h2><ul id=\"errors\"></ul>"
	"<script>\n"
	"function pos(i,n){var a=2*Math.PI*i/n-Math.PI/2;return[320+150*Math.cos(a),210+150*Math.sin(a)];}\n"
	"function draw(t){var s='',p={},n=t.nodes.length;t.nodes.forEach(function(x,i){p[x.id]=pos(i,n);});\n"
	"t.links.forEach(function(l){var a=p[l.a],b=p[l.b];if(!a||!b)return;var c=l.alarms.length?'#c00':(l.qkd?'#2a7':'#888');\n"
	"s+='<line x1=\"'+a[0]+'\" y1=\"'+a[1]+'\" x2=\"'+b[0]+'\" y2=\"'+b[1]+'\" stroke=\"'+c+'\" stroke-width=\"4\"/>';\n"
	"s+='<text class=\"level\" x=\"'+(a[0]+b[0])/2+'\" y=\"'+((a[1]+b[1])/2-6)+'\" font-size=\"12\">'+(l.key_bytes==null?'':l.key_bytes+' B')+'</text>';});\n"
	"t.nodes.forEach(function(x){var q=p[x.id];s+='<circle cx=\"'+q[0]+'\" cy=\"'+q[1]+'\" r=\"22\" fill=\"'+(x.alarms.length?'#fcc':'#cef')+'\" stroke=\"#036\"/>';\n"
	"s+='<text class=\"node\" x=\"'+q[0]+'\" y=\"'+(q[1]+5)+'\" text-anchor=\"middle\" font-size=\"14\">node '+x.id+'</text>';});\n"
	"document.getElementById('topo').innerHTML=s;var e='';t.errors.forEach(function(x){e+='<li>'+x.resource+': '+x.error+'</li>';});\n"
	"document.getElementById('errors').innerHTML=e;}\n"
	"function alarms(a){var h='<tr><th>id</th><th>type</th><th>resource</th><th>severity</th><th>cause</th></tr>';\n"
	"a.forEach(function(x){h+='<tr class=\"crit\"><td>'+x.id+'</td><td>'+x.type+'</td><td>'+x.resource+'</td><td>'+x.severity+'</td><td>'+(x.cause||'')+'</td></tr>';});\n"
	"document.getElementById('alarms').innerHTML=h;}\n"
	"function poll(){fetch('/api/v1/topology').then(function(r){return r.json();}).then(draw).catch(function(){});\n"
	"fetch('/api/v1/alarms').then(function(r){return r.json();}).then(alarms).catch(function(){});}\n"
	"poll();setInterval(poll,2000);\n"
	"</script></body></html>\n";

static void page(struct mgrd *m, struct evhttp_request *req)
{
	json_t *topo = mgrd_xlmo_topology(m), *nodes = json_object_get(topo, "nodes"), *x;
	size_t n = json_array_size(nodes), i, len = 0;
	char *buf = NULL;
	FILE *f = open_memstream(&buf, &len);

	if (!f) {
		json_decref(topo);
		reply_error(req, 500, "out of memory");
		return;
	}
	fputs(page_head, f);
	json_array_foreach(nodes, i, x) {
		/* The same layout as the script's. */
		double a = 2 * 3.14159265358979 * (double)i / (double)n - 3.14159265358979 / 2;
		double cx = 320 + 150 * __builtin_cos(a), cy = 210 + 150 * __builtin_sin(a);

		fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"22\" fill=\"#cef\" stroke=\"#036\"/>"
			"<text class=\"node\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" "
			"font-size=\"14\">node %" JSON_INTEGER_FORMAT "</text>", cx, cy, cx, cy + 5,
			json_integer_value(json_object_get(x, "id")));
	}
	fputs(page_tail, f);
	fclose(f);
	reply(req, 200, "text/html; charset=utf-8", buf, len);
	free(buf);
	json_decref(topo);
}

static json_t *alarms_named(json_t *arr)
{
	size_t i;
	json_t *a;

	json_array_foreach(arr, i, a)
		json_object_set_new(a, "type", json_string(mgrd_alarm_type_name(
			(uint16_t)json_integer_value(json_object_get(a, "type")))));
	return arr;
}

static void trace(struct mgrd *m, struct evhttp_request *req, const char *id)
{
	uint8_t key_id[QKDN_KEY_ID_LEN];
	char uuid[QKDN_UUID_STRLEN + 1];

	if (qkdn_uuid_parse(key_id, id) < 0 &&
	    (strlen(id) != 2 * QKDN_KEY_ID_LEN ||
	     qkdn_hex_decode(key_id, sizeof(key_id), id, strlen(id)) != QKDN_KEY_ID_LEN)) {
		reply_error(req, 400, "key ID: want a UUID or 32 hex digits");
		return;
	}
	qkdn_uuid_format(uuid, key_id);
	reply_json(req, 200, json_pack("{s:s, s:o*}", "key_id", uuid, "events",
				       m->store->ops->trace(m->store, key_id)));
}

/* Server-sent events (Mu asynchronous notifications) */

static void sse_remove(struct sse_client *c)
{
	struct sse_client **pp;

	for (pp = &c->h->clients; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			c->h->n_clients--;
			break;
		}
	free(c);
}

/* The client went away: libevent frees the request itself. */
static void sse_close_cb(struct evhttp_connection *conn, void *arg)
{
	(void)conn;
	sse_remove(arg);
}

static void sse_send(struct sse_client *c, const void *data, size_t len)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(c->conn);
	struct evbuffer *b;

	/* A reader that does not keep up is dropped, not buffered for. */
	if (bev && evbuffer_get_length(bufferevent_get_output(bev)) > MGRD_SSE_BACKLOG_MAX) {
		qkdn_log(QKDN_LOG_WARN, "event stream client too slow, closed",
			 "event=sse-dropped");
		evhttp_connection_set_closecb(c->conn, NULL, NULL);
		evhttp_send_reply_end(c->req);
		sse_remove(c);
		return;
	}
	b = evbuffer_new();
	if (!b)
		return;
	evbuffer_add(b, data, len);
	evhttp_send_reply_chunk(c->req, b);
	evbuffer_free(b);
}

static void sse_ping_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mgrd_http *h = arg;
	static const char ping[] = ": ping\n\n";

	(void)fd;
	(void)what;
	for (struct sse_client *c = h->clients, *next; c; c = next) {
		next = c->next;
		sse_send(c, ping, sizeof(ping) - 1);
	}
}

static void stream(struct mgrd *m, struct evhttp_request *req)
{
	struct mgrd_http *h = m->http;
	struct sse_client *c;
	static const char hello[] = ": qkdn-mgrd events\n\n";

	if (h->n_clients >= MGRD_SSE_CLIENTS_MAX) {
		reply_error(req, 503, "too many event stream clients");
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		reply_error(req, 500, "out of memory");
		return;
	}
	c->h = h;
	c->req = req;
	c->conn = evhttp_request_get_connection(req);
	c->next = h->clients;
	h->clients = c;
	h->n_clients++;
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "text/event-stream");
	evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
	evhttp_send_reply_start(req, 200, "OK");
	evhttp_connection_set_closecb(c->conn, sse_close_cb, c);
	sse_send(c, hello, sizeof(hello) - 1);
}

void mgrd_mu_publish(struct mgrd *m, const char *kind, json_t *data)
{
	struct mgrd_http *h = m->http;
	char *s;

	if (!h || !h->clients || !data) {
		json_decref(data);
		return;
	}
	s = json_dumps(data, JSON_COMPACT);
	json_decref(data);
	if (!s)
		return;
	evbuffer_add_printf(h->pending, "id: %" PRIu64 "\nevent: %s\ndata: %s\n\n", ++h->next_id,
			    kind, s);
	free(s);
	/* Outside a transaction nothing waits for a commit. */
	if (!m->in_txn)
		mgrd_mu_commit(m, true);
}

void mgrd_mu_commit(struct mgrd *m, bool committed)
{
	struct mgrd_http *h = m->http;
	size_t len;

	if (!h || !h->pending || !(len = evbuffer_get_length(h->pending)))
		return;
	if (committed) {
		const void *data = evbuffer_pullup(h->pending, -1);

		for (struct sse_client *c = h->clients, *next; c; c = next) {
			next = c->next;
			sse_send(c, data, len);
		}
	}
	evbuffer_drain(h->pending, len);
}

/* GET /api/v1/mx/status/RES: asked of the peer manager, answered when
 * it answers (or does not, MGRD_DIAG_TIMEOUT_MS * 2). A client that goes
 * away meanwhile is noted, not written to. */
struct mx_query {
	struct evhttp_request *req;
	struct evhttp_connection *conn;
	bool gone;
	char resource[QKDN_ID_MAXLEN];
};

static void mx_query_gone(struct evhttp_connection *conn, void *arg)
{
	struct mx_query *q = arg;

	(void)conn;
	q->gone = true;
}

static void mx_status_done(struct mgrd *m, void *arg, const struct qkdn_wire_hdr *hdr,
			   const struct nlattr *const *tb)
{
	struct mx_query *q = arg;

	if (!q->gone) {
		evhttp_connection_set_closecb(q->conn, NULL, NULL);
		if (!hdr)
			reply_error(q->req, 504, "no answer from the peer manager");
		else if (hdr->response_code != QKDN_W_RESP_SUCCESS)
			reply_json(q->req, 404, json_pack("{s:s, s:s, s:s}", "message",
				tb[QKDN_W_REASON] ? qkdn_wire_get_str(tb[QKDN_W_REASON]) : "refused",
				"resource", q->resource, "peer", m->cfg.mx_peer));
		else
			reply_json(q->req, 200, json_pack("{s:s, s:s, s:i, s:s}", "resource",
				q->resource, "peer", m->cfg.mx_peer, "state",
				tb[QKDN_W_M_RESOURCE_STATE] ?
					qkdn_wire_get_u8(tb[QKDN_W_M_RESOURCE_STATE]) : 0,
				"info", tb[QKDN_W_M_DIAG_INFO] ?
					qkdn_wire_get_str(tb[QKDN_W_M_DIAG_INFO]) : ""));
	}
	free(q);
}

static void mx_status(struct mgrd *m, struct evhttp_request *req, const char *resource)
{
	struct mx_query *q;
	int ret;

	if (!*resource || strlen(resource) >= QKDN_ID_MAXLEN) {
		reply_error(req, 400, "resource: 1..63 bytes");
		return;
	}
	q = calloc(1, sizeof(*q));
	if (!q) {
		reply_error(req, 500, "out of memory");
		return;
	}
	q->req = req;
	q->conn = evhttp_request_get_connection(req);
	snprintf(q->resource, sizeof(q->resource), "%s", resource);
	ret = mgrd_mx_request_status(m, resource, mx_status_done, q);
	if (ret) {
		free(q);
		reply_error(req, ret == -ENOTCONN ? 503 : 500, ret == -ENOTCONN ?
			    "the peer manager is not connected (Mx)" : "cannot ask the peer manager");
		return;
	}
	evhttp_connection_set_closecb(q->conn, mx_query_gone, q);
}

static void handle(struct evhttp_request *req, void *arg)
{
	struct mgrd *m = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	struct evkeyvalq q;
	const char *v;
	uint64_t since = 0;
	uint32_t cmd = 0, limit = 100;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET");
		reply_error(req, 405, "read-only: GET only");
		return;
	}
	if (!path || evhttp_parse_query_str(evhttp_uri_get_query(uri) ?: "", &q) < 0) {
		reply_error(req, 400, "bad request URI");
		return;
	}
	if (!strcmp(path, "/")) {
		page(m, req);
	} else if (!strcmp(path, "/metrics")) {
		metrics(m, req);
	} else if (!strcmp(path, "/api/v1/topology")) {
		reply_json(req, 200, mgrd_xlmo_topology(m));
	} else if (!strcmp(path, "/api/v1/alarms")) {
		v = evhttp_find_header(&q, "all");
		reply_json(req, 200, alarms_named(m->store->ops->alarms(m->store,
									!(v && !strcmp(v, "1")))));
	} else if (!strcmp(path, "/api/v1/inventory")) {
		reply_json(req, 200, m->store->ops->inventory(m->store));
	} else if (!strcmp(path, "/api/v1/performance")) {
		reply_json(req, 200, m->store->ops->performance(m->store));
	} else if (!strcmp(path, "/api/v1/report")) {
		v = evhttp_find_header(&q, "since");
		if (v && qkdn_parse_u64(v, 0, UINT64_MAX, &since)) {
			reply_error(req, 400, "since: want milliseconds since the epoch");
		} else {
			if (!v)
				since = qkdn_mgmt_now_ms() - 3600 * 1000;
			reply_json(req, 200, json_pack("{s:I, s:o*, s:o*}", "since_ms",
						       (json_int_t)since, "performance",
						       m->store->ops->perf_report(m->store, since),
						       "alarms", alarms_named(m->store->ops->alarms(
							       m->store, true))));
		}
	} else if (!strcmp(path, "/api/v1/reports") || !strcmp(path, "/api/v1/findings")) {
		limit = 10;
		if ((v = evhttp_find_header(&q, "limit")) && qkdn_parse_u32(v, 1, 100000, &limit))
			reply_error(req, 400, "limit: 1..100000");
		else if (path[8] == 'r')
			reply_json(req, 200, m->store->ops->reports(m->store, limit));
		else
			reply_json(req, 200, m->store->ops->findings(m->store, limit));
	} else if (!strncmp(path, "/api/v1/trace/", 14)) {
		trace(m, req, path + 14);
	} else if (!strcmp(path, "/api/v1/cdr")) {
		reply_json(req, 200, json_pack("{s:o*, s:o*}", "records",
					       m->store->ops->cdr(m->store), "totals",
					       m->store->ops->cdr_totals(m->store)));
	} else if (!strcmp(path, "/api/v1/events")) {
		if (((v = evhttp_find_header(&q, "cmd")) &&
		     qkdn_parse_u32(v, 1, QKDN_W_CMD_MAX, &cmd)) ||
		    ((v = evhttp_find_header(&q, "limit")) && qkdn_parse_u32(v, 1, 100000, &limit)))
			reply_error(req, 400, "cmd: a command code; limit: 1..100000");
		else
			reply_json(req, 200, m->store->ops->events(m->store, (uint16_t)cmd, limit));
	} else if (!strcmp(path, "/api/v1/actions")) {
		reply_json(req, 200, m->store->ops->actions(m->store));
	} else if (!strcmp(path, "/api/v1/agents")) {
		reply_json(req, 200, mgrd_agents_json(m));
	} else if (!strcmp(path, "/api/v1/stream")) {
		stream(m, req);
	} else if (!strcmp(path, "/api/v1/mx")) {
		reply_json(req, 200, mgrd_mx_json(m));
	} else if (!strncmp(path, "/api/v1/mx/status/", 18)) {
		mx_status(m, req, path + 18);
	} else {
		reply_error(req, 404, "no such resource");
	}
	evhttp_clear_headers(&q);
}

static struct bufferevent *new_bev(struct event_base *base, void *arg)
{
	struct mgrd *m = arg;
	SSL *ssl = SSL_new(m->http->tls);
	struct bufferevent *bev;

	if (!ssl)
		return NULL;
	bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
					     BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		SSL_free(ssl);
		return NULL;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

int mgrd_http_start(struct mgrd *m)
{
	struct timeval ping = { MGRD_SSE_PING_S, 0 };
	struct mgrd_http *h;
	struct evconnlistener *l;
	char err[512];

	if (!m->cfg.http_enabled)
		return 0;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	m->http = h;
	h->tls = qkdn_tls_ctx_new(m->cfg.cert, m->cfg.key, m->cfg.ca, err, sizeof(err));
	if (!h->tls) {
		qkdn_log(QKDN_LOG_ERR, "HTTPS TLS set-up failed", "event=start-failed error=\"%s\"",
			 err);
		return -EINVAL;
	}
	/* Browsers and Prometheus may come without a certificate. */
	if (!m->cfg.http_client_cert)
		SSL_CTX_set_verify(h->tls, SSL_VERIFY_NONE, NULL);
	h->http = evhttp_new(m->base);
	if (!h->http)
		return -ENOMEM;
	h->pending = evbuffer_new();
	h->ping = event_new(m->base, -1, EV_PERSIST, sse_ping_cb, h);
	if (!h->pending || !h->ping || evtimer_add(h->ping, &ping))
		return -ENOMEM;
	evhttp_set_bevcb(h->http, new_bev, m);
	evhttp_set_gencb(h->http, handle, m);
	evhttp_set_timeout(h->http, 30);
	evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
				   EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD);
	l = evconnlistener_new_bind(m->base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE |
				    LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC, 128,
				    (struct sockaddr *)&m->cfg.http_listen,
				    (int)m->cfg.http_listen_len);
	if (!l || !evhttp_bind_listener(h->http, l)) {
		qkdn_log(QKDN_LOG_ERR, "HTTPS listen failed", "event=start-failed listen=%s "
			 "error=\"%s\"", m->cfg.http_listen_str, strerror(errno));
		if (l)
			evconnlistener_free(l);
		return -EADDRINUSE;
	}
	qkdn_log(QKDN_LOG_INFO, "Mu HTTPS listening", "event=http-listening listen=%s "
		 "client_cert=%s", m->cfg.http_listen_str, m->cfg.http_client_cert ? "yes" : "no");
	return 0;
}

void mgrd_http_stop(struct mgrd *m)
{
	if (!m->http)
		return;
	while (m->http->clients) {
		struct sse_client *c = m->http->clients;

		evhttp_connection_set_closecb(c->conn, NULL, NULL);
		evhttp_send_reply_end(c->req);
		sse_remove(c);
	}
	if (m->http->ping)
		event_free(m->http->ping);
	if (m->http->pending)
		evbuffer_free(m->http->pending);
	if (m->http->http)
		evhttp_free(m->http->http);
	SSL_CTX_free(m->http->tls);
	free(m->http);
	m->http = NULL;
}
