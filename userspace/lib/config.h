/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Configuration files of qkdn daemons: INI style, as wg-quick and systemd
 * read them.
 *
 *   # comment (also ';'), on a line of its own
 *   [section]
 *   key = value
 *
 * Blanks around keys and values are ignored; values run to the end of the
 * line (no quoting, no inline comments). Reading is strict: an unknown
 * section or key, a key given twice in one section, a bad number or
 * address, a missing required key all fail with "FILE:LINE: message".
 *
 * qkdn-kmd (/etc/qkdn/kmd.conf):
 *
 *   [node]                 exactly once
 *   id = 1                 node ID, 1..QKDN_NODE_ID_MAX, required
 *   name = alpha           KM name (printable, no blanks), required
 *   listen = 0.0.0.0:7001  address for neighbours, numeric: A.B.C.D:PORT
 *                          or [IPV6]:PORT; required here or by --listen
 *   cert = node.crt        this node's certificate (PEM, chain allowed)
 *   key = node.key         its private key; mode 0600 or stricter
 *   ca = ca.crt            the CA that signs every node certificate
 *   community = qkdn-demo  community ID; neighbours must have the same
 *   relay-timeout-ms = 5000    optional, 1..60000, programmed into the
 *                          module (QKDN_A_RELAY_TIMEOUT)
 *   ksa-sync = yes         yes or no, default yes: the module checks every
 *                          key with the peer's node before it supplies it
 *                          (KSA synchronisation, QKDN_A_KSA_SYNC)
 *   keepalive-ms = 15000   optional, 100..60000: a Kx connection silent
 *                          this long sends a KEEPALIVE, and one that heard
 *                          nothing for three times as long is dropped (a
 *                          failure detector for protection switching)
 *   crl = crl.pem          optional: the CA's CRL (PEM or DER); peers it
 *                          revokes fail the TLS handshake. Rewritten when
 *                          the controller sends a new one (CK_CRL)
 *
 *   [peer]                 a neighbour, any number
 *   id = 2                 its node ID, required, unique, not the node's
 *   address = 10.0.0.2:7001    where it listens, required
 *
 *   [route]                a relay route, any number
 *   dest = 5               destination node ID, required, unique
 *   via = 2                next hop: the ID of a [peer], required
 *
 *   [etsi014]              optional, at most once: the ETSI GS QKD 014 key
 *                          delivery API for local applications (HTTPS)
 *   listen = 0.0.0.0:8443  required, numeric as above, not [node] listen
 *   cert = kme.crt         the server's certificate, required
 *   key = kme.key          its private key, required, mode 0600 or stricter
 *   ca = apps-ca.crt       the CA that signs application (SAE) client
 *                          certificates, required; may be the node CA
 *   max-keys-per-request = 128  optional, 1..QKDN_KEY_AMOUNT_MAX
 *
 *   [sae]                  an application the 014 API serves, any number;
 *                          only with [etsi014]
 *   id = sae-a             its SAE ID (as `qkdn app add`), required, unique
 *   cn = app-a             the subject CN of its client certificate,
 *                          required, unique
 *
 *   [controller]           optional, at most once: the QKDN controller
 *                          (Ck, qkdn-ctld), dialled over TLS 1.3
 *   address = 10.0.0.9:7400    where it listens, required, numeric
 *   cert, key, ca          optional, default: [node]'s
 *
 *   [session]              continuous key supply to a distant node, any
 *                          number (see kmd.rst "Store refill")
 *   dest = 5               the node, required, unique, not this node
 *   keep = 64              relayed keys kept in the store for dest,
 *                          1..65536, default 64
 *   priority = 0           0 (highest) .. 7, default 4: who is refilled
 *                          first when link keys run short
 *   key-size = 256         bits per relayed key, a multiple of 64 in
 *                          QKDN_KEY_UNIT_MIN * 8..QKDN_KEY_UNIT_MAX * 8,
 *                          default 256
 *   tolerance-ms = 2000    optional, 1..3600000: how long the application
 *                          tolerates an interruption (sent to the
 *                          controller in CK_ROUTE)
 *
 *   [manager]              optional, at most once: report to the QKDN
 *                          manager (Mk, qkdn-mgrd): address, cert, key,
 *                          ca, crl, queue, report-ms as in lib/mgmt.h; the
 *                          certificate's CN must be qkdn-node-<id>
 *
 * Relative cert/key/ca/crl paths are relative to the directory of the file.
 */
