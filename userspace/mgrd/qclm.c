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
			  ok ? "accepted" : tb[QKDN_W_REASON] ? qkdn_wire_get_str(tb[QKDN_W_REASON])
							      : "refused";

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
