// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * libqkdn: the Ak key supply protocol for applications, over the netlink
 * layer every qkdn program shares (lib/nl.c). The API and its rules are in
 * include/qkdn/qkdn.h; the protocol in include/uapi/linux/qkdn.h.
 *
 * Key bytes travel from the kernel into the handle's receive buffer (a
 * secbuf, wiped after each datagram), and from there straight into their
 * destination: a secbuf of the library's (struct qkdn_keys) or the
 * caller's buffer. No other copy is made.
 */
#include <qkdn/qkdn.h>

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "nl.h"
#include "secmem.h"

#define QKDN_API __attribute__((visibility("default")))

_Static_assert(QKDN_KEY_ID_STRLEN == QKDN_UUID_STRLEN + 1, "key ID text");

struct qkdn {
	struct qkdn_nl *nl;
	struct qkdn_nl_msg *msg;	/* reused by every request */
	char error[256];		/* the library's own messages */
};

/* Where the keys of a reply go. */
struct keys_dest {
	/* The library's: *keys gets a struct qkdn_keys. */
	struct qkdn_keys **keys;
	/* The caller's: key i at buf + i * key_len, its ID at ids[i]. */
	uint8_t (*ids)[QKDN_KEY_ID_LEN];
	unsigned char *buf;
	size_t len;
	uint32_t key_len;
	uint32_t max;		/* keys the caller has room for */
};

/* One request being answered. */
struct answer {
	struct qkdn_ak_info info;
	struct keys_dest *dest;
	bool replied;
};

QKDN_API int qkdn_open(struct qkdn **hp)
{
	struct qkdn *h;
	int ret;

	if (!hp)
		return -EINVAL;
	*hp = NULL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	ret = qkdn_nl_open(&h->nl);
	if (ret) {
		free(h);
		return ret;
	}
	h->msg = qkdn_nl_msg_new(QKDN_CMD_AK_AUTH, 0);
	if (!h->msg) {
		ret = errno ? -errno : -ENOMEM;
		qkdn_nl_close(h->nl);
		free(h);
		return ret;
	}
	*hp = h;
	return 0;
}

QKDN_API void qkdn_close(struct qkdn *h)
{
	if (!h)
		return;
	qkdn_nl_msg_free(h->msg);
	qkdn_nl_close(h->nl);
	free(h);
}

QKDN_API const char *qkdn_error(const struct qkdn *h)
{
	if (!h)
		return "";
	return h->error[0] ? h->error : qkdn_nl_extack(h->nl);
}

__attribute__((format(printf, 3, 4)))
static int fail(struct qkdn *h, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(h->error, sizeof(h->error), fmt, ap);
	va_end(ap);
	return err;
}

static struct qkdn_nl_msg *request(struct qkdn *h, uint8_t cmd)
{
	h->error[0] = '\0';
	qkdn_nl_msg_reset(h->msg, cmd, 0);
	return h->msg;
}

static void put_ids(struct qkdn_nl_msg *msg,
		    const uint8_t (*ids)[QKDN_KEY_ID_LEN], uint32_t count)
{
	struct nlattr *keys = qkdn_nl_nest_start(msg, QKDN_A_KEYS);

	for (uint32_t i = 0; i < count; i++) {
		struct nlattr *key = qkdn_nl_nest_start(msg, QKDN_A_KEY);

		qkdn_nl_put(msg, QKDN_KEY_A_ID, ids[i], QKDN_KEY_ID_LEN);
		qkdn_nl_nest_end(msg, key);
	}
	qkdn_nl_nest_end(msg, keys);
}

