// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * ETSI GS QKD 014 client: a real QKD device's keys, through its KME's
 * REST API over HTTPS with mutual TLS (libcurl on OpenSSL).
 *
 *   tx (master SAE)  GET  {kme}/api/v1/keys/{peer-sae}/enc_keys?number=N&size=S
 *                    -> {"keys": [{"key_ID": ..., "key": base64}, ...]}
 *                    sends the key IDs to the rx driver (IDS frame)
 *   rx (slave SAE)   POST {kme}/api/v1/keys/{peer-sae}/dec_keys
 *                         {"key_IDs": [{"key_ID": ...}, ...]}
 *                    -> the same keys; pushes them, ACKs how many
 *   tx               pushes as many as the rx side did
 *
 * An answer is taken whole or not at all: an HTTP error (the spec's
 * {"message": ...} is logged), malformed JSON, a missing field, a key of
 * the wrong size, too few or unknown IDs: one event=kme-error line, no
 * key pushed at either end (the rx side ACKs 0 keys). Nothing of a
 * response body is logged but the KME's error message.
 *
 * libcurl's multi interface runs on the daemon's libevent loop (socket
 * and timer callbacks), so a slow KME never stalls other links.
 */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "hex.h"
#include "log.h"
#include "qkdd.h"
#include "secmem.h"

#define BODY_MAX	(1U << 20)
#define TIMEOUT_MS	10000L
#define CONNECT_MS	5000L

struct qkdd_http {
	struct qkdd_link *l;
	CURL *easy;
	struct curl_slist *hdrs;
	char *url, *post;
	uint8_t *body;			/* secbuf */
	size_t body_len, body_cap;
	bool too_big, dec;
	char errbuf[CURL_ERROR_SIZE];
	/* rx: the IDS frame being served */
	uint64_t seq;
	uint32_t n, size;
	char (*ids)[QKDN_ID_MAXLEN];
};

/* jansson's copies of base64 keys are wiped when freed. */
static void wipe_free(void *p)
{
	if (p)
		explicit_bzero(p, malloc_usable_size(p));
	free(p);
}

static void http_free(struct qkdd_http *r)
{
	if (!r)
		return;
	if (r->easy) {
		curl_multi_remove_handle(r->l->q->multi, r->easy);
		curl_easy_cleanup(r->easy);
	}
	curl_slist_free_all(r->hdrs);
	free(r->url);
	free(r->post);
	free(r->ids);
	qkdn_secbuf_free(r->body);
	free(r);
}

static size_t write_cb(char *p, size_t size, size_t nmemb, void *arg)
{
	struct qkdd_http *r = arg;
	size_t n = size * nmemb;

	if (n > r->body_cap - r->body_len) {
		r->too_big = true;
		return 0;
	}
	memcpy(r->body + r->body_len, p, n);
	r->body_len += n;
	return n;
}

