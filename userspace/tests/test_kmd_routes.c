// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * qkdn-kmd's route table and protection switching (kmd/routes.c), against
 * stubs of the module, the neighbours and the controller.
 *
 * The network of the tests, node IDs; the session is 1 -> 4, working path
 * 1-2-3-4, protection path 1-5-6-4:
 *
 *        2 ---- 3
 *       /        \
 *      1          4
 *       \        /
 *        5 ---- 6
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "kmd/kmd.h"
#include "log.h"
#include "tap.h"
#include "wire.h"

/* Stubs: what routes.c did, in order. */
static char trace[4096];
static bool up[8];

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	size_t o = strlen(trace);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(trace + o, sizeof(trace) - o, fmt, ap);
	va_end(ap);
}

int kmd_kernel_route_set(struct kmd *kmd, uint32_t dest, uint32_t next_hop)
{
	(void)kmd;
	say("add %u via %u;", dest, next_hop);
	return 0;
}

int kmd_kernel_route_del(struct kmd *kmd, uint32_t dest)
{
	(void)kmd;
	say("del %u;", dest);
	return 0;
}

bool kmd_peer_is_up(struct kmd *kmd, uint32_t id)
{
	(void)kmd;
	return id < 8 && up[id];
}

void kmd_peer_send_withdrawal(struct kmd *kmd, uint32_t peer, uint32_t dest)
{
	(void)kmd;
	say("withdraw %u to %u;", dest, peer);
}

void kmd_ck_notify(struct kmd *kmd, uint16_t event, uint32_t peer, uint32_t dest)
{
	(void)kmd;
	say("notify %s %u %u;", event == QKDN_W_EVENT_PROTECTION_SWITCHED ? "switched"
				: event == QKDN_W_EVENT_ROUTE_WITHDRAWN ? "withdrawn" : "other",
	    peer, dest);
}

void kmd_mgr_route(struct kmd *kmd, const struct kmd_route *r, enum qkdn_wire_resil_op op,
		   uint32_t from, uint32_t to)
{
	(void)kmd;
	(void)r;
	(void)op;
	(void)from;
	(void)to;
}

static void reset(void)
{
	trace[0] = '\0';
}

static struct kmd_route entry(uint64_t session, uint32_t source, uint32_t dest,
			      uint32_t next_hop, uint32_t protection, uint32_t other_end)
{
	struct kmd_route r = {
		.session_id = session, .source = source, .dest = dest,
		.next_hop = next_hop, .protection = protection, .other_end = other_end,
	};

	return r;
}

static void node(struct kmd *kmd, uint32_t id)
{
	kmd_routes_free(kmd);
	memset(kmd, 0, sizeof(*kmd));
	kmd->cfg.node_id = id;
	for (int i = 0; i < 8; i++)
		up[i] = true;
	reset();
}

/* The source: protection switch on Kx down, then non-revertive. */
static void test_source(void)
{
	struct kmd kmd;
	struct kmd_route r;

	memset(&kmd, 0, sizeof(kmd));
	node(&kmd, 1);
	r = entry(7, 1, 4, 2, 5, 0);
	ok(kmd_routes_apply(&kmd, KMD_ROUTE_INSTALL, &r) == 0 &&
	   strcmp(trace, "add 4 via 2;") == 0, "install programs the working next hop: %s", trace);
	reset();
	up[2] = false;
	kmd_routes_peer_down(&kmd, 2);
	ok(strcmp(trace, "add 4 via 5;notify switched 2 4;") == 0,
	   "Kx down: switched to the protection next hop at once: %s", trace);
	ok(kmd.protection_switches == 1, "one switch counted");
	reset();
	up[2] = true;
	kmd_routes_peer_up(&kmd, 2);
	ok(strcmp(trace, "") == 0 && kmd_routes_effective(&kmd, 4)->active == 5,
	   "non-revertive: the working hop coming back changes nothing");
	reset();
	up[5] = false;
	kmd_routes_peer_down(&kmd, 5);
	ok(strcmp(trace, "del 4;notify withdrawn 5 4;") == 0,
	   "protection lost too: withdrawn, no withdrawal sent (no other end): %s", trace);
	reset();
	kmd_routes_relay_failed(&kmd, 4);
	ok(strcmp(trace, "") == 0, "a relay failure on a withdrawn entry changes nothing");
	reset();
	up[2] = false;
	up[5] = true;
	kmd_routes_peer_up(&kmd, 5);
	ok(strcmp(trace, "add 4 via 5;") == 0,
	   "withdrawn, working hop down: back on protection when it comes up: %s", trace);
	kmd_routes_free(&kmd);
}

/* Trigger (b): a relay failed; and a route installed while the working
 * hop is down starts on protection. */