#ifndef QKDN_CONFIG_H
#define QKDN_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include <linux/qkdn.h>

#define QKDN_CONFIG_ERR_LEN 512
#define QKDN_ADDR_STRLEN 64	/* "[ipv6]:port" with the NUL */

#include "mgmt.h"	/* struct qkdn_mgmt_conf; needs the two above */

/* Generic reader: calls cb(section, key, value, line, data) for every
 * "key = value", and cb(section, NULL, NULL, line, data) at every
 * "[section]" line. cb returns 0 or -errno after writing a message into
 * err (without file:line; the reader adds them). */
typedef int (*qkdn_ini_cb)(const char *section, const char *key, const char *value,
			   unsigned int line, void *data, char *err, size_t err_len);
/* Reads f, naming it name in messages. 0 or -errno with err filled. */
int qkdn_ini_read(FILE *f, const char *name, qkdn_ini_cb cb, void *data,
		  char *err, size_t err_len);

/*
 * Opens the config file at path and hands it to read(cfg, f, path, dir),
 * dir being the file's directory (NULL for a bare file name), against which
 * relative paths in it are resolved. 0 or -errno with err filled.
 */
typedef int (*qkdn_config_reader)(void *cfg, FILE *f, const char *name, const char *dir,
				  char *err, size_t err_len);
int qkdn_config_read_path(const char *path, qkdn_config_reader read, void *cfg,
			  char *err, size_t err_len);

/* "A.B.C.D:PORT" or "[IPV6]:PORT", numeric, port 1..65535. 0 or -EINVAL. */
int qkdn_parse_sockaddr(const char *s, struct sockaddr_storage *ss, socklen_t *len);
/* The same form back, for logs. */
const char *qkdn_format_sockaddr(const struct sockaddr *sa, char buf[QKDN_ADDR_STRLEN]);

struct qkdn_kmd_peer_conf {
	uint32_t id;
	char address_str[QKDN_ADDR_STRLEN];
	struct sockaddr_storage address;
	socklen_t address_len;
	unsigned int line;
};

struct qkdn_kmd_route_conf {
	uint32_t dest;
	uint32_t via;
	unsigned int line;
};

#define QKDN_KMD_E14_MAX_KEYS_DEFAULT 128
#define QKDN_CN_MAXLEN 65	/* X.509 ub-common-name (64) with the NUL */

struct qkdn_kmd_sae_conf {
	char id[QKDN_ID_MAXLEN];
	char cn[QKDN_CN_MAXLEN];
	unsigned int line;
};

/* [etsi014]: enabled is false when the section is absent. */
struct qkdn_kmd_etsi014_conf {
	bool enabled;
	char listen_str[QKDN_ADDR_STRLEN];
	struct sockaddr_storage listen;
	socklen_t listen_len;
	char *cert, *key, *ca;		/* resolved paths */
	uint32_t max_keys_per_request;
	unsigned int line;
};

/* [controller]: enabled is false when the section is absent. */
struct qkdn_kmd_controller_conf {
	bool enabled;
	char address_str[QKDN_ADDR_STRLEN];
	struct sockaddr_storage address;
	socklen_t address_len;
	char *cert, *key, *ca;		/* resolved paths; NULL: [node]'s */
	unsigned int line;
};

#define QKDN_KMD_SESSION_KEEP_DEFAULT	64
#define QKDN_KMD_SESSION_KEEP_MAX	65536
#define QKDN_KMD_SESSION_PRIO_DEFAULT	4
#define QKDN_KMD_SESSION_PRIO_MAX	7
#define QKDN_KMD_SESSION_BITS_DEFAULT	256
#define QKDN_KMD_KEEPALIVE_MS_DEFAULT	15000
#define QKDN_KMD_KEEPALIVE_MS_MIN	100
#define QKDN_KMD_KEEPALIVE_MS_MAX	60000

/* [session]: a store kept topped up. */
struct qkdn_kmd_session_conf {
	uint32_t dest;
	uint32_t keep;			/* keys */
	uint8_t priority;		/* 0 highest */
	uint32_t key_bits;
	uint32_t tolerance_ms;		/* 0: not set */
	unsigned int line;
};

