// SPDX-License-Identifier: GPL-2.0 OR MIT
/* qkdn-ctld's pure logic: session entries, effective tables, diffs,
 * fault and rerouting decisions, the config reader. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctld.h"
#include "tap.h"

static void set_path(struct qkdn_path *p, const uint32_t *nodes, uint32_t n)
{
	p->nodes = malloc(n * sizeof(*nodes));
	memcpy(p->nodes, nodes, n * sizeof(*nodes));
	p->hops = n - 1;
	p->nodes_cap = n;
}

static struct ctld_session *session(uint64_t id, uint64_t gen, const uint32_t *w, uint32_t wn,
				    const uint32_t *p, uint32_t pn)
{
	struct ctld_session *s = calloc(1, sizeof(*s));

	s->id = id;
	s->gen = gen;
	s->src = w[0];
	s->dst = w[wn - 1];
	set_path(&s->route.working, w, wn);
	if (pn)
		set_path(&s->route.protection, p, pn);
	return s;
}

static void session_free(struct ctld_session *s)
{
	ctld_session_release_paths(s);
	free(s);
}

static int expect(const struct ctld_table *t, uint32_t node, uint32_t dest, uint32_t next,
		  uint32_t prot, uint64_t session)
{
	const struct ctld_entry *e = ctld_table_find(t, node, dest);

	return e && e->next_hop == next && e->prot_next_hop == prot && e->session == session;
}

struct diff_log {
	char buf[512];
	size_t o;
};

static int log_cb(const struct ctld_entry *e, enum ctld_op op, void *arg)
{
	struct diff_log *l = arg;

	l->o += (size_t)snprintf(l->buf + l->o, sizeof(l->buf) - l->o, "%s%u>%u:%u ",
				 op == CTLD_OP_INSTALL ? "+" : "-", e->node, e->dest, e->next_hop);
	return 0;
}

static void test_entries(void)
{
	/* 1-2-3 working, 1-4-5-3 protection (node-disjoint). */
	static const uint32_t w[] = { 1, 2, 3 }, p[] = { 1, 4, 5, 3 };
	struct ctld_session *s = session(7, 1, w, 3, p, 4);
	struct ctld_table t = { 0 };
	int ret;

	ret = ctld_session_entries(s, &t);
	ok(ret == 0 && t.n == 8, "protected session: 8 entries (%zu)", t.n);
	ok(expect(&t, 1, 3, 2, 4, 7), "source: toward dst via 2, protection via 4");
	ok(expect(&t, 3, 1, 2, 5, 7), "destination: toward src via 2, protection via 5");
	ok(expect(&t, 2, 3, 3, 0, 7) && expect(&t, 2, 1, 1, 0, 7), "working relay: both ways");
	ok(expect(&t, 4, 3, 5, 0, 7) && expect(&t, 4, 1, 1, 0, 7) && expect(&t, 5, 3, 3, 0, 7) &&
	   expect(&t, 5, 1, 4, 0, 7), "protection-only KMs: plain entries both ways");
	ok(!ctld_table_find(&t, 1, 1) && !ctld_table_find(&t, 3, 3), "no entry toward oneself");
	ok(ctld_table_find(&t, 1, 3)->src == 1, "entries carry the session's source");
	ctld_table_free(&t);
	qkdn_route_pair_release(&s->route);
	ok(ctld_session_entries(s, &t) == -EINVAL, "no route: EINVAL");
	free(s);
}

static void test_link_disjoint_shared_km(void)
{
	/* 1-2-3-4 working, 1-5-3-6-4 protection: KM 3 is on both. */
	static const uint32_t w[] = { 1, 2, 3, 4 }, p[] = { 1, 5, 3, 6, 4 };
	struct ctld_session *s = session(9, 1, w, 4, p, 5);
	struct ctld_table t = { 0 };

	ok(ctld_session_entries(s, &t) == 0, "link-disjoint session entries");
	ok(expect(&t, 3, 4, 4, 6, 9) && expect(&t, 3, 1, 2, 5, 9),
	   "a KM on both paths gets the protection hop as prot_next_hop");
	ctld_table_free(&t);
	session_free(s);
}

