// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Access control (seed 001 clause 8.4): the controller is the network's
 * certificate authority. Its state directory holds
 *
 *   ca.key          the CA key, EC P-256, mode 0600
 *   ca.crt          the self-signed CA certificate
 *   crl.pem         the CA's CRL (CRL number, nextUpdate in a year)
 *   registry.json   the access control repository: entities, their
 *                   certificates' serials, revoked serials
 *   lock            flock()ed by whoever changes the above
 *
 * Every file is written atomically (temporary file, fsync, rename, fsync
 * of the directory). Certificates: EC P-256, SHA-256, subject CN naming
 * the entity (ctld.h ctld_entity_cn()), extendedKeyUsage serverAuth and
 * clientAuth.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ctld.h"
#include "log.h"
#include "tls.h"
#include "util.h"

#define CERT_DAYS_DEFAULT	365
#define CRL_DAYS		365

static const char *const kind_names[] = {
	[CTLD_KIND_NODE] = "node", [CTLD_KIND_QKD] = "qkd", [CTLD_KIND_APP] = "app",
	[CTLD_KIND_CTL] = "ctl", [CTLD_KIND_MGR] = "mgr",
};

int ctld_entity_cn(enum ctld_kind kind, uint32_t id, const char *app, char *cn, size_t len)
{
	int n;

	switch (kind) {
	case CTLD_KIND_NODE: n = snprintf(cn, len, "qkdn-node-%u", id); break;
	case CTLD_KIND_QKD: n = snprintf(cn, len, "qkdn-qkd-%u", id); break;
	case CTLD_KIND_CTL: n = snprintf(cn, len, "qkdn-ctl"); break;
	case CTLD_KIND_MGR: n = snprintf(cn, len, "qkdn-mgr"); break;
	case CTLD_KIND_APP:
		if (!app || !*app || strlen(app) > 64 || !strncmp(app, "qkdn-", 5))
			return -EINVAL;
		for (const char *p = app; *p; p++)
			if (*p < 0x21 || *p > 0x7e)
				return -EINVAL;
		n = snprintf(cn, len, "%s", app);
		break;
	default:
		return -EINVAL;
	}
	return n < 0 || (size_t)n >= len ? -EINVAL : 0;
}

/* Files */

static char *state_path(const char *dir, const char *name)
{
	char *p;

	return asprintf(&p, "%s/%s", dir, name) < 0 ? NULL : p;
}

/* Writes len bytes to path atomically with mode. 0 or -errno. */
static int write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	char *tmp = NULL, *dir = NULL, *slash;
	int fd, ret = 0;

	if (asprintf(&tmp, "%s.tmp", path) < 0)
		return -ENOMEM;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	if (fchmod(fd, mode) < 0 || qkdn_write_full(fd, data, len) < 0 || fsync(fd) < 0)
		ret = -errno ? -errno : -EIO;
	if (close(fd) < 0 && !ret)
		ret = -errno;
	if (!ret && rename(tmp, path) < 0)
		ret = -errno;
	if (ret) {
		unlink(tmp);
		goto out;
	}
	dir = strdup(path);
	slash = dir ? strrchr(dir, '/') : NULL;
	if (slash) {
		*slash = '\0';
		fd = open(*dir ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0) {
			fsync(fd);
			close(fd);
		}
	}
out:
	free(dir);
	free(tmp);
	return ret;
}

/* Holds the state directory's lock until the process exits or unlock. */
static int lock_state(const char *dir, char *err, size_t err_len)
{
	char *p = state_path(dir, "lock");
	int fd = p ? open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600) : -1;

	if (fd < 0 || flock(fd, LOCK_EX) < 0) {
		snprintf(err, err_len, "%s: %s", p ? p : dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		free(p);
		return -1;
	}
	free(p);
	return fd;
}

static void unlock_state(int fd)
{
	if (fd >= 0)
		close(fd);
}

/* Registry */

