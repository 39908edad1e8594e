// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * ETSI GS QKD 014 V1.1.1, the REST key delivery API, for the applications
 * (SAEs) attached to this node:
 *
 *   GET|POST /api/v1/keys/{slave_SAE_ID}/status     Status
 *   GET|POST /api/v1/keys/{slave_SAE_ID}/enc_keys   Key container (KEY_GET;
 *            KEY_GET_MULTICAST with additional_slave_SAE_IDs)
 *   GET|POST /api/v1/keys/{master_SAE_ID}/dec_keys  Key container (KEY_GET_ID)
 *
 * HTTPS on kmd's event loop: libevent's evhttp over bufferevent_openssl,
 * TLS 1.3 only, a client certificate required and verified against
 * [etsi014] ca. The caller is the SAE whose [sae] cn is the certificate's
 * subject CN, never an ID a request names. The module then checks that
 * kmd's uid is the one registered for that SAE (EACCES otherwise), so an
 * operator registers every SAE served here with `qkdn app add SAE uid U`,
 * U being the uid kmd runs as.
 *
 * Multicast (additional_slave_SAE_IDs): the module relays fresh keys to
 * the node of every slave SAE and answers once each acknowledged them
 * (KEY_GET_MULTICAST, Documentation/key-relay.rst); here only the request
 * is checked (IDs, none twice, not the master, at most 15, at most 64
 * keys) and the reply is the same Key container.
 *
 * Key requests that cannot block run on the loop itself, on a netlink
 * socket of their own (e14->inline_w): dec_keys (KEY_GET_ID never waits)
 * and enc_keys without additional slaves, asked with QKDN_A_KSA_NOWAIT,
 * which the module serves at once from keys KSA synchronisation already
 * verified (kernel/ksa.c) or refuses with EINPROGRESS when it would have
 * to wait for a batch. Those, and every multicast, go to E14_WORKERS
 * threads, each with its own netlink socket and reused request, taking
 * jobs from one queue: the module holds such a KEY_GET until the peer's
 * node answers, and a multicast until every slave's node acknowledged,
 * and those answers reach the module through this very event loop
 * (kernel.c, peer.c), which must keep running meanwhile; several threads
 * keep one slow round trip from holding up the rest. Served inline, a
 * request costs no hand-off to a thread and back (two wake-ups). Status
 * requests (APP_GET, NODE_GET, LINK_GET, STORE_GET) never sleep in the
 * kernel and run on the loop, on kmd->nl.
 *
 * Key bytes: the netlink layer receives them into a locked buffer; the
 * worker writes the Key container JSON with snprintf and the base64/UUID
 * helpers (which do not allocate) straight into a secbuf, never through
 * jansson. That secbuf goes to the connection by reference
 * (evbuffer_add_reference), so no evbuffer copy of it exists, and it is
 * wiped when the connection has taken it (or dropped it), then kept for
 * the next request if it is one page (E14_SPARE_SIZE) or freed. The
 * one copy out of our hands is OpenSSL's record buffer, where the
 * plaintext is encrypted in place. jansson only parses requests and
 * builds Status and Error objects, which hold no key bytes. Keys and key
 * IDs are never logged.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/x509.h>

#include <linux/qkdn.h>

#include "hex.h"
#include "kmd.h"
#include "log.h"
#include "secmem.h"
#include "tls.h"
#include "util.h"

#define E14_PREFIX		"/api/v1/keys/"
#define E14_BODY_MAX		(256 * 1024)	/* QKDN_KEY_AMOUNT_MAX key IDs fit */
#define E14_TIMEOUT_S		120		/* idle keep-alive connections */
#define E14_JOBS_MAX		64		/* queued key requests; 503 beyond */
/* Key request threads: each holds a request the module may keep waiting
 * (KSA synchronisation, a multicast relay) for a round trip to another
 * node, so several keep the others moving. */
#define E14_WORKERS		8
/* Key containers that fit one locked page are kept for reuse, wiped,
 * rather than mapped, locked, unlocked and unmapped for every request. */
#define E14_SPARE_SIZE		(4096 - 64)	/* a secbuf of one page */
#define E14_SPARES_MAX		(2 * E14_WORKERS)
#define E14_DEFAULT_KEY_BITS	256		/* relayed keys: the module's default */
/* additional_slave_SAE_IDs: the module relays to this many slaves and the
 * first one at once (KEY_GET_MULTICAST); status reports it as
 * max_SAE_ID_count. */
#define E14_MORE_SLAVES_MAX	(QKDN_MULTICAST_SAES_MAX - 1)
_Static_assert(E14_MORE_SLAVES_MAX == 15 && QKDN_RELAY_KEYS_MAX == 64,
	       "the error messages below name these limits");

enum e14_op { E14_STATUS, E14_ENC_KEYS, E14_DEC_KEYS };

/* One key request, from the loop to the worker and back. */
struct e14_job {
	struct kmd_e14 *e14;
	struct evhttp_request *req;
	struct e14_job *next;		/* e14->jobs, every job not yet answered */
	struct e14_job *queued;		/* e14->queue, jobs no worker took yet */
	enum e14_op op;
	char sae[QKDN_ID_MAXLEN], peer[QKDN_ID_MAXLEN];
	uint32_t number, size_bits;	/* enc_keys; size 0: the unit */
	uint8_t (*ids)[QKDN_KEY_ID_LEN];	/* dec_keys */
	uint32_t n_ids;
	char more[E14_MORE_SLAVES_MAX][QKDN_ID_MAXLEN];	/* additional slaves */
	uint32_t n_more;
	bool nowait;			/* QKDN_A_KSA_NOWAIT: asked on the loop */
	/* Filled by the worker. */
	int err;
	char extack[256];
	char *json;			/* secbuf: the Key container */
	size_t json_len;
	uint32_t n_keys;
};

/* A key request thread, its netlink socket and its one reused request. */
struct e14_worker {
	struct kmd_e14 *e14;
	pthread_t thread;
	bool started;
	struct qkdn_nl *nl;
	struct qkdn_nl_msg *msg;
};

