/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Configuration of qkdn-qkdd, the QKD device driver of one node
 * (/etc/qkdn/qkdd.conf), in the INI dialect of config.h.
 *
 *   [node]                   exactly once
 *   id = 1                   this node's ID, 1..QKDN_NODE_ID_MAX, required
 *   control = PATH           control socket; default /run/qkdn/qkdd-<id>.sock
 *
 *   [link]                   a QKD link under a KMA link, 1..QKDD_LINKS_MAX
 *   id = 1                   the KMA link's ID in this node's module, unique
 *   role = tx | rx           tx: the transmitter (Alice's QKD module), which
 *                            drives the link; rx: the receiver
 *   mode = sim | etsi014     simulated QKD pair, or a real device's KME
 *   module = A-tx            this side's QKD module ID, and the peer's: the
 *   peer-module = B-rx       KMA link's QKD_MODULE_ID / MATCHING_..., required
 *   peer = ADDR:PORT         tx: where the rx driver listens, required
 *   listen = ADDR:PORT       rx: where it listens, required
 *                            (the two drivers' channel: the simulated quantum
 *                            channel in sim mode, key IDs in etsi014 mode)
 *
 *   sim mode:
 *   length-km = 25           fibre length, 0..1000, required (tx)
 *   qkd-key-bytes = 256      bytes per QKD-key, 1..QKDN_QKD_KEY_MAX
 *   rate-cap-bps = N         optional cap on the secret key rate, bit/s
 *   loss-db-km = 0.2         model parameters (Documentation/qkdd.rst),
 *   detector-efficiency = 0.1    all optional, with these defaults
 *   dark-count = 1e-6
 *   pulse-rate-hz = 1e9
 *   mu = 0.5
 *   misalignment = 0.01
 *   ec-efficiency = 1.16
 *
 *   etsi014 mode:
 *   kme = https://host:port  the device's KME, required
 *   sae = ID                 our SAE ID at the KME, required
 *   peer-sae = ID            the other side's SAE ID, required
 *   cert, key, ca            PEM files for mutual TLS, required
 *   size-bits = 256          key size asked for, multiple of 8,
 *                            8..QKDN_QKD_KEY_MAX * 8
 *   number = 8               keys per enc_keys request, 1..QKDD_ETSI_NUMBER_MAX
 *   interval-ms = 1000       between requests (tx), 10..3600000
 *
 *   [manager]                optional: report to qkdn-mgrd on Mq (mgmt.h):
 *   address = ADDR:PORT      link state changes, alarms (link down,
 *   cert, key, ca, crl       eavesdropping), key rate and QBER every
 *   queue, report-ms         report-ms, inventory, diagnostics; the
 *                            certificate's CN is qkdn-qkd-<id>
 *
 * Keys of the other mode and of the other role are refused, so a config
 * says what it does. Relative paths are relative to the file's directory.
 */
#ifndef QKDN_QKDD_CONFIG_H
#define QKDN_QKDD_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "mgmt.h"

#define QKDD_LINKS_MAX		64
#define QKDD_ETSI_NUMBER_MAX	256
#define QKDD_CONTROL_DEFAULT_FMT	"/run/qkdn/qkdd-%u.sock"

enum qkdd_role { QKDD_TX, QKDD_RX };
enum qkdd_mode { QKDD_SIM, QKDD_ETSI014 };

struct qkdd_sim_conf {
	double length_km;
	uint64_t rate_cap_bps;		/* 0: no cap */
	uint32_t qkd_key_bytes;
	double loss_db_km, detector_efficiency, dark_count, pulse_rate_hz;
	double mu, misalignment, ec_efficiency;
};

struct qkdd_etsi_conf {
	char *kme;			/* base URL, no trailing '/' */
	char sae[QKDN_ID_MAXLEN], peer_sae[QKDN_ID_MAXLEN];
	char *cert, *key, *ca;		/* resolved paths */
	uint32_t size_bits;
	uint32_t number;
	uint32_t interval_ms;
};

struct qkdd_link_conf {
	uint32_t id;
	enum qkdd_role role;
	enum qkdd_mode mode;
	char module[QKDN_ID_MAXLEN], peer_module[QKDN_ID_MAXLEN];
	char addr_str[QKDN_ADDR_STRLEN];	/* tx: peer, rx: listen */
	struct sockaddr_storage addr;
	socklen_t addr_len;
	struct qkdd_sim_conf sim;
	struct qkdd_etsi_conf etsi;
	unsigned int line;
	uint64_t seen;			/* keys given, for the checks */
};

struct qkdd_config {
	uint32_t node_id;
	char *control;
	struct qkdd_link_conf *links;
	size_t n_links;
	struct qkdn_mgmt_conf manager;	/* enabled: report to qkdn-mgrd */
};

/* As qkdn_kmd_config_load()/_read(): 0, or -errno with err holding
 * "FILE:LINE: message" and *cfg empty. */
int qkdd_config_load(struct qkdd_config *cfg, const char *path, char *err, size_t err_len);
int qkdd_config_read(struct qkdd_config *cfg, FILE *f, const char *name, const char *dir,
		     char *err, size_t err_len);
void qkdd_config_free(struct qkdd_config *cfg);

/* Strict decimal number ("25", "0.5", "1e9"): finite, within [min, max].
 * 0, -EINVAL or -ERANGE. */
int qkdd_parse_double(const char *s, double min, double max, double *out);

const char *qkdd_role_name(enum qkdd_role role);
const char *qkdd_mode_name(enum qkdd_mode mode);

#endif