static json_t *registry_load(const char *dir, char *err, size_t err_len)
{
	char *p = state_path(dir, "registry.json");
	json_error_t je;
	json_t *r;

	if (!p) {
		snprintf(err, err_len, "out of memory");
		return NULL;
	}
	r = json_load_file(p, JSON_REJECT_DUPLICATES, &je);
	if (!r)
		snprintf(err, err_len, "%s: %s (run qkdn-ctld init first?)", p, je.text);
	else if (!json_is_object(r) || !json_is_array(json_object_get(r, "entities")) ||
		 !json_is_array(json_object_get(r, "revoked")) ||
		 !json_is_integer(json_object_get(r, "next_serial"))) {
		snprintf(err, err_len, "%s: not a qkdn-ctld registry", p);
		json_decref(r);
		r = NULL;
	}
	free(p);
	return r;
}

static int registry_save(const char *dir, json_t *r, char *err, size_t err_len)
{
	char *p = state_path(dir, "registry.json");
	char *s = json_dumps(r, JSON_INDENT(2) | JSON_SORT_KEYS);
	int ret = p && s ? write_atomic(p, s, strlen(s), 0644) : -ENOMEM;

	if (ret)
		snprintf(err, err_len, "%s: %s", p ? p : "registry", strerror(-ret));
	free(s);
	free(p);
	return ret;
}

static json_t *registry_find(json_t *r, const char *cn)
{
	size_t i;
	json_t *e;

	json_array_foreach(json_object_get(r, "entities"), i, e)
		if (!strcmp(json_string_value(json_object_get(e, "cn")) ?: "", cn))
			return e;
	return NULL;
}

/* Keys and certificates */

static EVP_PKEY *load_ca_key(const char *dir, char *err, size_t err_len)
{
	char *p = state_path(dir, "ca.key");
	FILE *f = p ? fopen(p, "re") : NULL;
	EVP_PKEY *k = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;

	if (!k)
		snprintf(err, err_len, "CA key %s: %s", p ? p : dir,
			 f ? "not a PEM private key" : strerror(errno));
	if (f)
		fclose(f);
	free(p);
	return k;
}

static X509 *load_cert(const char *path, char *err, size_t err_len)
{
	FILE *f = fopen(path, "re");
	X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;

	if (!x)
		snprintf(err, err_len, "certificate %s: %s", path,
			 f ? "not a PEM certificate" : strerror(errno));
	if (f)
		fclose(f);
	return x;
}

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return -1;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

/* A certificate for pub named cn, signed by ca_key (issuer: ca, or
 * itself when ca is NULL). */
static X509 *make_cert(EVP_PKEY *pub, const char *cn, const char *org, uint64_t serial,
		       unsigned int days, EVP_PKEY *ca_key, X509 *ca)
{
	X509 *x = X509_new();
	X509_NAME *name;
	bool is_ca = !ca;

	if (!x)
		return NULL;
	name = X509_get_subject_name(x);
	if (!X509_set_version(x, 2) ||
	    !ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), serial) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -300) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), (long)days * 86400) ||
	    !X509_set_pubkey(x, pub) ||
	    !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)org, -1,
					-1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1,
					-1, 0) ||
	    !X509_set_issuer_name(x, is_ca ? name : X509_get_subject_name(ca)))
		goto fail;
	if (add_ext(x, is_ca ? x : ca, NID_subject_key_identifier, "hash") ||
	    add_ext(x, is_ca ? x : ca, NID_authority_key_identifier, "keyid:always"))
		goto fail;
	if (is_ca) {
		if (add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE") ||
		    add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign"))
			goto fail;
	} else if (add_ext(x, ca, NID_basic_constraints, "critical,CA:FALSE") ||
		   add_ext(x, ca, NID_key_usage, "critical,digitalSignature") ||
		   add_ext(x, ca, NID_ext_key_usage, "serverAuth,clientAuth")) {
		goto fail;
	}
	if (!X509_sign(x, ca_key, EVP_sha256()))
		goto fail;
	return x;
fail:
	X509_free(x);
	return NULL;
}

