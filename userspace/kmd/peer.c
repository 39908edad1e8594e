// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Connections to neighbour key managers.
 *
 * Each side listens and also dials every [peer]. A connection counts once
 * TLS 1.3 is up and the peer's certificate names a configured neighbour
 * (the one dialled, for an outgoing connection). When two connections to
 * the same neighbour are both up, the one opened by the lower node ID is
 * kept and the other closed; both ends apply the same rule, so they keep
 * the same one. (Two in the same direction: the newer wins, the older is
 * a leftover the peer has given up on.)
 *
 * On a connection, in order:
 *   both ends send HELLO, and answer the other's (failure closes);
 *   once both HELLOs succeeded, the lower node ID proposes a SESSION
 *   (random ID, timer) and the other answers it;
 *   then the session is up: both send an UPDATE per route, KX frames
 *   flow, KEEPALIVEs fill silences.
 * Anything out of that order, a malformed message, or a sender ID other
 * than the one the certificate names closes the connection.
 *
 * Liveness: a side that has sent or received nothing for keepalive-ms
 * ([node], default KMD_KEEPALIVE_S) sends a KEEPALIVE (at most one per
 * interval; sending when idle on either count keeps both ends hearing
 * from each other), and drops the connection after three intervals of
 * receiving nothing: that is the failure detector protection switching
 * (routes.c) relies on when a link is cut without a FIN. Time this
 * process did not run (a tick two periods late: a loaded machine) does
 * not count as the neighbour's silence: what it sent meanwhile is still
 * unread in the socket. A connection not up
 * within KMD_HANDSHAKE_S is dropped. A lost neighbour is redialled with
 * exponential backoff, KMD_BACKOFF_MIN_MS doubling to KMD_BACKOFF_MAX_MS,
 * less up to 25 % jitter.
 *
 * Local faults: each neighbour's output interface is looked up
 * (RTM_GETROUTE) when a connection to it comes up; an rtnetlink link
 * event saying that interface went down, lost its carrier or stopped
 * running closes the connection at once (reason=carrier), the same path
 * as the keep-alive's dead timer. When the interface is back, the
 * neighbour is redialled at once. carrier.c parses the messages.
 *
 * Routes: a session going down or up is reported to routes.c (switching)
 * and the controller (ck.c). An UPDATE whose QOS is QKDN_W_QOS_UNREACHABLE
 * withdraws the destination it names (routes.c); kmd sends one when a
 * destination became unreachable through it.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <net/if.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include "conn.h"
#include "kmd.h"
#include "log.h"
#include "tls.h"
#include "wire.h"

/* Connections that finished TCP but not yet TLS: a cap, so a flood of
 * unauthenticated connections cannot eat the daemon. */
#define KMD_PENDING_MAX 64

enum conn_state {
	CONN_TLS,	/* TCP connect and TLS handshake */
	CONN_HELLO,	/* identified; HELLOs being exchanged */
	CONN_SESSION,	/* both HELLOs done; SESSION being agreed */
	CONN_UP,	/* session up: frames flow */
	CONN_CLOSING,	/* flushing its last output, then closed */
};

static const char *const state_names[] = {
	[CONN_TLS] = "tls", [CONN_HELLO] = "hello", [CONN_SESSION] = "session",
	[CONN_UP] = "up", [CONN_CLOSING] = "closing",
};

struct kmd_conn {
	struct kmd *kmd;
	struct kmd_conn *next;
	struct bufferevent *bev;
	enum conn_state state;
	bool outgoing;
	struct kmd_peer *target;	/* outgoing: the neighbour dialled */
	struct kmd_peer *peer;		/* once identified */
	uint32_t peer_id;		/* from the certificate, 0 until then */
	bool our_hello_acked, their_hello_ok;
	uint64_t hello_msg_id, session_msg_id;
	uint64_t proposed_session;
	uint64_t started_ms, last_rx_ms, last_tx_ms, last_keepalive_ms, closing_ms;
	char remote[QKDN_ADDR_STRLEN];	/* for logs */
	char local_ip[INET6_ADDRSTRLEN], remote_ip[INET6_ADDRSTRLEN];
	char peer_name[QKDN_ID_MAXLEN];
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t random_u64(void)
{
	uint64_t v = 0;

	if (RAND_bytes((unsigned char *)&v, sizeof(v)) != 1)
		v = now_ms() * 0x9e3779b97f4a7c15ULL;	/* jitter only; see session_propose */
	return v;
}

static const char *dir_name(const struct kmd_conn *c)
{
	return c->outgoing ? "out" : "in";
}

struct kmd_peer *kmd_peer_find(struct kmd *kmd, uint32_t id)
{
	for (size_t i = 0; i < kmd->n_peers; i++)
		if (kmd->peers[i].id == id)
			return &kmd->peers[i];
	return NULL;
}

/* Local fault detection (carrier.c has the parsing) */

static void dial(struct kmd_peer *peer);

static int route_answer_cb(const struct nlmsghdr *nlh, void *data)
{
	kmd_carrier_parse_route(nlh, data);
	return MNL_CB_OK;
}

/* The kernel's output interface toward dst, 0 if none or unknown. */
static uint32_t route_oif(struct kmd *kmd, const struct sockaddr *dst)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	unsigned int portid;
	struct nlmsghdr *nlh;
	uint32_t seq, oif = 0;
	ssize_t n;

	if (!kmd->rtnl_routes)
		return 0;
	seq = ++kmd->rtnl_seq;
	nlh = kmd_carrier_route_request(buf, sizeof(buf), dst, seq);
	if (!nlh)
		return 0;
	nlh->nlmsg_flags |= NLM_F_ACK;
	if (mnl_socket_sendto(kmd->rtnl_routes, nlh, nlh->nlmsg_len) < 0)
		return 0;
	portid = mnl_socket_get_portid(kmd->rtnl_routes);
	/* The answer, then the ack (or an error: no route). */
	while ((n = mnl_socket_recvfrom(kmd->rtnl_routes, buf, sizeof(buf))) > 0) {
		int ret = mnl_cb_run(buf, (size_t)n, seq, portid, route_answer_cb, &oif);

		if (ret == MNL_CB_ERROR && errno == ESRCH)
			continue;	/* an earlier request's leftover */
		if (ret <= MNL_CB_STOP)
			break;
	}
	return oif;
}

/* Where Kx to peer leaves this node: the route to the address of the
 * connection on fd (or of [peer] address). */
