// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * PPK "data plane": QKD keys as IKEv2 post-quantum preshared keys (RFC
 * 8784) of the gateways' own strongSwan charon, over its VICI socket.
 *
 * A generation is one QKD key (SECD_PPK_LEN bytes; both ends hold the same
 * bytes) whose PPK_ID is the key ID's UUID text. Both ends load it with
 * load-shared (type PPK, owner = the PPK_ID, id "qkdn-ppk-<uuid>" to
 * unload it by). Then the initiator makes a new IKE SA with it:
 *
 * - A PPK is mixed into SK_d, SK_pi and SK_pr in IKE_AUTH only: IKE SA
 *   rekeying keeps the PPK of the IKE SA's birth, so a fresh PPK needs a
 *   new IKE SA (a reauthentication).
 * - charon's reauthentication (VICI `rekey` with reauth, or reauth_time)
 *   builds the new IKE SA from the old one's peer config, so its ppk_id
 *   is the old one; and ppk_id is a static option of the conn. So the
 *   daemon reloads the conn (load-conn, same name, the new ppk_id) and
 *   initiates its CHILD_SA: a peer config that differs is not shared with
 *   the existing IKE SA, so charon sets up a second IKE SA (IKE_SA_INIT
 *   with USE_PPK, IKE_AUTH with PPK_IDENTITY) and its CHILD_SA beside the
 *   old ones. That is make-before-break by hand: the old IKE SA is
 *   terminated (with its CHILD_SA) and its PPK unloaded only after the
 *   grace period, while the new CHILD_SA carries the traffic.
 * - The responder's conn is the operator's (swanctl.conf): ppk_required =
 *   yes and no ppk_id, so it takes any PPK_ID it has a PPK for.
 *
 * The PPK's bytes go from the node into a secbuf, from there into the
 * (locked) VICI send buffer, and both are wiped; charon keeps its copy
 * until unload-shared.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "log.h"
#include "secd.h"

#define PPK_SHARED_PREFIX "qkdn-ppk-"
#define VICI_TIMEOUT_S 20
#define INITIATE_TIMEOUT_MS 15000
#define TERMINATE_TIMEOUT_MS 5000

static struct secd_vici *vici(struct secd *s)
{
	return s->dp_priv;
}

static void ppk_id_str(char out[QKDN_UUID_STRLEN + 1], const uint8_t id[QKDN_KEY_ID_LEN])
{
	qkdn_uuid_format(out, id);
}

static void shared_id(char *out, size_t len, const uint8_t id[QKDN_KEY_ID_LEN])
{
	char uuid[QKDN_UUID_STRLEN + 1];

	ppk_id_str(uuid, id);
	snprintf(out, len, PPK_SHARED_PREFIX "%s", uuid);
}

static int vici_failed(struct secd *s, const char *what, int ret)
{
	char q[320];

	qkdn_log(QKDN_LOG_WARN, "charon refused", "event=vici-failed cmd=%s err=%s reason=%s",
		 what, strerrorname_np(-ret) ? strerrorname_np(-ret) : "?",
		 qkdn_log_quote(q, sizeof(q), secd_vici_err(vici(s))));
	return ret;
}

/* Leftovers of an earlier run */

struct shared_ids {
	char ids[64][80];
	unsigned int n;
};

static void shared_cb(void *data, unsigned int depth, const char *section, const char *key,
		      const uint8_t *val, size_t len)
{
	struct shared_ids *l = data;

	(void)section;
	if (depth || strcmp(key, "keys") != 0 || l->n >= QKDN_ARRAY_SIZE(l->ids) ||
	    len >= sizeof(l->ids[0]) || len < strlen(PPK_SHARED_PREFIX) ||
	    memcmp(val, PPK_SHARED_PREFIX, strlen(PPK_SHARED_PREFIX)) != 0)
		return;
	memcpy(l->ids[l->n], val, len);
	l->ids[l->n++][len] = '\0';
}

static int unload_shared(struct secd *s, const char *id)
{
	int ret;

	secd_vici_begin(vici(s), "unload-shared");
	secd_vici_kv_str(vici(s), "id", id);
	ret = secd_vici_call(vici(s), NULL, NULL);
	if (ret)
		return vici_failed(s, "unload-shared", ret);
	qkdn_log(QKDN_LOG_DEBUG, "PPK unloaded", "event=ppk-unloaded id=%s", id);
	return 0;
}

static int terminate(struct secd *s, uint32_t ike_id)
{
	char num[16];
	int ret;

	secd_vici_begin(vici(s), "terminate");
	if (ike_id) {
		snprintf(num, sizeof(num), "%" PRIu32, ike_id);
		secd_vici_kv_str(vici(s), "ike-id", num);
	} else {
		secd_vici_kv_str(vici(s), "ike", s->cfg.ppk.conn);
	}
	snprintf(num, sizeof(num), "%d", TERMINATE_TIMEOUT_MS);
	secd_vici_kv_str(vici(s), "timeout", num);
	ret = secd_vici_call(vici(s), NULL, NULL);
	if (!ret)
		qkdn_log(QKDN_LOG_INFO, "IKE SA terminated", "event=ike-terminated ike_sa=%" PRIu32,
			 ike_id);
	return ret;
}

