// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * XLMO, cross-layer management orchestration (seed 001 clause 9.3).
 *
 * Fault (10.1.1 steps 5-6, 10.1.2 steps 5-6): an analysed alarm of QLM or
 * KMLM is correlated with the other layers' active alarms on the same
 * link: a QKD link failure is the root cause of the KM link's alarms
 * (its Kx link going down, its pool running dry) raised within
 * MGRD_CORRELATE_MS, whichever arrived first. The root alarm goes to QCLM
 * for a control decision; its consequences are recorded against it and
 * decide nothing on their own.
 *
 * Configuration (10.3 step 7): the topology of the whole network from the
 * quantum and key management layers' inventories, and the configuration
 * errors their comparison shows.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mgmt.h"
#include "store.h"

#define RELATED_MAX 32

static bool quantum_layer(uint16_t type)
{
	return type == QKDN_W_ALARM_QKD_LINK_DOWN || type == QKDN_W_ALARM_QBER_HIGH ||
	       type == QKDN_W_ALARM_QKD_MODULE_FAULT;
}

static void link_resource(char *out, size_t len, uint32_t a, uint32_t b)
{
	snprintf(out, len, "km-link-%u-%u", a < b ? a : b, a < b ? b : a);
}

/* An analysed alarm: stored, and told to Mu's event stream. */
static void record_cause(struct mgrd *m, uint64_t row, const char *cause, uint64_t root)
{
	if (m->store->ops->alarm_analysis(m->store, row, cause, root))
		return;
	mgrd_mu_publish(m, "cause", json_pack("{s:I, s:s, s:I}", "alarm", (json_int_t)row,
					       "cause", cause, "root", (json_int_t)root));
}

/* QCLM's decision for a root cause (10.1 step 7, 10.5 step 4). */
static void decide(struct mgrd *m, uint64_t row, uint16_t type, uint32_t node, uint32_t peer,
		   uint32_t dest)
{
	char res[QKDN_ID_MAXLEN], value[QKDN_W_M_DESC_MAX];

	if (peer)
		link_resource(res, sizeof(res), node, peer);
	else
		snprintf(res, sizeof(res), "node-%u", node);
	switch (type) {
	case QKDN_W_ALARM_QKD_LINK_DOWN:
	case QKDN_W_ALARM_QKD_MODULE_FAULT:
	case QKDN_W_ALARM_KM_LINK_DOWN:
		snprintf(value, sizeof(value), "avoid %s", res);
		mgrd_qclm_decide(m, QKDN_W_ACTION_REROUTE, 1, res, value, row);
		return;
	case QKDN_W_ALARM_QBER_HIGH:
		snprintf(value, sizeof(value), "isolate %s, discard its unused keys", res);
		mgrd_qclm_decide(m, QKDN_W_ACTION_ISOLATE, 0, res, value, row);
		return;
	case QKDN_W_ALARM_RELAY_FAILED:
	case QKDN_W_ALARM_ROUTE_DOWN:
		snprintf(res, sizeof(res), "route-%u-%u", node, dest);
		snprintf(value, sizeof(value), "re-provision routes from node %u to node %u", node,
			 dest);
		mgrd_qclm_decide(m, QKDN_W_ACTION_REROUTE, 2, res, value, row);
		return;
	case QKDN_W_ALARM_POOL_LOW:
		snprintf(value, sizeof(value), "shift relays away from %s", res);
		mgrd_qclm_decide(m, QKDN_W_ACTION_REBALANCE, 4, res, value, row);
		return;
	default:
		return;
	}
}

