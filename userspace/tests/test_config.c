// SPDX-License-Identifier: GPL-2.0 OR MIT
/* The INI reader and the qkdn-kmd config schema. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "tap.h"

static const char good[] =
	"# qkdn-kmd of node alpha\n"
	"[node]\n"
	"id = 1\n"
	"name = alpha node\n"
	"  listen=127.0.0.1:7001  \n"
	"cert = alpha.crt\n"
	"key = /etc/qkdn/alpha.key\n"
	"ca = ca.crt\n"
	"community = qkdn-demo\n"
	"relay-timeout-ms = 2500\n"
	"\n"
	"; neighbours\n"
	"[peer]\n"
	"id = 2\n"
	"address = [::1]:7002\n"
	"[peer]\n"
	"address = 10.0.0.3:7001\n"
	"id = 3\n"
	"[route]\n"
	"dest = 5\n"
	"via = 2\n"
	"[route]\n"
	"dest = 3\n"
	"via = 3\n";

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
	char err[QKDN_CONFIG_ERR_LEN] = "", buf[QKDN_ADDR_STRLEN];
	const struct sockaddr_in *sin;
	int ret;

	ret = read_text(&cfg, good, err, sizeof(err));
	ok(ret == 0, "good config read (%s)", err);
	if (ret)
		return;
	ok(cfg.node_id == 1 && strcmp(cfg.name, "alpha node") == 0 &&
	   strcmp(cfg.community, "qkdn-demo") == 0 && cfg.relay_timeout_ms == 2500,
	   "node id, name, community, relay timeout");
	sin = (const struct sockaddr_in *)&cfg.listen;
	ok(cfg.listen_len == sizeof(*sin) && sin->sin_family == AF_INET &&
	   ntohs(sin->sin_port) == 7001 && sin->sin_addr.s_addr == htonl(0x7f000001),
	   "listen parsed");
	ok(strcmp(cfg.cert, "/etc/qkdn/alpha.crt") == 0 && strcmp(cfg.ca, "/etc/qkdn/ca.crt") == 0 &&
	   strcmp(cfg.key, "/etc/qkdn/alpha.key") == 0,
	   "relative paths resolved against the file's directory, absolute kept");
	ok(cfg.n_peers == 2 && cfg.peers[0].id == 2 && cfg.peers[1].id == 3 &&
	   cfg.peers[0].address.ss_family == AF_INET6 && cfg.peers[0].line == 13,
	   "two peers, in order, with their lines");
	ok(strcmp(qkdn_format_sockaddr((struct sockaddr *)&cfg.peers[0].address, buf), "[::1]:7002") == 0,
	   "IPv6 address formats back");
	ok(cfg.n_routes == 2 && cfg.routes[0].dest == 5 && cfg.routes[0].via == 2 &&
	   cfg.routes[1].dest == 3 && cfg.routes[1].via == 3, "two routes");
	ok(qkdn_kmd_config_peer(&cfg, 3) == &cfg.peers[1] && !qkdn_kmd_config_peer(&cfg, 4),
	   "peer lookup");
	ok(qkdn_kmd_config_check(&cfg, err, sizeof(err)) == 0, "complete config passes the check");
	ok(qkdn_kmd_config_set_listen(&cfg, "[::]:7009") == 0 && cfg.listen.ss_family == AF_INET6 &&
	   strcmp(cfg.listen_str, "[::]:7009") == 0, "--listen overrides");
	ok(qkdn_kmd_config_set_listen(&cfg, "localhost:7009") == -EINVAL &&
	   strcmp(cfg.listen_str, "[::]:7009") == 0, "a bad --listen is refused, nothing changed");
	qkdn_kmd_config_free(&cfg);

	ret = read_text(&cfg,
			"[node]\nid=4\nname=d\ncert=c\nkey=k\nca=a\ncommunity=x\n", err, sizeof(err));
	ok(ret == 0 && cfg.n_peers == 0 && cfg.n_routes == 0 && cfg.relay_timeout_ms == 0 &&
	   cfg.listen_len == 0, "minimal config: optional keys absent");
	ok(ret == 0 && cfg.ksa_sync, "KSA synchronisation is on unless said otherwise");
	qkdn_kmd_config_free(&cfg);

	ret = read_text(&cfg, "[node]\nid=4\nname=d\ncert=c\nkey=k\nca=a\ncommunity=x\n"
			"ksa-sync=no\n", err, sizeof(err));
	ok(ret == 0 && !cfg.ksa_sync, "ksa-sync = no turns it off");
	ok(ret == 0 && qkdn_kmd_config_check(&cfg, err, sizeof(err)) == -EINVAL &&
	   strstr(err, "no listen address"), "check wants a listen address: %s", err);
	qkdn_kmd_config_free(&cfg);
}

/* Each bad config is the minimal one plus one flaw; the error must name
 * the line and the cause. */
