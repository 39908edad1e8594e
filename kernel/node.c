// SPDX-License-Identifier: GPL-2.0
/*
 * The QKD node of a network namespace: its KMA links, the applications it
 * serves, and key supply (Ak) from the link pools to those applications.
 */

#include <linux/jiffies.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/timekeeping.h>
#include <net/netns/generic.h>

#include "ksa.h"
#include "kx.h"
#include "main.h"
#include "netlink.h"
#include "node.h"

static unsigned int qkdn_net_id __read_mostly;

struct qkdn_node *qkdn_node_of(struct net *net)
{
	return net_generic(net, qkdn_net_id);
}

struct qkdn_link *qkdn_link_find(struct qkdn_node *node, u32 id)
{
	return xa_load(&node->links, id);
}

int qkdn_link_add(struct qkdn_node *node, const struct qkdn_link_config *cfg,
		  struct netlink_ext_ack *extack)
{
	bool alice = cfg->role == QKDN_ROLE_ALICE;
	struct qkdn_link *link;
	unsigned long index;
	int ret;

	if (node->link_count >= QKDN_LINKS_MAX) {
		NL_SET_ERR_MSG(extack, "too many links");
		return -ENOSPC;
	}
	xa_for_each(&node->links, index, link) {
		if (!strcmp(link->module, cfg->module) &&
		    !strcmp(link->peer_module, cfg->peer_module)) {
			NL_SET_ERR_MSG(extack,
				       "another link has this QKD module pair");
			return -EEXIST;
		}
	}
	link = kzalloc(sizeof(*link), GFP_KERNEL);
	if (!link)
		return -ENOMEM;
	link->id = cfg->id;
	link->peer_node = cfg->peer_node;
	link->role = cfg->role;
	strscpy(link->module, cfg->module, sizeof(link->module));
	strscpy(link->peer_module, cfg->peer_module, sizeof(link->peer_module));
	ret = qkdn_pool_init(&link->pool, cfg->unit, alice,
			     alice ? cfg->module : cfg->peer_module,
			     alice ? cfg->peer_module : cfg->module,
			     cfg->capacity, cfg->low, cfg->high);
	if (ret)
		goto err_free;
	ret = xa_insert(&node->links, cfg->id, link, GFP_KERNEL);
	if (ret) {
		if (ret == -EBUSY) {
			NL_SET_ERR_MSG(extack, "link ID in use");
			ret = -EEXIST;
		}
		goto err_pool;
	}
	link->alarms = qkdn_pool_alarms(&link->pool);
	link->rate_stamp = jiffies;
	qkdn_objects_inc();
	++node->link_count;
	++node->generation;
	return 0;

err_pool:
	qkdn_pool_destroy(&link->pool);
err_free:
	kfree(link);
	return ret;
}

void qkdn_link_del(struct qkdn_node *node, struct qkdn_link *link)
{
	qkdn_ksa_link_gone(node, link);
	xa_erase(&node->links, link->id);
	qkdn_pool_destroy(&link->pool);
	kfree_sensitive(link);
	qkdn_objects_dec();
	--node->link_count;
	++node->generation;
}

static void link_sample_rates(struct qkdn_link *link)
{
	unsigned long elapsed = jiffies - link->rate_stamp;
	const struct qkdn_pool_stats *stats = &link->pool.stats;

	if (elapsed < HZ)
		return;
	link->gen_rate = div_u64((stats->generated - link->rate_generated) * HZ,
				 elapsed);
	link->cons_rate = div_u64((stats->consumed - link->rate_consumed) * HZ,
				  elapsed);
	link->rate_stamp = jiffies;
	link->rate_generated = stats->generated;
	link->rate_consumed = stats->consumed;
}

/* After any change to a pool: refresh its rates and report alarm edges. */
void qkdn_link_update(struct qkdn_node *node, struct qkdn_link *link)
{
	unsigned int now = qkdn_pool_alarms(&link->pool);
	unsigned int raised = now & ~link->alarms;

	link_sample_rates(link);
	if (raised & QKDN_POOL_LOW)
		qkdn_netlink_alarm(node, link, QKDN_ALARM_POOL_LOW);
	if (link->alarms & ~now & QKDN_POOL_LOW)
		qkdn_netlink_alarm(node, link, QKDN_ALARM_POOL_LOW_CLEARED);
	if (raised & QKDN_POOL_HIGH)
		qkdn_netlink_alarm(node, link, QKDN_ALARM_POOL_HIGH);
	if (raised & QKDN_POOL_FULL)
		qkdn_netlink_alarm(node, link, QKDN_ALARM_POOL_FULL);
	link->alarms = now;
}

