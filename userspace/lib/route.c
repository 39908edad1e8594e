// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Key relay routes of the QKDN controller: a topology that takes status
 * reports cheaply, and Dijkstra / min-cost flow over a graph built from it
 * for each request. Documentation/routing.rst explains the choices.
 *
 * Every route computation builds a directed graph of the usable links
 * (struct arc, in CSR form; for flows each arc has a residual reverse)
 * and runs one Dijkstra implementation on it:
 *   - one path: Dijkstra on the plain graph (a vertex per node);
 *   - disjoint paths: successive shortest paths of a min-cost flow with
 *     unit capacities (Suurballe/Bhandari), on the plain graph for
 *     link-disjoint paths and on a split graph (an in and an out vertex
 *     per node, joined by a unit arc) for node-disjoint ones.
 * Ties are broken by vertex keys derived from node IDs, never by slot
 * order, so the result does not depend on the order of updates.
 */
#include "route.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/qkdn.h>

#include "util.h"

#define NONE		UINT32_MAX
/* Bytes of link key every Kx frame spends on its one-time MAC key. */
#define KX_MAC_BYTES	32

struct adj {
	uint32_t peer_id;	/* sorted on this */
	uint32_t peer;		/* its node slot */
	uint32_t link;		/* index into topo->links */
};

struct node {
	uint32_t id;		/* 0: free slot */
	uint8_t state;
	bool up;
	struct adj *adj;
	size_t deg, adj_cap;
};

struct link {
	uint32_t a, b;		/* node slots */
	uint8_t state;		/* 0: free slot */
	struct qkdn_link_metrics m;
	/* qkdn_route_hop_capacity() in keys of cap_key_len bytes (0: none
	 * yet), kept because it costs a few divisions per link and route */
	uint32_t cap_key_len;
	uint64_t cap_keys;
};

/* The heap holds its sort keys, so comparisons stay in one array. */
struct heap_entry {
	int64_t dist;
	uint64_t key;
	uint32_t v;
};

/*
 * A directed arc of the route graph: what Dijkstra reads, kept small
 * because on large graphs it is the memory traffic that costs...
 */
struct arc {
	uint32_t to;
	int32_t cap;		/* residual capacity */
	int32_t cost;
};

/* ...and the rest, in an array of its own. */
struct arc_info {
	uint32_t from;
	uint32_t rev;		/* its residual reverse, NONE if none */
	uint32_t link;		/* NONE for a node's internal in->out arc */
	int32_t cap0;		/* capacity before any flow; 0 on reverses */
};

/* The graphs a computation builds */
enum graph_kind {
	GRAPH_PATH,	/* a vertex per node, an arc each way per link */
	GRAPH_LINKS,	/* the same with residual arcs, for flows */
	GRAPH_NODES,	/* in and out vertices per node, residual arcs */
};

/* Per-computation space, kept between calls so routing does not allocate. */
struct scratch {
	uint32_t nv;
	uint32_t *first;	/* nv + 1: arcs of v are first[v]..first[v+1] */
	uint32_t *fill;
	uint64_t *key;		/* tie-break order of vertices */
	int64_t *dist;
	int64_t *pot;		/* min-cost flow potentials */
	uint32_t *pred;		/* arc that reached v */
	struct heap_entry *heap;
	uint32_t *pos;
	uint8_t *mark;
	struct arc *arcs;
	struct arc_info *info;
	uint32_t *used;		/* flow units already assigned to a path */
	uint32_t *lcost;	/* per link: cost, 0 if unusable */
	uint64_t *lcap;		/* per link: keys it can carry */
	size_t first_cap, fill_cap, key_cap, dist_cap, pot_cap, pred_cap;
	size_t heap_cap, pos_cap, mark_cap, arcs_cap, info_cap, used_cap, lcost_cap;
	size_t lcap_cap;
	uint32_t heap_n;
	uint32_t key_len;	/* of the graph being used */
};

struct qkdn_topo {
	struct node *nodes;
	size_t nodes_n, nodes_cap;
	uint32_t *free_nodes;
	size_t free_nodes_n, free_nodes_cap;
	struct link *links;
	size_t links_n, links_cap;
	uint32_t *free_links;
	size_t free_links_n, free_links_cap;
	/* node ID -> slot, open addressing with linear probing */
	uint32_t *hash_id;	/* 0: empty */
	uint32_t *hash_slot;
	size_t hash_cap;	/* a power of two, at least 2 * node_count */
	unsigned int hash_bits;
	size_t node_count, link_count;
	uint64_t generation;
	struct scratch s;
};

/* Names */

static const char *const state_names[] = {
	[QKDN_TOPO_IN_SERVICE] = "in-service",
	[QKDN_TOPO_OUT_OF_SERVICE] = "out-of-service",
	[QKDN_TOPO_STANDBY] = "standby",
	[QKDN_TOPO_RESERVED] = "reserved",
};

static bool state_valid(int state)
{
	return state >= QKDN_TOPO_IN_SERVICE && state <= QKDN_TOPO_RESERVED;
}

const char *qkdn_topo_state_name(int state)
{
	return state_valid(state) ? state_names[state] : NULL;
}

int qkdn_topo_state_parse(const char *name)
{
	int state;

	for (state = QKDN_TOPO_IN_SERVICE; name && state <= QKDN_TOPO_RESERVED; state++)
		if (!strcmp(name, state_names[state]))
			return state;
	return -EINVAL;
}

const char *qkdn_protection_name(int protection)
{
	switch (protection) {
	case QKDN_PROTECTION_NONE:
		return "none";
	case QKDN_PROTECTION_LINK_DISJOINT:
		return "link-disjoint";
	case QKDN_PROTECTION_NODE_DISJOINT:
		return "node-disjoint";
	}
	return NULL;
}

/* Node ID hash */

static size_t hash_home(const struct qkdn_topo *t, uint32_t id)
{
	return (size_t)((id * 0x9e3779b97f4a7c15ULL) >> (64 - t->hash_bits));
}

static uint32_t slot_of(const struct qkdn_topo *t, uint32_t id)
{
	size_t mask = t->hash_cap - 1, i;

	if (!t->hash_cap)
		return NONE;
	for (i = hash_home(t, id); t->hash_id[i]; i = (i + 1) & mask)
		if (t->hash_id[i] == id)
			return t->hash_slot[i];
	return NONE;
}

static void hash_put(struct qkdn_topo *t, uint32_t id, uint32_t slot)
{
	size_t mask = t->hash_cap - 1, i;

	for (i = hash_home(t, id); t->hash_id[i]; i = (i + 1) & mask)
		;
	t->hash_id[i] = id;
	t->hash_slot[i] = slot;
}

