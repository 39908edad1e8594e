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
 *   routes.c   the route table the controller installs: working and
 *              protection next hops, switching without the controller,
 *              withdrawals (seed 004 Req_KM-P 1)
 *   ck.c       the controller client (Ck, [controller]): AUTH, status,
 *              notifications, route requests and pushes, CRL
 *   carrier.c  local fault detection, the pure half: rtnetlink link
 *              events and route lookups parsed (peer.c acts on them)
 *   supply.c   store refill ([session]): relays on a worker thread keep
 *              each session's relayed store topped up, by priority
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
#include <sys/socket.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

#include "config.h"
#include "nl.h"
#include "tls.h"

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
#define KMD_KX_RCVBUF		(8 << 20)	/* bytes, the kx netlink socket */
#define KMD_SINGLE_IO		(256 << 10)	/* bytes a TLS read or write callback moves */

struct kmd;
struct kmd_conn;
struct kmd_e14;
struct kmd_ck;
struct kmd_supply;

/*
 * One hop-by-hop route entry "toward dest, send to next_hop" (routes.c).
 * Entries of controller sessions are keyed by (session, dest); [route]s
 * of the config are session 0 and never switched. Per destination the
 * module holds the newest entry's active next hop.
 */
struct kmd_route {
	uint64_t session_id;		/* 0: a [route] of the config */
	uint32_t source;		/* the session's source (0 for [route]) */
	uint32_t dest;			/* where this entry forwards to */
	uint32_t next_hop;		/* working */
	uint32_t protection;		/* 0: none */
	uint32_t active;		/* next_hop, protection, or 0: withdrawn */
	uint32_t other_end;		/* the session end that is not dest, 0 unknown */
	uint64_t seq;			/* install order; the newest entry wins */
	uint64_t relay_failed_ms;	/* a sourced relay failed on next_hop, 0 none */
	uint32_t path[64], protection_path[64];	/* informational */
	uint8_t n_path, n_protection_path;
	/* Multipath (QKDN_W_MULTIPATH_HOPS/_KEYS): at the session's source,
	 * the first hops of its paths and their shares in keys; the store
	 * refill spreads its relays over them (supply.c). */
	uint8_t n_mp;
	uint32_t mp_hop[8], mp_keys[8];
	uint8_t withdraw_reason;	/* a DELETE's QKDN_W_ROUTE_REASON, 0 none */
};

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
	uint32_t ifindex;		/* output interface toward it, 0 unknown */
	bool if_lost;			/* that interface lost its carrier */
	struct kmd_peer_stats stats;
};