struct qkdn_app *qkdn_app_find(struct qkdn_node *node, const char *sae)
{
	struct qkdn_app *app;

	list_for_each_entry(app, &node->apps, list)
		if (!strcmp(app->sae, sae))
			return app;
	return NULL;
}

int qkdn_app_add(struct qkdn_node *node, const char *sae, u32 node_id,
		 kuid_t uid, struct netlink_ext_ack *extack)
{
	struct qkdn_app *app;

	if (qkdn_app_find(node, sae)) {
		NL_SET_ERR_MSG(extack, "SAE ID already registered");
		return -EEXIST;
	}
	if (node->app_count >= QKDN_APPS_MAX) {
		NL_SET_ERR_MSG(extack, "too many applications");
		return -ENOSPC;
	}
	app = kzalloc(sizeof(*app), GFP_KERNEL);
	if (!app)
		return -ENOMEM;
	strscpy(app->sae, sae, sizeof(app->sae));
	app->node = node_id;
	app->uid = uid;
	list_add_tail(&app->list, &node->apps);
	qkdn_objects_inc();
	++node->app_count;
	++node->generation;
	return 0;
}

void qkdn_app_del(struct qkdn_node *node, struct qkdn_app *app)
{
	list_del(&app->list);
	kfree(app);
	qkdn_objects_dec();
	--node->app_count;
	++node->generation;
}

/*
 * The checks every key supply request passes first: a local SAE the caller
 * may act as, and a remote peer SAE (or, with @local_ok, one of this node:
 * keys a multicast relay kept here are taken by ID). Returns the peer's
 * node ID.
 */
static int supply_check(struct qkdn_node *node, struct qkdn_supply *req,
			struct qkdn_app **app_out, bool local_ok)
{
	struct netlink_ext_ack *extack = req->extack;
	struct qkdn_app *app, *peer;

	app = qkdn_app_find(node, req->sae);
	if (!app) {
		NL_SET_ERR_MSG(extack, "unknown SAE ID");
		return -ENOENT;
	}
	if (app->node != node->id) {
		NL_SET_ERR_MSG(extack, "SAE is not attached to this node");
		return -EINVAL;
	}
	if (!uid_eq(app->uid, req->caller)) {
		NL_SET_ERR_MSG(extack, "caller may not act as this SAE");
		return -EACCES;
	}
	peer = qkdn_app_find(node, req->peer_sae);
	if (!peer) {
		NL_SET_ERR_MSG(extack, "unknown peer SAE ID");
		return -ENOENT;
	}
	if (peer->node == node->id && !local_ok) {
		NL_SET_ERR_MSG(extack, "peer SAE is attached to this node");
		return -EINVAL;
	}
	if (peer == app) {
		NL_SET_ERR_MSG(extack, "peer SAE is the SAE itself");
		return -EINVAL;
	}
	*app_out = app;
	return peer->node;
}

/*
 * Whether the first @amount keys of @store that a request takes (the
 * verified ones only, with KSA synchronisation) are of the requested size;
 * sets *@len to it.
 */
static int store_sizes(struct qkdn_store *store, struct qkdn_supply *req,
		       u32 amount, bool verified, u32 *len)
{
	struct qkdn_relayed_key *key;
	u32 n = 0;

	*len = req->size_bits / 8;
	list_for_each_entry(key, &store->own, list) {
		if (n == amount)
			break;
		if (verified && !key->verified)
			continue;
		if (!n++ && !req->size_bits)
			*len = key->len;
		if (key->len != *len || req->size_bits % 8) {
			NL_SET_ERR_MSG(req->extack,
				       "relayed keys are not of the requested size");
			return -EINVAL;
		}
	}
	if ((u64)amount * *len > QKDN_KEY_BYTES_MAX) {
		NL_SET_ERR_MSG(req->extack, "too many key bytes for one reply");
		return -EMSGSIZE;
	}
	return 0;
}

/* After node->lock was dropped: the application may have gone. */
static struct qkdn_app *app_again(struct qkdn_node *node,
				  struct qkdn_supply *req)
{
	struct qkdn_app *app = qkdn_app_find(node, req->sae);

	if (!app)
		NL_SET_ERR_MSG(req->extack, "unknown SAE ID");
	return app;
}