static void kme_error(struct qkdd_link *l, const char *op, long http, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void kme_error(struct qkdd_link *l, const char *op, long http, const char *fmt, ...)
{
	char why[512], q[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	l->kme_errors++;
	qkdn_log(QKDN_LOG_ERR, "KME request failed; no key pushed at either end",
		 "event=kme-error link=%u side=%s op=%s http=%ld err=%s", l->id,
		 l->conf->role == QKDD_TX ? "master" : "slave", op, http,
		 qkdn_log_quote(q, sizeof(q), why));
}

/* The error of a non-200 answer: the spec's {"message": ...} if there. */
static void http_error(struct qkdd_http *r, const char *op, long status)
{
	json_t *root = json_loadb((const char *)r->body, r->body_len, 0, NULL);
	const char *msg = json_string_value(json_object_get(root, "message"));

	if (msg)
		kme_error(r->l, op, status, "HTTP %ld: %.200s", status, msg);
	else
		kme_error(r->l, op, status, "HTTP %ld without an ETSI 014 error message", status);
	json_decref(root);
}

static bool valid_id(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= QKDN_ID_MAXLEN)
		return false;
	for (; *s; s++)
		if (*s <= 0x20 || *s > 0x7e || *s == ':')
			return false;
	return true;
}

/*
 * {"keys": [{"key_ID": ..., "key": ...}, ...]} with exactly n keys of
 * size bytes each, into b. With ids (dec_keys), each key goes where its
 * ID was asked for, and every ID must be answered once; without, in the
 * order given. 0, or -EBADMSG with why filled.
 */
static int parse_keys(struct qkdd_http *r, struct qkdd_batch *b, uint32_t n, uint32_t size,
		      char (*ids)[QKDN_ID_MAXLEN], char *why, size_t why_len)
{
	uint8_t *tmp = NULL;
	bool *seen = NULL;
	json_error_t jerr;
	json_t *root, *keys;
	int ret = -EBADMSG;

	root = json_loadb((const char *)r->body, r->body_len, 0, &jerr);
	if (!root) {
		snprintf(why, why_len, "malformed JSON: %s (line %d, column %d)", jerr.text,
			 jerr.line, jerr.column);
		return -EBADMSG;
	}
	keys = json_object_get(root, "keys");
	tmp = qkdn_secbuf_alloc(QKDN_QKD_KEY_MAX + 3);
	seen = calloc(n, sizeof(*seen));
	if (!tmp || !seen) {
		snprintf(why, why_len, "out of memory");
		goto out;
	}
	if (!json_is_array(keys)) {
		snprintf(why, why_len, "no \"keys\" array in the answer");
		goto out;
	}
	if (json_array_size(keys) != n) {
		snprintf(why, why_len, "%zu keys in the answer, asked for %u",
			 json_array_size(keys), n);
		goto out;
	}
	for (uint32_t i = 0; i < n; i++) {
		json_t *k = json_array_get(keys, i);
		const char *id = json_string_value(json_object_get(k, "key_ID"));
		json_t *key = json_object_get(k, "key");
		const char *b64 = json_string_value(key);
		uint32_t at = i;
		int len;

		if (!id || !valid_id(id)) {
			snprintf(why, why_len, "keys[%u]: %s", i, id ? "key_ID not a valid QKD-key ID" :
				 "no \"key_ID\" string");
			goto out;
		}
		if (!b64) {
			snprintf(why, why_len, "keys[%u]: no \"key\" string", i);
			goto out;
		}
		if (ids) {
			for (at = 0; at < n && strcmp(ids[at], id); at++)
				;
			if (at == n || seen[at]) {
				snprintf(why, why_len, "keys[%u]: key_ID %.64s %s", i, id,
					 at == n ? "was not asked for" : "given twice");
				goto out;
			}
		}
		seen[at] = true;
		if (json_string_length(key) > qkdn_base64_encoded_len(QKDN_QKD_KEY_MAX)) {
			snprintf(why, why_len, "keys[%u]: key longer than %d bytes", i,
				 QKDN_QKD_KEY_MAX);
			goto out;
		}
		len = qkdn_base64_decode(tmp, QKDN_QKD_KEY_MAX + 3, b64, json_string_length(key));
		if (len < 0) {
			snprintf(why, why_len, "keys[%u]: key is not base64", i);
			goto out;
		}
		if ((uint32_t)len != size) {
			snprintf(why, why_len, "keys[%u]: %d bytes, asked for %u", i, len, size);
			explicit_bzero(tmp, (size_t)len);
			goto out;
		}
		memcpy(b->keys[at].data, tmp, size);
		explicit_bzero(tmp, size);
		snprintf(b->keys[at].id, sizeof(b->keys[at].id), "%s", id);
	}
	ret = 0;
out:
	free(seen);
	qkdn_secbuf_free(tmp);
	json_decref(root);
	return ret;
}

/* Time stamps and hashes: the device gives neither. */
static int finish_keys(struct qkdd_batch *b)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	for (uint32_t i = 0; i < b->n; i++) {
		b->keys[i].ts_ns = (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
		if (qkdd_sha256(b->keys[i].data, b->keys[i].len, b->keys[i].hash))
			return -EIO;
	}
	return 0;
}

static void enc_done(struct qkdd_http *r, CURLcode rc, long status)
{
	struct qkdd_link *l = r->l;
	const struct qkdd_etsi_conf *e = &l->conf->etsi;
	uint32_t size = e->size_bits / 8;
	struct qkdd_batch *b = NULL;
	char why[400];

	if (rc != CURLE_OK) {
		kme_error(l, "enc_keys", 0, "%s", r->too_big ? "answer too large" :
			  *r->errbuf ? r->errbuf : curl_easy_strerror(rc));
		goto failed;
	}
	if (status != 200) {
		http_error(r, "enc_keys", status);
		goto failed;
	}
	b = qkdd_batch_new(e->number, size);
	if (!b) {
		kme_error(l, "enc_keys", status, "out of memory");
		goto failed;
	}
	if (parse_keys(r, b, e->number, size, NULL, why, sizeof(why)) || finish_keys(b)) {
		kme_error(l, "enc_keys", status, "%s", why);
		goto failed;
	}
	if (l->kme_failed)
		qkdn_log(QKDN_LOG_INFO, "KME answers again", "event=kme-ok link=%u", l->id);
	l->kme_failed = false;
	qkdd_link_update(l);
	if (l->state != QKDN_QKD_UP || !qkdd_chan_up(l)) {
		qkdn_log(QKDN_LOG_WARN, "keys from the KME dropped: the link is not up",
			 "event=keys-dropped link=%u state=%s", l->id, qkdd_state_name(l->state));
		qkdd_batch_free(b);
		return;
	}
	b->seq = l->next_seq++;
	if (qkdd_chan_send_ids(l, b)) {
		qkdd_batch_free(b);
		qkdd_chan_close(l, "output buffer full");
		return;
	}
	qkdd_link_pending_add(l, b);
	return;
failed:
	qkdd_batch_free(b);
	l->kme_failed = true;
	qkdd_link_update(l);
}

static void dec_done(struct qkdd_http *r, CURLcode rc, long status)
{
	struct qkdd_link *l = r->l;
	struct qkdd_batch *b = NULL;
	uint32_t pushed = 0;
	int err = -EPROTO;
	char why[400];

	if (rc != CURLE_OK) {
		kme_error(l, "dec_keys", 0, "%s", r->too_big ? "answer too large" :
			  *r->errbuf ? r->errbuf : curl_easy_strerror(rc));
	} else if (status != 200) {
		http_error(r, "dec_keys", status);
	} else if (!(b = qkdd_batch_new(r->n, r->size))) {
		kme_error(l, "dec_keys", status, "out of memory");
	} else if (parse_keys(r, b, r->n, r->size, r->ids, why, sizeof(why)) || finish_keys(b)) {
		kme_error(l, "dec_keys", status, "%s", why);
	} else {
		pushed = qkdd_link_push_batch(l, b->keys, b->n, &err);
	}
	qkdd_batch_free(b);
	l->rx_paused = false;
	if (qkdd_chan_send_ack(l, r->seq, pushed, err))
		qkdd_chan_close(l, "output buffer full");
	else
		qkdd_chan_resume(l);
}

static void check_done(struct qkdd *q)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(q->multi, &left))) {
		struct qkdd_http *r = NULL;
		long status = 0;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
		r->l->req = NULL;
		if (r->dec)
			dec_done(r, m->data.result, status);
		else
			enc_done(r, m->data.result, status);
		http_free(r);
	}
}