static void learn_interface(struct kmd_peer *peer, evutil_socket_t fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	const struct sockaddr *dst = (const struct sockaddr *)&peer->conf->address;
	uint32_t oif;

	if (fd >= 0 && getpeername(fd, (struct sockaddr *)&ss, &len) == 0)
		dst = (const struct sockaddr *)&ss;
	oif = route_oif(peer->kmd, dst);
	if (!oif)
		return;
	if (oif != peer->ifindex) {
		char name[IF_NAMESIZE] = "?";

		if_indextoname(oif, name);
		qkdn_log(QKDN_LOG_DEBUG, "neighbour's interface",
			 "event=peer-interface peer=%u ifindex=%u ifname=%s", peer->id, oif, name);
	}
	peer->ifindex = oif;
	peer->if_lost = false;
}

static void conn_close(struct kmd_conn *c, enum qkdn_log_level level, const char *reason);

static void link_changed(struct kmd *kmd, const struct kmd_link_event *ev)
{
	for (size_t i = 0; i < kmd->n_peers; i++) {
		struct kmd_peer *p = &kmd->peers[i];

		if (!p->ifindex || p->ifindex != ev->ifindex)
			continue;
		if (ev->lost) {
			if (p->if_lost && !p->conn && !p->dialing)
				continue;
			p->if_lost = true;
			qkdn_log(p->conn ? QKDN_LOG_WARN : QKDN_LOG_INFO,
				 "neighbour's interface lost its carrier",
				 "event=carrier-lost peer=%u ifindex=%u ifname=%s flags=0x%x gone=%d "
				 "connected=%d", p->id, ev->ifindex, ev->name, ev->flags, ev->gone,
				 p->conn != NULL);
			if (p->conn) {
				kmd->stats.carrier_losses++;
				conn_close(p->conn, QKDN_LOG_WARN, "carrier");
			}
			if (p->dialing)
				conn_close(p->dialing, QKDN_LOG_INFO, "carrier");
			if (ev->gone)
				p->ifindex = 0;	/* a new one gets a new index */
		} else if (p->if_lost) {
			p->if_lost = false;
			qkdn_log(QKDN_LOG_INFO, "neighbour's interface is back",
				 "event=carrier-back peer=%u ifindex=%u ifname=%s", p->id,
				 ev->ifindex, ev->name);
			/* Redial now, not after a backoff grown while it was down. */
			p->backoff_ms = KMD_BACKOFF_MIN_MS;
			if (!p->conn && !p->dialing && evtimer_pending(p->retry, NULL)) {
				evtimer_del(p->retry);
				dial(p);
			}
		}
	}
}

static int link_msg_cb(const struct nlmsghdr *nlh, void *data)
{
	struct kmd_link_event ev;

	if (kmd_carrier_parse_link(nlh, &ev) == 0)
		link_changed(data, &ev);
	return MNL_CB_OK;
}

static void links_readable(evutil_socket_t fd, short what, void *arg)
{
	struct kmd *kmd = arg;
	char buf[MNL_SOCKET_BUFFER_SIZE];

	(void)fd;
	(void)what;
	/* A bounded batch, as for the module's notifications. */
	for (int i = 0; i < 64; i++) {
		ssize_t n = mnl_socket_recvfrom(kmd->rtnl_links, buf, sizeof(buf));

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == ENOBUFS) {
			/* Events lost: the keep-alive still catches a cut. */
			kmd->stats.link_overruns++;
			qkdn_log(QKDN_LOG_WARN, "kernel dropped link events",
				 "event=notify-overrun group=link");
			continue;
		}
		if (n <= 0) {
			qkdn_log(QKDN_LOG_ERR, "reading link events failed",
				 "event=notify-failed group=link err=\"%s\"",
				 n < 0 ? strerror(errno) : "end of file");
			event_del(kmd->links_event);
			return;
		}
		mnl_cb_run(buf, (size_t)n, 0, 0, link_msg_cb, kmd);
	}
}

static void links_close(struct kmd *kmd)
{
	if (kmd->links_event)
		event_free(kmd->links_event);
	kmd->links_event = NULL;
	if (kmd->rtnl_links)
		mnl_socket_close(kmd->rtnl_links);
	kmd->rtnl_links = NULL;
	if (kmd->rtnl_routes)
		mnl_socket_close(kmd->rtnl_routes);
	kmd->rtnl_routes = NULL;
}

/* Not fatal: without it, the keep-alive is the only detector. */
static void links_open(struct kmd *kmd)
{
	struct timeval tv = { 1, 0 };
	int fd, flags;

	kmd->rtnl_links = mnl_socket_open(NETLINK_ROUTE);
	kmd->rtnl_routes = mnl_socket_open(NETLINK_ROUTE);
	if (!kmd->rtnl_links || !kmd->rtnl_routes ||
	    mnl_socket_bind(kmd->rtnl_links, RTMGRP_LINK, MNL_SOCKET_AUTOPID) < 0 ||
	    mnl_socket_bind(kmd->rtnl_routes, 0, MNL_SOCKET_AUTOPID) < 0)
		goto fail;
	/* The kernel answers a route lookup at once; never hang the loop. */
	setsockopt(mnl_socket_get_fd(kmd->rtnl_routes), SOL_SOCKET, SO_RCVTIMEO, &tv,
		   sizeof(tv));
	fd = mnl_socket_get_fd(kmd->rtnl_links);
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		goto fail;
	kmd->links_event = event_new(kmd->base, fd, EV_READ | EV_PERSIST, links_readable, kmd);
	if (!kmd->links_event || event_add(kmd->links_event, NULL) < 0)
		goto fail;
	return;
fail:
	qkdn_log(QKDN_LOG_WARN, "no link events: only the keep-alive detects cuts",
		 "event=carrier-unavailable err=\"%s\"", strerror(errno));
	links_close(kmd);
}

/* Reconnects */

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	dial(arg);
}

/*
 * Only the node with the lower ID dials; the other waits for it. Two nodes
 * dialling each other at once would each see two connections and close
 * one, and a session already up could be the one to go, dropping frames.
 */
static bool we_dial(const struct kmd_peer *peer)
{
	return peer->kmd->cfg.node_id < peer->id;
}

static void schedule_retry(struct kmd_peer *peer)
{
	struct kmd *kmd = peer->kmd;
	unsigned int delay;
	struct timeval tv;

	if (kmd->stopping || peer->conn || peer->dialing || !we_dial(peer) ||
	    evtimer_pending(peer->retry, NULL))
		return;
	delay = peer->backoff_ms - (unsigned int)(random_u64() % (peer->backoff_ms / 4 + 1));
	peer->backoff_ms = peer->backoff_ms * 2 > KMD_BACKOFF_MAX_MS ? KMD_BACKOFF_MAX_MS
								     : peer->backoff_ms * 2;
	tv.tv_sec = delay / 1000;
	tv.tv_usec = (delay % 1000) * 1000;
	evtimer_add(peer->retry, &tv);
	qkdn_log(QKDN_LOG_DEBUG, "redial scheduled", "event=redial-scheduled peer=%u in_ms=%u",
		 peer->id, delay);
}

