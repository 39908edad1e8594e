// SPDX-License-Identifier: GPL-2.0 OR MIT
/* lib/mgmt.c: the [manager] section agents share. (The protocol itself
 * runs against qkdn-mgrd in selftests/host/mgrd_scenarios.sh.) */
#include <errno.h>
#include <string.h>

#include "mgmt.h"
#include "tap.h"

int main(void)
{
	struct qkdn_mgmt_conf c = { .line = 7 };
	char err[200];

	ok(qkdn_mgmt_conf_key(&c, "address", "127.0.0.1:7500", "/etc/qkdn", err, sizeof(err)) == 0 &&
	   c.enabled && c.queue_max == QKDN_MGMT_QUEUE_DEFAULT &&
	   c.report_ms == QKDN_MGMT_REPORT_MS_DEFAULT, "address, defaults");
	ok(qkdn_mgmt_conf_key(&c, "cert", "a.pem", "/etc/qkdn", err, sizeof(err)) == 0 &&
	   !strcmp(c.cert, "/etc/qkdn/a.pem"), "relative path resolved");
	ok(qkdn_mgmt_conf_key(&c, "key", "/k/a.key", "/etc/qkdn", err, sizeof(err)) == 0 &&
	   !strcmp(c.key, "/k/a.key"), "absolute path kept");
	ok(qkdn_mgmt_conf_check(&c, err, sizeof(err)) == -EINVAL &&
	   !strcmp(err, "[manager] section of line 7 lacks \"ca\""), "missing ca: %s", err);
	ok(qkdn_mgmt_conf_key(&c, "ca", "ca.pem", NULL, err, sizeof(err)) == 0 &&
	   qkdn_mgmt_conf_check(&c, err, sizeof(err)) == 0, "complete");
	ok(qkdn_mgmt_conf_key(&c, "ca", "ca.pem", NULL, err, sizeof(err)) == -EINVAL &&
	   !strcmp(err, "\"ca\" given twice in [manager]"), "twice: %s", err);
	ok(qkdn_mgmt_conf_key(&c, "queue", "8", NULL, err, sizeof(err)) == -EINVAL &&
	   !strcmp(err, "queue \"8\" is not a number in 16..1048576"), "queue range: %s", err);
	ok(qkdn_mgmt_conf_key(&c, "adress", "x", NULL, err, sizeof(err)) == -EINVAL &&
	   !strcmp(err, "unknown key \"adress\" in [manager]"), "unknown key: %s", err);
	ok(qkdn_mgmt_conf_key(&c, "address", "x", NULL, err, sizeof(err)) == -EINVAL &&
	   !strcmp(err, "\"address\" given twice in [manager]"), "address twice");
	ok(qkdn_mgmt_conf_key(&c, "report-ms", "99", NULL, err, sizeof(err)) == -EINVAL &&
	   !strcmp(err, "report-ms \"99\" is not a number in 100..3600000") &&
	   c.report_ms == QKDN_MGMT_REPORT_MS_DEFAULT, "report-ms range: %s", err);
	qkdn_mgmt_conf_free(&c);
	c = (struct qkdn_mgmt_conf){ 0 };
	ok(qkdn_mgmt_conf_key(&c, "report-ms", "250", NULL, err, sizeof(err)) == 0 &&
	   c.report_ms == 250, "report-ms 250");
	qkdn_mgmt_conf_free(&c);
	ok(!c.enabled && !c.cert, "freed");
	return tap_done();
}
