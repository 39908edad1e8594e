// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The controller's pure logic: the route entries sessions imply, the
 * effective per-node tables and their differences, and the decisions
 * status reports lead to. No I/O, so the unit tests drive it directly.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ctld.h"

void ctld_table_free(struct ctld_table *t)
{
	free(t->e);
	memset(t, 0, sizeof(*t));
}

static int entry_cmp(uint32_t node_a, uint32_t dest_a, uint32_t node_b, uint32_t dest_b)
{
	if (node_a != node_b)
		return node_a < node_b ? -1 : 1;
	if (dest_a != dest_b)
		return dest_a < dest_b ? -1 : 1;
	return 0;
}

/* The index of (node, dest), or where it would go. */
static size_t table_pos(const struct ctld_table *t, uint32_t node, uint32_t dest, bool *found)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = entry_cmp(t->e[mid].node, t->e[mid].dest, node, dest);

		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

const struct ctld_entry *ctld_table_find(const struct ctld_table *t, uint32_t node,
					 uint32_t dest)
{
	bool found;
	size_t i = table_pos(t, node, dest, &found);

	return found ? &t->e[i] : NULL;
}

int ctld_table_set(struct ctld_table *t, const struct ctld_entry *e)
{
	bool found;
	size_t i = table_pos(t, e->node, e->dest, &found);

	if (found) {
		t->e[i] = *e;
		return 0;
	}
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct ctld_entry *p = realloc(t->e, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		t->e = p;
		t->cap = cap;
	}
	memmove(&t->e[i + 1], &t->e[i], (t->n - i) * sizeof(*t->e));
	t->e[i] = *e;
	t->n++;
	return 0;
}

void ctld_table_del(struct ctld_table *t, uint32_t node, uint32_t dest)
{
	bool found;
	size_t i = table_pos(t, node, dest, &found);

	if (!found)
		return;
	memmove(&t->e[i], &t->e[i + 1], (t->n - i - 1) * sizeof(*t->e));
	t->n--;
}

/* Both ways along path: toward its last node, then toward its first. */
static int path_entries(const struct qkdn_path *p, uint64_t session, uint32_t src,
			struct ctld_table *t, bool protection)
{
	for (int dir = 0; dir < 2; dir++) {
		for (uint32_t i = 0; i < p->hops; i++) {
			struct ctld_entry e = { .session = session, .src = src };
			const struct ctld_entry *have;

			if (dir == 0) {
				e.node = p->nodes[i];
				e.next_hop = p->nodes[i + 1];
				e.dest = p->nodes[p->hops];
			} else {
				e.node = p->nodes[p->hops - i];
				e.next_hop = p->nodes[p->hops - i - 1];
				e.dest = p->nodes[0];
			}
			have = ctld_table_find(t, e.node, e.dest);
			if (protection && have && have->session == session) {
				struct ctld_entry merged = *have;

				if (have->next_hop == e.next_hop || have->prot_next_hop)
					continue;
				merged.prot_next_hop = e.next_hop;
				e = merged;
			}
			if (ctld_table_set(t, &e) < 0)
				return -ENOMEM;
		}
	}
	return 0;
}

void ctld_session_release_paths(struct ctld_session *s)
{
	qkdn_route_pair_release(&s->route);
	for (size_t i = 0; i < sizeof(s->extra) / sizeof(s->extra[0]); i++)
		qkdn_path_release(&s->extra[i]);
	memset(s->extra, 0, sizeof(s->extra));
	memset(s->mp_keys, 0, sizeof(s->mp_keys));
	s->n_mp = 0;
}

const struct qkdn_path *ctld_session_mp_path(const struct ctld_session *s, unsigned int i)
{
	if (i == 0)
		return &s->route.working;
	if (i == 1)
		return &s->route.protection;
	return &s->extra[i - 2];
}

/*
 * The extra paths of a multipath session, toward its destination only
 * (the acknowledgments go back on the working path's entries): an entry
 * at each transit node that has none toward the destination yet. Each
 * such entry leads on along its path to a node that already had one, so
 * the result stays loop-free. Then the source's entry gets the first hops
 * and shares.
 */