static void test_build_and_diff(void)
{
	static const uint32_t a[] = { 1, 2, 3 }, b[] = { 4, 2, 5, 3 }, a2[] = { 1, 6, 3 };
	struct ctld_session *s1 = session(1, 1, a, 3, NULL, 0);
	struct ctld_session *s2 = session(2, 2, b, 4, NULL, 0);
	struct ctld_session *list[2] = { s1, s2 };
	struct ctld_table t1, t2, empty = { 0 };
	struct diff_log log = { .o = 0 };
	int n;

	ok(ctld_table_build(list, 2, &t1) == 0, "two sessions build");
	ok(expect(&t1, 2, 3, 5, 0, 2), "the newer session wins KM 2's entry toward 3");
	ok(expect(&t1, 1, 3, 2, 0, 1) && expect(&t1, 2, 1, 1, 0, 1),
	   "the older keeps the entries only it wants");
	s1->gen = 3;
	ok(ctld_table_build(list, 2, &t2) == 0 && expect(&t2, 2, 3, 3, 0, 1),
	   "generation decides, not list order");
	ctld_table_free(&t2);

	/* Reroute session 1 over 6: KM 2's entry toward 1 goes, 6 gets
	 * two, 1 and 3 change; session 2's entries stay. */
	qkdn_route_pair_release(&s1->route);
	set_path(&s1->route.working, a2, 3);
	s1->gen = 1;
	ok(ctld_table_build(list, 2, &t2) == 0, "rebuilt after a reroute");
	n = ctld_table_diff(&t1, &t2, log_cb, &log);
	ok(n == 5 && !strcmp(log.buf, "+1>3:6 -2>1:1 +3>1:6 +6>1:1 +6>3:3 "),
	   "diff: %d changes: %s", n, log.buf);
	log.o = 0;
	log.buf[0] = '\0';
	ok(ctld_table_diff(&t2, &t2, log_cb, &log) == 0 && !log.buf[0], "no diff with itself");
	n = ctld_table_diff(&t2, &empty, log_cb, &log);
	ok(n == (int)t2.n && !strstr(log.buf, "+"), "removing all: only deletes (%d)", n);
	ctld_table_free(&t1);
	ctld_table_free(&t2);
	ok(ctld_table_build(list, 0, &t1) == 0 && t1.n == 0, "no sessions, no entries");
	session_free(s1);
	session_free(s2);
}

