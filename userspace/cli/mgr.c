// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * qkdn mgr: the manager's (qkdn-mgrd) view over its HTTPS JSON API (Mu).
 *
 *   qkdn [-j] mgr alarms [all] [OPTIONS]
 *   qkdn [-j] mgr inventory | cdr | report [OPTIONS]
 *   qkdn [-j] mgr trace KEYID [OPTIONS]
 *   qkdn [-j] mgr mx [OPTIONS]
 *
 * OPTIONS: url https://HOST:PORT (or $QKDN_MGR_URL, default
 * https://127.0.0.1:7543), cert FILE key FILE (a client certificate of
 * the network CA, or $QKDN_MGR_CERT, $QKDN_MGR_KEY), ca FILE (or
 * $QKDN_MGR_CA; without one the manager's certificate is not verified:
 * a test set-up only).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cli.h"
#include "log.h"

struct mgr_opts {
	const char *url, *cert, *key, *ca;
	bool all;
	const char *key_id;
};

static size_t collect(char *p, size_t size, size_t n, void *arg)
{
	FILE *f = arg;

	return fwrite(p, size, n, f);
}

/* GET path; dies with one line on any failure. */
static json_t *get(const struct mgr_opts *o, const char *path)
{
	char url[512], errbuf[CURL_ERROR_SIZE] = "", *body = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&body, &len);
	CURL *c = curl_easy_init();
	json_error_t jerr;
	long code = 0;
	json_t *j;
	CURLcode rc;

	if (!f || !c)
		qkdn_die("out of memory");
	snprintf(url, sizeof(url), "%s%s", o->url, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
	if (o->cert)
		curl_easy_setopt(c, CURLOPT_SSLCERT, o->cert);
	if (o->key)
		curl_easy_setopt(c, CURLOPT_SSLKEY, o->key);
	if (o->ca) {
		curl_easy_setopt(c, CURLOPT_CAINFO, o->ca);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);	/* CN names the role */
	} else {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	rc = curl_easy_perform(c);
	fclose(f);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK)
		qkdn_die("manager %s: %s", o->url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
	j = json_loadb(body ? body : "", len, 0, &jerr);
	free(body);
	if (!j)
		qkdn_die("manager %s: answer is not JSON (HTTP %ld)", o->url, code);
	if (code != 200) {
		const char *msg = json_string_value(json_object_get(j, "message"));

		qkdn_die("manager: %s (HTTP %ld)", msg ? msg : "request failed", code);
	}
	return j;
}

static void parse_opts(const char *what, int argc, char **argv, struct mgr_opts *o, bool trace)
{
	o->url = getenv("QKDN_MGR_URL") ?: "https://127.0.0.1:7543";
	o->cert = getenv("QKDN_MGR_CERT");
	o->key = getenv("QKDN_MGR_KEY");
	o->ca = getenv("QKDN_MGR_CA");
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "url"))
			o->url = cli_value(what, argc, argv, &i);
		else if (!strcmp(argv[i], "cert"))
			o->cert = cli_value(what, argc, argv, &i);
		else if (!strcmp(argv[i], "key"))
			o->key = cli_value(what, argc, argv, &i);
		else if (!strcmp(argv[i], "ca"))
			o->ca = cli_value(what, argc, argv, &i);
		else if (!strcmp(argv[i], "all") && !trace)
			o->all = true;
		else if (trace && !o->key_id)
			o->key_id = argv[i];
		else
			cli_unknown_arg(what, argv[i]);
	}
	if (trace && !o->key_id)
		cli_missing(what, "KEYID");
	if (strncmp(o->url, "https://", 8))
		qkdn_die("%s: url \"%s\": want https://HOST:PORT", what, o->url);
	if (!!o->cert != !!o->key)
		qkdn_die("%s: cert and key go together", what);
}

static const char *s(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v ? v : "-";
}

