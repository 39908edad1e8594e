// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * QCLM, QKDN control layer management (seed 001 clause 9.2.3), and Mc.
 *
 * Control decisions (10.1 steps 7-8, 10.4 step 5, 10.5 step 5) are
 * recorded as queued in the store, in the transaction of the alarm that
 * caused them, and sent as M_CONTROL to the controller (CN qkdn-ctl) when
 * it is connected: now, after each commit, or when it connects. A
 * decision survives a manager restart; its state (queued, sent, done,
 * failed) and the controller's answer are kept. The same decision for
 * the same resource within MGRD_CORRELATE_MS is made once.
 *
 * The controller's own notifications (its alarms, route and recovery
 * records: seed 004 resilience) are stored by agents.c; alarms of the
 * control layer are recorded here.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mgmt.h"
#include "store.h"
#include "tls.h"

#define RECENT_MAX 64
#define FLUSH_MAX 64

static struct {
	uint8_t type;
	char resource[QKDN_ID_MAXLEN];
	uint64_t ms;
} recent[RECENT_MAX];
static unsigned int recent_next;

int mgrd_qclm_decide(struct mgrd *m, enum qkdn_wire_action_type type, uint8_t priority,
		     const char *resource, const char *value, uint64_t alarm_row)
{
	struct mgrd_action a = { .type = (uint8_t)type, .priority = priority };
	uint64_t now = qkdn_mgmt_now_ms(), id;
	int ret;

	for (unsigned int i = 0; i < RECENT_MAX; i++)
		if (recent[i].type == type && !strcmp(recent[i].resource, resource) &&
		    now - recent[i].ms < MGRD_CORRELATE_MS)
			return 0;
	snprintf(a.resource, sizeof(a.resource), "%s", resource);
	snprintf(a.value, sizeof(a.value), "%s", value);
	ret = mgrd_txn(m);
	if (!ret)
		ret = m->store->ops->action_add(m->store, &a, alarm_row, &id);
	if (ret)
		return ret;
	recent[recent_next].type = (uint8_t)type;
	snprintf(recent[recent_next].resource, sizeof(recent[0].resource), "%s", resource);
	recent[recent_next].ms = now;
	recent_next = (recent_next + 1) % RECENT_MAX;
	mgrd_mu_publish(m, "action", json_pack("{s:I, s:s, s:i, s:s, s:s, s:s}", "id",
						(json_int_t)id, "type", mgrd_action_name(a.type),
						"priority", priority, "resource", resource, "value",
						value, "state", "queued"));
	qkdn_log(QKDN_LOG_INFO, "control decision", "event=qclm-decision action=%" PRIu64
		 " type=%s priority=%u resource=%s alarm=%" PRIu64 " value=\"%s\"", id,
		 mgrd_action_name(a.type), priority, resource, alarm_row, value);
	return 0;
}

static void control_done(struct mgrd *m, void *arg, const struct qkdn_wire_hdr *hdr,
			 const struct nlattr *const *tb)
{
	uint64_t id = (uint64_t)(uintptr_t)arg;
	bool ok = hdr && hdr->response_code == QKDN_W_RESP_SUCCESS;
	const char *why = !hdr ? "no answer from the controller" :
			  tb[QKDN_W_REASON] ? qkdn_wire_get_str(tb[QKDN_W_REASON]) :
			  ok ? "accepted" : "refused";

	if (mgrd_txn(m))
		return;
	/* No answer: queued again, for the next time the controller is up. */
	if (!m->store->ops->action_state(m->store, id, ok ? MGRD_ACTION_DONE : hdr ?
					 MGRD_ACTION_FAILED : MGRD_ACTION_QUEUED, why))
		mgrd_mu_publish(m, "action", json_pack("{s:I, s:s, s:s}", "id", (json_int_t)id,
						       "state", ok ? "done" : hdr ? "failed" : "queued",
						       "result", why));
}