static void test_faults(void)
{
	struct ctld_policy p;
	struct ctld_link_report r = { .peer_up = true, .key_amount = 1 << 20,
				      .qkd_state = QKDN_QKD_UP, .qber_ppm = 20000, .has_qber = true };

	ctld_policy_default(&p);
	ok(ctld_link_fault(&p, &r) == CTLD_FAULT_NONE, "healthy link: no fault");
	r.key_amount = p.pool_low - 1;
	ok(ctld_link_fault(&p, &r) == CTLD_FAULT_POOL_LOW &&
	   !ctld_fault_deactivates(CTLD_FAULT_POOL_LOW), "pool below threshold: reroute, keep");
	r.key_amount = p.pool_low;
	ok(ctld_link_fault(&p, &r) == CTLD_FAULT_NONE, "pool at the threshold: fine");
	r.qber_ppm = p.qber_max_ppm + 1;
	ok(ctld_link_fault(&p, &r) == CTLD_FAULT_QBER && ctld_fault_deactivates(CTLD_FAULT_QBER),
	   "QBER over the threshold: de-activate");
	r.qber_ppm = p.qber_max_ppm;
	ok(ctld_link_fault(&p, &r) == CTLD_FAULT_NONE, "QBER at the threshold: fine");
	r.qkd_state = QKDN_QKD_EAVESDROPPED;
	ok(ctld_link_fault(&p, &r) == CTLD_FAULT_QBER, "eavesdropping reported: QBER fault");
	r.qkd_state = QKDN_QKD_DOWN;
	ok(ctld_link_fault(&p, &r) == CTLD_FAULT_QKD_DOWN, "QKD module down");
	r.peer_up = false;
	ok(ctld_link_fault(&p, &r) == CTLD_FAULT_LINK_DOWN, "KM link down first");
	ok(!strcmp(ctld_fault_name(CTLD_FAULT_QKD_DOWN), "qkd-down"), "fault names");

	ok(!ctld_amount_changed(1000, 1500, 50) && ctld_amount_changed(1000, 1501, 50) &&
	   ctld_amount_changed(1000, 499, 50) && !ctld_amount_changed(1000, 500, 50),
	   "adaptive: more than 50 %% either way");
	ok(ctld_amount_changed(0, 1, 50) && !ctld_amount_changed(0, 0, 50), "adaptive from 0");

	p.n_schedule = 2;
	p.schedule[0] = 2 * 60;		/* 02:00 */
	p.schedule[1] = 23 * 60 + 59;	/* 23:59 */
	ok(ctld_schedule_due(&p, 119, 120) && !ctld_schedule_due(&p, 120, 121) &&
	   !ctld_schedule_due(&p, 120, 120), "scheduled at 02:00, once");
	ok(ctld_schedule_due(&p, 1438, 1) && ctld_schedule_due(&p, 1439, 121) &&
	   !ctld_schedule_due(&p, 1439, 1), "across midnight");
}

static void test_priority_order(void)
{
	struct ctld_session a = { .priority = 4, .gen = 1 }, b = { .priority = 0, .gen = 5 },
			    c = { .priority = 4, .gen = 0 };
	struct ctld_session *v[] = { &a, &b, &c };

	qsort(v, 3, sizeof(v[0]), ctld_session_cmp_priority);
	ok(v[0] == &b && v[1] == &c && v[2] == &a, "priority 0 first, then the older");
}

static int read_cfg(const char *text, struct ctld_config *cfg, char *err, size_t len)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	int ret = ctld_config_read(cfg, f, "t.conf", "/etc/qkdn", err, len);

	fclose(f);
	return ret;
}

#define CTL "[controller]\nlisten = 10.0.0.9:7400\nstate = st\ncert = c.crt\nkey = c.key\n"

