// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Key commands. Key bytes only ever sit in secbufs: the netlink buffers,
 * the QKD-key read from stdin or data-fd, and the formatted output, which
 * is written with write(2) rather than stdio so no unlocked stdio buffer
 * ever holds it. Key bytes never come from argv.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <linux/qkdn.h>

#include "cli.h"
#include "hex.h"
#include "log.h"
#include "secmem.h"
#include "util.h"

static void *secbuf(size_t len)
{
	void *p = qkdn_secbuf_alloc(len);

	if (!p)
		qkdn_die_err(errno, "cannot allocate locked memory for key bytes");
	return p;
}

/* key push */

static int key_push(struct cli *cli, int argc, char **argv)
{
	const char *what = "key push";
	bool have_link = false, have_qid = false, have_ts = false, have_hash = false;
	bool have_mod = false, have_pmod = false, have_fd = false, hash_auto = false;
	uint8_t hash[32];
	int fd = STDIN_FILENO;
	struct qkdn_nl_msg *msg = cli_msg(QKDN_CMD_KEY_PUSH);
	unsigned char *data;
	ssize_t n;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "link")) {
			cli_once(what, "link", &have_link);
			qkdn_nl_put_u32(msg, QKDN_A_LINK_ID,
					cli_u32(cli_value(what, argc, argv, &i), "link"));
		} else if (!strcmp(argv[i], "qkd-id")) {
			cli_once(what, "qkd-id", &have_qid);
			qkdn_nl_put_str(msg, QKDN_A_QKD_KEY_ID, cli_value(what, argc, argv, &i));
		} else if (!strcmp(argv[i], "timestamp")) {
			cli_once(what, "timestamp", &have_ts);
			qkdn_nl_put_u64(msg, QKDN_A_QKD_KEY_TIMESTAMP,
					cli_u64(cli_value(what, argc, argv, &i), "timestamp"));
		} else if (!strcmp(argv[i], "hash")) {
			const char *h;

			cli_once(what, "hash", &have_hash);
			h = cli_value(what, argc, argv, &i);
			if (!strcmp(h, "auto"))
				hash_auto = true;
			else if (strlen(h) != 64 ||
				 qkdn_hex_decode(hash, sizeof(hash), h, 64) != 32)
				qkdn_die("%s: invalid hash '%s' (auto or 64 hex digits)", what, h);
			else
				qkdn_nl_put(msg, QKDN_A_QKD_KEY_HASH, hash, sizeof(hash));
		} else if (!strcmp(argv[i], "module")) {
			cli_once(what, "module", &have_mod);
			qkdn_nl_put_str(msg, QKDN_A_QKD_MODULE_ID, cli_value(what, argc, argv, &i));
		} else if (!strcmp(argv[i], "peer-module")) {
			cli_once(what, "peer-module", &have_pmod);
			qkdn_nl_put_str(msg, QKDN_A_MATCHING_QKD_MODULE_ID,
					cli_value(what, argc, argv, &i));
		} else if (!strcmp(argv[i], "data-fd")) {
			cli_once(what, "data-fd", &have_fd);
			fd = cli_fd(cli_value(what, argc, argv, &i), "data-fd");
		} else {
			cli_unknown_arg(what, argv[i]);
		}
	}
	if (!have_link)
		cli_missing(what, "link");
	if (!have_qid)
		cli_missing(what, "qkd-id");
	cli_nl(cli); /* fail on a missing module before consuming the input */
	/* Typed key bytes would be echoed and kept in the terminal. */
	if (isatty(fd))
		qkdn_die("%s: refusing to read key bytes from a terminal; "
			 "pipe them in or use data-fd", what);

	/* One byte more than allowed, to tell "exactly the maximum" from "too
	 * long" without a second read. */
	data = secbuf(QKDN_QKD_KEY_MAX + 1);
	n = qkdn_read_full(fd, data, QKDN_QKD_KEY_MAX + 1);
	if (n < 0)
		qkdn_die_err((int)n, "%s: reading key data", what);
	if (n == 0)
		qkdn_die("%s: no key data on %s", what, have_fd ? "data-fd" : "stdin");
	if (n > QKDN_QKD_KEY_MAX)
		qkdn_die("%s: key data longer than %d bytes", what, QKDN_QKD_KEY_MAX);
	if (hash_auto) {
		if (!EVP_Digest(data, (size_t)n, hash, NULL, EVP_sha256(), NULL))
			qkdn_die("%s: SHA-256 failed", what);
		qkdn_nl_put(msg, QKDN_A_QKD_KEY_HASH, hash, sizeof(hash));
	}
	qkdn_nl_put(msg, QKDN_A_QKD_KEY_DATA, data, (size_t)n);
	qkdn_secbuf_free(data);

	cli_request(cli, what, msg, NULL, NULL);
	qkdn_nl_msg_free(msg);
	return 0;
}

