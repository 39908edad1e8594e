// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Continuous key supply: store refill.
 *
 * For each session this node is the source of ([session] in kmd.conf, or
 * added with kmd_supply_session()), the store of relayed keys shared with
 * the destination is kept at `keep` keys or more by relaying
 * (QKDN_CMD_RELAY) ahead of demand. Applications then take keys from the
 * store (KEY_GET, ETSI 014) without waiting for a relay, so a failure on
 * the relay route costs them nothing as long as the store lasts longer
 * than the switch to the protection route (routes.c) or the controller's
 * recovery.
 *
 * One worker thread with its own netlink socket: a relay holds its
 * request until the destination's acknowledgment came back through this
 * daemon's own event loop, which must keep running meanwhile. Each round
 * reads every store's level (STORE_GET), then walks the sessions by
 * priority (0 first; equal priorities by destination) and refills each up
 * to its level, in relays of at most QKDN_RELAY_KEYS_MAX keys and
 * QKDN_RELAY_BYTES_ANY_UNIT bytes (which fit every hop whatever its
 * links' units), before the next session gets anything.
 * Policy when link keys run short (seed 001 clause 8.3): a relay refused
 * with EAGAIN (too few keys on the first link) ends the round for every
 * session of lower priority, so what keys the links produce go to the
 * higher priorities first. Rounds follow each other at once while a relay
 * succeeded, otherwise every KMD_SUPPLY_IDLE_MS.
 *
 * Multipath (seed 004 Req_C-R 1): when the controller gave the session's
 * entry several paths (QKDN_W_MULTIPATH_HOPS, because no single path can
 * carry its amount), each relay names its first hop (QKDN_CMD_RELAY with
 * QKDN_A_NEXT_HOP_NODE_ID) and the relays are spread over the paths in
 * proportion to their shares (qkdn_route_split_pick()); a path whose relay
 * fails is left out for the rest of the round. Paths whose first hop's Kx
 * session is down are not offered (kmd_supply_paths_refresh()).
 *
 * Nothing here touches key bytes: relay replies name keys by ID only.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <linux/qkdn.h>

#include "kmd.h"
#include "log.h"
#include "route.h"
#include "util.h"

#define KMD_SUPPLY_IDLE_MS	100
#define SUPPLY_PATHS_MAX	8

struct supply_session {
	uint32_t dest;
	uint32_t keep;
	uint8_t priority;
	uint32_t key_bits;
	uint64_t session_id;
	/* Counters, written by the worker under the lock. */
	uint64_t relays, keys, failed, deferred;
	int last_err;
	/* Multipath: n_paths >= 2 first hops and shares; keys each carried. */
	unsigned int n_paths;
	uint32_t path_hop[SUPPLY_PATHS_MAX], path_share[SUPPLY_PATHS_MAX];
	uint64_t path_keys[SUPPLY_PATHS_MAX];
	uint64_t streak;		/* rounds failed since the last relay */
};

struct kmd_supply {
	struct kmd *kmd;
	pthread_t worker;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop;
	struct supply_session *sessions;
	size_t n, cap;
	struct qkdn_nl *nl;		/* the worker's */
	struct qkdn_nl_msg *msg;
};

/* A store level, from STORE_GET. */
struct store_level {
	uint32_t node;
	uint64_t own;
};

struct levels {
	struct store_level *v;
	size_t n, cap;
};

static int store_cb(const struct nlmsghdr *nlh, void *data)
{
	struct levels *l = data;
	const struct nlattr *tb[QKDN_A_MAX + 1], *st[QKDN_STORE_A_MAX + 1];
	struct store_level *s;
	uint32_t node;

	if (!nlh) {
		l->n = 0;
		return 0;
	}
	if (qkdn_nl_parse(nlh, tb, QKDN_A_MAX) < 0 ||
	    !qkdn_nla_u32(tb[QKDN_A_PEER_NODE_ID], &node) || !tb[QKDN_A_STORE_STATS] ||
	    qkdn_nl_parse_nested(tb[QKDN_A_STORE_STATS], st, QKDN_STORE_A_MAX) < 0)
		return -EBADMSG;
	s = qkdn_grow((void **)&l->v, &l->n, &l->cap, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->node = node;
	qkdn_nla_u64(st[QKDN_STORE_A_OWN_AVAILABLE], &s->own);
	return 0;
}

static uint64_t level_of(const struct levels *l, uint32_t node)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].node == node)
			return l->v[i].own;
	return 0;
}