static void test_relay_failed(void)
{
	struct kmd kmd;
	struct kmd_route r;

	memset(&kmd, 0, sizeof(kmd));
	node(&kmd, 1);
	r = entry(7, 1, 4, 2, 5, 0);
	kmd_routes_apply(&kmd, KMD_ROUTE_INSTALL, &r);
	reset();
	kmd_routes_relay_failed(&kmd, 4);
	ok(strcmp(trace, "") == 0 && kmd_routes_effective(&kmd, 4)->active == 2,
	   "one relay failed: noted, still on the working next hop: %s", trace);
	r = entry(7, 1, 4, 2, 5, 0);
	kmd_routes_apply(&kmd, KMD_ROUTE_INSTALL, &r);
	reset();
	kmd_routes_relay_failed(&kmd, 4);
	ok(strcmp(trace, "") == 0 && kmd_routes_effective(&kmd, 4)->active == 2,
	   "the entry installed again: a failure before it does not count: %s", trace);
	reset();
	kmd_routes_relay_failed(&kmd, 4);
	ok(strcmp(trace, "add 4 via 5;notify switched 2 4;") == 0,
	   "a second relay failed in a row: switched: %s", trace);
	reset();
	kmd_routes_relay_failed(&kmd, 4);
	ok(strcmp(trace, "") == 0, "once on protection, relay failures are the controller's");
	reset();
	up[2] = false;
	r = entry(8, 1, 4, 2, 5, 0);
	kmd_routes_apply(&kmd, KMD_ROUTE_INSTALL, &r);
	ok(strcmp(trace, "add 4 via 5;") == 0,
	   "installed with the working hop down: starts on protection: %s", trace);
	reset();
	r = entry(8, 1, 4, 0, 0, 0);
	ok(kmd_routes_apply(&kmd, KMD_ROUTE_DELETE, &r) == 0 && strcmp(trace, "add 4 via 5;") == 0,
	   "deleting the newest entry falls back to the older one: %s", trace);
	reset();
	r = entry(7, 1, 4, 0, 0, 0);
	ok(kmd_routes_apply(&kmd, KMD_ROUTE_DELETE, &r) == 0 && strcmp(trace, "del 4;") == 0,
	   "deleting the last entry deletes the module's route: %s", trace);
	ok(kmd_routes_apply(&kmd, KMD_ROUTE_DELETE, &r) == -ENOENT, "deleting it again: ENOENT");
	reset();
	r = entry(9, 1, 1, 2, 0, 0);
	ok(kmd_routes_apply(&kmd, KMD_ROUTE_INSTALL, &r) == -EINVAL && !trace[0] &&
	   kmd.n_routes == 0, "an entry toward this node: EINVAL, nothing changed");
	r = entry(9, 1, 4, 1, 0, 0);
	ok(kmd_routes_apply(&kmd, KMD_ROUTE_INSTALL, &r) == -EINVAL && !trace[0] &&
	   kmd.n_routes == 0, "this node as next hop: EINVAL, nothing changed");
	kmd_routes_free(&kmd);
}

/* A transit node of the working path: withdrawals, split horizon. */
static void test_transit(void)
{
	struct kmd kmd;
	struct kmd_route r;

	memset(&kmd, 0, sizeof(kmd));
	node(&kmd, 2);
	r = entry(7, 1, 4, 3, 0, 1);
	kmd_routes_apply(&kmd, KMD_ROUTE_INSTALL, &r);
	r = entry(7, 1, 1, 1, 0, 4);
	kmd_routes_apply(&kmd, KMD_ROUTE_INSTALL, &r);
	reset();
	up[3] = false;
	kmd_routes_peer_down(&kmd, 3);
	ok(strcmp(trace, "del 4;notify withdrawn 3 4;withdraw 4 to 1;") == 0,
	   "next hop toward 4 lost, no protection: withdraw 4 toward the other end: %s", trace);
	ok(kmd.withdrawals_sent == 1, "one withdrawal counted");
	reset();
	up[3] = true;
	kmd_routes_peer_up(&kmd, 3);
	ok(strcmp(trace, "add 4 via 3;") == 0, "a withdrawn entry comes back with its hop: %s",
	   trace);
	reset();
	kmd_routes_withdrawn(&kmd, 3, 1);
	ok(strcmp(trace, "") == 0 && kmd.withdrawals_received == 1,
	   "a withdrawal from a neighbour that is not our next hop for it is ignored");
	reset();
	kmd_routes_withdrawn(&kmd, 1, 4);
	ok(strcmp(trace, "") == 0, "nor one for a destination we route elsewhere");
	reset();
	up[1] = false;
	kmd_routes_peer_down(&kmd, 1);
	ok(strcmp(trace, "del 1;notify withdrawn 1 1;withdraw 1 to 3;") == 0,
	   "the other way: withdraw 1 toward 4's side: %s", trace);
	kmd_routes_free(&kmd);
}

/* The destination end switches its entry back toward the source on a
 * withdrawal; [route]s of the config never switch. */
static void test_destination(void)
{
	struct kmd kmd;
	struct kmd_route r;

	memset(&kmd, 0, sizeof(kmd));
	node(&kmd, 4);
	kmd.cfg.routes = (struct qkdn_kmd_route_conf[]){ { .dest = 2, .via = 3 } };
	kmd.cfg.n_routes = 1;
	ok(kmd_routes_start(&kmd) == 0 && kmd.n_routes == 1 && !trace[0],
	   "[route]s enter the table (kernel.c programmed them)");
	r = entry(7, 1, 1, 3, 6, 1);
	r.path[0] = 1, r.path[1] = 2, r.path[2] = 3, r.path[3] = 4, r.n_path = 4;
	kmd_routes_apply(&kmd, KMD_ROUTE_INSTALL, &r);
	reset();
	kmd_routes_withdrawn(&kmd, 3, 1);
	ok(strcmp(trace, "add 1 via 6;notify switched 3 1;") == 0,
	   "withdrawal from the working next hop: switched: %s", trace);
	reset();
	up[3] = false;
	kmd_routes_peer_down(&kmd, 3);
	ok(strcmp(trace, "") == 0 && kmd_routes_effective(&kmd, 2)->active == 3,
	   "a [route] is never switched or withdrawn");
	kmd.cfg.routes = NULL;
	kmd_routes_free(&kmd);
}

int main(void)
{
	qkdn_log_init("test_kmd_routes", QKDN_LOG_ERR);
	test_source();
	test_relay_failed();
	test_transit();
	test_destination();
	return tap_done();
}