/* Closing */

/* Unhooks c from its neighbour: the neighbour is down if c was its
 * connection. Idempotent. */
static void conn_detach(struct kmd_conn *c, const char *reason)
{
	struct kmd_peer *peer = c->peer;
	char q[256];

	if (c->target && c->target->dialing == c)
		c->target->dialing = NULL;
	if (peer && peer->conn == c) {
		peer->conn = NULL;
		if (peer->session_up) {
			peer->session_up = false;
			qkdn_log(QKDN_LOG_INFO, "neighbour down",
				 "event=peer-down peer=%u session=%016" PRIx64 " reason=%s "
				 "frames_tx=%" PRIu64 " frames_rx=%" PRIu64,
				 peer->id, peer->session_id, qkdn_log_quote(q, sizeof(q), reason),
				 peer->stats.frames_tx, peer->stats.frames_rx);
			peer->session_id = 0;
			if (!c->kmd->stopping) {
				kmd_routes_peer_down(c->kmd, peer->id);
				kmd_supply_paths_refresh(c->kmd);
				kmd_ck_notify(c->kmd, QKDN_W_EVENT_LINK_DOWN, peer->id, 0);
				kmd_mgr_peer(c->kmd, peer, false, reason);
			}
		}
		peer->session_id = 0;
	}
	c->peer = NULL;
	if (c->target)
		schedule_retry(c->target);
	if (peer && peer != c->target)
		schedule_retry(peer);
}