static char *pem_of(int (*write)(BIO *, void *), void *obj, size_t *len)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *out = NULL;
	long n;

	if (b && write(b, obj) == 1 && (n = BIO_get_mem_data(b, &data)) > 0) {
		out = malloc((size_t)n + 1);
		if (out) {
			memcpy(out, data, (size_t)n);
			out[n] = '\0';
			*len = (size_t)n;
		}
	}
	BIO_free(b);
	return out;
}

static int w_cert(BIO *b, void *x) { return PEM_write_bio_X509(b, x); }
static int w_key(BIO *b, void *k) { return PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL); }
static int w_crl(BIO *b, void *c) { return PEM_write_bio_X509_CRL(b, c); }

static int save_pem(const char *path, int (*write)(BIO *, void *), void *obj, mode_t mode,
		    char *err, size_t err_len)
{
	size_t len = 0;
	char *pem = pem_of(write, obj, &len);
	int ret = pem ? write_atomic(path, pem, len, mode) : -ENOMEM;

	if (pem)
		explicit_bzero(pem, len);
	free(pem);
	if (ret)
		snprintf(err, err_len, "%s: %s", path, strerror(-ret));
	return ret;
}

/* Builds and writes crl.pem from the registry's revoked list, with the
 * next CRL number. */
static int write_crl(const char *dir, json_t *reg, EVP_PKEY *ca_key, X509 *ca, char *err,
		     size_t err_len)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *now = ASN1_TIME_new(), *next = ASN1_TIME_new();
	ASN1_INTEGER *number = ASN1_INTEGER_new();
	json_int_t crl_number = json_integer_value(json_object_get(reg, "crl_number")) + 1;
	char *p = state_path(dir, "crl.pem");
	json_t *e;
	size_t i;
	int ret = -EINVAL;

	if (!crl || !now || !next || !number || !p)
		goto out;
	X509_gmtime_adj(now, 0);
	X509_gmtime_adj(next, (long)CRL_DAYS * 86400);
	if (!X509_CRL_set_version(crl, 1) ||
	    !X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)) ||
	    !X509_CRL_set1_lastUpdate(crl, now) || !X509_CRL_set1_nextUpdate(crl, next) ||
	    !ASN1_INTEGER_set_int64(number, crl_number) ||
	    X509_CRL_add1_ext_i2d(crl, NID_crl_number, number, 0, 0) != 1)
		goto out;
	json_array_foreach(json_object_get(reg, "revoked"), i, e) {
		X509_REVOKED *rv = X509_REVOKED_new();
		ASN1_INTEGER *serial = ASN1_INTEGER_new();
		ASN1_TIME *when = ASN1_TIME_set(NULL,
						(time_t)json_integer_value(json_object_get(e, "time")));

		if (!rv || !serial || !when ||
		    !ASN1_INTEGER_set_uint64(serial,
					     (uint64_t)json_integer_value(json_object_get(e, "serial"))) ||
		    !X509_REVOKED_set_serialNumber(rv, serial) ||
		    !X509_REVOKED_set_revocationDate(rv, when) || !X509_CRL_add0_revoked(crl, rv)) {
			X509_REVOKED_free(rv);
			ASN1_INTEGER_free(serial);
			ASN1_TIME_free(when);
			goto out;
		}
		ASN1_INTEGER_free(serial);
		ASN1_TIME_free(when);
	}
	if (!X509_CRL_sort(crl) || !X509_CRL_sign(crl, ca_key, EVP_sha256()))
		goto out;
	ret = save_pem(p, w_crl, crl, 0644, err, err_len);
	if (!ret)
		json_object_set_new(reg, "crl_number", json_integer(crl_number));