static void socket_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct qkdd *q = arg;
	int running;

	curl_multi_socket_action(q->multi, fd, (what & EV_READ ? CURL_CSELECT_IN : 0) |
				 (what & EV_WRITE ? CURL_CSELECT_OUT : 0), &running);
	check_done(q);
}

static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct qkdd *q = userp;
	struct event *ev = socketp;
	short kind;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (ev)
			event_free(ev);
		curl_multi_assign(q->multi, s, NULL);
		return 0;
	}
	kind = (short)((what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0) |
		       EV_PERSIST);
	if (ev) {
		event_del(ev);
		event_assign(ev, q->base, s, kind, socket_event_cb, q);
	} else {
		ev = event_new(q->base, s, kind, socket_event_cb, q);
		if (!ev)
			return -1;
		curl_multi_assign(q->multi, s, ev);
	}
	return event_add(ev, NULL);
}

static void curl_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct qkdd *q = arg;
	int running;

	(void)fd;
	(void)what;
	curl_multi_socket_action(q->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(q);
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct qkdd *q = userp;
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };

	(void)multi;
	if (timeout_ms < 0)
		return evtimer_del(q->curl_timer);
	return evtimer_add(q->curl_timer, &tv);
}

/* A request to the link's KME; path is below {kme}/api/v1/keys/. */
static struct qkdd_http *http_new(struct qkdd_link *l, const char *op, const char *query,
				  size_t body_cap)
{
	const struct qkdd_etsi_conf *e = &l->conf->etsi;
	struct qkdd_http *r = calloc(1, sizeof(*r));
	char *sae;

	if (!r)
		return NULL;
	r->l = l;
	r->easy = curl_easy_init();
	r->body_cap = body_cap;
	r->body = qkdn_secbuf_alloc(body_cap);
	if (!r->easy || !r->body)
		goto fail;
	sae = curl_easy_escape(r->easy, e->peer_sae, 0);
	if (!sae || asprintf(&r->url, "%s/api/v1/keys/%s/%s%s", e->kme, sae, op, query) < 0) {
		curl_free(sae);
		r->url = NULL;
		goto fail;
	}
	curl_free(sae);
	r->hdrs = curl_slist_append(NULL, "Accept: application/json");
	if (!r->hdrs)
		goto fail;
	curl_easy_setopt(r->easy, CURLOPT_URL, r->url);
	curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
	curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(r->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(r->easy, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(r->easy, CURLOPT_CAINFO, e->ca);
	curl_easy_setopt(r->easy, CURLOPT_SSLCERT, e->cert);
	curl_easy_setopt(r->easy, CURLOPT_SSLKEY, e->key);
	curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, TIMEOUT_MS);
	curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_MS);
	curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
	return r;
fail:
	http_free(r);
	return NULL;
}