static void status_parse(const struct nlattr *nest, struct qkdn_ak_status *st)
{
	const struct nlattr *tb[QKDN_AK_STATUS_A_MAX + 1];

	if (qkdn_nl_parse_nested(nest, tb, QKDN_AK_STATUS_A_MAX) < 0)
		return;
	qkdn_nla_u64(tb[QKDN_AK_STATUS_A_STORED_KEY_COUNT], &st->stored_key_count);
	qkdn_nla_u64(tb[QKDN_AK_STATUS_A_MAX_KEY_COUNT], &st->max_key_count);
	qkdn_nla_u32(tb[QKDN_AK_STATUS_A_MAX_KEY_PER_REQUEST], &st->max_key_per_request);
	qkdn_nla_u32(tb[QKDN_AK_STATUS_A_KEY_SIZE], &st->key_size);
	qkdn_nla_u32(tb[QKDN_AK_STATUS_A_MAX_KEY_SIZE], &st->max_key_size);
	qkdn_nla_u32(tb[QKDN_AK_STATUS_A_MIN_KEY_SIZE], &st->min_key_size);
}

/* The ID, time stamp and data of one QKDN_A_KEY entry; -EBADMSG if any is
 * missing or malformed. */
static int key_parse(const struct nlattr *entry, struct qkdn_key *key,
		     const unsigned char **data)
{
	const struct nlattr *kb[QKDN_KEY_A_MAX + 1];

	if (qkdn_nl_parse_nested(entry, kb, QKDN_KEY_A_MAX) < 0 ||
	    !kb[QKDN_KEY_A_ID] || !kb[QKDN_KEY_A_DATA] ||
	    mnl_attr_get_payload_len(kb[QKDN_KEY_A_ID]) != QKDN_KEY_ID_LEN ||
	    mnl_attr_get_payload_len(kb[QKDN_KEY_A_DATA]) == 0)
		return -EBADMSG;
	memcpy(key->id, mnl_attr_get_payload(kb[QKDN_KEY_A_ID]), QKDN_KEY_ID_LEN);
	key->created = 0;
	qkdn_nla_u64(kb[QKDN_KEY_A_TIMESTAMP], &key->created);
	key->len = mnl_attr_get_payload_len(kb[QKDN_KEY_A_DATA]);
	*data = mnl_attr_get_payload(kb[QKDN_KEY_A_DATA]);
	return 0;
}

/* The keys of a reply into a new struct qkdn_keys, in one secbuf. */
static int keys_to_secbuf(const struct nlattr *nest, struct qkdn_keys **out)
{
	const unsigned char *data;
	const struct nlattr *entry;
	struct qkdn_key key;
	struct qkdn_keys *keys;
	size_t count = 0, bytes = 0, head;
	unsigned char *p;
	int ret;

	mnl_attr_for_each_nested(entry, nest) {
		ret = key_parse(entry, &key, &data);
		if (ret)
			return ret;
		count++;
		bytes += key.len;
	}
	if (!count)
		return -EBADMSG;
	head = sizeof(*keys) + count * sizeof(keys->key[0]);
	keys = qkdn_secbuf_alloc(head + bytes);
	if (!keys)
		return -errno;
	p = (unsigned char *)keys + head;
	mnl_attr_for_each_nested(entry, nest) {
		struct qkdn_key *k = &keys->key[keys->count++];

		key_parse(entry, k, &data);
		k->data = p;
		memcpy(p, data, k->len);
		p += k->len;
	}
	*out = keys;
	return 0;
}

/* The keys of a reply into the caller's buffer. */
static int keys_to_buf(const struct nlattr *nest, struct keys_dest *dest)
{
	const unsigned char *data;
	const struct nlattr *entry;
	struct qkdn_key key;
	uint32_t n = 0;
	int ret;

	/* Check all first, so a bad reply leaves the buffer untouched. */
	mnl_attr_for_each_nested(entry, nest) {
		ret = key_parse(entry, &key, &data);
		if (ret)
			return ret;
		if (key.len != dest->key_len || n++ == dest->max)
			return -EBADMSG;
	}
	n = 0;
	mnl_attr_for_each_nested(entry, nest) {
		key_parse(entry, &key, &data);
		memcpy(dest->ids[n], key.id, QKDN_KEY_ID_LEN);
		memcpy(dest->buf + (size_t)n * dest->key_len, data, key.len);
		n++;
	}
	return 0;
}