out:
	if (ret == -EINVAL)
		snprintf(err, err_len, "cannot build the CRL: %s",
			 qkdn_tls_error((char[256]){ 0 }, 256));
	X509_CRL_free(crl);
	ASN1_TIME_free(now);
	ASN1_TIME_free(next);
	ASN1_INTEGER_free(number);
	free(p);
	return ret;
}

/* What changing the registry needs: the state directory locked, the
 * registry, the CA key and certificate. */
struct ca_state {
	int lock;
	json_t *reg;
	EVP_PKEY *key;
	X509 *cert;
};

static void ca_close(struct ca_state *st)
{
	unlock_state(st->lock);
	json_decref(st->reg);
	EVP_PKEY_free(st->key);
	X509_free(st->cert);
	memset(st, 0, sizeof(*st));
	st->lock = -1;
}

/* 0, or -EINVAL with err filled and st closed. */
static int ca_open(const char *dir, struct ca_state *st, char *err, size_t err_len)
{
	char *ca_path = state_path(dir, "ca.crt");

	memset(st, 0, sizeof(*st));
	st->lock = lock_state(dir, err, err_len);
	if (st->lock >= 0)
		st->reg = registry_load(dir, err, err_len);
	if (st->reg)
		st->key = load_ca_key(dir, err, err_len);
	if (st->key && ca_path)
		st->cert = load_cert(ca_path, err, err_len);
	free(ca_path);
	if (!st->cert) {
		ca_close(st);
		return -EINVAL;
	}
	return 0;
}

/* Subcommands */

static int pki_init(const char *dir, const char *network, char *err, size_t err_len)
{
	char *kp = state_path(dir, "ca.key"), *cp = state_path(dir, "ca.crt");
	EVP_PKEY *key = NULL;
	X509 *ca = NULL;
	json_t *reg = NULL;
	struct stat st;
	char cn[128];
	int ret = -EINVAL, lock = -1;

	if (!kp || !cp) {
		ret = -ENOMEM;
		goto out;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		ret = -errno;
		snprintf(err, err_len, "%s: %s", dir, strerror(errno));
		goto out;
	}
	lock = lock_state(dir, err, err_len);
	if (lock < 0)
		goto out;
	if (stat(kp, &st) == 0) {
		ret = -EEXIST;
		snprintf(err, err_len, "%s already holds a CA (%s): refusing to replace it", dir, kp);
		goto out;
	}
	snprintf(cn, sizeof(cn), "qkdn CA %s", network);
	key = EVP_EC_gen("P-256");
	ca = key ? make_cert(key, cn, network, 1, 3650, key, NULL) : NULL;
	if (!ca) {
		snprintf(err, err_len, "cannot make the CA: %s",
			 qkdn_tls_error((char[256]){ 0 }, 256));
		goto out;
	}
	reg = json_pack("{s:s, s:I, s:I, s:[], s:[]}", "network", network, "next_serial",
			(json_int_t)2, "crl_number", (json_int_t)0, "entities", "revoked");
	if (!reg) {
		ret = -ENOMEM;
		goto out;
	}
	ret = save_pem(kp, w_key, key, 0600, err, err_len);
	if (!ret)
		ret = save_pem(cp, w_cert, ca, 0644, err, err_len);
	if (!ret)
		ret = write_crl(dir, reg, key, ca, err, err_len);
	if (!ret)
		ret = registry_save(dir, reg, err, err_len);
out:
	if (ret == -ENOMEM)
		snprintf(err, err_len, "out of memory");
	unlock_state(lock);
	json_decref(reg);
	X509_free(ca);
	EVP_PKEY_free(key);
	free(kp);
	free(cp);
	return ret;
}

struct enrol_args {
	enum ctld_kind kind;
	uint32_t id;
	const char *app, *name, *out, *csr;
	unsigned int days;
};

