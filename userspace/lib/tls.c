// SPDX-License-Identifier: GPL-2.0 OR MIT
#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <linux/qkdn.h>

#include "util.h"

const char *qkdn_tls_error(char *buf, size_t len)
{
	unsigned long e;
	size_t o = 0;

	buf[0] = '\0';
	while ((e = ERR_get_error()) != 0) {
		char one[256];

		ERR_error_string_n(e, one, sizeof(one));
		if (o < len)
			o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? "; " : "", one);
	}
	return buf;
}

/* Opens the private key, refusing one others can read: it is this node's
 * identity in the network. fstat() on the opened file, so the check is
 * about the file actually read. */
static EVP_PKEY *load_key(const char *path, char *err, size_t err_len)
{
	char ossl[512];
	struct stat st;
	EVP_PKEY *pkey;
	FILE *f;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(err, err_len, "key file %s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, err_len, "key file %s: not a regular file", path);
		close(fd);
		return NULL;
	}
	if (st.st_mode & (S_IRGRP | S_IROTH)) {
		snprintf(err, err_len,
			 "key file %s is readable by group or others (mode %04o): chmod 600 it",
			 path, (unsigned int)(st.st_mode & 07777));
		close(fd);
		return NULL;
	}
	f = fdopen(fd, "r");
	if (!f) {
		snprintf(err, err_len, "key file %s: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!pkey)
		snprintf(err, err_len, "key file %s: no PEM private key (%s)", path,
			 qkdn_tls_error(ossl, sizeof(ossl)));
	return pkey;
}

SSL_CTX *qkdn_tls_ctx_new(const char *cert, const char *key, const char *ca,
			  char *err, size_t err_len)
{
	char ossl[512];
	EVP_PKEY *pkey = NULL;
	SSL_CTX *ctx;

	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_method());
	if (!ctx) {
		snprintf(err, err_len, "SSL_CTX_new: %s", qkdn_tls_error(ossl, sizeof(ossl)));
		return NULL;
	}
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION)) {
		snprintf(err, err_len, "cannot restrict to TLS 1.3: %s",
			 qkdn_tls_error(ossl, sizeof(ossl)));
		goto fail;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		snprintf(err, err_len, "certificate %s: %s", cert,
			 qkdn_tls_error(ossl, sizeof(ossl)));
		goto fail;
	}
	pkey = load_key(key, err, err_len);
	if (!pkey)
		goto fail;
	if (SSL_CTX_use_PrivateKey(ctx, pkey) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, err_len, "key %s does not match certificate %s: %s", key, cert,
			 qkdn_tls_error(ossl, sizeof(ossl)));
		goto fail;
	}
	EVP_PKEY_free(pkey);
	pkey = NULL;
	if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
		snprintf(err, err_len, "CA file %s: %s", ca, qkdn_tls_error(ossl, sizeof(ossl)));
		goto fail;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	return ctx;
fail:
	EVP_PKEY_free(pkey);
	SSL_CTX_free(ctx);
	return NULL;
}

int qkdn_tls_cn_node_id(const char *cn, uint32_t *id)
{
	size_t plen = strlen(QKDN_TLS_CN_PREFIX);

	if (strncmp(cn, QKDN_TLS_CN_PREFIX, plen) != 0)
		return -EINVAL;
	return qkdn_parse_u32(cn + plen, 1, QKDN_NODE_ID_MAX, id) ? -EINVAL : 0;
}

int qkdn_tls_peer_cn(SSL *ssl, char *cn, size_t len, char *err, size_t err_len)
{
	X509 *cert = SSL_get0_peer_certificate(ssl);
	const X509_NAME *subject;
	const ASN1_STRING *data;
	const unsigned char *p;
	int idx, n;

	if (!cert || SSL_get_verify_result(ssl) != X509_V_OK) {
		snprintf(err, err_len, "peer presented no verified certificate");
		return -EPERM;
	}
	subject = X509_get_subject_name(cert);
	idx = X509_NAME_get_index_by_NID((X509_NAME *)subject, NID_commonName, -1);
	if (idx < 0) {
		snprintf(err, err_len, "peer certificate has no subject CN");
		return -EINVAL;
	}
	if (X509_NAME_get_index_by_NID((X509_NAME *)subject, NID_commonName, idx) >= 0) {
		snprintf(err, err_len, "peer certificate has more than one subject CN");
		return -EINVAL;
	}
	data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx));
	n = ASN1_STRING_length(data);
	p = ASN1_STRING_get0_data(data);
	if (n <= 0 || (size_t)n >= len || memchr(p, '\0', (size_t)n)) {
		snprintf(err, err_len, "peer certificate CN is empty, too long or holds a NUL");
		return -EINVAL;
	}
	memcpy(cn, p, (size_t)n);
	cn[n] = '\0';
	return 0;
}

