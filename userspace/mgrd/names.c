// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Names of the management protocol's enumerations, for logs and JSON. */
#include "mgrd.h"

#define NAME(arr, i) ((size_t)(i) < sizeof(arr) / sizeof(arr[0]) && arr[i] ? arr[i] : "unknown")

static const char *const alarm_types[] = {
	[QKDN_W_ALARM_QKD_LINK_DOWN] = "qkd-link-down",
	[QKDN_W_ALARM_QBER_HIGH] = "qber-high",
	[QKDN_W_ALARM_QKD_MODULE_FAULT] = "qkd-module-fault",
	[QKDN_W_ALARM_KM_LINK_DOWN] = "km-link-down",
	[QKDN_W_ALARM_POOL_LOW] = "pool-low",
	[QKDN_W_ALARM_RELAY_FAILED] = "relay-failed",
	[QKDN_W_ALARM_KEY_GEN_FAILURE] = "key-generation-failure",
	[QKDN_W_ALARM_ROUTE_DOWN] = "route-down",
	[QKDN_W_ALARM_CONTROL_FAULT] = "control-fault",
};

static const char *const perf_types[] = {
	[QKDN_W_PERF_KEY_RATE] = "key-rate-bps",
	[QKDN_W_PERF_QBER] = "qber-ppm",
	[QKDN_W_PERF_KEY_AMOUNT] = "key-bytes",
	[QKDN_W_PERF_CONSUMPTION] = "consumption-bytes-per-s",
	[QKDN_W_PERF_RELAY_DELAY] = "relay-delay-us",
	[QKDN_W_PERF_KEY_LOSS] = "keys-lost",
	[QKDN_W_PERF_ROUTES] = "routes",
	[QKDN_W_PERF_RELAYS_STARTED] = "relays-started",
	[QKDN_W_PERF_RELAYS_COMPLETED] = "relays-completed",
	[QKDN_W_PERF_RELAYS_FAILED] = "relays-failed",
};

static const char *const res_kinds[] = {
	[QKDN_W_RES_NODE] = "node",
	[QKDN_W_RES_KM_LINK] = "km-link",
	[QKDN_W_RES_QKD_LINK] = "qkd-link",
	[QKDN_W_RES_QKD_MODULE] = "qkd-module",
	[QKDN_W_RES_APP] = "application",
	[QKDN_W_RES_ROUTE] = "route",
	[QKDN_W_RES_CONTROLLER] = "controller",
};

static const char *const key_events[] = {
	[QKDN_W_KEY_GENERATED] = "generated",
	[QKDN_W_KEY_RELAYED] = "relayed",
	[QKDN_W_KEY_RECEIVED] = "received",
	[QKDN_W_KEY_SUPPLIED] = "supplied",
	[QKDN_W_KEY_DELETED] = "deleted",
};

static const char *const actions[] = {
	[QKDN_W_ACTION_REROUTE] = "reroute",
	[QKDN_W_ACTION_ISOLATE] = "isolate",
	[QKDN_W_ACTION_REBALANCE] = "rebalance",
	[QKDN_W_ACTION_RESTORE] = "restore",
};

static const char *const sec_events[] = {
	[QKDN_W_SEC_EAVESDROPPING] = "eavesdropping",
	[QKDN_W_SEC_AUTH_FAILURE] = "auth-failure",
	[QKDN_W_SEC_CERT_REVOKED] = "cert-revoked",
	[QKDN_W_SEC_ACCESS_DENIED] = "access-denied",
	[QKDN_W_SEC_MAC_FAILURE] = "mac-failure",
	[QKDN_W_SEC_KEYS_DISCARDED] = "keys-discarded",
	[QKDN_W_SEC_CONFIG_CHANGE] = "config-change",
};

static const char *const resil_kinds[] = {
	[QKDN_W_RESIL_MODULE] = "module", [QKDN_W_RESIL_LINK] = "link",
	[QKDN_W_RESIL_ROUTE] = "route",
};

static const char *const resil_ops[] = {
	[QKDN_W_RESIL_OP_MATCHUP] = "matchup", [QKDN_W_RESIL_OP_SWITCHOVER] = "switchover",
	[QKDN_W_RESIL_OP_REROUTE] = "reroute", [QKDN_W_RESIL_OP_RESTORE] = "restore",
};

const char *mgrd_alarm_type_name(uint16_t t) { return NAME(alarm_types, t); }
const char *mgrd_perf_type_name(uint16_t t) { return NAME(perf_types, t); }
const char *mgrd_res_kind_name(uint8_t k) { return NAME(res_kinds, k); }
const char *mgrd_key_event_name(uint8_t e) { return NAME(key_events, e); }
const char *mgrd_action_name(uint8_t t) { return NAME(actions, t); }
const char *mgrd_sec_event_name(uint16_t e) { return NAME(sec_events, e); }

const char *mgrd_resil_name(uint8_t kind, uint8_t op, const char **op_name)
{
	*op_name = NAME(resil_ops, op);
	return NAME(resil_kinds, kind);
}