static int answer_cb(const struct nlmsghdr *nlh, void *data)
{
	struct answer *a = data;
	struct qkdn_ak_info *info = &a->info;
	const struct nlattr *tb[QKDN_A_MAX + 1];
	const char *s;

	if (a->replied)	/* one reply per request */
		return -EBADMSG;
	a->replied = true;
	if (qkdn_nl_parse(nlh, tb, QKDN_A_MAX) < 0 ||
	    !qkdn_nla_u8(tb[QKDN_A_AK_RESPONSE], &info->response) ||
	    !qkdn_nla_u64(tb[QKDN_A_AK_SESSION_ID], &info->session))
		return -EBADMSG;
	qkdn_nla_u8(tb[QKDN_A_AK_APP_CODE], &info->app_code);
	qkdn_nla_u32(tb[QKDN_A_AK_COUNT_ID], &info->count_id);
	qkdn_nla_u32(tb[QKDN_A_KEY_AMOUNT], &info->amount);
	qkdn_nla_u32(tb[QKDN_A_KEY_SIZE], &info->key_size);
	qkdn_nla_u32(tb[QKDN_A_NODE_ID], &info->source_node);
	qkdn_nla_u32(tb[QKDN_A_PEER_NODE_ID], &info->target_node);
	qkdn_nla_u32(tb[QKDN_A_LINK_ID], &info->link);
	s = qkdn_nla_str(tb[QKDN_A_SAE_ID]);
	if (s)
		snprintf(info->sae, sizeof(info->sae), "%s", s);
	s = qkdn_nla_str(tb[QKDN_A_PEER_SAE_ID]);
	if (s)
		snprintf(info->peer_sae, sizeof(info->peer_sae), "%s", s);
	if (tb[QKDN_A_AK_STATUS]) {
		info->has_status = 1;
		status_parse(tb[QKDN_A_AK_STATUS], &info->status);
	}
	if (!tb[QKDN_A_KEYS])
		return 0;
	if (!a->dest)
		return -EBADMSG;
	return a->dest->keys ? keys_to_secbuf(tb[QKDN_A_KEYS], a->dest->keys) :
			       keys_to_buf(tb[QKDN_A_KEYS], a->dest);
}

/* Sends the request and reads the answer into @a. 0 or -errno. */
static int talk(struct qkdn *h, struct answer *a)
{
	int ret;

	ret = qkdn_nl_request(h->nl, h->msg, answer_cb, a);
	if (!ret && !a->replied)
		ret = fail(h, -EBADMSG, "the kernel sent no reply");
	return ret;
}

static void give_info(struct qkdn_ak_info *info, const struct answer *a)
{
	if (info)
		*info = a->info;
}

QKDN_API int qkdn_ak_auth(struct qkdn *h, const char *sae,
			  const char *peer_sae, uint64_t *session,
			  struct qkdn_ak_info *info)
{
	struct qkdn_nl_msg *msg;
	struct answer a = { 0 };
	int ret;

	if (!h || !sae || !peer_sae || !session)
		return -EINVAL;
	*session = 0;
	msg = request(h, QKDN_CMD_AK_AUTH);
	qkdn_nl_put_str(msg, QKDN_A_SAE_ID, sae);
	qkdn_nl_put_str(msg, QKDN_A_PEER_SAE_ID, peer_sae);
	ret = talk(h, &a);
	if (ret)
		return ret;
	*session = a.info.session;
	give_info(info, &a);
	return 0;
}

