// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The module side of qkdn-kmd: node identity, relay timeout and routes at
 * start, then relay frames both ways.
 *
 * Three netlink sockets: one for requests (synchronous, answered by the
 * kernel without sleeping), one that only listens to the "kx" multicast
 * group, so notifications never interleave with request answers, and one
 * for the "alarm" group: pool, QKD and relay alarms become route switches
 * (routes.c) and notifications to the controller (ck.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/qkdn.h>

#include "kmd.h"
#include "log.h"
#include "wire.h"

/* The errno's symbolic name for logs, as the uapi header writes them. */
static const char *errno_name(int err)
{
	const char *name = strerrorname_np(err);

	return name ? name : "other";
}

/* Logs a failed start-up request and returns err. */
static int start_failed(struct kmd *kmd, const char *what, int err)
{
	char q[600];

	qkdn_log(QKDN_LOG_ERR, what, "event=start-failed errno=%s err=\"%s\" extack=%s%s",
		 errno_name(-err), strerror(-err),
		 qkdn_log_quote(q, sizeof(q), kmd->nl ? qkdn_nl_extack(kmd->nl) : ""),
		 err == -EPERM ? " hint=\"needs CAP_NET_ADMIN in the node's namespace\"" : "");
	return err;
}

struct node_info {
	uint32_t id;
	char name[QKDN_ID_MAXLEN];
};

static int node_get_cb(const struct nlmsghdr *nlh, void *data)
{
	struct node_info *info = data;
	const struct nlattr *tb[QKDN_A_MAX + 1];
	const char *name;

	if (!nlh)
		return 0;
	if (qkdn_nl_parse(nlh, tb, QKDN_A_MAX) < 0 || !qkdn_nla_u32(tb[QKDN_A_NODE_ID], &info->id))
		return -EBADMSG;
	name = qkdn_nla_str(tb[QKDN_A_NODE_NAME]);
	snprintf(info->name, sizeof(info->name), "%s", name ? name : "");
	return 0;
}

/* The module's node must be the config's: set it if unset, refuse to run
 * for another node. */
static int setup_node(struct kmd *kmd, struct qkdn_nl_msg *msg)
{
	const struct qkdn_kmd_config *cfg = &kmd->cfg;
	struct node_info info = { 0 };
	int ret;

	qkdn_nl_msg_reset(msg, QKDN_CMD_NODE_GET, 0);
	ret = qkdn_nl_request(kmd->nl, msg, node_get_cb, &info);
	if (ret)
		return start_failed(kmd, "NODE_GET failed", ret);
	if (info.id != 0 && info.id != cfg->node_id) {
		qkdn_log(QKDN_LOG_ERR, "the module belongs to another node",
			 "event=start-failed module_node=%u config_node=%u "
			 "hint=\"fix [node] id, or run in the right network namespace\"",
			 info.id, cfg->node_id);
		return -EEXIST;
	}
	if (info.id == cfg->node_id && strcmp(info.name, cfg->name) == 0)
		return 0;
	qkdn_nl_msg_reset(msg, QKDN_CMD_NODE_SET, 0);
	if (info.id == 0)
		qkdn_nl_put_u32(msg, QKDN_A_NODE_ID, cfg->node_id);
	qkdn_nl_put_str(msg, QKDN_A_NODE_NAME, cfg->name);
	ret = qkdn_nl_request(kmd->nl, msg, NULL, NULL);
	if (ret)
		return start_failed(kmd, "NODE_SET failed", ret);
	qkdn_log(QKDN_LOG_INFO, "node set", "event=node-set node=%u id_was_unset=%d",
		 cfg->node_id, info.id == 0);
	return 0;
}

static int setup_relay(struct kmd *kmd, struct qkdn_nl_msg *msg)
{
	const struct qkdn_kmd_config *cfg = &kmd->cfg;
	int ret;

	if (cfg->relay_timeout_ms) {
		qkdn_nl_msg_reset(msg, QKDN_CMD_NODE_SET, 0);
		qkdn_nl_put_u32(msg, QKDN_A_RELAY_TIMEOUT, cfg->relay_timeout_ms);
		ret = qkdn_nl_request(kmd->nl, msg, NULL, NULL);
		if (ret)
			return start_failed(kmd, "setting the relay timeout failed", ret);
	}
	qkdn_nl_msg_reset(msg, QKDN_CMD_NODE_SET, 0);
	qkdn_nl_put_u8(msg, QKDN_A_KSA_SYNC, cfg->ksa_sync);
	ret = qkdn_nl_request(kmd->nl, msg, NULL, NULL);
	if (ret)
		return start_failed(kmd, "setting KSA synchronisation failed", ret);
	/* ROUTE_ADD replaces a route to the same destination. Routes the
	 * module has that the config lacks are left alone: an admin may
	 * have added them by hand. */
	for (size_t i = 0; i < cfg->n_routes; i++) {
		qkdn_nl_msg_reset(msg, QKDN_CMD_ROUTE_ADD, 0);
		qkdn_nl_put_u32(msg, QKDN_A_DEST_NODE_ID, cfg->routes[i].dest);
		qkdn_nl_put_u32(msg, QKDN_A_NEXT_HOP_NODE_ID, cfg->routes[i].via);
		ret = qkdn_nl_request(kmd->nl, msg, NULL, NULL);
		if (ret)
			return start_failed(kmd, "ROUTE_ADD failed", ret);
		qkdn_log(QKDN_LOG_INFO, "route set", "event=route-set dest=%u via=%u",
			 cfg->routes[i].dest, cfg->routes[i].via);
	}
	return 0;
}

static int kx_notification(const struct nlmsghdr *nlh, void *data)
{
	struct kmd *kmd = data;
	const struct nlattr *tb[QKDN_A_MAX + 1];
	const struct nlattr *frame;
	struct kmd_peer *peer;
	uint32_t next_hop;
	size_t len;

	if (nlh->nlmsg_type != qkdn_nl_family_id(kmd->nl_kx) ||
	    qkdn_nl_cmd(nlh) != QKDN_CMD_KX_FRAME)
		return 0;
	if (qkdn_nl_parse(nlh, tb, QKDN_A_MAX) < 0 ||
	    !qkdn_nla_u32(tb[QKDN_A_PEER_NODE_ID], &next_hop) || !tb[QKDN_A_KX_FRAME]) {
		kmd->stats.bad_notifications++;
		qkdn_log(QKDN_LOG_WARN, "malformed KX_FRAME notification", "event=bad-notification");
		return 0;
	}
	frame = tb[QKDN_A_KX_FRAME];
	len = mnl_attr_get_payload_len(frame);
	if (len == 0 || len > QKDN_KX_FRAME_MAX) {
		kmd->stats.bad_notifications++;
		qkdn_log(QKDN_LOG_WARN, "KX_FRAME notification of bad length",
			 "event=bad-notification len=%zu", len);
		return 0;
	}
	peer = kmd_peer_find(kmd, next_hop);
	if (!peer) {
		kmd->stats.frames_no_peer++;
		qkdn_log(QKDN_LOG_WARN, "frame for a node that is not a [peer]",
			 "event=frame-dropped next_hop=%u reason=not-a-peer", next_hop);
		return 0;
	}
	if (peer->session_up)
		kmd_mgr_frame(kmd, next_hop, mnl_attr_get_payload(frame), len, true);
	kmd_peer_send_frame(peer, mnl_attr_get_payload(frame), len);
	return 0;
}

/* Reads a bounded batch of notifications from nl (so a busy module cannot
 * starve the peers), each to cb. */
static void drain(struct kmd *kmd, struct qkdn_nl *nl, qkdn_nl_cb cb, const char *group)
{
	for (int i = 0; i < 64; i++) {
		int ret = qkdn_nl_recv_notifications(nl, cb, kmd);

		if (ret == -EAGAIN || ret == -EWOULDBLOCK)
			return;
		if (ret == -ENOBUFS) {
			/* Kx frames lost: the module times those relays out;
			 * alarms lost: the next status report says it all. */
			kmd->stats.notify_overruns++;
			qkdn_log(QKDN_LOG_WARN, "kernel dropped notifications",
				 "event=notify-overrun group=%s", group);
			continue;
		}
		if (ret == -EINTR)
			continue;
		if (ret < 0) {
			qkdn_log(QKDN_LOG_ERR, "reading notifications failed",
				 "event=notify-failed group=%s err=\"%s\"", group, strerror(-ret));
			return;
		}
	}
}

static void kx_readable(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	drain(arg, ((struct kmd *)arg)->nl_kx, kx_notification, QKDN_MCGRP_KX);
}

/* A non-blocking socket joined to group, read by readable on the loop. */
static int listen_group(struct kmd *kmd, struct qkdn_nl *nl, struct event **ev,
			event_callback_fn readable, const char *group)
{
	int fd = qkdn_nl_fd(nl), flags = fcntl(fd, F_GETFL);

	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return start_failed(kmd, group, -errno);
	*ev = event_new(kmd->base, fd, EV_READ | EV_PERSIST, readable, kmd);
	if (!*ev || event_add(*ev, NULL) < 0)
		return start_failed(kmd, group, -ENOMEM);
	return 0;
}

/*
 * Room for a burst of frames: the module multicasts a frame of up to
 * QKDN_KX_FRAME_MAX bytes in a buffer of twice that (its truesize), and a
 * full receive buffer drops frames (ENOBUFS, event=notify-overrun), each a
 * relay that then times out. The default (net.core.rmem_default, 208 KiB)
 * holds one large frame; SO_RCVBUFFORCE (CAP_NET_ADMIN, which the daemon
 * needs anyway) passes net.core.rmem_max.
 */
static void kx_rcvbuf(struct qkdn_nl *nl)
{
	int fd = qkdn_nl_fd(nl), size = KMD_KX_RCVBUF;

	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)) < 0)
		qkdn_log(QKDN_LOG_WARN, "cannot enlarge the kx socket's receive buffer",
			 "event=rcvbuf-failed err=\"%s\"", strerror(errno));
}