/*
 * Keys for a distant node: from the store of keys relayed there. With KSA
 * synchronisation only keys verified with that node leave (ksa.c), after
 * a wait for a batch if there are too few.
 */
static int supply_relayed(struct qkdn_node *node, struct qkdn_supply *req,
			  struct qkdn_app *app, u32 peer_node, u32 amount)
{
	struct qkdn_store *store = qkdn_store_find(node, peer_node);
	bool sync = node->ksa_sync;
	struct qkdn_relayed_key *key, *tmp;
	u32 len;
	int ret;

	if (!store && !xa_load(&node->routes, peer_node)) {
		NL_SET_ERR_MSG(req->extack,
			       "no link, route or relayed keys to the peer SAE's node");
		return -EHOSTUNREACH;
	}
	if (!store || store->own_available < amount) {
		NL_SET_ERR_MSG(req->extack,
			       "not enough relayed keys for the peer SAE's node");
		return -EAGAIN;
	}
	ret = store_sizes(store, req, amount, false, &len);
	if (ret)
		return ret;
	req->link_id = 0;
	if (sync) {
		ret = qkdn_ksa_store_wait(node, peer_node, amount, req->nowait,
					  req->extack);
		if (ret)
			return ret;
		store = qkdn_store_find(node, peer_node);
		app = app_again(node, req);
		if (!app)
			return -ENOENT;
		ret = store_sizes(store, req, amount, true, &len);
		if (ret)
			return ret;
	}
	ret = req->prepare(req->ctx, amount, amount * len);
	if (ret)
		return ret;
	list_for_each_entry_safe(key, tmp, &store->own, list) {
		struct qkdn_pool_key out = {
			.id = key->id,
			.data = key->data,
			.len = key->len,
			.created = key->created,
		};

		if (!amount)
			break;
		if (sync && !key->verified)
			continue;
		--amount;
		ret = req->visit(req->ctx, &out);
		qkdn_relayed_free(node, store, key);
		++store->consumed;
		++app->supplied;
		if (ret)
			break;
	}
	if (sync)
		qkdn_ksa_store_refill(node, store);
	return ret;
}

/* For Ak sessions (ak.c), which check as KEY_GET does. */
int qkdn_supply_check(struct qkdn_node *node, struct qkdn_supply *req,
		      struct qkdn_app **app)
{
	return supply_check(node, req, app, false);
}

/* The link GET_KEY takes keys from for @peer_node: the one with most. */
struct qkdn_link *qkdn_supply_link(struct qkdn_node *node, u32 peer_node)
{
	struct qkdn_link *link, *best = NULL;
	unsigned long index;

	xa_for_each(&node->links, index, link) {
		if (link->peer_node != peer_node)
			continue;
		if (!best || link->pool.enc_avail > best->pool.enc_avail)
			best = link;
	}
	return best;
}

/*
 * Keys one GET_KEY can take from @link: with KSA synchronisation, the
 * SYNC frame's MAC key comes from the same half.
 */
u64 qkdn_supply_link_avail(struct qkdn_node *node, struct qkdn_link *link)
{
	u32 mac = node->ksa_sync ?
		  DIV_ROUND_UP(QKDN_KX_MAC_KEY_LEN, link->pool.unit) : 0;

	return link->pool.enc_avail > mac ? link->pool.enc_avail - mac : 0;
}

int qkdn_supply_new(struct qkdn_node *node, struct qkdn_supply *req,
		    u32 amount)
{
	bool sync = node->ksa_sync;
	struct qkdn_link *best;
	struct qkdn_app *app;
	u32 peer_node;
	int ret;

	ret = supply_check(node, req, &app, false);
	if (ret < 0)
		return ret;
	peer_node = ret;

	best = qkdn_supply_link(node, peer_node);
	if (!best)
		return supply_relayed(node, req, app, peer_node, amount);
	if (req->size_bits && req->size_bits != best->pool.unit * 8) {
		NL_SET_ERR_MSG(req->extack, "key size must be the link's unit");
		return -EINVAL;
	}
	if ((u64)amount * best->pool.unit > QKDN_KEY_BYTES_MAX) {
		NL_SET_ERR_MSG(req->extack, "too many key bytes for one reply");
		return -EMSGSIZE;
	}
	if (qkdn_supply_link_avail(node, best) < amount) {
		NL_SET_ERR_MSG(req->extack, "not enough keys in the pool");
		return -EAGAIN;
	}
	req->link_id = best->id;
	if (sync) {
		ret = qkdn_ksa_link_wait(node, best->id, amount, req->nowait,
					 req->extack);
		if (ret)
			return ret;
		best = qkdn_link_find(node, req->link_id);
		app = app_again(node, req);
		if (!app)
			return -ENOENT;
	}
	ret = req->prepare(req->ctx, amount, amount * best->pool.unit);
	if (ret)
		return ret;
	if (sync)
		ret = qkdn_pool_take_verified(&best->pool, amount, req->visit,
					      req->ctx);
	else
		ret = qkdn_pool_take(&best->pool, amount, req->visit, req->ctx);
	if (!ret)
		app->supplied += amount;
	qkdn_link_update(node, best);
	if (sync)
		qkdn_ksa_link_refill(node, best);
	return ret;
}