struct kmd_e14 {
	struct kmd *kmd;
	const struct qkdn_kmd_etsi014_conf *conf;
	SSL_CTX *tls;
	struct evhttp *http;
	struct e14_worker workers[E14_WORKERS];
	struct e14_worker inline_w;	/* no thread: requests run on the loop */
	pthread_mutex_t lock;		/* the queue and closing */
	pthread_cond_t more;
	struct e14_job *queue, **queue_tail;
	bool closing;
	int from_worker[2];		/* finished jobs, back to the loop */
	char *spare[E14_SPARES_MAX];	/* wiped containers, under lock */
	unsigned int n_spare;
	struct event *done_event;
	struct e14_job *jobs;
	unsigned int n_jobs;
	atomic_bool stopping;
	uid_t uid;
	struct {
		uint64_t requests, ok, refused, keys_supplied;
		uint64_t inline_served, to_workers;
	} stats;
};

/* Errors: the spec's Error object */

/* The errno's symbolic name, as the uapi header writes them. */
static const char *errno_name(int err)
{
	const char *name = strerrorname_np(err);

	return name ? name : "other";
}

static void log_request(struct evhttp_request *req, const char *sae, int code,
			const char *message, uint32_t keys)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	char q_uri[300], q_sae[100], q_msg[300];

	qkdn_log(code == 200 ? QKDN_LOG_DEBUG : QKDN_LOG_INFO, "etsi014 request",
		 "event=etsi014 method=%s path=%s sae=%s code=%d keys=%u message=%s",
		 evhttp_request_get_command(req) == EVHTTP_REQ_POST ? "POST" : "GET",
		 qkdn_log_quote(q_uri, sizeof(q_uri),
				(uri ? evhttp_uri_get_path(uri) : NULL) ?: ""),
		 qkdn_log_quote(q_sae, sizeof(q_sae), sae ? sae : "-"), code, keys,
		 qkdn_log_quote(q_msg, sizeof(q_msg), message ? message : ""));
}

/* Sends a JSON text that holds no key bytes. */
static void send_json(struct evhttp_request *req, int code, json_t *obj)
{
	struct evbuffer *body = evbuffer_new();
	char *text = json_dumps(obj, JSON_COMPACT);

	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "application/json");
	if (body && text)
		evbuffer_add(body, text, strlen(text));
	evhttp_send_reply(req, code, code == 200 ? "OK" : NULL, body);
	free(text);
	if (body)
		evbuffer_free(body);
}

/* {"message": message, "details": [{"errno": ..., "reason": ...}]}, the
 * details only as far as known. */
static void send_error(struct kmd_e14 *e14, struct evhttp_request *req, const char *sae,
		       int code, const char *message, int err, const char *reason)
{
	json_t *details = json_array(), *detail = json_object();

	if (err)
		json_object_set_new(detail, "errno", json_string(errno_name(err)));
	if (reason && *reason)
		json_object_set_new(detail, "reason", json_string(reason));
	if (json_object_size(detail))
		json_array_append(details, detail);
	json_decref(detail);
	json_t *obj = json_pack("{s:s, s:o}", "message", message, "details", details);

	e14->stats.refused++;
	log_request(req, sae, code, message, 0);
	send_json(req, code, obj);
	json_decref(obj);
}

/* What a refused KEY_GET, KEY_GET_ID or status lookup means to the SAE.
 * 400: the request is wrong; 401: the caller may not ask; 503: try later
 * (keys insufficient, the peer's node unreachable). */
static int errno_to_http(int err, bool multicast, const char **message)
{
	switch (err) {
	case ENOENT:
		*message = "unknown SAE ID";
		return 400;
	case EINVAL:
	case ERANGE:
		*message = "bad request";
		return 400;
	case ENOKEY:
		*message = "key ID not found: unknown or already fetched";
		return 400;
	case EMSGSIZE:
		*message = "too many key bytes for one request";
		return 400;
	case EACCES:
		*message = "the SAE is not registered to this KME";
		return 401;
	case EAGAIN:
		*message = "not enough keys available";
		return 503;
	case EHOSTUNREACH:
		*message = "no link or route to the slave SAE's node";
		return 503;
	case ETIMEDOUT:
		*message = multicast ?
			"a slave SAE's KME did not acknowledge the keys in time; none were delivered" :
			"the peer KME did not confirm the keys in time";
		return 503;
	case EKEYREJECTED:
		*message = "the peer KME holds different keys; they were discarded";
		return 503;
	case ESHUTDOWN:
		*message = "the KME is shutting down";
		return 503;
	default:
		*message = "internal error of the KME";
		return 503;
	}
}

static void send_errno(struct kmd_e14 *e14, struct evhttp_request *req, const char *sae,
		       int err, const char *extack)
{
	const char *message;
	int code = errno_to_http(err, false, &message);

	send_error(e14, req, sae, code, message, err, extack);
}

/* The caller */

/* The subject CN of the verified client certificate, exactly one. */
static int peer_cn(SSL *ssl, char *cn, size_t len)
{
	X509 *cert = SSL_get0_peer_certificate(ssl);
	X509_NAME *name;
	int i, n;

	if (!cert || SSL_get_verify_result(ssl) != X509_V_OK)
		return -EPERM;
	name = X509_get_subject_name(cert);
	i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	if (i < 0 || X509_NAME_get_index_by_NID(name, NID_commonName, i) >= 0)
		return -EINVAL;
	n = X509_NAME_get_text_by_NID(name, NID_commonName, cn, (int)len);
	return n > 0 && (size_t)n < len && strlen(cn) == (size_t)n ? 0 : -EINVAL;
}

static const struct qkdn_kmd_sae_conf *caller_sae(struct kmd_e14 *e14,
						  struct evhttp_request *req)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;
	SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
	char cn[QKDN_CN_MAXLEN];

	if (!ssl || peer_cn(ssl, cn, sizeof(cn)) < 0)
		return NULL;
	return qkdn_kmd_config_sae_by_cn(&e14->kmd->cfg, cn);
}

/* An SAE ID as the module takes it: printable ASCII, no blanks or ':'. */
static bool valid_sae_id(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= QKDN_ID_MAXLEN)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s > 0x7e || *s == ':')
			return false;
	return true;
}