/* key get / get-id: formatting the reply. */

struct key_out {
	bool json;
	uint32_t link;
	char *buf;		/* secbuf */
	size_t len;
};

/* Walks the keys of a reply; with out == NULL only validates and sizes. */
static int format_keys(const struct nlattr *keys, struct key_out *out, size_t *need,
		       size_t *count)
{
	const struct nlattr *k;
	size_t o = 0;

	*need = 0;
	*count = 0;
	mnl_attr_for_each_nested(k, keys) {
		const struct nlattr *kb[QKDN_KEY_A_MAX + 1];
		char uuid[QKDN_UUID_STRLEN + 1];
		uint16_t dlen;
		int r;

		if (qkdn_nl_parse_nested(k, kb, QKDN_KEY_A_MAX) < 0 || !kb[QKDN_KEY_A_ID] ||
		    mnl_attr_get_payload_len(kb[QKDN_KEY_A_ID]) != QKDN_KEY_ID_LEN ||
		    !kb[QKDN_KEY_A_DATA] || mnl_attr_get_payload_len(kb[QKDN_KEY_A_DATA]) == 0)
			return -EBADMSG;
		dlen = mnl_attr_get_payload_len(kb[QKDN_KEY_A_DATA]);
		/* JSON: {"key_ID":"<uuid>","key":"<b64>"}, text: <uuid> <hex>\n */
		*need += out && out->json ? 24 + QKDN_UUID_STRLEN + qkdn_base64_encoded_len(dlen) + 1
					  : QKDN_UUID_STRLEN + 2 + 2 * (size_t)dlen + 1;
		(*count)++;
		if (!out || !out->buf)
			continue;
		qkdn_uuid_format(uuid, mnl_attr_get_payload(kb[QKDN_KEY_A_ID]));
		if (out->json) {
			o += (size_t)snprintf(out->buf + o, out->len - o, "%s{\"key_ID\":\"%s\",\"key\":\"",
					      *count > 1 ? "," : "", uuid);
			r = qkdn_base64_encode(out->buf + o, out->len - o,
					       mnl_attr_get_payload(kb[QKDN_KEY_A_DATA]), dlen);
			if (r < 0)
				return r;
			o += (size_t)r;
			o += (size_t)snprintf(out->buf + o, out->len - o, "\"}");
		} else {
			o += (size_t)snprintf(out->buf + o, out->len - o, "%s ", uuid);
			r = qkdn_hex_encode(out->buf + o, out->len - o,
					    mnl_attr_get_payload(kb[QKDN_KEY_A_DATA]), dlen);
			if (r < 0)
				return r;
			o += (size_t)r;
			out->buf[o++] = '\n';
		}
	}
	if (out && out->buf)
		*need = o; /* what was written */
	return 0;
}