int qkdn_tls_peer_node_id(SSL *ssl, uint32_t *id, char *err, size_t err_len)
{
	char cn[80];
	int ret = qkdn_tls_peer_cn(ssl, cn, sizeof(cn), err, err_len);

	if (ret)
		return ret;
	if (qkdn_tls_cn_node_id(cn, id) < 0) {
		for (char *p = cn; *p; p++)
			if (*p < 0x20 || *p > 0x7e)
				*p = '?';
		snprintf(err, err_len, "peer certificate CN \"%s\" is not %s<node ID>", cn,
			 QKDN_TLS_CN_PREFIX);
		return -EINVAL;
	}
	return 0;
}

/* Revocation */

X509_CRL *qkdn_tls_crl_parse(const void *p, size_t len, char *err, size_t err_len)
{
	char ossl[512];
	X509_CRL *crl = NULL;
	BIO *bio;

	if (len == 0 || len > INT32_MAX) {
		snprintf(err, err_len, "CRL of %zu bytes", len);
		return NULL;
	}
	bio = BIO_new_mem_buf(p, (int)len);
	if (!bio) {
		snprintf(err, err_len, "out of memory");
		return NULL;
	}
	if (len >= 10 && memcmp(p, "-----BEGIN", 10) == 0)
		crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
	else
		crl = d2i_X509_CRL_bio(bio, NULL);
	BIO_free(bio);
	if (!crl)
		snprintf(err, err_len, "not a CRL in PEM or DER (%s)",
			 qkdn_tls_error(ossl, sizeof(ossl)));
	return crl;
}

X509_CRL *qkdn_tls_crl_load(const char *path, char *err, size_t err_len)
{
	unsigned char *buf = NULL;
	char msg[400];
	X509_CRL *crl = NULL;
	size_t len = 0, cap = 0;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(err, err_len, "CRL file %s: %s", path, strerror(errno));
		return NULL;
	}
	do {
		if (len == cap) {
			unsigned char *more = cap < (1U << 24) ? realloc(buf, cap + 65536) : NULL;

			if (!more) {
				snprintf(err, err_len, "CRL file %s: too large or out of memory", path);
				goto out;
			}
			buf = more;
			cap += 65536;
		}
		n = qkdn_read_full(fd, buf + len, cap - len);
		if (n < 0) {
			snprintf(err, err_len, "CRL file %s: %s", path, strerror((int)-n));
			goto out;
		}
		len += (size_t)n;
	} while (n > 0 && len == cap);
	crl = qkdn_tls_crl_parse(buf, len, msg, sizeof(msg));
	if (!crl)
		snprintf(err, err_len, "CRL file %s: %s", path, msg);
out:
	close(fd);
	free(buf);
	return crl;
}

int qkdn_tls_ctx_set_crl(SSL_CTX *ctx, const char *ca_path, X509_CRL *crl,
			 char *err, size_t err_len)
{
	X509_STORE *store = X509_STORE_new();
	STACK_OF(X509_OBJECT) *objs;
	char ossl[512];
	bool signed_ok = false;

	ERR_clear_error();
	if (!store || X509_STORE_load_file(store, ca_path) != 1) {
		snprintf(err, err_len, "CA file %s: %s", ca_path,
			 qkdn_tls_error(ossl, sizeof(ossl)));
		X509_STORE_free(store);
		return -EINVAL;
	}
	/* Only a CRL its CA signed: anything else would be ignored by the
	 * verifier and make every peer fail "unable to get CRL". */
	objs = X509_STORE_get0_objects(store);
	for (int i = 0; i < sk_X509_OBJECT_num(objs); i++) {
		X509 *ca = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, i));
		EVP_PKEY *pub = ca ? X509_get0_pubkey(ca) : NULL;

		if (pub && X509_NAME_cmp(X509_get_subject_name(ca), X509_CRL_get_issuer(crl)) == 0 &&
		    X509_CRL_verify(crl, pub) == 1)
			signed_ok = true;
	}
	if (!signed_ok) {
		snprintf(err, err_len, "CRL not signed by a CA of %s", ca_path);
		ERR_clear_error();
		X509_STORE_free(store);
		return -EINVAL;
	}
	if (X509_STORE_add_crl(store, crl) != 1 ||
	    X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK) != 1) {
		snprintf(err, err_len, "CRL: %s", qkdn_tls_error(ossl, sizeof(ossl)));
		X509_STORE_free(store);
		return -EINVAL;
	}
	SSL_CTX_set_cert_store(ctx, store);	/* frees the old one */
	return 0;
}

