// SPDX-License-Identifier: GPL-2.0 OR MIT
/* The qkdn-qkdd config schema. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qkdd_config.h"
#include "tap.h"

static const char good[] =
	"[node]\n"
	"id = 1\n"
	"[link]\n"
	"id = 1\n"
	"role = tx\n"
	"mode = sim\n"
	"module = A-tx\n"
	"peer-module = B-rx\n"
	"peer = 10.0.0.2:7101\n"
	"length-km = 25.5\n"
	"qkd-key-bytes = 64\n"
	"rate-cap-bps = 8000\n"
	"pulse-rate-hz = 1e6\n"
	"[link]\n"
	"id = 2\n"
	"role = rx\n"
	"mode = etsi014\n"
	"module = C-rx\n"
	"peer-module = D-tx\n"
	"listen = [::1]:7102\n"
	"kme = https://kme.example:8443/\n"
	"sae = sae-c\n"
	"peer-sae = sae-d\n"
	"cert = c.crt\n"
	"key = /etc/qkdn/c.key\n"
	"ca = ca.crt\n"
	"size-bits = 512\n";

static int read_text(struct qkdd_config *cfg, const char *text, char *err, size_t len)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	int ret;

	if (!f)
		return -errno;
	ret = qkdd_config_read(cfg, f, "qkdd.conf", "/etc/qkdn", err, len);
	fclose(f);
	return ret;
}

/* good with the first occurrence of from replaced by to. */
static int read_edited(struct qkdd_config *cfg, const char *from, const char *to, char *err,
		       size_t len)
{
	char text[4096];
	const char *at = strstr(good, from);
	int ret;

	if (!at)
		return -999;
	snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - good), good, to, at + strlen(from));
	ret = read_text(cfg, text, err, len);
	if (!ret)
		qkdd_config_free(cfg);
	return ret;
}

#define BAD(from, to, expect) do { \
	int r_ = read_edited(&cfg, from, to, err, sizeof(err)); \
	ok(r_ == -EINVAL && strstr(err, expect), "refused: %s -> %s: %s", from, to, err); \
} while (0)