void mgrd_qclm_flush(struct mgrd *m)
{
	struct mgrd_agent *ctl = mgrd_agent_find(m, QKDN_TLS_CN_CONTROLLER);
	struct mgrd_action a[FLUSH_MAX];
	size_t n = 0;

	if (!ctl || m->store->ops->actions_queued(m->store, a, FLUSH_MAX, &n) || !n)
		return;
	if (mgrd_txn(m))
		return;
	for (size_t i = 0; i < n; i++) {
		struct qkdn_wire_msg *req = qkdn_wire_msg_new(QKDN_W_CMD_M_CONTROL, m->cfg.id);

		if (!req)
			return;
		qkdn_wire_put_u8(req, QKDN_W_M_ACTION_TYPE, a[i].type);
		qkdn_wire_put_u8(req, QKDN_W_PRIORITY, a[i].priority);
		qkdn_wire_put_str(req, QKDN_W_M_ACTION_VALUE, a[i].value);
		qkdn_wire_put_str(req, QKDN_W_M_RESOURCE_ID, a[i].resource);
		qkdn_wire_put_u64(req, QKDN_W_M_ACTION_ID, a[i].id);
		if (mgrd_agent_request(ctl, req, 5000, control_done, (void *)(uintptr_t)a[i].id))
			return;
		m->store->ops->action_state(m->store, a[i].id, MGRD_ACTION_SENT, NULL);
		m->stats.actions_sent++;
	}
}

void mgrd_qclm_event(struct mgrd *m, const struct mgrd_event *ev)
{
	uint64_t row;

	if (ev->cmd != QKDN_W_CMD_M_ALARM)
		return;
	if (qkdn_wire_get_u8(ev->tb[QKDN_W_M_SEVERITY]) == QKDN_W_SEV_CLEARED)
		m->store->ops->alarm_clear(m->store, ev, &row);
	else
		m->store->ops->alarm_raise(m->store, ev, &row);
}

/*
 * 10.7, key relay rerouting support: the controller asks (step 1); QCLM
 * takes the whole topology from XLMO (step 2), selects the links that
 * match the request and what the other layers say of each (step 3), and
 * answers (step 4). A link's advice is the worst of its active alarms at
 * either end: one that takes a link out (QKD link down, module fault, KM
 * link down, QBER high) makes it out of service, with that alarm's
 * diagnosed cause (the root cause if XLMO found one); a low pool alone,
 * standby. The figures are the latest of the performance database.
 */
static uint8_t advice(uint16_t type)
{
	switch (type) {
	case QKDN_W_ALARM_QKD_LINK_DOWN:
	case QKDN_W_ALARM_QKD_MODULE_FAULT:
	case QKDN_W_ALARM_KM_LINK_DOWN:
	case QKDN_W_ALARM_QBER_HIGH:
		return QKDN_W_STATE_OUT_OF_SERVICE;
	case QKDN_W_ALARM_POOL_LOW:
		return QKDN_W_STATE_STANDBY;
	default:
		return QKDN_W_STATE_IN_SERVICE;
	}
}

static int advice_rank(uint8_t state)
{
	return state == QKDN_W_STATE_OUT_OF_SERVICE ? 2 : state == QKDN_W_STATE_STANDBY;
}

static void put_support_link(struct qkdn_wire_msg *r, json_t *l, json_t *alarms)
{
	uint32_t a = (uint32_t)json_integer_value(json_object_get(l, "a"));
	uint32_t b = (uint32_t)json_integer_value(json_object_get(l, "b"));
	json_t *root = NULL, *al, *x, *v;
	uint8_t state = QKDN_W_STATE_IN_SERVICE;
	char res[QKDN_ID_MAXLEN];
	size_t i, j;
	long nest;

	/* The worst alarm of the link; of equals, a root cause first. */
	json_array_foreach(json_object_get(l, "alarms"), i, al) {
		json_array_foreach(alarms, j, x) {
			uint8_t s;
			bool better;

			if (json_integer_value(json_object_get(x, "id")) !=
			    json_integer_value(json_object_get(al, "id")))
				continue;
			s = advice((uint16_t)json_integer_value(json_object_get(x, "type")));
			better = advice_rank(s) > advice_rank(state) ||
				 (s != QKDN_W_STATE_IN_SERVICE && advice_rank(s) == advice_rank(state) &&
				  json_integer_value(json_object_get(root, "root")) &&
				  !json_integer_value(json_object_get(x, "root")));
			if (better) {
				state = s;
				root = x;
			}
			break;
		}
	}
	snprintf(res, sizeof(res), "km-link-%u-%u", a, b);
	nest = qkdn_wire_nest_start(r, QKDN_W_M_SUPPORT_LINK);
	qkdn_wire_put_str(r, QKDN_W_M_RESOURCE_ID, res);
	qkdn_wire_put_u32(r, QKDN_W_SOURCE_NODE_ID, a);
	qkdn_wire_put_u32(r, QKDN_W_PEER_NODE_ID, b);
	qkdn_wire_put_u8(r, QKDN_W_M_RESOURCE_STATE, state);
	if (root && state != QKDN_W_STATE_IN_SERVICE) {
		const char *cause = json_string_value(json_object_get(root, "cause"));
		char text[QKDN_W_M_DESC_MAX];

		if (!cause)
			cause = json_string_value(json_object_get(root, "description"));
		qkdn_wire_put_u16(r, QKDN_W_M_ALARM_TYPE,
				  (uint16_t)json_integer_value(json_object_get(root, "type")));
		qkdn_wire_put_u8(r, QKDN_W_M_SEVERITY,
				 (uint8_t)json_integer_value(json_object_get(root, "severity")));
		if (cause && *cause) {
			/* Truncated to what the attribute takes. */
			snprintf(text, sizeof(text), "%s", cause);
			qkdn_wire_put_str(r, QKDN_W_M_ALARM_DESC, text);
		}
	}
	if ((v = json_object_get(l, "key_rate_bps")) && json_is_integer(v))
		qkdn_wire_put_u64(r, QKDN_W_GENERATION_RATE, (uint64_t)json_integer_value(v));
	if ((v = json_object_get(l, "qber_ppm")) && json_is_integer(v) &&
	    json_integer_value(v) >= 0 && json_integer_value(v) <= QKDN_W_QBER_MAX)
		qkdn_wire_put_u32(r, QKDN_W_QBER, (uint32_t)json_integer_value(v));
	if ((v = json_object_get(l, "key_bytes")) && json_is_integer(v))
		qkdn_wire_put_u64(r, QKDN_W_KEY_AMOUNT, (uint64_t)json_integer_value(v));
	qkdn_wire_nest_end(r, nest);
}