static void bad(const char *text, const char *want, const char *what)
{
	struct qkdn_kmd_config cfg;
	char err[QKDN_CONFIG_ERR_LEN] = "";
	int ret = read_text(&cfg, text, err, sizeof(err));

	ok(ret < 0 && strstr(err, want) != NULL && cfg.peers == NULL && cfg.cert == NULL,
	   "%s: %s", what, err);
	if (ret >= 0 || !strstr(err, want))
		diag("expected an error containing \"%s\", saw ret %d \"%s\"", want, ret, err);
	if (ret == 0)
		qkdn_kmd_config_free(&cfg);
}

#define NODE "[node]\nid=1\nname=a\nlisten=127.0.0.1:7001\ncert=c\nkey=k\nca=a\ncommunity=x\n"

static void test_bad(void)
{
	bad(NODE "[nodes]\n", "kmd.conf:9: unknown section [nodes]", "unknown section");
	bad(NODE "colour = blue\n", "kmd.conf:9: unknown key \"colour\" in [node]", "unknown key");
	bad(NODE "ksa-sync = maybe\n", "kmd.conf:9: ksa-sync = maybe: not yes or no", "ksa-sync takes yes or no");
	bad(NODE "[peer]\nid=2\naddress=1.2.3.4:1\nname=b\n",
	    "kmd.conf:12: unknown key \"name\" in [peer]", "node key in a peer");
	bad(NODE "id = 2\n", "kmd.conf:9: \"id\" given twice", "duplicate key");
	bad(NODE NODE, "kmd.conf:9: second [node] section (first at line 1)", "duplicate [node]");
	bad("[node]\nid = one\n", "kmd.conf:2: id = one: not a decimal number", "bad number");
	bad("[node]\nid = -1\n", "kmd.conf:2: id = -1: not a decimal number", "negative number");
	bad("[node]\nid = 0\n", "kmd.conf:2: id = 0: out of range", "id 0");
	bad("[node]\nid = 4294967295\n", "out of range 1..4294967294", "id over QKDN_NODE_ID_MAX");
	bad("[node]\nid = 99999999999\n", "out of range", "id overflow");
	bad(NODE "relay-timeout-ms = 600001\n", "kmd.conf:9: relay-timeout-ms = 600001: out of range",
	    "relay timeout too long");
	bad(NODE "relay-timeout-ms = 0\n", "out of range 1..60000", "relay timeout 0");
	bad("[node]\nlisten = 127.0.0.1\n", "kmd.conf:2: listen = 127.0.0.1: not A.B.C.D:PORT",
	    "listen without port");
	bad("[node]\nlisten = 127.0.0.1:0\n", "not A.B.C.D:PORT", "port 0");
	bad("[node]\nlisten = 127.0.0.1:65536\n", "not A.B.C.D:PORT", "port over 65535");
	bad("[node]\nlisten = localhost:7001\n", "not A.B.C.D:PORT", "host name");
	bad("[node]\nlisten = ::1:7001\n", "not A.B.C.D:PORT", "IPv6 without brackets");
	bad("[node]\nlisten = [::1]7001\n", "not A.B.C.D:PORT", "IPv6 without colon");
	bad("[node]\nlisten = [1.2.3.4]:7001\n", "not A.B.C.D:PORT", "IPv4 in brackets");
	bad("[node]\ncommunity = qkdn demo\n", "kmd.conf:2: community: character 0x20",
	    "blank in community");
	bad("[node]\nname = \n", "kmd.conf:2: name is empty", "empty name");
	bad("[node]\nname = a-name-of-sixty-four-characters-which-is-one-too-many-for-an-id!\n",
	    "longer than 63", "long name");
	bad("[node]\ncert =\n", "cert is empty", "empty cert path");
	bad("id = 1\n", "kmd.conf:1: \"id\" outside any section", "key before any section");
	bad("[node\n", "kmd.conf:1: section header without ']'", "unclosed section");
	bad("[node]\nid\n", "kmd.conf:2: expected \"key = value\"", "line without '='");
	bad("[node]\n= 1\n", "kmd.conf:2: missing key", "missing key");
	bad("[node]\nid = 1\n", "kmd.conf: [node] section of line 1 lacks \"name\"",
	    "missing required node key");
	bad(NODE "[peer]\nid = 2\n[route]\n",
	    "kmd.conf:11: [peer] section of line 9 lacks \"address\"", "peer without address");
	bad(NODE "[route]\nvia = 2\n", "[route] section of line 9 lacks \"dest\"",
	    "route without dest");
	bad("[peer]\nid=2\naddress=1.2.3.4:5\n", "kmd.conf: no [node] section", "no [node]");
	bad(NODE "[peer]\nid=1\naddress=1.2.3.4:5\n",
	    "kmd.conf:9: [peer] id 1 is this node's own id", "peer is the node itself");
	bad(NODE "[peer]\nid=2\naddress=1.2.3.4:5\n[peer]\nid=2\naddress=1.2.3.5:5\n",
	    "kmd.conf:12: [peer] id 2 already given at line 9", "duplicate peer id");
	bad(NODE "[peer]\nid=2\naddress=1.2.3.4:5\n[peer]\nid=3\naddress=1.2.3.4:5\n",
	    "kmd.conf:12: [peer] address 1.2.3.4:5 already given at line 9",
	    "duplicate peer address");
	bad(NODE "[peer]\nid=2\naddress=1.2.3.4:5\n[route]\ndest=1\nvia=2\n",
	    "kmd.conf:12: [route] dest 1 is this node", "route to the node itself");
	bad(NODE "[peer]\nid=2\naddress=1.2.3.4:5\n[route]\ndest=5\nvia=3\n",
	    "kmd.conf:12: [route] via 3 is not a [peer]", "route via a non-neighbour");
	bad(NODE "[peer]\nid=2\naddress=1.2.3.4:5\n[route]\ndest=5\nvia=2\n[route]\ndest=5\nvia=2\n",
	    "kmd.conf:15: [route] dest 5 already given at line 12", "duplicate route");
	{
		static const char nul[] = "[node]\nid = 1\0\n";
		struct qkdn_kmd_config cfg;
		char err[QKDN_CONFIG_ERR_LEN] = "";
		FILE *f = fmemopen((void *)nul, sizeof(nul) - 1, "r");
		int ret = qkdn_kmd_config_read(&cfg, f, "kmd.conf", NULL, err, sizeof(err));

		fclose(f);
		ok(ret == -EINVAL && strstr(err, "kmd.conf:2: NUL byte"), "NUL byte in a line: %s",
		   err);
	}
}

