// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * KMLM, key management layer management (seed 001 clause 9.2.2), fed by
 * Mk (qkdn-kmd). The store already holds each notification in its table:
 * key pools and rates (performance database), accounting records (10.2
 * steps 1-3: the CDRs XLMO totals per application and per link), key
 * life-cycle events (traceability), inventory (10.3 steps 4-6). KMLM adds
 * the fault procedure 10.1.2: a KM alarm (relay failure, Kx link down,
 * pool low) is recorded, the KM asked for diagnostics, the answer
 * analysed and reported to XLMO.
 */
#include "store.h"

void mgrd_kmlm_event(struct mgrd *m, const struct mgrd_event *ev)
{
	uint64_t row;

	if (ev->cmd != QKDN_W_CMD_M_ALARM)
		return;
	if (qkdn_wire_get_u8(ev->tb[QKDN_W_M_SEVERITY]) == QKDN_W_SEV_CLEARED) {
		m->store->ops->alarm_clear(m->store, ev, &row);
		return;
	}
	if (m->store->ops->alarm_raise(m->store, ev, &row))
		return;
	mgrd_xlmo_diagnose(m, ev, row, "KMLM");
}