static int pki_enrol(const char *dir, const struct enrol_args *a, char *err, size_t err_len)
{
	char cn[80], *path = NULL;
	struct ca_state st;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	X509_REQ *req = NULL;
	json_t *reg, *ent;
	json_int_t serial;
	EVP_PKEY *ca_key;
	X509 *ca;
	int ret = -EINVAL;

	if (ctld_entity_cn(a->kind, a->id, a->app, cn, sizeof(cn)) < 0) {
		snprintf(err, err_len, "bad application CN (1..64 printable characters, not qkdn-*)");
		return -EINVAL;
	}
	if (ca_open(dir, &st, err, err_len) < 0)
		return -EINVAL;
	reg = st.reg;
	ca_key = st.key;
	ca = st.cert;
	if (a->csr) {
		FILE *f = fopen(a->csr, "re");

		req = f ? PEM_read_X509_REQ(f, NULL, NULL, NULL) : NULL;
		if (f)
			fclose(f);
		key = req ? X509_REQ_get_pubkey(req) : NULL;
		if (!key || X509_REQ_verify(req, key) != 1) {
			snprintf(err, err_len, "CSR %s: %s", a->csr,
				 !f ? strerror(errno) : !req ? "not a PEM certificate request"
							     : "its signature does not verify");
			goto out;
		}
	} else {
		key = EVP_EC_gen("P-256");
		if (!key) {
			snprintf(err, err_len, "cannot generate a key");
			goto out;
		}
	}
	serial = json_integer_value(json_object_get(reg, "next_serial"));
	cert = make_cert(key, cn, json_string_value(json_object_get(reg, "network")) ?: "qkdn",
			 (uint64_t)serial, a->days, ca_key, ca);
	if (!cert) {
		snprintf(err, err_len, "cannot make the certificate: %s",
			 qkdn_tls_error((char[256]){ 0 }, 256));
		goto out;
	}
	if (mkdir(a->out, 0755) < 0 && errno != EEXIST) {
		snprintf(err, err_len, "%s: %s", a->out, strerror(errno));
		ret = -errno;
		goto out;
	}
	free(path);
	if (asprintf(&path, "%s/%s.crt", a->out, cn) < 0 ||
	    (ret = save_pem(path, w_cert, cert, 0644, err, err_len)))
		goto out;
	if (!a->csr) {
		free(path);
		if (asprintf(&path, "%s/%s.key", a->out, cn) < 0 ||
		    (ret = save_pem(path, w_key, key, 0600, err, err_len)))
			goto out;
		free(path);
		if (asprintf(&path, "%s/ca.crt", a->out) < 0 ||
		    (ret = save_pem(path, w_cert, ca, 0644, err, err_len)))
			goto out;
		{
			char *src = state_path(dir, "crl.pem");
			X509_CRL *crl = src ? qkdn_tls_crl_load(src, err, err_len) : NULL;

			free(path);
			path = NULL;
			ret = !crl ? -EINVAL : asprintf(&path, "%s/crl.pem", a->out) < 0 ? -ENOMEM
				: save_pem(path, w_crl, crl, 0644, err, err_len);
			X509_CRL_free(crl);
			free(src);
			if (ret)
				goto out;
		}
	}
	ent = registry_find(reg, cn);
	if (!ent) {
		ent = json_pack("{s:s, s:s, s:I, s:[]}", "cn", cn, "kind", kind_names[a->kind],
				"id", (json_int_t)a->id, "serials");
		json_array_append_new(json_object_get(reg, "entities"), ent);
	}
	json_object_set_new(ent, "state", json_string("registered"));
	if (a->name)
		json_object_set_new(ent, "name", json_string(a->name));
	json_object_set_new(ent, "enrolled", json_integer((json_int_t)time(NULL)));
	json_array_append_new(json_object_get(ent, "serials"), json_integer(serial));
	json_object_set_new(reg, "next_serial", json_integer(serial + 1));
	ret = registry_save(dir, reg, err, err_len);
	if (!ret)
		printf("enrolled %s serial %" PRId64 " into %s\n", cn, (int64_t)serial, a->out);
out:
	ca_close(&st);
	X509_REQ_free(req);
	X509_free(cert);
	EVP_PKEY_free(key);
	free(path);
	return ret;
}