static int http_start(struct qkdd_http *r)
{
	curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->hdrs);
	if (curl_multi_add_handle(r->l->q->multi, r->easy) != CURLM_OK)
		return -ENOMEM;
	r->l->req = r;
	return 0;
}

static void poll_cb(evutil_socket_t fd, short what, void *arg)
{
	struct qkdd_link *l = arg;
	const struct qkdd_etsi_conf *e = &l->conf->etsi;
	struct qkdd_http *r;
	char query[64];

	(void)fd;
	(void)what;
	qkdd_link_update(l);
	if (l->req || l->outage || !qkdd_chan_up(l) || l->n_pending >= QKDD_WINDOW ||
	    l->q->stopping)
		return;
	snprintf(query, sizeof(query), "?number=%u&size=%u", e->number, e->size_bits);
	r = http_new(l, "enc_keys", query,
		     (size_t)e->number * (qkdn_base64_encoded_len(e->size_bits / 8) + 512) + 4096);
	if (!r || http_start(r)) {
		http_free(r);
		kme_error(l, "enc_keys", 0, "cannot start a request (out of memory)");
	}
}

void qkdd_etsi_on_ids(struct qkdd_link *l, uint64_t seq, uint32_t size, uint32_t n,
		      char (*ids)[QKDN_ID_MAXLEN])
{
	const struct qkdd_etsi_conf *e = &l->conf->etsi;
	struct qkdd_http *r = NULL;
	json_t *body = NULL, *arr = json_array();

	if (size != e->size_bits / 8) {
		kme_error(l, "dec_keys", 0, "the tx driver asks for %u-byte keys, size-bits is %u",
			  size, e->size_bits);
		goto refuse;
	}
	r = http_new(l, "dec_keys", "", (size_t)n * (qkdn_base64_encoded_len(size) + 512) + 4096);
	if (!r || !arr)
		goto oom;
	for (uint32_t i = 0; i < n; i++)
		if (json_array_append_new(arr, json_pack("{s:s}", "key_ID", ids[i])))
			goto oom;
	body = json_pack("{s:O}", "key_IDs", arr);
	r->post = body ? json_dumps(body, JSON_COMPACT) : NULL;
	r->ids = malloc((size_t)n * QKDN_ID_MAXLEN);
	r->hdrs = curl_slist_append(r->hdrs, "Content-Type: application/json");
	if (!r->post || !r->ids || !r->hdrs)
		goto oom;
	memcpy(r->ids, ids, (size_t)n * QKDN_ID_MAXLEN);
	r->dec = true;
	r->seq = seq;
	r->n = n;
	r->size = size;
	curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->post);
	if (http_start(r))
		goto oom;
	l->rx_paused = true;
	json_decref(arr);
	json_decref(body);
	return;