void mgrd_xlmo_alarm(struct mgrd *m, uint64_t row, const char *layer, uint32_t node,
		     uint32_t peer, uint16_t type, const char *diagnosis)
{
	struct mgrd_alarm rel[RELATED_MAX];
	uint64_t now = qkdn_mgmt_now_ms(), root = 0;
	char cause[3 * QKDN_W_M_DESC_MAX];
	size_t n = 0;

	if (mgrd_txn(m))
		return;
	if (peer)
		m->store->ops->alarms_related(m->store, node, peer,
					      now > MGRD_CORRELATE_MS ? now - MGRD_CORRELATE_MS : 0,
					      row, rel, RELATED_MAX, &n);
	for (size_t i = 0; i < n; i++) {
		/* A quantum layer alarm explains the key management layer's. */
		if (quantum_layer(type) && !quantum_layer(rel[i].type)) {
			char c[200];

			snprintf(c, sizeof(c), "consequence of %s on the QKD link %u-%u (alarm %"
				 PRIu64 ")", mgrd_alarm_type_name(type), node, peer, row);
			if (row)
				record_cause(m, rel[i].row, c, row);
		} else if (!root && !rel[i].root) {
			root = rel[i].row;
		}
	}
	if (root && !(quantum_layer(type) && row)) {
		snprintf(cause, sizeof(cause), "%s: %s; consequence of alarm %" PRIu64, layer,
			 diagnosis, root);
		if (row)
			record_cause(m, row, cause, root);
		return;
	}
	snprintf(cause, sizeof(cause), "%s: %s", layer, diagnosis);
	if (row)
		record_cause(m, row, cause, 0);
	qkdn_log(QKDN_LOG_INFO, "root cause", "event=xlmo-root-cause alarm=%" PRIu64 " layer=%s "
		 "node=%u peer=%u type=%s related=%zu", row, layer, node, peer,
		 mgrd_alarm_type_name(type), n);
	/* A root found after its consequences: their decision stands. */
	for (size_t i = 0; i < n; i++)
		if (!rel[i].root && !quantum_layer(rel[i].type) && quantum_layer(type))
			return;
	decide(m, row, type, node, peer, 0);
}

/* Diagnostics (10.1.1 steps 2-4, 10.1.2 steps 2-4) */

struct diag {
	uint64_t row;
	const char *layer;
	uint32_t node, peer, dest;
	uint16_t type;
	char desc[QKDN_W_M_DESC_MAX];
};

static void analyse(struct mgrd *m, struct diag *d, const char *info, uint8_t state)
{
	char text[2 * QKDN_W_M_DESC_MAX + 80];

	if (info)
		snprintf(text, sizeof(text), "%s%s%s (diagnostics: %s; state %u)",
			 mgrd_alarm_type_name(d->type), d->desc[0] ? ", " : "", d->desc, info, state);
	else
		snprintf(text, sizeof(text), "%s%s%s (no diagnostics: element unreachable)",
			 mgrd_alarm_type_name(d->type), d->desc[0] ? ", " : "", d->desc);
	if (d->type == QKDN_W_ALARM_RELAY_FAILED || d->type == QKDN_W_ALARM_ROUTE_DOWN) {
		/* 10.1.2 step 4: a relay failure is decided on per route. */
		char cause[sizeof(text) + 8];

		if (mgrd_txn(m))
			return;
		snprintf(cause, sizeof(cause), "%s: %s", d->layer, text);
		record_cause(m, d->row, cause, 0);
		decide(m, d->row, d->type, d->node, d->peer, d->dest);
		return;
	}
	mgrd_xlmo_alarm(m, d->row, d->layer, d->node, d->peer, d->type, text);
}

static void diag_done(struct mgrd *m, void *arg, const struct qkdn_wire_hdr *hdr,
		      const struct nlattr *const *tb)
{
	struct diag *d = arg;

	if (!hdr)
		analyse(m, d, NULL, 0);
	else if (hdr->response_code != QKDN_W_RESP_SUCCESS)
		analyse(m, d, tb[QKDN_W_REASON] ? qkdn_wire_get_str(tb[QKDN_W_REASON]) : "refused",
			0);
	else
		analyse(m, d, tb[QKDN_W_M_DIAG_INFO] ? qkdn_wire_get_str(tb[QKDN_W_M_DIAG_INFO])
						     : "none",
			tb[QKDN_W_M_RESOURCE_STATE] ? qkdn_wire_get_u8(tb[QKDN_W_M_RESOURCE_STATE])
						    : 0);
	free(d);
}