int ctld_pki_revoke(const char *dir, enum ctld_kind kind, uint32_t id, const char *app,
		    char *err, size_t err_len)
{
	char cn[80];
	struct ca_state st;
	json_t *reg, *ent, *s;
	size_t i;
	int ret;

	if (ctld_entity_cn(kind, id, app, cn, sizeof(cn)) < 0) {
		snprintf(err, err_len, "bad application CN");
		return -EINVAL;
	}
	if (ca_open(dir, &st, err, err_len) < 0)
		return -EINVAL;
	reg = st.reg;
	ent = registry_find(reg, cn);
	if (!ent || strcmp(json_string_value(json_object_get(ent, "state")) ?: "", "registered")) {
		ret = -ENOENT;
		snprintf(err, err_len, "%s is not registered%s", cn,
			 ent ? " (already revoked)" : "");
		goto out;
	}
	json_array_foreach(json_object_get(ent, "serials"), i, s)
		json_array_append_new(json_object_get(reg, "revoked"),
				      json_pack("{s:I, s:I, s:s}", "serial", json_integer_value(s),
						"time", (json_int_t)time(NULL), "cn", cn));
	json_array_clear(json_object_get(ent, "serials"));
	json_object_set_new(ent, "state", json_string("deleted"));
	json_object_set_new(ent, "revoked", json_integer((json_int_t)time(NULL)));
	ret = write_crl(dir, reg, st.key, st.cert, err, err_len);
	if (!ret)
		ret = registry_save(dir, reg, err, err_len);
out:
	ca_close(&st);
	return ret;
}

bool ctld_pki_node_registered(const char *dir, uint32_t id)
{
	char cn[32], err[256];
	json_t *reg = registry_load(dir, err, sizeof(err)), *ent;
	bool ok;

	snprintf(cn, sizeof(cn), "qkdn-node-%u", id);
	ent = reg ? registry_find(reg, cn) : NULL;
	ok = ent && !strcmp(json_string_value(json_object_get(ent, "state")) ?: "", "registered");
	json_decref(reg);
	return ok;
}

int ctld_pki_crl_der(const char *dir, unsigned char **der, size_t *len, char *err,
		     size_t err_len)
{
	char *p = state_path(dir, "crl.pem");
	X509_CRL *crl = p ? qkdn_tls_crl_load(p, err, err_len) : NULL;
	int n = crl ? i2d_X509_CRL(crl, NULL) : -1;

	*der = NULL;
	if (n > 0 && (*der = malloc((size_t)n))) {
		unsigned char *q = *der;

		i2d_X509_CRL(crl, &q);
		*len = (size_t)n;
	}
	X509_CRL_free(crl);
	free(p);
	return *der ? 0 : -EINVAL;
}

static int pki_list(const char *dir, char *err, size_t err_len)
{
	json_t *reg = registry_load(dir, err, err_len), *e;
	size_t i;

	if (!reg)
		return -ENOENT;
	printf("network %s, CRL number %" PRId64 ", %zu revoked serials\n",
	       json_string_value(json_object_get(reg, "network")) ?: "?",
	       (int64_t)json_integer_value(json_object_get(reg, "crl_number")),
	       json_array_size(json_object_get(reg, "revoked")));
	json_array_foreach(json_object_get(reg, "entities"), i, e) {
		char *serials = json_dumps(json_object_get(e, "serials"), JSON_COMPACT);

		printf("%-5s %-24s %-10s name=%s serials=%s\n",
		       json_string_value(json_object_get(e, "kind")) ?: "?",
		       json_string_value(json_object_get(e, "cn")) ?: "?",
		       json_string_value(json_object_get(e, "state")) ?: "?",
		       json_string_value(json_object_get(e, "name")) ?: "-", serials ?: "[]");
		free(serials);
	}
	json_decref(reg);
	return 0;
}