int main(void)
{
	struct qkdd_config cfg;
	char err[QKDN_CONFIG_ERR_LEN] = "";
	double d;
	int ret;

	ret = read_text(&cfg, good, err, sizeof(err));
	if (!ok(ret == 0, "good config reads: %s", err))
		return tap_done();
	ok(cfg.node_id == 1 && cfg.n_links == 2, "node 1, two links");
	ok(!strcmp(cfg.control, "/run/qkdn/qkdd-1.sock"), "default control socket %s", cfg.control);
	ok(cfg.links[0].role == QKDD_TX && cfg.links[0].mode == QKDD_SIM, "link 1 tx sim");
	ok(cfg.links[0].sim.length_km == 25.5 && cfg.links[0].sim.qkd_key_bytes == 64 &&
	   cfg.links[0].sim.rate_cap_bps == 8000 && cfg.links[0].sim.pulse_rate_hz == 1e6,
	   "sim parameters");
	ok(cfg.links[0].sim.mu == 0.5 && cfg.links[0].sim.loss_db_km == 0.2, "model defaults");
	ok(!strcmp(cfg.links[0].addr_str, "10.0.0.2:7101"), "tx peer address");
	ok(cfg.links[1].role == QKDD_RX && cfg.links[1].mode == QKDD_ETSI014, "link 2 rx etsi014");
	ok(!strcmp(cfg.links[1].etsi.kme, "https://kme.example:8443"), "trailing / dropped: %s",
	   cfg.links[1].etsi.kme);
	ok(!strcmp(cfg.links[1].etsi.cert, "/etc/qkdn/c.crt") &&
	   !strcmp(cfg.links[1].etsi.key, "/etc/qkdn/c.key"), "relative paths resolved");
	ok(cfg.links[1].etsi.size_bits == 512 && cfg.links[1].etsi.number == 8 &&
	   cfg.links[1].etsi.interval_ms == 1000, "etsi014 sizes and defaults");
	qkdd_config_free(&cfg);

	ok(read_edited(&cfg, "id = 1\n[link]", "id = 1\ncontrol = q.sock\n[link]", err,
		       sizeof(err)) == 0, "control given");
	BAD("role = tx", "role = both", "not tx or rx");
	BAD("mode = sim", "mode = bb84", "not sim or etsi014");
	BAD("length-km = 25.5", "length-km = -3", "length-km");
	BAD("length-km = 25.5", "length-km = nan", "not a decimal");
	BAD("length-km = 25.5\n", "", "lacks \"length-km\"");
	BAD("peer = 10.0.0.2:7101", "listen = 10.0.0.2:7101", "\"listen\" does not apply");
	BAD("rate-cap-bps = 8000", "kme = https://x", "\"kme\" does not apply to a sim link");
	BAD("qkd-key-bytes = 64", "qkd-key-bytes = 40000", "out of range");
	BAD("size-bits = 512", "size-bits = 12", "multiple of 8");
	BAD("peer-sae = sae-d", "peer-sae = sae-c", "sae and peer-sae are the same");
	BAD("peer-module = B-rx", "peer-module = A-tx", "module and peer-module are the same");
	BAD("id = 2", "id = 1", "id 1 already given");
	BAD("kme = https://kme.example:8443/", "kme = http://kme", "want https://");
	BAD("sae = sae-c", "sae = a b", "not allowed");
	BAD("[node]\nid = 1\n", "[node]\n", "lacks \"id\"");
	BAD("module = A-tx\n", "module = A-tx\nmodule = A\n", "given twice");
	BAD("[link]\nid = 2", "[lnk]\nid = 2", "unknown section");

	/* [manager]: Mq to qkdn-mgrd */
	ok(!cfg.manager.enabled, "no [manager]: no reporting");
	{
		char text[4096];
		const char *at = strstr(good, "[link]\nid = 2");

		snprintf(text, sizeof(text), "%.*s[manager]\naddress = 10.0.0.9:7500\ncert = q.crt\n"
			 "key = q.key\nca = ca.crt\nreport-ms = 500\n%s", (int)(at - good), good, at);
		ok(read_text(&cfg, text, err, sizeof(err)) == 0 && cfg.manager.enabled &&
		   !strcmp(cfg.manager.address_str, "10.0.0.9:7500") &&
		   !strcmp(cfg.manager.cert, "/etc/qkdn/q.crt") && cfg.manager.report_ms == 500 &&
		   cfg.n_links == 2, "[manager] keys: %s", err);
		qkdd_config_free(&cfg);
		ok(!cfg.manager.enabled && !cfg.manager.cert, "[manager] freed");
	}
	BAD("[link]\nid = 2", "[manager]\naddress = 10.0.0.9:7500\n[link]\nid = 2",
	    "qkdd.conf: [manager] section of line 14 lacks \"cert\"");
	BAD("[link]\nid = 2", "[manager]\nqueue = 5\n[link]\nid = 2",
	    "qkdd.conf:15: queue \"5\" is not a number in 16..1048576");
	BAD("[link]\nid = 2", "[manager]\n[manager]\n[link]\nid = 2",
	    "second [manager] section (first at line 14)");

	ok(qkdd_parse_double("1e9", 0, 1e10, &d) == 0 && d == 1e9, "1e9 parses");
	ok(qkdd_parse_double("0x10", 0, 100, &d) == -EINVAL, "no hex");
	ok(qkdd_parse_double("inf", 0, 1e300, &d) == -EINVAL, "no inf");
	ok(qkdd_parse_double("5 ", 0, 10, &d) == -EINVAL, "no trailing blank");
	ok(qkdd_parse_double("11", 0, 10, &d) == -ERANGE, "range");
	return tap_done();
}
