// SPDX-License-Identifier: GPL-2.0 OR MIT
/* The decoy-state BB84 model of qkdn-qkdd's simulated links. */
#include <math.h>

#include "qkdd/model.h"
#include "tap.h"

static struct qkdd_model_out eval_at(double km, double eve)
{
	struct qkdd_model m;
	struct qkdd_model_out o;

	qkdd_model_defaults(&m);
	m.length_km = km;
	m.eavesdrop = eve;
	qkdd_model_eval(&m, &o);
	return o;
}

int main(void)
{
	struct qkdd_model_out prev = eval_at(0, 0), o;
	bool decreasing = true;
	double cutoff = -1;

	ok(fabs(qkdd_binary_entropy(0.5) - 1) < 1e-12, "h(1/2) = 1");
	ok(qkdd_binary_entropy(0) == 0 && qkdd_binary_entropy(1) == 0, "h(0) = h(1) = 0");
	ok(fabs(qkdd_binary_entropy(0.11) - 0.4999) < 1e-3, "h(0.11) is about 1/2");

	/* Hand-computed at 10 km: eta = 0.1 * 10^-0.2 = 0.0631. */
	o = eval_at(10, 0);
	ok(fabs(o.eta - 0.1 * pow(10, -0.2)) < 1e-12, "eta at 10 km: %g", o.eta);
	ok(fabs(o.qber - 0.01) < 1e-4, "QBER at 10 km is the misalignment, 1%%: %g", o.qber);
	ok(o.rate_bps > 7.2e6 && o.rate_bps < 7.5e6, "10 km at 1 GHz: %.3g bit/s (7.34e6 expected)",
	   o.rate_bps);
	ok(!o.aborted, "10 km does not abort");

	for (double km = 1; km <= 300; km += 1) {
		o = eval_at(km, 0);
		if (prev.rate_bps > 0 && !(o.rate_bps < prev.rate_bps))
			decreasing = false;
		if (cutoff < 0 && o.rate_bps == 0)
			cutoff = km;
		prev = o;
	}
	ok(decreasing, "the key rate falls strictly with length until it reaches 0");
	ok(cutoff > 185 && cutoff < 200, "no key past about 193 km: first zero at %g km", cutoff);
	ok(eval_at(250, 0).rate_bps == 0, "no key at 250 km");
	ok(eval_at(250, 0).rate_per_pulse == 0, "and nothing negative either");
	ok(eval_at(150, 0).rate_bps > 0, "still key at 150 km");

	o = eval_at(10, 1);
	ok(fabs(o.qber - 0.25) < 0.01, "full intercept-resend: QBER %.4f, about 25%%", o.qber);
	ok(o.aborted && o.rate_bps == 0, "full intercept-resend aborts: no key");
	o = eval_at(10, 0.2);
	ok(o.qber > 0.05 && o.qber < QKDD_QBER_ABORT && !o.aborted,
	   "intercepting 20%% raises QBER to %.4f, below the threshold", o.qber);
	ok(o.rate_bps < eval_at(10, 0).rate_bps, "and lowers the key rate");
	o = eval_at(10, 0.5);
	ok(o.qber > QKDD_QBER_ABORT && o.aborted, "intercepting half: QBER %.4f aborts", o.qber);
	ok(eval_at(10, 7).qber == eval_at(10, 1).qber, "eavesdrop fraction is clamped to 1");
	return tap_done();
}
