// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Route computation of the controller (lib/route.c): relay cost per hop,
 * topology updates, key-aware paths on hand-drawn topologies with exact
 * expected paths and costs, protection on a trap topology, multipath
 * splits, next hops, bad input, and random graphs against brute force.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <linux/qkdn.h>

#include "route.h"
#include "tap.h"
#include "util.h"

/* A healthy link: plenty of keys, idle, QBER 1%: costs 1000 + 125. */
static const struct qkdn_link_metrics good = {
	.key_avail = 1 << 20, .gen_rate = 1000, .qber = 0.01, .up = true,
};
#define GOOD_COST 1125

struct edge {
	uint32_t a, b;
};

static struct qkdn_topo *build(const struct edge *e, size_t n)
{
	struct qkdn_topo *t = qkdn_topo_new();
	size_t i;

	for (i = 0; t && i < n; i++) {
		qkdn_topo_node_add(t, e[i].a);
		qkdn_topo_node_add(t, e[i].b);
		if (qkdn_topo_link_add(t, e[i].a, e[i].b, &good)) {
			qkdn_topo_free(t);
			return NULL;
		}
	}
	return t;
}

/* Does the path read exactly nodes[0..n-1]? */
static bool path_is(const struct qkdn_path *p, const uint32_t *nodes, uint32_t n)
{
	return p->nodes && p->hops + 1 == n &&
	       !memcmp(p->nodes, nodes, n * sizeof(*nodes));
}

#define PATH_IS(p, ...) \
	path_is((p), (const uint32_t[]){ __VA_ARGS__ }, \
		sizeof((uint32_t[]){ __VA_ARGS__ }) / sizeof(uint32_t))

static void set_avail(struct qkdn_topo *t, uint32_t a, uint32_t b, uint64_t avail)
{
	struct qkdn_link_metrics m = good;

	m.key_avail = avail;
	qkdn_topo_link_set_metrics(t, a, b, &m);
}

static void test_hop_bytes(void)
{
	uint64_t avail, cap;
	unsigned int i, bad = 0;

	/* Documentation/key-relay.rst: 4 keys of 32 bytes, 32-byte units:
	 * RELAY 5 link keys + ACK 1 = 6 link keys = 192 bytes per hop */
	ok(qkdn_route_hop_bytes(128, 32, 32) == 192, "4 x 32-byte keys: 192 bytes a hop");
	ok(qkdn_route_hop_bytes(0, 32, 32) == 0, "nothing costs nothing");
	ok(qkdn_route_hop_bytes(1, 32, 32) == 96, "1 byte is a whole key: 64 + 32");
	ok(qkdn_route_hop_bytes(2048, 32, 32) == 2112, "64 keys: one full relay, 2080 + 32");
	ok(qkdn_route_hop_bytes(2049, 32, 32) == 2112 + 96, "65 keys: two relays");
	ok(qkdn_route_hop_bytes(1024, 1024, 1024) == 3072,
	   "1024-byte key on 1024-byte units: 2 link keys + ACK 1");
	ok(qkdn_route_hop_bytes(30 * 1024 + 1, 1024, 16) == 30752 + 32 + 1056 + 32,
	   "1024-byte keys: 30 per relay (QKDN_RELAY_BYTES_ANY_UNIT)");
	ok(qkdn_route_hop_capacity(192, 32, 32) == 128, "192 bytes carry 4 keys");
	ok(qkdn_route_hop_capacity(191, 32, 32) == 96, "191 bytes carry 3 keys");
	ok(qkdn_route_hop_capacity(95, 32, 32) == 0, "95 bytes carry no key");
	ok(qkdn_route_hop_capacity(2112 * 3, 32, 32) == 3 * 2048, "3 full relays");

	srand(7);
	for (i = 0; i < 20000; i++) {
		uint32_t key_len = 8 * (2 + rand() % 127);
		uint32_t unit = QKDN_KEY_UNIT_MIN + rand() % (QKDN_KEY_UNIT_MAX - 15);

		avail = (uint64_t)rand() * (rand() % 64 + 1);
		cap = qkdn_route_hop_capacity(avail, key_len, unit);
		if (cap % key_len || qkdn_route_hop_bytes(cap, key_len, unit) > avail ||
		    qkdn_route_hop_bytes(cap + key_len, key_len, unit) <= avail) {
			if (!bad++)
				diag("avail %llu key_len %u unit %u: capacity %llu",
				     (unsigned long long)avail, key_len, unit,
				     (unsigned long long)cap);
		}
	}
	ok(bad == 0, "capacity is the largest whole-key amount that fits (20000 random)");
}