static void test_config(void)
{
	struct ctld_config cfg;
	char err[QKDN_CONFIG_ERR_LEN];
	int ret;

	ret = read_cfg(CTL "[policy]\nreroute = scheduled\nschedule = 02:00, 14:30\nprotection = no\n"
		       "[node]\nid = 1\nname = alpha\naddress = 10.0.0.1:7001\n[node]\nid = 2\nname = bravo\n"
		       "[link]\na = 1\nb = 2\nstate = standby\n[app]\nsae = sae-a\nnode = 2\npriority = 1\n",
		       &cfg, err, sizeof(err));
	ok(ret == 0, "full config read (%s)", ret ? err : "");
	if (!ret) {
		ok(!strcmp(cfg.state_dir, "/etc/qkdn/st") && !strcmp(cfg.control, CTLD_DEFAULT_CONTROL),
		   "paths relative to the file, default control socket");
		ok(cfg.policy.method == CTLD_REROUTE_SCHEDULED && cfg.policy.n_schedule == 2 &&
		   cfg.policy.schedule[1] == 14 * 60 + 30 && !cfg.policy.protection,
		   "policy read");
		ok(cfg.n_nodes == 2 && cfg.n_links == 1 && cfg.links[0].state == QKDN_TOPO_STANDBY &&
		   cfg.n_apps == 1 && cfg.apps[0].priority == 1, "topology read");
		ctld_config_free(&cfg);
	}
	ret = read_cfg(CTL "[node]\nid = 1\nname = a\n[link]\na = 1\nb = 3\n", &cfg, err, sizeof(err));
	ok(ret == -EINVAL && !strcmp(err, "t.conf:9: [link] 1-3: node 3 is not a [node]"),
	   "link to an unknown node: %s", err);
	ret = read_cfg(CTL "[node]\nid = 1\nname = a\n[node]\nid = 2\nname = b\n[link]\na = 1\nb = 2\n"
		       "[link]\na = 2\nb = 1\n", &cfg, err, sizeof(err));
	ok(ret == -EINVAL && strstr(err, "[link] 2-1 already given at line"),
	   "duplicate link either way: %s", err);
	ret = read_cfg(CTL "[policy]\nreroute = scheduled\n", &cfg, err, sizeof(err));
	ok(ret == -EINVAL && strstr(err, "reroute = scheduled needs a schedule"),
	   "scheduled without times: %s", err);
	ret = read_cfg(CTL "[policy]\nschedule = 25:00\n", &cfg, err, sizeof(err));
	ok(ret == -EINVAL && strstr(err, "t.conf:7: schedule: \"25:00\" is not HH:MM"),
	   "bad time: %s", err);
	ret = read_cfg(CTL "[policy]\nqber-max-ppm = 1000001\n", &cfg, err, sizeof(err));
	ok(ret == -EINVAL && strstr(err, "out of range 0..1000000"), "QBER range: %s", err);
	ret = read_cfg("[controller]\nlisten = 10.0.0.9:7400\nstate = st\ncert = c.crt\n", &cfg, err,
		       sizeof(err));
	ok(ret == -EINVAL && strstr(err, "[controller] section of line 1 lacks \"key\""),
	   "missing key: %s", err);
	ret = read_cfg(CTL "[link]\nstate = broken\n", &cfg, err, sizeof(err));
	ok(ret == -EINVAL && strstr(err, "state = broken: not in-service"), "bad state: %s", err);
	ret = read_cfg(CTL "[bogus]\n", &cfg, err, sizeof(err));
	ok(ret == -EINVAL && strstr(err, "unknown section [bogus]"), "unknown section: %s", err);
	/* [manager]: Mc, the keys of lib/mgmt.c */
	ret = read_cfg(CTL "[manager]\naddress = 10.9.0.253:7500\ncert = m.crt\nkey = m.key\n"
		       "ca = ca.crt\nqueue = 64\n", &cfg, err, sizeof(err));
	ok(ret == 0 && cfg.manager.enabled && !strcmp(cfg.manager.address_str, "10.9.0.253:7500") &&
	   !strcmp(cfg.manager.cert, "/etc/qkdn/m.crt") && cfg.manager.queue_max == 64,
	   "[manager] section read (%s)", err);
	if (!ret)
		ctld_config_free(&cfg);
	ret = read_cfg(CTL, &cfg, err, sizeof(err));
	ok(ret == 0 && !cfg.manager.enabled, "no [manager]: not reporting");
	if (!ret)
		ctld_config_free(&cfg);
	ret = read_cfg(CTL "[manager]\naddress = 10.9.0.253:7500\ncert = m.crt\nkey = m.key\n",
		       &cfg, err, sizeof(err));
	ok(ret == -EINVAL && !strcmp(err, "t.conf: [manager] section of line 6 lacks \"ca\""),
	   "[manager] without ca: %s", err);
	ret = read_cfg(CTL "[manager]\naddress = somewhere\n", &cfg, err, sizeof(err));
	ok(ret == -EINVAL && strstr(err, "t.conf:7: address \"somewhere\" is not a numeric ADDR:PORT"),
	   "[manager] bad address: %s", err);
	ret = read_cfg(CTL "[manager]\nqueue = 1\n[manager]\n", &cfg, err, sizeof(err));
	ok(ret == -EINVAL && strstr(err, "queue \"1\" is not a number in 16..1048576"),
	   "[manager] queue out of range: %s", err);
	ret = read_cfg(CTL "[manager]\naddress = 10.9.0.253:7500\n[manager]\n", &cfg, err,
		       sizeof(err));
	ok(ret == -EINVAL && strstr(err, "second [manager] section (first at line 6)"),
	   "second [manager]: %s", err);
	ret = read_cfg(CTL "[manager]\nport = 1\n", &cfg, err, sizeof(err));
	ok(ret == -EINVAL && strstr(err, "unknown key \"port\" in [manager]"),
	   "unknown [manager] key: %s", err);
}

