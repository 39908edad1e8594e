// SPDX-License-Identifier: GPL-2.0 OR MIT
#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

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

int qkdn_tls_peer_node_id(SSL *ssl, uint32_t *id, char *err, size_t err_len)
{
	X509 *cert = SSL_get0_peer_certificate(ssl);
	const X509_NAME *subject;
	const ASN1_STRING *data;
	char cn[80];
	int idx, len;

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
	len = ASN1_STRING_length(data);
	if (len <= 0 || (size_t)len >= sizeof(cn) ||
	    memchr(ASN1_STRING_get0_data(data), '\0', (size_t)len)) {
		snprintf(err, err_len, "peer certificate CN is empty, too long or holds a NUL");
		return -EINVAL;
	}
	memcpy(cn, ASN1_STRING_get0_data(data), (size_t)len);
	cn[len] = '\0';
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