static long long n(json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

static int cmd_alarms(struct cli *cli, int argc, char **argv)
{
	struct mgr_opts o = { 0 };
	json_t *j, *a;
	size_t i;

	parse_opts("mgr alarms", argc, argv, &o, false);
	j = get(&o, o.all ? "/api/v1/alarms?all=1" : "/api/v1/alarms");
	if (cli->json) {
		cli_json_print(j);
		return 0;
	}
	json_array_foreach(j, i, a)
		printf("alarm %lld %s resource %s node %lld peer %lld severity %lld%s%s%s\n"
		       "    source %s raised %lld%s%s\n", n(a, "id"), s(a, "type"), s(a, "resource"),
		       n(a, "node"), n(a, "peer"), n(a, "severity"),
		       json_is_integer(json_object_get(a, "cleared_ms")) ? " cleared" : "",
		       json_is_string(json_object_get(a, "origin")) ? " origin " : "",
		       json_is_string(json_object_get(a, "origin")) ? s(a, "origin") : "",
		       s(a, "source"), n(a, "raised_ms"),
		       json_is_string(json_object_get(a, "cause")) ? "\n    cause " : "",
		       json_is_string(json_object_get(a, "cause")) ? s(a, "cause") : "");
	json_decref(j);
	return 0;
}

static int cmd_inventory(struct cli *cli, int argc, char **argv)
{
	struct mgr_opts o = { 0 };
	json_t *j, *r;
	size_t i;

	parse_opts("mgr inventory", argc, argv, &o, false);
	j = get(&o, "/api/v1/inventory");
	if (cli->json) {
		cli_json_print(j);
		return 0;
	}
	json_array_foreach(j, i, r)
		printf("%s kind %lld node %lld peer %lld state %lld%s%s%s%s%s%s\n", s(r, "resource"),
		       n(r, "kind"), n(r, "node"), n(r, "peer"), n(r, "state"),
		       json_is_string(json_object_get(r, "origin")) ? " origin " : "",
		       json_is_string(json_object_get(r, "origin")) ? s(r, "origin") : "",
		       json_is_string(json_object_get(r, "module")) ? " module " : "",
		       json_is_string(json_object_get(r, "module")) ? s(r, "module") : "",
		       json_is_string(json_object_get(r, "peer_module")) ? " peer-module " : "",
		       json_is_string(json_object_get(r, "peer_module")) ? s(r, "peer_module") : "");
	json_decref(j);
	return 0;
}

static int cmd_trace(struct cli *cli, int argc, char **argv)
{
	struct mgr_opts o = { 0 };
	char path[200];
	json_t *j, *e;
	size_t i;

	parse_opts("mgr trace", argc, argv, &o, true);
	if (strspn(o.key_id, "0123456789abcdefABCDEF-") != strlen(o.key_id) ||
	    strlen(o.key_id) > 36)
		qkdn_die("mgr trace: KEYID \"%s\": want a UUID or 32 hex digits", o.key_id);
	snprintf(path, sizeof(path), "/api/v1/trace/%s", o.key_id);
	j = get(&o, path);
	if (cli->json) {
		cli_json_print(j);
		return 0;
	}
	printf("key %s\n", s(j, "key_id"));
	json_array_foreach(json_object_get(j, "events"), i, e) {
		printf("  %lld node %lld %s", n(e, "time_ms"), n(e, "node"), s(e, "event"));
		if (json_object_get(e, "next_hop"))
			printf(" to %lld", n(e, "next_hop"));
		if (json_object_get(e, "peer"))
			printf(" from %lld", n(e, "peer"));
		if (json_object_get(e, "app"))
			printf(" app %s", s(e, "app"));
		printf("\n");
	}
	if (!json_array_size(json_object_get(j, "events")))
		printf("  no event recorded\n");
	json_decref(j);
	return 0;
}

static int cmd_cdr(struct cli *cli, int argc, char **argv)
{
	struct mgr_opts o = { 0 };
	json_t *j, *r;
	size_t i;

	parse_opts("mgr cdr", argc, argv, &o, false);
	j = get(&o, "/api/v1/cdr");
	if (cli->json) {
		cli_json_print(j);
		return 0;
	}
	json_array_foreach(json_object_get(json_object_get(j, "totals"), "applications"), i, r)
		printf("app %s records %lld keys %lld bits %lld\n", s(r, "app"), n(r, "records"),
		       n(r, "keys"), n(r, "bits"));
	json_array_foreach(json_object_get(json_object_get(j, "totals"), "links"), i, r)
		printf("link %lld-%lld keys %lld bits %lld\n", n(r, "node"), n(r, "peer"),
		       n(r, "keys"), n(r, "bits"));
	json_decref(j);
	return 0;
}

static int cmd_report(struct cli *cli, int argc, char **argv)
{
	struct mgr_opts o = { 0 };
	json_t *j, *r;
	size_t i;

	parse_opts("mgr report", argc, argv, &o, false);
	j = get(&o, "/api/v1/report");
	if (cli->json) {
		cli_json_print(j);
		return 0;
	}
	json_array_foreach(json_object_get(j, "performance"), i, r)
		printf("%s type %lld target %s samples %lld min %lld avg %.1f max %lld\n",
		       s(r, "resource"), n(r, "type"), s(r, "target"), n(r, "samples"), n(r, "min"),
		       json_number_value(json_object_get(r, "avg")), n(r, "max"));
	printf("active alarms %zu\n", json_array_size(json_object_get(j, "alarms")));
	json_decref(j);
	return 0;
}

/* The latest periodic report (10.4): per node totals, then its findings. */
static int cmd_reports(struct cli *cli, int argc, char **argv)
{
	struct mgr_opts o = { 0 };
	json_t *j, *body, *r;
	size_t i;

	parse_opts("mgr reports", argc, argv, &o, false);
	j = get(&o, "/api/v1/reports?limit=1");
	if (cli->json) {
		cli_json_print(j);
		return 0;
	}
	body = json_object_get(json_array_get(j, 0), "body");
	if (!body) {
		printf("no periodic report yet\n");
		json_decref(j);
		return 0;
	}
	printf("report %lld from %lld to %lld\n", n(json_array_get(j, 0), "id"), n(body, "start_ms"),
	       n(body, "end_ms"));
	json_array_foreach(json_object_get(body, "nodes"), i, r)
		printf("  node %lld key-rate %.0f bit/s consumption %.0f B/s\n", n(r, "node"),
		       json_number_value(json_object_get(r, "key_rate_bps")),
		       json_number_value(json_object_get(r, "consumption_Bps")));
	json_array_foreach(json_object_get(body, "resources"), i, r)
		printf("  %s type %lld samples %lld min %lld avg %.1f max %lld\n", s(r, "resource"),
		       n(r, "type"), n(r, "samples"), n(r, "min"),
		       json_number_value(json_object_get(r, "avg")), n(r, "max"));
	json_array_foreach(json_object_get(body, "findings"), i, r)
		printf("  finding %s: %s\n", s(r, "rule"), s(r, "description"));
	json_decref(j);
	return 0;
}

static int cmd_findings(struct cli *cli, int argc, char **argv)
{
	struct mgr_opts o = { 0 };
	json_t *j, *r;
	size_t i;

	parse_opts("mgr findings", argc, argv, &o, false);
	j = get(&o, "/api/v1/findings?limit=100");
	if (cli->json) {
		cli_json_print(j);
		return 0;
	}
	json_array_foreach(j, i, r)
		printf("finding %lld %s %s at %lld: %s\n", n(r, "id"), s(r, "rule"), s(r, "resource"),
		       n(r, "time_ms"), s(r, "description"));
	json_decref(j);
	return 0;
}

/* Mx: the peer manager, both directions. */
static int cmd_mx(struct cli *cli, int argc, char **argv)
{
	struct mgr_opts o = { 0 };
	json_t *j, *out, *in;

	parse_opts("mgr mx", argc, argv, &o, false);
	j = get(&o, "/api/v1/mx");
	if (cli->json) {
		cli_json_print(j);
		return 0;
	}
	if (!json_is_true(json_object_get(j, "configured"))) {
		printf("Mx not configured\n");
		json_decref(j);
		return 0;
	}
	out = json_object_get(j, "out");
	in = json_object_get(j, "in");
	printf("peer %s out %s in %s\n", s(j, "peer"),
	       json_is_true(json_object_get(out, "up")) ? "up" : "down",
	       json_is_true(json_object_get(in, "up")) ? "up" : "down");
	printf("  forwarded to %s: outbox %lld acknowledged %lld queued %lld resent %lld\n",
	       s(j, "address"), n(out, "outbox_last"), n(out, "acked"), n(out, "queued"),
	       n(out, "resent"));
	printf("  learned from it: %lld this run\n", n(in, "learned"));
	json_decref(j);
	return 0;
}

static const struct cli_cmd mgr_cmds[] = {
	{ "alarms", "[all] [url URL] [cert F key F] [ca F]",
	  "active alarms (all: cleared ones too) with their diagnosed cause", cmd_alarms },
	{ "inventory", "[url URL] ...", "resources the agents reported", cmd_inventory },
	{ "trace", "KEYID [url URL] ...", "a key's life cycle across nodes", cmd_trace },
	{ "cdr", "[url URL] ...", "charging data record totals per application and link",
	  cmd_cdr },
	{ "report", "[url URL] ...", "performance report of the last hour", cmd_report },
	{ "reports", "[url URL] ...", "the latest periodic performance report and its findings",
	  cmd_reports },
	{ "findings", "[url URL] ...", "degradation findings (pool exhaustion predicted)",
	  cmd_findings },
	{ "mx", "[url URL] ...", "Mx: the peer manager, what goes to it and comes from it",
	  cmd_mx },
	{ NULL, NULL, NULL, NULL },
};

const struct cli_object cli_mgr = {
	.name = "mgr",
	.help = "the manager's view (qkdn-mgrd over HTTPS; $QKDN_MGR_URL)",
	.cmds = mgr_cmds,
	.default_first = true,
};
