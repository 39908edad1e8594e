// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Ak key supply sessions from the command line, through libqkdn: each
 * command authenticates (AK_AUTH), works within the session and ends it
 * when qkdn exits, since a session lives as long as its socket.
 *
 * Key bytes stay in libqkdn's locked buffers and in a secbuf for the
 * formatted output, written with write(2) as `qkdn key get` does; the
 * JSON of key replies is built by hand into that secbuf so no unlocked
 * jansson string ever holds a key.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <qkdn/qkdn.h>

#include "cli.h"
#include "hex.h"
#include "log.h"
#include "secmem.h"
#include "util.h"

struct ak {
	const char *what;
	const char *sae, *peer;
	struct qkdn *h;
	uint64_t session;
	struct qkdn_ak_info auth;
};

/* The formatted output: a secbuf, grown by copying. */
struct out {
	char *buf;
	size_t len, cap;
};

__attribute__((noreturn))
static void ak_die(struct ak *ak, int err)
{
	const char *msg = qkdn_error(ak->h);

	qkdn_die("%s: %s%s%s", ak->what, strerror(-err), *msg ? ": " : "", msg);
}

/* Takes "sae SAE" and "peer PEER" at argv[*i]; false for other words. */
static bool ak_arg(struct ak *ak, int argc, char **argv, int *i)
{
	if (!strcmp(argv[*i], "sae")) {
		if (ak->sae)
			qkdn_die("%s: 'sae' given twice", ak->what);
		ak->sae = cli_value(ak->what, argc, argv, i);
		return true;
	}
	if (!strcmp(argv[*i], "peer")) {
		if (ak->peer)
			qkdn_die("%s: 'peer' given twice", ak->what);
		ak->peer = cli_value(ak->what, argc, argv, i);
		return true;
	}
	return false;
}

/* Opens the handle and the session of sae towards peer. */
static void ak_open(struct ak *ak)
{
	int err;

	if (!ak->sae)
		cli_missing(ak->what, "sae");
	if (!ak->peer)
		cli_missing(ak->what, "peer");
	err = qkdn_open(&ak->h);
	if (err == -ENOENT)
		qkdn_die("generic netlink family \"%s\" not found (is qkdn.ko loaded?)",
			 QKDN_GENL_NAME);
	if (err)
		qkdn_die_err(err, "cannot open generic netlink socket");
	err = qkdn_ak_auth(ak->h, ak->sae, ak->peer, &ak->session, &ak->auth);
	if (err)
		ak_die(ak, err);
}

static const char *response_name(uint8_t response)
{
	switch (response) {
	case QKDN_AK_SUPPLY_SUCCESS:
		return "success";
	case QKDN_AK_SUPPLY_SUFFICIENT:
		return "sufficient";
	case QKDN_AK_SUPPLY_INSUFFICIENT:
		return "insufficient";
	case QKDN_AK_SUPPLY_STATUS_TABLE:
		return "status-table";
	default:
		return "unknown";
	}
}

static void out_reserve(struct out *o, size_t more)
{
	size_t cap = o->cap ? o->cap : 4096;
	char *buf;

	if (o->len + more < o->cap)
		return;
	while (cap <= o->len + more)
		cap *= 2;
	buf = qkdn_secbuf_alloc(cap);
	if (!buf)
		qkdn_die_err(errno, "cannot allocate locked memory for key bytes");
	if (o->buf)
		memcpy(buf, o->buf, o->len);
	qkdn_secbuf_free(o->buf);
	o->buf = buf;
	o->cap = cap;
}

__attribute__((format(printf, 2, 3)))
static void out_printf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	out_reserve(o, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	o->len += (size_t)n;
}

/* Text: "<uuid> <hex>" lines, as `qkdn key get`. JSON: key objects as
 * ETSI GS QKD 014 has them, {"key_ID":..., "key": base64}. */
static void out_keys(struct out *o, const struct qkdn_keys *keys, bool json)
{
	for (uint32_t i = 0; i < keys->count; i++) {
		const struct qkdn_key *k = &keys->key[i];
		char id[QKDN_KEY_ID_STRLEN];
		int n;

		qkdn_key_id_format(id, k->id);
		if (json) {
			out_printf(o, "%s{\"key_ID\":\"%s\",\"key\":\"", i ? "," : "", id);
			out_reserve(o, qkdn_base64_encoded_len(k->len) + 1);
			n = qkdn_base64_encode(o->buf + o->len, o->cap - o->len, k->data, k->len);
			if (n < 0)
				qkdn_die_err(n, "base64");
			o->len += (size_t)n;
			out_printf(o, "\"}");
		} else {
			out_printf(o, "%s ", id);
			out_reserve(o, 2 * (size_t)k->len + 2);
			n = qkdn_hex_encode(o->buf + o->len, o->cap - o->len, k->data, k->len);
			if (n < 0)
				qkdn_die_err(n, "hex");
			o->len += (size_t)n;
			out_printf(o, "\n");
		}
	}
}