struct qkdn_wire_msg *mgrd_qclm_support(struct mgrd *m, const char *agent,
					const struct qkdn_wire_hdr *hdr,
					const struct nlattr *const *tb)
{
	const char *res = tb[QKDN_W_M_RESOURCE_ID] ? qkdn_wire_get_str(tb[QKDN_W_M_RESOURCE_ID])
						  : "";
	struct qkdn_wire_msg *r;
	json_t *topo, *alarms, *l;
	uint32_t a = 0, b = 0, x, y;
	unsigned int sent = 0;
	size_t i;
	long table;
	int n = 0;

	m->stats.support_requests++;
	if (*res && !(sscanf(res, "km-link-%" SCNu32 "-%" SCNu32 "%n", &a, &b, &n) == 2 &&
		      !res[n] && a && b && a != b) &&
	    !(sscanf(res, "route-%" SCNu32 "-%" SCNu32 "%n", &x, &y, &n) == 2 && !res[n])) {
		char why[QKDN_W_REASON_MAX];

		snprintf(why, sizeof(why), "resource \"%s\" is neither km-link-A-B nor route-S-D",
			 res);
		r = qkdn_wire_response_new(hdr->cmd, m->cfg.id, hdr->msg_id, QKDN_W_RESP_FAILURE);
		if (r)
			qkdn_wire_put_str(r, QKDN_W_REASON, why);
		return r;
	}
	topo = mgrd_xlmo_topology(m);		/* step 2 */
	alarms = m->store->ops->alarms(m->store, true);
	r = qkdn_wire_response_new(hdr->cmd, m->cfg.id, hdr->msg_id, QKDN_W_RESP_SUCCESS);
	if (!r || !topo || !alarms) {
		json_decref(topo);
		json_decref(alarms);
		qkdn_wire_msg_free(r);
		r = qkdn_wire_response_new(hdr->cmd, m->cfg.id, hdr->msg_id, QKDN_W_RESP_FAILURE);
		if (r)
			qkdn_wire_put_str(r, QKDN_W_REASON, "manager storage error");
		return r;
	}
	table = qkdn_wire_nest_start(r, QKDN_W_M_SUPPORT_TABLE);
	json_array_foreach(json_object_get(topo, "links"), i, l) {	/* step 3 */
		x = (uint32_t)json_integer_value(json_object_get(l, "a"));
		y = (uint32_t)json_integer_value(json_object_get(l, "b"));
		if (a && !((x == a && y == b) || (x == b && y == a)))
			continue;
		put_support_link(r, l, alarms);
		sent++;
	}
	qkdn_wire_nest_end(r, table);
	json_decref(topo);
	json_decref(alarms);
	qkdn_log(QKDN_LOG_INFO, "rerouting support", "event=qclm-support agent=%s resource=%s "
		 "links=%u", agent, *res ? res : "all", sent);
	return r;			/* step 4 */
}