static void test_topology(void)
{
	struct qkdn_topo *t = qkdn_topo_new();
	struct qkdn_link_metrics m = good, got;
	uint32_t nb[8];
	uint64_t gen;
	int state;
	bool up;

	ok(qkdn_topo_node_add(t, 0) == -EINVAL, "node 0: EINVAL");
	ok(qkdn_topo_node_add(t, 0xffffffff) == -EINVAL, "node above QKDN_NODE_ID_MAX: EINVAL");
	ok(qkdn_topo_node_add(t, QKDN_NODE_ID_MAX) == 0, "node QKDN_NODE_ID_MAX");
	ok(qkdn_topo_node_add(t, 1) == 0 && qkdn_topo_node_add(t, 2) == 0 &&
	   qkdn_topo_node_add(t, 3) == 0, "nodes 1, 2, 3");
	ok(qkdn_topo_node_add(t, 2) == -EEXIST, "node 2 again: EEXIST");
	ok(qkdn_topo_node_count(t) == 4, "4 nodes");
	ok(qkdn_topo_link_add(t, 1, 1, NULL) == -EINVAL, "link to itself: EINVAL");
	ok(qkdn_topo_link_add(t, 1, 9, NULL) == -ENOENT, "link to unknown node: ENOENT");
	ok(qkdn_topo_link_add(t, 0, 1, NULL) == -EINVAL, "link to node 0: EINVAL");
	ok(qkdn_topo_link_add(t, 1, 2, NULL) == 0, "link 1-2 without metrics");
	ok(qkdn_topo_link_add(t, 2, 1, NULL) == -EEXIST, "link 2-1: EEXIST (undirected)");
	m.qber = NAN;
	ok(qkdn_topo_link_add(t, 1, 3, &m) == -EINVAL, "QBER NaN: EINVAL");
	m.qber = -0.01;
	ok(qkdn_topo_link_set_metrics(t, 1, 2, &m) == -EINVAL, "QBER -0.01: EINVAL");
	m.qber = 1.01;
	ok(qkdn_topo_link_set_metrics(t, 1, 2, &m) == -EINVAL, "QBER 1.01: EINVAL");
	m.qber = 0.02;
	m.unit = QKDN_KEY_UNIT_MIN - 1;
	ok(qkdn_topo_link_set_metrics(t, 1, 2, &m) == -EINVAL, "unit 15: EINVAL");
	m.unit = QKDN_KEY_UNIT_MAX + 1;
	ok(qkdn_topo_link_set_metrics(t, 1, 2, &m) == -EINVAL, "unit 1025: EINVAL");
	ok(qkdn_topo_link_set_metrics(t, 1, 2, NULL) == -EINVAL, "NULL metrics: EINVAL");
	m.unit = 64;
	gen = qkdn_topo_generation(t);
	ok(qkdn_topo_link_set_metrics(t, 2, 1, &m) == 0 && qkdn_topo_generation(t) > gen,
	   "metrics set, either order; generation moves");
	ok(qkdn_topo_link_get(t, 1, 2, &state, &got) == 0 && state == QKDN_TOPO_IN_SERVICE &&
	   got.unit == 64 && got.qber == 0.02 && got.key_avail == good.key_avail,
	   "link_get returns what was set");
	ok(qkdn_topo_link_set_state(t, 1, 2, 0) == -EINVAL &&
	   qkdn_topo_link_set_state(t, 1, 2, QKDN_TOPO_RESERVED + 1) == -EINVAL,
	   "link state 0 and 5: EINVAL");
	ok(qkdn_topo_link_set_state(t, 1, 3, QKDN_TOPO_STANDBY) == -ENOENT,
	   "state of a missing link: ENOENT");
	ok(qkdn_topo_node_set_state(t, 7, QKDN_TOPO_STANDBY) == -ENOENT,
	   "state of a missing node: ENOENT");
	ok(qkdn_topo_node_set_state(t, 3, 9) == -EINVAL, "node state 9: EINVAL");
	ok(qkdn_topo_node_set_state(t, 3, QKDN_TOPO_STANDBY) == 0 &&
	   qkdn_topo_node_set_up(t, 3, false) == 0 &&
	   qkdn_topo_node_get(t, 3, &state, &up) == 0 && state == QKDN_TOPO_STANDBY && !up,
	   "node state and up read back");
	ok(qkdn_topo_link_add(t, 3, 1, NULL) == 0 && qkdn_topo_link_add(t, 3, 2, NULL) == 0 &&
	   qkdn_topo_link_add(t, 3, QKDN_NODE_ID_MAX, NULL) == 0, "links 3-1, 3-2, 3-max");
	ok(qkdn_topo_neighbours(t, 3, nb, 8) == 3 && nb[0] == 1 && nb[1] == 2 &&
	   nb[2] == QKDN_NODE_ID_MAX, "neighbours of 3 in ID order");
	ok(qkdn_topo_neighbours(t, 3, nb, 1) == 3 && nb[0] == 1,
	   "neighbours: the count even when max is smaller");
	ok(qkdn_topo_link_count(t) == 4, "4 links");
	ok(qkdn_topo_node_del(t, 3) == 0 && qkdn_topo_link_count(t) == 1 &&
	   qkdn_topo_node_count(t) == 3, "deleting node 3 deletes its 3 links");
	ok(qkdn_topo_neighbours(t, 1, nb, 8) == 1 && nb[0] == 2, "node 1 keeps only 2");
	ok(qkdn_topo_neighbours(t, QKDN_NODE_ID_MAX, nb, 8) == 0, "node max has none");
	ok(qkdn_topo_node_del(t, 3) == -ENOENT, "node 3 again: ENOENT");
	ok(qkdn_topo_link_del(t, 1, 3) == -ENOENT, "link 1-3 gone: ENOENT");
	ok(qkdn_topo_link_del(t, 2, 1) == 0 && qkdn_topo_link_count(t) == 0, "link 2-1 deleted");
	ok(qkdn_topo_node_add(t, 3) == 0 && qkdn_topo_node_get(t, 3, &state, &up) == 0 &&
	   state == QKDN_TOPO_IN_SERVICE && up, "node 3 back, in service and up (slot reused)");
	ok(qkdn_topo_mem_bytes(t) > sizeof(struct qkdn_link_metrics), "memory is counted");
	qkdn_topo_free(t);
	qkdn_topo_free(NULL);

	ok(qkdn_topo_state_parse("standby") == QKDN_TOPO_STANDBY &&
	   qkdn_topo_state_parse("in-service") == QKDN_TOPO_IN_SERVICE &&
	   qkdn_topo_state_parse("up") == -EINVAL && qkdn_topo_state_parse(NULL) == -EINVAL,
	   "state names parse");
	ok(!strcmp(qkdn_topo_state_name(QKDN_TOPO_OUT_OF_SERVICE), "out-of-service") &&
	   !qkdn_topo_state_name(0) && !strcmp(qkdn_protection_name(2), "node-disjoint") &&
	   !qkdn_protection_name(3), "state and protection names");
}

/*
 *   1 ----- 2 ----- 3
 *   |               |
 *   4 ----- 5 ----- 6 ----- 7
 */
static const struct edge two_ways[] = {
	{ 1, 2 }, { 2, 3 }, { 3, 6 }, { 1, 4 }, { 4, 5 }, { 5, 6 }, { 6, 7 },
};