static int by_priority(const void *a, const void *b)
{
	const struct supply_session *x = a, *y = b;

	if (x->priority != y->priority)
		return x->priority < y->priority ? -1 : 1;
	return x->dest < y->dest ? -1 : x->dest > y->dest;
}

static int relay(struct kmd_supply *sup, uint32_t dest, uint32_t amount, uint32_t bits,
		 uint32_t via)
{
	qkdn_nl_msg_reset(sup->msg, QKDN_CMD_RELAY, 0);
	qkdn_nl_put_u32(sup->msg, QKDN_A_DEST_NODE_ID, dest);
	if (via)
		qkdn_nl_put_u32(sup->msg, QKDN_A_NEXT_HOP_NODE_ID, via);
	qkdn_nl_put_u32(sup->msg, QKDN_A_KEY_AMOUNT, amount);
	qkdn_nl_put_u32(sup->msg, QKDN_A_KEY_SIZE, bits);
	return qkdn_nl_request(sup->nl, sup->msg, NULL, NULL);
}

/* Adds a round's outcome for dest to the shared counters. */
static void account_paths(struct kmd_supply *sup, const struct supply_session *r)
{
	pthread_mutex_lock(&sup->lock);
	for (size_t i = 0; i < sup->n; i++) {
		struct supply_session *s = &sup->sessions[i];

		/* Only if the paths did not change meanwhile. */
		if (s->dest != r->dest || s->n_paths != r->n_paths ||
		    memcmp(s->path_hop, r->path_hop, r->n_paths * sizeof(r->path_hop[0])))
			continue;
		memcpy(s->path_keys, r->path_keys, sizeof(s->path_keys));
	}
	pthread_mutex_unlock(&sup->lock);
}

static void account(struct kmd_supply *sup, uint32_t dest, uint64_t relays, uint64_t keys,
		    uint64_t failed, uint64_t deferred, int err)
{
	pthread_mutex_lock(&sup->lock);
	for (size_t i = 0; i < sup->n; i++) {
		struct supply_session *s = &sup->sessions[i];

		if (s->dest != dest)
			continue;
		s->relays += relays;
		s->keys += keys;
		s->failed += failed;
		s->deferred += deferred;
		if (failed || relays)
			s->last_err = err;
		/* EAGAIN and EHOSTUNREACH are logged at debug level, one a
		 * round: the first of a streak and its end at info level. */
		if (failed && !relays && !s->streak++) {
			const char *name = strerrorname_np(-err);

			qkdn_log(QKDN_LOG_INFO, "store refill failing",
				 "event=refill-stalled dest=%u errno=%s", dest, name ? name : "other");
		} else if (relays && s->streak) {
			qkdn_log(QKDN_LOG_INFO, "store refill relays again",
				 "event=refill-resumed dest=%u failed_rounds=%" PRIu64, dest,
				 s->streak);
			s->streak = 0;
		}
	}
	pthread_mutex_unlock(&sup->lock);
}

/* Refills one session; returns keys relayed, or -errno of the relay that
 * stopped it (after any that succeeded). */