bool qkdn_tls_peer_revoked(SSL *ssl)
{
	X509 *cert = SSL_get0_peer_certificate(ssl);
	STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl);
	X509_STORE *store = SSL_CTX_get_cert_store(SSL_get_SSL_CTX(ssl));
	X509_STORE_CTX *vctx;
	bool revoked = false;

	if (!cert || !store)
		return false;
	vctx = X509_STORE_CTX_new();
	/* No purpose check: the handshake did that; only revocation is new. */
	if (vctx && X509_STORE_CTX_init(vctx, store, cert, chain) == 1) {
		if (X509_verify_cert(vctx) != 1 &&
		    X509_STORE_CTX_get_error(vctx) == X509_V_ERR_CERT_REVOKED)
			revoked = true;
	}
	X509_STORE_CTX_free(vctx);
	ERR_clear_error();
	return revoked;
}

const char *qkdn_tls_verify_failure(SSL *ssl)
{
	long v = SSL_get_verify_result(ssl);

	switch (v) {
	case X509_V_OK:
		return NULL;
	case X509_V_ERR_CERT_REVOKED:
		return "peer certificate revoked";
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
		return "unknown CA";
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return "peer certificate expired";
	default:
		return X509_verify_cert_error_string(v);
	}
}

int qkdn_tls_crl_save(X509_CRL *crl, const char *path, char *err, size_t err_len)
{
	char *tmp = NULL;
	FILE *f;
	int ret = 0;

	if (asprintf(&tmp, "%s.new", path) < 0) {
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	f = fopen(tmp, "we");
	if (!f) {
		ret = -errno;
	} else {
		if (PEM_write_X509_CRL(f, crl) != 1)
			ret = -EIO;
		if (fflush(f) != 0 || fsync(fileno(f)) != 0)
			ret = ret ? ret : -errno;
		if (fclose(f) != 0)
			ret = ret ? ret : -errno;
		if (!ret && rename(tmp, path) < 0)
			ret = -errno;
		if (ret)
			unlink(tmp);
	}
	if (ret)
		snprintf(err, err_len, "writing CRL %s: %s", path, strerror(-ret));
	ERR_clear_error();
	free(tmp);
	return ret;
}

/* CRL file watch */

static bool crl_stat(const char *path, struct stat *st)
{
	return stat(path, st) == 0;
}

void qkdn_crl_watch_sync(struct qkdn_crl_watch *w)
{
	struct stat st;

	w->known = crl_stat(w->path, &st);
	if (!w->known)
		return;
	w->dev = st.st_dev;
	w->ino = st.st_ino;
	w->size = st.st_size;
	w->mtime = st.st_mtim;
}

void qkdn_crl_watch_init(struct qkdn_crl_watch *w, const char *path)
{
	memset(w, 0, sizeof(*w));
	w->path = path;
	qkdn_crl_watch_sync(w);
}

int qkdn_crl_watch_poll(struct qkdn_crl_watch *w, X509_CRL **crl, char *err, size_t err_len)
{
	struct stat st;
	bool exists = crl_stat(w->path, &st);

	*crl = NULL;
	if (exists && w->known && st.st_dev == w->dev && st.st_ino == w->ino &&
	    st.st_size == w->size && st.st_mtim.tv_sec == w->mtime.tv_sec &&
	    st.st_mtim.tv_nsec == w->mtime.tv_nsec)
		return 0;
	if (!exists) {
		int e = errno;

		if (!w->known)
			return 0;	/* still gone: said so already */
		w->known = false;
		snprintf(err, err_len, "CRL file %s: %s", w->path, strerror(e));
		return -e;
	}
	w->known = true;
	w->dev = st.st_dev;
	w->ino = st.st_ino;
	w->size = st.st_size;
	w->mtime = st.st_mtim;
	*crl = qkdn_tls_crl_load(w->path, err, err_len);
	return *crl ? 1 : -EINVAL;
}