static void test_paths(void)
{
	struct qkdn_topo *t = build(two_ways, QKDN_ARRAY_SIZE(two_ways));
	struct qkdn_link_metrics m = good;
	struct qkdn_route_opts o;
	struct qkdn_path p = { 0 };

	ok(qkdn_route_compute(t, 1, 7, 128, NULL, &p) == 0 && PATH_IS(&p, 1, 2, 3, 6, 7) &&
	   p.cost == 4 * GOOD_COST, "equal costs: 1-2-3-6-7, the smaller IDs first");
	ok(p.capacity == qkdn_route_hop_capacity(1 << 20, 32, 32), "capacity of the path");
	ok(qkdn_route_compute(t, 7, 1, 128, NULL, &p) == 0 && PATH_IS(&p, 7, 6, 3, 2, 1),
	   "7 to 1: 7-6-3-2-1 (6's neighbour 3 < 5)");
	ok(qkdn_route_compute(t, 1, 2, 128, NULL, &p) == 0 && PATH_IS(&p, 1, 2) &&
	   p.cost == GOOD_COST, "neighbours: one hop");

	/* consumption at 60% of generation on 2-3: + 2000 * 0.36 = 720 */
	m.consume_rate = 600;
	qkdn_topo_link_set_metrics(t, 2, 3, &m);
	ok(qkdn_route_compute(t, 1, 7, 128, NULL, &p) == 0 && PATH_IS(&p, 1, 4, 5, 6, 7) &&
	   p.cost == 4 * GOOD_COST, "2-3 drained at 60%%: via 4-5");
	qkdn_route_opts_default(&o);
	o.drain_weight = 0;
	ok(qkdn_route_compute(t, 1, 7, 128, &o, &p) == 0 && PATH_IS(&p, 1, 2, 3, 6, 7),
	   "drain weight 0: back through 2-3");
	qkdn_topo_link_set_metrics(t, 2, 3, &good);

	/* 2-3 nearly empty: 4096 bytes, a 128-byte relay takes 192 of them:
	 * 1000 + 4000 * (65536 - 3904) / 65536 + 125 = 4886 */
	set_avail(t, 2, 3, 4096);
	ok(qkdn_route_compute(t, 1, 7, 128, NULL, &p) == 0 && PATH_IS(&p, 1, 4, 5, 6, 7),
	   "2-3 nearly empty: via 4-5");
	ok(qkdn_route_compute(t, 2, 3, 128, NULL, &p) == 0 && PATH_IS(&p, 2, 3) &&
	   p.cost == 4886, "2 to 3 still direct, at cost 4886 (the way round is 5 x 1125)");
	ok(p.capacity == qkdn_route_hop_capacity(4096, 32, 32) && p.capacity == 3968,
	   "capacity is 2-3's: 3968 bytes");
	ok(qkdn_route_compute(t, 2, 3, 4000, NULL, &p) == 0 && PATH_IS(&p, 2, 1, 4, 5, 6, 3),
	   "4000 bytes need 4128 a hop, more than 2-3 has: the way round");
	ok(qkdn_route_compute(t, 2, 3, 3968, NULL, &p) == 0 && PATH_IS(&p, 2, 3) &&
	   p.cost == 1000 + 4000 + 125, "3968 bytes fit 2-3 exactly, emptying it");
	ok(qkdn_route_compute(t, 1, 3, 1 << 20, NULL, &p) == -EAGAIN,
	   "1 MiB fits nowhere: EAGAIN");
	set_avail(t, 2, 3, 0);
	ok(qkdn_route_compute(t, 2, 3, 0, NULL, &p) == 0 && PATH_IS(&p, 2, 3) &&
	   p.cost == 1000 + 4000 + 125 && p.capacity == 0,
	   "amount 0: an empty link still routes, at the full key penalty");
	qkdn_topo_link_set_metrics(t, 2, 3, &good);
	qkdn_path_release(&p);
	qkdn_path_release(&p);
	qkdn_topo_free(t);
}

static void test_states(void)
{
	struct qkdn_topo *t = build(two_ways, QKDN_ARRAY_SIZE(two_ways));
	struct qkdn_link_metrics m = good;
	struct qkdn_route_opts o;
	struct qkdn_path p = { 0 };
	int s;

	for (s = QKDN_TOPO_OUT_OF_SERVICE; s <= QKDN_TOPO_RESERVED; s++) {
		qkdn_topo_link_set_state(t, 2, 3, s);
		ok(qkdn_route_compute(t, 1, 7, 128, NULL, &p) == 0 &&
		   PATH_IS(&p, 1, 4, 5, 6, 7), "link 2-3 %s: avoided", qkdn_topo_state_name(s));
	}
	qkdn_route_opts_default(&o);
	o.use_standby = true;
	qkdn_topo_link_set_state(t, 2, 3, QKDN_TOPO_STANDBY);
	ok(qkdn_route_compute(t, 1, 7, 128, &o, &p) == 0 && PATH_IS(&p, 1, 2, 3, 6, 7),
	   "standby link used with use_standby");
	qkdn_topo_link_set_state(t, 2, 3, QKDN_TOPO_RESERVED);
	ok(qkdn_route_compute(t, 1, 7, 128, &o, &p) == 0 && PATH_IS(&p, 1, 4, 5, 6, 7),
	   "reserved link avoided even with use_standby");
	qkdn_topo_link_set_state(t, 2, 3, QKDN_TOPO_IN_SERVICE);
	m.up = false;
	qkdn_topo_link_set_metrics(t, 2, 3, &m);
	ok(qkdn_route_compute(t, 1, 7, 128, NULL, &p) == 0 && PATH_IS(&p, 1, 4, 5, 6, 7),
	   "link 2-3 down: avoided");
	qkdn_topo_link_set_metrics(t, 2, 3, &good);

	for (s = QKDN_TOPO_OUT_OF_SERVICE; s <= QKDN_TOPO_RESERVED; s++) {
		qkdn_topo_node_set_state(t, 2, s);
		ok(qkdn_route_compute(t, 1, 7, 128, NULL, &p) == 0 &&
		   PATH_IS(&p, 1, 4, 5, 6, 7), "node 2 %s: not transited",
		   qkdn_topo_state_name(s));
		ok(qkdn_route_compute(t, 2, 7, 128, NULL, &p) == -EHOSTDOWN,
		   "node 2 %s as source: EHOSTDOWN", qkdn_topo_state_name(s));
	}
	qkdn_topo_node_set_state(t, 2, QKDN_TOPO_IN_SERVICE);
	qkdn_topo_node_set_up(t, 2, false);
	ok(qkdn_route_compute(t, 1, 7, 128, NULL, &p) == 0 && PATH_IS(&p, 1, 4, 5, 6, 7),
	   "node 2 down: not transited");
	ok(qkdn_route_compute(t, 7, 2, 128, NULL, &p) == -EHOSTDOWN,
	   "node 2 down as destination: EHOSTDOWN");
	qkdn_topo_node_set_up(t, 2, true);
	qkdn_topo_node_set_state(t, 6, QKDN_TOPO_OUT_OF_SERVICE);
	ok(qkdn_route_compute(t, 1, 7, 0, NULL, &p) == -EHOSTUNREACH,
	   "6 is the only way to 7 and out of service: EHOSTUNREACH");
	ok(qkdn_route_compute(t, 1, 5, 128, NULL, &p) == 0 && PATH_IS(&p, 1, 4, 5),
	   "1 to 5 still fine");
	qkdn_topo_node_set_state(t, 6, QKDN_TOPO_IN_SERVICE);

	/* QBER: at the threshold 1000 + 1000; above it excluded */
	m = good;
	m.qber = 0.08;
	qkdn_topo_link_set_metrics(t, 6, 7, &m);
	ok(qkdn_route_compute(t, 6, 7, 128, NULL, &p) == 0 && p.cost == 2000,
	   "QBER 0.08 at the threshold: usable at cost 2000");
	m.qber = 0.0801;
	qkdn_topo_link_set_metrics(t, 6, 7, &m);
	ok(qkdn_route_compute(t, 6, 7, 128, NULL, &p) == -EHOSTUNREACH,
	   "QBER 0.0801 above 0.08: excluded, EHOSTUNREACH");
	qkdn_route_opts_default(&o);
	o.qber_max = 0.11;
	ok(qkdn_route_compute(t, 6, 7, 128, &o, &p) == 0 && p.cost == 1000 + 728,
	   "threshold 0.11: usable at 1000 + 1000 * 0.0801 / 0.11");
	m.qber = 0.03;
	qkdn_topo_link_set_metrics(t, 2, 3, &m);
	ok(qkdn_route_compute(t, 1, 6, 128, NULL, &p) == 0 && PATH_IS(&p, 1, 4, 5, 6),
	   "QBER 3%% on 2-3 (cost +375): via 4-5");
	qkdn_path_release(&p);
	qkdn_topo_free(t);
}

