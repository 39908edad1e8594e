/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Key relay route computation of the QKDN controller (seed 001 clause 8.1,
 * procedure 10.6; seed 004 protection routes). Pure logic, no I/O: the
 * controller keeps a topology up to date from status reports and asks it
 * for routes. Documentation/routing.rst explains the cost function and the
 * algorithms.
 *
 * Topology
 *   Nodes are KMs, named by their node IDs (1..QKDN_NODE_ID_MAX). Links
 *   are undirected KM links, one per node pair, named by their two ends in
 *   either order. Where two nodes have several QKD links, report the one
 *   with the most keys: the module relays on that one (kernel/relay.c).
 *   Nodes and links carry a configuration state (seed 001 clause 8.2)
 *   and an operational up/down; links carry the metrics of the last
 *   status report. Every update is O(1) or O(log degree) and allocates
 *   only when a node or link is added.
 *
 * Routes
 *   qkdn_route_compute()    cheapest path for a relay of N key bytes
 *   qkdn_route_protected()  working + node- or link-disjoint protection
 *   qkdn_route_multipath()  up to K link-disjoint paths and a split of N
 *   Results are deterministic: equal costs are broken by node ID (see
 *   each function), so two controllers with the same topology agree.
 *
 * Errors are negative errnos:
 *   EINVAL     bad argument: node ID 0 or above QKDN_NODE_ID_MAX, src ==
 *              dst, an unknown state, metrics or options out of range
 *   ENOENT     unknown node or link
 *   EEXIST     node or link already there
 *   ERANGE     amount above QKDN_ROUTE_AMOUNT_MAX
 *   EHOSTDOWN  the source or destination is not in service or down
 *   EAGAIN     paths exist, but none (or no allowed set) can carry the
 *              amount now: wait for keys, or ask for less / multipath
 *   EHOSTUNREACH  no usable path at all, whatever the amount
 *   ENOSPC     an output array is too small
 *   ENOMEM
 *
 * A topology is not thread-safe: route computations reuse scratch space
 * kept in it. Use one per thread or a lock.
 */
#ifndef QKDN_ROUTE_H
#define QKDN_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest request, in key bytes (256 TiB): keeps every sum in 64 bits. */
#define QKDN_ROUTE_AMOUNT_MAX		(1ULL << 48)
/* Most paths qkdn_route_multipath() returns. */
#define QKDN_ROUTE_PATHS_MAX		8

/* Configuration state of a KM or KM link (seed 001 clause 8.2). */
enum qkdn_topo_state {
	QKDN_TOPO_IN_SERVICE = 1,	/* carries relays */
	QKDN_TOPO_OUT_OF_SERVICE,	/* never used */
	QKDN_TOPO_STANDBY,		/* pre-set spare (seed 004): used only
					 * with qkdn_route_opts.use_standby */
	QKDN_TOPO_RESERVED,		/* held for something else: never used */
};

/* "in-service", "out-of-service", "standby", "reserved"; NULL if unknown. */
const char *qkdn_topo_state_name(int state);
/* The state of such a name, or -EINVAL. */
int qkdn_topo_state_parse(const char *name);

/*
 * What a controller learns about a KM link from status reports (seed 001
 * clause 8.1: "key consumption rate and the residual amount of keys",
 * "QKD link parameters").
 */
struct qkdn_link_metrics {
	uint64_t key_avail;	/* key bytes available to relays: the smaller
				 * of the two ends' encrypting halves */
	uint64_t consume_rate;	/* key bytes/s taken from the link */
	uint64_t gen_rate;	/* key bytes/s the QKD link delivers */
	double qber;		/* quantum bit error rate, 0..1 */
	uint32_t unit;		/* bytes per link key (KMA-key), 0 for
				 * QKDN_KEY_UNIT_DEFAULT, else
				 * QKDN_KEY_UNIT_MIN..QKDN_KEY_UNIT_MAX */
	bool up;		/* both KMs report the link working */
};

struct qkdn_topo;

struct qkdn_topo *qkdn_topo_new(void);
void qkdn_topo_free(struct qkdn_topo *topo);

/* Counts; a generation that changes with every successful update. */
size_t qkdn_topo_node_count(const struct qkdn_topo *topo);
size_t qkdn_topo_link_count(const struct qkdn_topo *topo);
uint64_t qkdn_topo_generation(const struct qkdn_topo *topo);
/* Bytes of memory the topology holds, scratch space included. */
size_t qkdn_topo_mem_bytes(const struct qkdn_topo *topo);

/*
 * Nodes. A new node is in service and up. Deleting a node deletes its
 * links. Errors: EINVAL bad ID or state, EEXIST, ENOENT, ENOMEM.
 */
int qkdn_topo_node_add(struct qkdn_topo *topo, uint32_t node);
int qkdn_topo_node_del(struct qkdn_topo *topo, uint32_t node);
int qkdn_topo_node_set_state(struct qkdn_topo *topo, uint32_t node, int state);
int qkdn_topo_node_set_up(struct qkdn_topo *topo, uint32_t node, bool up);
/* The node's state and up flag (either pointer may be NULL). */
int qkdn_topo_node_get(const struct qkdn_topo *topo, uint32_t node,
		       int *state, bool *up);