void mgrd_xlmo_diagnose(struct mgrd *m, const struct mgrd_event *ev, uint64_t row,
			const char *layer)
{
	const struct nlattr *const *tb = ev->tb;
	struct diag *d = calloc(1, sizeof(*d));
	struct mgrd_agent *a = mgrd_agent_find(m, ev->agent);
	struct qkdn_wire_msg *req;

	if (!d)
		return;
	d->row = row;
	d->layer = layer;
	d->node = ev->node;
	d->peer = tb[QKDN_W_PEER_NODE_ID] ? qkdn_wire_get_u32(tb[QKDN_W_PEER_NODE_ID]) : 0;
	d->dest = tb[QKDN_W_DEST_NODE_ID] ? qkdn_wire_get_u32(tb[QKDN_W_DEST_NODE_ID]) : 0;
	d->type = qkdn_wire_get_u16(tb[QKDN_W_M_ALARM_TYPE]);
	if (tb[QKDN_W_M_ALARM_DESC])
		snprintf(d->desc, sizeof(d->desc), "%s", qkdn_wire_get_str(tb[QKDN_W_M_ALARM_DESC]));
	req = qkdn_wire_msg_new(QKDN_W_CMD_M_DIAG, m->cfg.id);
	if (req)
		qkdn_wire_put_str(req, QKDN_W_M_RESOURCE_ID, ev->resource);
	if (!a || mgrd_agent_request(a, req, MGRD_DIAG_TIMEOUT_MS, diag_done, d) < 0) {
		if (!a)
			qkdn_wire_msg_free(req);
		analyse(m, d, NULL, 0);
		free(d);
	}
}

/* Topology (10.3 step 7) */

static json_t *find_link(json_t *links, uint32_t a, uint32_t b)
{
	size_t i;
	json_t *l;

	json_array_foreach(links, i, l) {
		uint32_t x = (uint32_t)json_integer_value(json_object_get(l, "a"));
		uint32_t y = (uint32_t)json_integer_value(json_object_get(l, "b"));

		if ((x == a && y == b) || (x == b && y == a))
			return l;
	}
	l = json_pack("{s:i, s:i, s:b, s:b, s:o, s:o}", "a", a < b ? a : b, "b", a < b ? b : a,
		      "km", 0, "qkd", 0, "alarms", json_array(), "key_bytes", json_null());
	json_array_append_new(links, l);
	return l;
}

static void add_node(json_t *nodes, uint32_t id)
{
	size_t i;
	json_t *n;

	if (!id)
		return;
	json_array_foreach(nodes, i, n)
		if (json_integer_value(json_object_get(n, "id")) == id)
			return;
	json_array_append_new(nodes, json_pack("{s:i, s:o}", "id", id, "alarms", json_array()));
}

static uint32_t jint(json_t *o, const char *k)
{
	return (uint32_t)json_integer_value(json_object_get(o, k));
}