static bool disjoint_nodes(const struct qkdn_path *a, const struct qkdn_path *b)
{
	uint32_t i;

	for (i = 1; i < a->hops; i++)
		if (qkdn_path_has_node(b, a->nodes[i]))
			return false;
	return true;
}

static bool disjoint_links(const struct qkdn_path *a, const struct qkdn_path *b)
{
	uint32_t i;

	for (i = 0; i < a->hops; i++)
		if (qkdn_path_has_link(b, a->nodes[i], a->nodes[i + 1]))
			return false;
	return true;
}

/*
 * The trap: 1-2-3-4 is a cheapest path (and the lexicographically first),
 * and no path from 1 to 4 avoids both 2 and 3. Yet 1-2-6-4 and 1-5-3-4
 * are node-disjoint.
 *
 *       2 ----- 6
 *      / \       \
 *     1   \       4
 *      \   \     /
 *       5 - 3 --+
 */
static const struct edge trap[] = {
	{ 1, 2 }, { 2, 3 }, { 3, 4 }, { 1, 5 }, { 5, 3 }, { 2, 6 }, { 6, 4 },
};

static void test_protection(void)
{
	struct qkdn_topo *t = build(trap, QKDN_ARRAY_SIZE(trap));
	struct qkdn_route_pair pair = { 0 };
	struct qkdn_path p = { 0 };

	ok(qkdn_route_compute(t, 1, 4, 128, NULL, &p) == 0 && PATH_IS(&p, 1, 2, 3, 4),
	   "trap: the cheapest path is 1-2-3-4");
	qkdn_topo_node_set_state(t, 2, QKDN_TOPO_OUT_OF_SERVICE);
	qkdn_topo_node_set_state(t, 3, QKDN_TOPO_OUT_OF_SERVICE);
	ok(qkdn_route_compute(t, 1, 4, 128, NULL, &p) == -EHOSTUNREACH,
	   "trap: without its nodes nothing is left (remove-and-rerun fails)");
	qkdn_topo_node_set_state(t, 2, QKDN_TOPO_IN_SERVICE);
	qkdn_topo_node_set_state(t, 3, QKDN_TOPO_IN_SERVICE);
	ok(qkdn_route_protected(t, 1, 4, 128, NULL, &pair) == 0 &&
	   pair.kind == QKDN_PROTECTION_NODE_DISJOINT, "trap: a node-disjoint pair");
	ok(PATH_IS(&pair.working, 1, 2, 6, 4) && PATH_IS(&pair.protection, 1, 5, 3, 4) &&
	   pair.working.cost == 3 * GOOD_COST && pair.protection.cost == 3 * GOOD_COST,
	   "trap: working 1-2-6-4, protection 1-5-3-4");
	ok(qkdn_route_protected(t, 4, 1, 128, NULL, &pair) == 0 &&
	   pair.kind == QKDN_PROTECTION_NODE_DISJOINT &&
	   PATH_IS(&pair.working, 4, 3, 5, 1) && PATH_IS(&pair.protection, 4, 6, 2, 1),
	   "trap reversed: 4-3-5-1 and 4-6-2-1");
	qkdn_path_release(&p);
	qkdn_topo_free(t);

	/*
	 *   2       5
	 *  / \     / \
	 * 1   4 --+   7     every path from 1 to 7 crosses 4
	 *  \ /     \ /
	 *   3       6
	 */
	static const struct edge bowtie[] = {
		{ 1, 2 }, { 1, 3 }, { 2, 4 }, { 3, 4 }, { 4, 5 }, { 4, 6 }, { 5, 7 }, { 6, 7 },
	};
	t = build(bowtie, QKDN_ARRAY_SIZE(bowtie));
	ok(qkdn_route_protected(t, 1, 7, 128, NULL, &pair) == 0 &&
	   pair.kind == QKDN_PROTECTION_LINK_DISJOINT, "bowtie: only link-disjoint");
	ok(PATH_IS(&pair.working, 1, 2, 4, 5, 7) && PATH_IS(&pair.protection, 1, 3, 4, 6, 7),
	   "bowtie: 1-2-4-5-7 and 1-3-4-6-7");
	ok(disjoint_links(&pair.working, &pair.protection) &&
	   !disjoint_nodes(&pair.working, &pair.protection), "bowtie: they share node 4");
	qkdn_topo_link_set_state(t, 4, 6, QKDN_TOPO_OUT_OF_SERVICE);
	ok(qkdn_route_protected(t, 1, 7, 128, NULL, &pair) == 0 &&
	   pair.kind == QKDN_PROTECTION_NONE && PATH_IS(&pair.working, 1, 2, 4, 5, 7) &&
	   pair.protection.hops == 0, "bowtie with 4-6 out of service: no protection");
	set_avail(t, 1, 2, 500);
	set_avail(t, 1, 3, 500);
	ok(qkdn_route_protected(t, 1, 7, 1024, NULL, &pair) == -EAGAIN &&
	   pair.kind == QKDN_PROTECTION_NONE, "no path carries 1024 bytes: EAGAIN");
	ok(qkdn_route_protected(t, 1, 1, 128, NULL, &pair) == -EINVAL, "src == dst: EINVAL");
	qkdn_route_pair_release(&pair);
	qkdn_route_pair_release(&pair);
	qkdn_topo_free(t);
}

/*
 *     +-- 2 --+
 *    /         \
 *   1 --- 3 --- 5       capacities: via 2 128 keys, via 3 192, via 4 64
 *    \         /
 *     +-- 4 --+
 */
