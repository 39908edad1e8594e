// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Performance management (seed 001 clause 10.4), run by XLMO every
 * report-ms:
 *
 *   step 3  the periodic performance report: every figure of the period
 *           (samples, min, avg, max) per resource, totals per node (key
 *           rate, consumption), stored and served at /api/v1/reports;
 *   step 4  degradation rules across the layers (a finding is recorded
 *           and remedied at its onset, not again while it holds): for each KM link, the
 *           quantum layer's key rate (Mq, qkdn-qkdd) against the key
 *           management layer's consumption and pool (Mk, qkdn-kmd). A pool
 *           that drains (consumption over what the QKD link brings) and
 *           would run dry within exhaustion-horizon-s is a finding,
 *           recorded with the trends that led to it (key rate falling,
 *           consumption rising: the last sample of the last two periods
 *           against the first);
 *   step 5  its remedy, queued for the controller through QCLM: shift
 *           relays away from the link (REBALANCE), or, when the QKD rate
 *           itself is falling, avoid it (REROUTE).
 *
 * The rule reads, per end e of link a-b, the latest figures:
 *   rate    KEY_RATE bit/s of a "qkd-link-*" resource of the pair
 *   cons_e  CONSUMPTION bytes/s that e's KM reports for the link
 *   pool_e  KEY_AMOUNT bytes available at e for the link
 *   drain = cons_e - rate / 8;  exhausted in pool_e / drain seconds.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mgmt.h"
#include "store.h"

#define NODES_MAX 256
#define ONGOING_MAX 256

/* The findings of the last report: a condition that holds on is found
 * (recorded, remedied) once, at its onset, not every period. */
static struct ongoing {
	uint32_t a, b, node;
} ongoing[ONGOING_MAX], found[ONGOING_MAX];
static size_t n_ongoing, n_found;

static bool was_ongoing(uint32_t a, uint32_t b, uint32_t node)
{
	if (n_found < ONGOING_MAX)
		found[n_found++] = (struct ongoing){ a, b, node };
	for (size_t i = 0; i < n_ongoing; i++)
		if (ongoing[i].a == a && ongoing[i].b == b && ongoing[i].node == node)
			return true;
	return false;
}

static uint32_t jint(json_t *o, const char *k)
{
	return (uint32_t)json_integer_value(json_object_get(o, k));
}

static double jreal(json_t *o, const char *k)
{
	return json_number_value(json_object_get(o, k));
}

static bool same_link(json_t *r, uint32_t a, uint32_t b)
{
	uint32_t n = jint(r, "node"), p = jint(r, "peer");

	return p && ((n == a && p == b) || (n == b && p == a));
}

/* How a figure of link a-b (at node, or either end if 0) moved over a
 * span's rows: "rising", "falling" or "steady" (also when unknown). */
static const char *link_trend(json_t *span, uint16_t type, uint32_t a, uint32_t b, uint32_t node,
			      bool qkd_only)
{
	size_t i;
	json_t *r;

	json_array_foreach(span, i, r) {
		const char *res = json_string_value(json_object_get(r, "resource"));
		double first = jreal(r, "first"), last = jreal(r, "last");

		if (jint(r, "type") != type || !same_link(r, a, b) || (node && jint(r, "node") != node) ||
		    (qkd_only && (!res || strncmp(res, "qkd-link-", 9))))
			continue;
		return last > first ? "rising" : last < first ? "falling" : "steady";
	}
	return "steady";
}

/* Step 4 for link a-b, end e: returns true if it found something. */
static bool exhaustion_rule(struct mgrd *m, json_t *latest, json_t *span, uint32_t a,
			    uint32_t b, uint32_t e, uint64_t now, json_t *findings)
{
	double rate = -1, cons = -1, pool = -1, drain, ttl;
	char res[QKDN_ID_MAXLEN], desc[QKDN_W_M_DESC_MAX], value[QKDN_W_M_DESC_MAX];
	const char *rate_trend, *cons_trend;
	size_t i;
	json_t *r;

	json_array_foreach(latest, i, r) {
		const char *rs = json_string_value(json_object_get(r, "resource"));
		double v = (double)json_integer_value(json_object_get(r, "value"));

		if (!same_link(r, a, b))
			continue;
		switch (jint(r, "type")) {
		case QKDN_W_PERF_KEY_RATE:
			if (rs && !strncmp(rs, "qkd-link-", 9) && v > rate)
				rate = v;
			break;
		case QKDN_W_PERF_CONSUMPTION:
			if (jint(r, "node") == e)
				cons = v;
			break;
		case QKDN_W_PERF_KEY_AMOUNT:
			if (jint(r, "node") == e)
				pool = v;
			break;
		}
	}
	if (cons < 0 || pool < 0)
		return false;		/* the KM layer says nothing of this end */
	drain = cons - (rate > 0 ? rate / 8 : 0);
	if (drain <= 0)
		return false;
	ttl = pool / drain;
	if (ttl >= m->cfg.horizon_s || was_ongoing(a, b, e))
		return false;
	rate_trend = link_trend(span, QKDN_W_PERF_KEY_RATE, a, b, 0, true);
	cons_trend = link_trend(span, QKDN_W_PERF_CONSUMPTION, a, b, e, false);
	snprintf(res, sizeof(res), "km-link-%u-%u", a, b);
	snprintf(desc, sizeof(desc), "key pool of %s at node %u runs dry in %.0f s: %.0f B left, "
		 "consumption %.0f B/s (%s), QKD key rate %.0f bit/s (%s)", res, e, ttl, pool, cons,
		 cons_trend, rate > 0 ? rate : 0, rate_trend);
	struct mgrd_finding f = {
		.time_ms = now, .rule = "pool-exhaustion", .resource = res, .node = e,
		.peer = e == a ? b : a, .value = (uint64_t)ttl, .desc = desc,
	};

	if (m->store->ops->finding_add(m->store, &f))
		return false;
	r = json_pack("{s:s, s:s, s:i, s:i, s:I, s:s}", "rule", f.rule, "resource", res, "node", e,
		      "peer", f.peer, "seconds_left", (json_int_t)f.value, "description", desc);
	json_array_append(findings, r);
	mgrd_mu_publish(m, "finding", r);
	qkdn_log(QKDN_LOG_WARN, "degradation: pool exhaustion predicted", "event=xlmo-finding "
		 "rule=pool-exhaustion resource=%s node=%u seconds=%.0f consumption=%.0f rate=%.0f",
		 res, e, ttl, cons, rate);
	/* Step 5: a falling QKD link is avoided; a busy one relieved. */
	if (!strcmp(rate_trend, "falling")) {
		snprintf(value, sizeof(value), "avoid %s: its QKD key rate is falling and its pool "
			 "at node %u runs dry in %.0f s", res, e, ttl);
		mgrd_qclm_decide(m, QKDN_W_ACTION_REROUTE, 2, res, value, 0);
	} else {
		snprintf(value, sizeof(value), "shift relays away from %s: its pool at node %u "
			 "runs dry in %.0f s", res, e, ttl);
		mgrd_qclm_decide(m, QKDN_W_ACTION_REBALANCE, 3, res, value, 0);
	}
	return true;
}

