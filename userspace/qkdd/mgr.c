// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Mq: qkdn-qkdd reports to qkdn-mgrd (lib/mgmt.h), when its config has a
 * [manager] section. It is the QKD module's agent (seed 001 Table I.4):
 *
 *   inventory (10.3)   after each M_AUTH: every QKD link (resource
 *                      "qkd-link-<node>-<link>", its modules, the peer
 *                      node, in or out of service) and every QKD module
 *                      ("qkd-module-<ID>"); again on each state change
 *   faults (10.1.1)    the link leaving UP for DOWN: QKD_LINK_DOWN
 *                      (major); EAVESDROPPED: QBER_HIGH (critical) and a
 *                      security event (10.5); each cleared (same alarm
 *                      ID) when the state leaves it; the description is
 *                      the diagnosis (diag.c)
 *   performance (10.4) every report-ms: key rate (bit/s) and QBER (ppm)
 *                      of each link
 *   diagnostics        M_DIAG for a link or module: its state and
 *                      diagnosis
 *
 * Both drivers of a link report it, each as its own node's resource: the
 * manager correlates the two ends (xlmo.c).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "mgmt.h"
#include "qkdd.h"

/* One alarm ID per link and alarm type, so a clear names its raise. */
static uint64_t alarm_id(const struct qkdd_link *l, enum qkdn_wire_alarm_type type)
{
	return (uint64_t)l->id << 8 | type;
}

static void send_config(struct qkdd_link *l)
{
	struct qkdd *q = l->q;
	char res[QKDN_ID_MAXLEN], desc[128], info[QKDN_W_M_DESC_MAX];
	uint8_t state = qkdd_diagnose(l, info, sizeof(info));
	struct qkdn_wire_msg *m;

	qkdd_link_resource(l, res, sizeof(res));
	m = qkdn_mgmt_begin(q->mgmt, QKDN_W_CMD_M_CONFIG, res);
	if (!m)
		return;
	snprintf(desc, sizeof(desc), "%s %s %s, QKD %s", qkdd_mode_name(l->conf->mode),
		 qkdd_role_name(l->conf->role), l->conf->addr_str, qkdd_state_name(l->state));
	qkdn_wire_put_u8(m, QKDN_W_M_RESOURCE_KIND, QKDN_W_RES_QKD_LINK);
	qkdn_wire_put_u8(m, QKDN_W_M_RESOURCE_STATE, state);
	qkdn_wire_put_str(m, QKDN_W_M_RESOURCE_DESC, desc);
	qkdn_wire_put_u32(m, QKDN_W_M_LINK_ID, l->id);
	qkdn_wire_put_str(m, QKDN_W_M_QKD_MODULE, l->conf->module);
	qkdn_wire_put_str(m, QKDN_W_M_PEER_QKD_MODULE, l->conf->peer_module);
	if (l->peer_node)
		qkdn_wire_put_u32(m, QKDN_W_PEER_NODE_ID, l->peer_node);
	qkdn_mgmt_send(q->mgmt, m);

	snprintf(res, sizeof(res), "qkd-module-%.52s", l->conf->module);
	m = qkdn_mgmt_begin(q->mgmt, QKDN_W_CMD_M_CONFIG, res);
	if (!m)
		return;
	qkdn_wire_put_u8(m, QKDN_W_M_RESOURCE_KIND, QKDN_W_RES_QKD_MODULE);
	qkdn_wire_put_u8(m, QKDN_W_M_RESOURCE_STATE, state);
	qkdn_wire_put_u32(m, QKDN_W_M_LINK_ID, l->id);
	qkdn_wire_put_str(m, QKDN_W_M_QKD_MODULE, l->conf->module);
	qkdn_wire_put_str(m, QKDN_W_M_PEER_QKD_MODULE, l->conf->peer_module);
	if (l->peer_node)
		qkdn_wire_put_u32(m, QKDN_W_PEER_NODE_ID, l->peer_node);
	qkdn_mgmt_send(q->mgmt, m);
}

static void link_alarm(struct qkdd_link *l, enum qkdn_wire_alarm_type type,
		       enum qkdn_wire_severity sev, const char *desc)
{
	char res[QKDN_ID_MAXLEN];

	qkdd_link_resource(l, res, sizeof(res));
	qkdn_mgmt_alarm(l->q->mgmt, res, type, alarm_id(l, type), l->conf->module, sev,
			type == QKDN_W_ALARM_QBER_HIGH ? l->qber_ppm : l->rate_bps, desc,
			l->peer_node);
}