/* An AK_KEY request and its keys; returns the response code or -errno. */
static int supply(struct qkdn *h, struct answer *a, struct qkdn_ak_info *info)
{
	int ret = talk(h, a);

	if (!ret && a->info.response != QKDN_AK_SUPPLY_SUCCESS &&
	    a->info.response != QKDN_AK_SUPPLY_SUFFICIENT &&
	    a->info.response != QKDN_AK_SUPPLY_INSUFFICIENT)
		ret = fail(h, -EBADMSG, "unexpected response code %u",
			   a->info.response);
	if (ret) {
		if (a->dest->keys) {
			qkdn_keys_free(*a->dest->keys);
			*a->dest->keys = NULL;
		}
		return ret;
	}
	give_info(info, a);
	return a->info.response;
}

static struct qkdn_nl_msg *key_request(struct qkdn *h, uint64_t session,
				       uint8_t app_code, uint32_t key_size)
{
	struct qkdn_nl_msg *msg = request(h, QKDN_CMD_AK_KEY);

	qkdn_nl_put_u64(msg, QKDN_A_AK_SESSION_ID, session);
	qkdn_nl_put_u8(msg, QKDN_A_AK_APP_CODE, app_code);
	if (key_size)
		qkdn_nl_put_u32(msg, QKDN_A_KEY_SIZE, key_size);
	return msg;
}

/* An AK_KEY request for keys: @amount new ones, or the @amount of @ids. */
static int get_keys(struct qkdn *h, uint64_t session, uint32_t amount,
		    const uint8_t (*ids)[QKDN_KEY_ID_LEN], uint32_t key_size,
		    struct keys_dest *dest, struct qkdn_ak_info *info)
{
	struct answer a = { .dest = dest };
	struct qkdn_nl_msg *msg;

	msg = key_request(h, session, ids ? QKDN_AK_DECRYPT : QKDN_AK_ENCRYPT,
			  key_size);
	if (ids)
		put_ids(msg, ids, amount);
	else
		qkdn_nl_put_u32(msg, QKDN_A_KEY_AMOUNT, amount);
	return supply(h, &a, info);
}

QKDN_API int qkdn_ak_get(struct qkdn *h, uint64_t session, uint32_t amount,
			 uint32_t key_size, struct qkdn_keys **keys,
			 struct qkdn_ak_info *info)
{
	struct keys_dest dest = { .keys = keys };

	if (!h || !keys)
		return -EINVAL;
	*keys = NULL;
	return get_keys(h, session, amount, NULL, key_size, &dest, info);
}

QKDN_API int qkdn_ak_get_by_id(struct qkdn *h, uint64_t session,
			       const uint8_t (*ids)[QKDN_KEY_ID_LEN],
			       uint32_t count, struct qkdn_keys **keys,
			       struct qkdn_ak_info *info)
{
	struct keys_dest dest = { .keys = keys };

	if (!h || !keys || (!ids && count))
		return -EINVAL;
	*keys = NULL;
	return get_keys(h, session, count, ids, 0, &dest, info);
}

/* The caller's buffer for @count keys of @key_size bits, checked. */
static int buf_dest(struct qkdn *h, struct keys_dest *dest, uint32_t count,
		    uint32_t key_size, void *buf, size_t len)
{
	if (!key_size || key_size % 8)
		return fail(h, -EINVAL, "a key size in whole bytes is required");
	if (!buf || (size_t)count * (key_size / 8) > len)
		return fail(h, -ENOBUFS, "%u keys of %u bits do not fit in %zu bytes",
			    count, key_size, len);
	dest->buf = buf;
	dest->len = len;
	dest->key_len = key_size / 8;
	dest->max = count;
	return 0;
}

QKDN_API int qkdn_ak_get_into(struct qkdn *h, uint64_t session,
			      uint32_t amount, uint32_t key_size,
			      uint8_t (*ids)[QKDN_KEY_ID_LEN], void *buf,
			      size_t len, struct qkdn_ak_info *info)
{
	struct keys_dest dest = { .ids = ids };
	int ret;

	if (!h || !ids)
		return -EINVAL;
	ret = buf_dest(h, &dest, amount, key_size, buf, len);
	if (ret)
		return ret;
	return get_keys(h, session, amount, NULL, key_size, &dest, info);
}