oom:
	kme_error(l, "dec_keys", 0, "cannot start a request (out of memory)");
refuse:
	http_free(r);
	json_decref(arr);
	json_decref(body);
	if (qkdd_chan_send_ack(l, seq, 0, -EPROTO))
		qkdd_chan_close(l, "output buffer full");
}

int qkdd_etsi_start(struct qkdd *q)
{
	bool any = false;

	for (size_t i = 0; i < q->cfg.n_links; i++)
		any |= q->cfg.links[i].mode == QKDD_ETSI014;
	if (!any)
		return 0;
	json_set_alloc_funcs(malloc, wipe_free);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -ENOMEM;
	q->multi = curl_multi_init();
	q->curl_timer = evtimer_new(q->base, curl_timeout_cb, q);
	if (!q->multi || !q->curl_timer)
		return -ENOMEM;
	curl_multi_setopt(q->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(q->multi, CURLMOPT_SOCKETDATA, q);
	curl_multi_setopt(q->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(q->multi, CURLMOPT_TIMERDATA, q);
	return 0;
}

void qkdd_etsi_stop(struct qkdd *q)
{
	bool started = q->multi != NULL;

	if (q->multi)
		curl_multi_cleanup(q->multi);
	q->multi = NULL;
	if (q->curl_timer)
		event_free(q->curl_timer);
	q->curl_timer = NULL;
	if (started)
		curl_global_cleanup();
}

int qkdd_etsi_link_start(struct qkdd_link *l)
{
	const struct qkdd_etsi_conf *e = &l->conf->etsi;
	struct timeval tv = { e->interval_ms / 1000, (e->interval_ms % 1000) * 1000 };

	if ((uint64_t)e->number * (e->size_bits / 8) > QKDD_BATCH_BYTES_MAX) {
		qkdn_log(QKDN_LOG_ERR, "number x size-bits / 8 is more than a batch holds",
			 "event=start-failed link=%u max_bytes=%d", l->id, QKDD_BATCH_BYTES_MAX);
		return -EINVAL;
	}
	if (l->conf->role != QKDD_TX)
		return 0;
	l->ev_poll = event_new(l->q->base, -1, EV_PERSIST, poll_cb, l);
	if (!l->ev_poll || evtimer_add(l->ev_poll, &tv))
		return -ENOMEM;
	return 0;
}

void qkdd_etsi_cancel(struct qkdd_link *l)
{
	if (l->req) {
		http_free(l->req);
		l->req = NULL;
	}
}

void qkdd_etsi_link_stop(struct qkdd_link *l)
{
	qkdd_etsi_cancel(l);
	if (l->ev_poll)
		event_free(l->ev_poll);
	l->ev_poll = NULL;
}
