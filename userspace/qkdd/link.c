// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The state of each QKD link, and the rule that both ends push a key or
 * neither: the tx driver keeps each batch it sent until the rx driver's
 * ACK says how many of its keys the rx module took, then pushes exactly
 * those into its own module.
 *
 * State (enum qkdn_qkd_state), as the tx driver decides it:
 *   DOWN          outage set, no connection to the rx driver, no key at
 *                 this length, or (etsi014) the KME failed
 *   EAVESDROPPED  the simulated QBER is above the abort threshold
 *   UP            otherwise
 * The rx driver takes the tx driver's state from STATUS frames, and is
 * DOWN while it has no connection. Each reports its state to its module
 * on every change and every QKDD_STATUS_MS.
 *
 * Leaving UP, the tx driver first lets the batches in flight be
 * acknowledged and pushed, and only then tells its module and the rx
 * driver (whose STATUS frame follows those batches on the stream): a
 * module refuses keys while the link is not UP, and a batch the rx side
 * took must not be refused at the tx side.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "qkdd.h"
#include "secmem.h"

const char *qkdd_state_name(uint8_t state)
{
	switch (state) {
	case QKDN_QKD_UP: return "up";
	case QKDN_QKD_DOWN: return "down";
	case QKDN_QKD_EAVESDROPPED: return "eavesdropped";
	default: return "unknown";
	}
}

struct qkdd_link *qkdd_link_find(struct qkdd *q, uint32_t id)
{
	for (size_t i = 0; i < q->n_links; i++)
		if (q->links[i].id == id)
			return &q->links[i];
	return NULL;
}

uint64_t qkdd_link_sim_rate(const struct qkdd_link *l)
{
	struct qkdd_model_out out;
	double r;

	qkdd_model_eval(&l->model, &out);
	r = floor(out.rate_bps);
	if (l->rate_cap_bps && r > (double)l->rate_cap_bps)
		r = (double)l->rate_cap_bps;
	return (uint64_t)r;
}

struct qkdd_batch *qkdd_batch_new(uint32_t n, uint32_t key_len)
{
	struct qkdd_batch *b = calloc(1, sizeof(*b) + n * sizeof(b->keys[0]));

	if (!b)
		return NULL;
	b->buf = qkdn_secbuf_alloc((size_t)n * key_len);
	if (!b->buf) {
		free(b);
		return NULL;
	}
	b->n = n;
	for (uint32_t i = 0; i < n; i++) {
		b->keys[i].data = b->buf + (size_t)i * key_len;
		b->keys[i].len = key_len;
	}
	return b;
}

void qkdd_batch_free(struct qkdd_batch *b)
{
	if (!b)
		return;
	qkdn_secbuf_free(b->buf);
	explicit_bzero(b->keys, b->n * sizeof(b->keys[0]));
	free(b);
}

/* What the link is doing now, from the tx driver's point of view. */
static void tx_compute(struct qkdd_link *l, uint8_t *state, uint64_t *rate, uint32_t *qber,
		       bool *has_qber)
{
	*has_qber = false;
	*qber = 0;
	*rate = 0;
	if (l->conf->mode == QKDD_SIM) {
		struct qkdd_model_out out;

		qkdd_model_eval(&l->model, &out);
		*has_qber = true;
		*qber = (uint32_t)lround(out.qber * 1e6);
		if (out.aborted)
			*state = QKDN_QKD_EAVESDROPPED;
		else if (l->outage || !qkdd_chan_up(l) || qkdd_link_sim_rate(l) == 0)
			*state = QKDN_QKD_DOWN;
		else
			*state = QKDN_QKD_UP;
		if (*state == QKDN_QKD_UP)
			*rate = qkdd_link_sim_rate(l);
		return;
	}
	*state = l->outage || l->kme_failed || !qkdd_chan_up(l) ? QKDN_QKD_DOWN : QKDN_QKD_UP;
	if (*state == QKDN_QKD_UP) {
		/* What the KME gave us, over the last few seconds. */
		struct timespec now;
		double secs;

		clock_gettime(CLOCK_MONOTONIC, &now);
		secs = qkdd_elapsed(&l->rate_since, &now);
		*rate = secs > 0 ? (uint64_t)(l->measured_bits / secs) : l->rate_bps;
		if (secs > 5) {
			l->measured_bits = 0;
			l->rate_since = now;
		}
	}
}