static void test_multipath(void)
{
	static const struct edge three[] = {
		{ 1, 2 }, { 2, 5 }, { 1, 3 }, { 3, 5 }, { 1, 4 }, { 4, 5 },
	};
	struct qkdn_topo *t = build(three, QKDN_ARRAY_SIZE(three));
	struct qkdn_multipath mp = { 0 };
	struct qkdn_route_opts o;
	struct qkdn_link_metrics m = good;

	/* 2112 bytes: one full relay of 64 keys of 32 bytes a hop */
	set_avail(t, 1, 2, 2 * 2112);
	set_avail(t, 2, 5, 2 * 2112);
	set_avail(t, 1, 3, 3 * 2112);
	set_avail(t, 3, 5, 3 * 2112);
	set_avail(t, 1, 4, 2112);
	set_avail(t, 4, 5, 2112);
	ok(qkdn_route_multipath(t, 1, 5, 6144, NULL, &mp) == 0 && mp.count == 1 &&
	   PATH_IS(&mp.paths[0], 1, 3, 5) && mp.amount[0] == 6144,
	   "6144 bytes fit 1-3-5 alone");
	ok(qkdn_route_multipath(t, 1, 5, 8192, NULL, &mp) == 0 && mp.count == 2,
	   "8192 bytes: two paths");
	ok(PATH_IS(&mp.paths[0], 1, 3, 5) && PATH_IS(&mp.paths[1], 1, 2, 5),
	   "the two largest (and cheapest): 1-3-5, 1-2-5");
	ok(mp.amount[0] == 154 * 32 && mp.amount[1] == 102 * 32,
	   "split 192:128 of 256 keys: 154 and 102 keys");
	ok(qkdn_route_multipath(t, 1, 5, 8190, NULL, &mp) == 0 && mp.count == 2 &&
	   mp.amount[0] + mp.amount[1] == 8192, "8190 bytes: whole keys, 8192");
	ok(qkdn_route_multipath(t, 1, 5, 12288, NULL, &mp) == 0 && mp.count == 3 &&
	   PATH_IS(&mp.paths[2], 1, 4, 5) && mp.amount[0] == 6144 &&
	   mp.amount[1] == 4096 && mp.amount[2] == 2048, "12288 bytes: all three, full");
	ok(qkdn_route_multipath(t, 1, 5, 12289, NULL, &mp) == -EAGAIN && mp.count == 0,
	   "12289 bytes: more than all three: EAGAIN");
	qkdn_route_opts_default(&o);
	o.max_paths = 2;
	ok(qkdn_route_multipath(t, 1, 5, 12288, &o, &mp) == -EAGAIN,
	   "12288 bytes in at most 2 paths: EAGAIN");
	o.max_paths = 1;
	ok(qkdn_route_multipath(t, 1, 5, 8192, &o, &mp) == -EAGAIN, "max_paths 1: EAGAIN");
	ok(qkdn_route_multipath(t, 1, 5, 0, NULL, &mp) == -EINVAL, "amount 0: EINVAL");
	o.max_paths = QKDN_ROUTE_PATHS_MAX + 1;
	ok(qkdn_route_multipath(t, 1, 5, 8192, &o, &mp) == -EINVAL, "max_paths 9: EINVAL");
	qkdn_topo_free(t);

	/*
	 * Four ways from 1 to 6: via 2 and 3, cheap and small (64 keys);
	 * via 4 and 5, dear (QBER 7%) and large (192 keys). 256 keys: the
	 * cheapest 2 do not cover, the cheapest 3 would; but 2 paths that
	 * can each carry 128 keys do, and fewer paths win.
	 */
	static const struct edge four[] = {
		{ 1, 2 }, { 2, 6 }, { 1, 3 }, { 3, 6 }, { 1, 4 }, { 4, 6 }, { 1, 5 }, { 5, 6 },
	};
	t = build(four, QKDN_ARRAY_SIZE(four));
	qkdn_route_opts_default(&o);
	o.low_water = 0;
	set_avail(t, 1, 2, 2112);
	set_avail(t, 2, 6, 2112);
	set_avail(t, 1, 3, 2112);
	set_avail(t, 3, 6, 2112);
	m.key_avail = 3 * 2112;
	m.qber = 0.07;
	qkdn_topo_link_set_metrics(t, 1, 4, &m);
	qkdn_topo_link_set_metrics(t, 4, 6, &m);
	qkdn_topo_link_set_metrics(t, 1, 5, &m);
	qkdn_topo_link_set_metrics(t, 5, 6, &m);
	ok(qkdn_route_multipath(t, 1, 6, 8192, &o, &mp) == 0 && mp.count == 2 &&
	   PATH_IS(&mp.paths[0], 1, 4, 6) && PATH_IS(&mp.paths[1], 1, 5, 6) &&
	   mp.amount[0] == 4096 && mp.amount[1] == 4096,
	   "equal shares over the two large paths: 4096 + 4096");
	ok(mp.paths[0].cost == 2 * 1875, "cost of a large path: 2 x (1000 + 875)");
	o.max_paths = 4;
	ok(qkdn_route_multipath(t, 1, 6, 4 * 2048 + 2 * 6144, &o, &mp) == -EAGAIN,
	   "more than all four: EAGAIN");
	ok(qkdn_route_multipath(t, 1, 6, 2 * 2048 + 2 * 6144, &o, &mp) == 0 && mp.count == 4 &&
	   PATH_IS(&mp.paths[0], 1, 2, 6) && PATH_IS(&mp.paths[3], 1, 5, 6) &&
	   mp.amount[0] == 2048 && mp.amount[1] == 2048 && mp.amount[2] == 6144 &&
	   mp.amount[3] == 6144, "exactly all four, in cost order: small ones first");
	qkdn_topo_node_set_state(t, 6, QKDN_TOPO_RESERVED);
	ok(qkdn_route_multipath(t, 1, 6, 8192, &o, &mp) == -EHOSTDOWN,
	   "destination reserved: EHOSTDOWN");
	qkdn_multipath_release(&mp);
	qkdn_topo_free(t);
}

static void test_next_hops(void)
{
	struct qkdn_topo *t = build(two_ways, QKDN_ARRAY_SIZE(two_ways));
	struct qkdn_route_hop hop[8];
	struct qkdn_path p = { 0 };
	static const struct qkdn_route_hop want[] = {
		{ 1, 6, 4 }, { 4, 6, 5 }, { 5, 6, 6 },
		{ 6, 1, 5 }, { 5, 1, 4 }, { 4, 1, 1 },
	};

	ok(qkdn_path_next_hops(&p, hop, 8) == -EINVAL, "empty path: EINVAL");
	set_avail(t, 2, 3, 0);
	ok(qkdn_route_compute(t, 1, 6, 128, NULL, &p) == 0 && PATH_IS(&p, 1, 4, 5, 6),
	   "path 1-4-5-6");
	ok(qkdn_path_next_hops(&p, hop, 5) == -ENOSPC, "5 entries are too few: ENOSPC");
	ok(qkdn_path_next_hops(&p, hop, 8) == 6 && !memcmp(hop, want, sizeof(want)),
	   "6 entries: towards 6 forward, towards 1 back");
	ok(qkdn_path_has_node(&p, 1) && qkdn_path_has_node(&p, 5) &&
	   !qkdn_path_has_node(&p, 2), "has_node");
	ok(qkdn_path_has_link(&p, 4, 5) && qkdn_path_has_link(&p, 5, 4) &&
	   qkdn_path_has_link(&p, 5, 6) && !qkdn_path_has_link(&p, 1, 5) &&
	   !qkdn_path_has_link(&p, 6, 7), "has_link, either order");
	qkdn_path_release(&p);
	ok(!qkdn_path_has_node(&p, 1) && !qkdn_path_has_link(&p, 1, 4),
	   "a released path has nothing");
	qkdn_topo_free(t);
}