static void conn_free(struct kmd_conn *c, bool graceful)
{
	struct kmd *kmd = c->kmd;
	struct kmd_conn **pp;

	for (pp = &kmd->conns; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	if (graceful) {
		SSL *ssl = bufferevent_openssl_get_ssl(c->bev);

		/* close_notify; the socket is non-blocking and we do not wait
		 * for the peer's. */
		if (ssl && SSL_is_init_finished(ssl))
			SSL_shutdown(ssl);
	}
	ERR_clear_error();
	bufferevent_free(c->bev);
	free(c);
	if (kmd->stopping && !kmd->conns && kmd->stop_done) {
		void (*done)(struct kmd *) = kmd->stop_done;

		kmd->stop_done = NULL;
		done(kmd);
	}
}

/* Closes c now. */
static void conn_close(struct kmd_conn *c, enum qkdn_log_level level, const char *reason)
{
	char q[256];

	qkdn_log(level, "connection closed",
		 "event=conn-closed peer=%u dir=%s remote=%s state=%s reason=%s", c->peer_id,
		 dir_name(c), c->remote, state_names[c->state],
		 qkdn_log_quote(q, sizeof(q), reason));
	conn_detach(c, reason);
	conn_free(c, c->state != CONN_TLS);
}

/* Closes c once what it has queued (a final response) is sent. c may be
 * freed before this returns. */
static void conn_close_after_flush(struct kmd_conn *c, enum qkdn_log_level level,
				   const char *reason)
{
	char q[256];

	if (c->state == CONN_CLOSING)
		return;
	qkdn_log(level, "closing connection",
		 "event=conn-closing peer=%u dir=%s remote=%s state=%s reason=%s", c->peer_id,
		 dir_name(c), c->remote, state_names[c->state],
		 qkdn_log_quote(q, sizeof(q), reason));
	conn_detach(c, reason);
	c->state = CONN_CLOSING;
	c->closing_ms = now_ms();
	bufferevent_disable(c->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		conn_free(c, true);
}

static int protocol_error(struct kmd_conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Always returns -1: c is gone. */
static int protocol_error(struct kmd_conn *c, const char *fmt, ...)
{
	char reason[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	c->kmd->stats.protocol_errors++;
	conn_close(c, QKDN_LOG_WARN, reason);
	return -1;
}

/* Sending */

static int conn_send(struct kmd_conn *c, struct qkdn_wire_msg *m)
{
	int ret;

	if (!m) {
		qkdn_log(QKDN_LOG_ERR, "out of memory", "event=send-failed peer=%u", c->peer_id);
		return -ENOMEM;
	}
	ret = qkdn_conn_send(c->bev, m);
	if (ret)
		qkdn_log(QKDN_LOG_ERR, "cannot send", "event=send-failed peer=%u err=%s",
			 c->peer_id, strerror(-ret));
	else
		c->last_tx_ms = now_ms();
	return ret;
}

static uint32_t my_id(const struct kmd_conn *c)
{
	return c->kmd->cfg.node_id;
}

static void send_hello(struct kmd_conn *c)
{
	struct qkdn_wire_msg *m = qkdn_wire_msg_new(QKDN_W_CMD_HELLO, my_id(c));
	char auth[32];

	if (!m) {
		conn_send(c, NULL);
		return;
	}
	snprintf(auth, sizeof(auth), QKDN_TLS_CN_PREFIX "%u", my_id(c));
	c->hello_msg_id = qkdn_wire_msg_id(m);
	qkdn_wire_put_str(m, QKDN_W_SENDER_IP, c->local_ip);
	qkdn_wire_put_str(m, QKDN_W_SENDER_HOSTNAME, c->kmd->cfg.name);
	qkdn_wire_put_str(m, QKDN_W_COMMUNITY_ID, c->kmd->cfg.community);
	qkdn_wire_put_str(m, QKDN_W_AUTH_INFO, auth);
	conn_send(c, m);
}

static void send_response(struct kmd_conn *c, uint16_t cmd, uint64_t orig, const char *reason)
{
	conn_send(c, qkdn_conn_response(cmd, my_id(c), orig, reason));
}

static void send_updates(struct kmd_conn *c)
{
	const struct qkdn_kmd_config *cfg = &c->kmd->cfg;
	unsigned int sent = 0;

	for (size_t i = 0; i < cfg->n_routes; i++) {
		const struct qkdn_kmd_route_conf *rt = &cfg->routes[i];
		struct qkdn_wire_msg *m;
		uint32_t hops;

		/* Split horizon: telling the next hop that its own
		 * destinations are reachable through us helps no one. */
		if (rt->via == c->peer_id || rt->dest == c->peer_id)
			continue;
		/* A static route knows its first hop only: 1 when the
		 * destination is that neighbour, at least 2 otherwise. */
		hops = rt->dest == rt->via ? 1 : 2;
		m = qkdn_wire_msg_new(QKDN_W_CMD_UPDATE, my_id(c));
		if (m) {
			qkdn_wire_put_str(m, QKDN_W_SENDER_IP, c->local_ip);
			qkdn_wire_put_str(m, QKDN_W_RECEIVER_IP, c->remote_ip);
			qkdn_wire_put_u32(m, QKDN_W_DEST_NODE_ID, rt->dest);
			qkdn_wire_put_u32(m, QKDN_W_QOS, hops);
		}
		if (conn_send(c, m) == 0)
			sent++;
	}
	qkdn_log(QKDN_LOG_DEBUG, "routes advertised", "event=updates-sent peer=%u count=%u",
		 c->peer_id, sent);
}

bool kmd_peer_is_up(struct kmd *kmd, uint32_t id)
{
	const struct kmd_peer *peer = kmd_peer_find(kmd, id);

	return peer && peer->session_up;
}

void kmd_peer_send_withdrawal(struct kmd *kmd, uint32_t peer_id, uint32_t dest)
{
	struct kmd_peer *peer = kmd_peer_find(kmd, peer_id);
	struct kmd_conn *c = peer ? peer->conn : NULL;
	struct qkdn_wire_msg *m;

	if (!c || c->state != CONN_UP)
		return;
	m = qkdn_wire_msg_new(QKDN_W_CMD_UPDATE, my_id(c));
	if (m) {
		qkdn_wire_put_str(m, QKDN_W_SENDER_IP, c->local_ip);
		qkdn_wire_put_str(m, QKDN_W_RECEIVER_IP, c->remote_ip);
		qkdn_wire_put_u32(m, QKDN_W_DEST_NODE_ID, dest);
		qkdn_wire_put_u32(m, QKDN_W_QOS, QKDN_W_QOS_UNREACHABLE);
	}
	if (conn_send(c, m) == 0)
		qkdn_log(QKDN_LOG_WARN, "route withdrawal sent",
			 "event=withdrawal-tx peer=%u dest=%u", peer_id, dest);
}

unsigned int kmd_peers_drop_revoked(struct kmd *kmd)
{
	struct kmd_conn *c, *next;
	unsigned int n = 0;

	for (c = kmd->conns; c; c = next) {
		next = c->next;
		if (c->state == CONN_TLS || c->state == CONN_CLOSING)
			continue;
		if (qkdn_tls_peer_revoked(bufferevent_openssl_get_ssl(c->bev))) {
			n++;
			kmd->stats.refused_conns++;
			conn_close(c, QKDN_LOG_WARN, "peer certificate revoked");
		}
	}
	return n;
}

void kmd_peer_send_frame(struct kmd_peer *peer, const void *frame, size_t len)
{
	struct kmd_conn *c = peer->conn;
	struct qkdn_wire_msg *m;

	if (!c || c->state != CONN_UP) {
		peer->stats.frames_dropped++;
		qkdn_log(QKDN_LOG_DEBUG, "frame dropped: no session",
			 "event=frame-dropped peer=%u len=%zu reason=no-session", peer->id, len);
		return;
	}
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) > KMD_OUTPUT_MAX) {
		peer->stats.frames_dropped++;
		qkdn_log(QKDN_LOG_WARN, "frame dropped: neighbour not reading",
			 "event=frame-dropped peer=%u len=%zu reason=output-full", peer->id, len);
		return;
	}
	m = qkdn_wire_msg_new(QKDN_W_CMD_KX, my_id(c));
	if (m)
		qkdn_wire_put_bin(m, QKDN_W_KX_FRAME, frame, len);
	if (conn_send(c, m) == 0) {
		peer->stats.frames_tx++;
		qkdn_log(QKDN_LOG_DEBUG, "frame sent", "event=frame-tx peer=%u len=%zu",
			 peer->id, len);
	} else {
		peer->stats.frames_dropped++;
	}
}

/* The protocol */

static void session_up(struct kmd_conn *c, uint64_t session_id, uint32_t timer)
{
	struct kmd_peer *peer = c->peer;

	c->state = CONN_UP;
	peer->session_up = true;
	peer->session_id = session_id;
	peer->session_timer = timer;
	peer->backoff_ms = KMD_BACKOFF_MIN_MS;
	peer->stats.sessions++;
	qkdn_log(QKDN_LOG_INFO, "neighbour up",
		 "event=peer-up peer=%u name=%s session=%016" PRIx64 " timer=%u dir=%s remote=%s",
		 peer->id, c->peer_name, session_id, timer, dir_name(c), c->remote);
	send_updates(c);
	kmd_mgr_peer(c->kmd, peer, true, NULL);
	kmd_routes_peer_up(c->kmd, peer->id);
	kmd_supply_paths_refresh(c->kmd);
	kmd_ck_notify(c->kmd, QKDN_W_EVENT_LINK_UP, peer->id, 0);
}

static void maybe_start_session(struct kmd_conn *c)
{
	struct qkdn_wire_msg *m;

	if (!c->our_hello_acked || !c->their_hello_ok)
		return;
	c->state = CONN_SESSION;
	if (my_id(c) > c->peer_id)
		return;	/* the lower ID proposes */
	do {
		if (RAND_bytes((unsigned char *)&c->proposed_session,
			       sizeof(c->proposed_session)) != 1) {
			/* Session IDs must not be guessable: no fallback. */
			protocol_error(c, "no randomness for a session ID");
			return;
		}
	} while (c->proposed_session == 0);
	m = qkdn_wire_msg_new(QKDN_W_CMD_SESSION, my_id(c));
	if (m) {
		c->session_msg_id = qkdn_wire_msg_id(m);
		qkdn_wire_put_u64(m, QKDN_W_SESSION_ID, c->proposed_session);
		qkdn_wire_put_u32(m, QKDN_W_TIMER, KMD_SESSION_TIMER_S);
	}
	conn_send(c, m);
}

static int on_hello(struct kmd_conn *c, const struct nlattr **tb, const struct qkdn_wire_hdr *h)
{
	const char *community = qkdn_wire_get_str(tb[QKDN_W_COMMUNITY_ID]);
	const char *auth = qkdn_wire_get_str(tb[QKDN_W_AUTH_INFO]);
	char want[32], reason[160], q1[96], q2[96];

	if (c->state != CONN_HELLO || c->their_hello_ok)
		return protocol_error(c, "HELLO in state %s", state_names[c->state]);
	snprintf(want, sizeof(want), QKDN_TLS_CN_PREFIX "%u", c->peer_id);
	reason[0] = '\0';
	if (strcmp(auth, want) != 0)
		snprintf(reason, sizeof(reason),
			 "authentication info %s does not match the certificate (%s)",
			 qkdn_log_quote(q1, sizeof(q1), auth), want);
	else if (strcmp(community, c->kmd->cfg.community) != 0)
		snprintf(reason, sizeof(reason), "community %s is not ours (%s)",
			 qkdn_log_quote(q1, sizeof(q1), community),
			 qkdn_log_quote(q2, sizeof(q2), c->kmd->cfg.community));
	if (reason[0]) {
		send_response(c, QKDN_W_CMD_HELLO, h->msg_id, reason);
		c->kmd->stats.protocol_errors++;
		conn_close_after_flush(c, QKDN_LOG_WARN, reason);
		return -1;
	}
	snprintf(c->peer_name, sizeof(c->peer_name), "%s",
		 qkdn_log_quote(q1, sizeof(q1), qkdn_wire_get_str(tb[QKDN_W_SENDER_HOSTNAME])));
	qkdn_log(QKDN_LOG_INFO, "HELLO accepted",
		 "event=hello peer=%u name=%s sender_ip=%s community=%s", c->peer_id, c->peer_name,
		 qkdn_log_quote(q1, sizeof(q1), qkdn_wire_get_str(tb[QKDN_W_SENDER_IP])),
		 qkdn_log_quote(q2, sizeof(q2), community));
	send_response(c, QKDN_W_CMD_HELLO, h->msg_id, NULL);
	c->their_hello_ok = true;
	maybe_start_session(c);
	return 0;
}

static int on_hello_response(struct kmd_conn *c, const struct nlattr **tb,
			     const struct qkdn_wire_hdr *h)
{
	char reason[320], q[280];

	if (c->state != CONN_HELLO || c->our_hello_acked || h->orig_msg_id != c->hello_msg_id)
		return protocol_error(c, "unexpected HELLO response in state %s",
				      state_names[c->state]);
	if (h->response_code != QKDN_W_RESP_SUCCESS) {
		snprintf(reason, sizeof(reason), "neighbour refused our HELLO: %s",
			 tb[QKDN_W_REASON] ? qkdn_log_quote(q, sizeof(q),
							    qkdn_wire_get_str(tb[QKDN_W_REASON]))
					   : "no reason given");
		conn_close(c, QKDN_LOG_WARN, reason);
		return -1;
	}
	c->our_hello_acked = true;
	maybe_start_session(c);
	return 0;
}

static int on_session(struct kmd_conn *c, const struct nlattr **tb, const struct qkdn_wire_hdr *h)
{
	uint64_t sid = qkdn_wire_get_u64(tb[QKDN_W_SESSION_ID]);
	uint32_t timer = qkdn_wire_get_u32(tb[QKDN_W_TIMER]);
	struct qkdn_wire_msg *m;
	const char *bad = NULL;

	if (c->state != CONN_SESSION || my_id(c) < c->peer_id)
		return protocol_error(c, "SESSION proposal in state %s%s", state_names[c->state],
				      my_id(c) < c->peer_id ? " from the higher node ID" : "");
	if (sid == 0)
		bad = "session ID 0";
	else if (timer == 0 || timer > QKDN_W_TIMER_MAX)
		bad = "timer out of range";
	if (bad) {
		send_response(c, QKDN_W_CMD_SESSION, h->msg_id, bad);
		c->kmd->stats.protocol_errors++;
		conn_close_after_flush(c, QKDN_LOG_WARN, bad);
		return -1;
	}
	m = qkdn_wire_response_new(QKDN_W_CMD_SESSION, my_id(c), h->msg_id, QKDN_W_RESP_SUCCESS);
	if (m) {
		qkdn_wire_put_u64(m, QKDN_W_SESSION_ID, sid);
		qkdn_wire_put_u32(m, QKDN_W_TIMER, timer);
	}
	if (conn_send(c, m) < 0)
		return protocol_error(c, "cannot answer SESSION");
	session_up(c, sid, timer);
	return 0;
}

static int on_session_response(struct kmd_conn *c, const struct nlattr **tb,
			       const struct qkdn_wire_hdr *h)
{
	char reason[320], q[280];

	if (c->state != CONN_SESSION || my_id(c) > c->peer_id ||
	    h->orig_msg_id != c->session_msg_id)
		return protocol_error(c, "unexpected SESSION response in state %s",
				      state_names[c->state]);
	if (h->response_code != QKDN_W_RESP_SUCCESS) {
		snprintf(reason, sizeof(reason), "neighbour refused our SESSION: %s",
			 tb[QKDN_W_REASON] ? qkdn_log_quote(q, sizeof(q),
							    qkdn_wire_get_str(tb[QKDN_W_REASON]))
					   : "no reason given");
		conn_close(c, QKDN_LOG_WARN, reason);
		return -1;
	}
	if (!tb[QKDN_W_SESSION_ID] || !tb[QKDN_W_TIMER] ||
	    qkdn_wire_get_u64(tb[QKDN_W_SESSION_ID]) != c->proposed_session ||
	    qkdn_wire_get_u32(tb[QKDN_W_TIMER]) != KMD_SESSION_TIMER_S)
		return protocol_error(c, "SESSION response does not echo the proposal");
	session_up(c, c->proposed_session, KMD_SESSION_TIMER_S);
	return 0;
}

static int on_update(struct kmd_conn *c, const struct nlattr **tb)
{
	char q1[96], q2[96];

	if (c->state != CONN_UP)
		return protocol_error(c, "UPDATE in state %s", state_names[c->state]);
	if (qkdn_wire_get_u32(tb[QKDN_W_QOS]) == QKDN_W_QOS_UNREACHABLE) {
		uint32_t dest = qkdn_wire_get_u32(tb[QKDN_W_DEST_NODE_ID]);

		qkdn_log(QKDN_LOG_WARN, "route withdrawn by a neighbour",
			 "event=withdrawal-rx peer=%u dest=%u", c->peer_id, dest);
		kmd_routes_withdrawn(c->kmd, c->peer_id, dest);
		return 0;
	}
	/* Logged, not acted on: routes come from the config (and later the
	 * controller), not from what neighbours claim. */
	qkdn_log(QKDN_LOG_INFO, "route advertised",
		 "event=route-advertised peer=%u dest=%u hops=%u sender_ip=%s receiver_ip=%s",
		 c->peer_id, qkdn_wire_get_u32(tb[QKDN_W_DEST_NODE_ID]),
		 qkdn_wire_get_u32(tb[QKDN_W_QOS]),
		 qkdn_log_quote(q1, sizeof(q1), qkdn_wire_get_str(tb[QKDN_W_SENDER_IP])),
		 qkdn_log_quote(q2, sizeof(q2), qkdn_wire_get_str(tb[QKDN_W_RECEIVER_IP])));
	return 0;
}

static int on_kx(struct kmd_conn *c, const struct nlattr **tb)
{
	const struct nlattr *f = tb[QKDN_W_KX_FRAME];

	if (c->state != CONN_UP)
		return protocol_error(c, "KX in state %s", state_names[c->state]);
	c->peer->stats.frames_rx++;
	/* The neighbour is the one TLS authenticated, whatever the frame
	 * says inside: the module checks the rest. */
	kmd_kernel_submit_frame(c->kmd, c->peer, qkdn_wire_get_bin(f), qkdn_wire_get_len(f));
	return 0;
}

/* Returns -1 if c was closed. */
static int handle_message(struct kmd_conn *c, const void *buf, size_t len)
{
	const struct nlattr *tb[QKDN_W_MAX + 1];
	struct qkdn_wire_hdr h;
	int ret;

	ret = qkdn_wire_parse(buf, len, &qkdn_wire_kx_policy, tb, &h);
	if (ret)
		return protocol_error(c, "bad message: %s", h.error);
	if (h.sender_id != c->peer_id)
		return protocol_error(c, "sender ID %u, but the certificate names node %u",
				      h.sender_id, c->peer_id);
	qkdn_log(QKDN_LOG_DEBUG, "message", "event=msg-rx peer=%u cmd=%s response=%d len=%zu",
		 c->peer_id, qkdn_wire_cmd_name(h.cmd), h.is_response, len);
	switch (h.cmd) {
	case QKDN_W_CMD_HELLO:
		return h.is_response ? on_hello_response(c, tb, &h) : on_hello(c, tb, &h);
	case QKDN_W_CMD_SESSION:
		return h.is_response ? on_session_response(c, tb, &h) : on_session(c, tb, &h);
	case QKDN_W_CMD_UPDATE:
		return on_update(c, tb);
	case QKDN_W_CMD_KX:
		return on_kx(c, tb);
	case QKDN_W_CMD_KEEPALIVE:
		return 0;
	}
	return protocol_error(c, "command %u not handled", h.cmd);
}

/* libevent callbacks */

static void read_cb(struct bufferevent *bev, void *arg)
{
	struct kmd_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	c->last_rx_ms = now_ms();
	while (c->state != CONN_CLOSING) {
		void *buf;
		size_t len;
		int ret = qkdn_conn_next(in, &buf, &len);

		if (ret == 0)
			return;
		if (ret == -EMSGSIZE) {
			protocol_error(c, "message over %u bytes announced", QKDN_WIRE_BODY_MAX);
			return;
		}
		if (ret < 0) {
			protocol_error(c, "out of memory for a message");
			return;
		}
		ret = handle_message(c, buf, len);
		free(buf);
		if (ret < 0)
			return;
	}
	evbuffer_drain(in, evbuffer_get_length(in));
}

static void write_cb(struct bufferevent *bev, void *arg)
{
	struct kmd_conn *c = arg;

	if (c->state == CONN_CLOSING && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		conn_free(c, true);
}

static void fill_addresses(struct kmd_conn *c)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	evutil_socket_t fd = bufferevent_getfd(c->bev);

	snprintf(c->local_ip, sizeof(c->local_ip), "unknown");
	snprintf(c->remote_ip, sizeof(c->remote_ip), "unknown");
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
		inet_ntop(ss.ss_family, ss.ss_family == AF_INET6
			  ? (void *)&((struct sockaddr_in6 *)&ss)->sin6_addr
			  : (void *)&((struct sockaddr_in *)&ss)->sin_addr,
			  c->local_ip, sizeof(c->local_ip));
	len = sizeof(ss);
	if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0) {
		inet_ntop(ss.ss_family, ss.ss_family == AF_INET6
			  ? (void *)&((struct sockaddr_in6 *)&ss)->sin6_addr
			  : (void *)&((struct sockaddr_in *)&ss)->sin_addr,
			  c->remote_ip, sizeof(c->remote_ip));
		qkdn_format_sockaddr((struct sockaddr *)&ss, c->remote);
	}
}

/* Who opened a connection. */
static uint32_t initiator(const struct kmd_conn *c)
{
	return c->outgoing ? my_id(c) : c->peer_id;
}

/* TLS is up: who is it, and is it the connection to keep? */
static void conn_identified(struct kmd_conn *c)
{
	SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
	struct kmd *kmd = c->kmd;
	struct kmd_peer *peer;
	struct kmd_conn *old;
	char err[256];
	uint32_t id;

	fill_addresses(c);
	/* Frames are small and latency is what a relay waits on. */
	setsockopt(bufferevent_getfd(c->bev), IPPROTO_TCP, TCP_NODELAY, &(int){ 1 },
		   sizeof(int));
	if (qkdn_tls_peer_node_id(ssl, &id, err, sizeof(err)) < 0) {
		kmd->stats.refused_conns++;
		conn_close(c, QKDN_LOG_WARN, err);
		return;
	}
	c->peer_id = id;
	if (c->outgoing) {
		peer = c->target;
		peer->dialing = NULL;
		if (id != peer->id) {
			snprintf(err, sizeof(err), "dialled node %u, certificate names node %u",
				 peer->id, id);
			kmd->stats.refused_conns++;
			conn_close(c, QKDN_LOG_WARN, err);
			return;
		}
	} else {
		peer = kmd_peer_find(kmd, id);
		if (!peer) {
			kmd->stats.refused_conns++;
			conn_close(c, QKDN_LOG_WARN, "node is not a configured [peer]");
			return;
		}
	}
	old = peer->conn;
	if (old) {
		uint32_t winner = my_id(c) < id ? my_id(c) : id;

		if (initiator(c) == winner || initiator(old) != winner) {
			/* c was opened by the lower ID, or both were opened
			 * the same way and c is the newer. */
			qkdn_log(QKDN_LOG_INFO, "duplicate connection",
				 "event=conn-duplicate peer=%u keep=%s close=%s", id, dir_name(c),
				 dir_name(old));
			conn_close_after_flush(old, QKDN_LOG_INFO,
					       "duplicate: the other connection wins");
		} else {
			qkdn_log(QKDN_LOG_INFO, "duplicate connection",
				 "event=conn-duplicate peer=%u keep=%s close=%s", id, dir_name(old),
				 dir_name(c));
			c->state = CONN_HELLO;	/* TLS is up: close it with close_notify */
			conn_close(c, QKDN_LOG_INFO, "duplicate: the other connection wins");
			return;
		}
	}
	peer->conn = c;
	c->peer = peer;
	evtimer_del(peer->retry);
	learn_interface(peer, bufferevent_getfd(c->bev));
	c->state = CONN_HELLO;
	c->last_rx_ms = now_ms();
	qkdn_log(QKDN_LOG_INFO, "connection up", "event=conn-up peer=%u dir=%s remote=%s", id,
		 dir_name(c), c->remote);
	send_hello(c);
}

static void event_cb(struct bufferevent *bev, short events, void *arg)
{
	struct kmd_conn *c = arg;
	enum qkdn_log_level level = QKDN_LOG_WARN;
	char reason[512];
	int so_err = 0;
	socklen_t so_len = sizeof(so_err);

	if (events & BEV_EVENT_CONNECTED) {
		conn_identified(c);
		return;
	}
	if (!(events & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)))
		return;
	if (!qkdn_conn_ssl_errors(bev, reason, sizeof(reason))) {
		int err = EVUTIL_SOCKET_ERROR();

		if (getsockopt(bufferevent_getfd(bev), SOL_SOCKET, SO_ERROR, &so_err, &so_len) == 0 &&
		    so_err)
			err = so_err;
		if (events & BEV_EVENT_EOF) {
			snprintf(reason, sizeof(reason), "closed by the neighbour");
			level = QKDN_LOG_INFO;
		} else if (events & BEV_EVENT_TIMEOUT) {
			snprintf(reason, sizeof(reason), "timeout");
		} else {
			snprintf(reason, sizeof(reason), "%s",
				 err ? strerror(err) : "connection lost");
		}
	}
	if (c->state == CONN_TLS) {
		const char *why = qkdn_tls_verify_failure(bufferevent_openssl_get_ssl(bev));

		if (why) {
			snprintf(reason, sizeof(reason), "%s", why);
			c->kmd->stats.refused_conns++;
			conn_close(c, QKDN_LOG_WARN, reason);
			return;
		}
	}
	/* Failed dials are routine while a neighbour is down. */
	if (c->state == CONN_TLS && c->outgoing)
		level = QKDN_LOG_INFO;
	conn_close(c, level, reason);
}