/* One sub-session in JSON: its items of Table 7-5, then its keys. */
static void out_sub_session(struct out *o, const struct qkdn_ak_info *info,
			    const struct qkdn_keys *keys, bool first)
{
	out_printf(o, "%s{\"count_ID\":%" PRIu32 ",\"response\":\"%s\","
		   "\"app_code\":%u,\"amount\":%" PRIu32 ",\"key_size\":%" PRIu32
		   ",\"link\":%" PRIu32 ",\"keys\":[", first ? "" : ",",
		   info->count_id, response_name(info->response), info->app_code,
		   info->amount, info->key_size, info->link);
	if (keys)
		out_keys(o, keys, true);
	out_printf(o, "]}");
}

static void out_head(struct out *o, const struct ak *ak)
{
	out_printf(o, "{\"session\":\"%016" PRIx64 "\",\"sae\":\"%s\",\"peer_sae\":\"%s\","
		   "\"node\":%" PRIu32 ",\"peer_node\":%" PRIu32 ",\"sub_sessions\":[",
		   ak->session, ak->auth.sae, ak->auth.peer_sae, ak->auth.source_node,
		   ak->auth.target_node);
}

static void out_write(const char *what, struct out *o, int fd)
{
	int err = o->len ? qkdn_write_full(fd, o->buf, o->len) : 0;

	qkdn_secbuf_free(o->buf);
	o->buf = NULL;
	if (err)
		qkdn_die_err(err, "%s: writing keys", what);
}

/* ak auth */

static int ak_auth(struct cli *cli, int argc, char **argv)
{
	struct ak ak = { .what = "ak auth" };
	bool hold = false;
	char buf[64];

	for (int i = 0; i < argc; i++) {
		if (ak_arg(&ak, argc, argv, &i))
			continue;
		if (!strcmp(argv[i], "hold"))
			cli_once(ak.what, "hold", &hold);
		else
			cli_unknown_arg(ak.what, argv[i]);
	}
	ak_open(&ak);
	snprintf(buf, sizeof(buf), "%016" PRIx64, ak.session);
	if (cli->json)
		cli_json_print(json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "session", buf,
					 "response", "success", "sae", ak.auth.sae,
					 "peer_sae", ak.auth.peer_sae,
					 "node", (json_int_t)ak.auth.source_node,
					 "peer_node", (json_int_t)ak.auth.target_node));
	else
		printf("session %s sae %s peer %s node %" PRIu32 " peer-node %" PRIu32 "\n",
		       buf, ak.auth.sae, ak.auth.peer_sae, ak.auth.source_node,
		       ak.auth.target_node);
	if (fflush(stdout) == EOF)
		qkdn_die_err(errno, "write");
	/* Until stdin closes: the session lives as long as this process. */
	while (hold && read(STDIN_FILENO, buf, sizeof(buf)) > 0)
		;
	qkdn_close(ak.h);
	return 0;
}

/* ak status */

static uint8_t app_code(const char *what, const char *s)
{
	if (!strcmp(s, "encrypt"))
		return QKDN_AK_ENCRYPT;
	if (!strcmp(s, "decrypt"))
		return QKDN_AK_DECRYPT;
	qkdn_die("%s: application code '%s': encrypt or decrypt", what, s);
}