static void test_bad_input(void)
{
	struct qkdn_topo *t = build(two_ways, QKDN_ARRAY_SIZE(two_ways));
	struct qkdn_route_opts o;
	struct qkdn_path p = { 0 };

	ok(qkdn_route_compute(t, 1, 9, 128, NULL, &p) == -ENOENT, "unknown destination: ENOENT");
	ok(qkdn_route_compute(t, 9, 1, 128, NULL, &p) == -ENOENT, "unknown source: ENOENT");
	ok(qkdn_route_compute(t, 3, 3, 128, NULL, &p) == -EINVAL, "src == dst: EINVAL");
	ok(qkdn_route_compute(t, 0, 3, 128, NULL, &p) == -EINVAL, "source 0: EINVAL");
	ok(qkdn_route_compute(t, 1, 0xffffffff, 128, NULL, &p) == -EINVAL,
	   "destination 0xffffffff: EINVAL");
	ok(qkdn_route_compute(t, 1, 7, QKDN_ROUTE_AMOUNT_MAX + 1, NULL, &p) == -ERANGE,
	   "amount above QKDN_ROUTE_AMOUNT_MAX: ERANGE");
	ok(qkdn_route_compute(t, 1, 7, QKDN_ROUTE_AMOUNT_MAX, NULL, &p) == -EAGAIN,
	   "amount QKDN_ROUTE_AMOUNT_MAX: valid, fits nowhere: EAGAIN");
	qkdn_route_opts_default(&o);
	o.key_len = 36;
	ok(qkdn_route_compute(t, 1, 7, 128, &o, &p) == -EINVAL, "key_len 36: EINVAL");
	o.key_len = 8;
	ok(qkdn_route_compute(t, 1, 7, 128, &o, &p) == -EINVAL, "key_len 8: EINVAL");
	o.key_len = 1032;
	ok(qkdn_route_compute(t, 1, 7, 128, &o, &p) == -EINVAL, "key_len 1032: EINVAL");
	qkdn_route_opts_default(&o);
	o.hop_cost = 0;
	ok(qkdn_route_compute(t, 1, 7, 128, &o, &p) == -EINVAL, "hop_cost 0: EINVAL");
	qkdn_route_opts_default(&o);
	o.key_weight = QKDN_ROUTE_WEIGHT_MAX + 1;
	ok(qkdn_route_compute(t, 1, 7, 128, &o, &p) == -EINVAL, "key_weight too big: EINVAL");
	qkdn_route_opts_default(&o);
	o.qber_max = 1.5;
	ok(qkdn_route_compute(t, 1, 7, 128, &o, &p) == -EINVAL, "qber_max 1.5: EINVAL");
	o.qber_max = NAN;
	ok(qkdn_route_protected(t, 1, 7, 128, &o, &(struct qkdn_route_pair){ 0 }) == -EINVAL,
	   "qber_max NaN: EINVAL");
	qkdn_route_opts_default(&o);
	o.low_water = QKDN_ROUTE_AMOUNT_MAX + 1;
	ok(qkdn_route_compute(t, 1, 7, 128, &o, &p) == -EINVAL, "low_water too big: EINVAL");
	qkdn_route_opts_default(&o);
	o.max_paths = 0;
	ok(qkdn_route_compute(t, 1, 7, 128, &o, &p) == -EINVAL, "max_paths 0: EINVAL");
	qkdn_route_opts_default(&o);
	o.key_len = 1024;
	o.low_water = 0;
	o.qber_max = 0;
	ok(qkdn_route_compute(t, 1, 7, 128, &o, &p) == -EHOSTUNREACH,
	   "qber_max 0: every link with QBER above 0 excluded");
	qkdn_path_release(&p);
	qkdn_topo_free(t);
}

/* Brute force over small random graphs */

#define BF_NODES 8

struct bf {
	struct qkdn_topo *t;
	uint32_t id[BF_NODES];		/* node IDs, not in index order */
	uint64_t cost[BF_NODES][BF_NODES];	/* 0: no usable link */
	uint32_t n;
	/* simple paths from src to dst, as node indexes */
	uint32_t paths[4096][BF_NODES];
	uint32_t len[4096];
	uint64_t pcost[4096];
	uint32_t count;
};

/* The cost of a link as Documentation/routing.rst defines it. */
static uint64_t ref_cost(const struct qkdn_link_metrics *m, int state, bool ends_ok,
			 const struct qkdn_route_opts *o, uint64_t amount)
{
	uint32_t unit = m->unit ? m->unit : QKDN_KEY_UNIT_DEFAULT;
	uint64_t need = qkdn_route_hop_bytes(amount, o->key_len, unit), after, cost;
	double drain;

	if (state != QKDN_TOPO_IN_SERVICE || !m->up || !ends_ok || m->qber > o->qber_max ||
	    need > m->key_avail)
		return 0;
	after = m->key_avail - need;
	cost = o->hop_cost;
	if (after < o->low_water)
		cost += (uint64_t)o->key_weight * (o->low_water - after) / o->low_water;
	if (!m->gen_rate)
		drain = m->consume_rate ? 1.0 : 0.0;
	else if (m->consume_rate > m->gen_rate)
		drain = 1.0;
	else
		drain = (double)m->consume_rate / (double)m->gen_rate;
	cost += (uint64_t)(o->drain_weight * drain * drain);
	cost += (uint64_t)(o->qber_weight * (m->qber / o->qber_max));
	return cost;
}

static void bf_walk(struct bf *b, uint32_t *stack, uint32_t depth, bool *seen,
		    uint32_t dst, uint64_t cost)
{
	uint32_t u = stack[depth - 1], v;

	if (u == dst) {
		if (b->count < QKDN_ARRAY_SIZE(b->paths)) {
			memcpy(b->paths[b->count], stack, depth * sizeof(*stack));
			b->len[b->count] = depth;
			b->pcost[b->count++] = cost;
		}
		return;
	}
	for (v = 0; v < b->n; v++) {
		if (!b->cost[u][v] || seen[v])
			continue;
		seen[v] = true;
		stack[depth] = v;
		bf_walk(b, stack, depth + 1, seen, dst, cost + b->cost[u][v]);
		seen[v] = false;
	}
}

/* Is brute-force path i the same as p? */
static bool bf_same(const struct bf *b, uint32_t i, const struct qkdn_path *p)
{
	uint32_t k;

	if (!p->nodes || p->hops + 1 != b->len[i])
		return false;
	for (k = 0; k < b->len[i]; k++)
		if (p->nodes[k] != b->id[b->paths[i][k]])
			return false;
	return true;
}

/* Lexicographic order of two brute-force paths by node ID. */
static bool bf_before(const struct bf *b, uint32_t i, uint32_t j)
{
	uint32_t k;

	for (k = 0; k < b->len[i] && k < b->len[j]; k++)
		if (b->paths[i][k] != b->paths[j][k])
			return b->id[b->paths[i][k]] < b->id[b->paths[j][k]];
	return b->len[i] < b->len[j];
}