static struct kmd_conn *conn_new(struct kmd *kmd, struct bufferevent *bev, bool outgoing)
{
	struct kmd_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->kmd = kmd;
	c->bev = bev;
	c->outgoing = outgoing;
	c->state = CONN_TLS;
	c->started_ms = c->last_rx_ms = c->last_tx_ms = c->last_keepalive_ms = now_ms();
	snprintf(c->remote, sizeof(c->remote), "?");
	c->next = kmd->conns;
	kmd->conns = c;
	bufferevent_setcb(bev, read_cb, write_cb, event_cb, c);
	/* Hold at most one message plus a little beyond what a read brings. */
	bufferevent_setwatermark(bev, EV_READ, 0, QKDN_WIRE_LEN_SIZE + QKDN_WIRE_BODY_MAX + 65536);
	/* libevent moves at most 16 KiB per callback by default: a 64 KB Kx
	 * frame would take four turns of the loop each way. */
	bufferevent_set_max_single_read(bev, KMD_SINGLE_IO);
	bufferevent_set_max_single_write(bev, KMD_SINGLE_IO);
	return c;
}

static struct bufferevent *tls_bev(struct kmd *kmd, evutil_socket_t fd,
				   enum bufferevent_ssl_state state)
{
	SSL *ssl = SSL_new(kmd->tls);
	struct bufferevent *bev;