/* Key container, built by the worker */

/* A locked buffer for a Key container of len bytes. */
static char *container_get(struct kmd_e14 *e14, size_t len)
{
	char *buf = NULL;

	if (len > E14_SPARE_SIZE)
		return qkdn_secbuf_alloc(len);
	pthread_mutex_lock(&e14->lock);
	if (e14->n_spare)
		buf = e14->spare[--e14->n_spare];
	pthread_mutex_unlock(&e14->lock);
	return buf ? buf : qkdn_secbuf_alloc(E14_SPARE_SIZE);
}

/* Wipes the container; keeps it for the next request if it is a spare's
 * size and there is room. */
static void container_put(struct kmd_e14 *e14, char *buf)
{
	if (!buf)
		return;
	if (qkdn_secbuf_len(buf) == E14_SPARE_SIZE) {
		explicit_bzero(buf, E14_SPARE_SIZE);
		pthread_mutex_lock(&e14->lock);
		if (e14->n_spare < E14_SPARES_MAX) {
			e14->spare[e14->n_spare++] = buf;
			buf = NULL;
		}
		pthread_mutex_unlock(&e14->lock);
	}
	qkdn_secbuf_free(buf);
}

/* Writes {"keys":[...]} into a new secbuf; the reply buffer is wiped
 * after this returns. Runs on the worker thread. */
static int keys_cb(const struct nlmsghdr *nlh, void *data)
{
	struct e14_job *job = data;
	const struct nlattr *tb[QKDN_A_MAX + 1];
	const struct nlattr *k;
	size_t need = 16, o = 0;

	if (!nlh || job->json)
		return job->json ? -EBADMSG : 0;
	if (qkdn_nl_parse(nlh, tb, QKDN_A_MAX) < 0 || !tb[QKDN_A_KEYS])
		return -EBADMSG;
	mnl_attr_for_each_nested(k, tb[QKDN_A_KEYS]) {
		const struct nlattr *kb[QKDN_KEY_A_MAX + 1];

		if (qkdn_nl_parse_nested(k, kb, QKDN_KEY_A_MAX) < 0 || !kb[QKDN_KEY_A_ID] ||
		    mnl_attr_get_payload_len(kb[QKDN_KEY_A_ID]) != QKDN_KEY_ID_LEN ||
		    !kb[QKDN_KEY_A_DATA] || mnl_attr_get_payload_len(kb[QKDN_KEY_A_DATA]) == 0)
			return -EBADMSG;
		/* ,{"key_ID":"<uuid>","key":"<base64>"} */
		need += 24 + QKDN_UUID_STRLEN +
			qkdn_base64_encoded_len(mnl_attr_get_payload_len(kb[QKDN_KEY_A_DATA]));
	}
	job->json = container_get(job->e14, need);
	if (!job->json)
		return -ENOMEM;
	o += (size_t)snprintf(job->json, need, "{\"keys\":[");
	mnl_attr_for_each_nested(k, tb[QKDN_A_KEYS]) {
		const struct nlattr *kb[QKDN_KEY_A_MAX + 1];
		char uuid[QKDN_UUID_STRLEN + 1];
		int r;

		qkdn_nl_parse_nested(k, kb, QKDN_KEY_A_MAX);
		qkdn_uuid_format(uuid, mnl_attr_get_payload(kb[QKDN_KEY_A_ID]));
		o += (size_t)snprintf(job->json + o, need - o, "%s{\"key_ID\":\"%s\",\"key\":\"",
				      job->n_keys ? "," : "", uuid);
		r = qkdn_base64_encode(job->json + o, need - o,
				       mnl_attr_get_payload(kb[QKDN_KEY_A_DATA]),
				       mnl_attr_get_payload_len(kb[QKDN_KEY_A_DATA]));
		if (r < 0)
			return r;
		o += (size_t)r;
		o += (size_t)snprintf(job->json + o, need - o, "\"}");
		job->n_keys++;
	}
	o += (size_t)snprintf(job->json + o, need - o, "]}");
	if (o >= need)
		return -EOVERFLOW;
	job->json_len = o;
	return 0;
}

static void run_job(struct e14_worker *w, struct e14_job *job)
{
	struct qkdn_nl_msg *msg = w->msg;

	if (atomic_load(&w->e14->stopping)) {
		job->err = ESHUTDOWN;
		return;
	}
	qkdn_nl_msg_reset(msg, job->op == E14_DEC_KEYS ? QKDN_CMD_KEY_GET_ID :
			  job->n_more ? QKDN_CMD_KEY_GET_MULTICAST : QKDN_CMD_KEY_GET, 0);
	qkdn_nl_put_str(msg, QKDN_A_SAE_ID, job->sae);
	qkdn_nl_put_str(msg, QKDN_A_PEER_SAE_ID, job->peer);
	if (job->op == E14_ENC_KEYS) {
		qkdn_nl_put_u32(msg, QKDN_A_KEY_AMOUNT, job->number);
		if (job->size_bits)
			qkdn_nl_put_u32(msg, QKDN_A_KEY_SIZE, job->size_bits);
		if (job->nowait)
			qkdn_nl_put(msg, QKDN_A_KSA_NOWAIT, "", 0);
		if (job->n_more) {
			struct nlattr *more = qkdn_nl_nest_start(msg, QKDN_A_PEER_SAE_IDS);

			for (uint32_t i = 0; i < job->n_more; i++)
				qkdn_nl_put_str(msg, QKDN_A_PEER_SAE_ID, job->more[i]);
			qkdn_nl_nest_end(msg, more);
		}
	} else {
		struct nlattr *keys = qkdn_nl_nest_start(msg, QKDN_A_KEYS);

		for (uint32_t i = 0; i < job->n_ids; i++) {
			struct nlattr *key = qkdn_nl_nest_start(msg, QKDN_A_KEY);

			qkdn_nl_put(msg, QKDN_KEY_A_ID, job->ids[i], QKDN_KEY_ID_LEN);
			qkdn_nl_nest_end(msg, key);
		}
		qkdn_nl_nest_end(msg, keys);
	}
	job->err = -qkdn_nl_request(w->nl, msg, keys_cb, job);
	if (job->err) {
		snprintf(job->extack, sizeof(job->extack), "%s", qkdn_nl_extack(w->nl));
		/* A failed callback may leave half a container. */
		container_put(job->e14, job->json);
		job->json = NULL;
	} else if (!job->json) {
		job->err = EBADMSG;
	}
}