static int multipath_entries(const struct ctld_session *s, struct ctld_table *t)
{
	struct ctld_entry src_e;
	const struct ctld_entry *have;

	for (unsigned int k = 2; k < s->n_mp; k++) {
		const struct qkdn_path *p = &s->extra[k - 2];

		for (uint32_t i = 1; i < p->hops; i++) {
			struct ctld_entry e = { .session = s->id, .src = s->src,
						.node = p->nodes[i], .dest = s->dst,
						.next_hop = p->nodes[i + 1] };

			if (ctld_table_find(t, e.node, e.dest))
				continue;
			if (ctld_table_set(t, &e) < 0)
				return -ENOMEM;
		}
	}
	have = ctld_table_find(t, s->src, s->dst);
	if (!have)
		return 0;
	src_e = *have;
	src_e.n_mp = (uint8_t)s->n_mp;
	for (unsigned int k = 0; k < s->n_mp; k++) {
		src_e.mp_hop[k] = ctld_session_mp_path(s, k)->nodes[1];
		src_e.mp_keys[k] = s->mp_keys[k];
	}
	return ctld_table_set(t, &src_e);
}

int ctld_session_entries(const struct ctld_session *s, struct ctld_table *t)
{
	int ret;

	if (!s->route.working.hops)
		return -EINVAL;
	ret = path_entries(&s->route.working, s->id, s->src, t, false);
	if (!ret && s->route.protection.hops)
		ret = path_entries(&s->route.protection, s->id, s->src, t, true);
	if (!ret && s->n_mp >= 2)
		ret = multipath_entries(s, t);
	return ret;
}

static int gen_cmp(const void *a, const void *b)
{
	const struct ctld_session *x = *(struct ctld_session *const *)a;
	const struct ctld_session *y = *(struct ctld_session *const *)b;

	return x->gen < y->gen ? -1 : x->gen > y->gen;
}

int ctld_table_build(struct ctld_session *const *sessions, size_t n, struct ctld_table *out)
{
	struct ctld_session **order;
	struct ctld_table one = { 0 };
	int ret = 0;

	memset(out, 0, sizeof(*out));
	if (!n)
		return 0;
	order = malloc(n * sizeof(*order));
	if (!order)
		return -ENOMEM;
	memcpy(order, sessions, n * sizeof(*order));
	qsort(order, n, sizeof(*order), gen_cmp);
	for (size_t i = 0; i < n && !ret; i++) {
		one.n = 0;
		if (!order[i]->route.working.hops)
			continue;
		ret = ctld_session_entries(order[i], &one);
		for (size_t j = 0; j < one.n && !ret; j++)
			ret = ctld_table_set(out, &one.e[j]);
	}
	ctld_table_free(&one);
	free(order);
	if (ret)
		ctld_table_free(out);
	return ret;
}

static bool entry_same(const struct ctld_entry *a, const struct ctld_entry *b)
{
	return a->next_hop == b->next_hop && a->prot_next_hop == b->prot_next_hop &&
	       a->session == b->session && a->n_mp == b->n_mp &&
	       !memcmp(a->mp_hop, b->mp_hop, a->n_mp * sizeof(a->mp_hop[0])) &&
	       !memcmp(a->mp_keys, b->mp_keys, a->n_mp * sizeof(a->mp_keys[0]));
}

int ctld_table_diff(const struct ctld_table *old, const struct ctld_table *new,
		    ctld_diff_cb cb, void *arg)
{
	size_t i = 0, j = 0;
	int count = 0, ret;

	while (i < old->n || j < new->n) {
		int c;

		if (i == old->n)
			c = 1;
		else if (j == new->n)
			c = -1;
		else
			c = entry_cmp(old->e[i].node, old->e[i].dest, new->e[j].node, new->e[j].dest);
		if (c < 0) {
			ret = cb(&old->e[i++], CTLD_OP_DELETE, arg);
		} else if (c > 0) {
			ret = cb(&new->e[j++], CTLD_OP_INSTALL, arg);
		} else {
			ret = 0;
			if (!entry_same(&old->e[i], &new->e[j]))
				ret = cb(&new->e[j], CTLD_OP_INSTALL, arg);
			else
				count--;
			i++;
			j++;
		}
		if (ret < 0)
			return ret;
		count++;
	}
	return count;
}

