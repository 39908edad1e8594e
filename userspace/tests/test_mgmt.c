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
	   c.enabled && c.queue_max == QKDN_MGMT_QUEUE_DEFAULT, "address, defaults");
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
	qkdn_mgmt_conf_free(&c);
	ok(!c.enabled && !c.cert, "freed");
	return tap_done();
}