static void test_cn(void)
{
	char cn[80];

	ok(ctld_entity_cn(CTLD_KIND_NODE, 7, NULL, cn, sizeof(cn)) == 0 &&
	   !strcmp(cn, "qkdn-node-7"), "KM CN");
	ok(ctld_entity_cn(CTLD_KIND_QKD, 7, NULL, cn, sizeof(cn)) == 0 &&
	   !strcmp(cn, "qkdn-qkd-7"), "QKD driver CN");
	ok(ctld_entity_cn(CTLD_KIND_CTL, 0, NULL, cn, sizeof(cn)) == 0 && !strcmp(cn, "qkdn-ctl"),
	   "controller CN");
	ok(ctld_entity_cn(CTLD_KIND_APP, 0, "qkdn-node-1", cn, sizeof(cn)) == -EINVAL &&
	   ctld_entity_cn(CTLD_KIND_APP, 0, "a b", cn, sizeof(cn)) == -EINVAL &&
	   ctld_entity_cn(CTLD_KIND_APP, 0, "", cn, sizeof(cn)) == -EINVAL,
	   "application CNs that could pass for a qkdn entity, or with blanks, refused");
}

/* The recovery deadline (seed 004 Req_C-R 2): a clock from the fault
 * report, the tolerance as its deadline, recorded durations. */
static void test_recovery(void)
{
	static const uint32_t w[] = { 1, 2, 3 };
	struct ctld_session *a = session(1, 1, w, 3, NULL, 0);
	struct ctld_session *b = session(2, 2, w, 3, NULL, 0);
	struct ctld_session *list[] = { a, b };

	a->tolerance_ms = 6000;
	b->tolerance_ms = 0;
	ok(!strcmp(ctld_session_state(a), "active"), "a session with a route is active");
	ok(ctld_recovery_next(list, 2) == 0, "no recovery under way: no deadline");
	ok(ctld_recovery_begin(a, 10000) && a->rec.deadline_ms == 16000,
	   "a fault at 10000 ms starts the clock, deadline 16000 ms");
	ok(!ctld_recovery_begin(a, 12000) && a->rec.fault_ms == 10000,
	   "a second fault report does not restart it");
	ok(!strcmp(ctld_session_state(a), "recovery-pending"), "state recovery-pending");
	ok(ctld_recovery_begin(b, 11000) && b->rec.deadline_ms == 0,
	   "tolerance 0: measured, but no deadline");
	ok(ctld_recovery_next(list, 2) == 16000, "the next deadline is a's (%llu)",
	   (unsigned long long)ctld_recovery_next(list, 2));
	ok(!ctld_recovery_due(a, 15999) && ctld_recovery_due(a, 16000) &&
	   !ctld_recovery_due(b, 1000000), "due at the deadline, not before; never without one");
	ok(ctld_recovery_end(a, 10180) == 180 && a->rec.last_ms == 180 && a->rec.count == 1 &&
	   a->rec.late == 0 && !a->rec.fault_ms && !strcmp(ctld_session_state(a), "active"),
	   "route pushed 180 ms after the report: recorded, in time, active again");
	ok(ctld_recovery_end(a, 20000) == 0 && a->rec.count == 1,
	   "ending a recovery not under way changes nothing");
	ok(ctld_recovery_begin(a, 30000) && !ctld_recovery_due(a, 35999), "a second fault");
	ok(ctld_recovery_due(a, 36001), "past the deadline without a route");
	ctld_recovery_fail(a);
	ok(a->rec.failed && a->rec.failures == 1 && !ctld_recovery_due(a, 40000) &&
	   !strcmp(ctld_session_state(a), "failed-recovery"),
	   "failed-recovery, once (not due again)");
	ctld_recovery_fail(a);
	ok(a->rec.failures == 1, "failing twice counts once");
	ok(ctld_recovery_next(list, 2) == 0, "a failed session has no deadline left");
	ok(ctld_recovery_end(a, 50000) == 20000 && a->rec.late == 1 && a->rec.count == 2 &&
	   !a->rec.failed, "a route found after the failure: recorded as late");
	ok(ctld_recovery_begin(a, 60000) && ctld_recovery_end(a, 66001) == 6001 &&
	   a->rec.late == 2, "pushed 1 ms after the tolerance: late");
	ok(ctld_recovery_end(b, 11250) == 250 && b->rec.late == 0, "no deadline: never late");
	qkdn_route_pair_release(&a->route);
	ok(!strcmp(ctld_session_state(a), "no-route"), "no route, no recovery: no-route");
	session_free(a);
	session_free(b);
}