	if (!ssl)
		return NULL;
	bev = bufferevent_openssl_socket_new(kmd->base, fd, ssl, state,
					     BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (!bev)
		SSL_free(ssl);
	return bev;
}

static void dial(struct kmd_peer *peer)
{
	struct kmd *kmd = peer->kmd;
	struct bufferevent *bev;
	struct kmd_conn *c;

	if (kmd->stopping || peer->conn || peer->dialing || !we_dial(peer))
		return;
	bev = tls_bev(kmd, -1, BUFFEREVENT_SSL_CONNECTING);
	c = bev ? conn_new(kmd, bev, true) : NULL;
	if (!c) {
		if (bev)
			bufferevent_free(bev);
		qkdn_log(QKDN_LOG_ERR, "cannot create a connection", "event=dial-failed peer=%u",
			 peer->id);
		schedule_retry(peer);
		return;
	}
	c->target = peer;
	peer->dialing = c;
	snprintf(c->remote, sizeof(c->remote), "%s", peer->conf->address_str);
	qkdn_log(QKDN_LOG_DEBUG, "dialling", "event=dial peer=%u address=%s", peer->id,
		 peer->conf->address_str);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(bev, (const struct sockaddr *)&peer->conf->address,
				       (int)peer->conf->address_len) < 0)
		conn_close(c, QKDN_LOG_INFO, strerror(EVUTIL_SOCKET_ERROR()));
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
		      int socklen, void *arg)
{
	struct kmd *kmd = arg;
	struct bufferevent *bev;
	struct kmd_conn *c;
	unsigned int pending = 0;
	char addr[QKDN_ADDR_STRLEN];

	(void)l;
	(void)socklen;
	qkdn_format_sockaddr(sa, addr);
	for (c = kmd->conns; c; c = c->next)
		if (c->state == CONN_TLS && !c->outgoing)
			pending++;
	if (kmd->stopping || pending >= KMD_PENDING_MAX) {
		qkdn_log(QKDN_LOG_WARN, "connection refused",
			 "event=conn-refused remote=%s reason=%s", addr,
			 kmd->stopping ? "stopping" : "too-many-handshakes");
		evutil_closesocket(fd);
		return;
	}
	bev = tls_bev(kmd, fd, BUFFEREVENT_SSL_ACCEPTING);
	c = bev ? conn_new(kmd, bev, false) : NULL;
	if (!c) {
		if (bev)
			bufferevent_free(bev);
		else
			evutil_closesocket(fd);
		qkdn_log(QKDN_LOG_ERR, "cannot accept", "event=accept-failed remote=%s", addr);
		return;
	}
	snprintf(c->remote, sizeof(c->remote), "%s", addr);
	qkdn_log(QKDN_LOG_DEBUG, "accepted", "event=accept remote=%s", addr);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static void accept_error_cb(struct evconnlistener *l, void *arg)
{
	int err = EVUTIL_SOCKET_ERROR();

	(void)l;
	(void)arg;
	/* EMFILE and the like: libevent keeps listening. */
	qkdn_log(QKDN_LOG_WARN, "accept failed", "event=accept-failed err=\"%s\"", strerror(err));
}

static void send_keepalive(struct kmd_conn *c)
{
	c->last_keepalive_ms = now_ms();
	conn_send(c, qkdn_wire_msg_new(QKDN_W_CMD_KEEPALIVE, my_id(c)));
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct kmd *kmd = arg;
	uint64_t now = now_ms();
	struct kmd_conn *c, *next;
	unsigned int ka = kmd->cfg.keepalive_ms ? kmd->cfg.keepalive_ms
						: KMD_KEEPALIVE_S * 1000;

	uint64_t stalled = 0;

	(void)fd;
	(void)what;
	/* Silence is only the neighbour's fault while we were listening.
	 * A tick two periods late means this process did not run
	 * (a loaded or paused machine, the whole guest descheduled): what
	 * the neighbour sent meanwhile is waiting, unread, in the socket,
	 * and would be read just after this tick declared it dead. That time
	 * does not count toward the dead timer. */
	if (kmd->tick_ms && now - kmd->tick_ms >= 2 * (uint64_t)(ka / 3)) {
		kmd->stalls++;
		qkdn_log(now - kmd->tick_ms >= 2 * (uint64_t)ka ? QKDN_LOG_INFO : QKDN_LOG_DEBUG,
			 "event loop ran late", "event=loop-stalled ms=%" PRIu64,
			 now - kmd->tick_ms);
		/* Beyond the tick's own period. */
		stalled = now - kmd->tick_ms - ka / 3;
	}
	kmd->tick_ms = now;
	for (c = kmd->conns; c; c = next) {
		next = c->next;
		/* The neighbour, on the same loaded machine, most likely did
		 * not run either: from here it has at least two intervals. */
		if (stalled) {
			c->last_rx_ms += stalled;
			if (c->last_rx_ms + ka < now)
				c->last_rx_ms = now - ka;
			if (c->last_rx_ms > now)
				c->last_rx_ms = now;
		}
		if (c->state == CONN_CLOSING) {
			if (now - c->closing_ms > 5000)
				conn_free(c, false);
			continue;
		}
		if (c->state != CONN_UP && now - c->started_ms > KMD_HANDSHAKE_S * 1000) {
			conn_close(c, QKDN_LOG_WARN, "handshake not done in time");
			continue;
		}
		if (c->state == CONN_TLS)
			continue;
		if (now - c->last_rx_ms >= 3 * (uint64_t)ka) {
			char why[64];

			snprintf(why, sizeof(why), "nothing received for %u ms", 3 * ka);
			conn_close(c, QKDN_LOG_WARN, why);
			continue;
		}
		if ((now - c->last_rx_ms >= ka || now - c->last_tx_ms >= ka) &&
		    now - c->last_keepalive_ms >= ka)
			send_keepalive(c);
	}
}

int kmd_peers_start(struct kmd *kmd)
{
	const struct qkdn_kmd_config *cfg = &kmd->cfg;
	struct timeval tick = { KMD_TICK_S, 0 };

	/* At least three ticks per keep-alive interval. */
	if (cfg->keepalive_ms && cfg->keepalive_ms < 3000 * KMD_TICK_S) {
		tick.tv_sec = 0;
		tick.tv_usec = (suseconds_t)cfg->keepalive_ms * 1000 / 3;
	}

	kmd->peers = calloc(cfg->n_peers ? cfg->n_peers : 1, sizeof(*kmd->peers));
	if (!kmd->peers)
		return -ENOMEM;
	kmd->n_peers = cfg->n_peers;
	for (size_t i = 0; i < cfg->n_peers; i++) {
		struct kmd_peer *p = &kmd->peers[i];

		p->kmd = kmd;
		p->conf = &cfg->peers[i];
		p->id = cfg->peers[i].id;
		p->backoff_ms = KMD_BACKOFF_MIN_MS;
		p->retry = evtimer_new(kmd->base, retry_cb, p);
		if (!p->retry)
			return -ENOMEM;
	}
	kmd->listener = evconnlistener_new_bind(kmd->base, accept_cb, kmd,
						LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
						LEV_OPT_CLOSE_ON_EXEC, -1,
						(const struct sockaddr *)&cfg->listen,
						(int)cfg->listen_len);
	if (!kmd->listener) {
		int err = EVUTIL_SOCKET_ERROR();

		qkdn_log(QKDN_LOG_ERR, "cannot listen", "event=start-failed listen=%s err=\"%s\"",
			 cfg->listen_str, strerror(err));
		return -(err ? err : EADDRNOTAVAIL);
	}
	evconnlistener_set_error_cb(kmd->listener, accept_error_cb);
	links_open(kmd);
	kmd->tick = event_new(kmd->base, -1, EV_PERSIST, tick_cb, kmd);
	if (!kmd->tick || event_add(kmd->tick, &tick) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < kmd->n_peers; i++)
		dial(&kmd->peers[i]);
	return 0;
}

void kmd_peers_stop(struct kmd *kmd, void (*done)(struct kmd *kmd))
{
	struct kmd_conn *c, *next;

	kmd->stopping = true;
	kmd->stop_done = done;
	if (kmd->listener) {
		evconnlistener_free(kmd->listener);
		kmd->listener = NULL;
	}
	for (size_t i = 0; i < kmd->n_peers; i++)
		evtimer_del(kmd->peers[i].retry);
	if (!kmd->conns) {
		kmd->stop_done = NULL;
		done(kmd);
		return;
	}
	for (c = kmd->conns; c; c = next) {
		next = c->next;
		if (c->state == CONN_TLS)
			conn_close(c, QKDN_LOG_DEBUG, "shutting down");
		else
			conn_close_after_flush(c, QKDN_LOG_INFO, "shutting down");
	}
}

void kmd_peers_free(struct kmd *kmd)
{
	kmd->stop_done = NULL;
	while (kmd->conns)
		conn_free(kmd->conns, false);
	if (kmd->listener)
		evconnlistener_free(kmd->listener);
	kmd->listener = NULL;
	links_close(kmd);
	for (size_t i = 0; i < kmd->n_peers; i++)
		if (kmd->peers[i].retry)
			event_free(kmd->peers[i].retry);
	free(kmd->peers);
	kmd->peers = NULL;
	kmd->n_peers = 0;
	if (kmd->tick)
		event_free(kmd->tick);
	kmd->tick = NULL;
}