json_t *mgrd_xlmo_topology(struct mgrd *m)
{
	json_t *inv = m->store->ops->inventory(m->store);
	json_t *perf = m->store->ops->performance(m->store);
	json_t *alarms = m->store->ops->alarms(m->store, true);
	json_t *nodes = json_array(), *links = json_array(), *errors = json_array();
	json_t *r, *q;
	size_t i, j;

	if (!inv || !perf || !alarms)
		goto out;
	json_array_foreach(inv, i, r) {
		uint32_t node = jint(r, "node"), peer = jint(r, "peer");
		uint32_t kind = jint(r, "kind");
		const char *res = json_string_value(json_object_get(r, "resource"));
		uint32_t ca, cb;

		if (!node) {
			/* The controller's view (Mc): its state of each link. */
			if (kind == QKDN_W_RES_KM_LINK && res &&
			    sscanf(res, "ctl-link-%" SCNu32 "-%" SCNu32, &ca, &cb) == 2 && ca && cb &&
			    ca != cb) {
				add_node(nodes, ca);
				add_node(nodes, cb);
				json_object_set(find_link(links, ca, cb), "controller_state",
						json_object_get(r, "state"));
			}
			continue;
		}
		add_node(nodes, node);
		add_node(nodes, peer);
		if (kind == QKDN_W_RES_KM_LINK && peer) {
			json_t *l = find_link(links, node, peer);

			json_object_set_new(l, "km", json_true());
			if (json_object_get(r, "key_amount") &&
			    !json_is_null(json_object_get(r, "key_amount")))
				json_object_set(l, "key_bytes", json_object_get(r, "key_amount"));
		}
		if (kind != QKDN_W_RES_QKD_LINK)
			continue;
		/* The QKD link's other end: the node whose QKD link has our
		 * peer module as its module. */
		const char *mod = json_string_value(json_object_get(r, "module"));
		const char *pmod = json_string_value(json_object_get(r, "peer_module"));
		bool found = false;

		json_array_foreach(inv, j, q) {
			const char *qm = json_string_value(json_object_get(q, "module"));
			const char *qp = json_string_value(json_object_get(q, "peer_module"));

			if (jint(q, "kind") != QKDN_W_RES_QKD_LINK || !qm || !pmod || strcmp(qm, pmod))
				continue;
			found = true;
			if (!qp || !mod || strcmp(qp, mod)) {
				json_array_append_new(errors, json_pack(
					"{s:s, s:s}", "resource", json_string_value(json_object_get(r,
					"resource")), "error", "peer module does not name this module "
					"back"));
				break;
			}
			if (jint(q, "node") != node) {
				json_t *l = find_link(links, node, jint(q, "node"));

				json_object_set_new(l, "qkd", json_true());
				if (!json_object_get(l, "qkd_resource"))
					json_object_set(l, "qkd_resource", json_object_get(r,
							"resource"));
			}
			break;
		}
		if (!found && pmod)
			json_array_append_new(errors, json_pack("{s:s, s:s}", "resource",
				json_string_value(json_object_get(r, "resource")), "error",
				"the peer QKD module is in no node's inventory"));
	}
	/* KM links without a QKD link under them: fine for a node whose QKD
	 * driver does not report, an error when both ends' drivers do. */
	json_array_foreach(links, i, r) {
		if (json_is_true(json_object_get(r, "km")) && !json_is_true(json_object_get(r, "qkd"))) {
			bool a_qkd = false, b_qkd = false;

			json_array_foreach(inv, j, q) {
				if (jint(q, "kind") != QKDN_W_RES_QKD_LINK)
					continue;
				a_qkd |= jint(q, "node") == jint(r, "a");
				b_qkd |= jint(q, "node") == jint(r, "b");
			}
			if (a_qkd && b_qkd) {
				char res[QKDN_ID_MAXLEN];

				link_resource(res, sizeof(res), jint(r, "a"), jint(r, "b"));
				json_array_append_new(errors, json_pack("{s:s, s:s}", "resource", res,
					"error", "KM link without a QKD link under it"));
			}
		}
		json_array_foreach(perf, j, q) {
			uint32_t n = jint(q, "node"), p = jint(q, "peer");

			if (!p || !((n == jint(r, "a") && p == jint(r, "b")) ||
				    (n == jint(r, "b") && p == jint(r, "a"))))
				continue;
			if (jint(q, "type") == QKDN_W_PERF_QBER)
				json_object_set(r, "qber_ppm", json_object_get(q, "value"));
			else if (jint(q, "type") == QKDN_W_PERF_KEY_RATE)
				json_object_set(r, "key_rate_bps", json_object_get(q, "value"));
			else if (jint(q, "type") == QKDN_W_PERF_KEY_AMOUNT)
				json_object_set(r, "key_bytes", json_object_get(q, "value"));
		}
	}
	json_array_foreach(alarms, i, q) {
		uint32_t n = jint(q, "node"), p = jint(q, "peer");
		json_t *brief = json_pack("{s:I, s:s, s:i, s:s?}", "id",
					  json_integer_value(json_object_get(q, "id")), "type",
					  mgrd_alarm_type_name((uint16_t)jint(q, "type")), "severity",
					  jint(q, "severity"), "resource",
					  json_string_value(json_object_get(q, "resource")));

		add_node(nodes, n);
		if (p) {
			add_node(nodes, p);
			json_array_append(json_object_get(find_link(links, n, p), "alarms"), brief);
		} else {
			json_array_foreach(nodes, j, r)
				if (jint(r, "id") == n)
					json_array_append(json_object_get(r, "alarms"), brief);
		}
		json_decref(brief);
	}
out:
	json_decref(inv);
	json_decref(perf);
	json_decref(alarms);
	return json_pack("{s:o, s:o, s:o}", "nodes", nodes, "links", links, "errors", errors);
}
