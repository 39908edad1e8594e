// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The QKD module's diagnosis of its link (seed 001 10.1.1 step 3, 10.5):
 * what the manager gets in answer to M_DIAG and in an alarm's description.
 *
 * Eavesdropping is diagnosed the way a device's own tool would: the QBER
 * the link should have at its length (misalignment and dark counts: the
 * model without an eavesdropper) against the QBER measured; the excess is
 * what an intercept-resend attack adds, 1/4 per intercepted pulse, so it
 * also says how much of the traffic the eavesdropper touches. The driver
 * reads the measured QBER; it never looks at the simulator's eavesdropper.
 */
#include <math.h>
#include <stdio.h>

#include "qkdd.h"

void qkdd_link_resource(const struct qkdd_link *l, char *out, size_t len)
{
	snprintf(out, len, "qkd-link-%u-%u", l->q->cfg.node_id, l->id);
}

/* Intercept-resend on a fraction f of the pulses adds (1 - 2 ed) f / 4
 * to the error rate of detected signals. */
static double intercepted_fraction(const struct qkdd_link *l, double excess)
{
	double per_pulse = (1 - 2 * l->model.misalignment) * 0.25;
	double f = per_pulse > 0 ? excess / per_pulse : 0;

	return f < 0 ? 0 : f > 1 ? 1 : f;
}

static void diagnose_sim_tx(const struct qkdd_link *l, char *info, size_t len)
{
	struct qkdd_model clean = l->model;
	struct qkdd_model_out expect;
	double qber = l->qber_ppm / 1e6;

	clean.eavesdrop = 0;
	qkdd_model_eval(&clean, &expect);
	switch (l->state) {
	case QKDN_QKD_EAVESDROPPED:
		snprintf(info, len, "eavesdropping: QBER %.2f%% over the %.0f%% abort threshold, "
			 "%.2f%% expected at %.1f km; the excess is an intercept-resend attack on "
			 "about %.0f%% of the pulses", qber * 100, QKDD_QBER_ABORT * 100,
			 expect.qber * 100, l->model.length_km,
			 intercepted_fraction(l, qber - expect.qber) * 100);
		return;
	case QKDN_QKD_UP:
		snprintf(info, len, "up: %llu bit/s, QBER %.2f%% (%.2f%% expected at %.1f km)",
			 (unsigned long long)l->rate_bps, qber * 100, expect.qber * 100,
			 l->model.length_km);
		return;
	}
	if (l->outage)
		snprintf(info, len, "no detections on the quantum channel: fibre cut or optical "
			 "path lost");
	else if (!qkdd_chan_up(l))
		snprintf(info, len, "the classical channel to the peer QKD module %s (%s) is down",
			 l->conf->peer_module, l->conf->addr_str);
	else if (expect.rate_bps < 1)
		snprintf(info, len, "no secret key at %.1f km: %.1f dB of channel loss, QBER "
			 "%.2f%%", l->model.length_km, l->model.length_km * l->model.loss_db_per_km,
			 expect.qber * 100);
	else
		snprintf(info, len, "no key: secret key rate capped at 0");
}

uint8_t qkdd_diagnose(const struct qkdd_link *l, char *info, size_t len)
{
	uint8_t state = l->state == QKDN_QKD_UP ? QKDN_W_STATE_IN_SERVICE
						: QKDN_W_STATE_OUT_OF_SERVICE;

	if (l->conf->role == QKDD_TX && l->conf->mode == QKDD_SIM) {
		diagnose_sim_tx(l, info, len);
		return state;
	}
	if (l->conf->role == QKDD_TX && l->state != QKDN_QKD_UP && l->kme_failed) {
		snprintf(info, len, "the KME %s fails (%llu errors)", l->conf->etsi.kme,
			 (unsigned long long)l->kme_errors);
		return state;
	}
	if (!qkdd_chan_up(l)) {
		snprintf(info, len, "the classical channel to the peer QKD module %s (%s) is down",
			 l->conf->peer_module, l->conf->addr_str);
		return state;
	}
	switch (l->state) {
	case QKDN_QKD_EAVESDROPPED:
		snprintf(info, len, "eavesdropping: QBER %.2f%% over the %.0f%% abort threshold, "
			 "measured by the transmitter %s", l->qber_ppm / 1e4, QKDD_QBER_ABORT * 100,
			 l->conf->role == QKDD_TX ? l->conf->module : l->conf->peer_module);
		break;
	case QKDN_QKD_UP:
		snprintf(info, len, "up: %llu bit/s%s", (unsigned long long)l->rate_bps,
			 l->has_qber ? "" : ", no QBER reported");
		break;
	default:
		snprintf(info, len, "the transmitter %s reports the link down",
			 l->conf->role == QKDD_TX ? l->conf->module : l->conf->peer_module);
	}
	return state;
}