static int setup_kx_group(struct kmd *kmd)
{
	int ret;

	ret = qkdn_nl_open(&kmd->nl_kx);
	if (ret)
		return start_failed(kmd, "opening the kx notification socket failed", ret);
	ret = qkdn_nl_join_group(kmd->nl_kx, QKDN_MCGRP_KX);
	if (ret) {
		if (ret == -ENOENT)
			qkdn_log(QKDN_LOG_ERR, "the module has no \"kx\" multicast group",
				 "event=start-failed hint=\"qkdn.ko without key relay: too old?\"");
		else
			start_failed(kmd, "joining the kx group failed", ret);
		return ret;
	}
	kx_rcvbuf(kmd->nl_kx);
	return listen_group(kmd, kmd->nl_kx, &kmd->kx_event, kx_readable, QKDN_MCGRP_KX);
}

int kmd_kernel_route_set(struct kmd *kmd, uint32_t dest, uint32_t next_hop)
{
	char q[600];
	int ret;

	if (kmd->no_kernel)
		return 0;
	qkdn_nl_msg_reset(kmd->frame_msg, QKDN_CMD_ROUTE_ADD, 0);
	qkdn_nl_put_u32(kmd->frame_msg, QKDN_A_DEST_NODE_ID, dest);
	qkdn_nl_put_u32(kmd->frame_msg, QKDN_A_NEXT_HOP_NODE_ID, next_hop);
	/* ROUTE_ADD replaces the route to dest in one step: relays never
	 * see the destination without a route. */
	ret = qkdn_nl_request(kmd->nl, kmd->frame_msg, NULL, NULL);
	if (ret)
		qkdn_log(QKDN_LOG_ERR, "ROUTE_ADD failed",
			 "event=route-failed dest=%u next_hop=%u errno=%s extack=%s", dest,
			 next_hop, errno_name(-ret),
			 qkdn_log_quote(q, sizeof(q), qkdn_nl_extack(kmd->nl)));
	else
		qkdn_log(QKDN_LOG_DEBUG, "route set", "event=route-set dest=%u via=%u", dest,
			 next_hop);
	return ret;
}