struct qkdn_kmd_config {
	uint32_t node_id;
	char name[QKDN_ID_MAXLEN];
	char listen_str[QKDN_ADDR_STRLEN];
	struct sockaddr_storage listen;
	socklen_t listen_len;		/* 0: not set */
	char *cert, *key, *ca;		/* resolved paths */
	char community[QKDN_ID_MAXLEN];
	uint32_t relay_timeout_ms;	/* 0: not set */
	bool ksa_sync;
	struct qkdn_kmd_peer_conf *peers;
	size_t n_peers;
	struct qkdn_kmd_route_conf *routes;
	size_t n_routes;
	struct qkdn_kmd_etsi014_conf etsi014;
	struct qkdn_kmd_sae_conf *saes;
	size_t n_saes;
	/* Controller, sessions, failure detection (issue 5). */
	char *crl;			/* resolved path, NULL: none */
	uint32_t keepalive_ms;
	struct qkdn_kmd_controller_conf controller;
	struct qkdn_kmd_session_conf *sessions;
	size_t n_sessions;
	struct qkdn_mgmt_conf manager;	/* [manager]: enabled when given */
};

/* Reads and checks a kmd config. On failure err holds "FILE:LINE: ..."
 * (or "FILE: ..." for what belongs to no line) and *cfg is empty. */
int qkdn_kmd_config_load(struct qkdn_kmd_config *cfg, const char *path,
			 char *err, size_t err_len);
/* The same from an open stream; relative paths against dir. */
int qkdn_kmd_config_read(struct qkdn_kmd_config *cfg, FILE *f, const char *name,
			 const char *dir, char *err, size_t err_len);
/* Sets listen from a --listen argument. 0 or -EINVAL. */
int qkdn_kmd_config_set_listen(struct qkdn_kmd_config *cfg, const char *addr);
/* Checks what the file and the command line together must give (listen).
 * 0 or -EINVAL with err filled. */
int qkdn_kmd_config_check(const struct qkdn_kmd_config *cfg, char *err, size_t err_len);
void qkdn_kmd_config_free(struct qkdn_kmd_config *cfg);

const struct qkdn_kmd_peer_conf *qkdn_kmd_config_peer(const struct qkdn_kmd_config *cfg,
						      uint32_t id);
/* The [sae] whose cn is the given certificate CN, or NULL. */
const struct qkdn_kmd_sae_conf *qkdn_kmd_config_sae_by_cn(const struct qkdn_kmd_config *cfg,
							  const char *cn);

/* qkdn-secd ---------------------------------------------------------------
 *
 * qkdn-secd (/etc/qkdn/secd.conf): IPsec or MACsec keyed from QKD keys,
 * between two security gateways (Documentation/ipsec-macsec.rst).
 *
 *   [secd]                 exactly once
 *   sae = gw-a             this gateway's SAE ID (`qkdn app add`), required
 *   peer-sae = gw-d        the other gateway's SAE ID, required; its TLS
 *                          certificate must have this subject CN
 *   cert, key, ca          this gateway's certificate (subject CN = sae),
 *                          its key (mode 0600 or stricter), the CA of both,
 *                          required
 *   peer = ADDR:PORT       initiator: where the peer's daemon listens
 *   listen = ADDR:PORT     responder: where this one listens
 *                          (exactly one of peer and listen)
 *   rekey-seconds = 3600   new keys every N s, 1..86400
 *   rekey-bytes = 0        also after N bytes on an SA (IPsec), 0: off
 *   grace-ms = 1000        old SAs live this long after the switch,
 *                          10..60000, less than rekey-seconds
 *
 *   [ipsec]                exactly one of [ipsec] and [macsec]
 *   local = 10.0.12.1      this gateway's tunnel address, required
 *   remote = 10.0.34.4     the peer gateway's, required, same family
 *   local-subnet = 192.168.1.0/24   what this gateway protects, required
 *   remote-subnet = 192.168.4.0/24  what the peer protects, required
 *   reqid = 29035          xfrm reqid that marks the daemon's states and
 *                          policies, 1..2^32-1, default QKDN_SECD_REQID
 *
 *   [macsec]
 *   link = eth1            the parent device, required
 *   device = macsec0       the MACsec device: used if it exists, else
 *                          created on link (and deleted on exit);
 *                          default "macsec0"
 *   cipher = gcm-aes-256   or gcm-aes-128 (default gcm-aes-256); an
 *                          existing device must have this cipher
 *
 *   [ppk]                  IKEv2 PPKs (RFC 8784) into a local charon
 *   vici = /var/run/charon.vici  charon's VICI socket (default)
 *   conn = qkdn            the IKE connection's name (default "qkdn"; its
 *                          one CHILD_SA has the same name)
 *   initiator only (the conn is loaded by the daemon, with the PPK ID of
 *   each generation); the responder's conn is the operator's, with
 *   ppk_required = yes and no ppk_id:
 *   local-addrs = 10.0.12.1, remote-addrs = 10.0.12.2   required
 *   local-ts = 192.168.1.0/24, remote-ts = 192.168.2.0/24   required
 *                          (comma-separated lists, as in swanctl.conf)
 *   local-id, remote-id    IKE identities (default: the addresses)
 *   auth = psk             psk or pubkey (credentials loaded with swanctl)
 *   proposals, esp-proposals   as in swanctl.conf (default: charon's)
 */