struct kmd_stats {
	uint64_t frames_no_peer;	/* from the module for a node not in [peer] */
	uint64_t bad_notifications;	/* malformed KX_FRAME notifications */
	uint64_t notify_overruns;	/* ENOBUFS on the kx socket */
	uint64_t protocol_errors;	/* connections closed for a bad message */
	uint64_t refused_conns;		/* TLS ok but not a configured peer */
	uint64_t carrier_losses;	/* neighbours taken down by a link event */
	uint64_t link_overruns;		/* ENOBUFS on the rtnetlink socket */
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
	struct mnl_socket *rtnl_links;	/* RTNLGRP_LINK events, NULL if unavailable */
	struct mnl_socket *rtnl_routes;	/* RTM_GETROUTE requests */
	uint32_t rtnl_seq;
	struct event *links_event;
	struct kmd_peer *peers;
	size_t n_peers;
	struct kmd_conn *conns;		/* every connection, a list */
	struct event *tick;
	uint64_t tick_ms;		/* when tick_cb last ran, 0 before */
	uint64_t stalls;		/* ticks late by a keep-alive interval or more */
	struct event *sig_term, *sig_int, *sig_hup, *sig_usr1;
	struct event *stop_deadline;
	bool stopping;
	void (*stop_done)(struct kmd *kmd);
	struct kmd_stats stats;
	struct kmd_e14 *e14;		/* NULL without [etsi014] */
	/* Issue 5: routes, controller, store refill. */
	struct kmd_route *routes;
	size_t n_routes, routes_cap;
	uint64_t route_seq;
	uint64_t protection_switches;	/* counters, logged with the others */
	uint64_t withdrawals_sent, withdrawals_received;
	struct qkdn_nl *nl_alarm;	/* "alarm" notifications */
	struct event *alarm_event;
	struct kmd_ck *ck;		/* NULL without [controller] */
	struct kmd_supply *supply;	/* NULL without sessions */
	SSL_CTX *tls_ck;		/* Ck, when [controller] has its own cert */
	struct qkdn_crl_watch crl_watch;	/* [node] crl, crl.c */
	struct event *crl_timer;
	struct kmd_mgr *mgr;		/* NULL without [manager] */
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

/* kernel.c: routes in the module. 0 or -errno (logged). */
int kmd_kernel_route_set(struct kmd *kmd, uint32_t dest, uint32_t next_hop);
int kmd_kernel_route_del(struct kmd *kmd, uint32_t dest);

/* peer.c */
bool kmd_peer_is_up(struct kmd *kmd, uint32_t id);
/* Kx UPDATE with QKDN_W_QOS_UNREACHABLE: dest is not reachable through
 * us. Nothing if the neighbour's session is down. */
void kmd_peer_send_withdrawal(struct kmd *kmd, uint32_t peer_id, uint32_t dest);
/* Drops the Kx connections whose peer certificate the store now finds
 * revoked (after a CRL reload). Returns how many. */
unsigned int kmd_peers_drop_revoked(struct kmd *kmd);

/* carrier.c: pure functions, no state. */
struct kmd_link_event {
	uint32_t ifindex;
	unsigned int flags;		/* ifi_flags */
	bool gone;			/* RTM_DELLINK */
	bool lost;			/* gone, down, or no carrier */
	char name[16];			/* IFNAMSIZ */
};
/* An interface with these flags (ifi_flags) cannot carry Kx: not up,
 * no carrier (IFF_LOWER_UP) or not operational (IFF_RUNNING). */
bool kmd_carrier_lost(unsigned int flags);
/* An RTM_NEWLINK or RTM_DELLINK message. 0 or -EINVAL. */
int kmd_carrier_parse_link(const struct nlmsghdr *nlh, struct kmd_link_event *ev);
/* Builds in buf (size bytes, at least 256) an
 * RTM_GETROUTE for dst (AF_INET or AF_INET6); NULL for another family. */
struct nlmsghdr *kmd_carrier_route_request(void *buf, size_t size, const struct sockaddr *dst,
					   uint32_t seq);
/* The output interface of an RTM_NEWROUTE answer: 0, -EINVAL or -ENOENT. */
int kmd_carrier_parse_route(const struct nlmsghdr *nlh, uint32_t *oif);

/* routes.c: all on the loop thread. */
enum kmd_route_op { KMD_ROUTE_INSTALL, KMD_ROUTE_DELETE };
/* Installs (replaces) or deletes the entry (session, dest) and programs
 * the module. 0 or -errno. */
int kmd_routes_apply(struct kmd *kmd, enum kmd_route_op op, const struct kmd_route *r);
/* The entry the module holds for dest, or NULL. */
const struct kmd_route *kmd_routes_effective(const struct kmd *kmd, uint32_t dest);
/* Switch triggers: (a) Kx to peer down, (b) a relay to dest failed,
 * (c) neighbour from withdrew dest. */
void kmd_routes_peer_down(struct kmd *kmd, uint32_t peer);
void kmd_routes_peer_up(struct kmd *kmd, uint32_t peer);
void kmd_routes_relay_failed(struct kmd *kmd, uint32_t dest);
void kmd_routes_withdrawn(struct kmd *kmd, uint32_t from, uint32_t dest);
/* [route]s of the config into the table (session 0). */
int kmd_routes_start(struct kmd *kmd);
void kmd_routes_free(struct kmd *kmd);

/* ck.c: all nothing without [controller]. */
int kmd_ck_start(struct kmd *kmd);
void kmd_ck_stop(struct kmd *kmd);
void kmd_ck_free(struct kmd *kmd);
/* A CK_NOTIFY (enum qkdn_wire_event) with a fresh status; peer and dest
 * 0 when they do not apply. */
void kmd_ck_notify(struct kmd *kmd, uint16_t event, uint32_t peer, uint32_t dest);

/* supply.c */
int kmd_supply_start(struct kmd *kmd);
/* Asks the worker to stop after the relay in flight; _free waits for it
 * (at most the relay timeout). */
void kmd_supply_stop(struct kmd *kmd);
void kmd_supply_free(struct kmd *kmd);
/* A session this node is the source of: keep `keep` keys of key_bits in
 * the store for dest, at priority (0 highest). Adds or updates; callable
 * from any thread. 0 or -errno. */
int kmd_supply_session(struct kmd *kmd, uint32_t dest, uint32_t keep, uint8_t priority,
		       uint32_t key_bits, uint64_t session_id);
void kmd_supply_log_stats(struct kmd *kmd, const char *why);
/* The paths the refill of dest relays over: n first hops (neighbours)
 * and each one's share in keys; n < 2: the module's route, as before.
 * Callable from any thread. */
void kmd_supply_paths(struct kmd *kmd, uint32_t dest, const uint32_t *hops,
		      const uint32_t *keys, unsigned int n);
/* Loop thread: every session's paths from the route table (the entries'
 * multipath hops whose Kx session is up), after routes or neighbours
 * changed. */
void kmd_supply_paths_refresh(struct kmd *kmd);

/* crl.c: the [node] crl file, re-read when it changes (every
 * QKDN_CRL_WATCH_MS) and on SIGHUP; connections of peers it revokes are
 * dropped. Nothing without [node] crl. */
int kmd_crl_start(struct kmd *kmd);
void kmd_crl_check(struct kmd *kmd, const char *why);
void kmd_crl_free(struct kmd *kmd);
/* ck.c: closes the controller connection if its certificate is revoked
 * now (1), else 0. */
unsigned int kmd_ck_drop_revoked(struct kmd *kmd);

/* mgr.c: Mk, reports to the manager; every hook does nothing without
 * [manager]. All on the loop thread. */
struct kmd_mgr;
int kmd_mgr_start(struct kmd *kmd);
void kmd_mgr_free(struct kmd *kmd);
void kmd_mgr_log_stats(struct kmd *kmd, const char *why);
/* A Kx frame the module made for neighbour (out) or took from it. */
void kmd_mgr_frame(struct kmd *kmd, uint32_t neighbour, const void *frame, size_t len, bool out);
/* An ETSI 014 request served: the Key container sent to SAE sae (JSON,
 * len bytes, n_keys keys) for its peer SAE; dec: dec_keys. Only key IDs
 * and lengths are read. */
void kmd_mgr_supplied(struct kmd *kmd, const char *sae, const char *peer_sae, bool dec,
		      const char *json, size_t len, uint32_t n_keys);
/* The Kx session to peer came up, or went down for reason. */
void kmd_mgr_peer(struct kmd *kmd, struct kmd_peer *peer, bool up, const char *reason);
/* A module alarm (enum qkdn_alarm) with what it names; value: keys left
 * to hand out for pool alarms. */
void kmd_mgr_module_alarm(struct kmd *kmd, uint32_t alarm, uint32_t peer, uint32_t dest,
			  uint64_t relay_id, uint64_t value);
/* Route r moved from next hop `from` to `to` (0: withdrawn); op is the
 * resilience operation to report (SWITCHOVER, RESTORE) or 0. */
void kmd_mgr_route(struct kmd *kmd, const struct kmd_route *r, enum qkdn_wire_resil_op op,
		   uint32_t from, uint32_t to);

/* main.c */
void kmd_log_stats(struct kmd *kmd, const char *why);

#endif
