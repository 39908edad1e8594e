/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * qkdn-kmd: the key manager daemon of one node. It carries Kx relay frames
 * between the node's qkdn.ko and the key managers of neighbour nodes; the
 * module builds, encrypts, authenticates and checks every frame, so no
 * key bit passes through here.
 *
 *   kernel.c   netlink: node identity, relay timeout, routes, the "kx"
 *              multicast group, frames handed back to the module
 *   peer.c     TLS connections to neighbours: HELLO, SESSION, UPDATE, KX,
 *              KEEPALIVE (see lib/wire.h), reconnects, keep-alive
 *   etsi014.c  the ETSI GS QKD 014 key delivery API for local SAEs
 *              ([etsi014]): HTTPS, key requests on one worker thread
 *   main.c     options, start-up order, signals, shutdown, counters
 *
 * One libevent loop. Netlink requests are synchronous: the kernel
 * answers them without sleeping, so they do not stall the loop. The one
 * exception, key supply (which waits for KSA synchronisation with the
 * peer's node, through this loop), runs on etsi014.c's worker thread.
 */
#ifndef QKDN_KMD_H
#define QKDN_KMD_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

#include "config.h"
#include "nl.h"

/* Seconds a SESSION's KMA-key IDs live (Table 7-9 "Timer"). Logged and
 * kept, not enforced: relay frames carry their own key IDs. */
#define KMD_SESSION_TIMER_S	3600
#define KMD_BACKOFF_MIN_MS	1000
#define KMD_BACKOFF_MAX_MS	30000
#define KMD_KEEPALIVE_S		15	/* send a KEEPALIVE after this much silence */
#define KMD_DEAD_S		45	/* drop the connection after this much */
#define KMD_HANDSHAKE_S		15	/* TLS + HELLO + SESSION must be done by then */
#define KMD_TICK_S		1
/* A neighbour that does not read: frames beyond this much queued output
 * are dropped (the module times its relays out). */
#define KMD_OUTPUT_MAX		(4U << 20)

struct kmd;
struct kmd_conn;
struct kmd_e14;

/* Counters of one neighbour, since start. */
struct kmd_peer_stats {
	uint64_t frames_tx;		/* KX messages sent */
	uint64_t frames_rx;		/* KX messages received */
	uint64_t frames_accepted;	/* of those, taken by the module */
	uint64_t frames_dropped;	/* from the module, no session to send on */
	uint64_t kernel_refused;	/* refused by the module, replays aside */
	uint64_t kernel_replays;	/* refused as replayed (EALREADY) */
	uint64_t sessions;		/* sessions that came up */
};

/* A configured neighbour. */
struct kmd_peer {
	struct kmd *kmd;
	const struct qkdn_kmd_peer_conf *conf;
	uint32_t id;
	struct kmd_conn *conn;		/* the one connection in use, or NULL */
	struct kmd_conn *dialing;	/* our outgoing attempt, not yet identified */
	struct event *retry;
	unsigned int backoff_ms;
	bool session_up;
	uint64_t session_id;
	uint32_t session_timer;
	struct kmd_peer_stats stats;
};

struct kmd_stats {
	uint64_t frames_no_peer;	/* from the module for a node not in [peer] */
	uint64_t bad_notifications;	/* malformed KX_FRAME notifications */
	uint64_t notify_overruns;	/* ENOBUFS on the kx socket */
	uint64_t protocol_errors;	/* connections closed for a bad message */
	uint64_t refused_conns;		/* TLS ok but not a configured peer */
};

struct kmd {
	struct event_base *base;
	struct qkdn_kmd_config cfg;
	bool no_kernel;			/* --no-kernel test aid: no netlink at all */
	SSL_CTX *tls;
	struct qkdn_nl *nl;		/* requests */
	struct qkdn_nl_msg *frame_msg;	/* reused for every KX_FRAME request */
	struct qkdn_nl *nl_kx;		/* "kx" notifications */
	struct event *kx_event;
	struct evconnlistener *listener;
	struct kmd_peer *peers;
	size_t n_peers;
	struct kmd_conn *conns;		/* every connection, a list */
	struct event *tick;
	struct event *sig_term, *sig_int, *sig_hup, *sig_usr1;
	struct event *stop_deadline;
	bool stopping;
	void (*stop_done)(struct kmd *kmd);
	struct kmd_stats stats;
	struct kmd_e14 *e14;		/* NULL without [etsi014] */
};

/* kernel.c */
int kmd_kernel_start(struct kmd *kmd);
void kmd_kernel_stop(struct kmd *kmd);
/* Hands a frame from neighbour peer to the module. */
void kmd_kernel_submit_frame(struct kmd *kmd, struct kmd_peer *peer,
			     const void *frame, size_t len);

/* peer.c */
int kmd_peers_start(struct kmd *kmd);
/* Closes every connection with a TLS close_notify; calls done when the
 * last is gone (possibly at once). */
void kmd_peers_stop(struct kmd *kmd, void (*done)(struct kmd *kmd));
void kmd_peers_free(struct kmd *kmd);
struct kmd_peer *kmd_peer_find(struct kmd *kmd, uint32_t id);
/* Sends a frame from the module to neighbour peer if its session is up,
 * otherwise drops and counts it. */
void kmd_peer_send_frame(struct kmd_peer *peer, const void *frame, size_t len);

/* etsi014.c: both do nothing without [etsi014]. */
int kmd_etsi014_start(struct kmd *kmd);
/* Answers the requests in progress, then closes every connection. */
void kmd_etsi014_free(struct kmd *kmd);

/* main.c */
void kmd_log_stats(struct kmd *kmd, const char *why);

#endif
