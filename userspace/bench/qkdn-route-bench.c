// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * qkdn-route-bench: speed and memory of the controller's route
 * computation (lib/route.c) on synthetic topologies, host-native.
 *
 *   qkdn-route-bench [--nodes N[,N...]] [--pairs P] [--amount BYTES]
 *                    [--seed S]
 *
 * For each size N (default 100,1000,10000) it builds a connected network
 * of N nodes: a ring plus N random chords, so 2N links, about four per
 * node, with node IDs shuffled against insertion order. Link metrics are
 * random: key available 0..4 MiB, consumption 0..120% of generation,
 * QBER 0..10% (so some chords are over the 8% threshold), 2% of chords
 * out of service. Ring links keep QBER under 5% and at least 1 MiB, so
 * every pair has a route. Then, over P random source/destination pairs
 * (default 2000), it times each
 *   route      qkdn_route_compute() for BYTES (default 4096)
 *   protected  qkdn_route_protected() for BYTES
 *   multipath  qkdn_route_multipath() for twice what the cheapest path
 *              for the pair could carry
 * and reports the median, 99th percentile and mean of this thread's CPU
 * time per call (so other load on the machine does not count), plus the
 * time of one
 * metrics update (qkdn_topo_link_set_metrics(), what a status report
 * does) and the memory of the topology with and without the scratch
 * space that computations keep (qkdn_topo_mem_bytes()).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "route.h"
#include "util.h"

/* xorshift64*: the same topology and pairs on every machine */
static uint64_t rng_state;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static uint64_t rng_below(uint64_t n)
{
	return rng() % n;
}

/*
 * CPU time of this thread: what a computation costs, without the time
 * other processes on a busy machine took the CPU away (one clock read
 * is a system call of a few hundred ns, included in every figure).
 */
static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static struct qkdn_link_metrics random_metrics(bool ring)
{
	uint64_t gen = 1000 + rng_below(100000);

	return (struct qkdn_link_metrics){
		.key_avail = ring ? (1 << 20) + rng_below(3 << 20) : rng_below(4 << 20),
		.gen_rate = gen,
		.consume_rate = gen * rng_below(121) / 100,
		.qber = (double)rng_below(ring ? 500 : 1000) / 10000,
		.unit = 32,
		.up = true,
	};
}