static long refill(struct kmd_supply *sup, struct supply_session *s, uint64_t level)
{
	uint32_t per_relay = QKDN_RELAY_BYTES_ANY_UNIT * 8 / s->key_bits;
	uint32_t share[SUPPLY_PATHS_MAX];
	uint64_t relays = 0, keys = 0;
	int ret = 0;

	memcpy(share, s->path_share, sizeof(share));
	if (per_relay > QKDN_RELAY_KEYS_MAX)
		per_relay = QKDN_RELAY_KEYS_MAX;
	while (level < s->keep) {
		uint64_t want = s->keep - level;
		uint32_t n = want < per_relay ? (uint32_t)want : per_relay;

		pthread_mutex_lock(&sup->lock);
		ret = sup->stop ? -ECANCELED : 0;
		pthread_mutex_unlock(&sup->lock);
		if (ret)
			break;
		if (s->n_paths >= 2) {
			int i = qkdn_route_split_pick(share, s->path_keys, s->n_paths, n);

			if (i < 0)
				break;	/* ret: the last path's failure */
			ret = relay(sup, s->dest, n, s->key_bits, s->path_hop[i]);
			if (ret == -EAGAIN || ret == -EHOSTUNREACH || ret == -ETIMEDOUT) {
				/* That path is out for this round. */
				qkdn_log(QKDN_LOG_DEBUG, "multipath relay failed",
					 "event=refill-path-failed dest=%u via=%u errno=%s", s->dest,
					 s->path_hop[i], strerrorname_np(-ret));
				share[i] = 0;
				continue;
			}
			if (!ret)
				s->path_keys[i] += n;
		} else {
			ret = relay(sup, s->dest, n, s->key_bits, 0);
		}
		if (ret)
			break;
		relays++;
		keys += n;
		level += n;
	}
	if (ret && ret != -ECANCELED) {
		/* EAGAIN while links refill and EHOSTUNREACH before a route
		 * exists are routine; the rest deserves a warning. */
		enum qkdn_log_level lvl = ret == -EAGAIN || ret == -EHOSTUNREACH
					  ? QKDN_LOG_DEBUG : QKDN_LOG_WARN;
		const char *name = strerrorname_np(-ret);

		qkdn_log(lvl, "store refill relay failed",
			 "event=refill-failed dest=%u priority=%u level=%" PRIu64 " keep=%u errno=%s",
			 s->dest, s->priority, level, s->keep, name ? name : "other");
	}
	account(sup, s->dest, relays, keys, ret && ret != -ECANCELED, 0, ret);
	if (s->n_paths >= 2)
		account_paths(sup, s);
	return ret && ret != -ECANCELED && !keys ? ret : (long)keys;
}

static void *worker_main(void *arg)
{
	struct kmd_supply *sup = arg;
	struct supply_session *round = NULL;
	struct levels levels = { 0 };
	size_t cap = 0;

	for (;;) {
		bool progress = false;
		int short_prio = QKDN_KMD_SESSION_PRIO_MAX + 1;
		size_t n;

		pthread_mutex_lock(&sup->lock);
		if (sup->stop) {
			pthread_mutex_unlock(&sup->lock);
			break;
		}
		if (cap < sup->n) {
			struct supply_session *more = realloc(round, sup->n * sizeof(*round));

			if (more) {
				round = more;
				cap = sup->n;
			}
		}
		n = sup->n < cap ? sup->n : cap;
		if (n)
			memcpy(round, sup->sessions, n * sizeof(*round));
		pthread_mutex_unlock(&sup->lock);

		if (n) {
			qkdn_nl_msg_reset(sup->msg, QKDN_CMD_STORE_GET, 0);
			if (qkdn_nl_dump(sup->nl, sup->msg, store_cb, &levels) < 0)
				levels.n = 0;
			qsort(round, n, sizeof(*round), by_priority);
		}
		for (size_t i = 0; i < n; i++) {
			struct supply_session *s = &round[i];
			uint64_t level = level_of(&levels, s->dest);
			long got;

			if (level >= s->keep)
				continue;
			if (s->priority > short_prio) {
				account(sup, s->dest, 0, 0, 0, 1, 0);
				continue;
			}
			got = refill(sup, s, level);
			if (got > 0)
				progress = true;
			if (got == -EAGAIN && s->priority < short_prio)
				short_prio = s->priority;
		}

		pthread_mutex_lock(&sup->lock);
		if (!sup->stop && !progress) {
			struct timespec until;

			clock_gettime(CLOCK_MONOTONIC, &until);
			until.tv_nsec += KMD_SUPPLY_IDLE_MS * 1000000L;
			if (until.tv_nsec >= 1000000000L) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&sup->wake, &sup->lock, &until);
		}
		pthread_mutex_unlock(&sup->lock);
	}
	free(round);
	free(levels.v);
	return NULL;
}

