/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The physics of a simulated QKD link: asymptotic decoy-state BB84
 * (Lo, Ma, Chen, PRL 94, 230504, 2005; GLLP: Gottesman, Lo, Lütkenhaus,
 * Preskill, QIC 4, 325, 2004), with an intercept-resend eavesdropper.
 * Pure functions, no I/O: unit-tested in tests/test_qkdd_model.c and
 * documented, formula by formula, in Documentation/qkdd.rst.
 *
 *   eta   = eta_det * 10^(-alpha * L / 10)          transmittance
 *   Y1    = Y0 + eta                                 single-photon yield
 *   Q1    = Y1 * mu * exp(-mu)                       single-photon gain
 *   Qmu   = Y0 + 1 - exp(-eta * mu)                  signal gain
 *   e_s   = ed + (1 - 2 ed) * 0.25 * f_eve           error of a detected signal
 *   e1    = (e0 * Y0 + e_s * eta) / Y1               single-photon error
 *   Emu   = (e0 * Y0 + e_s * (1 - exp(-eta mu))) / Qmu   QBER
 *   R     = q * (Q1 * (1 - h(e1)) - Qmu * f * h(Emu)), clamped at 0,
 *           in bits per pulse; times the pulse rate, bit/s
 *
 * with q = 1/2 (BB84 sifting), f the error-correction inefficiency,
 * h the binary entropy and f_eve the fraction of pulses the eavesdropper
 * intercepts and resends (each adds an error with probability 1/4).
 * Above the abort threshold (QBER > 11%) the protocol aborts: no key.
 */
#ifndef QKDD_MODEL_H
#define QKDD_MODEL_H

#include <stdbool.h>

/* QBER above which BB84 post-processing aborts (about 11%, where the
 * one-way key rate of BB84 reaches zero: 1 - 2 h(e) = 0). */
#define QKDD_QBER_ABORT 0.11

struct qkdd_model {
	double length_km;
	double loss_db_per_km;		/* alpha, 0.2 dB/km for SMF-28 at 1550 nm */
	double detector_efficiency;	/* eta_det, ~0.1 (InGaAs APD) */
	double dark_count;		/* Y0, per pulse, ~1e-6 */
	double pulse_rate_hz;		/* 1 GHz */
	double mu;			/* mean photon number of signal states, 0.5 */
	double misalignment;		/* ed, 1% */
	double ec_inefficiency;		/* f, 1.16 */
	double eavesdrop;		/* f_eve, 0..1 */
};

struct qkdd_model_out {
	double eta;		/* channel and detector transmittance */
	double qber;		/* Emu */
	double rate_per_pulse;	/* R, secret bits per pulse (0 if aborted) */
	double rate_bps;	/* R * pulse rate */
	bool aborted;		/* QBER above QKDD_QBER_ABORT */
};

/* The defaults above, length 0, no eavesdropper. */
void qkdd_model_defaults(struct qkdd_model *m);
void qkdd_model_eval(const struct qkdd_model *m, struct qkdd_model_out *out);
/* h(p) = -p log2 p - (1-p) log2 (1-p); 0 at 0 and 1, 1 at 1/2. */
double qkdd_binary_entropy(double p);

#endif