/* Room for one more node ID, keeping the table at most half full. */
static int hash_reserve(struct qkdn_topo *t)
{
	uint32_t *old_id = t->hash_id, *old_slot = t->hash_slot;
	size_t old_cap = t->hash_cap, i;
	unsigned int bits = t->hash_bits ? t->hash_bits : 4;

	if (2 * (t->node_count + 1) <= t->hash_cap)
		return 0;
	while ((size_t)1 << bits < 2 * (t->node_count + 1))
		bits++;
	t->hash_id = calloc((size_t)1 << bits, sizeof(*t->hash_id));
	t->hash_slot = calloc((size_t)1 << bits, sizeof(*t->hash_slot));
	if (!t->hash_id || !t->hash_slot) {
		free(t->hash_id);
		free(t->hash_slot);
		t->hash_id = old_id;
		t->hash_slot = old_slot;
		return -ENOMEM;
	}
	t->hash_cap = (size_t)1 << bits;
	t->hash_bits = bits;
	for (i = 0; i < old_cap; i++)
		if (old_id[i])
			hash_put(t, old_id[i], old_slot[i]);
	free(old_id);
	free(old_slot);
	return 0;
}

/* Backward-shift deletion: no tombstones, so lookups stay short. */
static void hash_del(struct qkdn_topo *t, uint32_t id)
{
	size_t mask = t->hash_cap - 1, i, j, home;

	for (i = hash_home(t, id); t->hash_id[i] != id; i = (i + 1) & mask)
		;
	for (j = (i + 1) & mask; t->hash_id[j]; j = (j + 1) & mask) {
		home = hash_home(t, t->hash_id[j]);
		/* The entry at j may move to i unless home lies in (i, j]. */
		if (i <= j ? (home > i && home <= j) : (home > i || home <= j))
			continue;
		t->hash_id[i] = t->hash_id[j];
		t->hash_slot[i] = t->hash_slot[j];
		i = j;
	}
	t->hash_id[i] = 0;
}

/* Topology */

struct qkdn_topo *qkdn_topo_new(void)
{
	return calloc(1, sizeof(struct qkdn_topo));
}

static void scratch_free(struct scratch *s)
{
	free(s->first);
	free(s->fill);
	free(s->key);
	free(s->dist);
	free(s->pot);
	free(s->pred);
	free(s->heap);
	free(s->pos);
	free(s->mark);
	free(s->arcs);
	free(s->info);
	free(s->used);
	free(s->lcost);
	free(s->lcap);
}

void qkdn_topo_free(struct qkdn_topo *t)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; i < t->nodes_n; i++)
		free(t->nodes[i].adj);
	free(t->nodes);
	free(t->free_nodes);
	free(t->links);
	free(t->free_links);
	free(t->hash_id);
	free(t->hash_slot);
	scratch_free(&t->s);
	free(t);
}

size_t qkdn_topo_node_count(const struct qkdn_topo *t)
{
	return t->node_count;
}

size_t qkdn_topo_link_count(const struct qkdn_topo *t)
{
	return t->link_count;
}

uint64_t qkdn_topo_generation(const struct qkdn_topo *t)
{
	return t->generation;
}

size_t qkdn_topo_mem_bytes(const struct qkdn_topo *t)
{
	const struct scratch *s = &t->s;
	size_t bytes = sizeof(*t), i;

	bytes += t->nodes_cap * sizeof(*t->nodes);
	for (i = 0; i < t->nodes_n; i++)
		bytes += t->nodes[i].adj_cap * sizeof(struct adj);
	bytes += t->free_nodes_cap * sizeof(uint32_t);
	bytes += t->links_cap * sizeof(*t->links);
	bytes += t->free_links_cap * sizeof(uint32_t);
	bytes += t->hash_cap * (sizeof(*t->hash_id) + sizeof(*t->hash_slot));
	bytes += s->first_cap * sizeof(*s->first) + s->fill_cap * sizeof(*s->fill) +
		 s->key_cap * sizeof(*s->key) + s->dist_cap * sizeof(*s->dist) +
		 s->pot_cap * sizeof(*s->pot) + s->pred_cap * sizeof(*s->pred) +
		 s->heap_cap * sizeof(*s->heap) + s->pos_cap * sizeof(*s->pos) +
		 s->mark_cap * sizeof(*s->mark) + s->arcs_cap * sizeof(*s->arcs) +
		 s->info_cap * sizeof(*s->info) +
		 s->used_cap * sizeof(*s->used) + s->lcost_cap * sizeof(*s->lcost) +
		 s->lcap_cap * sizeof(*s->lcap);
	return bytes;
}

static bool id_valid(uint32_t id)
{
	return id >= 1 && id <= QKDN_NODE_ID_MAX;
}

/* The slot of a node, or a negative errno (EINVAL, ENOENT). */
static int64_t find_node(const struct qkdn_topo *t, uint32_t id)
{
	uint32_t slot;

	if (!id_valid(id))
		return -EINVAL;
	slot = slot_of(t, id);
	return slot == NONE ? -ENOENT : (int64_t)slot;
}

/* Room for at least n elements in *arr, doubling; 0 or -ENOMEM. */
static int reserve(void **arr, size_t *cap, size_t n, size_t size)
{
	size_t new_cap = *cap ? *cap : 8;
	void *p;

	if (n <= *cap)
		return 0;
	while (new_cap < n)
		new_cap *= 2;
	p = realloc(*arr, new_cap * size);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = new_cap;
	return 0;
}

int qkdn_topo_node_add(struct qkdn_topo *t, uint32_t id)
{
	struct node *n;
	uint32_t slot;

	if (!id_valid(id))
		return -EINVAL;
	if (slot_of(t, id) != NONE)
		return -EEXIST;
	if (hash_reserve(t))
		return -ENOMEM;
	if (t->free_nodes_n) {
		slot = t->free_nodes[--t->free_nodes_n];
		n = &t->nodes[slot];
	} else {
		/* Split vertices (2 per slot) must fit in a u32; and room to
		 * free every slot later, so that deleting never allocates. */
		if (t->nodes_n >= NONE / 2 - 1 ||
		    reserve((void **)&t->free_nodes, &t->free_nodes_cap,
			    t->nodes_n + 1, sizeof(*t->free_nodes)))
			return -ENOMEM;
		n = qkdn_grow((void **)&t->nodes, &t->nodes_n, &t->nodes_cap,
			      sizeof(*n));
		if (!n)
			return -ENOMEM;
		slot = t->nodes_n - 1;
	}
	n->id = id;
	n->state = QKDN_TOPO_IN_SERVICE;
	n->up = true;
	n->deg = 0;
	hash_put(t, id, slot);
	t->node_count++;
	t->generation++;
	return 0;
}

