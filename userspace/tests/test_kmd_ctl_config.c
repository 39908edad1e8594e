// SPDX-License-Identifier: GPL-2.0 OR MIT
/* qkdn-kmd config: [controller], [session], keepalive-ms and crl. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "tap.h"

#define NODE "[node]\nid=1\nname=a\ncert=c\nkey=k\nca=a\ncommunity=x\n"

static int read_text(struct qkdn_kmd_config *cfg, const char *text, char *err, size_t err_len)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	int ret;

	if (!f)
		return -errno;
	ret = qkdn_kmd_config_read(cfg, f, "kmd.conf", "/etc/qkdn", err, err_len);
	fclose(f);
	return ret;
}

static void test_good(void)
{
	struct qkdn_kmd_config cfg;
	char err[QKDN_CONFIG_ERR_LEN] = "";
	int ret;

	ret = read_text(&cfg, NODE, err, sizeof(err));
	ok(ret == 0 && !cfg.controller.enabled && cfg.n_sessions == 0 && !cfg.crl &&
	   cfg.keepalive_ms == QKDN_KMD_KEEPALIVE_MS_DEFAULT,
	   "without them: no controller, no session, no CRL, keep-alive 15 s");
	qkdn_kmd_config_free(&cfg);

	ret = read_text(&cfg, NODE "keepalive-ms = 300\ncrl = crl.pem\n"
			"[controller]\naddress = 10.9.0.1:7400\n"
			"[session]\ndest = 4\n"
			"[session]\ndest = 6\nkeep = 200\npriority = 0\nkey-size = 512\n"
			"tolerance-ms = 2500\n", err, sizeof(err));
	ok(ret == 0, "controller and sessions read (%s)", err);
	if (ret)
		return;
	ok(cfg.keepalive_ms == 300 && strcmp(cfg.crl, "/etc/qkdn/crl.pem") == 0,
	   "keepalive-ms, crl path resolved");
	ok(cfg.controller.enabled && strcmp(cfg.controller.address_str, "10.9.0.1:7400") == 0 &&
	   cfg.controller.address_len > 0 && !cfg.controller.cert && !cfg.controller.key &&
	   !cfg.controller.ca, "controller address; cert, key, ca default to [node]'s");
	ok(cfg.n_sessions == 2 && cfg.sessions[0].dest == 4 &&
	   cfg.sessions[0].keep == QKDN_KMD_SESSION_KEEP_DEFAULT &&
	   cfg.sessions[0].priority == QKDN_KMD_SESSION_PRIO_DEFAULT &&
	   cfg.sessions[0].key_bits == 256 && cfg.sessions[0].tolerance_ms == 0,
	   "session defaults: keep 64, priority 4, 256 bits, no tolerance");
	ok(cfg.sessions[1].dest == 6 && cfg.sessions[1].keep == 200 &&
	   cfg.sessions[1].priority == 0 && cfg.sessions[1].key_bits == 512 &&
	   cfg.sessions[1].tolerance_ms == 2500, "session values");
	qkdn_kmd_config_free(&cfg);

	ret = read_text(&cfg, NODE "[controller]\naddress = [fd00::9]:7400\ncert = ck.crt\n"
			"key = /k/ck.key\nca = ctl-ca.crt\n", err, sizeof(err));
	ok(ret == 0 && strcmp(cfg.controller.cert, "/etc/qkdn/ck.crt") == 0 &&
	   strcmp(cfg.controller.key, "/k/ck.key") == 0 &&
	   strcmp(cfg.controller.ca, "/etc/qkdn/ctl-ca.crt") == 0,
	   "controller's own cert, key, ca (%s)", err);
	if (!ret)
		qkdn_kmd_config_free(&cfg);
}

static void bad(const char *text, const char *want, const char *what)
{
	struct qkdn_kmd_config cfg;
	char err[QKDN_CONFIG_ERR_LEN] = "";
	int ret = read_text(&cfg, text, err, sizeof(err));

	ok(ret == -EINVAL && strstr(err, want) != NULL && cfg.sessions == NULL &&
	   !cfg.controller.enabled, "%s: %s", what, err);
	if (ret >= 0 || !strstr(err, want))
		diag("expected an error containing \"%s\", saw ret %d \"%s\"", want, ret, err);
	if (ret == 0)
		qkdn_kmd_config_free(&cfg);
}

static void test_bad(void)
{
	bad(NODE "keepalive-ms = 99\n", "kmd.conf:8: keepalive-ms = 99: out of range 100..60000",
	    "keep-alive too short");
	bad(NODE "keepalive-ms = 60001\n", "out of range 100..60000", "keep-alive too long");
	bad(NODE "crl =\n", "kmd.conf:8: crl is empty", "empty crl");
	bad(NODE "[controller]\ncert = x\n", "[controller] section of line 8 lacks \"address\"",
	    "controller without address");
	bad(NODE "[controller]\naddress = ctl:7400\n", "kmd.conf:9: address = ctl:7400: not",
	    "controller address not numeric");
	bad(NODE "[controller]\naddress = 10.0.0.1:1\n[controller]\naddress = 10.0.0.1:2\n",
	    "kmd.conf:10: second [controller] section (first at line 8)", "two controllers");
	bad(NODE "[controller]\naddress = 10.0.0.1:1\nport = 3\n",
	    "kmd.conf:10: unknown key \"port\" in [controller]", "unknown controller key");
	bad(NODE "[session]\nkeep = 3\n", "[session] section of line 8 lacks \"dest\"",
	    "session without dest");
	bad(NODE "[session]\ndest = 1\n", "kmd.conf:8: [session] dest 1 is this node",
	    "session to this node");
	bad(NODE "[session]\ndest = 2\n[session]\ndest = 2\n",
	    "kmd.conf:10: [session] dest 2 already given at line 8", "two sessions to one node");
	bad(NODE "[session]\ndest = 2\nkeep = 0\n", "keep = 0: out of range 1..65536",
	    "keep 0");
	bad(NODE "[session]\ndest = 2\npriority = 8\n", "priority = 8: out of range 0..7",
	    "priority 8");
	bad(NODE "[session]\ndest = 2\nkey-size = 100\n", "key-size = 100: out of range 128..8192",
	    "key size too small");
	bad(NODE "[session]\ndest = 2\nkey-size = 200\n", "key-size = 200: not a multiple of 64",
	    "key size not a multiple of 64");
	bad(NODE "[session]\ndest = 2\ntolerance-ms = x\n", "tolerance-ms = x: not a decimal number",
	    "tolerance not a number");
	bad(NODE "[session]\ndest = 2\ndest = 3\n",
	    "\"dest\" given twice in this [session] section", "dest twice");
}

int main(void)
{
	test_good();
	test_bad();
	return tap_done();
}