int kmd_supply_session(struct kmd *kmd, uint32_t dest, uint32_t keep, uint8_t priority,
		       uint32_t key_bits, uint64_t session_id)
{
	struct kmd_supply *sup = kmd->supply;
	struct supply_session *s = NULL;
	bool added = false;

	if (!sup)
		return -ENOTCONN;
	if (!dest || dest == kmd->cfg.node_id || !keep || keep > QKDN_KMD_SESSION_KEEP_MAX ||
	    priority > QKDN_KMD_SESSION_PRIO_MAX || key_bits % 64 ||
	    key_bits < QKDN_KEY_UNIT_MIN * 8 || key_bits > QKDN_KEY_UNIT_MAX * 8)
		return -EINVAL;
	pthread_mutex_lock(&sup->lock);
	for (size_t i = 0; i < sup->n; i++)
		if (sup->sessions[i].dest == dest)
			s = &sup->sessions[i];
	if (!s) {
		s = qkdn_grow((void **)&sup->sessions, &sup->n, &sup->cap, sizeof(*s));
		added = true;
	}
	if (s) {
		s->dest = dest;
		s->keep = keep;
		s->priority = priority;
		s->key_bits = key_bits;
		if (session_id)
			s->session_id = session_id;
		pthread_cond_signal(&sup->wake);
	}
	pthread_mutex_unlock(&sup->lock);
	if (!s)
		return -ENOMEM;
	qkdn_log(QKDN_LOG_INFO, added ? "supply session added" : "supply session updated",
		 "event=supply-session dest=%u keep=%u priority=%u key_bits=%u session=%016" PRIx64,
		 dest, keep, priority, key_bits, session_id);
	return 0;
}

int kmd_supply_start(struct kmd *kmd)
{
	struct kmd_supply *sup;
	int ret;

	if (kmd->no_kernel)
		return 0;
	sup = calloc(1, sizeof(*sup));
	if (!sup)
		return -ENOMEM;
	sup->kmd = kmd;
	pthread_mutex_init(&sup->lock, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&sup->wake, &ca);
		pthread_condattr_destroy(&ca);
	}
	kmd->supply = sup;
	ret = qkdn_nl_open(&sup->nl);
	sup->msg = ret ? NULL : qkdn_nl_msg_new(QKDN_CMD_RELAY, 0);
	if (!ret && !sup->msg)
		ret = -ENOMEM;
	if (ret) {
		qkdn_log(QKDN_LOG_ERR, "store refill: no netlink socket",
			 "event=start-failed err=\"%s\"", strerror(-ret));
		return ret;
	}
	for (size_t i = 0; i < kmd->cfg.n_sessions; i++) {
		const struct qkdn_kmd_session_conf *c = &kmd->cfg.sessions[i];

		ret = kmd_supply_session(kmd, c->dest, c->keep, c->priority, c->key_bits, 0);
		if (ret)
			return ret;
	}
	ret = pthread_create(&sup->worker, NULL, worker_main, sup);
	if (ret) {
		qkdn_log(QKDN_LOG_ERR, "store refill: no worker thread",
			 "event=start-failed err=\"%s\"", strerror(ret));
		return -ret;
	}
	sup->started = true;
	return 0;
}

void kmd_supply_stop(struct kmd *kmd)
{
	struct kmd_supply *sup = kmd->supply;

	if (!sup)
		return;
	pthread_mutex_lock(&sup->lock);
	sup->stop = true;
	pthread_cond_signal(&sup->wake);
	pthread_mutex_unlock(&sup->lock);
}