static int build(struct qkdn_topo *t, uint32_t n, uint32_t *ids)
{
	uint32_t i, links = 0;
	int ret;

	for (i = 0; i < n; i++)
		ids[i] = i + 1;
	for (i = n - 1; i > 0; i--) {
		uint32_t j = rng_below(i + 1), tmp = ids[i];

		ids[i] = ids[j];
		ids[j] = tmp;
	}
	for (i = 0; i < n; i++) {
		ret = qkdn_topo_node_add(t, ids[i]);
		if (ret)
			return ret;
	}
	for (i = 0; i < n; i++) {
		struct qkdn_link_metrics m = random_metrics(true);

		ret = qkdn_topo_link_add(t, ids[i], ids[(i + 1) % n], &m);
		if (ret)
			return ret;
	}
	while (links < n) {
		uint32_t a = ids[rng_below(n)], b = ids[rng_below(n)];
		struct qkdn_link_metrics m = random_metrics(false);

		if (a == b || qkdn_topo_link_add(t, a, b, &m))
			continue;	/* the same node, or a link already there */
		if (rng_below(100) < 2)
			qkdn_topo_link_set_state(t, a, b, QKDN_TOPO_OUT_OF_SERVICE);
		links++;
	}
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct stats {
	double median, p99, mean;	/* microseconds */
};

static struct stats summarize(double *ns, unsigned int n)
{
	struct stats s = { 0 };
	unsigned int i;

	qsort(ns, n, sizeof(*ns), cmp_double);
	for (i = 0; i < n; i++)
		s.mean += ns[i];
	s.mean /= n * 1e3;
	s.median = ns[n / 2] / 1e3;
	s.p99 = ns[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1] / 1e3;
	return s;
}

enum { ROUTE, PROTECTED, MULTIPATH, KINDS };
static const char *const kind_names[KINDS] = { "route", "protected", "multipath" };

static int run(uint32_t n, unsigned int pairs, uint64_t amount, uint64_t seed)
{
	struct qkdn_topo *t = qkdn_topo_new();
	uint32_t *ids = calloc(n, sizeof(*ids));
	double *ns = calloc(pairs, sizeof(*ns)), t0, build_ms, update_ns;
	struct qkdn_route_pair pair = { 0 };
	struct qkdn_multipath mp = { 0 };
	struct qkdn_path path = { 0 };
	unsigned int i, k, counts[KINDS][3] = { { 0 } }, hops = 0;
	size_t mem_topo;
	int ret = -ENOMEM;

	if (!t || !ids || !ns)
		goto out;
	rng_state = seed * 0x9e3779b97f4a7c15ULL + n;
	t0 = now_ns();
	ret = build(t, n, ids);
	if (ret)
		goto out;
	build_ms = (now_ns() - t0) / 1e6;
	mem_topo = qkdn_topo_mem_bytes(t);

	/* a status report: new metrics on one ring link */
	t0 = now_ns();
	for (i = 0; i < 100000; i++) {
		uint32_t a = rng_below(n);
		struct qkdn_link_metrics m = random_metrics(true);

		qkdn_topo_link_set_metrics(t, ids[a], ids[(a + 1) % n], &m);
	}
	update_ns = (now_ns() - t0) / 100000;

	for (k = 0; k < KINDS; k++) {
		uint64_t seed_pairs = seed * 31 + n;
		unsigned int runs = k == ROUTE ? pairs : pairs / 4 ? pairs / 4 : 1;
		unsigned int failed = 0;
		struct stats s;

		rng_state = seed_pairs;
		for (i = 0; i < runs; i++) {
			uint32_t ia = rng_below(n), a = ids[ia];
			uint32_t b = ids[(ia + 1 + rng_below(n - 1)) % n];
			uint64_t want = amount;

			/* multipath: twice what the cheapest path could carry */
			if (k == MULTIPATH) {
				ret = qkdn_route_compute(t, a, b, 0, NULL, &path);
				if (ret)
					goto out;
				want = 2 * path.capacity + 1;
			}
			t0 = now_ns();
			if (k == ROUTE)
				ret = qkdn_route_compute(t, a, b, want, NULL, &path);
			else if (k == PROTECTED)
				ret = qkdn_route_protected(t, a, b, want, NULL, &pair);
			else
				ret = qkdn_route_multipath(t, a, b, want, NULL, &mp);
			ns[i] = now_ns() - t0;
			if (ret == -EAGAIN || ret == -EHOSTUNREACH) {
				failed++;
				continue;
			}
			if (ret) {
				fprintf(stderr, "%s %u -> %u: %s\n", kind_names[k], a, b,
					strerror(-ret));
				goto out;
			}
			if (k == ROUTE) {
				counts[k][0]++;
				hops += path.hops;
			} else if (k == PROTECTED) {
				counts[k][pair.kind]++;
			} else {
				counts[k][mp.count > 2 ? 2 : mp.count - 1]++;
			}
		}
		s = summarize(ns, runs);
		printf("%6u %6zu %-10s %6u %10.1f %10.1f %10.1f", n,
		       qkdn_topo_link_count(t), kind_names[k], runs, s.median, s.p99, s.mean);
		if (k == ROUTE)
			printf("   found %u, mean %.1f hops", counts[k][0],
			       counts[k][0] ? (double)hops / counts[k][0] : 0.0);
		else if (k == PROTECTED)
			printf("   node-disjoint %u, link-disjoint %u, none %u",
			       counts[k][QKDN_PROTECTION_NODE_DISJOINT],
			       counts[k][QKDN_PROTECTION_LINK_DISJOINT],
			       counts[k][QKDN_PROTECTION_NONE]);
		else
			printf("   1 path %u, 2 paths %u, 3+ paths %u", counts[k][0],
			       counts[k][1], counts[k][2]);
		printf(", failed %u\n", failed);
	}
	printf("%6u %6zu memory: topology %zu bytes (%.0f per node), with scratch %zu;"
	       " build %.1f ms; one metrics update %.0f ns\n",
	       n, qkdn_topo_link_count(t), mem_topo, (double)mem_topo / n,
	       qkdn_topo_mem_bytes(t), build_ms, update_ns);
	ret = 0;
out:
	qkdn_path_release(&path);
	qkdn_route_pair_release(&pair);
	qkdn_multipath_release(&mp);
	qkdn_topo_free(t);
	free(ids);
	free(ns);
	return ret;
}

static void usage(void)
{
	fprintf(stderr, "usage: qkdn-route-bench [--nodes N[,N...]] [--pairs P] "
		"[--amount BYTES] [--seed S]\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "nodes", required_argument, NULL, 'n' },
		{ "pairs", required_argument, NULL, 'p' },
		{ "amount", required_argument, NULL, 'a' },
		{ "seed", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	char nodes_default[] = "100,1000,10000", *nodes = nodes_default, *tok, *save;
	uint64_t amount = 4096, seed = 1;
	uint32_t pairs = 2000, n;
	int c;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			nodes = optarg;
			break;
		case 'p':
			if (qkdn_parse_u32(optarg, 1, 10000000, &pairs)) {
				fprintf(stderr, "qkdn-route-bench: --pairs: 1..10000000\n");
				return 2;
			}
			break;
		case 'a':
			if (qkdn_parse_u64(optarg, 0, QKDN_ROUTE_AMOUNT_MAX, &amount)) {
				fprintf(stderr, "qkdn-route-bench: --amount: 0..%llu\n",
					(unsigned long long)QKDN_ROUTE_AMOUNT_MAX);
				return 2;
			}
			break;
		case 's':
			if (qkdn_parse_u64(optarg, 0, UINT64_MAX, &seed)) {
				fprintf(stderr, "qkdn-route-bench: --seed: a number\n");
				return 2;
			}
			break;
		default:
			usage();
			return c == 'h' ? 0 : 2;
		}
	}
	if (optind != argc) {
		usage();
		return 2;
	}
	printf("# qkdn-route-bench: %u pairs (protected, multipath: a quarter), "
	       "%llu key bytes, seed %llu\n", pairs, (unsigned long long)amount,
	       (unsigned long long)seed);
	printf("# nodes  links kind         runs  median_us     p99_us    mean_us\n");
	for (tok = strtok_r(nodes, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (qkdn_parse_u32(tok, 3, 1000000, &n)) {
			fprintf(stderr, "qkdn-route-bench: --nodes: 3..1000000, got '%s'\n", tok);
			return 2;
		}
		if (run(n, pairs, amount, seed)) {
			fprintf(stderr, "qkdn-route-bench: %u nodes failed\n", n);
			return 1;
		}
	}
	return 0;
}