/*
 * The node's neighbours (ends of its links, whatever their state), in
 * ascending ID order. Returns how many it has; writes at most max of them.
 * Errors: EINVAL, ENOENT.
 */
int qkdn_topo_neighbours(const struct qkdn_topo *topo, uint32_t node,
			 uint32_t *out, size_t max);

/*
 * Links between two existing nodes a != b, in either order. A new link is
 * in service with the given metrics; NULL means none yet (down, no keys),
 * so it carries nothing until its first report.
 * Errors: EINVAL (a == b, bad ID, state or metrics: qber outside 0..1 or
 * NaN, bad unit), ENOENT (either node, or the link), EEXIST, ENOMEM.
 */
int qkdn_topo_link_add(struct qkdn_topo *topo, uint32_t a, uint32_t b,
		       const struct qkdn_link_metrics *metrics);
int qkdn_topo_link_del(struct qkdn_topo *topo, uint32_t a, uint32_t b);
int qkdn_topo_link_set_state(struct qkdn_topo *topo, uint32_t a, uint32_t b,
			     int state);
int qkdn_topo_link_set_metrics(struct qkdn_topo *topo, uint32_t a, uint32_t b,
			       const struct qkdn_link_metrics *metrics);
/* The link's state and metrics (either pointer may be NULL). */
int qkdn_topo_link_get(const struct qkdn_topo *topo, uint32_t a, uint32_t b,
		       int *state, struct qkdn_link_metrics *metrics);

/*
 * Route options. qkdn_route_opts_default() fills the defaults (in
 * brackets); a NULL options pointer means the defaults. The cost of a
 * usable link for a request that takes h bytes from it (see
 * qkdn_route_hop_bytes()), with after = key_avail - h:
 *
 *   hop_cost
 *   + key_weight   * (low_water - after) / low_water   if after < low_water
 *   + drain_weight * min(consume_rate / gen_rate, 1)^2
 *   + qber_weight  * qber / qber_max
 *
 * rounded down to an integer. A link is not usable if it or either end is
 * not in service (standby counts with use_standby), is down, has qber
 * above qber_max, or cannot carry the request (h > key_avail).
 * Errors of every route function, for bad options: EINVAL.
 */
struct qkdn_route_opts {
	uint32_t key_len;	/* bytes per relayed key [32], a multiple of
				 * 8 in QKDN_KEY_UNIT_MIN..QKDN_KEY_UNIT_MAX,
				 * as QKDN_CMD_RELAY's QKDN_A_KEY_SIZE / 8 */
	double qber_max;	/* [0.08] links above are excluded, 0..1 */
	uint64_t low_water;	/* [65536] key bytes; 0: no such penalty */
	uint32_t hop_cost;	/* [1000] 1..QKDN_ROUTE_WEIGHT_MAX */
	uint32_t key_weight;	/* [4000] 0..QKDN_ROUTE_WEIGHT_MAX */
	uint32_t drain_weight;	/* [2000] 0..QKDN_ROUTE_WEIGHT_MAX */
	uint32_t qber_weight;	/* [1000] 0..QKDN_ROUTE_WEIGHT_MAX */
	uint32_t max_paths;	/* [4] multipath: 1..QKDN_ROUTE_PATHS_MAX */
	bool use_standby;	/* [false] standby nodes and links usable */
};

#define QKDN_ROUTE_WEIGHT_MAX		1000000

void qkdn_route_opts_default(struct qkdn_route_opts *opts);

/*
 * Key bytes a relay of amount key bytes takes from a link with unit-byte
 * link keys, at each end, with keys of key_len bytes: the amount is sent
 * as ceil(amount / key_len) keys, in relays of at most QKDN_RELAY_KEYS_MAX
 * keys and QKDN_RELAY_BYTES_ANY_UNIT bytes; each relay costs its RELAY frame,
 * ceil((32 + keys * key_len) / unit) link keys, and its ACK,
 * ceil(32 / unit) link keys (Documentation/key-relay.rst, "Link keys
 * consumed per hop"). 0 for amount 0. key_len and unit must be valid.
 */
uint64_t qkdn_route_hop_bytes(uint64_t amount, uint32_t key_len,
			      uint32_t unit);
/* The most key bytes (whole keys) such a link can relay with key_avail. */
uint64_t qkdn_route_hop_capacity(uint64_t key_avail, uint32_t key_len,
				 uint32_t unit);

/*
 * A path: nodes[0] is the source, nodes[hops] the destination. A zeroed
 * struct is an empty path; the functions below grow nodes as needed, so
 * one struct can be reused for many computations. Release with
 * qkdn_path_release().
 */
struct qkdn_path {
	uint32_t *nodes;
	uint32_t hops;		/* links on the path; nodes holds hops + 1 */
	uint64_t cost;		/* sum of its link costs */
	uint64_t capacity;	/* key bytes it can relay now: its weakest
				 * link's qkdn_route_hop_capacity() */
	size_t nodes_cap;	/* room in nodes (internal) */
};