static int keys_cb(const struct nlmsghdr *nlh, void *data)
{
	struct key_out *out = data;
	const struct nlattr *tb[QKDN_A_MAX + 1];
	size_t need, count, o;
	char head[64];
	int r;

	if (out->buf) /* one reply per request */
		return -EBADMSG;
	if (qkdn_nl_parse(nlh, tb, QKDN_A_MAX) < 0 || !tb[QKDN_A_KEYS])
		return -EBADMSG;
	qkdn_nla_u32(tb[QKDN_A_LINK_ID], &out->link);
	r = format_keys(tb[QKDN_A_KEYS], out, &need, &count);
	if (r)
		return r;
	o = out->json ? (size_t)snprintf(head, sizeof(head), "{\"link\":%u,\"keys\":[",
					 out->link) : 0;
	/* head, keys, "]}\n", NUL for the last snprintf */
	out->len = o + need + 4;
	out->buf = secbuf(out->len);
	memcpy(out->buf, head, o);
	{
		struct key_out body = *out;

		body.buf = out->buf + o;
		body.len = out->len - o;
		r = format_keys(tb[QKDN_A_KEYS], &body, &need, &count);
		if (r)
			return r;
	}
	o += need;
	if (out->json)
		o += (size_t)snprintf(out->buf + o, out->len - o, "]}\n");
	out->len = o;
	return 0;
}

static void write_keys(const char *what, struct key_out *out, int fd)
{
	int r;

	if (!out->buf)
		qkdn_die("%s: the kernel sent no keys", what);
	r = qkdn_write_full(fd, out->buf, out->len);
	qkdn_secbuf_free(out->buf);
	out->buf = NULL;
	if (r)
		qkdn_die_err(r, "%s: writing keys", what);
}

static int key_get(struct cli *cli, int argc, char **argv)
{
	const char *what = "key get";
	bool have_sae = false, have_peer = false, have_amount = false, have_size = false;
	bool have_fd = false;
	struct key_out out = { .json = cli->json };
	struct qkdn_nl_msg *msg = cli_msg(QKDN_CMD_KEY_GET);
	int fd = STDOUT_FILENO;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "sae")) {
			cli_once(what, "sae", &have_sae);
			qkdn_nl_put_str(msg, QKDN_A_SAE_ID, cli_value(what, argc, argv, &i));
		} else if (!strcmp(argv[i], "peer")) {
			cli_once(what, "peer", &have_peer);
			qkdn_nl_put_str(msg, QKDN_A_PEER_SAE_ID, cli_value(what, argc, argv, &i));
		} else if (!strcmp(argv[i], "amount")) {
			cli_once(what, "amount", &have_amount);
			qkdn_nl_put_u32(msg, QKDN_A_KEY_AMOUNT,
					cli_u32(cli_value(what, argc, argv, &i), "amount"));
		} else if (!strcmp(argv[i], "size")) {
			cli_once(what, "size", &have_size);
			qkdn_nl_put_u32(msg, QKDN_A_KEY_SIZE,
					cli_u32(cli_value(what, argc, argv, &i), "size"));
		} else if (!strcmp(argv[i], "out-fd")) {
			cli_once(what, "out-fd", &have_fd);
			fd = cli_fd(cli_value(what, argc, argv, &i), "out-fd");
		} else {
			cli_unknown_arg(what, argv[i]);
		}
	}
	if (!have_sae)
		cli_missing(what, "sae");
	if (!have_peer)
		cli_missing(what, "peer");
	cli_request(cli, what, msg, keys_cb, &out);
	qkdn_nl_msg_free(msg);
	write_keys(what, &out, fd);
	return 0;
}

