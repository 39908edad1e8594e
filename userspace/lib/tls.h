/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * TLS for qkdn daemons: TLS 1.3 only, mutual certificate authentication
 * against one CA, node identity from the certificate.
 *
 * Every node has a certificate whose subject CN is "qkdn-node-<ID>", the
 * node ID in decimal, signed by the network's CA. A connection, in either
 * direction, is up only once both ends presented a certificate the other
 * verified against the CA; qkdn_tls_peer_node_id() then tells who the peer
 * is, and that ID, never one a message claims, is whom frames come from.
 *
 * One context serves both directions (SSL_set_connect_state() or
 * SSL_set_accept_state() on each SSL, as libevent does). Session tickets
 * are off: every connection runs a full handshake with certificates.
 */
#ifndef QKDN_TLS_H
#define QKDN_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/stat.h>
#include <time.h>

#include <openssl/ssl.h>

#define QKDN_TLS_CN_PREFIX "qkdn-node-"

/* Loads cert (PEM, chain allowed), key (PEM; refused if the file is
 * readable by group or others) and ca (PEM bundle). NULL on failure with
 * err filled ("key file X is readable by group or others (mode 0644):
 * chmod 600 it", OpenSSL's reason otherwise). */
SSL_CTX *qkdn_tls_ctx_new(const char *cert, const char *key, const char *ca,
			  char *err, size_t err_len);

/* The node ID a CN names: "qkdn-node-" then 1..QKDN_NODE_ID_MAX in decimal,
 * nothing else. 0 or -EINVAL. */
int qkdn_tls_cn_node_id(const char *cn, uint32_t *id);

/* The node ID of the verified peer of a finished handshake: its
 * certificate has exactly one subject CN, of the form above. 0, or
 * -EPERM (no verified certificate), -EINVAL (CN missing, repeated or not
 * of that form) with err filled. */
int qkdn_tls_peer_node_id(SSL *ssl, uint32_t *id, char *err, size_t err_len);

/*
 * Certificate revocation (seed 001 clause 8.4). Parses a CRL given as PEM
 * or DER (len bytes at p); NULL with err filled if it is neither. The CRL
 * must be signed by a CA of ctx's store: qkdn_tls_ctx_set_crl() checks
 * that too.
 */
X509_CRL *qkdn_tls_crl_parse(const void *p, size_t len, char *err, size_t err_len);
/* Reads a CRL file (PEM or DER). NULL with err filled. */
X509_CRL *qkdn_tls_crl_load(const char *path, char *err, size_t err_len);
/*
 * Makes ctx check every peer certificate against crl from now on
 * (X509_V_FLAG_CRL_CHECK): a fresh store holding the CAs of ca_path and
 * crl replaces ctx's, so a newer CRL replaces an older one. Connections
 * already up are not affected: see qkdn_tls_peer_revoked(). 0 or -EINVAL
 * (CA unreadable, CRL not signed by it) with err filled; ctx unchanged
 * then.
 */
int qkdn_tls_ctx_set_crl(SSL_CTX *ctx, const char *ca_path, X509_CRL *crl,
			 char *err, size_t err_len);
/* Whether the peer certificate of an established connection is revoked
 * by the CRL now in its context's store. */
bool qkdn_tls_peer_revoked(SSL *ssl);
/* Why a handshake failed on certificates, for logs: "peer certificate
 * revoked", "unknown CA", ... or NULL when verification was not the
 * cause. */
const char *qkdn_tls_verify_failure(SSL *ssl);
/* Writes crl to path as PEM, atomically (a temporary file renamed). 0 or
 * -errno with err filled. */
int qkdn_tls_crl_save(X509_CRL *crl, const char *path, char *err, size_t err_len);

/*
 * A CRL file watched for changes (seed 001 clause 8.4: a node the
 * controller revokes is cut off everywhere, also where the new CRL arrives
 * as a file rather than over Ck). Daemons poll it every
 * QKDN_CRL_WATCH_MS; a change is a different inode, size or modification
 * time. Poll returns 1 with *crl the new CRL (the caller installs it with
 * qkdn_tls_ctx_set_crl(), drops the connections qkdn_tls_peer_revoked()
 * now refuses, and frees it), 0 when the file has not changed, -errno
 * with err filled when it changed but cannot be used (missing, not a
 * CRL): the CRL in use stays, and the same file is not tried again until
 * it changes once more.
 */
#define QKDN_CRL_WATCH_MS 5000

struct qkdn_crl_watch {
	const char *path;
	bool known;			/* the stat below is of the file last looked at */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

/* Starts watching path (not copied), taking the file as it is now as
 * the one already loaded. */
void qkdn_crl_watch_init(struct qkdn_crl_watch *w, const char *path);
int qkdn_crl_watch_poll(struct qkdn_crl_watch *w, X509_CRL **crl, char *err, size_t err_len);
/* Takes the file as it is now as loaded (after writing it ourselves). */
void qkdn_crl_watch_sync(struct qkdn_crl_watch *w);

/* qkdn-secd (and any SAE-facing server): the subject CN of the verified
 * peer certificate, exactly one, printable ASCII, into cn[len]. 0, or
 * -EPERM (no verified certificate), -EINVAL (CN missing, repeated, empty,
 * too long, not printable) with err filled. */
int qkdn_tls_peer_cn(SSL *ssl, char *cn, size_t len, char *err, size_t err_len);

/* The controller's subject CN (DESIGN: identities). */
#define QKDN_TLS_CN_CONTROLLER "qkdn-ctl"

/* OpenSSL's error queue as one line ("" if empty), emptying it. */
const char *qkdn_tls_error(char *buf, size_t len);

#endif