static struct qkdn_link *link_holding(struct qkdn_node *node, u32 peer_node,
				      const u8 *id)
{
	struct qkdn_link *link;
	unsigned long index;

	xa_for_each(&node->links, index, link)
		if (link->peer_node == peer_node &&
		    qkdn_pool_has_id(&link->pool, id))
			return link;
	return NULL;
}

/* A key the peer's node relayed here, if that is what @id names. */
static struct qkdn_relayed_key *relayed_from(struct qkdn_node *node,
					     u32 peer_node, const u8 *id)
{
	struct qkdn_relayed_key *key = qkdn_relayed_find(node, id);

	return key && !key->own && key->source == peer_node ? key : NULL;
}

int qkdn_supply_by_id(struct qkdn_node *node, struct qkdn_supply *req,
		      const u8 *ids, u32 count, bool delete)
{
	struct qkdn_relayed_key *relayed;
	struct qkdn_link *link;
	struct qkdn_app *app;
	u32 peer_node, i, j;
	u32 bytes = 0;
	int ret;

	ret = supply_check(node, req, &app, true);
	if (ret < 0)
		return ret;
	peer_node = ret;
	ret = 0;

	for (i = 0; i < count; ++i) {
		const u8 *id = ids + i * QKDN_KEY_ID_LEN;

		for (j = 0; j < i; ++j) {
			if (!memcmp(id, ids + j * QKDN_KEY_ID_LEN,
				    QKDN_KEY_ID_LEN)) {
				NL_SET_ERR_MSG(req->extack, "key ID repeated");
				return -EINVAL;
			}
		}
		link = link_holding(node, peer_node, id);
		relayed = link ? NULL : relayed_from(node, peer_node, id);
		if (!link && !relayed) {
			NL_SET_ERR_MSG(req->extack, "no such key");
			return -ENOKEY;
		}
		bytes += link ? link->pool.unit : relayed->len;
	}
	if (!delete && bytes > QKDN_KEY_BYTES_MAX) {
		NL_SET_ERR_MSG(req->extack, "too many key bytes for one reply");
		return -EMSGSIZE;
	}
	if (req->prepare) {
		ret = req->prepare(req->ctx, count, bytes);
		if (ret)
			return ret;
	}
	for (i = 0; i < count && !ret; ++i) {
		const u8 *id = ids + i * QKDN_KEY_ID_LEN;
		struct qkdn_store *store;

		link = link_holding(node, peer_node, id);
		if (link) {
			req->link_id = link->id;
			ret = qkdn_pool_take_id(&link->pool, id,
						delete ? NULL : req->visit,
						req->ctx);
			qkdn_link_update(node, link);
		} else {
			struct qkdn_pool_key out;

			relayed = relayed_from(node, peer_node, id);
			out.id = relayed->id;
			out.data = relayed->data;
			out.len = relayed->len;
			out.created = relayed->created;
			req->link_id = 0;
			ret = delete ? 0 : req->visit(req->ctx, &out);
			store = qkdn_store_find(node, peer_node);
			qkdn_relayed_free(node, store, relayed);
			if (delete)
				++store->deleted;
			else
				++store->consumed;
		}
	}
	if (!delete && !ret)
		app->supplied += count;
	return ret;
}

/*
 * Multicast key supply (ETSI GS QKD 014 additional slave SAEs): fresh keys
 * for the local SAE req->sae, relayed to the node of every slave SAE
 * (req->peer_sae, then @more) and handed to the caller only once each of
 * those nodes acknowledged them. Copies for slave SAEs of this node wait
 * in its store for itself. Every slave then takes the keys by ID, once.
 * Called with node->lock held; drops it while the relay is in flight.
 */