static const char etsi014[] =
	NODE
	"[etsi014]\n"
	"listen = 0.0.0.0:8443\n"
	"cert = kme.crt\n"
	"key = /etc/qkdn/kme.key\n"
	"ca = apps-ca.crt\n"
	"[sae]\n"
	"id = sae-a\n"
	"cn = app a\n"
	"[sae]\n"
	"cn = app-b\n"
	"id = sae-b\n";

static void test_etsi014(void)
{
	struct qkdn_kmd_config cfg;
	char err[QKDN_CONFIG_ERR_LEN] = "";
	int ret;

	ret = read_text(&cfg, NODE, err, sizeof(err));
	ok(ret == 0 && !cfg.etsi014.enabled && cfg.n_saes == 0 && !cfg.etsi014.cert,
	   "no [etsi014]: the API is off (%s)", err);
	if (ret == 0)
		qkdn_kmd_config_free(&cfg);
	ret = read_text(&cfg, etsi014, err, sizeof(err));
	ok(ret == 0, "[etsi014] and [sae] read (%s)", err);
	if (ret)
		return;
	ok(cfg.etsi014.enabled && strcmp(cfg.etsi014.listen_str, "0.0.0.0:8443") == 0 &&
	   cfg.etsi014.listen_len == sizeof(struct sockaddr_in) && cfg.etsi014.line == 9,
	   "etsi014 listen");
	ok(strcmp(cfg.etsi014.cert, "/etc/qkdn/kme.crt") == 0 &&
	   strcmp(cfg.etsi014.key, "/etc/qkdn/kme.key") == 0 &&
	   strcmp(cfg.etsi014.ca, "/etc/qkdn/apps-ca.crt") == 0, "etsi014 paths resolved");
	ok(cfg.etsi014.max_keys_per_request == QKDN_KMD_E14_MAX_KEYS_DEFAULT,
	   "max-keys-per-request defaults to %u", QKDN_KMD_E14_MAX_KEYS_DEFAULT);
	ok(cfg.n_saes == 2 && strcmp(cfg.saes[0].id, "sae-a") == 0 &&
	   strcmp(cfg.saes[0].cn, "app a") == 0 && strcmp(cfg.saes[1].id, "sae-b") == 0,
	   "two SAEs, a CN may hold blanks");
	ok(qkdn_kmd_config_sae_by_cn(&cfg, "app-b") == &cfg.saes[1] &&
	   !qkdn_kmd_config_sae_by_cn(&cfg, "app-c") && !qkdn_kmd_config_sae_by_cn(&cfg, "sae-a"),
	   "SAE by certificate CN");
	ok(qkdn_kmd_config_check(&cfg, err, sizeof(err)) == 0, "check passes");
	ok(qkdn_kmd_config_set_listen(&cfg, "0.0.0.0:8443") == 0 &&
	   qkdn_kmd_config_check(&cfg, err, sizeof(err)) == -EINVAL &&
	   strstr(err, "[etsi014] listen 0.0.0.0:8443 is also"), "--listen on the 014 port: %s",
	   err);
	qkdn_kmd_config_free(&cfg);

	ret = read_text(&cfg, NODE "[etsi014]\nlisten=[::]:8443\ncert=a\nkey=b\nca=c\n"
			"max-keys-per-request = 1024\n", err, sizeof(err));
	ok(ret == 0 && cfg.etsi014.max_keys_per_request == 1024 && cfg.n_saes == 0,
	   "max-keys-per-request up to QKDN_KEY_AMOUNT_MAX, no [sae] needed (%s)", err);
	if (ret == 0)
		qkdn_kmd_config_free(&cfg);

#define E14 "[etsi014]\nlisten=0.0.0.0:8443\ncert=a\nkey=b\nca=c\n"
	bad(NODE "[etsi014]\nlisten=0.0.0.0:8443\ncert=a\nkey=b\n",
	    "kmd.conf: [etsi014] section of line 9 lacks \"ca\"", "etsi014 without ca");
	bad(NODE E14 "max-keys-per-request = 1025\n",
	    "kmd.conf:14: max-keys-per-request = 1025: out of range 1..1024", "too many keys per request");
	bad(NODE E14 "max-keys-per-request = 0\n", "out of range 1..1024", "zero keys per request");
	bad(NODE E14 "max-keys-per-request = x\n", "not a decimal number", "keys per request not a number");
	bad(NODE E14 E14, "kmd.conf:14: second [etsi014] section (first at line 9)", "two [etsi014]");
	bad(NODE "[etsi014]\nlisten=127.0.0.1:7001\ncert=a\nkey=b\nca=c\n",
	    "kmd.conf:9: [etsi014] listen 127.0.0.1:7001 is also [node] listen", "014 on the node port");
	bad(NODE "[sae]\nid=a\ncn=x\n", "kmd.conf:9: [sae] without an [etsi014]", "[sae] alone");
	bad(NODE E14 "[sae]\nid=a\n", "kmd.conf: [sae] section of line 14 lacks \"cn\"", "sae without cn");
	bad(NODE E14 "[sae]\nid=a b\ncn=x\n", "kmd.conf:15: id: character 0x20", "blank in an SAE ID");
	bad(NODE E14 "[sae]\nid=a\ncn=x\n[sae]\nid=a\ncn=y\n",
	    "kmd.conf:17: [sae] id a already given at line 14", "duplicate SAE ID");
	bad(NODE E14 "[sae]\nid=a\ncn=x\n[sae]\nid=b\ncn=x\n",
	    "kmd.conf:17: [sae] cn x already given at line 14", "duplicate CN");
	bad(NODE E14 "[sae]\nid=a\ncn=x\naddress=1.2.3.4:5\n",
	    "kmd.conf:17: unknown key \"address\" in [sae]", "unknown key in [sae]");
#undef E14
}