/* Multipath: the extra paths' transit entries toward the destination and
 * the source's first hops and shares. */
static void test_multipath_entries(void)
{
	/*      2 ---- 3          paths 1-2-3-4 (working), 1-5-6-4
	 *     /        \         (protection), 1-7-4 (extra)
	 *    1 -- 7 --- 4
	 *     \        /
	 *      5 ---- 6 */
	static const uint32_t w[] = { 1, 2, 3, 4 }, p[] = { 1, 5, 6, 4 }, x[] = { 1, 7, 4 };
	struct ctld_session *s = session(5, 1, w, 4, p, 4);
	struct ctld_table t = { 0 }, t2 = { 0 };
	const struct ctld_entry *e;
	struct diff_log log = { .o = 0 };
	struct ctld_session *list[] = { s };

	s->n_mp = 3;
	set_path(&s->extra[0], x, 3);
	s->mp_keys[0] = 154;
	s->mp_keys[1] = 102;
	s->mp_keys[2] = 40;
	ok(ctld_session_entries(s, &t) == 0, "multipath session entries");
	e = ctld_table_find(&t, 1, 4);
	ok(e && e->next_hop == 2 && e->prot_next_hop == 5 && e->n_mp == 3 &&
	   e->mp_hop[0] == 2 && e->mp_hop[1] == 5 && e->mp_hop[2] == 7 &&
	   e->mp_keys[0] == 154 && e->mp_keys[1] == 102 && e->mp_keys[2] == 40,
	   "the source's entry: the first hop of every path and its share");
	ok(expect(&t, 7, 4, 4, 0, 5), "the extra path's transit KM routes toward the destination");
	ok(!ctld_table_find(&t, 7, 1), "no extra entry toward the source (ACKs take the working path)");
	e = ctld_table_find(&t, 4, 1);
	ok(e && e->n_mp == 0 && e->next_hop == 3, "the destination's entry: no multipath");
	ok(t.n == 11, "10 entries of working and protection, 1 of the extra path (%zu)", t.n);
	ctld_table_free(&t);
	ok(ctld_table_build(list, 1, &t) == 0, "built");
	s->mp_keys[2] = 41;
	ok(ctld_table_build(list, 1, &t2) == 0, "rebuilt with another share");
	ok(ctld_table_diff(&t, &t2, log_cb, &log) == 1 && !strcmp(log.buf, "+1>4:2 "),
	   "a changed share is pushed again (%s)", log.buf);
	ctld_table_free(&t);
	ctld_table_free(&t2);
	session_free(s);
}

int main(void)
{
	test_entries();
	test_link_disjoint_shared_km();
	test_build_and_diff();
	test_faults();
	test_priority_order();
	test_config();
	test_cn();
	test_recovery();
	test_multipath_entries();
	return tap_done();
}