/* Takes queued jobs until the queue is empty and closing is set: jobs
 * queued before shutdown are still answered (ESHUTDOWN, at once). */
static void *worker_main(void *arg)
{
	struct e14_worker *w = arg;
	struct kmd_e14 *e14 = w->e14;
	struct e14_job *job;

	for (;;) {
		pthread_mutex_lock(&e14->lock);
		while (!e14->queue && !e14->closing)
			pthread_cond_wait(&e14->more, &e14->lock);
		job = e14->queue;
		if (job) {
			e14->queue = job->queued;
			if (!e14->queue)
				e14->queue_tail = &e14->queue;
		}
		pthread_mutex_unlock(&e14->lock);
		if (!job)
			return NULL;
		run_job(w, job);
		if (qkdn_write_full(e14->from_worker[1], &job, sizeof(job)) < 0)
			return NULL;
	}
}

static void job_free(struct e14_job *job)
{
	container_put(job->e14, job->json);
	free(job->ids);
	free(job);
}

static void job_unlink(struct kmd_e14 *e14, struct e14_job *job)
{
	for (struct e14_job **p = &e14->jobs; *p; p = &(*p)->next) {
		if (*p == job) {
			*p = job->next;
			e14->n_jobs--;
			return;
		}
	}
}

static void container_cleanup(const void *data, size_t len, void *arg)
{
	(void)len;
	container_put(arg, (char *)data);
}

/* On the loop: answer the request the worker has finished. */
static void job_done(struct kmd_e14 *e14, struct e14_job *job)
{
	struct evbuffer *body;

	job_unlink(e14, job);
	if (job->err) {
		const char *message;
		int code = errno_to_http(job->err, job->n_more > 0, &message);

		send_error(e14, job->req, job->sae, code, message, job->err, job->extack);
		job_free(job);
		return;
	}
	body = evbuffer_new();
	if (!body || evbuffer_add_reference(body, job->json, job->json_len, container_cleanup,
					    e14) < 0) {
		if (body)
			evbuffer_free(body);
		send_errno(e14, job->req, job->sae, ENOMEM, NULL);
		job_free(job);
		return;
	}
	/* The evbuffer owns it now; it lives until the reply is sent. */
	kmd_mgr_supplied(e14->kmd, job->sae, job->peer, job->op == E14_DEC_KEYS, job->json,
			 job->json_len, job->n_keys);
	job->json = NULL;
	evhttp_add_header(evhttp_request_get_output_headers(job->req), "Content-Type",
			  "application/json");
	e14->stats.ok++;
	e14->stats.keys_supplied += job->n_keys;
	log_request(job->req, job->sae, 200, NULL, job->n_keys);
	evhttp_send_reply(job->req, 200, "OK", body);
	evbuffer_free(body);
	job_free(job);
}

static void done_readable(evutil_socket_t fd, short what, void *arg)
{
	struct kmd_e14 *e14 = arg;
	struct e14_job *jobs[E14_JOBS_MAX];
	ssize_t n;

	(void)what;
	/* Every answer ready, in one read: under load they come in bunches.
	 * Workers write whole pointers (atomic below PIPE_BUF), so the pipe
	 * never holds part of one. */
	n = read(fd, jobs, sizeof(jobs));
	for (ssize_t i = 0; i < n / (ssize_t)sizeof(jobs[0]); i++)
		job_done(e14, jobs[i]);
}

/* On the loop: a key request that cannot block, answered at once. Returns
 * false if the module would have waited (EINPROGRESS): the job is as it
 * was, for a worker. */
static bool run_inline(struct kmd_e14 *e14, struct e14_job *job)
{
	if (job->n_more || (job->op != E14_ENC_KEYS && job->op != E14_DEC_KEYS))
		return false;
	job->nowait = job->op == E14_ENC_KEYS;
	run_job(&e14->inline_w, job);
	job->nowait = false;
	if (job->err == EINPROGRESS) {
		job->err = 0;
		job->extack[0] = '\0';
		return false;
	}
	e14->stats.inline_served++;
	job_done(e14, job);
	return true;
}

static void submit(struct kmd_e14 *e14, struct e14_job *job)
{
	if (run_inline(e14, job))
		return;
	if (e14->n_jobs >= E14_JOBS_MAX) {
		send_error(e14, job->req, job->sae, 503, "too many requests in progress", 0,
			   NULL);
		job_free(job);
		return;
	}
	pthread_mutex_lock(&e14->lock);
	job->queued = NULL;
	*e14->queue_tail = job;
	e14->queue_tail = &job->queued;
	pthread_cond_signal(&e14->more);
	pthread_mutex_unlock(&e14->lock);
	e14->stats.to_workers++;
	job->next = e14->jobs;
	e14->jobs = job;
	e14->n_jobs++;
}

/* Request parsing */

/* additional_slave_SAE_IDs: SAE IDs, none named twice (the slave SAE
 * included), none the master's; the module checks that each is known. */
static int parse_more_slaves(struct e14_job *job, json_t *slaves, const char **message)
{
	json_t *entry;
	size_t i;

	if (!json_is_array(slaves))
		goto bad;
	if (json_array_size(slaves) > E14_MORE_SLAVES_MAX) {
		*message = "too many additional_slave_SAE_IDs (max_SAE_ID_count is 15)";
		return -EINVAL;
	}
	json_array_foreach(slaves, i, entry) {
		const char *id = json_string_value(entry);

		if (!id || strlen(id) != json_string_length(entry) || !valid_sae_id(id))
			goto bad;
		if (!strcmp(id, job->sae)) {
			*message = "the master SAE cannot be one of its slave SAEs";
			return -EINVAL;
		}
		for (uint32_t j = 0; j <= job->n_more; j++) {
			if (!strcmp(id, j < job->n_more ? job->more[j] : job->peer)) {
				*message = "a slave SAE is named twice";
				return -EINVAL;
			}
		}
		snprintf(job->more[job->n_more++], QKDN_ID_MAXLEN, "%s", id);
	}
	return 0;
bad:
	*message = "additional_slave_SAE_IDs must be an array of SAE IDs";
	return -EINVAL;
}