/* Totals per node of the period: key rate and consumption. */
static json_t *node_totals(json_t *rows)
{
	uint32_t ids[NODES_MAX];
	double rate[NODES_MAX] = { 0 }, cons[NODES_MAX] = { 0 };
	size_t n = 0, i, k;
	json_t *r, *out = json_array();

	json_array_foreach(rows, i, r) {
		uint32_t node = jint(r, "node"), type = jint(r, "type");

		if (!node || (type != QKDN_W_PERF_KEY_RATE && type != QKDN_W_PERF_CONSUMPTION))
			continue;
		for (k = 0; k < n && ids[k] != node; k++)
			;
		if (k == n) {
			if (n == NODES_MAX)
				continue;
			ids[n++] = node;
		}
		if (type == QKDN_W_PERF_KEY_RATE)
			rate[k] += jreal(r, "avg");
		else
			cons[k] += jreal(r, "avg");
	}
	for (k = 0; k < n; k++)
		json_array_append_new(out, json_pack("{s:i, s:f, s:f}", "node", ids[k],
						     "key_rate_bps", rate[k],
						     "consumption_Bps", cons[k]));
	return out;
}

int mgrd_perf_report(struct mgrd *m, uint64_t now)
{
	uint64_t period = m->cfg.report_ms, from = now > period ? now - period : 0, id = 0;
	json_t *rows = m->store->ops->perf_period(m->store, from, now);
	json_t *span = m->store->ops->perf_period(m->store, from > period ? from - period : 0, now);
	json_t *latest = m->store->ops->performance(m->store);
	json_t *findings = json_array(), *links = json_array(), *report = NULL, *r, *q;
	char *body = NULL;
	size_t i, j;
	int ret = -ENOMEM;

	if (!rows || !span || !latest || !findings || !links)
		goto out;
	ret = mgrd_txn(m);
	if (ret)
		goto out;
	n_found = 0;
	/* Every KM link the figures name, once. */
	json_array_foreach(latest, i, r) {
		uint32_t a = jint(r, "node"), b = jint(r, "peer"), lo = a < b ? a : b, hi = a ^ b ^ lo;
		bool seen = false;

		if (!a || !b)
			continue;
		json_array_foreach(links, j, q)
			seen |= jint(q, "a") == lo && jint(q, "b") == hi;
		if (seen)
			continue;
		json_array_append_new(links, json_pack("{s:i, s:i}", "a", lo, "b", hi));
		exhaustion_rule(m, latest, span, lo, hi, lo, now, findings);
		exhaustion_rule(m, latest, span, lo, hi, hi, now, findings);
	}
	memcpy(ongoing, found, n_found * sizeof(found[0]));
	n_ongoing = n_found;
	report = json_pack("{s:I, s:I, s:O, s:o, s:O}", "start_ms", (json_int_t)from, "end_ms",
			   (json_int_t)now, "resources", rows, "nodes", node_totals(rows),
			   "findings", findings);
	body = report ? json_dumps(report, JSON_COMPACT) : NULL;
	ret = body ? m->store->ops->report_add(m->store, from, now, body, &id) : -ENOMEM;
	if (!ret)
		qkdn_log(QKDN_LOG_INFO, "performance report", "event=perf-report id=%" PRIu64
			 " figures=%zu findings=%zu", id, json_array_size(rows),
			 json_array_size(findings));
out:
	free(body);
	json_decref(report);
	json_decref(rows);
	json_decref(span);
	json_decref(latest);
	json_decref(findings);
	json_decref(links);
	return ret;
}

static void report_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	mgrd_perf_report(arg, qkdn_mgmt_now_ms());
}

int mgrd_perf_start(struct mgrd *m)
{
	struct timeval tv = { m->cfg.report_ms / 1000, (m->cfg.report_ms % 1000) * 1000 };

	m->ev_report = event_new(m->base, -1, EV_PERSIST, report_cb, m);
	if (!m->ev_report || evtimer_add(m->ev_report, &tv))
		return -ENOMEM;
	return 0;
}

void mgrd_perf_stop(struct mgrd *m)
{
	if (m->ev_report)
		event_free(m->ev_report);
	m->ev_report = NULL;
}
