// SPDX-License-Identifier: GPL-2.0
/*
 * The keyring key type "qkdn": request_key("qkdn", "<sae>:<peer-sae>") and
 * request_key("qkdn", "<sae>:<peer-sae>:<key-uuid>") take a key from the
 * node of the caller's network namespace, in-kernel, with no upcall, so an
 * IPsec or MACsec consumer never sees the key in userspace at all.
 */

#include <linux/cred.h>
#include <linux/key-type.h>
#include <linux/nsproxy.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uuid.h>
#include <keys/request_key_auth-type.h>

#include "keytype.h"
#include "main.h"
#include "node.h"

struct qkdn_key_payload {
	u8 id[QKDN_KEY_ID_LEN];
	u32 len;
	u8 data[];
};

/* "<sae>:<peer-sae>[:<key-uuid>]", split in place into @desc. */
struct qkdn_key_desc {
	char buf[3 * QKDN_ID_MAXLEN];
	const char *sae;
	const char *peer_sae;
	bool has_id;
	uuid_t id;
};

static bool id_ok(const char *id)
{
	const char *c;

	for (c = id; *c; ++c)
		if (*c <= ' ' || *c > '~')
			return false;
	return c != id && c - id < QKDN_ID_MAXLEN;
}

static int parse_description(const char *description,
			     struct qkdn_key_desc *desc)
{
	char *sep, *key_id;

	if (strscpy(desc->buf, description, sizeof(desc->buf)) < 0)
		return -EINVAL;
	sep = strchr(desc->buf, ':');
	if (!sep)
		return -EINVAL;
	*sep = '\0';
	desc->sae = desc->buf;
	desc->peer_sae = sep + 1;
	key_id = strchr(desc->peer_sae, ':');
	desc->has_id = key_id;
	if (key_id) {
		*key_id++ = '\0';
		if (strlen(key_id) != UUID_STRING_LEN ||
		    uuid_parse(key_id, &desc->id))
			return -EINVAL;
	}
	if (!id_ok(desc->sae) || !id_ok(desc->peer_sae))
		return -EINVAL;
	return 0;
}

static int qkdn_key_vet_description(const char *description)
{
	struct qkdn_key_desc desc;

	return parse_description(description, &desc);
}

struct keytype_ctx {
	struct key *key;
	struct qkdn_key_payload *payload;
};

/* Quota and memory are settled before the store gives up the key. */
static int keytype_prepare(void *ctx, u32 count, u32 bytes)
{
	struct keytype_ctx *kc = ctx;
	int ret;

	ret = key_payload_reserve(kc->key, sizeof(*kc->payload) + bytes);
	if (ret)
		return ret;
	kc->payload = kzalloc(struct_size(kc->payload, data, bytes),
			      GFP_KERNEL);
	if (!kc->payload)
		return -ENOMEM;
	qkdn_objects_inc();
	return 0;
}

static int keytype_visit(void *ctx, const struct qkdn_pool_key *key)
{
	struct keytype_ctx *kc = ctx;

	memcpy(kc->payload->id, key->id, QKDN_KEY_ID_LEN);
	memcpy(kc->payload->data, key->data, key->len);
	kc->payload->len = key->len;
	return 0;
}

static void payload_free(struct qkdn_key_payload *payload)
{
	if (!payload)
		return;
	kfree_sensitive(payload);
	qkdn_objects_dec();
}

/*
 * Both request_key() (through qkdn_key_request()) and add_key() with an
 * empty payload come here, in the caller's context: the bytes come from
 * the store of the caller's namespace, never from userspace.
 */
static int qkdn_key_instantiate(struct key *key,
				struct key_preparsed_payload *prep)
{
	struct qkdn_node *node = qkdn_node_of(current->nsproxy->net_ns);
	struct keytype_ctx kc = { .key = key };
	struct qkdn_key_desc desc;
	struct qkdn_supply req = {
		.caller = current_euid(),
		.prepare = keytype_prepare,
		.visit = keytype_visit,
		.ctx = &kc,
	};
	u32 ttl;
	int ret;

	if (prep->datalen)
		return -EINVAL;
	ret = parse_description(key->description, &desc);
	if (ret)
		return ret;
	req.sae = desc.sae;
	req.peer_sae = desc.peer_sae;

	mutex_lock(&node->lock);
	if (desc.has_id)
		ret = qkdn_supply_by_id(node, &req,
					desc.id.b, 1, false);
	else
		ret = qkdn_supply_new(node, &req, 1);
	ttl = node->keyring_ttl;
	mutex_unlock(&node->lock);
	if (ret) {
		payload_free(kc.payload);
		return ret;
	}
	key->payload.data[0] = kc.payload;
	if (ttl)
		key_set_timeout(key, ttl);
	return 0;
}

static int qkdn_key_request(struct key *authkey, void *aux)
{
	struct request_key_auth *rka = get_request_key_auth(authkey);
	struct key *key = rka->target_key;
	int ret;

	ret = key_instantiate_and_link(key, NULL, 0, NULL, authkey);
	if (ret) {
		/* No negative caching: the next request may well succeed. */
		key_reject_and_link(key, 0, -ret, NULL, authkey);
	}
	return ret;
}

static void qkdn_key_revoke(struct key *key)
{
	struct qkdn_key_payload *payload = key->payload.data[0];

	/* Readers hold key->sem, which key_revoke() holds for writing. */
	if (payload) {
		memzero_explicit(payload->data, payload->len);
		payload->len = 0;
	}
}

static void qkdn_key_destroy(struct key *key)
{
	payload_free(key->payload.data[0]);
	key->payload.data[0] = NULL;
}

static long qkdn_key_read(const struct key *key, char *buffer, size_t buflen)
{
	const struct qkdn_key_payload *payload = key->payload.data[0];

	if (!payload)
		return -EKEYREVOKED;
	if (buffer && buflen)
		memcpy(buffer, payload->data, min_t(size_t, buflen,
						    payload->len));
	return payload->len;
}

static void qkdn_key_describe(const struct key *key, struct seq_file *m)
{
	const struct qkdn_key_payload *payload = key->payload.data[0];

	seq_puts(m, key->description);
	if (key_is_positive(key) && payload)
		seq_printf(m, ": %pUb", payload->id);
}

static struct key_type qkdn_key_type = {
	.name = "qkdn",
	.flags = KEY_TYPE_NET_DOMAIN,
	.vet_description = qkdn_key_vet_description,
	.instantiate = qkdn_key_instantiate,
	.request_key = qkdn_key_request,
	.revoke = qkdn_key_revoke,
	.destroy = qkdn_key_destroy,
	.describe = qkdn_key_describe,
	.read = qkdn_key_read,
};

int __init qkdn_keytype_init(void)
{
	return register_key_type(&qkdn_key_type);
}

void qkdn_keytype_uninit(void)
{
	unregister_key_type(&qkdn_key_type);
}