static int ak_status(struct cli *cli, int argc, char **argv)
{
	struct ak ak = { .what = "ak status" };
	uint8_t code = QKDN_AK_ENCRYPT;
	struct qkdn_ak_status st;
	bool have_code = false;
	int err;

	for (int i = 0; i < argc; i++) {
		if (ak_arg(&ak, argc, argv, &i))
			continue;
		if (!strcmp(argv[i], "app-code")) {
			cli_once(ak.what, "app-code", &have_code);
			code = app_code(ak.what, cli_value(ak.what, argc, argv, &i));
		} else {
			cli_unknown_arg(ak.what, argv[i]);
		}
	}
	ak_open(&ak);
	err = qkdn_ak_status(ak.h, ak.session, code, &st);
	if (err)
		ak_die(&ak, err);
	if (cli->json) {
		char src[16], dst[16];

		/* The names of ETSI GS QKD 014 Table 9. */
		snprintf(src, sizeof(src), "%" PRIu32, ak.auth.source_node);
		snprintf(dst, sizeof(dst), "%" PRIu32, ak.auth.target_node);
		cli_json_print(json_pack("{s:s, s:s, s:s, s:s, s:I, s:o, s:o, s:I, s:I, s:I, s:I}",
					 "source_KME_ID", src, "target_KME_ID", dst,
					 "master_SAE_ID", ak.auth.sae,
					 "slave_SAE_ID", ak.auth.peer_sae,
					 "key_size", (json_int_t)st.key_size,
					 "stored_key_count", cli_json_u64(st.stored_key_count),
					 "max_key_count", cli_json_u64(st.max_key_count),
					 "max_key_per_request", (json_int_t)st.max_key_per_request,
					 "max_key_size", (json_int_t)st.max_key_size,
					 "min_key_size", (json_int_t)st.min_key_size,
					 "max_SAE_ID_count", (json_int_t)0));
	} else {
		printf("node %" PRIu32 " peer-node %" PRIu32 " key-size %" PRIu32
		       " stored %" PRIu64 " max-count %" PRIu64 " max-per-request %" PRIu32
		       " min-key-size %" PRIu32 " max-key-size %" PRIu32 "\n",
		       ak.auth.source_node, ak.auth.target_node, st.key_size,
		       st.stored_key_count, st.max_key_count, st.max_key_per_request,
		       st.min_key_size, st.max_key_size);
	}
	qkdn_close(ak.h);
	return 0;
}

/* ak get */

static int ak_get(struct cli *cli, int argc, char **argv)
{
	struct ak ak = { .what = "ak get" };
	bool have_amount = false, have_size = false, have_req = false, have_fd = false;
	uint32_t amount = 1, size = 0, requests = 1;
	int fd = STDOUT_FILENO, ret = 0;
	struct out o = { 0 };
	uint32_t r;

	for (int i = 0; i < argc; i++) {
		if (ak_arg(&ak, argc, argv, &i))
			continue;
		if (!strcmp(argv[i], "amount")) {
			cli_once(ak.what, "amount", &have_amount);
			amount = cli_u32(cli_value(ak.what, argc, argv, &i), "amount");
		} else if (!strcmp(argv[i], "size")) {
			cli_once(ak.what, "size", &have_size);
			size = cli_u32(cli_value(ak.what, argc, argv, &i), "size");
		} else if (!strcmp(argv[i], "requests")) {
			cli_once(ak.what, "requests", &have_req);
			requests = cli_u32(cli_value(ak.what, argc, argv, &i), "requests");
		} else if (!strcmp(argv[i], "out-fd")) {
			cli_once(ak.what, "out-fd", &have_fd);
			fd = cli_fd(cli_value(ak.what, argc, argv, &i), "out-fd");
		} else {
			cli_unknown_arg(ak.what, argv[i]);
		}
	}
	if (!requests)
		qkdn_die("%s: requests must be at least 1", ak.what);
	ak_open(&ak);
	if (cli->json)
		out_head(&o, &ak);
	/* Sub-sessions in one session; stop at the first that gets nothing. */
	for (r = 0; r < requests; r++) {
		struct qkdn_ak_info info;
		struct qkdn_keys *keys;

		ret = qkdn_ak_get(ak.h, ak.session, amount, size, &keys, &info);
		if (ret < 0) {
			/* What earlier sub-sessions took is printed first. */
			if (cli->json)
				out_printf(&o, "]}\n");
			out_write(ak.what, &o, fd);
			ak_die(&ak, ret);
		}
		if (cli->json)
			out_sub_session(&o, &info, keys, r == 0);
		else if (keys)
			out_keys(&o, keys, false);
		qkdn_keys_free(keys);
		if (ret == QKDN_AK_SUPPLY_INSUFFICIENT) {
			if (cli->json)
				out_printf(&o, "]}\n");
			out_write(ak.what, &o, fd);
			qkdn_die("%s: insufficient keys: %" PRIu64 " available, %" PRIu32
				 " asked", ak.what, info.status.stored_key_count, amount);
		}
	}
	if (cli->json)
		out_printf(&o, "]}\n");
	out_write(ak.what, &o, fd);
	qkdn_close(ak.h);
	return 0;
}

/* ak get-id and ak delete: sae, peer, key IDs. */

