// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Decoy-state BB84 key rate and QBER of a simulated link (see model.h). */
#include <math.h>

#include "model.h"

#define E0 0.5		/* error rate of background counts: random */
#define SIFT 0.5	/* q: half the bases match in BB84 */

void qkdd_model_defaults(struct qkdd_model *m)
{
	*m = (struct qkdd_model){
		.length_km = 0,
		.loss_db_per_km = 0.2,
		.detector_efficiency = 0.1,
		.dark_count = 1e-6,
		.pulse_rate_hz = 1e9,
		.mu = 0.5,
		.misalignment = 0.01,
		.ec_inefficiency = 1.16,
		.eavesdrop = 0,
	};
}

double qkdd_binary_entropy(double p)
{
	if (p <= 0 || p >= 1)
		return 0;
	return -p * log2(p) - (1 - p) * log2(1 - p);
}

void qkdd_model_eval(const struct qkdd_model *m, struct qkdd_model_out *out)
{
	double eta = m->detector_efficiency * pow(10, -m->loss_db_per_km * m->length_km / 10);
	double y0 = m->dark_count, mu = m->mu;
	double eve = m->eavesdrop < 0 ? 0 : m->eavesdrop > 1 ? 1 : m->eavesdrop;
	double e_sig = m->misalignment + (1 - 2 * m->misalignment) * 0.25 * eve;
	double y1 = y0 + eta;
	double q1 = y1 * mu * exp(-mu);
	double e1 = (E0 * y0 + e_sig * eta) / y1;
	double detected = 1 - exp(-eta * mu);
	double qmu = y0 + detected;
	double emu = (E0 * y0 + e_sig * detected) / qmu;
	double r = SIFT * (q1 * (1 - qkdd_binary_entropy(e1)) -
			   qmu * m->ec_inefficiency * qkdd_binary_entropy(emu));

	out->eta = eta;
	out->qber = emu;
	out->aborted = emu > QKDD_QBER_ABORT;
	out->rate_per_pulse = out->aborted || !(r > 0) ? 0 : r;
	out->rate_bps = out->rate_per_pulse * m->pulse_rate_hz;
}