/* Position of peer_id in a node's sorted adjacency, or where it would go. */
static size_t adj_search(const struct node *n, uint32_t peer_id, bool *found)
{
	size_t lo = 0, hi = n->deg;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (n->adj[mid].peer_id < peer_id)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < n->deg && n->adj[lo].peer_id == peer_id;
	return lo;
}

static void adj_remove(struct node *n, uint32_t peer_id)
{
	bool found;
	size_t i = adj_search(n, peer_id, &found);

	memmove(&n->adj[i], &n->adj[i + 1], (n->deg - i - 1) * sizeof(*n->adj));
	n->deg--;
}

static int adj_insert(struct node *n, const struct adj *e)
{
	bool found;
	size_t i = adj_search(n, e->peer_id, &found);

	if (!qkdn_grow((void **)&n->adj, &n->deg, &n->adj_cap, sizeof(*n->adj)))
		return -ENOMEM;
	memmove(&n->adj[i + 1], &n->adj[i], (n->deg - 1 - i) * sizeof(*n->adj));
	n->adj[i] = *e;
	return 0;
}

static void link_drop(struct qkdn_topo *t, uint32_t li)
{
	struct link *l = &t->links[li];

	adj_remove(&t->nodes[l->a], t->nodes[l->b].id);
	adj_remove(&t->nodes[l->b], t->nodes[l->a].id);
	l->state = 0;
	/* free_links has room for every slot (qkdn_topo_link_add()) */
	t->free_links[t->free_links_n++] = li;
	t->link_count--;
}

int qkdn_topo_node_del(struct qkdn_topo *t, uint32_t id)
{
	int64_t slot = find_node(t, id);
	struct node *n;

	if (slot < 0)
		return slot;
	n = &t->nodes[slot];
	while (n->deg)
		link_drop(t, n->adj[n->deg - 1].link);
	/* free_nodes has room for every slot (qkdn_topo_node_add()) */
	hash_del(t, id);
	n->id = 0;
	t->free_nodes[t->free_nodes_n++] = slot;
	t->node_count--;
	t->generation++;
	return 0;
}

int qkdn_topo_node_set_state(struct qkdn_topo *t, uint32_t id, int state)
{
	int64_t slot = find_node(t, id);

	if (slot < 0)
		return slot;
	if (!state_valid(state))
		return -EINVAL;
	t->nodes[slot].state = state;
	t->generation++;
	return 0;
}

int qkdn_topo_node_set_up(struct qkdn_topo *t, uint32_t id, bool up)
{
	int64_t slot = find_node(t, id);

	if (slot < 0)
		return slot;
	t->nodes[slot].up = up;
	t->generation++;
	return 0;
}

int qkdn_topo_node_get(const struct qkdn_topo *t, uint32_t id, int *state,
		       bool *up)
{
	int64_t slot = find_node(t, id);

	if (slot < 0)
		return slot;
	if (state)
		*state = t->nodes[slot].state;
	if (up)
		*up = t->nodes[slot].up;
	return 0;
}

int qkdn_topo_neighbours(const struct qkdn_topo *t, uint32_t id, uint32_t *out,
			 size_t max)
{
	int64_t slot = find_node(t, id);
	const struct node *n;
	size_t i;

	if (slot < 0)
		return slot;
	n = &t->nodes[slot];
	for (i = 0; i < n->deg && i < max; i++)
		out[i] = n->adj[i].peer_id;
	return n->deg;
}

/* The index of link a-b, or a negative errno (EINVAL, ENOENT). */
static int64_t find_link(const struct qkdn_topo *t, uint32_t a, uint32_t b)
{
	int64_t sa = find_node(t, a), sb = find_node(t, b);
	const struct node *n;
	bool found;
	size_t i;

	if (sa == -EINVAL || sb == -EINVAL || a == b)
		return -EINVAL;
	if (sa < 0 || sb < 0)
		return -ENOENT;
	/* search the shorter list */
	if (t->nodes[sa].deg <= t->nodes[sb].deg) {
		n = &t->nodes[sa];
		i = adj_search(n, b, &found);
	} else {
		n = &t->nodes[sb];
		i = adj_search(n, a, &found);
	}
	return found ? (int64_t)n->adj[i].link : -ENOENT;
}

static int metrics_check(const struct qkdn_link_metrics *m)
{
	if (!(m->qber >= 0.0 && m->qber <= 1.0))	/* NaN fails too */
		return -EINVAL;
	if (m->unit && (m->unit < QKDN_KEY_UNIT_MIN || m->unit > QKDN_KEY_UNIT_MAX))
		return -EINVAL;
	return 0;
}

int qkdn_topo_link_add(struct qkdn_topo *t, uint32_t a, uint32_t b,
		       const struct qkdn_link_metrics *metrics)
{
	int64_t li = find_link(t, a, b);
	uint32_t sa, sb;
	struct link *l;
	struct adj e;

	if (li >= 0)
		return -EEXIST;
	if (li == -EINVAL)
		return li;
	sa = slot_of(t, a);
	sb = slot_of(t, b);
	if (sa == NONE || sb == NONE)
		return -ENOENT;
	if (metrics && metrics_check(metrics))
		return -EINVAL;
	if (t->free_links_n) {
		li = t->free_links[--t->free_links_n];
		l = &t->links[li];
	} else {
		/* Room to free every link slot later without allocating. */
		if (t->links_n >= NONE - 1 ||
		    reserve((void **)&t->free_links, &t->free_links_cap,
			    t->links_n + 1, sizeof(*t->free_links)))
			return -ENOMEM;
		l = qkdn_grow((void **)&t->links, &t->links_n, &t->links_cap,
			      sizeof(*l));
		if (!l)
			return -ENOMEM;
		li = t->links_n - 1;
	}
	e = (struct adj){ .peer_id = b, .peer = sb, .link = li };
	if (adj_insert(&t->nodes[sa], &e))
		goto nomem;
	e = (struct adj){ .peer_id = a, .peer = sa, .link = li };
	if (adj_insert(&t->nodes[sb], &e)) {
		adj_remove(&t->nodes[sa], b);
		goto nomem;
	}
	memset(l, 0, sizeof(*l));
	l->a = sa;
	l->b = sb;
	l->state = QKDN_TOPO_IN_SERVICE;
	if (metrics)
		l->m = *metrics;
	t->link_count++;
	t->generation++;
	return 0;
nomem:
	t->free_links[t->free_links_n++] = li;
	return -ENOMEM;
}

int qkdn_topo_link_del(struct qkdn_topo *t, uint32_t a, uint32_t b)
{
	int64_t li = find_link(t, a, b);

	if (li < 0)
		return li;
	link_drop(t, li);
	t->generation++;
	return 0;
}