int kmd_kernel_route_del(struct kmd *kmd, uint32_t dest)
{
	char q[600];
	int ret;

	if (kmd->no_kernel)
		return 0;
	qkdn_nl_msg_reset(kmd->frame_msg, QKDN_CMD_ROUTE_DEL, 0);
	qkdn_nl_put_u32(kmd->frame_msg, QKDN_A_DEST_NODE_ID, dest);
	ret = qkdn_nl_request(kmd->nl, kmd->frame_msg, NULL, NULL);
	if (ret == -ENOENT)
		return 0;
	if (ret)
		qkdn_log(QKDN_LOG_ERR, "ROUTE_DEL failed",
			 "event=route-failed dest=%u errno=%s extack=%s", dest, errno_name(-ret),
			 qkdn_log_quote(q, sizeof(q), qkdn_nl_extack(kmd->nl)));
	else
		qkdn_log(QKDN_LOG_DEBUG, "route deleted", "event=route-del dest=%u", dest);
	return ret;
}

static int alarm_notification(const struct nlmsghdr *nlh, void *data)
{
	struct kmd *kmd = data;
	const struct nlattr *tb[QKDN_A_MAX + 1];
	const struct nlattr *st[QKDN_STAT_A_MAX + 1];
	uint32_t alarm, peer = 0, dest = 0;
	uint64_t relay_id = 0, avail = 0;

	if (nlh->nlmsg_type != qkdn_nl_family_id(kmd->nl_alarm) ||
	    qkdn_nl_cmd(nlh) != QKDN_CMD_ALARM)
		return 0;
	if (qkdn_nl_parse(nlh, tb, QKDN_A_MAX) < 0 || !qkdn_nla_u32(tb[QKDN_A_ALARM], &alarm)) {
		kmd->stats.bad_notifications++;
		return 0;
	}
	qkdn_nla_u32(tb[QKDN_A_PEER_NODE_ID], &peer);
	qkdn_nla_u32(tb[QKDN_A_DEST_NODE_ID], &dest);
	qkdn_nla_u64(tb[QKDN_A_RELAY_ID], &relay_id);
	if (tb[QKDN_A_LINK_STATS] &&
	    !qkdn_nl_parse_nested(tb[QKDN_A_LINK_STATS], st, QKDN_STAT_A_MAX))
		qkdn_nla_u64(st[QKDN_STAT_A_ENC_AVAILABLE], &avail);
	kmd_mgr_module_alarm(kmd, alarm, peer, dest, relay_id, avail);
	qkdn_log(QKDN_LOG_DEBUG, "module alarm", "event=alarm alarm=%u peer=%u dest=%u", alarm,
		 peer, dest);
	switch (alarm) {
	case QKDN_ALARM_POOL_LOW:
		kmd_ck_notify(kmd, QKDN_W_EVENT_POOL_LOW, peer, 0);
		break;
	case QKDN_ALARM_POOL_LOW_CLEARED:
		kmd_ck_notify(kmd, QKDN_W_EVENT_POOL_CLEARED, peer, 0);
		break;
	case QKDN_ALARM_QKD_DOWN:
		kmd_ck_notify(kmd, QKDN_W_EVENT_QKD_DOWN, peer, 0);
		break;
	case QKDN_ALARM_QKD_EAVESDROP:
		kmd_ck_notify(kmd, QKDN_W_EVENT_QBER_HIGH, peer, 0);
		break;
	case QKDN_ALARM_QKD_UP:
		kmd_ck_notify(kmd, QKDN_W_EVENT_QKD_UP, peer, 0);
		break;
	case QKDN_ALARM_RELAY_FAILED:
		qkdn_log(QKDN_LOG_WARN, "relay failed", "event=relay-failed dest=%u", dest);
		kmd_routes_relay_failed(kmd, dest);
		kmd_ck_notify(kmd, QKDN_W_EVENT_RELAY_FAILED, 0, dest);
		break;
	}
	return 0;
}

