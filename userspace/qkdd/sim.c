// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Key generation of a simulated QKD module pair, at the tx driver. Each
 * tick adds rate x elapsed time to a budget of secret bits (the model's
 * rate, or the cap); every whole QKD-key the budget holds is drawn from
 * getrandom() into a locked batch, given a random UUID, its generation
 * time and its SHA-256, and sent to the rx driver over the simulated
 * quantum channel. In flood mode (benchmarks) the budget is ignored:
 * full batches go out whenever the window has room.
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/evp.h>

#include "hex.h"
#include "log.h"
#include "qkdd.h"

int qkdd_sha256(const void *data, size_t len, uint8_t out[32])
{
	return EVP_Digest(data, len, out, NULL, EVP_sha256(), NULL) ? 0 : -EIO;
}

static int fill_random(void *p, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = getrandom((uint8_t *)p + got, len - got, 0);

		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0)
			got += (size_t)n;
	}
	return 0;
}

int qkdd_key_fill(struct qkdd_key *k)
{
	uint8_t uuid[16];
	struct timespec t;
	int ret;

	ret = fill_random(k->data, k->len);
	if (!ret)
		ret = fill_random(uuid, sizeof(uuid));
	if (ret)
		return ret;
	uuid[6] = (uuid[6] & 0x0f) | 0x40;	/* RFC 9562 version 4 */
	uuid[8] = (uuid[8] & 0x3f) | 0x80;
	qkdn_uuid_format(k->id, uuid);
	clock_gettime(CLOCK_REALTIME, &t);
	k->ts_ns = (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
	return qkdd_sha256(k->data, k->len, k->hash);
}

static bool producing(struct qkdd_link *l)
{
	struct qkdd_model_out out;

	qkdd_model_eval(&l->model, &out);
	return l->state == QKDN_QKD_UP && !l->outage && qkdd_chan_up(l) && !out.aborted &&
	       qkdd_link_sim_rate(l) > 0 && !l->q->stopping;
}

static int send_batch(struct qkdd_link *l, uint32_t n)
{
	uint32_t key_len = l->conf->sim.qkd_key_bytes;
	struct qkdd_batch *b = qkdd_batch_new(n, key_len);
	int ret;

	if (!b)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		ret = qkdd_key_fill(&b->keys[i]);
		if (ret) {
			qkdd_batch_free(b);
			return ret;
		}
	}
	b->seq = l->next_seq++;
	ret = qkdd_chan_send_keys(l, b);
	if (ret) {
		qkdd_batch_free(b);
		return ret;
	}
	qkdd_link_pending_add(l, b);
	return 0;
}

void qkdd_sim_tick(struct qkdd_link *l, const struct timespec *now)
{
	uint32_t key_len = l->conf->sim.qkd_key_bytes;
	uint32_t per_batch = QKDD_BATCH_BYTES_MAX / key_len;
	double dt = qkdd_elapsed(&l->last_gen, now);
	uint64_t rate;
	int ret = 0;

	l->last_gen = *now;
	if (!producing(l)) {
		l->budget_bits = 0;
		return;
	}
	if (per_batch > QKDD_BATCH_KEYS_MAX)
		per_batch = QKDD_BATCH_KEYS_MAX;
	if (per_batch == 0)
		per_batch = 1;
	if (l->flood) {
		while (!ret && l->n_pending < QKDD_WINDOW)
			ret = send_batch(l, per_batch);
	} else {
		rate = qkdd_link_sim_rate(l);
		if (dt > 0)
			l->budget_bits += (double)rate * dt;
		if (l->budget_bits > (double)rate * QKDD_MAX_BUDGET_S + key_len * 8.0)
			l->budget_bits = (double)rate * QKDD_MAX_BUDGET_S + key_len * 8.0;
		while (!ret && l->n_pending < QKDD_WINDOW && l->budget_bits >= key_len * 8.0) {
			uint32_t n = (uint32_t)(l->budget_bits / (key_len * 8.0));

			if (n > per_batch)
				n = per_batch;
			ret = send_batch(l, n);
			if (!ret)
				l->budget_bits -= (double)n * key_len * 8.0;
		}
	}
	if (ret == -ENOBUFS)
		qkdd_chan_close(l, "output buffer full");
	else if (ret)
		qkdn_log(QKDN_LOG_ERR, "cannot make a QKD-key", "event=keygen-failed link=%u err=\"%s\"",
			 l->id, strerror(-ret));
}