enum ctld_fault ctld_link_fault(const struct ctld_policy *p, const struct ctld_link_report *r)
{
	if (!r->peer_up)
		return CTLD_FAULT_LINK_DOWN;
	if (r->qkd_state == QKDN_QKD_EAVESDROPPED)
		return CTLD_FAULT_QBER;
	if (r->qkd_state == QKDN_QKD_DOWN)
		return CTLD_FAULT_QKD_DOWN;
	if (r->has_qber && r->qber_ppm > p->qber_max_ppm)
		return CTLD_FAULT_QBER;
	if (r->key_amount < p->pool_low)
		return CTLD_FAULT_POOL_LOW;
	return CTLD_FAULT_NONE;
}

const char *ctld_fault_name(enum ctld_fault f)
{
	switch (f) {
	case CTLD_FAULT_NONE: return "none";
	case CTLD_FAULT_POOL_LOW: return "pool-low";
	case CTLD_FAULT_LINK_DOWN: return "link-down";
	case CTLD_FAULT_QKD_DOWN: return "qkd-down";
	case CTLD_FAULT_QBER: return "qber-high";
	}
	return "?";
}

bool ctld_amount_changed(uint64_t last, uint64_t now, uint32_t pct)
{
	uint64_t diff = last > now ? last - now : now - last;

	if (!last)
		return now != 0;
	/* diff / last > pct / 100, without overflow for amounts < 2^57 */
	return diff * 100 > (uint64_t)pct * last;
}

bool ctld_schedule_due(const struct ctld_policy *p, unsigned int prev_min, unsigned int now_min)
{
	for (size_t i = 0; i < p->n_schedule; i++) {
		unsigned int t = p->schedule[i];

		if (prev_min == now_min)
			return false;
		if (prev_min < now_min ? (t > prev_min && t <= now_min)
				       : (t > prev_min || t <= now_min))
			return true;
	}
	return false;
}

int ctld_session_cmp_priority(const void *a, const void *b)
{
	const struct ctld_session *x = *(struct ctld_session *const *)a;
	const struct ctld_session *y = *(struct ctld_session *const *)b;

	if (x->priority != y->priority)
		return x->priority < y->priority ? -1 : 1;
	return x->gen < y->gen ? -1 : x->gen > y->gen;
}

/* Recovery deadlines (seed 004 Req_C-R 2) */

bool ctld_recovery_begin(struct ctld_session *s, uint64_t now)
{
	if (s->rec.fault_ms)
		return false;
	s->rec.fault_ms = now ? now : 1;
	s->rec.deadline_ms = s->tolerance_ms ? s->rec.fault_ms + s->tolerance_ms : 0;
	s->rec.failed = false;
	return true;
}

uint64_t ctld_recovery_end(struct ctld_session *s, uint64_t now)
{
	uint64_t took;

	if (!s->rec.fault_ms)
		return 0;
	took = now > s->rec.fault_ms ? now - s->rec.fault_ms : 0;
	s->rec.last_ms = took;
	s->rec.count++;
	if (s->rec.failed || (s->tolerance_ms && took > s->tolerance_ms))
		s->rec.late++;
	s->rec.fault_ms = 0;
	s->rec.deadline_ms = 0;
	s->rec.failed = false;
	return took;
}

bool ctld_recovery_due(const struct ctld_session *s, uint64_t now)
{
	return s->rec.fault_ms && s->rec.deadline_ms && !s->rec.failed &&
	       now >= s->rec.deadline_ms;
}

void ctld_recovery_fail(struct ctld_session *s)
{
	if (s->rec.failed || !s->rec.fault_ms)
		return;
	s->rec.failed = true;
	s->rec.failures++;
}

uint64_t ctld_recovery_next(struct ctld_session *const *sessions, size_t n)
{
	uint64_t next = 0;

	for (size_t i = 0; i < n; i++) {
		const struct ctld_recovery *r = &sessions[i]->rec;

		if (r->fault_ms && r->deadline_ms && !r->failed &&
		    (!next || r->deadline_ms < next))
			next = r->deadline_ms;
	}
	return next;
}

const char *ctld_session_state(const struct ctld_session *s)
{
	if (s->rec.failed)
		return "failed-recovery";
	if (s->rec.fault_ms || s->recovery_pending)
		return "recovery-pending";
	return s->route.working.hops ? "active" : "no-route";
}