static int ppk_start(struct secd *s)
{
	struct secd_vici *v;
	struct shared_ids *l;
	int ret;

	ret = secd_vici_open(&v, s->cfg.ppk.vici, VICI_TIMEOUT_S);
	if (ret) {
		qkdn_log(QKDN_LOG_ERR, "cannot reach charon", "event=start-failed vici=%s err=%s",
			 s->cfg.ppk.vici, strerrorname_np(-ret));
		return ret;
	}
	s->dp_priv = v;
	/* PPKs of an earlier run go: each is one generation's key. */
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	secd_vici_begin(v, "get-shared");
	ret = secd_vici_plain(v, shared_cb, l);
	if (ret) {
		free(l);
		qkdn_log(QKDN_LOG_ERR, "charon has no usable VICI", "event=start-failed vici=%s reason=\"%s\"",
			 s->cfg.ppk.vici, secd_vici_err(v));
		return ret;
	}
	for (unsigned int i = 0; i < l->n; i++)
		unload_shared(s, l->ids[i]);
	free(l);
	/* So do the IKE SAs of our conn (with their CHILD_SAs), as the IPsec
	 * mode flushes its states: nothing runs on a PPK nobody tracks. */
	if (s->initiator && terminate(s, 0) == 0)
		qkdn_log(QKDN_LOG_INFO, "IKE SAs of an earlier run terminated",
			 "event=ike-flushed conn=%s", s->cfg.ppk.conn);
	return 0;
}

/* Both ends: the PPK into charon. */
static int ppk_install_in(struct secd *s, struct secd_gen *g, const struct secd_keys *k)
{
	char uuid[QKDN_UUID_STRLEN + 1], id[80];
	struct secd_vici *v = vici(s);
	int ret;

	(void)g;
	if (k->len < SECD_PPK_LEN)
		return -EMSGSIZE;
	ppk_id_str(uuid, k->ids[0]);
	shared_id(id, sizeof(id), k->ids[0]);
	secd_vici_begin(v, "load-shared");
	secd_vici_kv_str(v, "id", id);
	secd_vici_kv_str(v, "type", "PPK");
	secd_vici_kv(v, "data", k->bytes, SECD_PPK_LEN);
	secd_vici_list_csv(v, "owners", uuid);
	ret = secd_vici_call(v, NULL, NULL);	/* wipes the send buffer */
	if (ret)
		return vici_failed(s, "load-shared", ret);
	qkdn_log(QKDN_LOG_DEBUG, "PPK loaded", "event=ppk-loaded gen=%u ppk_id=%s", g->gen, uuid);
	return 0;
}

static int load_conn(struct secd *s, const char *ppk_id)
{
	const struct qkdn_secd_config *c = &s->cfg;
	struct secd_vici *v = vici(s);
	int ret;

	secd_vici_begin(v, "load-conn");
	secd_vici_section(v, c->ppk.conn);
	secd_vici_kv_str(v, "version", "2");
	secd_vici_list_csv(v, "local_addrs", c->ppk.local_addrs);
	secd_vici_list_csv(v, "remote_addrs", c->ppk.remote_addrs);
	if (c->ppk.proposals[0])
		secd_vici_list_csv(v, "proposals", c->ppk.proposals);
	secd_vici_kv_str(v, "ppk_id", ppk_id);
	secd_vici_kv_str(v, "ppk_required", "yes");
	/* The daemon decides when a new IKE SA comes: never charon. */
	secd_vici_kv_str(v, "reauth_time", "0");
	secd_vici_kv_str(v, "unique", "never");
	secd_vici_section(v, "local");
	secd_vici_kv_str(v, "auth", c->ppk.auth);
	if (c->ppk.local_id[0])
		secd_vici_kv_str(v, "id", c->ppk.local_id);
	secd_vici_end(v);
	secd_vici_section(v, "remote");
	secd_vici_kv_str(v, "auth", c->ppk.auth);
	if (c->ppk.remote_id[0])
		secd_vici_kv_str(v, "id", c->ppk.remote_id);
	secd_vici_end(v);
	secd_vici_section(v, "children");
	secd_vici_section(v, c->ppk.conn);
	secd_vici_list_csv(v, "local_ts", c->ppk.local_ts);
	secd_vici_list_csv(v, "remote_ts", c->ppk.remote_ts);
	if (c->ppk.esp_proposals[0])
		secd_vici_list_csv(v, "esp_proposals", c->ppk.esp_proposals);
	secd_vici_end(v);
	secd_vici_end(v);
	secd_vici_end(v);
	ret = secd_vici_call(v, NULL, NULL);
	return ret ? vici_failed(s, "load-conn", ret) : 0;
}

/* The IKE SAs of the conn; the newest established one is the one just
 * initiated, since unique IDs only grow. */