/* number and size, from the query (GET) or a Key request (POST). */
static int parse_key_request(struct kmd_e14 *e14, struct e14_job *job, json_t *body,
			     const struct evkeyvalq *query, const char **message)
{
	uint32_t max = e14->conf->max_keys_per_request;
	const char *s;

	job->number = 1;
	if (body) {
		json_t *number = json_object_get(body, "number");
		json_t *size = json_object_get(body, "size");
		json_t *slaves = json_object_get(body, "additional_slave_SAE_IDs");
		json_t *mandatory = json_object_get(body, "extension_mandatory");

		if (number) {
			if (!json_is_integer(number) || json_integer_value(number) < 1 ||
			    json_integer_value(number) > max)
				goto bad_number;
			job->number = (uint32_t)json_integer_value(number);
		}
		if (size) {
			if (!json_is_integer(size) || json_integer_value(size) < 1 ||
			    json_integer_value(size) > QKDN_KEY_UNIT_MAX * 8)
				goto bad_size;
			job->size_bits = (uint32_t)json_integer_value(size);
		}
		if (slaves && parse_more_slaves(job, slaves, message) < 0)
			return -EINVAL;
		if (mandatory && !(json_is_array(mandatory) && json_array_size(mandatory) == 0) &&
		    !(json_is_object(mandatory) && json_object_size(mandatory) == 0)) {
			*message = "extension_mandatory not supported";
			return -EINVAL;
		}
	} else {
		s = evhttp_find_header(query, "number");
		if (s && qkdn_parse_u32(s, 1, max, &job->number) < 0)
			goto bad_number;
		s = evhttp_find_header(query, "size");
		if (s && qkdn_parse_u32(s, 1, QKDN_KEY_UNIT_MAX * 8, &job->size_bits) < 0)
			goto bad_size;
		if (evhttp_find_header(query, "additional_slave_SAE_IDs")) {
			*message = "additional_slave_SAE_IDs only in a POST Key request";
			return -EINVAL;
		}
	}
	if (job->size_bits % 8) {
		*message = "size must be a multiple of 8";
		return -EINVAL;
	}
	if (job->n_more && job->number > QKDN_RELAY_KEYS_MAX) {
		*message = "number must be at most 64 with additional_slave_SAE_IDs";
		return -EINVAL;
	}
	return 0;
bad_number:
	*message = "number must be an integer from 1 to max_key_per_request";
	return -EINVAL;
bad_size:
	*message = "size must be a positive integer, in bits";
	return -EINVAL;
}

static int add_key_id(struct e14_job *job, const char *s, uint32_t max)
{
	if (!s || job->n_ids >= max || qkdn_uuid_parse(job->ids[job->n_ids], s) < 0)
		return -EINVAL;
	job->n_ids++;
	return 0;
}

/* key_ID from the query (GET) or the Key IDs object (POST). */
static int parse_key_ids(struct kmd_e14 *e14, struct e14_job *job, json_t *body,
			 const struct evkeyvalq *query, const char **message)
{
	uint32_t max = e14->conf->max_keys_per_request;
	json_t *ids, *entry;
	size_t i;

	job->ids = calloc(max, sizeof(*job->ids));
	if (!job->ids)
		return -ENOMEM;
	*message = "key_ID must be a UUID";
	if (!body)
		return add_key_id(job, evhttp_find_header(query, "key_ID"), 1);
	ids = json_object_get(body, "key_IDs");
	if (!json_is_array(ids) || json_array_size(ids) == 0 || json_array_size(ids) > max) {
		*message = "key_IDs must be an array of 1 to max_key_per_request Key ID objects";
		return -EINVAL;
	}
	json_array_foreach(ids, i, entry)
		if (add_key_id(job, json_string_value(json_object_get(entry, "key_ID")), max) < 0)
			return -EINVAL;
	return 0;
}

/* Status */

struct link_pick {
	uint32_t peer_node;
	bool found;
	uint64_t enc_available, capacity;
	uint16_t unit;
};

static int link_cb(const struct nlmsghdr *nlh, void *data)
{
	struct link_pick *pick = data;
	const struct nlattr *tb[QKDN_A_MAX + 1], *st[QKDN_STAT_A_MAX + 1];
	uint32_t peer, capacity;
	uint64_t avail;
	uint16_t unit;

	if (!nlh) {
		pick->found = false;
		return 0;
	}
	if (qkdn_nl_parse(nlh, tb, QKDN_A_MAX) < 0 || !qkdn_nla_u32(tb[QKDN_A_PEER_NODE_ID], &peer) ||
	    !qkdn_nla_u16(tb[QKDN_A_KEY_UNIT], &unit) ||
	    !qkdn_nla_u32(tb[QKDN_A_POOL_CAPACITY], &capacity) || !tb[QKDN_A_LINK_STATS] ||
	    qkdn_nl_parse_nested(tb[QKDN_A_LINK_STATS], st, QKDN_STAT_A_MAX) < 0 ||
	    !qkdn_nla_u64(st[QKDN_STAT_A_ENC_AVAILABLE], &avail))
		return -EBADMSG;
	/* KEY_GET draws from the link to the node with the most keys. */
	if (peer != pick->peer_node || (pick->found && avail <= pick->enc_available))
		return 0;
	pick->found = true;
	pick->enc_available = avail;
	pick->capacity = capacity;
	pick->unit = unit;
	return 0;
}

struct store_pick {
	uint32_t peer_node;
	uint64_t own_available;
};

