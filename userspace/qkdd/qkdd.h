/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * qkdn-qkdd: the QKD device driver of one node (Kq-1, Cq, Mq). For every
 * QKD link under a KMA link of the node it gets QKD-keys, identical at
 * both ends, and pushes them into qkdn.ko (QKDN_CMD_KEY_PUSH), and it
 * reports the link's state, key rate and QBER (QKDN_CMD_QKD_STATUS).
 *
 * A link has two drivers, one at each end, joined by a TCP connection
 * (chan.c): the tx driver (Alice's QKD module) dials the rx driver.
 *
 *   sim       simulated QKD module pair (sim.c, model.c): the tx driver
 *             draws fresh random keys at the rate the decoy-state BB84
 *             model gives, and sends them to the rx driver over that
 *             connection, which stands in for the quantum channel.
 *   etsi014   a real device (etsi014.c): the tx driver pulls keys from its
 *             KME (enc_keys), sends their IDs; the rx driver pulls the
 *             same keys from its KME by ID (dec_keys).
 *
 * Both ends push a key or neither: the tx driver sends a batch, the rx
 * driver pushes it and acknowledges how many keys its module took, and
 * only then does the tx driver push those (link.c). See
 * Documentation/qkdd.rst for the window where they can still differ.
 *
 *   main.c     options, start-up, signals, shutdown, "ctl" client
 *   kernel.c   netlink: link checks, KEY_PUSH, QKD_STATUS
 *   chan.c     the driver-to-driver connection and its frames
 *   link.c     per-link state machine, batches in flight, acks, status
 *   sim.c      key generation of a simulated link
 *   etsi014.c  ETSI GS QKD 014 client (libcurl multi on the event loop)
 *   ctl.c      control socket: show, set
 *   mgr.c      Mq: reports to qkdn-mgrd ([manager] section)
 *   diag.c     a link's diagnosis (M_DIAG, alarm descriptions)
 *
 * One libevent loop, no threads. Key bytes live only in secbufs (locked,
 * wiped), apart from what libcurl and OpenSSL hold while a KME answer
 * is decrypted and parsed (jansson's copies are wiped on free).
 */
#ifndef QKDN_QKDD_H
#define QKDN_QKDD_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <event2/listener.h>

#include <linux/qkdn.h>

#include "model.h"
#include "nl.h"
#include "qkdd_config.h"

#define QKDD_TICK_MS		100	/* key generation and state checks */
#define QKDD_STATUS_MS		1000	/* QKD_STATUS to the module at least this often */
#define QKDD_RETRY_MS		1000	/* tx: redial the rx driver */
#define QKDD_WINDOW		4	/* batches in flight, unacknowledged */
#define QKDD_BATCH_KEYS_MAX	QKDD_ETSI_NUMBER_MAX
#define QKDD_BATCH_BYTES_MAX	(64 * 1024)
/* A KEYS frame of a full batch: header, seq and count, per key its ID,
 * time stamp, hash and length, and the bytes. */
#define QKDD_FRAME_MAX		(8 + 12 + QKDD_BATCH_KEYS_MAX * (1 + QKDN_ID_MAXLEN + 8 + 32 + 4) + \
				 QKDD_BATCH_BYTES_MAX)
#define QKDD_IN_BUF		(2 * QKDD_FRAME_MAX)
#define QKDD_OUT_BUF		((QKDD_WINDOW + 2) * QKDD_FRAME_MAX)
#define QKDD_STOP_GRACE_MS	2000	/* SIGTERM: wait this long for acks */
#define QKDD_MAX_BUDGET_S	2	/* sim: a stalled loop catches up at most this much */

struct qkdd;
struct qkdd_link;

/* Frames between the two drivers of a link: u8 type, 3 zero bytes, u32
 * payload length (big endian), payload. */
enum qkdd_frame {
	QKDD_F_HELLO = 1,	/* u8 mode, module ID, NUL, peer module ID, NUL */
	QKDD_F_STATUS,		/* tx->rx: u8 state, u64 rate bit/s, u32 QBER ppm, u8 has QBER */
	QKDD_F_KEYS,		/* tx->rx, sim: u64 seq, u32 n, n x key (see chan.c) */
	QKDD_F_IDS,		/* tx->rx, etsi014: u64 seq, u32 size bytes, u32 n, n x ID */
	QKDD_F_ACK,		/* rx->tx: u64 seq, u32 keys pushed, u32 errno */
};

struct qkdd_key {
	char id[QKDN_ID_MAXLEN];
	uint64_t ts_ns;
	uint8_t hash[32];
	uint8_t *data;		/* in the batch's secbuf */
	uint32_t len;
};

/* QKD-keys sent to the rx driver, waiting for its ACK. */
struct qkdd_batch {
	struct qkdd_batch *next;
	uint64_t seq;
	uint32_t n;
	uint8_t *buf;		/* secbuf with every key's bytes */
	struct qkdd_key keys[];
};

struct qkdd_chan {
	int fd;			/* -1: none */
	bool connecting;	/* tx: connect() in progress */
	bool hello_sent, hello_ok;
	struct event *ev_read, *ev_write;
	uint8_t *in, *out;	/* secbufs of QKDD_IN_BUF and QKDD_OUT_BUF */
	size_t in_len, out_len, out_off;
};

struct qkdd_http;

struct qkdd_link {
	struct qkdd *q;
	const struct qkdd_link_conf *conf;
	uint32_t id;

	/* Run-time parameters (control socket). */
	struct qkdd_model model;	/* sim: length and eavesdropper live here */
	uint64_t rate_cap_bps;		/* 0: none */
	bool outage, flood;

	/* State. */
	uint8_t state;			/* enum qkdn_qkd_state, as reported */
	uint64_t rate_bps;		/* as reported */
	uint32_t qber_ppm;
	bool has_qber;
	bool kme_failed;		/* etsi014: the last KME request failed */
	uint8_t peer_state;		/* rx: what the tx driver says */
	uint64_t peer_rate;
	uint32_t peer_qber;
	bool peer_has_qber;
	struct timespec last_status;	/* last QKD_STATUS to the module */
	bool status_failed;		/* logged once */

	/* Sim key generation. */
	double budget_bits;
	struct timespec last_gen;

	/* The connection to the other driver. */
	struct qkdd_chan ch;
	int listen_fd;			/* rx */
	struct event *ev_accept;
	struct event *ev_retry;		/* tx */

	/* Batches in flight (tx). */
	struct qkdd_batch *pend_head, *pend_tail;
	unsigned int n_pending;
	uint64_t next_seq;

	/* ETSI 014. */
	struct event *ev_poll;		/* tx: the next enc_keys request */
	struct qkdd_http *req;		/* the request in flight */
	bool rx_paused;			/* rx: frames wait for dec_keys */
	uint64_t ids_seq;		/* rx: the IDS frame being served */
	uint64_t measured_bits;		/* etsi014: bits pushed, for the rate */
	struct timespec rate_since;

	/* Mq */
	uint32_t peer_node;		/* the KMA link's peer, from the module; 0: unknown */
	bool alarm_down, alarm_qber;	/* raised at the manager, not cleared */

	/* Counters since start. */
	uint64_t keys, bytes;		/* QKD-keys pushed into this node's module */
	uint64_t push_errors, kme_errors, proto_errors, dropped_batches;
	int last_push_err;
};

struct qkdd {
	struct event_base *base;
	struct qkdd_config cfg;
	struct qkdn_nl *nl;
	struct qkdn_nl_msg *msg;	/* reused for every request */
	struct qkdd_link *links;
	size_t n_links;
	struct event *tick;
	struct event *sig_term, *sig_int, *sig_hup, *sig_usr1;
	struct event *stop_timer;
	bool stopping;
	/* control socket */
	int ctl_fd;
	struct evconnlistener *ctl;
	/* libcurl */
	CURLM *multi;
	struct event *curl_timer;
	/* Mq: the manager */
	struct qkdn_mgmt *mgmt;		/* NULL: no [manager] section */
	struct event *report;		/* periodic performance reports */
};

/* kernel.c */
int qkdd_kernel_start(struct qkdd *q);
void qkdd_kernel_stop(struct qkdd *q);
/* Pushes one QKD-key of link l into the module. 0 or -errno (logged by
 * the caller). */
int qkdd_kernel_push(struct qkdd_link *l, const struct qkdd_key *k);
/* QKD_STATUS with the link's state, rate and QBER. */
int qkdd_kernel_status(struct qkdd_link *l);
const char *qkdd_errno_name(int err);
/* The KMA link's peer node ID (0 if the module has no such link). */
uint32_t qkdd_kernel_peer_node(struct qkdd *q, uint32_t link);

/* chan.c */
int qkdd_chan_start(struct qkdd_link *l);
void qkdd_chan_close(struct qkdd_link *l, const char *why);
void qkdd_chan_free(struct qkdd_link *l);
bool qkdd_chan_up(const struct qkdd_link *l);
/* Queue a frame; -ENOBUFS if the output buffer is full. */
int qkdd_chan_send_status(struct qkdd_link *l);
int qkdd_chan_send_keys(struct qkdd_link *l, const struct qkdd_batch *b);
int qkdd_chan_send_ids(struct qkdd_link *l, const struct qkdd_batch *b);
int qkdd_chan_send_ack(struct qkdd_link *l, uint64_t seq, uint32_t pushed, int err);
/* rx: go on with frames held back while rx_paused. */
void qkdd_chan_resume(struct qkdd_link *l);

/* link.c */
int qkdd_links_start(struct qkdd *q);
void qkdd_links_free(struct qkdd *q);
struct qkdd_link *qkdd_link_find(struct qkdd *q, uint32_t id);
const char *qkdd_state_name(uint8_t state);
/* Re-evaluates the link's state; reports a change to the module and the
 * rx driver. */
void qkdd_link_update(struct qkdd_link *l);
/* The effective key rate of a sim link, bit/s (model, cap). */
uint64_t qkdd_link_sim_rate(const struct qkdd_link *l);
struct qkdd_batch *qkdd_batch_new(uint32_t n, uint32_t key_len);
void qkdd_batch_free(struct qkdd_batch *b);
/* tx: b was sent; keep it until its ACK. */
void qkdd_link_pending_add(struct qkdd_link *l, struct qkdd_batch *b);
/* tx: the rx driver's ACK. -EPROTO if it does not match. */
int qkdd_link_on_ack(struct qkdd_link *l, uint64_t seq, uint32_t pushed, uint32_t err);
/* tx: the connection dropped; batches in flight are wiped unpushed. */
void qkdd_link_drop_pending(struct qkdd_link *l);
/* rx: push the keys of a batch; returns how many the module took and
 * the error that stopped it (0 if all). */
uint32_t qkdd_link_push_batch(struct qkdd_link *l, const struct qkdd_key *keys, uint32_t n,
			      int *err);
/* Counters and state of every link, logged. */
void qkdd_log_stats(struct qkdd *q, const char *why);
bool qkdd_links_idle(const struct qkdd *q);

/* sim.c */
void qkdd_sim_tick(struct qkdd_link *l, const struct timespec *now);
/* Fills a key: fresh random bytes, a random UUID, time stamp, SHA-256. */
int qkdd_key_fill(struct qkdd_key *k);
int qkdd_sha256(const void *data, size_t len, uint8_t out[32]);

/* etsi014.c */
int qkdd_etsi_start(struct qkdd *q);
void qkdd_etsi_stop(struct qkdd *q);
int qkdd_etsi_link_start(struct qkdd_link *l);
void qkdd_etsi_link_stop(struct qkdd_link *l);
/* Abandons the KME request in flight, if any. */
void qkdd_etsi_cancel(struct qkdd_link *l);
/* rx: an IDS frame: fetch those keys by ID, push, ACK. */
void qkdd_etsi_on_ids(struct qkdd_link *l, uint64_t seq, uint32_t size, uint32_t n,
		      char (*ids)[QKDN_ID_MAXLEN]);

/* ctl.c */
int qkdd_ctl_start(struct qkdd *q);
void qkdd_ctl_stop(struct qkdd *q);
/* "qkdn-qkdd ctl SOCKET COMMAND...": exit status. */
int qkdd_ctl_client(int argc, char **argv);

/* mgr.c: Mq, a no-op without a [manager] section */
int qkdd_mgr_start(struct qkdd *q);
void qkdd_mgr_stop(struct qkdd *q);
/* Everything sent to the manager acknowledged (stored)? */
bool qkdd_mgr_idle(const struct qkdd *q);
/* l->state changed from was: alarms, clears, inventory. */
void qkdd_mgr_state(struct qkdd_link *l, uint8_t was);

/* diag.c */
/* "qkd-link-<node>-<link>" */
void qkdd_link_resource(const struct qkdd_link *l, char *out, size_t len);
/* The link's state as a managed resource (enum qkdn_wire_config_state)
 * and its diagnosis in info. */
uint8_t qkdd_diagnose(const struct qkdd_link *l, char *info, size_t len);

/* main.c */
double qkdd_elapsed(const struct timespec *from, const struct timespec *to);

#endif