void qkdn_path_release(struct qkdn_path *path);
/* Does the path go through node (ends included)? Over link a-b? */
bool qkdn_path_has_node(const struct qkdn_path *path, uint32_t node);
bool qkdn_path_has_link(const struct qkdn_path *path, uint32_t a, uint32_t b);

/*
 * The cheapest usable path from src to dst for a relay of amount key
 * bytes (0: no amount check, only a usable path). Of paths of equal cost,
 * the one whose node ID sequence from src is lexicographically smallest.
 * Errors: EINVAL, ENOENT, ERANGE, EHOSTDOWN, EAGAIN, EHOSTUNREACH, ENOMEM.
 */
int qkdn_route_compute(struct qkdn_topo *topo, uint32_t src, uint32_t dst,
		       uint64_t amount, const struct qkdn_route_opts *opts,
		       struct qkdn_path *path);

/* What protection qkdn_route_protected() found. */
enum qkdn_protection {
	QKDN_PROTECTION_NONE,		/* working route only */
	QKDN_PROTECTION_LINK_DISJOINT,	/* shares no link (may share KMs) */
	QKDN_PROTECTION_NODE_DISJOINT,	/* shares no link and no KM but the
					 * two ends */
};

/* "none", "link-disjoint", "node-disjoint"; NULL if unknown. */
const char *qkdn_protection_name(int protection);

struct qkdn_route_pair {
	struct qkdn_path working;
	struct qkdn_path protection;	/* empty (hops 0) with NONE */
	enum qkdn_protection kind;
};

void qkdn_route_pair_release(struct qkdn_route_pair *pair);

/*
 * A working route and a protection route for a relay of amount key bytes
 * (seed 004 Req_C-P 1), both able to carry the whole amount: the
 * node-disjoint pair of least total cost if one exists, else the
 * link-disjoint pair of least total cost, else the cheapest path alone
 * (kind NONE). The pair is found as a whole (Suurballe/Bhandari, a
 * min-cost flow of two units), so a cheapest path that blocks every
 * disjoint partner (a "trap") does not hide a pair. The cheaper of the
 * two is the working route (equal costs: the lexicographically smaller);
 * so the working route need not be qkdn_route_compute()'s path.
 * Errors: as qkdn_route_compute().
 */
int qkdn_route_protected(struct qkdn_topo *topo, uint32_t src, uint32_t dst,
			 uint64_t amount, const struct qkdn_route_opts *opts,
			 struct qkdn_route_pair *pair);

struct qkdn_multipath {
	unsigned int count;
	struct qkdn_path paths[QKDN_ROUTE_PATHS_MAX];
	uint64_t amount[QKDN_ROUTE_PATHS_MAX];	/* key bytes for each path,
						 * whole keys */
};

void qkdn_multipath_release(struct qkdn_multipath *mp);

/*
 * The amount split over link-disjoint paths (seed 004 Req_C-R 1,
 * "multiple key relay routes"). If one path can carry it all, that is
 * qkdn_route_compute()'s path (count 1). Otherwise the fewest paths, at
 * most opts->max_paths, that together can carry it: for each count, the
 * cheapest link-disjoint set whose capacities add up to the amount, or
 * failing that the cheapest set of paths that can each carry an equal
 * share. The amount, rounded up to whole keys, is split in proportion to
 * the paths' capacities; amounts add up to ceil(amount / key_len) *
 * key_len. Paths are ordered by cost. amount must be at least 1.
 * Errors: as qkdn_route_compute(); EAGAIN if no allowed set can carry it.
 */
int qkdn_route_multipath(struct qkdn_topo *topo, uint32_t src, uint32_t dst,
			 uint64_t amount, const struct qkdn_route_opts *opts,
			 struct qkdn_multipath *mp);

/*
 * Spreading relays over the paths of a multipath route in proportion to
 * their shares: which of the n paths the next relay of `keys` keys should
 * take, given share[i] (0: do not use path i) and sent[i], the keys path i
 * has carried so far. The path that stays least ahead of its share after
 * the relay, (sent[i] + keys) / share[i] smallest; ties to the lowest
 * index. -1 if no share is positive. Exact integer arithmetic.
 */
int qkdn_route_split_pick(const uint32_t *share, const uint64_t *sent, unsigned int n,
			  uint32_t keys);

/*
 * One routing table entry: at node, frames for dest go to next_hop
 * (QKDN_CMD_ROUTE_ADD on that node).
 */
struct qkdn_route_hop {
	uint32_t node;
	uint32_t dest;
	uint32_t next_hop;
};

/*
 * The entries a path implies, both ways, since a relay's ACK travels back
 * to the source: for nodes[0..hops-1], dest nodes[hops] via the next node;
 * then for nodes[hops..1], dest nodes[0] via the previous node. That is
 * 2 * hops entries, the ones between neighbours included (the module
 * needs no route to a neighbour, but a stale one would override the link).
 * Returns the count. Errors: EINVAL (empty path), ENOSPC (max too small).
 */
int qkdn_path_next_hops(const struct qkdn_path *path,
			struct qkdn_route_hop *out, size_t max);

#endif