struct ike_list {
	const char *conn;
	uint32_t id, newest;
	bool established;
	uint32_t all[16];
	unsigned int n;
};

static void ike_cb(void *data, unsigned int depth, const char *section, const char *key,
		   const uint8_t *val, size_t len)
{
	struct ike_list *l = data;
	char buf[32];

	if (depth != 1 || strcmp(section, l->conn) != 0 || len >= sizeof(buf))
		return;
	memcpy(buf, val, len);
	buf[len] = '\0';
	if (strcmp(key, "uniqueid") == 0) {
		l->id = (uint32_t)strtoul(buf, NULL, 10);
		if (l->n < QKDN_ARRAY_SIZE(l->all))
			l->all[l->n++] = l->id;
	}
	else if (strcmp(key, "state") == 0)
		l->established = strcmp(buf, "ESTABLISHED") == 0;
	/* "state" comes after "uniqueid" in each IKE SA's section. */
	if (strcmp(key, "state") == 0 && l->established && l->id > l->newest)
		l->newest = l->id;
}

static bool tracked(const struct secd *s, uint32_t ike_id)
{
	for (int i = 0; i < SECD_GENS_MAX; i++)
		if (s->gens[i].used && s->gens[i].ike_id == ike_id)
			return true;
	return false;
}

/* IKE SAs of the conn that no generation owns go: one whose initiate
 * timed out but that charon went on setting up, say. */
static void sweep(struct secd *s, const struct ike_list *l, uint32_t keep)
{
	for (unsigned int i = 0; i < l->n; i++)
		if (l->all[i] != keep && !tracked(s, l->all[i]) && terminate(s, l->all[i]) == 0)
			qkdn_log(QKDN_LOG_INFO, "IKE SA of no generation terminated",
				 "event=ike-swept ike_sa=%" PRIu32, l->all[i]);
}

static int list_ike(struct secd *s, struct ike_list *l)
{
	int ret;

	secd_vici_begin(vici(s), "list-sas");
	secd_vici_kv_str(vici(s), "ike", s->cfg.ppk.conn);
	ret = secd_vici_stream(vici(s), "list-sa", ike_cb, l);
	return ret ? vici_failed(s, "list-sas", ret) : 0;
}

/* Initiator: a new IKE SA with this generation's PPK, beside the old one. */
static int ppk_install_out(struct secd *s, struct secd_gen *g, const struct secd_keys *k)
{
	struct ike_list l = { .conn = s->cfg.ppk.conn };
	char uuid[QKDN_UUID_STRLEN + 1], num[16];
	struct secd_vici *v = vici(s);
	int ret;

	(void)k;
	if (!s->initiator)
		return 0;
	ppk_id_str(uuid, g->id_out);
	ret = load_conn(s, uuid);
	if (ret)
		return ret;
	secd_vici_begin(v, "initiate");
	secd_vici_kv_str(v, "ike", s->cfg.ppk.conn);
	secd_vici_kv_str(v, "child", s->cfg.ppk.conn);
	snprintf(num, sizeof(num), "%d", INITIATE_TIMEOUT_MS);
	secd_vici_kv_str(v, "timeout", num);
	secd_vici_kv_str(v, "init-limits", "no");
	ret = secd_vici_call(v, NULL, NULL);
	if (ret) {
		vici_failed(s, "initiate", ret);
		if (list_ike(s, &l) == 0)
			sweep(s, &l, 0);
		return ret;
	}
	ret = list_ike(s, &l);
	if (ret)
		return ret;
	if (!l.newest)
		return -ENOENT;
	g->ike_id = l.newest;
	sweep(s, &l, l.newest);
	return 0;
}

static void ppk_remove(struct secd *s, struct secd_gen *g)
{
	char id[80];

	if (!vici(s))
		return;
	if (s->initiator && g->ike_id && terminate(s, g->ike_id))
		vici_failed(s, "terminate", -EREMOTEIO);
	if (g->in_installed) {
		shared_id(id, sizeof(id), g->id_in);
		unload_shared(s, id);
	}
}

static int ppk_bytes(struct secd *s, const struct secd_gen *g, uint64_t *bytes)
{
	(void)s;
	(void)g;
	(void)bytes;
	return -EOPNOTSUPP;
}

static void ppk_stop(struct secd *s)
{
	struct secd_vici *v = vici(s);

	if (!v)
		return;
	/* Without it, nothing would start an IKE SA with a stale PPK_ID. */
	if (s->initiator) {
		secd_vici_begin(v, "unload-conn");
		secd_vici_kv_str(v, "name", s->cfg.ppk.conn);
		secd_vici_call(v, NULL, NULL);
	}
	secd_vici_close(v);
	s->dp_priv = NULL;
}

const struct secd_dp_ops secd_ppk_ops = {
	.name = "ppk",
	.start = ppk_start,
	.install_in = ppk_install_in,
	.install_out = ppk_install_out,
	.remove = ppk_remove,
	.bytes = ppk_bytes,
	.stop = ppk_stop,
};
