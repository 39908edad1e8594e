// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The route table of qkdn-kmd, and protection switching without the
 * controller (seed 004 Req_KM-P 1).
 *
 * Entries come from [route] (session 0: programmed as given, never
 * switched) and from the controller (CK_ROUTE responses and pushes): one
 * per (session, destination), "toward dest send to next_hop", with an
 * optional protection next hop. The module holds one next hop per
 * destination: that of the newest entry for it (highest seq), its
 * active next hop, or no route while that entry is withdrawn.
 *
 * An entry whose active next hop fails switches at once:
 *   (a) the Kx connection to that next hop went down,
 *   (b) two relays in a row this node sourced to dest were abandoned
 *       (the module's relay-failed alarm: ETIMEDOUT), the second within
 *       three relay timeouts of the first,
 *   (c) that neighbour withdrew dest (Kx UPDATE, QOS unreachable).
 * With a protection next hop that is not the failed one, the module is
 * reprogrammed to it and the controller told "protection switched".
 * Without, the entry is withdrawn (the module's route deleted, so relays
 * fail fast with EHOSTUNREACH rather than time out), the controller told
 * "route withdrawn", and the withdrawal goes on, split horizon, to the
 * next hop of our entry toward the session's other end: both end KMs
 * learn of a fault anywhere on the working path within a round trip.
 *
 * One failed relay is no proof of a fault: the controller installs a
 * path's entries on its KMs in parallel, and a relay this node starts as
 * soon as its own entry is in can reach a KM further along before that
 * KM's entry back toward us: its acknowledgment is dropped ("no route")
 * and the relay times out on a path that is about to work. Switching on
 * that would leave a working route while nothing is wrong; the next
 * relay, started a relay timeout later, tells.
 *
 * Switching is non-revertive: an entry on its protection next hop stays
 * there until the controller pushes something else. A withdrawn entry
 * comes back when the Kx connection to its working next hop, or else to
 * its protection next hop, comes back up.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kmd.h"
#include "log.h"
#include "util.h"
#include "wire.h"

static struct kmd_route *newest(struct kmd *kmd, uint32_t dest)
{
	struct kmd_route *best = NULL;

	for (size_t i = 0; i < kmd->n_routes; i++) {
		struct kmd_route *r = &kmd->routes[i];

		if (r->dest == dest && (!best || r->seq > best->seq))
			best = r;
	}
	return best;
}

const struct kmd_route *kmd_routes_effective(const struct kmd *kmd, uint32_t dest)
{
	return newest((struct kmd *)kmd, dest);
}

/* Makes the module's route to dest what the table says. */
static int program(struct kmd *kmd, uint32_t dest)
{
	const struct kmd_route *r = newest(kmd, dest);

	if (r && r->active)
		return kmd_kernel_route_set(kmd, dest, r->active);
	return kmd_kernel_route_del(kmd, dest);
}

static struct kmd_route *find(struct kmd *kmd, uint64_t session, uint32_t dest)
{
	for (size_t i = 0; i < kmd->n_routes; i++)
		if (kmd->routes[i].session_id == session && kmd->routes[i].dest == dest)
			return &kmd->routes[i];
	return NULL;
}

int kmd_routes_apply(struct kmd *kmd, enum kmd_route_op op, const struct kmd_route *in)
{
	struct kmd_route *r = find(kmd, in->session_id, in->dest);

	if (op == KMD_ROUTE_DELETE) {
		if (!r)
			return -ENOENT;
		*r = kmd->routes[--kmd->n_routes];
		qkdn_log(QKDN_LOG_INFO, "route deleted",
			 "event=route-deleted session=%016" PRIx64 " dest=%u", in->session_id,
			 in->dest);
		return program(kmd, in->dest);
	}
	if (!in->dest || in->dest == kmd->cfg.node_id || !in->next_hop ||
	    in->next_hop == kmd->cfg.node_id || in->protection == kmd->cfg.node_id)
		return -EINVAL;
	if (!r) {
		r = qkdn_grow((void **)&kmd->routes, &kmd->n_routes, &kmd->routes_cap,
			      sizeof(*r));
		if (!r)
			return -ENOMEM;
	}
	*r = *in;
	r->seq = ++kmd->route_seq;
	r->relay_failed_ms = 0;
	/* A working next hop already down, with a protection one up: start
	 * on the protection one. */
	r->active = r->next_hop;
	if (in->session_id && r->protection && r->protection != r->next_hop &&
	    !kmd_peer_is_up(kmd, r->next_hop) && kmd_peer_is_up(kmd, r->protection))
		r->active = r->protection;
	qkdn_log(QKDN_LOG_INFO, "route installed",
		 "event=route-installed session=%016" PRIx64 " source=%u dest=%u next_hop=%u "
		 "protection=%u active=%u", r->session_id, r->source, r->dest, r->next_hop,
		 r->protection, r->active);
	return program(kmd, r->dest);
}

/* The entry r (the newest for its dest) lost its active next hop
 * `failed`, for the reason why. */
static void entry_failed(struct kmd *kmd, struct kmd_route *r, uint32_t failed, const char *why)
{
	uint32_t dest = r->dest;

	if (r->protection && r->protection != failed && r->active != r->protection) {
		r->active = r->protection;
		kmd->protection_switches++;
		qkdn_log(QKDN_LOG_WARN, "protection switched",
			 "event=protection-switched session=%016" PRIx64 " dest=%u from=%u to=%u "
			 "why=%s", r->session_id, dest, failed, r->protection, why);
		program(kmd, dest);
		kmd_ck_notify(kmd, QKDN_W_EVENT_PROTECTION_SWITCHED, failed, dest);
		kmd_mgr_route(kmd, r, QKDN_W_RESIL_OP_SWITCHOVER, failed, r->protection);
		return;
	}
	r->active = 0;
	qkdn_log(QKDN_LOG_WARN, "route withdrawn",
		 "event=route-withdrawn session=%016" PRIx64 " dest=%u failed=%u why=%s "
		 "other_end=%u", r->session_id, dest, failed, why, r->other_end);
	program(kmd, dest);
	kmd_ck_notify(kmd, QKDN_W_EVENT_ROUTE_WITHDRAWN, failed, dest);
	kmd_mgr_route(kmd, r, 0, failed, 0);
	/* Split horizon: only toward the other end of the session, and
	 * never back to the neighbour that failed. */
	if (r->other_end && r->other_end != kmd->cfg.node_id) {
		const struct kmd_route *back = newest(kmd, r->other_end);

		if (back && back->active && back->active != failed) {
			kmd_peer_send_withdrawal(kmd, back->active, dest);
			kmd->withdrawals_sent++;
		}
	}
}

void kmd_routes_peer_down(struct kmd *kmd, uint32_t peer)
{
	/* Collect first: entry_failed() reprograms but never reorders. */
	for (size_t i = 0; i < kmd->n_routes; i++) {
		struct kmd_route *r = &kmd->routes[i];

		if (r->session_id && r->active == peer && newest(kmd, r->dest) == r)
			entry_failed(kmd, r, peer, "kx-down");
	}
}

void kmd_routes_peer_up(struct kmd *kmd, uint32_t peer)
{
	for (size_t i = 0; i < kmd->n_routes; i++) {
		struct kmd_route *r = &kmd->routes[i];

		/* The working next hop first, else the protection one. */
		if (r->session_id && !r->active && newest(kmd, r->dest) == r &&
		    (r->next_hop == peer ||
		     (r->protection == peer && !kmd_peer_is_up(kmd, r->next_hop)))) {
			r->active = peer;
			qkdn_log(QKDN_LOG_INFO, "route restored",
				 "event=route-restored session=%016" PRIx64 " dest=%u next_hop=%u",
				 r->session_id, r->dest, peer);
			program(kmd, r->dest);
			kmd_mgr_route(kmd, r, QKDN_W_RESIL_OP_RESTORE, r->next_hop, peer);
		}
	}
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void kmd_routes_relay_failed(struct kmd *kmd, uint32_t dest)
{
	struct kmd_route *r = newest(kmd, dest);
	uint64_t now = mono_ms(), timeout = kmd->cfg.relay_timeout_ms
					    ? kmd->cfg.relay_timeout_ms
					    : QKDN_RELAY_TIMEOUT_MS_DEFAULT;

	/* Only off the working next hop: once on protection, a failed relay
	 * is the controller's to judge. */
	if (!r || !r->session_id || !r->active || r->active != r->next_hop || !r->protection)
		return;
	if (!r->relay_failed_ms || now - r->relay_failed_ms > 3 * timeout) {
		r->relay_failed_ms = now;
		qkdn_log(QKDN_LOG_INFO, "relay failed on the working next hop: switching if the next fails too",
			 "event=relay-failed-noted session=%016" PRIx64 " dest=%u next_hop=%u",
			 r->session_id, dest, r->active);
		return;
	}
	entry_failed(kmd, r, r->active, "relay-failed");
}

void kmd_routes_withdrawn(struct kmd *kmd, uint32_t from, uint32_t dest)
{
	struct kmd_route *r = newest(kmd, dest);

	kmd->withdrawals_received++;
	if (!r || !r->session_id || r->active != from) {
		qkdn_log(QKDN_LOG_INFO, "withdrawal ignored: not our next hop for it",
			 "event=withdrawal-ignored from=%u dest=%u active=%u", from, dest,
			 r ? r->active : 0);
		return;
	}
	entry_failed(kmd, r, from, "withdrawn");
}

int kmd_routes_start(struct kmd *kmd)
{
	for (size_t i = 0; i < kmd->cfg.n_routes; i++) {
		struct kmd_route *r = qkdn_grow((void **)&kmd->routes, &kmd->n_routes,
						&kmd->routes_cap, sizeof(*r));

		if (!r)
			return -ENOMEM;
		r->dest = kmd->cfg.routes[i].dest;
		r->next_hop = r->active = kmd->cfg.routes[i].via;
		r->seq = ++kmd->route_seq;
	}
	return 0;
}

void kmd_routes_free(struct kmd *kmd)
{
	free(kmd->routes);
	kmd->routes = NULL;
	kmd->n_routes = kmd->routes_cap = 0;
}
