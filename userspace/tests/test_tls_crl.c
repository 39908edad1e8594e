// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * A CRL file re-read when it changes (lib/tls.c qkdn_crl_watch_*), and a
 * connection that was up when its peer was revoked found out by
 * qkdn_tls_peer_revoked() once the new CRL is in the context: what the
 * daemons' watchers (kmd/crl.c, ctld tick, mgrd) do every 5 s. The CA and
 * certificates are the controller's own (ctld/pki.c), the TLS connection
 * runs in memory (BIO pairs).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "ctld.h"
#include "tap.h"
#include "tls.h"

static char dir[64], state[128], out[128], crl_path[200], ca[200];

static int pki(const char *a0, const char *a1, const char *a2, const char *a3, const char *a4,
	       const char *a5)
{
	char *argv[] = { (char *)a0, (char *)a1, (char *)a2, (char *)a3, (char *)a4, (char *)a5,
			 NULL };
	int argc = 0;

	while (argv[argc])
		argc++;
	return ctld_pki_main(argc, argv);
}

static SSL_CTX *ctx(const char *cn)
{
	char cert[256], key[256], err[512];
	SSL_CTX *c;

	snprintf(cert, sizeof(cert), "%s/%s.crt", out, cn);
	snprintf(key, sizeof(key), "%s/%s.key", out, cn);
	c = qkdn_tls_ctx_new(cert, key, ca, err, sizeof(err));
	if (!c)
		diag("%s: %s", cn, err);
	return c;
}

/* A client and a server SSL joined by a BIO pair; 0 once both finished
 * the handshake, -1 if either failed. */
static int handshake(SSL_CTX *sctx, SSL_CTX *cctx, SSL **s, SSL **c)
{
	BIO *sb, *cb;
	int done = 0;

	*s = SSL_new(sctx);
	*c = SSL_new(cctx);
	BIO_new_bio_pair(&sb, 0, &cb, 0);
	SSL_set_bio(*s, sb, sb);
	SSL_set_bio(*c, cb, cb);
	SSL_set_accept_state(*s);
	SSL_set_connect_state(*c);
	for (int i = 0; i < 20 && done != 3; i++) {
		int rc = SSL_do_handshake(*c), rs = SSL_do_handshake(*s);

		if (rc == 1)
			done |= 1;
		else if (SSL_get_error(*c, rc) != SSL_ERROR_WANT_READ)
			return -1;
		if (rs == 1)
			done |= 2;
		else if (SSL_get_error(*s, rs) != SSL_ERROR_WANT_READ)
			return -1;
	}
	/* TLS 1.3: the client's certificate is checked when the server reads
	 * its Finished; a little data settles both. */
	SSL_write(*c, "x", 1);
	{
		char b;
		int r = SSL_read(*s, &b, 1);

		if (r != 1)
			return -1;
	}
	return done == 3 ? 0 : -1;
}

static void replace_file(const char *path, const void *data, size_t len)
{
	char tmp[256];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.new", path);
	f = fopen(tmp, "w");
	fwrite(data, 1, len, f);
	fclose(f);
	rename(tmp, path);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf = malloc(65536);

	*len = fread(buf, 1, 65536, f);
	fclose(f);
	return buf;
}