static bool bf_disjoint(const struct bf *b, uint32_t i, uint32_t j, bool nodes)
{
	uint32_t x, y;

	for (x = 0; x + 1 < b->len[i]; x++)
		for (y = 0; y + 1 < b->len[j]; y++) {
			uint32_t a = b->paths[i][x], c = b->paths[i][x + 1];
			uint32_t d = b->paths[j][y], e = b->paths[j][y + 1];

			if ((a == d && c == e) || (a == e && c == d))
				return false;
			if (nodes && x > 0 && y > 0 && a == d)
				return false;
		}
	return true;
}

/* The least total cost of two disjoint paths, or UINT64_MAX. */
static uint64_t bf_pair(const struct bf *b, bool nodes)
{
	uint64_t best = UINT64_MAX;
	uint32_t i, j;

	for (i = 0; i < b->count; i++)
		for (j = i + 1; j < b->count; j++)
			if (b->pcost[i] + b->pcost[j] < best && bf_disjoint(b, i, j, nodes))
				best = b->pcost[i] + b->pcost[j];
	return best;
}

/* Is p a path over usable links of b, of the cost it claims? */
static bool bf_valid(const struct bf *b, const struct qkdn_path *p)
{
	uint64_t cost = 0;
	uint32_t k, x, y;

	for (k = 0; k < p->hops; k++) {
		for (x = 0; x < b->n && b->id[x] != p->nodes[k]; x++)
			;
		for (y = 0; y < b->n && b->id[y] != p->nodes[k + 1]; y++)
			;
		if (x == b->n || y == b->n || !b->cost[x][y])
			return false;
		cost += b->cost[x][y];
	}
	return cost == p->cost;
}

static void test_brute_force(void)
{
	static struct bf b;
	struct qkdn_route_pair pair = { 0 };
	struct qkdn_path p = { 0 };
	struct qkdn_route_opts o;
	unsigned int round, paths_bad = 0, pairs_bad = 0, errors_bad = 0, checked = 0;
	unsigned int node_pairs = 0, link_pairs = 0;

	qkdn_route_opts_default(&o);
	srand(2024);
	for (round = 0; round < 4000; round++) {
		bool node_ok[BF_NODES], seen[BF_NODES] = { 0 };
		uint32_t stack[BF_NODES], x, y, src, dst, best;
		uint64_t amount = rand() % 3 ? (uint64_t)(rand() % 4096) : 0;
		uint64_t total, nd, ld;
		/* every third graph has a cut node between two halves, so that
		 * pairs are often link-disjoint only */
		bool cut = round % 3 == 0;
		int ret;

		memset(&b.cost, 0, sizeof(b.cost));
		b.n = cut ? 6 + rand() % (BF_NODES - 5) : 4 + rand() % (BF_NODES - 3);
		b.t = qkdn_topo_new();
		for (x = 0; x < b.n; x++) {
			/* IDs unrelated to insertion order */
			b.id[x] = 1 + (x * 37 + round) % 97 + 97 * (x % 3);
			qkdn_topo_node_add(b.t, b.id[x]);
			node_ok[x] = rand() % 8 != 0;
			if (!node_ok[x])
				qkdn_topo_node_set_state(b.t, b.id[x], QKDN_TOPO_OUT_OF_SERVICE);
		}
		for (x = 0; x < b.n; x++)
			for (y = x + 1; y < b.n; y++) {
				struct qkdn_link_metrics m = {
					.key_avail = rand() % 100000,
					.consume_rate = rand() % 100,
					.gen_rate = rand() % 100,
					/* few distinct values, so costs tie */
					.qber = (rand() % 5) * 0.02,
					.unit = rand() % 2 ? 32 : 64,
					.up = rand() % 10 != 0,
				};
				int state = rand() % 6 ? QKDN_TOPO_IN_SERVICE : QKDN_TOPO_STANDBY;

				if (rand() % (cut ? 4 : 2) == 0 || (cut && x < b.n / 2 && y > b.n / 2))
					continue;
				if (rand() % 2) {
					m.key_avail = 1 << 20;
					m.consume_rate = 0;
				}
				qkdn_topo_link_add(b.t, b.id[y], b.id[x], &m);
				qkdn_topo_link_set_state(b.t, b.id[x], b.id[y], state);
				b.cost[x][y] = b.cost[y][x] =
					ref_cost(&m, state, node_ok[x] && node_ok[y], &o, amount);
			}
		src = rand() % b.n;
		dst = (src + 1 + rand() % (b.n - 1)) % b.n;
		if (cut) {
			src = rand() % (b.n / 2);
			dst = b.n / 2 + 1 + rand() % (b.n - b.n / 2 - 1);
		}
		b.count = 0;
		stack[0] = src;
		seen[src] = true;
		bf_walk(&b, stack, 1, seen, dst, 0);

		ret = qkdn_route_compute(b.t, b.id[src], b.id[dst], amount, &o, &p);
		if (!node_ok[src] || !node_ok[dst]) {
			errors_bad += ret != -EHOSTDOWN;
			goto next;
		}
		if (!b.count) {
			errors_bad += ret != -EAGAIN && ret != -EHOSTUNREACH;
			errors_bad += !amount && ret != -EHOSTUNREACH;
			goto next;
		}
		checked++;
		for (best = 0, x = 1; x < b.count; x++)
			if (b.pcost[x] < b.pcost[best] ||
			    (b.pcost[x] == b.pcost[best] && bf_before(&b, x, best)))
				best = x;
		if (ret || !bf_same(&b, best, &p) || p.cost != b.pcost[best]) {
			if (!paths_bad++)
				diag("round %u: ret %d cost %llu, brute force %llu", round, ret,
				     (unsigned long long)p.cost,
				     (unsigned long long)b.pcost[best]);
		}

		nd = bf_pair(&b, true);
		ld = bf_pair(&b, false);
		ret = qkdn_route_protected(b.t, b.id[src], b.id[dst], amount, &o, &pair);
		total = pair.working.cost + pair.protection.cost;
		if (ret) {
			pairs_bad++;
		} else if (nd != UINT64_MAX) {
			node_pairs++;
			pairs_bad += pair.kind != QKDN_PROTECTION_NODE_DISJOINT || total != nd ||
				     !disjoint_nodes(&pair.working, &pair.protection);
		} else if (ld != UINT64_MAX) {
			link_pairs++;
			pairs_bad += pair.kind != QKDN_PROTECTION_LINK_DISJOINT || total != ld ||
				     !disjoint_links(&pair.working, &pair.protection);
		} else {
			pairs_bad += pair.kind != QKDN_PROTECTION_NONE ||
				     !bf_same(&b, best, &pair.working);
		}
		if (!ret && pair.kind != QKDN_PROTECTION_NONE)
			pairs_bad += !bf_valid(&b, &pair.working) ||
				     !bf_valid(&b, &pair.protection) ||
				     pair.working.nodes[0] != b.id[src] ||
				     pair.protection.nodes[pair.protection.hops] != b.id[dst] ||
				     pair.working.cost > pair.protection.cost;
next:
		qkdn_topo_free(b.t);
	}
	diag("%u graphs with a path; %u node-disjoint pairs, %u link-disjoint only",
	     checked, node_pairs, link_pairs);
	ok(checked > 1000 && node_pairs > 300 && link_pairs > 60,
	   "random graphs cover paths, node- and link-disjoint pairs");
	ok(paths_bad == 0, "cheapest path and tie-break equal brute force (%u bad)", paths_bad);
	ok(pairs_bad == 0, "protection pairs: kind and least total cost equal brute force "
	   "(%u bad)", pairs_bad);
	ok(errors_bad == 0, "no path: EHOSTDOWN, EAGAIN, EHOSTUNREACH as expected (%u bad)",
	   errors_bad);
	qkdn_path_release(&p);
	qkdn_route_pair_release(&pair);
}