static void test_load(void)
{
	char dir[] = "/tmp/qkdn-test-config.XXXXXX", path[64], err[QKDN_CONFIG_ERR_LEN];
	struct qkdn_kmd_config cfg;
	FILE *f;
	int ret;

	if (!mkdtemp(dir)) {
		ok(0, "mkdtemp");
		return;
	}
	snprintf(path, sizeof(path), "%s/kmd.conf", dir);
	ret = qkdn_kmd_config_load(&cfg, path, err, sizeof(err));
	ok(ret == -ENOENT && strstr(err, "No such file"), "missing file: %s", err);
	f = fopen(path, "w");
	fputs(NODE, f);
	fclose(f);
	ret = qkdn_kmd_config_load(&cfg, path, err, sizeof(err));
	ok(ret == 0 && strncmp(cfg.cert, dir, strlen(dir)) == 0 &&
	   strcmp(cfg.cert + strlen(dir), "/c") == 0, "load resolves paths next to the file");
	if (ret == 0)
		qkdn_kmd_config_free(&cfg);
	unlink(path);
	rmdir(dir);
}

/* [manager]: the keys lib/mgmt.h reads, paths against the file's dir. */
static void test_manager(void)
{
	struct qkdn_kmd_config cfg;
	char err[QKDN_CONFIG_ERR_LEN] = "";
	int ret;

	ret = read_text(&cfg, NODE, err, sizeof(err));
	ok(ret == 0 && !cfg.manager.enabled, "no [manager]: no reports (%s)", err);
	if (ret == 0)
		qkdn_kmd_config_free(&cfg);
	ret = read_text(&cfg, NODE "[manager]\naddress = 10.0.0.9:7500\ncert = n.crt\nkey = n.key\n"
			"ca = /ca.pem\nreport-ms = 500\n", err, sizeof(err));
	ok(ret == 0 && cfg.manager.enabled && cfg.manager.report_ms == 500 &&
	   cfg.manager.queue_max == QKDN_MGMT_QUEUE_DEFAULT &&
	   !strcmp(cfg.manager.address_str, "10.0.0.9:7500") &&
	   !strcmp(cfg.manager.cert, "/etc/qkdn/n.crt") && !strcmp(cfg.manager.ca, "/ca.pem") &&
	   !cfg.manager.crl, "[manager] read, defaults and paths (%s)", err);
	if (ret == 0)
		qkdn_kmd_config_free(&cfg);
	bad(NODE "[manager]\n", "kmd.conf: [manager] section of line 9 lacks \"address\"",
	    "an empty [manager]");
	bad(NODE "[manager]\naddress = 10.0.0.9:7500\n",
	    "kmd.conf: [manager] section of line 9 lacks \"cert\"", "[manager] without cert");
	bad(NODE "[manager]\naddress = 10.0.0.9:7500\n[manager]\n",
	    "kmd.conf:11: second [manager] section (first at line 9)", "two [manager]s");
	bad(NODE "[manager]\nreport-ms = 5\n",
	    "kmd.conf:10: report-ms \"5\" is not a number in 100..3600000", "report-ms too small");
	bad(NODE "[manager]\nurl = x\n", "kmd.conf:10: unknown key \"url\" in [manager]",
	    "unknown [manager] key");
}

int main(void)
{
	test_manager();
	test_good();
	test_bad();
	test_etsi014();
	test_load();
	return tap_done();
}