void kmd_supply_paths(struct kmd *kmd, uint32_t dest, const uint32_t *hops,
		      const uint32_t *keys, unsigned int n)
{
	struct kmd_supply *sup = kmd->supply;
	char desc[160];
	size_t o = 0;

	if (!sup)
		return;
	if (n < 2 || n > SUPPLY_PATHS_MAX)
		n = 0;
	desc[0] = '\0';
	for (unsigned int i = 0; i < n && o < sizeof(desc); i++)
		o += (size_t)snprintf(desc + o, sizeof(desc) - o, "%s%u:%u", i ? "," : "", hops[i],
				      keys[i]);
	pthread_mutex_lock(&sup->lock);
	for (size_t i = 0; i < sup->n; i++) {
		struct supply_session *s = &sup->sessions[i];

		if (s->dest != dest)
			continue;
		if (s->n_paths == n && !memcmp(s->path_hop, hops, n * sizeof(*hops)) &&
		    !memcmp(s->path_share, keys, n * sizeof(*keys)))
			continue;
		s->n_paths = n;
		memset(s->path_hop, 0, sizeof(s->path_hop));
		memset(s->path_share, 0, sizeof(s->path_share));
		memset(s->path_keys, 0, sizeof(s->path_keys));
		if (n) {
			memcpy(s->path_hop, hops, n * sizeof(*hops));
			memcpy(s->path_share, keys, n * sizeof(*keys));
		}
		qkdn_log(QKDN_LOG_INFO, "refill paths", "event=supply-paths dest=%u paths=%u via=%s",
			 dest, n, n ? desc : "route");
		pthread_cond_signal(&sup->wake);
	}
	pthread_mutex_unlock(&sup->lock);
}

void kmd_supply_paths_refresh(struct kmd *kmd)
{
	struct kmd_supply *sup = kmd->supply;
	uint32_t dests[64];
	size_t nd = 0;

	if (!sup)
		return;
	pthread_mutex_lock(&sup->lock);
	for (size_t i = 0; i < sup->n && nd < sizeof(dests) / sizeof(dests[0]); i++)
		dests[nd++] = sup->sessions[i].dest;
	pthread_mutex_unlock(&sup->lock);
	for (size_t d = 0; d < nd; d++) {
		const struct kmd_route *r = kmd_routes_effective(kmd, dests[d]);
		uint32_t hops[SUPPLY_PATHS_MAX], keys[SUPPLY_PATHS_MAX];
		unsigned int n = 0;

		for (unsigned int i = 0; r && i < r->n_mp && i < SUPPLY_PATHS_MAX; i++) {
			if (!r->mp_keys[i] || !kmd_peer_is_up(kmd, r->mp_hop[i]))
				continue;
			hops[n] = r->mp_hop[i];
			keys[n++] = r->mp_keys[i];
		}
		kmd_supply_paths(kmd, dests[d], hops, keys, n);
	}
}

void kmd_supply_log_stats(struct kmd *kmd, const char *why)
{
	struct kmd_supply *sup = kmd->supply;

	if (!sup)
		return;
	pthread_mutex_lock(&sup->lock);
	for (size_t i = 0; i < sup->n; i++) {
		const struct supply_session *s = &sup->sessions[i];
		const char *err = s->last_err ? strerrorname_np(-s->last_err) : "none";

		qkdn_log(QKDN_LOG_INFO, "supply counters",
			 "event=stats why=%s dest=%u keep=%u priority=%u relays=%" PRIu64
			 " keys=%" PRIu64 " failed=%" PRIu64 " deferred=%" PRIu64 " last_errno=%s",
			 why, s->dest, s->keep, s->priority, s->relays, s->keys, s->failed,
			 s->deferred, err ? err : "other");
		for (unsigned int j = 0; j < s->n_paths; j++)
			qkdn_log(QKDN_LOG_INFO, "supply path counters",
				 "event=stats why=%s dest=%u via=%u share=%u keys=%" PRIu64, why,
				 s->dest, s->path_hop[j], s->path_share[j], s->path_keys[j]);
	}
	pthread_mutex_unlock(&sup->lock);
}

void kmd_supply_free(struct kmd *kmd)
{
	struct kmd_supply *sup = kmd->supply;

	if (!sup)
		return;
	kmd_supply_stop(kmd);
	if (sup->started)
		pthread_join(sup->worker, NULL);
	qkdn_nl_msg_free(sup->msg);
	qkdn_nl_close(sup->nl);
	pthread_cond_destroy(&sup->wake);
	pthread_mutex_destroy(&sup->lock);
	free(sup->sessions);
	free(sup);
	kmd->supply = NULL;
}
