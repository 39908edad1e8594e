// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * QLM, quantum layer management (seed 001 clause 9.2.1), fed by Mq
 * (qkdn-qkdd). Every notification is already in the store's event log and
 * its table (performance database, inventory) when it gets here; QLM adds
 * what the quantum layer means:
 *
 *   - 10.1.1 QKD link failure: a QKD link alarm is recorded, the QKD
 *     module is asked for diagnostics, the answer analysed and reported
 *     to XLMO (xlmo.c), which correlates and has QCLM decide;
 *   - 9.2.1 eavesdropping detection and 10.5: a QBER over qber-alarm-ppm,
 *     reported as an alarm, a security event or a performance figure, is
 *     an eavesdropping attempt: alarm, XLMO, remedy (isolate the link).
 */
#include <stdio.h>

#include "log.h"
#include "store.h"

/* The link already has its eavesdropping alarm (the driver raised it,
 * with its diagnosis): a figure or security event saying the same adds
 * nothing to decide on. */
static bool qber_alarm_active(struct mgrd *m, uint32_t node, uint32_t peer)
{
	struct mgrd_alarm rel[16];
	size_t n = 0;

	if (!peer || m->store->ops->alarms_related(m->store, node, peer, 0, 0, rel, 16, &n))
		return false;
	for (size_t i = 0; i < n; i++)
		if (rel[i].type == QKDN_W_ALARM_QBER_HIGH)
			return true;
	return false;
}

static void qber_surge(struct mgrd *m, const struct mgrd_event *ev, uint64_t qber)
{
	uint32_t peer = ev->tb[QKDN_W_PEER_NODE_ID] ? qkdn_wire_get_u32(ev->tb[QKDN_W_PEER_NODE_ID])
						    : 0;
	char why[160];

	snprintf(why, sizeof(why), "QBER %llu ppm over the %u ppm threshold: eavesdropping attempt",
		 (unsigned long long)qber, m->cfg.qber_alarm_ppm);
	if (qber_alarm_active(m, ev->node, peer))
		return;
	qkdn_log(QKDN_LOG_WARN, "eavesdropping suspected", "event=qlm-eavesdropping agent=%s "
		 "resource=%s qber_ppm=%llu", ev->agent, ev->resource, (unsigned long long)qber);
	mgrd_xlmo_alarm(m, 0, "QLM", ev->node, peer, QKDN_W_ALARM_QBER_HIGH, why);
}

void mgrd_qlm_event(struct mgrd *m, const struct mgrd_event *ev)
{
	const struct nlattr *const *tb = ev->tb;
	uint64_t row;

	switch (ev->cmd) {
	case QKDN_W_CMD_M_ALARM:
		if (qkdn_wire_get_u8(tb[QKDN_W_M_SEVERITY]) == QKDN_W_SEV_CLEARED) {
			m->store->ops->alarm_clear(m->store, ev, &row);
			return;
		}
		if (m->store->ops->alarm_raise(m->store, ev, &row))
			return;
		mgrd_xlmo_diagnose(m, ev, row, "QLM");
		return;
	case QKDN_W_CMD_M_SECURITY:
		if (qkdn_wire_get_u16(tb[QKDN_W_M_SEC_EVENT]) == QKDN_W_SEC_EAVESDROPPING)
			qber_surge(m, ev, tb[QKDN_W_M_ALARM_VALUE] ?
				   qkdn_wire_get_u64(tb[QKDN_W_M_ALARM_VALUE]) : 0);
		return;
	case QKDN_W_CMD_M_PERF:
		/* The performance database has it; a surge is a security matter. */
		if (qkdn_wire_get_u16(tb[QKDN_W_M_PERF_TYPE]) == QKDN_W_PERF_QBER &&
		    qkdn_wire_get_u64(tb[QKDN_W_M_PERF_VALUE]) > m->cfg.qber_alarm_ppm)
			qber_surge(m, ev, qkdn_wire_get_u64(tb[QKDN_W_M_PERF_VALUE]));
		return;
	default:
		return;		/* inventory (10.3 steps 1-2): stored as it is */
	}
}