int qkdn_topo_link_set_state(struct qkdn_topo *t, uint32_t a, uint32_t b,
			     int state)
{
	int64_t li = find_link(t, a, b);

	if (li < 0)
		return li;
	if (!state_valid(state))
		return -EINVAL;
	t->links[li].state = state;
	t->generation++;
	return 0;
}

int qkdn_topo_link_set_metrics(struct qkdn_topo *t, uint32_t a, uint32_t b,
			       const struct qkdn_link_metrics *metrics)
{
	int64_t li = find_link(t, a, b);

	if (li < 0)
		return li;
	if (!metrics || metrics_check(metrics))
		return -EINVAL;
	t->links[li].m = *metrics;
	t->links[li].cap_key_len = 0;
	t->generation++;
	return 0;
}

int qkdn_topo_link_get(const struct qkdn_topo *t, uint32_t a, uint32_t b,
		       int *state, struct qkdn_link_metrics *metrics)
{
	int64_t li = find_link(t, a, b);

	if (li < 0)
		return li;
	if (state)
		*state = t->links[li].state;
	if (metrics)
		*metrics = t->links[li].m;
	return 0;
}

/* Options and link costs */

void qkdn_route_opts_default(struct qkdn_route_opts *o)
{
	*o = (struct qkdn_route_opts){
		.key_len = 32,
		.qber_max = 0.08,
		.low_water = 65536,
		.hop_cost = 1000,
		.key_weight = 4000,
		.drain_weight = 2000,
		.qber_weight = 1000,
		.max_paths = 4,
		.use_standby = false,
	};
}

static int opts_check(const struct qkdn_route_opts *o)
{
	if (o->key_len < QKDN_KEY_UNIT_MIN || o->key_len > QKDN_KEY_UNIT_MAX ||
	    o->key_len % 8)
		return -EINVAL;
	if (!(o->qber_max >= 0.0 && o->qber_max <= 1.0))
		return -EINVAL;
	if (o->low_water > QKDN_ROUTE_AMOUNT_MAX)
		return -EINVAL;
	if (o->hop_cost < 1 || o->hop_cost > QKDN_ROUTE_WEIGHT_MAX ||
	    o->key_weight > QKDN_ROUTE_WEIGHT_MAX ||
	    o->drain_weight > QKDN_ROUTE_WEIGHT_MAX ||
	    o->qber_weight > QKDN_ROUTE_WEIGHT_MAX)
		return -EINVAL;
	if (o->max_paths < 1 || o->max_paths > QKDN_ROUTE_PATHS_MAX)
		return -EINVAL;
	return 0;
}

static uint64_t round_up(uint64_t x, uint64_t unit)
{
	return (x + unit - 1) / unit * unit;
}

/* Keys in one relay: QKDN_CMD_RELAY's limits, at the size that fits every
 * hop whatever the units (what qkdn-kmd's store refill relays). */
static uint64_t keys_per_relay(uint32_t key_len)
{
	uint64_t n = QKDN_RELAY_BYTES_ANY_UNIT / key_len;

	return n < QKDN_RELAY_KEYS_MAX ? n : QKDN_RELAY_KEYS_MAX;
}

/* Link key bytes of a RELAY frame of keys keys, and of its ACK. */
static uint64_t relay_frame_bytes(uint64_t keys, uint32_t key_len, uint32_t unit)
{
	return round_up(KX_MAC_BYTES + keys * key_len, unit);
}

static uint64_t ack_frame_bytes(uint32_t unit)
{
	return round_up(KX_MAC_BYTES, unit);
}

uint64_t qkdn_route_hop_bytes(uint64_t amount, uint32_t key_len, uint32_t unit)
{
	uint64_t keys = (amount + key_len - 1) / key_len;
	uint64_t per = keys_per_relay(key_len);
	uint64_t full = keys / per, rest = keys % per;
	uint64_t bytes;

	bytes = full * (relay_frame_bytes(per, key_len, unit) + ack_frame_bytes(unit));
	if (rest)
		bytes += relay_frame_bytes(rest, key_len, unit) + ack_frame_bytes(unit);
	return bytes;
}

uint64_t qkdn_route_hop_capacity(uint64_t key_avail, uint32_t key_len,
				 uint32_t unit)
{
	uint64_t per = keys_per_relay(key_len);
	uint64_t full_cost = relay_frame_bytes(per, key_len, unit) + ack_frame_bytes(unit);
	uint64_t full = key_avail / full_cost, left = key_avail % full_cost;
	uint64_t keys = full * per;

	/*
	 * What is left holds one more, smaller relay if its ACK and a frame
	 * of at least one key fit: roundup(32 + k * key_len, unit) <= room
	 * exactly when 32 + k * key_len <= room rounded down to units. It
	 * holds fewer than per keys, or left would be a full relay.
	 */
	if (left >= ack_frame_bytes(unit) + relay_frame_bytes(1, key_len, unit)) {
		uint64_t room = (left - ack_frame_bytes(unit)) / unit * unit;

		keys += (room - KX_MAC_BYTES) / key_len;
	}
	return keys * key_len;
}

static bool usable_state(int state, const struct qkdn_route_opts *o)
{
	return state == QKDN_TOPO_IN_SERVICE ||
	       (state == QKDN_TOPO_STANDBY && o->use_standby);
}

static bool node_usable(const struct node *n, const struct qkdn_route_opts *o)
{
	return n->up && usable_state(n->state, o);
}

static uint32_t link_unit(const struct link *l)
{
	return l->m.unit ? l->m.unit : QKDN_KEY_UNIT_DEFAULT;
}

/*
 * The cost of a link for a relay of amount bytes (the formula is in
 * route.h), and the whole keys it could carry; 0 if it is not usable.
 * The key term is exact integer arithmetic; the rate and QBER terms are
 * single IEEE double operations (no fused multiply-add under -std=c11),
 * so every machine computes the same cost.
 */