void qkdd_mgr_state(struct qkdd_link *l, uint8_t was)
{
	char info[QKDN_W_M_DESC_MAX], brief[80], res[QKDN_ID_MAXLEN];

	if (!l->q->mgmt || l->state == was)
		return;
	/* The alarm says what was seen; the manager's M_DIAG gets the
	 * diagnosis, the security event carries it for the audit trail. */
	qkdd_diagnose(l, info, sizeof(info));
	if (l->alarm_qber && l->state != QKDN_QKD_EAVESDROPPED) {
		link_alarm(l, QKDN_W_ALARM_QBER_HIGH, QKDN_W_SEV_CLEARED, NULL);
		l->alarm_qber = false;
	}
	if (l->alarm_down && l->state != QKDN_QKD_DOWN) {
		link_alarm(l, QKDN_W_ALARM_QKD_LINK_DOWN, QKDN_W_SEV_CLEARED, NULL);
		l->alarm_down = false;
	}
	if (l->state == QKDN_QKD_EAVESDROPPED) {
		struct qkdn_wire_msg *m;

		snprintf(brief, sizeof(brief), "QBER %.2f%% over the abort threshold",
			 l->qber_ppm / 1e4);
		link_alarm(l, QKDN_W_ALARM_QBER_HIGH, QKDN_W_SEV_CRITICAL, brief);
		l->alarm_qber = true;
		/* The audit trail of 10.5 step 1. */
		qkdd_link_resource(l, res, sizeof(res));
		m = qkdn_mgmt_begin(l->q->mgmt, QKDN_W_CMD_M_SECURITY, res);
		if (m) {
			qkdn_wire_put_u16(m, QKDN_W_M_SEC_EVENT, QKDN_W_SEC_EAVESDROPPING);
			qkdn_wire_put_u64(m, QKDN_W_M_ALARM_VALUE, l->qber_ppm);
			qkdn_wire_put_str(m, QKDN_W_M_ALARM_DESC, info);
			if (l->peer_node)
				qkdn_wire_put_u32(m, QKDN_W_PEER_NODE_ID, l->peer_node);
			qkdn_mgmt_send(l->q->mgmt, m);
		}
	} else if (l->state == QKDN_QKD_DOWN && (was == QKDN_QKD_UP ||
						 was == QKDN_QKD_EAVESDROPPED)) {
		/* Start-up (UNKNOWN, then DOWN until the channel connects) is
		 * no failure. */
		link_alarm(l, QKDN_W_ALARM_QKD_LINK_DOWN, QKDN_W_SEV_MAJOR, "no key");
		l->alarm_down = true;
	}
	if (was != QKDN_QKD_UNKNOWN)
		send_config(l);
}

static void report_cb(evutil_socket_t fd, short what, void *arg)
{
	struct qkdd *q = arg;
	char res[QKDN_ID_MAXLEN];

	(void)fd;
	(void)what;
	for (size_t i = 0; i < q->n_links; i++) {
		struct qkdd_link *l = &q->links[i];

		qkdd_link_resource(l, res, sizeof(res));
		qkdn_mgmt_perf(q->mgmt, res, QKDN_W_PERF_KEY_RATE, res, l->rate_bps, l->peer_node);
		if (l->has_qber)
			qkdn_mgmt_perf(q->mgmt, res, QKDN_W_PERF_QBER, res, l->qber_ppm,
				       l->peer_node);
	}
}

static void up_cb(void *arg)
{
	struct qkdd *q = arg;

	for (size_t i = 0; i < q->n_links; i++)
		send_config(&q->links[i]);
}

static int diag_cb(void *arg, const char *resource, uint8_t *state, char *info, size_t len)
{
	struct qkdd *q = arg;
	char res[QKDN_ID_MAXLEN];

	for (size_t i = 0; i < q->n_links; i++) {
		struct qkdd_link *l = &q->links[i];

		qkdd_link_resource(l, res, sizeof(res));
		if (!strcmp(res, resource) ||
		    (!strncmp(resource, "qkd-module-", 11) && !strcmp(resource + 11, l->conf->module))) {
			*state = qkdd_diagnose(l, info, len);
			return 0;
		}
	}
	return -ENOENT;
}

int qkdd_mgr_start(struct qkdd *q)
{
	static char cn[QKDN_ID_MAXLEN], host[64];
	struct qkdn_mgmt_ident ident = {
		.sender_id = q->cfg.node_id, .kind = QKDN_W_AGENT_QKD, .cn = cn,
		.hostname = host, .requestor = "QKD module",
	};
	struct qkdn_mgmt_handlers h = { .up = up_cb, .diag = diag_cb, .arg = q };
	uint32_t ms = q->cfg.manager.report_ms;
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	char err[512];

	if (!q->cfg.manager.enabled)
		return 0;
	snprintf(cn, sizeof(cn), QKDN_W_QKD_CN_PREFIX "%u", q->cfg.node_id);
	if (gethostname(host, sizeof(host) - 1) < 0 || !host[0])
		snprintf(host, sizeof(host), "node-%u", q->cfg.node_id);
	q->mgmt = qkdn_mgmt_new(q->base, &q->cfg.manager, &ident, &h, err, sizeof(err));
	if (!q->mgmt) {
		qkdn_log(QKDN_LOG_ERR, "cannot set up the manager connection",
			 "event=start-failed manager=%s err=\"%s\"", q->cfg.manager.address_str, err);
		return -EINVAL;
	}
	q->report = event_new(q->base, -1, EV_PERSIST, report_cb, q);
	if (!q->report || evtimer_add(q->report, &tv))
		return -ENOMEM;
	qkdn_log(QKDN_LOG_INFO, "reporting to the manager", "event=manager manager=%s cn=%s "
		 "report_ms=%u", q->cfg.manager.address_str, cn, ms);
	return 0;
}

bool qkdd_mgr_idle(const struct qkdd *q)
{
	return !q->mgmt || qkdn_mgmt_idle(q->mgmt);
}

void qkdd_mgr_stop(struct qkdd *q)
{
	if (q->report)
		event_free(q->report);
	q->report = NULL;
	qkdn_mgmt_free(q->mgmt);
	q->mgmt = NULL;
}