static void pki_usage(FILE *out)
{
	fprintf(out,
		"usage: qkdn-ctld init   --state DIR --network NAME\n"
		"       qkdn-ctld enrol  --state DIR ENTITY --out DIR [--name NAME] [--csr FILE] [--days N]\n"
		"       qkdn-ctld revoke --state DIR ENTITY\n"
		"       qkdn-ctld list   --state DIR\n"
		"ENTITY: --node ID | --qkd ID | --app CN | --ctl | --mgr\n");
}

int ctld_pki_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "state", required_argument, NULL, 's' },
		{ "network", required_argument, NULL, 'n' },
		{ "node", required_argument, NULL, 'N' },
		{ "qkd", required_argument, NULL, 'Q' },
		{ "app", required_argument, NULL, 'A' },
		{ "ctl", no_argument, NULL, 'C' },
		{ "mgr", no_argument, NULL, 'M' },
		{ "name", required_argument, NULL, 'a' },
		{ "out", required_argument, NULL, 'o' },
		{ "csr", required_argument, NULL, 'r' },
		{ "days", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct enrol_args a = { .kind = -1, .days = CERT_DAYS_DEFAULT };
	const char *cmd = argv[0], *dir = NULL, *network = NULL;
	char err[512];
	int opt, entities = 0, ret;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 's': dir = optarg; break;
		case 'n': network = optarg; break;
		case 'N':
		case 'Q':
			if (qkdn_parse_u32(optarg, 1, QKDN_NODE_ID_MAX, &a.id))
				qkdn_die("--%s %s: not a node ID 1..%u", opt == 'N' ? "node" : "qkd",
					 optarg, QKDN_NODE_ID_MAX);
			a.kind = opt == 'N' ? CTLD_KIND_NODE : CTLD_KIND_QKD;
			entities++;
			break;
		case 'A': a.kind = CTLD_KIND_APP; a.app = optarg; entities++; break;
		case 'C': a.kind = CTLD_KIND_CTL; entities++; break;
		case 'M': a.kind = CTLD_KIND_MGR; entities++; break;
		case 'a': a.name = optarg; break;
		case 'o': a.out = optarg; break;
		case 'r': a.csr = optarg; break;
		case 'd':
			if (qkdn_parse_u32(optarg, 1, 36500, &a.days))
				qkdn_die("--days %s: want 1..36500", optarg);
			break;
		case 'h': pki_usage(stdout); return 0;
		default: pki_usage(stderr); return 2;
		}
	}
	if (optind < argc)
		qkdn_die("unexpected argument \"%s\"", argv[optind]);
	if (!dir)
		qkdn_die("%s: --state DIR is required", cmd);
	if (!strcmp(cmd, "init")) {
		if (!network || !*network || strlen(network) > 32)
			qkdn_die("init: --network NAME (1..32 characters) is required");
		ret = pki_init(dir, network, err, sizeof(err));
		if (!ret)
			printf("CA of network %s created in %s\n", network, dir);
	} else if (!strcmp(cmd, "list")) {
		ret = pki_list(dir, err, sizeof(err));
	} else {
		if (entities != 1)
			qkdn_die("%s: exactly one of --node, --qkd, --app, --ctl, --mgr", cmd);
		if (!strcmp(cmd, "enrol")) {
			if (!a.out)
				qkdn_die("enrol: --out DIR is required");
			ret = pki_enrol(dir, &a, err, sizeof(err));
		} else {
			ret = ctld_pki_revoke(dir, a.kind, a.id, a.app, err, sizeof(err));
			if (!ret)
				printf("revoked; CRL updated (signal a running qkdn-ctld with HUP, or use `qkdn-ctld ctl revoke`)\n");
		}
	}
	if (ret)
		qkdn_die("%s", err);
	return 0;
}