QKDN_API int qkdn_ak_get_by_id_into(struct qkdn *h, uint64_t session,
				    const uint8_t (*ids)[QKDN_KEY_ID_LEN],
				    uint32_t count, uint32_t key_size,
				    void *buf, size_t len,
				    struct qkdn_ak_info *info)
{
	uint8_t (*out)[QKDN_KEY_ID_LEN];
	struct keys_dest dest;
	int ret;

	if (!h || !ids || !count)
		return -EINVAL;
	/* The IDs come back in the order asked: a scratch array for them. */
	out = calloc(count, sizeof(*out));
	if (!out)
		return -ENOMEM;
	dest = (struct keys_dest){ .ids = out };
	ret = buf_dest(h, &dest, count, key_size, buf, len);
	if (!ret)
		ret = get_keys(h, session, count, ids, key_size, &dest, info);
	if (ret > 0 && memcmp(out, ids, (size_t)count * sizeof(*out))) {
		explicit_bzero(buf, (size_t)count * (key_size / 8));
		ret = fail(h, -EBADMSG, "the kernel sent other keys than asked for");
	}
	free(out);
	return ret;
}

QKDN_API int qkdn_ak_status(struct qkdn *h, uint64_t session,
			    uint8_t app_code, struct qkdn_ak_status *status)
{
	struct answer a = { 0 };
	struct qkdn_nl_msg *msg;
	int ret;

	if (!h || !status)
		return -EINVAL;
	msg = key_request(h, session, app_code, 0);
	qkdn_nl_put(msg, QKDN_A_AK_GET_STATUS, NULL, 0);
	ret = talk(h, &a);
	if (ret)
		return ret;
	if (a.info.response != QKDN_AK_SUPPLY_STATUS_TABLE || !a.info.has_status)
		return fail(h, -EBADMSG, "the reply carries no status table");
	*status = a.info.status;
	return 0;
}

static int ak_del(struct qkdn *h, uint64_t session,
		  const uint8_t (*ids)[QKDN_KEY_ID_LEN], uint32_t count)
{
	struct answer a = { 0 };
	struct qkdn_nl_msg *msg;
	int ret;

	msg = request(h, QKDN_CMD_AK_DEL);
	qkdn_nl_put_u64(msg, QKDN_A_AK_SESSION_ID, session);
	if (ids) {
		qkdn_nl_put_u8(msg, QKDN_A_AK_APP_CODE, QKDN_AK_DECRYPT);
		put_ids(msg, ids, count);
	}
	ret = talk(h, &a);
	if (!ret && a.info.response != QKDN_AK_RESULT_SUCCESS)
		ret = fail(h, -EBADMSG, "unexpected response code %u",
			   a.info.response);
	return ret;
}

QKDN_API int qkdn_ak_delete(struct qkdn *h, uint64_t session,
			    const uint8_t (*ids)[QKDN_KEY_ID_LEN],
			    uint32_t count)
{
	if (!h || !ids || !count)
		return -EINVAL;
	return ak_del(h, session, ids, count);
}

QKDN_API int qkdn_ak_end(struct qkdn *h, uint64_t session)
{
	if (!h)
		return -EINVAL;
	return ak_del(h, session, NULL, 0);
}

QKDN_API void qkdn_keys_free(struct qkdn_keys *keys)
{
	qkdn_secbuf_free(keys);
}

QKDN_API void qkdn_key_id_format(char out[QKDN_KEY_ID_STRLEN],
				 const uint8_t id[QKDN_KEY_ID_LEN])
{
	qkdn_uuid_format(out, id);
}

QKDN_API int qkdn_key_id_parse(uint8_t id[QKDN_KEY_ID_LEN], const char *text)
{
	if (!text)
		return -EINVAL;
	return qkdn_uuid_parse(id, text);
}