#define QKDN_SECD_REQID 29035	/* "qk" */
#define QKDN_SECD_IFNAMSIZ 16

enum qkdn_secd_kind {
	QKDN_SECD_NONE,
	QKDN_SECD_IPSEC,	/* = QKDN_W_SA_IPSEC */
	QKDN_SECD_MACSEC,	/* = QKDN_W_SA_MACSEC */
	QKDN_SECD_PPK,		/* = QKDN_W_SA_PPK */
};

#define QKDN_SECD_PPK_STR 256	/* a [ppk] value */

struct qkdn_secd_prefix {
	int family;		/* AF_INET or AF_INET6 */
	unsigned char addr[16];
	uint8_t len;		/* prefix length; 32 or 128 for an address */
	char str[64];
};

struct qkdn_secd_config {
	char sae[QKDN_ID_MAXLEN], peer_sae[QKDN_ID_MAXLEN];
	char *cert, *key, *ca;		/* resolved paths */
	char peer_str[QKDN_ADDR_STRLEN], listen_str[QKDN_ADDR_STRLEN];
	struct sockaddr_storage peer, listen;
	socklen_t peer_len, listen_len;	/* exactly one is not 0 */
	uint32_t rekey_seconds;
	uint64_t rekey_bytes;
	uint32_t grace_ms;
	enum qkdn_secd_kind kind;
	struct {
		struct qkdn_secd_prefix local, remote, local_subnet, remote_subnet;
		uint32_t reqid;
	} ipsec;
	struct {
		char link[QKDN_SECD_IFNAMSIZ], device[QKDN_SECD_IFNAMSIZ];
		unsigned int key_bits;	/* 128 or 256 */
	} macsec;
	struct {
		char vici[108];		/* sun_path */
		char conn[64];
		char local_addrs[QKDN_SECD_PPK_STR], remote_addrs[QKDN_SECD_PPK_STR];
		char local_ts[QKDN_SECD_PPK_STR], remote_ts[QKDN_SECD_PPK_STR];
		char local_id[QKDN_SECD_PPK_STR], remote_id[QKDN_SECD_PPK_STR];
		char auth[8];		/* "psk" or "pubkey" */
		char proposals[QKDN_SECD_PPK_STR], esp_proposals[QKDN_SECD_PPK_STR];
	} ppk;
};

/* Reads and checks a secd config; "FILE:LINE: ..." on failure, *cfg then
 * empty. */
int qkdn_secd_config_load(struct qkdn_secd_config *cfg, const char *path,
			  char *err, size_t err_len);
int qkdn_secd_config_read(struct qkdn_secd_config *cfg, FILE *f, const char *name,
			  const char *dir, char *err, size_t err_len);
void qkdn_secd_config_free(struct qkdn_secd_config *cfg);
/* "A.B.C.D[/N]" or "IPV6[/N]"; without /N the full length. 0 or -EINVAL. */
int qkdn_parse_prefix(const char *s, struct qkdn_secd_prefix *out);

/* qkdn-secd end */

#endif