static uint8_t (*ak_ids(struct ak *ak, int argc, char **argv, bool get, int *fd,
			uint32_t *count))[QKDN_KEY_ID_LEN]
{
	bool have_fd = false;
	uint8_t (*ids)[QKDN_KEY_ID_LEN] = NULL;
	size_t n = 0, cap = 0;

	for (int i = 0; i < argc; i++) {
		uint8_t *id;

		if (ak_arg(ak, argc, argv, &i))
			continue;
		if (get && !strcmp(argv[i], "out-fd")) {
			cli_once(ak->what, "out-fd", &have_fd);
			*fd = cli_fd(cli_value(ak->what, argc, argv, &i), "out-fd");
			continue;
		}
		id = qkdn_grow((void **)&ids, &n, &cap, QKDN_KEY_ID_LEN);
		if (!id)
			qkdn_die_err(ENOMEM, "%s", ak->what);
		if (qkdn_key_id_parse(id, argv[i]) < 0)
			qkdn_die("%s: invalid key ID '%s' (expected a UUID, "
				 "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)", ak->what, argv[i]);
	}
	if (!n)
		qkdn_die("%s: missing key ID", ak->what);
	if (n > QKDN_KEY_AMOUNT_MAX)
		qkdn_die("%s: too many key IDs for one request (at most %d)", ak->what,
			 QKDN_KEY_AMOUNT_MAX);
	*count = (uint32_t)n;
	return ids;
}

static int ak_get_id(struct cli *cli, int argc, char **argv)
{
	struct ak ak = { .what = "ak get-id" };
	uint8_t (*ids)[QKDN_KEY_ID_LEN];
	int fd = STDOUT_FILENO, ret;
	struct qkdn_ak_info info;
	struct qkdn_keys *keys;
	struct out o = { 0 };
	uint32_t count;

	ids = ak_ids(&ak, argc, argv, true, &fd, &count);
	ak_open(&ak);
	ret = qkdn_ak_get_by_id(ak.h, ak.session, (const void *)ids, count, &keys, &info);
	free(ids);
	if (ret < 0)
		ak_die(&ak, ret);
	if (cli->json) {
		out_head(&o, &ak);
		out_sub_session(&o, &info, keys, true);
		out_printf(&o, "]}\n");
	} else {
		out_keys(&o, keys, false);
	}
	qkdn_keys_free(keys);
	out_write(ak.what, &o, fd);
	qkdn_close(ak.h);
	return 0;
}

static int ak_delete(struct cli *cli, int argc, char **argv)
{
	struct ak ak = { .what = "ak delete" };
	uint8_t (*ids)[QKDN_KEY_ID_LEN];
	char session[20];
	uint32_t count;
	int ret;

	ids = ak_ids(&ak, argc, argv, false, NULL, &count);
	ak_open(&ak);
	ret = qkdn_ak_delete(ak.h, ak.session, (const void *)ids, count);
	free(ids);
	if (ret)
		ak_die(&ak, ret);
	snprintf(session, sizeof(session), "%016" PRIx64, ak.session);
	if (cli->json)
		cli_json_print(json_pack("{s:s, s:s, s:I}", "session", session,
					 "response", "success", "deleted",
					 (json_int_t)count));
	qkdn_close(ak.h);
	return 0;
}

static const struct cli_cmd ak_cmds[] = {
	{ "auth", "sae SAE peer PEER_SAE [hold]",
	  "open a session as SAE towards PEER_SAE and print its ID; with hold, keep it "
	  "until stdin closes", ak_auth },
	{ "status", "sae SAE peer PEER_SAE [app-code encrypt|decrypt]",
	  "what one request could take now (ETSI GS QKD 014 status)", ak_status },
	{ "get", "sae SAE peer PEER_SAE [amount N] [size BITS] [requests N] [out-fd FD]",
	  "new keys for encryption, in N sub-sessions of one session "
	  "(prints \"<uuid> <hex>\")", ak_get },
	{ "get-id", "sae SAE peer PEER_SAE KEY_UUID [KEY_UUID...] [out-fd FD]",
	  "the keys the peer SAE got, by ID, for decryption", ak_get_id },
	{ "delete", "sae SAE peer PEER_SAE KEY_UUID [KEY_UUID...]",
	  "wipe keys the peer SAE got, by ID, without taking them", ak_delete },
	{ 0 }
};

const struct cli_object cli_ak = {
	.name = "ak",
	.help = "Ak key supply sessions: authenticate, take and delete keys",
	.cmds = ak_cmds,
};