static uint32_t link_cost(const struct qkdn_topo *t, struct link *l,
			  const struct qkdn_route_opts *o, uint64_t amount,
			  uint64_t *cap_keys)
{
	const struct qkdn_link_metrics *m = &l->m;
	uint32_t unit = link_unit(l);
	uint64_t cost = o->hop_cost, need, after;
	double drain;

	*cap_keys = 0;
	if (!usable_state(l->state, o) || !m->up || m->qber > o->qber_max ||
	    !node_usable(&t->nodes[l->a], o) || !node_usable(&t->nodes[l->b], o))
		return 0;
	if (l->cap_key_len != o->key_len) {
		l->cap_keys = qkdn_route_hop_capacity(m->key_avail, o->key_len, unit) /
			      o->key_len;
		l->cap_key_len = o->key_len;
	}
	*cap_keys = l->cap_keys;
	if ((amount + o->key_len - 1) / o->key_len > *cap_keys)
		return 0;
	need = qkdn_route_hop_bytes(amount, o->key_len, unit);
	after = m->key_avail - need;
	if (after < o->low_water)
		cost += (unsigned __int128)o->key_weight * (o->low_water - after) /
			o->low_water;
	if (m->gen_rate)
		drain = m->consume_rate >= m->gen_rate ? 1.0 :
			(double)m->consume_rate / (double)m->gen_rate;
	else
		drain = m->consume_rate ? 1.0 : 0.0;
	cost += (uint64_t)(o->drain_weight * drain * drain);
	if (o->qber_max > 0.0)
		cost += (uint64_t)(o->qber_weight * (m->qber / o->qber_max));
	return cost;
}

/* The route graph */