static int store_cb(const struct nlmsghdr *nlh, void *data)
{
	struct store_pick *pick = data;
	const struct nlattr *tb[QKDN_A_MAX + 1], *st[QKDN_STORE_A_MAX + 1];
	uint32_t peer;

	if (!nlh) {
		pick->own_available = 0;
		return 0;
	}
	if (qkdn_nl_parse(nlh, tb, QKDN_A_MAX) < 0 || !qkdn_nla_u32(tb[QKDN_A_PEER_NODE_ID], &peer) ||
	    !tb[QKDN_A_STORE_STATS] ||
	    qkdn_nl_parse_nested(tb[QKDN_A_STORE_STATS], st, QKDN_STORE_A_MAX) < 0)
		return -EBADMSG;
	if (peer == pick->peer_node && !qkdn_nla_u64(st[QKDN_STORE_A_OWN_AVAILABLE],
						      &pick->own_available))
		return -EBADMSG;
	return 0;
}

struct app_info {
	uint32_t node;
	bool local;
	uint32_t uid;
};

static int app_cb(const struct nlmsghdr *nlh, void *data)
{
	struct app_info *app = data;
	const struct nlattr *tb[QKDN_A_MAX + 1];

	if (!nlh)
		return 0;
	if (qkdn_nl_parse(nlh, tb, QKDN_A_MAX) < 0 || !qkdn_nla_u32(tb[QKDN_A_NODE_ID], &app->node))
		return -EBADMSG;
	app->local = qkdn_nla_u32(tb[QKDN_A_UID], &app->uid);
	return 0;
}

struct node_info {
	uint32_t id;
	uint8_t ksa_sync;
};

static int node_cb(const struct nlmsghdr *nlh, void *data)
{
	struct node_info *node = data;
	const struct nlattr *tb[QKDN_A_MAX + 1];

	if (!nlh)
		return 0;
	if (qkdn_nl_parse(nlh, tb, QKDN_A_MAX) < 0 || !qkdn_nla_u32(tb[QKDN_A_NODE_ID], &node->id))
		return -EBADMSG;
	qkdn_nla_u8(tb[QKDN_A_KSA_SYNC], &node->ksa_sync);
	return 0;
}

static int app_get(struct kmd_e14 *e14, struct qkdn_nl_msg *msg, const char *sae,
		   struct app_info *app)
{
	qkdn_nl_msg_reset(msg, QKDN_CMD_APP_GET, 0);
	qkdn_nl_put_str(msg, QKDN_A_SAE_ID, sae);
	return qkdn_nl_request(e14->kmd->nl, msg, app_cb, app);
}

/* The Status object, from what the module counts now. Nothing is taken. */
static void handle_status(struct kmd_e14 *e14, struct evhttp_request *req, const char *master,
			  const char *slave)
{
	struct qkdn_nl *nl = e14->kmd->nl;
	struct app_info caller = { 0 }, peer = { 0 };
	struct node_info node = { 0 };
	struct link_pick link = { 0 };
	struct store_pick store = { 0 };
	uint64_t stored, max_count;
	uint32_t key_bits;
	struct qkdn_nl_msg *msg;
	char source[16], target[16];
	json_t *obj;
	int ret;

	msg = qkdn_nl_msg_new(QKDN_CMD_APP_GET, 0);
	if (!msg) {
		send_errno(e14, req, master, ENOMEM, NULL);
		return;
	}
	ret = app_get(e14, msg, master, &caller);
	if (!ret && (!caller.local || caller.uid != e14->uid)) {
		send_error(e14, req, master, 401, "the SAE is not registered to this KME", EACCES,
			   caller.local ? "registered to another uid" : "attached to another node");
		goto out;
	}
	if (!ret)
		ret = app_get(e14, msg, slave, &peer);
	if (!ret && peer.local) {
		send_error(e14, req, master, 400, "bad request", EINVAL,
			   "the slave SAE is attached to this node");
		goto out;
	}
	if (!ret) {
		qkdn_nl_msg_reset(msg, QKDN_CMD_NODE_GET, 0);
		ret = qkdn_nl_request(nl, msg, node_cb, &node);
	}
	if (!ret) {
		link.peer_node = peer.node;
		qkdn_nl_msg_reset(msg, QKDN_CMD_LINK_GET, 0);
		ret = qkdn_nl_dump(nl, msg, link_cb, &link);
	}
	if (!ret && !link.found) {
		store.peer_node = peer.node;
		qkdn_nl_msg_reset(msg, QKDN_CMD_STORE_GET, 0);
		ret = qkdn_nl_dump(nl, msg, store_cb, &store);
	}
	if (ret) {
		send_errno(e14, req, master, -ret, qkdn_nl_extack(nl));
		goto out;
	}
	if (link.found) {
		/* With KSA synchronisation the SYNC frame's MAC key comes
		 * from the same half of the pool. */
		uint64_t reserve = node.ksa_sync ? (32 + link.unit - 1) / link.unit : 0;

		key_bits = link.unit * 8U;
		stored = link.enc_available > reserve ? link.enc_available - reserve : 0;
		max_count = link.capacity;
	} else {
		/* Relayed keys: the size RELAY gives them by default; the
		 * store has no capacity of its own. */
		key_bits = E14_DEFAULT_KEY_BITS;
		stored = store.own_available;
		max_count = store.own_available;
	}
	snprintf(source, sizeof(source), "%u", node.id);
	snprintf(target, sizeof(target), "%u", peer.node);
	obj = json_pack("{s:s, s:s, s:s, s:s, s:i, s:I, s:I, s:i, s:i, s:i, s:i}",
			"source_KME_ID", source, "target_KME_ID", target,
			"master_SAE_ID", master, "slave_SAE_ID", slave,
			"key_size", (int)key_bits, "stored_key_count", (json_int_t)stored,
			"max_key_count", (json_int_t)max_count,
			"max_key_per_request", (int)e14->conf->max_keys_per_request,
			"max_key_size", (int)key_bits, "min_key_size", (int)key_bits,
			"max_SAE_ID_count", E14_MORE_SLAVES_MAX);
	e14->stats.ok++;
	log_request(req, master, 200, NULL, 0);
	send_json(req, 200, obj);
	json_decref(obj);
out:
	qkdn_nl_msg_free(msg);
}