void qkdd_link_update(struct qkdd_link *l)
{
	uint8_t state;
	uint64_t rate;
	uint32_t qber;
	bool has_qber, changed;
	struct timespec now;
	uint8_t was = l->state;

	if (l->conf->role == QKDD_TX) {
		tx_compute(l, &state, &rate, &qber, &has_qber);
		/* Batches in flight still go in under the old state. */
		if (state != QKDN_QKD_UP && l->state == QKDN_QKD_UP && l->n_pending &&
		    qkdd_chan_up(l))
			return;
	} else if (qkdd_chan_up(l) && l->peer_state) {
		state = l->peer_state;
		rate = l->peer_rate;
		qber = l->peer_qber;
		has_qber = l->peer_has_qber;
	} else {
		state = QKDN_QKD_DOWN;
		rate = 0;
		qber = l->peer_qber;
		has_qber = l->peer_has_qber;
	}
	changed = state != l->state;
	if (changed)
		qkdn_log(state == QKDN_QKD_UP ? QKDN_LOG_INFO : QKDN_LOG_WARN, "QKD link state",
			 "event=state link=%u role=%s state=%s was=%s rate=%" PRIu64 " qber=%.4f",
			 l->id, qkdd_role_name(l->conf->role), qkdd_state_name(state),
			 qkdd_state_name(l->state), rate, qber / 1e6);
	if (changed && state != QKDN_QKD_UP)
		l->budget_bits = 0;
	if (changed && state == QKDN_QKD_UP)
		clock_gettime(CLOCK_MONOTONIC, &l->last_gen);
	if (changed || rate != l->rate_bps || qber != l->qber_ppm || has_qber != l->has_qber) {
		l->state = state;
		l->rate_bps = rate;
		l->qber_ppm = qber;
		l->has_qber = has_qber;
		if (l->conf->role == QKDD_TX && qkdd_chan_up(l) && qkdd_chan_send_status(l))
			qkdd_chan_close(l, "output buffer full");
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (changed || qkdd_elapsed(&l->last_status, &now) * 1000 >= QKDD_STATUS_MS)
		qkdd_kernel_status(l);
	if (changed)
		qkdd_mgr_state(l, was);
}

void qkdd_link_pending_add(struct qkdd_link *l, struct qkdd_batch *b)
{
	b->next = NULL;
	if (l->pend_tail)
		l->pend_tail->next = b;
	else
		l->pend_head = b;
	l->pend_tail = b;
	l->n_pending++;
}

static struct qkdd_batch *pending_pop(struct qkdd_link *l)
{
	struct qkdd_batch *b = l->pend_head;

	if (!b)
		return NULL;
	l->pend_head = b->next;
	if (!l->pend_head)
		l->pend_tail = NULL;
	l->n_pending--;
	return b;
}

void qkdd_link_drop_pending(struct qkdd_link *l)
{
	struct qkdd_batch *b;
	unsigned int n = 0;

	while ((b = pending_pop(l))) {
		n++;
		qkdd_batch_free(b);
	}
	if (n) {
		l->dropped_batches += n;
		qkdn_log(QKDN_LOG_WARN, "batches in flight dropped unpushed: the rx side may hold "
			 "keys this side does not", "event=pending-dropped link=%u batches=%u", l->id, n);
	}
}

uint32_t qkdd_link_push_batch(struct qkdd_link *l, const struct qkdd_key *keys, uint32_t n,
			      int *err)
{
	uint32_t i;

	*err = 0;
	for (i = 0; i < n; i++) {
		int ret = qkdd_kernel_push(l, &keys[i]);

		if (ret) {
			*err = ret;
			l->push_errors++;
			if (ret != l->last_push_err || l->push_errors % 100 == 1) {
				char ext[600];

				qkdn_log(QKDN_LOG_WARN, "the module refused a QKD-key",
					 "event=push-failed link=%u role=%s errno=%s err=\"%s\" extack=%s "
					 "refused=%" PRIu64, l->id, qkdd_role_name(l->conf->role),
					 qkdd_errno_name(ret), strerror(-ret),
					 qkdn_log_quote(ext, sizeof(ext), qkdn_nl_extack(l->q->nl)),
					 l->push_errors);
			}
			l->last_push_err = ret;
			break;
		}
		l->measured_bits += (uint64_t)keys[i].len * 8;
	}
	return i;
}

int qkdd_link_on_ack(struct qkdd_link *l, uint64_t seq, uint32_t pushed, uint32_t err)
{
	struct qkdd_batch *b = l->pend_head;
	uint32_t done;
	int perr;

	if (!b || b->seq != seq || pushed > b->n)
		return -EPROTO;
	pending_pop(l);
	if (pushed < b->n && err)
		qkdn_log(QKDN_LOG_WARN, "the rx side took only part of a batch; this side pushes "
			 "the same part", "event=partial-batch link=%u seq=%" PRIu64
			 " pushed=%u of=%u errno=%s", l->id, seq, pushed, b->n,
			 qkdd_errno_name((int)err));
	done = qkdd_link_push_batch(l, b->keys, pushed, &perr);
	if (done < pushed)
		qkdn_log(QKDN_LOG_ERR, "this side's module refused keys the rx side holds: "
			 "the link's key streams now differ", "event=push-mismatch link=%u seq=%" PRIu64
			 " pushed=%u rx_pushed=%u errno=%s", l->id, seq, done, pushed,
			 qkdd_errno_name(perr));
	qkdd_batch_free(b);
	/* A state change may have waited for this batch. */
	qkdd_link_update(l);
	if (l->flood && l->conf->mode == QKDD_SIM) {
		struct timespec now;

		clock_gettime(CLOCK_MONOTONIC, &now);
		qkdd_sim_tick(l, &now);
	}
	return 0;
}

int qkdd_links_start(struct qkdd *q)
{
	q->n_links = q->cfg.n_links;
	q->links = calloc(q->n_links, sizeof(*q->links));
	if (!q->links)
		return -ENOMEM;
	for (size_t i = 0; i < q->n_links; i++) {
		struct qkdd_link *l = &q->links[i];
		const struct qkdd_link_conf *c = &q->cfg.links[i];

		l->q = q;
		l->conf = c;
		l->id = c->id;
		l->ch.fd = -1;
		l->listen_fd = -1;
		l->state = QKDN_QKD_UNKNOWN;
		l->next_seq = 1;
		qkdd_model_defaults(&l->model);
		l->model.length_km = c->sim.length_km;
		l->model.loss_db_per_km = c->sim.loss_db_km;
		l->model.detector_efficiency = c->sim.detector_efficiency;
		l->model.dark_count = c->sim.dark_count;
		l->model.pulse_rate_hz = c->sim.pulse_rate_hz;
		l->model.mu = c->sim.mu;
		l->model.misalignment = c->sim.misalignment;
		l->model.ec_inefficiency = c->sim.ec_efficiency;
		l->rate_cap_bps = c->sim.rate_cap_bps;
		l->peer_node = qkdd_kernel_peer_node(q, l->id);
		clock_gettime(CLOCK_MONOTONIC, &l->rate_since);
	}
	for (size_t i = 0; i < q->n_links; i++) {
		struct qkdd_link *l = &q->links[i];
		int ret = qkdd_chan_start(l);

		if (!ret && l->conf->mode == QKDD_ETSI014)
			ret = qkdd_etsi_link_start(l);
		if (ret)
			return ret;
		qkdd_link_update(l);
	}
	return 0;
}

bool qkdd_links_idle(const struct qkdd *q)
{
	for (size_t i = 0; i < q->n_links; i++)
		if (q->links[i].n_pending || q->links[i].req)
			return false;
	return true;
}

void qkdd_links_free(struct qkdd *q)
{
	for (size_t i = 0; i < q->n_links; i++) {
		struct qkdd_link *l = &q->links[i];

		qkdd_etsi_link_stop(l);
		qkdd_chan_free(l);
		qkdd_link_drop_pending(l);
		if (q->nl && l->state != QKDN_QKD_DOWN && l->state != QKDN_QKD_UNKNOWN) {
			/* The driver is gone: no more keys on this link. */
			l->state = QKDN_QKD_DOWN;
			l->rate_bps = 0;
			qkdd_kernel_status(l);
		}
	}
	free(q->links);
	q->links = NULL;
	q->n_links = 0;
}

void qkdd_log_stats(struct qkdd *q, const char *why)
{
	for (size_t i = 0; i < q->n_links; i++) {
		const struct qkdd_link *l = &q->links[i];

		qkdn_log(QKDN_LOG_INFO, "link counters",
			 "event=stats why=%s link=%u role=%s mode=%s state=%s rate=%" PRIu64
			 " keys=%" PRIu64 " bytes=%" PRIu64 " push_errors=%" PRIu64
			 " kme_errors=%" PRIu64 " protocol_errors=%" PRIu64 " dropped_batches=%" PRIu64,
			 why, l->id, qkdd_role_name(l->conf->role), qkdd_mode_name(l->conf->mode),
			 qkdd_state_name(l->state), l->rate_bps, l->keys, l->bytes, l->push_errors,
			 l->kme_errors, l->proto_errors, l->dropped_batches);
	}
}