int main(void)
{
	struct qkdn_crl_watch w;
	SSL_CTX *sctx, *cctx;
	SSL *s = NULL, *c = NULL, *s2 = NULL, *c2 = NULL;
	X509_CRL *crl = NULL;
	char err[512], cmd[300];
	const char *why;
	size_t good_len;
	char *good;
	int ret;

	snprintf(dir, sizeof(dir), "/tmp/qkdn-crl-XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	snprintf(state, sizeof(state), "%s/ca", dir);
	snprintf(out, sizeof(out), "%s/pki", dir);
	snprintf(crl_path, sizeof(crl_path), "%s/crl.pem", out);
	snprintf(ca, sizeof(ca), "%s/ca.crt", out);
	ok(pki("init", "--state", state, "--network", "t", NULL) == 0 &&
	   pki("enrol", "--state", state, "--ctl", "--out", out) == 0,
	   "a CA and the controller's certificate");
	{
		char *argv[] = { "enrol", "--state", state, "--node", "1", "--out", out, NULL };

		ok(ctld_pki_main(7, argv) == 0, "node 1 enrolled");
	}
	sctx = ctx("qkdn-ctl");
	cctx = ctx("qkdn-node-1");
	crl = qkdn_tls_crl_load(crl_path, err, sizeof(err));
	ok(sctx && cctx && crl && qkdn_tls_ctx_set_crl(sctx, ca, crl, err, sizeof(err)) == 0,
	   "contexts with the empty CRL (%s)", crl ? "" : err);
	X509_CRL_free(crl);
	crl = NULL;
	qkdn_crl_watch_init(&w, crl_path);
	ok(qkdn_crl_watch_poll(&w, &crl, err, sizeof(err)) == 0 && !crl,
	   "unchanged file: nothing to do");
	ok(handshake(sctx, cctx, &s, &c) == 0, "node 1 connected");
	ok(!qkdn_tls_peer_revoked(s), "its certificate is not revoked");

	/* Revoked at the CA; the new CRL copied to where the daemon reads it. */
	ok(ctld_pki_revoke(state, CTLD_KIND_NODE, 1, NULL, err, sizeof(err)) == 0,
	   "node 1 revoked (%s)", err);
	snprintf(cmd, sizeof(cmd), "%s/crl.pem", state);
	good = slurp(cmd, &good_len);
	replace_file(crl_path, good, good_len);
	ret = qkdn_crl_watch_poll(&w, &crl, err, sizeof(err));
	ok(ret == 1 && crl, "the changed file is read (%d)", ret);
	ok(crl && qkdn_tls_ctx_set_crl(sctx, ca, crl, err, sizeof(err)) == 0, "and installed");
	X509_CRL_free(crl);
	crl = NULL;
	ok(qkdn_tls_peer_revoked(s), "the established connection's peer is now revoked: dropped");
	ok(qkdn_crl_watch_poll(&w, &crl, err, sizeof(err)) == 0, "read once only");
	ret = handshake(sctx, cctx, &s2, &c2);
	why = qkdn_tls_verify_failure(s2);
	ok(ret < 0 && why && !strcmp(why, "peer certificate revoked"),
	   "a new connection of node 1 is refused: %s", why ? why : "?");
	SSL_free(s2);
	SSL_free(c2);
	ERR_clear_error();

	/* A broken file: refused, the CRL in use stays, not retried. */
	replace_file(crl_path, "not a CRL\n", 10);
	ret = qkdn_crl_watch_poll(&w, &crl, err, sizeof(err));
	ok(ret == -EINVAL && !crl, "garbage refused: %s", err);
	ok(qkdn_crl_watch_poll(&w, &crl, err, sizeof(err)) == 0, "and not tried again unchanged");
	ok(qkdn_tls_peer_revoked(s), "the CRL in use stayed");
	unlink(crl_path);
	ret = qkdn_crl_watch_poll(&w, &crl, err, sizeof(err));
	ok(ret == -ENOENT && strstr(err, "No such file"), "file gone: %s", err);
	ok(qkdn_crl_watch_poll(&w, &crl, err, sizeof(err)) == 0, "said once");
	replace_file(crl_path, good, good_len);
	ret = qkdn_crl_watch_poll(&w, &crl, err, sizeof(err));
	ok(ret == 1 && crl, "back: read again");
	X509_CRL_free(crl);
	/* Our own write (kmd saving a CRL pushed over Ck) is not a change. */
	replace_file(crl_path, good, good_len);
	qkdn_crl_watch_sync(&w);
	ok(qkdn_crl_watch_poll(&w, &crl, err, sizeof(err)) == 0, "after sync: no change");

	free(good);
	SSL_free(s);
	SSL_free(c);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		diag("cannot remove %s", dir);
	return tap_done();
}