static void alarm_readable(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	drain(arg, ((struct kmd *)arg)->nl_alarm, alarm_notification, QKDN_MCGRP_ALARM);
}

static int setup_alarm_group(struct kmd *kmd)
{
	int ret = qkdn_nl_open(&kmd->nl_alarm);

	if (!ret)
		ret = qkdn_nl_join_group(kmd->nl_alarm, QKDN_MCGRP_ALARM);
	if (ret)
		return start_failed(kmd, "joining the alarm group failed", ret);
	return listen_group(kmd, kmd->nl_alarm, &kmd->alarm_event, alarm_readable,
			    QKDN_MCGRP_ALARM);
}

int kmd_kernel_start(struct kmd *kmd)
{
	struct qkdn_nl_msg *msg;
	int ret;

	if (kmd->no_kernel) {
		qkdn_log(QKDN_LOG_WARN, "netlink disabled by --no-kernel (test aid): frames are "
			 "neither sent nor received", "event=no-kernel");
		return 0;
	}
	ret = qkdn_nl_open(&kmd->nl);
	if (ret == -ENOENT) {
		qkdn_log(QKDN_LOG_ERR, "generic netlink family \"qkdn\" not found",
			 "event=start-failed hint=\"load qkdn.ko (modprobe qkdn)\"");
		return ret;
	}
	if (ret)
		return start_failed(kmd, "opening netlink failed", ret);
	msg = qkdn_nl_msg_new(QKDN_CMD_NODE_GET, 0);
	if (!msg)
		return start_failed(kmd, "netlink message", -ENOMEM);
	ret = setup_node(kmd, msg);
	if (!ret)
		ret = setup_relay(kmd, msg);
	if (ret) {
		qkdn_nl_msg_free(msg);
		return ret;
	}
	/* Kept for the frames: one locked buffer, reset for each. */
	kmd->frame_msg = msg;
	ret = setup_kx_group(kmd);
	if (!ret)
		ret = setup_alarm_group(kmd);
	return ret;
}