#define RESERVE(s, field, n) \
	reserve((void **)&(s)->field, &(s)->field##_cap, (n), sizeof(*(s)->field))

/* Arc u -> v, and its residual reverse v -> u of capacity 0 if wanted. */
static void arc_add(struct scratch *s, uint32_t u, uint32_t v, uint32_t link,
		    int32_t cap, int32_t cost, bool residual)
{
	uint32_t i = s->fill[u]++, j;

	s->arcs[i] = (struct arc){ .to = v, .cap = cap, .cost = cost };
	s->info[i] = (struct arc_info){ .from = u, .rev = NONE, .link = link,
					.cap0 = cap };
	if (!residual)
		return;
	j = s->fill[v]++;
	s->arcs[j] = (struct arc){ .to = u, .cost = -cost };
	s->info[j] = (struct arc_info){ .from = v, .rev = i, .link = link };
	s->info[i].rev = j;
}

static uint32_t in_vertex(uint32_t slot)
{
	return 2 * slot;
}

static uint32_t out_vertex(uint32_t slot)
{
	return 2 * slot + 1;
}

/* May relays pass through node slot v (split graph)? */
static bool transit_node(const struct qkdn_topo *t, const struct qkdn_route_opts *o,
			 uint32_t v, uint32_t src, uint32_t dst)
{
	return t->nodes[v].id && v != src && v != dst && node_usable(&t->nodes[v], o);
}

/*
 * Builds the graph of links usable for a relay of amount bytes. Plain: a
 * vertex per node slot, two unit arcs per link. Split: vertices in(x) and
 * out(x) per node, a unit arc in(x) -> out(x) for every usable node but
 * src and dst, and out(a) -> in(b), out(b) -> in(a) per link, so that a
 * unit of flow can cross each node once. Flows need residual arcs.
 */
static int graph_build(struct qkdn_topo *t, const struct qkdn_route_opts *o,
		       uint64_t amount, enum graph_kind kind, uint32_t src,
		       uint32_t dst)
{
	struct scratch *s = &t->s;
	bool split = kind == GRAPH_NODES, residual = kind != GRAPH_PATH;
	uint32_t nv = split ? 2 * t->nodes_n : t->nodes_n, v, li;
	uint64_t narcs = 0;

	if (RESERVE(s, first, (size_t)nv + 1) || RESERVE(s, fill, nv) ||
	    RESERVE(s, key, nv) || RESERVE(s, dist, nv) || RESERVE(s, pot, nv) ||
	    RESERVE(s, pred, nv) || RESERVE(s, heap, nv) || RESERVE(s, pos, nv) ||
	    RESERVE(s, mark, nv) ||
	    RESERVE(s, lcost, t->links_n) || RESERVE(s, lcap, t->links_n))
		return -ENOMEM;
	s->nv = nv;
	s->key_len = o->key_len;
	memset(s->fill, 0, nv * sizeof(*s->fill));
	for (li = 0; li < t->links_n; li++) {
		struct link *l = &t->links[li];

		s->lcost[li] = l->state ? link_cost(t, l, o, amount, &s->lcap[li]) : 0;
		if (!s->lcost[li])
			continue;
		s->fill[split ? out_vertex(l->a) : l->a]++;
		s->fill[split ? out_vertex(l->b) : l->b]++;
		if (residual) {
			s->fill[split ? in_vertex(l->b) : l->b]++;
			s->fill[split ? in_vertex(l->a) : l->a]++;
		}
		narcs += residual ? 4 : 2;
	}
	for (v = 0; split && v < t->nodes_n; v++) {
		if (!transit_node(t, o, v, src, dst))
			continue;
		s->fill[in_vertex(v)]++;
		s->fill[out_vertex(v)]++;
		narcs += 2;
	}
	if (narcs > NONE || RESERVE(s, arcs, narcs) || RESERVE(s, info, narcs) ||
	    RESERVE(s, used, narcs))
		return -ENOMEM;
	s->first[0] = 0;
	for (v = 0; v < nv; v++) {
		s->first[v + 1] = s->first[v] + s->fill[v];
		s->fill[v] = s->first[v];
		/* in(x) before out(x): both keys follow the node ID order */
		s->key[v] = split ? (uint64_t)t->nodes[v / 2].id << 1 | (v & 1) :
				    t->nodes[v].id;
		s->pot[v] = 0;
	}
	for (li = 0; li < t->links_n; li++) {
		const struct link *l = &t->links[li];

		if (!s->lcost[li])
			continue;
		if (split) {
			arc_add(s, out_vertex(l->a), in_vertex(l->b), li, 1, s->lcost[li], true);
			arc_add(s, out_vertex(l->b), in_vertex(l->a), li, 1, s->lcost[li], true);
		} else {
			arc_add(s, l->a, l->b, li, 1, s->lcost[li], residual);
			arc_add(s, l->b, l->a, li, 1, s->lcost[li], residual);
		}
	}
	for (v = 0; split && v < t->nodes_n; v++)
		if (transit_node(t, o, v, src, dst))
			arc_add(s, in_vertex(v), out_vertex(v), NONE, 1, 0, true);
	return 0;
}

/* Dijkstra with a binary heap ordered by (distance, key) */

enum { V_NEW, V_QUEUED, V_DONE };

static bool entry_before(const struct heap_entry *a, const struct heap_entry *b)
{
	return a->dist < b->dist || (a->dist == b->dist && a->key < b->key);
}

static void heap_place(struct scratch *s, uint32_t i, const struct heap_entry *e)
{
	s->heap[i] = *e;
	s->pos[e->v] = i;
}

/* Puts v in the heap at its distance, or moves it up to a new one. */
static void heap_update(struct scratch *s, uint32_t v, bool queued)
{
	struct heap_entry e = { .dist = s->dist[v], .key = s->key[v], .v = v };
	uint32_t i = queued ? s->pos[v] : s->heap_n++;

	while (i > 0 && entry_before(&e, &s->heap[(i - 1) / 2])) {
		heap_place(s, i, &s->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_place(s, i, &e);
}

static uint32_t heap_pop(struct scratch *s)
{
	uint32_t top = s->heap[0].v, i = 0, c;
	struct heap_entry last = s->heap[--s->heap_n];

	while ((c = 2 * i + 1) < s->heap_n) {
		if (c + 1 < s->heap_n && entry_before(&s->heap[c + 1], &s->heap[c]))
			c++;
		if (!entry_before(&s->heap[c], &last))
			break;
		heap_place(s, i, &s->heap[c]);
		i = c;
	}
	if (s->heap_n)
		heap_place(s, i, &last);
	return top;
}

static uint32_t arc_from(const struct scratch *s, uint32_t a)
{
	return s->info[a].from;
}

/*
 * Shortest distances from root over arcs with residual capacity, by
 * reduced cost (cost + pot[u] - pot[v], never negative). Vertices settle
 * in (distance, key) order, and each keeps, of the arcs that reach it at
 * its distance before it settles, the one from the vertex of least key:
 * the result depends on the graph alone, not on its memory layout.
 * Stops when target settles if stop is set. Returns whether it did.
 */
static bool dijkstra(struct scratch *s, uint32_t root, uint32_t target, bool stop)
{
	memset(s->mark, V_NEW, s->nv);
	s->heap_n = 0;
	s->dist[root] = 0;
	s->pred[root] = NONE;
	s->mark[root] = V_QUEUED;
	heap_update(s, root, false);
	while (s->heap_n) {
		uint32_t u = heap_pop(s), a;

		s->mark[u] = V_DONE;
		if (u == target && stop)
			return true;
		for (a = s->first[u]; a < s->first[u + 1]; a++) {
			const struct arc *arc = &s->arcs[a];
			uint32_t v = arc->to;
			int64_t d;

			if (arc->cap <= 0 || s->mark[v] == V_DONE)
				continue;
			d = s->dist[u] + arc->cost + s->pot[u] - s->pot[v];
			if (s->mark[v] == V_NEW || d < s->dist[v]) {
				s->dist[v] = d;
				s->pred[v] = a;
				heap_update(s, v, s->mark[v] == V_QUEUED);
				s->mark[v] = V_QUEUED;
			} else if (d == s->dist[v] &&
				   s->key[u] < s->key[arc_from(s, s->pred[v])]) {
				s->pred[v] = a;
			}
		}
	}
	return s->mark[target] == V_DONE;
}

/* Paths */

void qkdn_path_release(struct qkdn_path *p)
{
	free(p->nodes);
	memset(p, 0, sizeof(*p));
}

static void path_reset(struct qkdn_path *p)
{
	p->hops = 0;
	p->cost = 0;
	p->capacity = 0;
}

/* Appends node; the first call makes a path of no hops. */
static int path_push(struct qkdn_path *p, uint32_t id, bool first)
{
	size_t n = first ? 0 : p->hops + 1;

	if (reserve((void **)&p->nodes, &p->nodes_cap, n + 1, sizeof(*p->nodes)))
		return -ENOMEM;
	p->nodes[n] = id;
	p->hops = n;
	return 0;
}

/* Adds the link of arc a to the path's cost and capacity. */
static void path_cross(const struct qkdn_topo *t, struct qkdn_path *p, uint32_t a)
{
	const struct scratch *s = &t->s;
	uint32_t li = s->info[a].link;
	uint64_t cap;

	if (li == NONE)
		return;
	cap = s->lcap[li] * s->key_len;
	if (p->hops == 0 || cap < p->capacity)
		p->capacity = cap;
	p->cost += s->lcost[li];
}

bool qkdn_path_has_node(const struct qkdn_path *p, uint32_t node)
{
	uint32_t i;

	for (i = 0; p->nodes && i <= p->hops; i++)
		if (p->nodes[i] == node)
			return true;
	return false;
}

bool qkdn_path_has_link(const struct qkdn_path *p, uint32_t a, uint32_t b)
{
	uint32_t i;

	for (i = 0; p->nodes && i < p->hops; i++)
		if ((p->nodes[i] == a && p->nodes[i + 1] == b) ||
		    (p->nodes[i] == b && p->nodes[i + 1] == a))
			return true;
	return false;
}

/* Is p before q: cheaper, or as cheap and lexicographically smaller? */
static bool path_before(const struct qkdn_path *p, const struct qkdn_path *q)
{
	uint32_t i;

	if (p->cost != q->cost)
		return p->cost < q->cost;
	for (i = 0; i <= p->hops && i <= q->hops; i++)
		if (p->nodes[i] != q->nodes[i])
			return p->nodes[i] < q->nodes[i];
	return p->hops < q->hops;
}

static void path_swap(struct qkdn_path *p, struct qkdn_path *q)
{
	struct qkdn_path tmp = *p;

	*p = *q;
	*q = tmp;
}

int qkdn_path_next_hops(const struct qkdn_path *p, struct qkdn_route_hop *out,
			size_t max)
{
	uint32_t i, n = 0;

	if (!p->nodes || !p->hops)
		return -EINVAL;
	if (max < 2 * (size_t)p->hops)
		return -ENOSPC;
	for (i = 0; i < p->hops; i++)
		out[n++] = (struct qkdn_route_hop){ .node = p->nodes[i],
			.dest = p->nodes[p->hops], .next_hop = p->nodes[i + 1] };
	for (i = p->hops; i > 0; i--)
		out[n++] = (struct qkdn_route_hop){ .node = p->nodes[i],
			.dest = p->nodes[0], .next_hop = p->nodes[i - 1] };
	return n;
}

/* Route computations */

/*
 * Checks a request and finds the two ends' slots. NULL options become the
 * defaults, written to *defaults.
 */
static int request_check(const struct qkdn_topo *t, uint32_t src, uint32_t dst,
			 uint64_t amount, const struct qkdn_route_opts **opts,
			 struct qkdn_route_opts *defaults, uint32_t *ssrc,
			 uint32_t *sdst)
{
	const struct qkdn_route_opts *o;
	int64_t a, b;
	int ret;

	if (!*opts) {
		qkdn_route_opts_default(defaults);
		*opts = defaults;
	}
	o = *opts;
	ret = opts_check(o);
	if (ret)
		return ret;
	if (!id_valid(src) || !id_valid(dst) || src == dst)
		return -EINVAL;
	if (amount > QKDN_ROUTE_AMOUNT_MAX)
		return -ERANGE;
	a = find_node(t, src);
	b = find_node(t, dst);
	if (a < 0 || b < 0)
		return -ENOENT;
	if (!node_usable(&t->nodes[a], o) || !node_usable(&t->nodes[b], o))
		return -EHOSTDOWN;
	*ssrc = a;
	*sdst = b;
	return 0;
}

/*
 * The cheapest path in the plain graph built for amount: Dijkstra rooted
 * at dst, so that walking the tree from src takes, at each node, the next
 * hop of least ID among equally cheap ones: the lexicographically
 * smallest of the cheapest paths. Returns 0, or 1 if there is no path.
 */
static int shortest_path(struct qkdn_topo *t, const struct qkdn_route_opts *o,
			 uint64_t amount, uint32_t src, uint32_t dst,
			 struct qkdn_path *p)
{
	struct scratch *s = &t->s;
	uint32_t v;
	int ret;

	ret = graph_build(t, o, amount, GRAPH_PATH, src, dst);
	if (ret)
		return ret;
	path_reset(p);
	if (!dijkstra(s, dst, src, true))
		return 1;
	ret = path_push(p, t->nodes[src].id, true);
	for (v = src; !ret && v != dst; v = arc_from(s, s->pred[v])) {
		path_cross(t, p, s->pred[v]);
		ret = path_push(p, t->nodes[arc_from(s, s->pred[v])].id, false);
	}
	return ret;
}

/* With no path for amount: is there one for any amount? */
static int no_path_error(struct qkdn_topo *t, const struct qkdn_route_opts *o,
			 uint64_t amount, uint32_t src, uint32_t dst)
{
	struct qkdn_path any = { 0 };
	int ret;

	if (!amount)
		return -EHOSTUNREACH;
	ret = shortest_path(t, o, 0, src, dst, &any);
	qkdn_path_release(&any);
	if (ret < 0)
		return ret;
	return ret ? -EHOSTUNREACH : -EAGAIN;
}

int qkdn_route_compute(struct qkdn_topo *t, uint32_t src, uint32_t dst,
		       uint64_t amount, const struct qkdn_route_opts *opts,
		       struct qkdn_path *path)
{
	struct qkdn_route_opts defaults;
	uint32_t s, d;
	int ret = request_check(t, src, dst, amount, &opts, &defaults, &s, &d);

	if (ret)
		return ret;
	ret = shortest_path(t, opts, amount, s, d, path);
	if (ret > 0)
		return no_path_error(t, opts, amount, s, d);
	return ret;
}

/*
 * Successive shortest paths: up to want more units of flow from source
 * to sink, each along a cheapest path of the residual graph by reduced
 * cost; potentials keep reduced costs non-negative, so plain Dijkstra
 * serves. Vertices it cannot reach now it never reaches later (new
 * residual arcs join reached vertices), so their potentials do not
 * matter. Returns the units added.
 */
static unsigned int flow_augment(struct scratch *s, uint32_t source,
				 uint32_t sink, unsigned int want)
{
	unsigned int n;
	uint32_t v;

	for (n = 0; n < want; n++) {
		if (!dijkstra(s, source, sink, false))
			break;
		for (v = 0; v < s->nv; v++)
			if (s->mark[v] == V_DONE)
				s->pot[v] += s->dist[v];
		for (v = sink; v != source; v = arc_from(s, s->pred[v])) {
			s->arcs[s->pred[v]].cap--;
			s->arcs[s->info[s->pred[v]].rev].cap++;
		}
	}
	return n;
}

/*
 * Splits the flow into count paths, cheapest first. Each path leaves a
 * vertex on its unused flow arc to the vertex of least key. A min-cost
 * flow has no cycle (every link arc costs at least 1; taking a cycle out
 * would make it cheaper), so every walk is a simple path.
 */
static int flow_paths(struct qkdn_topo *t, uint32_t source, uint32_t sink,
		      bool split, struct qkdn_path *paths, unsigned int count)
{
	struct scratch *s = &t->s;
	unsigned int i, j;
	int ret;

	memset(s->used, 0, s->first[s->nv] * sizeof(*s->used));
	for (i = 0; i < count; i++) {
		struct qkdn_path *p = &paths[i];
		uint32_t v = source;

		path_reset(p);
		ret = path_push(p, t->nodes[split ? v / 2 : v].id, true);
		if (ret)
			return ret;
		while (v != sink) {
			uint32_t a, best = NONE;

			for (a = s->first[v]; a < s->first[v + 1]; a++)
				if ((int64_t)s->used[a] < s->info[a].cap0 - s->arcs[a].cap &&
				    (best == NONE ||
				     s->key[s->arcs[a].to] < s->key[s->arcs[best].to]))
					best = a;
			s->used[best]++;
			path_cross(t, p, best);
			v = s->arcs[best].to;
			if (s->info[best].link == NONE)
				continue;	/* in(x) -> out(x) */
			ret = path_push(p, t->nodes[split ? v / 2 : v].id, false);
			if (ret)
				return ret;
		}
	}
	/* insertion sort: count is at most QKDN_ROUTE_PATHS_MAX */
	for (i = 1; i < count; i++)
		for (j = i; j > 0 && path_before(&paths[j], &paths[j - 1]); j--)
			path_swap(&paths[j], &paths[j - 1]);
	return 0;
}

/*
 * The cheapest want disjoint paths for amount (node-disjoint on the split
 * graph, link-disjoint on the plain one). Returns how many of them it
 * found (fewer than want means none were written) or a negative errno.
 */
static int disjoint_paths(struct qkdn_topo *t, const struct qkdn_route_opts *o,
			  uint64_t amount, bool split, uint32_t src, uint32_t dst,
			  struct qkdn_path *paths, unsigned int want)
{
	uint32_t source = split ? out_vertex(src) : src;
	uint32_t sink = split ? in_vertex(dst) : dst;
	unsigned int n;
	int ret;

	ret = graph_build(t, o, amount, split ? GRAPH_NODES : GRAPH_LINKS, src, dst);
	if (ret)
		return ret;
	n = flow_augment(&t->s, source, sink, want);
	if (n < want)
		return n;
	ret = flow_paths(t, source, sink, split, paths, n);
	return ret ? ret : (int)n;
}

void qkdn_route_pair_release(struct qkdn_route_pair *pair)
{
	qkdn_path_release(&pair->working);
	qkdn_path_release(&pair->protection);
	pair->kind = QKDN_PROTECTION_NONE;
}

int qkdn_route_protected(struct qkdn_topo *t, uint32_t src, uint32_t dst,
			 uint64_t amount, const struct qkdn_route_opts *opts,
			 struct qkdn_route_pair *pair)
{
	struct qkdn_path two[2];
	struct qkdn_route_opts defaults;
	uint32_t s, d;
	int ret = request_check(t, src, dst, amount, &opts, &defaults, &s, &d);

	if (ret)
		return ret;
	two[0] = pair->working;
	two[1] = pair->protection;
	path_reset(&two[1]);
	pair->kind = QKDN_PROTECTION_NODE_DISJOINT;
	ret = disjoint_paths(t, opts, amount, true, s, d, two, 2);
	if (ret >= 0 && ret < 2) {
		pair->kind = QKDN_PROTECTION_LINK_DISJOINT;
		ret = disjoint_paths(t, opts, amount, false, s, d, two, 2);
	}
	if (ret >= 0 && ret < 2) {
		pair->kind = QKDN_PROTECTION_NONE;
		path_reset(&two[1]);
		ret = shortest_path(t, opts, amount, s, d, &two[0]);
		if (ret > 0)
			ret = no_path_error(t, opts, amount, s, d);
	}
	pair->working = two[0];
	pair->protection = two[1];
	if (ret < 0)
		pair->kind = QKDN_PROTECTION_NONE;
	return ret < 0 ? ret : 0;
}

void qkdn_multipath_release(struct qkdn_multipath *mp)
{
	unsigned int i;

	for (i = 0; i < QKDN_ROUTE_PATHS_MAX; i++)
		qkdn_path_release(&mp->paths[i]);
	mp->count = 0;
}

/* The keys of the paths' capacities together, each capped at keys. */
static uint64_t paths_keys(const struct qkdn_path *paths, unsigned int n,
			   uint32_t key_len, uint64_t keys)
{
	uint64_t sum = 0;
	unsigned int i;

	for (i = 0; i < n; i++)
		sum += paths[i].capacity / key_len < keys ?
		       paths[i].capacity / key_len : keys;
	return sum;
}

/*
 * Shares of keys in proportion to the paths' capacities (which add up to
 * at least keys): floor shares, then one more key each, in path order, to
 * paths below capacity until the sum is right. A path whose floor share
 * would exceed its capacity cannot exist, and the remainder is smaller
 * than the path count; paths with no share are dropped.
 */
static void split_amount(struct qkdn_multipath *mp, unsigned int n,
			 uint32_t key_len, uint64_t keys)
{
	uint64_t cap[QKDN_ROUTE_PATHS_MAX], share[QKDN_ROUTE_PATHS_MAX];
	uint64_t total = 0, given = 0;
	unsigned int i, kept = 0;

	for (i = 0; i < n; i++) {
		cap[i] = mp->paths[i].capacity / key_len;
		if (cap[i] > keys)
			cap[i] = keys;
		total += cap[i];
	}
	for (i = 0; i < n; i++) {
		share[i] = (unsigned __int128)keys * cap[i] / total;
		given += share[i];
	}
	for (i = 0; i < n && given < keys; i++)
		if (share[i] < cap[i]) {
			share[i]++;
			given++;
		}
	for (i = 0; i < n; i++) {
		if (!share[i])
			continue;
		if (i != kept)
			path_swap(&mp->paths[kept], &mp->paths[i]);
		mp->amount[kept++] = share[i] * key_len;
	}
	mp->count = kept;
}

int qkdn_route_multipath(struct qkdn_topo *t, uint32_t src, uint32_t dst,
			 uint64_t amount, const struct qkdn_route_opts *opts,
			 struct qkdn_multipath *mp)
{
	struct qkdn_path found[QKDN_ROUTE_PATHS_MAX];
	struct qkdn_route_opts defaults;
	unsigned int n, best_n = 0, i;
	uint32_t s, d;
	uint64_t keys;
	int ret;

	mp->count = 0;
	ret = request_check(t, src, dst, amount, &opts, &defaults, &s, &d);
	if (ret)
		return ret;
	if (!amount)
		return -EINVAL;
	keys = (amount + opts->key_len - 1) / opts->key_len;
	ret = qkdn_route_compute(t, src, dst, amount, opts, &mp->paths[0]);
	if (ret != -EAGAIN) {
		if (!ret) {
			mp->count = 1;
			mp->amount[0] = keys * opts->key_len;
		}
		return ret;
	}

	/*
	 * The cheapest n link-disjoint paths over links that carry at least
	 * one key (costed as for one key), for n = 2.. by adding one unit of
	 * flow at a time, until their capacities cover the amount.
	 */
	ret = graph_build(t, opts, opts->key_len, GRAPH_LINKS, s, d);
	if (ret)
		return ret;
	n = flow_augment(&t->s, s, d, 1);
	while (n >= 1 && n < opts->max_paths) {
		if (flow_augment(&t->s, s, d, 1) != 1)
			break;
		n++;
		ret = flow_paths(t, s, d, false, mp->paths, n);
		if (ret)
			return ret;
		if (paths_keys(mp->paths, n, opts->key_len, keys) >= keys) {
			best_n = n;
			break;
		}
	}

	/*
	 * Fewer paths may do with unequal capacities left out: for each
	 * smaller n, the cheapest n link-disjoint paths over links that can
	 * each carry ceil(keys / n) keys cover it by construction.
	 */
	memset(found, 0, sizeof(found));
	for (n = 2; n <= opts->max_paths && (!best_n || n < best_n); n++) {
		uint64_t share = (keys + n - 1) / n;

		ret = disjoint_paths(t, opts, share * opts->key_len, false, s, d,
				     found, n);
		if (ret < 0)
			goto out;
		if ((unsigned int)ret == n) {
			for (i = 0; i < n; i++)
				path_swap(&mp->paths[i], &found[i]);
			best_n = n;
			break;
		}
	}
	ret = best_n ? 0 : -EAGAIN;
	if (best_n)
		split_amount(mp, best_n, opts->key_len, keys);
out:
	for (i = 0; i < QKDN_ROUTE_PATHS_MAX; i++)
		qkdn_path_release(&found[i]);
	return ret;
}

int qkdn_route_split_pick(const uint32_t *share, const uint64_t *sent, unsigned int n,
			  uint32_t keys)
{
	int best = -1;

	for (unsigned int i = 0; i < n; i++) {
		unsigned __int128 mine, theirs;

		if (!share[i])
			continue;
		if (best < 0) {
			best = (int)i;
			continue;
		}
		/* (sent[i] + keys) / share[i] < (sent[best] + keys) / share[best] */
		mine = (unsigned __int128)(sent[i] + keys) * share[best];
		theirs = (unsigned __int128)(sent[best] + keys) * share[i];
		if (mine < theirs)
			best = (int)i;
	}
	return best;
}