/* get-id and delete: sae, peer, a list of key IDs, and for get-id out-fd. */
static int key_by_id(struct cli *cli, int argc, char **argv, uint8_t cmd, const char *what)
{
	bool have_sae = false, have_peer = false, have_fd = false;
	struct key_out out = { .json = cli->json };
	struct qkdn_nl_msg *msg = cli_msg(cmd);
	struct nlattr *keys = NULL;
	int fd = STDOUT_FILENO, n_ids = 0;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "sae")) {
			cli_once(what, "sae", &have_sae);
			qkdn_nl_put_str(msg, QKDN_A_SAE_ID, cli_value(what, argc, argv, &i));
		} else if (!strcmp(argv[i], "peer")) {
			cli_once(what, "peer", &have_peer);
			qkdn_nl_put_str(msg, QKDN_A_PEER_SAE_ID, cli_value(what, argc, argv, &i));
		} else if (cmd == QKDN_CMD_KEY_GET_ID && !strcmp(argv[i], "out-fd")) {
			cli_once(what, "out-fd", &have_fd);
			fd = cli_fd(cli_value(what, argc, argv, &i), "out-fd");
		} else {
			uint8_t id[QKDN_KEY_ID_LEN];

			/* Only checked here: the IDs go into one nest, added
			 * below once the keywords around them are done. */
			if (qkdn_uuid_parse(id, argv[i]) < 0)
				qkdn_die("%s: invalid key ID '%s' (expected a UUID, "
					 "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)", what, argv[i]);
			n_ids++;
		}
	}
	if (!have_sae)
		cli_missing(what, "sae");
	if (!have_peer)
		cli_missing(what, "peer");
	if (n_ids == 0)
		qkdn_die("%s: missing key ID", what);

	/* Second pass: the IDs, in one nest, in the order given. */
	keys = qkdn_nl_nest_start(msg, QKDN_A_KEYS);
	for (int i = 0; i < argc; i++) {
		uint8_t id[QKDN_KEY_ID_LEN];
		struct nlattr *key;

		if (!strcmp(argv[i], "sae") || !strcmp(argv[i], "peer") ||
		    (cmd == QKDN_CMD_KEY_GET_ID && !strcmp(argv[i], "out-fd"))) {
			i++;
			continue;
		}
		qkdn_uuid_parse(id, argv[i]);
		key = qkdn_nl_nest_start(msg, QKDN_A_KEY);
		qkdn_nl_put(msg, QKDN_KEY_A_ID, id, sizeof(id));
		qkdn_nl_nest_end(msg, key);
	}
	qkdn_nl_nest_end(msg, keys);
	if (msg->overflow)
		qkdn_die("%s: too many key IDs for one request (at most %d)", what,
			 QKDN_KEY_AMOUNT_MAX);

	if (cmd == QKDN_CMD_KEY_GET_ID) {
		cli_request(cli, what, msg, keys_cb, &out);
		qkdn_nl_msg_free(msg);
		write_keys(what, &out, fd);
	} else {
		cli_request(cli, what, msg, NULL, NULL);
		qkdn_nl_msg_free(msg);
	}
	return 0;
}

static int key_get_id(struct cli *cli, int argc, char **argv)
{
	return key_by_id(cli, argc, argv, QKDN_CMD_KEY_GET_ID, "key get-id");
}

static int key_delete(struct cli *cli, int argc, char **argv)
{
	return key_by_id(cli, argc, argv, QKDN_CMD_KEY_DEL, "key delete");
}

static const struct cli_cmd key_cmds[] = {
	{ "push", "link ID qkd-id QKD_KEY_ID [timestamp NS] [hash auto|HEX64] [module M] "
		  "[peer-module M] [data-fd FD]",
	  "feed a QKD-key to a link (Kq-1); key bytes from stdin or data-fd, raw, "
	  "at most 32768", key_push },
	{ "get", "sae SAE peer PEER_SAE [amount N] [size BITS] [out-fd FD]",
	  "take new keys for SAE to share with PEER_SAE (prints \"<uuid> <hex>\")", key_get },
	{ "get-id", "sae SAE peer PEER_SAE KEY_UUID [KEY_UUID...] [out-fd FD]",
	  "take the keys the peer SAE got, by ID", key_get_id },
	{ "delete", "sae SAE peer PEER_SAE KEY_UUID [KEY_UUID...]",
	  "wipe keys by ID without taking them", key_delete },
	{ "del", "sae SAE peer PEER_SAE KEY_UUID [KEY_UUID...]", "same as delete", key_delete },
	{ 0 }
};

const struct cli_object cli_key = {
	.name = "key", .help = "push QKD-keys, take and delete KMA-keys", .cmds = key_cmds,
};