/*
 * Two controllers that learned the same topology in different orders,
 * one with churn (links and nodes deleted and added back), compute the
 * same routes: ties are broken by node ID, not by memory layout.
 */
static void test_deterministic(void)
{
	enum { N = 40 };
	struct qkdn_topo *t1 = qkdn_topo_new(), *t2 = qkdn_topo_new();
	struct qkdn_route_pair p1 = { 0 }, p2 = { 0 };
	struct qkdn_multipath m1 = { 0 }, m2 = { 0 };
	struct qkdn_link_metrics m = good;
	uint32_t a, bnode, diff = 0, i;

	for (a = 1; a <= N; a++)
		qkdn_topo_node_add(t1, a);
	for (a = N; a >= 1; a--)
		qkdn_topo_node_add(t2, 100 + a);	/* churn: deleted below */
	for (a = N; a >= 1; a--)
		qkdn_topo_node_add(t2, a);
	for (a = 1; a <= N; a++)
		qkdn_topo_node_del(t2, 100 + a);
	/* a ring and chords, all links alike: many equal-cost paths */
	m.key_avail = 2112 * 4;
	m.qber = 0;
	for (a = 1; a <= N; a++) {
		qkdn_topo_link_add(t1, a, a % N + 1, &m);
		qkdn_topo_link_add(t1, a, (a * 7) % N + 1, &m);
	}
	for (a = N; a >= 1; a--) {
		qkdn_topo_link_add(t2, (a * 7) % N + 1, a, &m);
		qkdn_topo_link_add(t2, a % N + 1, a, NULL);
		qkdn_topo_link_set_metrics(t2, a, a % N + 1, &m);
	}
	ok(qkdn_topo_link_count(t1) == qkdn_topo_link_count(t2), "same link count (%zu)",
	   qkdn_topo_link_count(t1));
	for (a = 1; a <= N; a += 3)
		for (bnode = 2; bnode <= N; bnode += 5) {
			if (a == bnode)
				continue;
			if (qkdn_route_protected(t1, a, bnode, 2048, NULL, &p1) ||
			    qkdn_route_protected(t2, a, bnode, 2048, NULL, &p2) ||
			    p1.kind != p2.kind || p1.working.hops != p2.working.hops ||
			    p1.protection.hops != p2.protection.hops ||
			    memcmp(p1.working.nodes, p2.working.nodes,
				   (p1.working.hops + 1) * sizeof(uint32_t)) ||
			    memcmp(p1.protection.nodes, p2.protection.nodes,
				   (p1.protection.hops + 1) * sizeof(uint32_t)))
				diff++;
			if (qkdn_route_multipath(t1, a, bnode, 3 * 4096, NULL, &m1) ||
			    qkdn_route_multipath(t2, a, bnode, 3 * 4096, NULL, &m2) ||
			    m1.count != m2.count)
				diff++;
			for (i = 0; i < m1.count && i < m2.count; i++)
				if (m1.amount[i] != m2.amount[i] ||
				    m1.paths[i].hops != m2.paths[i].hops ||
				    memcmp(m1.paths[i].nodes, m2.paths[i].nodes,
					   (m1.paths[i].hops + 1) * sizeof(uint32_t)))
					diff++;
		}
	ok(diff == 0, "protected and multipath routes identical in both (%u differ)", diff);
	qkdn_route_pair_release(&p1);
	qkdn_route_pair_release(&p2);
	qkdn_multipath_release(&m1);
	qkdn_multipath_release(&m2);
	qkdn_topo_free(t1);
	qkdn_topo_free(t2);
}

/* Relays spread over a multipath route in proportion to the shares. */
static void test_split(void)
{
	uint32_t share[3] = { 154, 102, 0 };
	uint64_t sent[3] = { 0 };
	uint32_t one[1] = { 0 };
	bool within = true;
	int i;

	ok(qkdn_route_split_pick(share, sent, 3, 64) == 0, "first relay: the larger share");
	for (int r = 0; r < 1000; r++) {
		i = qkdn_route_split_pick(share, sent, 3, 1);
		if (i < 0 || i == 2)
			break;
		sent[i]++;
		/* Each path within one key of its exact share. */
		within &= (double)sent[0] - (double)(sent[0] + sent[1]) * 154 / 256 < 1.0001 &&
			  (double)sent[1] - (double)(sent[0] + sent[1]) * 102 / 256 < 1.0001;
	}
	ok(sent[0] + sent[1] == 1000 && sent[2] == 0 && within,
	   "1000 one-key relays: %llu and %llu, never more than a key ahead, none on share 0",
	   (unsigned long long)sent[0], (unsigned long long)sent[1]);
	memset(sent, 0, sizeof(sent));
	for (int r = 0; r < 8; r++) {
		i = qkdn_route_split_pick(share, sent, 3, 64);
		sent[i] += 64;
	}
	ok(sent[0] == 320 && sent[1] == 192, "8 relays of 64 keys: 5 and 3 (%llu, %llu)",
	   (unsigned long long)sent[0], (unsigned long long)sent[1]);
	share[0] = 0;
	ok(qkdn_route_split_pick(share, sent, 3, 64) == 1, "a path left out: the others carry on");
	ok(qkdn_route_split_pick(one, sent, 1, 1) == -1 && qkdn_route_split_pick(share, sent, 0, 1) == -1,
	   "no positive share: -1");
	share[0] = share[1] = 1;
	sent[0] = sent[1] = 5;
	ok(qkdn_route_split_pick(share, sent, 2, 1) == 0, "ties to the lowest index");
	share[0] = UINT32_MAX;
	share[1] = UINT32_MAX - 1;
	sent[0] = sent[1] = UINT64_MAX / 2;
	ok(qkdn_route_split_pick(share, sent, 2, 1) == 0, "no overflow with extreme values");
}

int main(void)
{
	test_hop_bytes();
	test_topology();
	test_paths();
	test_states();
	test_protection();
	test_multipath();
	test_split();
	test_next_hops();
	test_bad_input();
	test_brute_force();
	test_deterministic();
	return tap_done();
}