/* Routing */

/* Splits "/api/v1/keys/{SAE_ID}/{op}" (the ID percent-decoded). */
static int parse_path(const char *path, char sae[QKDN_ID_MAXLEN], enum e14_op *op)
{
	const char *id, *slash;
	char *decoded;
	size_t len;

	if (!path || strncmp(path, E14_PREFIX, strlen(E14_PREFIX)) != 0)
		return -ENOENT;
	id = path + strlen(E14_PREFIX);
	slash = strchr(id, '/');
	if (!slash || slash == id)
		return -ENOENT;
	if (!strcmp(slash, "/status"))
		*op = E14_STATUS;
	else if (!strcmp(slash, "/enc_keys"))
		*op = E14_ENC_KEYS;
	else if (!strcmp(slash, "/dec_keys"))
		*op = E14_DEC_KEYS;
	else
		return -ENOENT;
	len = (size_t)(slash - id);
	if (len >= 3 * QKDN_ID_MAXLEN)
		return -EINVAL;
	char raw[3 * QKDN_ID_MAXLEN];

	memcpy(raw, id, len);
	raw[len] = '\0';
	decoded = evhttp_uridecode(raw, 0, &len);
	if (!decoded)
		return -ENOMEM;
	if (strlen(decoded) != len || !valid_sae_id(decoded)) {
		free(decoded);
		return -EINVAL;
	}
	snprintf(sae, QKDN_ID_MAXLEN, "%s", decoded);
	free(decoded);
	return 0;
}

static void handle_request(struct evhttp_request *req, void *arg)
{
	struct kmd_e14 *e14 = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	enum evhttp_cmd_type method = evhttp_request_get_command(req);
	const struct qkdn_kmd_sae_conf *caller;
	struct evkeyvalq query = { 0 };
	const char *message = NULL;
	struct e14_job *job = NULL;
	char other[QKDN_ID_MAXLEN];
	json_t *body = NULL;
	enum e14_op op;
	int ret;

	e14->stats.requests++;
	caller = caller_sae(e14, req);
	if (!caller) {
		send_error(e14, req, NULL, 401, "client certificate not accepted", 0,
			   "its subject CN is no [sae] of this KME");
		return;
	}
	ret = uri ? parse_path(evhttp_uri_get_path(uri), other, &op) : -EINVAL;
	if (ret == -ENOENT) {
		send_error(e14, req, caller->id, 404, "not an ETSI GS QKD 014 resource", 0, NULL);
		return;
	}
	if (ret) {
		send_error(e14, req, caller->id, 400, "malformed SAE ID in the path", 0, NULL);
		return;
	}
	if (method != EVHTTP_REQ_GET && method != EVHTTP_REQ_POST) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, POST");
		send_error(e14, req, caller->id, 405, "method not allowed: GET or POST", 0, NULL);
		return;
	}
	if (evhttp_parse_query_str(evhttp_uri_get_query(uri) ?: "", &query) < 0) {
		send_error(e14, req, caller->id, 400, "malformed query string", 0, NULL);
		return;
	}
	if (method == EVHTTP_REQ_POST && op != E14_STATUS) {
		struct evbuffer *in = evhttp_request_get_input_buffer(req);
		size_t len = evbuffer_get_length(in);
		json_error_t jerr;

		body = json_loadb((const char *)evbuffer_pullup(in, -1), len, 0, &jerr);
		if (!json_is_object(body)) {
			send_error(e14, req, caller->id, 400, "malformed JSON request", EINVAL,
				   body ? "not a JSON object" : jerr.text);
			goto out;
		}
	}
	if (op == E14_STATUS) {
		handle_status(e14, req, caller->id, other);
		goto out;
	}
	job = calloc(1, sizeof(*job));
	if (!job) {
		send_errno(e14, req, caller->id, ENOMEM, NULL);
		goto out;
	}
	job->e14 = e14;
	job->req = req;
	job->op = op;
	snprintf(job->sae, sizeof(job->sae), "%s", caller->id);
	snprintf(job->peer, sizeof(job->peer), "%s", other);
	ret = op == E14_ENC_KEYS ? parse_key_request(e14, job, body, &query, &message)
				 : parse_key_ids(e14, job, body, &query, &message);
	if (ret) {
		if (ret == -EINVAL)
			send_error(e14, req, caller->id, 400, message, EINVAL, NULL);
		else
			send_errno(e14, req, caller->id, -ret, NULL);
		job_free(job);
		goto out;
	}
	submit(e14, job);
out:
	json_decref(body);
	evhttp_clear_headers(&query);
}

/* Set-up and shutdown */

static struct bufferevent *new_bev(struct event_base *base, void *arg)
{
	struct kmd_e14 *e14 = arg;
	struct bufferevent *bev;
	SSL *ssl = SSL_new(e14->tls);

	if (!ssl)
		return NULL;
	bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
					     BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		SSL_free(ssl);
		return NULL;
	}
	/* Clients that close without close_notify are common and harmless
	 * here: every response carries its length. */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

static int start_failed(struct kmd_e14 *e14, const char *what, const char *err)
{
	char q[600];

	qkdn_log(QKDN_LOG_ERR, what, "event=start-failed api=etsi014 listen=%s err=%s",
		 e14->conf->listen_str, qkdn_log_quote(q, sizeof(q), err));
	return -EINVAL;
}