int qkdn_supply_multicast(struct qkdn_node *node, struct qkdn_supply *req,
			  const char *const *more, u32 n_more, u32 amount,
			  u32 len)
{
	struct netlink_ext_ack *extack = req->extack;
	u32 dests[QKDN_MULTICAST_SAES_MAX];
	u32 n_dests = 0, local = 0, i, j;
	struct qkdn_relay *relay;
	unsigned long timeout;
	struct qkdn_app *app;
	long waited;
	int ret;

	if (n_more >= QKDN_MULTICAST_SAES_MAX) {
		NL_SET_ERR_MSG(extack, "at most QKDN_MULTICAST_SAES_MAX slave SAEs");
		return -ERANGE;
	}
	ret = supply_check(node, req, &app, true);
	if (ret < 0)
		return ret;
	for (i = 0; i <= n_more; ++i) {
		const char *sae = i ? more[i - 1] : req->peer_sae;
		struct qkdn_app *slave = qkdn_app_find(node, sae);

		if (!slave) {
			NL_SET_ERR_MSG(extack, "unknown slave SAE ID");
			return -ENOENT;
		}
		if (slave == app) {
			NL_SET_ERR_MSG(extack, "a slave SAE is the master SAE");
			return -EINVAL;
		}
		for (j = 0; j < i; ++j) {
			if (!strcmp(sae, j ? more[j - 1] : req->peer_sae)) {
				NL_SET_ERR_MSG(extack, "a slave SAE is named twice");
				return -EINVAL;
			}
		}
		if (slave->node == node->id)
			++local;
		else
			dests[n_dests++] = slave->node;
	}
	if (!n_dests) {
		NL_SET_ERR_MSG(extack,
			       "no slave SAE is attached to another node: no link to draw keys from");
		return -EINVAL;
	}
	ret = req->prepare(req->ctx, amount, amount * len);
	if (ret)
		return ret;
	ret = qkdn_multicast_start(node, dests, n_dests, amount, len, local,
				   extack, &relay);
	if (ret)
		return ret;

	timeout = msecs_to_jiffies(node->relay_timeout_ms);
	mutex_unlock(&node->lock);
	waited = wait_for_completion_killable_timeout(&relay->done, timeout);
	mutex_lock(&node->lock);

	ret = qkdn_relay_finish(node, relay, waited);
	if (ret) {
		NL_SET_ERR_MSG(extack,
			       "a slave SAE's node did not acknowledge in time; relay abandoned at every one");
	} else {
		qkdn_multicast_keep(node, relay);
		for (i = 0; !ret && i < relay->count; ++i) {
			struct qkdn_relayed_key *key = relay->keys[i];
			struct qkdn_pool_key out = {
				.id = key->id,
				.data = key->data,
				.len = key->len,
				.created = key->created,
			};

			ret = req->visit(req->ctx, &out);
		}
		req->link_id = 0;
		app = qkdn_app_find(node, req->sae);
		if (app && !ret)
			app->supplied += relay->count;
	}
	qkdn_relay_put(relay);
	return ret;
}

static int __net_init qkdn_net_init(struct net *net)
{
	struct qkdn_node *node = qkdn_node_of(net);

	node->net = net;
	mutex_init(&node->lock);
	xa_init(&node->links);
	INIT_LIST_HEAD(&node->apps);
	qkdn_relay_node_init(node);
	qkdn_ak_node_init(node);
	node->generation = 1;
	return 0;
}

static void __net_exit qkdn_net_exit(struct net *net)
{
	struct qkdn_node *node = qkdn_node_of(net);
	struct qkdn_app *app, *tmp;
	struct qkdn_link *link;
	unsigned long index;

	mutex_lock(&node->lock);
	qkdn_ak_node_exit(node);
	qkdn_relay_node_exit(node);
	xa_for_each(&node->links, index, link)
		qkdn_link_del(node, link);
	list_for_each_entry_safe(app, tmp, &node->apps, list)
		qkdn_app_del(node, app);
	mutex_unlock(&node->lock);
	xa_destroy(&node->links);
	mutex_destroy(&node->lock);
}

static struct pernet_operations qkdn_net_ops = {
	.init = qkdn_net_init,
	.exit = qkdn_net_exit,
	.id = &qkdn_net_id,
	.size = sizeof(struct qkdn_node),
};

int qkdn_node_register(void)
{
	return register_pernet_subsys(&qkdn_net_ops);
}

void qkdn_node_unregister(void)
{
	unregister_pernet_subsys(&qkdn_net_ops);
}