void kmd_kernel_stop(struct kmd *kmd)
{
	if (kmd->alarm_event)
		event_free(kmd->alarm_event);
	kmd->alarm_event = NULL;
	qkdn_nl_close(kmd->nl_alarm);
	kmd->nl_alarm = NULL;
	if (kmd->kx_event)
		event_free(kmd->kx_event);
	kmd->kx_event = NULL;
	qkdn_nl_msg_free(kmd->frame_msg);
	kmd->frame_msg = NULL;
	qkdn_nl_close(kmd->nl_kx);
	kmd->nl_kx = NULL;
	qkdn_nl_close(kmd->nl);
	kmd->nl = NULL;
}

void kmd_kernel_submit_frame(struct kmd *kmd, struct kmd_peer *peer, const void *frame,
			     size_t len)
{
	char q[600];
	int ret;

	if (kmd->no_kernel) {
		qkdn_log(QKDN_LOG_DEBUG, "frame received, not submitted (--no-kernel)",
			 "event=frame-rx peer=%u len=%zu", peer->id, len);
		return;
	}
	qkdn_nl_msg_reset(kmd->frame_msg, QKDN_CMD_KX_FRAME, 0);
	qkdn_nl_put_u32(kmd->frame_msg, QKDN_A_PEER_NODE_ID, peer->id);
	qkdn_nl_put(kmd->frame_msg, QKDN_A_KX_FRAME, frame, len);
	ret = qkdn_nl_request(kmd->nl, kmd->frame_msg, NULL, NULL);
	if (ret == 0) {
		peer->stats.frames_accepted++;
		kmd_mgr_frame(kmd, peer->id, frame, len, false);
		qkdn_log(QKDN_LOG_DEBUG, "frame accepted by the module",
			 "event=frame-rx peer=%u len=%zu", peer->id, len);
		return;
	}
	if (ret == -EALREADY) {
		peer->stats.kernel_replays++;
		qkdn_log(QKDN_LOG_DEBUG, "module refused a replayed frame",
			 "event=frame-refused peer=%u len=%zu errno=EALREADY extack=%s", peer->id,
			 len, qkdn_log_quote(q, sizeof(q), qkdn_nl_extack(kmd->nl)));
		return;
	}
	peer->stats.kernel_refused++;
	qkdn_log(QKDN_LOG_WARN, "module refused a frame",
		 "event=frame-refused peer=%u len=%zu errno=%s err=\"%s\" extack=%s", peer->id,
		 len, errno_name(-ret), strerror(-ret),
		 qkdn_log_quote(q, sizeof(q), qkdn_nl_extack(kmd->nl)));
}