int kmd_etsi014_start(struct kmd *kmd)
{
	const struct qkdn_kmd_etsi014_conf *conf = &kmd->cfg.etsi014;
	char err[QKDN_CONFIG_ERR_LEN];
	struct evconnlistener *listener;
	struct kmd_e14 *e14;
	int ret;

	if (!conf->enabled)
		return 0;
	if (kmd->no_kernel) {
		qkdn_log(QKDN_LOG_WARN, "ETSI GS QKD 014 API off: --no-kernel has no keys to serve",
			 "event=etsi014-off");
		return 0;
	}
	e14 = calloc(1, sizeof(*e14));
	if (!e14)
		return -ENOMEM;
	kmd->e14 = e14;
	e14->kmd = kmd;
	e14->conf = conf;
	e14->uid = geteuid();
	e14->from_worker[0] = e14->from_worker[1] = -1;
	pthread_mutex_init(&e14->lock, NULL);
	pthread_cond_init(&e14->more, NULL);
	e14->queue_tail = &e14->queue;
	e14->tls = qkdn_tls_ctx_new(conf->cert, conf->key, conf->ca, err, sizeof(err));
	if (!e14->tls)
		return start_failed(e14, "ETSI 014 TLS set-up failed", err);
	if (pipe2(e14->from_worker, O_CLOEXEC) < 0)
		return start_failed(e14, "ETSI 014 worker pipe", strerror(errno));
	e14->done_event = event_new(kmd->base, e14->from_worker[0], EV_READ | EV_PERSIST,
				    done_readable, e14);
	if (!e14->done_event || event_add(e14->done_event, NULL) < 0)
		return start_failed(e14, "ETSI 014 worker event", "out of memory");
	e14->inline_w.e14 = e14;
	ret = qkdn_nl_open(&e14->inline_w.nl);
	if (ret)
		return start_failed(e14, "ETSI 014 netlink socket", strerror(-ret));
	e14->inline_w.msg = qkdn_nl_msg_new(QKDN_CMD_KEY_GET, 0);
	if (!e14->inline_w.msg)
		return start_failed(e14, "ETSI 014 netlink message", strerror(errno));
	for (int i = 0; i < E14_WORKERS; i++) {
		struct e14_worker *w = &e14->workers[i];

		w->e14 = e14;
		ret = qkdn_nl_open(&w->nl);
		if (ret)
			return start_failed(e14, "ETSI 014 netlink socket", strerror(-ret));
		w->msg = qkdn_nl_msg_new(QKDN_CMD_KEY_GET, 0);
		if (!w->msg)
			return start_failed(e14, "ETSI 014 netlink message", strerror(errno));
		ret = pthread_create(&w->thread, NULL, worker_main, w);
		if (ret)
			return start_failed(e14, "ETSI 014 worker thread", strerror(ret));
		w->started = true;
	}

	e14->http = evhttp_new(kmd->base);
	if (!e14->http)
		return start_failed(e14, "ETSI 014 HTTP server", "out of memory");
	evhttp_set_bevcb(e14->http, new_bev, e14);
	evhttp_set_gencb(e14->http, handle_request, e14);
	evhttp_set_max_body_size(e14->http, E14_BODY_MAX);
	evhttp_set_timeout(e14->http, E14_TIMEOUT_S);
	listener = evconnlistener_new_bind(kmd->base, NULL, NULL,
					   LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
					   LEV_OPT_CLOSE_ON_EXEC, 128,
					   (const struct sockaddr *)&conf->listen, (int)conf->listen_len);
	if (!listener)
		return start_failed(e14, "ETSI 014 listen failed", strerror(errno));
	/* Accepted sockets inherit it: without it a reply that leaves in two
	 * TLS records waits for the client's delayed ACK (40 ms) between. */
	setsockopt(evconnlistener_get_fd(listener), IPPROTO_TCP, TCP_NODELAY, &(int){ 1 },
		   sizeof(int));
	if (!evhttp_bind_listener(e14->http, listener)) {
		evconnlistener_free(listener);
		return start_failed(e14, "ETSI 014 listen failed", "evhttp_bind_listener");
	}
	qkdn_log(QKDN_LOG_INFO, "ETSI GS QKD 014 API listening",
		 "event=etsi014-listening listen=%s saes=%zu max_keys_per_request=%u uid=%u",
		 conf->listen_str, kmd->cfg.n_saes, conf->max_keys_per_request,
		 (unsigned int)e14->uid);
	return 0;
}

void kmd_etsi014_free(struct kmd *kmd)
{
	struct kmd_e14 *e14 = kmd->e14;
	struct e14_job *job;

	if (!e14)
		return;
	/* Each worker finishes the job it is in (a KSA wait or a multicast
	 * relay ends at the relay timeout) and refuses the queued ones; their
	 * requests are answered 503 before the server and its connections
	 * go. The pipe holds far more than E14_JOBS_MAX answers. */
	atomic_store(&e14->stopping, true);
	pthread_mutex_lock(&e14->lock);
	e14->closing = true;
	pthread_cond_broadcast(&e14->more);
	pthread_mutex_unlock(&e14->lock);
	for (int i = 0; i < E14_WORKERS; i++) {
		struct e14_worker *w = &e14->workers[i];

		if (w->started)
			pthread_join(w->thread, NULL);
		qkdn_nl_msg_free(w->msg);
		qkdn_nl_close(w->nl);
	}
	qkdn_nl_msg_free(e14->inline_w.msg);
	qkdn_nl_close(e14->inline_w.nl);
	if (e14->from_worker[1] >= 0)
		close(e14->from_worker[1]);
	e14->from_worker[1] = -1;
	while (e14->from_worker[0] >= 0 &&
	       read(e14->from_worker[0], &job, sizeof(job)) == (ssize_t)sizeof(job))
		job_done(e14, job);
	if (e14->http)
		evhttp_free(e14->http);
	if (e14->done_event)
		event_free(e14->done_event);
	if (e14->from_worker[0] >= 0)
		close(e14->from_worker[0]);
	while (e14->n_spare)
		qkdn_secbuf_free(e14->spare[--e14->n_spare]);
	pthread_cond_destroy(&e14->more);
	pthread_mutex_destroy(&e14->lock);
	SSL_CTX_free(e14->tls);
	qkdn_log(QKDN_LOG_INFO, "ETSI GS QKD 014 counters",
		 "event=stats api=etsi014 requests=%" PRIu64 " ok=%" PRIu64 " refused=%" PRIu64
		 " keys_supplied=%" PRIu64 " inline=%" PRIu64 " to_workers=%" PRIu64,
		 e14->stats.requests, e14->stats.ok, e14->stats.refused, e14->stats.keys_supplied,
		 e14->stats.inline_served, e14->stats.to_workers);
	free(e14);
	kmd->e14 = NULL;
}
