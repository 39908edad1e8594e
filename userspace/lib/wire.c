// SPDX-License-Identifier: GPL-2.0 OR MIT
#include "wire.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <linux/netlink.h>
#include <linux/qkdn.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the qkdn wire format is little endian; this host is not (see wire.h)"
#endif

#define ATTR_PAYLOAD_MAX (UINT16_MAX - MNL_ATTR_HDRLEN)

struct qkdn_wire_msg {
	unsigned char *buf;	/* length prefix, then the body */
	size_t len;		/* bytes used, prefix included */
	size_t cap;
	uint64_t msg_id;
	int err;		/* first failure of a put, 0 if none */
};

/* Names */

static const char *const cmd_names[] = {
	[QKDN_W_CMD_UNSPEC] = "UNSPEC",
	[QKDN_W_CMD_HELLO] = "HELLO",
	[QKDN_W_CMD_SESSION] = "SESSION",
	[QKDN_W_CMD_UPDATE] = "UPDATE",
	[QKDN_W_CMD_KX] = "KX",
	[QKDN_W_CMD_KEEPALIVE] = "KEEPALIVE",
	[QKDN_W_CMD_CK_AUTH] = "CK_AUTH",
	[QKDN_W_CMD_CK_STATUS] = "CK_STATUS",
	[QKDN_W_CMD_CK_NOTIFY] = "CK_NOTIFY",
	[QKDN_W_CMD_CK_ROUTE] = "CK_ROUTE",
	[QKDN_W_CMD_CK_ROUTE_PUSH] = "CK_ROUTE_PUSH",
	[QKDN_W_CMD_CK_CRL] = "CK_CRL",
	/* qkdn-secd */
	[QKDN_W_CMD_SA_PROPOSE] = "SA_PROPOSE",
	[QKDN_W_CMD_SA_INSTALLED] = "SA_INSTALLED",
	[QKDN_W_CMD_SA_DELETE] = "SA_DELETE",
	/* qkdn-mgrd */
	[QKDN_W_CMD_M_AUTH] = "M_AUTH",
	[QKDN_W_CMD_M_ALARM] = "M_ALARM",
	[QKDN_W_CMD_M_PERF] = "M_PERF",
	[QKDN_W_CMD_M_CONFIG] = "M_CONFIG",
	[QKDN_W_CMD_M_ACCOUNT] = "M_ACCOUNT",
	[QKDN_W_CMD_M_SECURITY] = "M_SECURITY",
	[QKDN_W_CMD_M_KEY_EVENT] = "M_KEY_EVENT",
	[QKDN_W_CMD_M_RESILIENCE] = "M_RESILIENCE",
	[QKDN_W_CMD_M_DIAG] = "M_DIAG",
	[QKDN_W_CMD_M_CONTROL] = "M_CONTROL",
	[QKDN_W_CMD_M_SUPPORT] = "M_SUPPORT",
};

static const char *const attr_names[] = {
	[QKDN_W_UNSPEC] = "UNSPEC",
	[QKDN_W_MSG_ID] = "MSG_ID",
	[QKDN_W_CMD] = "CMD",
	[QKDN_W_SENDER_ID] = "SENDER_ID",
	[QKDN_W_ORIG_MSG_ID] = "ORIG_MSG_ID",
	[QKDN_W_RESPONSE_CODE] = "RESPONSE_CODE",
	[QKDN_W_REASON] = "REASON",
	[QKDN_W_SENDER_IP] = "SENDER_IP",
	[QKDN_W_SENDER_HOSTNAME] = "SENDER_HOSTNAME",
	[QKDN_W_COMMUNITY_ID] = "COMMUNITY_ID",
	[QKDN_W_AUTH_INFO] = "AUTH_INFO",
	[QKDN_W_SESSION_ID] = "SESSION_ID",
	[QKDN_W_TIMER] = "TIMER",
	[QKDN_W_KEY_ID_HASH] = "KEY_ID_HASH",
	[QKDN_W_RECEIVER_IP] = "RECEIVER_IP",
	[QKDN_W_DEST_NODE_ID] = "DEST_NODE_ID",
	[QKDN_W_QOS] = "QOS",
	[QKDN_W_KEY_ID] = "KEY_ID",
	[QKDN_W_KX_FRAME] = "KX_FRAME",
	[QKDN_W_PERIOD] = "PERIOD",
	[QKDN_W_STATUS_PARAMS] = "STATUS_PARAMS",
	[QKDN_W_KM_STATE] = "KM_STATE",
	[QKDN_W_STATUS_TABLE] = "STATUS_TABLE",
	[QKDN_W_LINK_STATUS] = "LINK_STATUS",
	[QKDN_W_PEER_NODE_ID] = "PEER_NODE_ID",
	[QKDN_W_LINK_STATE] = "LINK_STATE",
	[QKDN_W_PEER_UP] = "PEER_UP",
	[QKDN_W_KEY_AMOUNT] = "KEY_AMOUNT",
	[QKDN_W_CONSUMPTION_RATE] = "CONSUMPTION_RATE",
	[QKDN_W_GENERATION_RATE] = "GENERATION_RATE",
	[QKDN_W_QKD_STATE] = "QKD_STATE",
	[QKDN_W_QBER] = "QBER",
	[QKDN_W_STORE_STATUS] = "STORE_STATUS",
	[QKDN_W_EVENT] = "EVENT",
	[QKDN_W_SOURCE_NODE_ID] = "SOURCE_NODE_ID",
	[QKDN_W_PRIORITY] = "PRIORITY",
	[QKDN_W_TOLERANCE_MS] = "TOLERANCE_MS",
	[QKDN_W_ROUTE_TABLE] = "ROUTE_TABLE",
	[QKDN_W_ROUTE] = "ROUTE",
	[QKDN_W_NEXT_HOP_NODE_ID] = "NEXT_HOP_NODE_ID",
	[QKDN_W_PROTECTION_NEXT_HOP] = "PROTECTION_NEXT_HOP",
	[QKDN_W_ROUTE_OP] = "ROUTE_OP",
	[QKDN_W_PATH] = "PATH",
	[QKDN_W_PROTECTION_PATH] = "PROTECTION_PATH",
	[QKDN_W_CRL] = "CRL",
	/* qkdn-secd */
	[QKDN_W_SA_KIND] = "SA_KIND",
	[QKDN_W_SA_GENERATION] = "SA_GENERATION",
	[QKDN_W_SA_KEY_IDS_FWD] = "SA_KEY_IDS_FWD",
	[QKDN_W_SA_KEY_IDS_REV] = "SA_KEY_IDS_REV",
	[QKDN_W_SA_LIFETIME] = "SA_LIFETIME",
	[QKDN_W_SA_SPI] = "SA_SPI",
	[QKDN_W_SA_AN] = "SA_AN",
	[QKDN_W_SA_SCI] = "SA_SCI",
	/* qkdn-mgrd */
	[QKDN_W_M_AGENT_KIND] = "M_AGENT_KIND",
	[QKDN_W_M_EPOCH] = "M_EPOCH",
	[QKDN_W_M_SESSION] = "M_SESSION",
	[QKDN_W_M_REQUESTOR] = "M_REQUESTOR",
	[QKDN_W_M_SEQ] = "M_SEQ",
	[QKDN_W_M_ACK_SEQ] = "M_ACK_SEQ",
	[QKDN_W_M_RETRY_MS] = "M_RETRY_MS",
	[QKDN_W_M_TIME_MS] = "M_TIME_MS",
	[QKDN_W_M_RESOURCE_ID] = "M_RESOURCE_ID",
	[QKDN_W_M_RESOURCE_DESC] = "M_RESOURCE_DESC",
	[QKDN_W_M_RESOURCE_KIND] = "M_RESOURCE_KIND",
	[QKDN_W_M_RESOURCE_STATE] = "M_RESOURCE_STATE",
	[QKDN_W_M_ALARM_TYPE] = "M_ALARM_TYPE",
	[QKDN_W_M_ALARM_ID] = "M_ALARM_ID",
	[QKDN_W_M_ALARM_SOURCE] = "M_ALARM_SOURCE",
	[QKDN_W_M_ALARM_VALUE] = "M_ALARM_VALUE",
	[QKDN_W_M_ALARM_DESC] = "M_ALARM_DESC",
	[QKDN_W_M_SEVERITY] = "M_SEVERITY",
	[QKDN_W_M_PERF_TYPE] = "M_PERF_TYPE",
	[QKDN_W_M_PERF_TARGET] = "M_PERF_TARGET",
	[QKDN_W_M_PERF_VALUE] = "M_PERF_VALUE",
	[QKDN_W_M_PERF_DESC] = "M_PERF_DESC",
	[QKDN_W_M_LINK_ID] = "M_LINK_ID",
	[QKDN_W_M_QKD_MODULE] = "M_QKD_MODULE",
	[QKDN_W_M_PEER_QKD_MODULE] = "M_PEER_QKD_MODULE",
	[QKDN_W_M_APP_ID] = "M_APP_ID",
	[QKDN_W_M_KEY_COUNT] = "M_KEY_COUNT",
	[QKDN_W_M_KEY_BITS] = "M_KEY_BITS",
	[QKDN_W_M_SEC_EVENT] = "M_SEC_EVENT",
	[QKDN_W_M_KEY_EVENT] = "M_KEY_EVENT",
	[QKDN_W_M_RESIL_KIND] = "M_RESIL_KIND",
	[QKDN_W_M_RESIL_OP] = "M_RESIL_OP",
	[QKDN_W_M_WORKING] = "M_WORKING",
	[QKDN_W_M_PROTECTION] = "M_PROTECTION",
	[QKDN_W_M_DIAG_INFO] = "M_DIAG_INFO",
	[QKDN_W_M_ACTION_TYPE] = "M_ACTION_TYPE",
	[QKDN_W_M_ACTION_VALUE] = "M_ACTION_VALUE",
	[QKDN_W_M_ACTION_ID] = "M_ACTION_ID",
	[QKDN_W_M_ORIGIN_AGENT] = "M_ORIGIN_AGENT",
	[QKDN_W_M_ORIGIN_EVENT] = "M_ORIGIN_EVENT",
	[QKDN_W_ROUTE_REASON] = "ROUTE_REASON",
	[QKDN_W_MULTIPATH_HOPS] = "MULTIPATH_HOPS",
	[QKDN_W_MULTIPATH_KEYS] = "MULTIPATH_KEYS",
	[QKDN_W_M_SUPPORT_TABLE] = "M_SUPPORT_TABLE",
	[QKDN_W_M_SUPPORT_LINK] = "M_SUPPORT_LINK",
};

_Static_assert(sizeof(cmd_names) / sizeof(cmd_names[0]) == __QKDN_W_CMD_LAST,
	       "a command has no name");
_Static_assert(sizeof(attr_names) / sizeof(attr_names[0]) == __QKDN_W_LAST,
	       "an attribute has no name");

const char *qkdn_wire_cmd_name(uint16_t cmd)
{
	return cmd <= QKDN_W_CMD_MAX ? cmd_names[cmd] : "unknown";
}

const char *qkdn_wire_attr_name(uint16_t type)
{
	return type <= QKDN_W_MAX ? attr_names[type] : "unknown";
}

/* Kx policy */

#define STR(max) { .type = QKDN_WT_STRING, .required = true, .max_len = (max) }

static const struct qkdn_wire_attr_policy hello_cmd[QKDN_W_MAX + 1] = {
	[QKDN_W_SENDER_IP] = STR(QKDN_W_STR_MAX),
	[QKDN_W_SENDER_HOSTNAME] = STR(QKDN_ID_MAXLEN),
	[QKDN_W_COMMUNITY_ID] = STR(QKDN_ID_MAXLEN),
	[QKDN_W_AUTH_INFO] = STR(QKDN_W_STR_MAX),
};

/* Responses that carry nothing but the common items. */
static const struct qkdn_wire_attr_policy plain_resp[QKDN_W_MAX + 1] = {
	[QKDN_W_REASON] = { .type = QKDN_WT_STRING, .max_len = QKDN_W_REASON_MAX },
};

static const struct qkdn_wire_attr_policy session_cmd[QKDN_W_MAX + 1] = {
	[QKDN_W_SESSION_ID] = { .type = QKDN_WT_U64, .required = true },
	[QKDN_W_TIMER] = { .type = QKDN_WT_U32, .required = true },
	[QKDN_W_KEY_ID_HASH] = { .type = QKDN_WT_BINARY, .min_len = QKDN_W_KEY_ID_HASH_LEN,
				 .max_len = QKDN_W_KEY_ID_HASH_LEN },
};

/* A failed SESSION response need not echo the proposal. */
static const struct qkdn_wire_attr_policy session_resp[QKDN_W_MAX + 1] = {
	[QKDN_W_REASON] = { .type = QKDN_WT_STRING, .max_len = QKDN_W_REASON_MAX },
	[QKDN_W_SESSION_ID] = { .type = QKDN_WT_U64 },
	[QKDN_W_TIMER] = { .type = QKDN_WT_U32 },
};

static const struct qkdn_wire_attr_policy update_cmd[QKDN_W_MAX + 1] = {
	[QKDN_W_SENDER_IP] = STR(QKDN_W_STR_MAX),
	[QKDN_W_RECEIVER_IP] = STR(QKDN_W_STR_MAX),
	[QKDN_W_DEST_NODE_ID] = { .type = QKDN_WT_U32, .required = true },
	[QKDN_W_QOS] = { .type = QKDN_WT_U32, .required = true },
	[QKDN_W_KEY_ID] = { .type = QKDN_WT_BINARY, .min_len = QKDN_KEY_ID_LEN,
			    .max_len = QKDN_KEY_ID_LEN },
};

static const struct qkdn_wire_attr_policy kx_cmd[QKDN_W_MAX + 1] = {
	[QKDN_W_KX_FRAME] = { .type = QKDN_WT_BINARY, .required = true, .min_len = 1,
			      .max_len = QKDN_KX_FRAME_MAX },
};

static const struct qkdn_wire_attr_policy empty[QKDN_W_MAX + 1];

static const struct qkdn_wire_cmd_policy kx_cmds[] = {
	[QKDN_W_CMD_HELLO] = { hello_cmd, plain_resp },
	[QKDN_W_CMD_SESSION] = { session_cmd, session_resp },
	[QKDN_W_CMD_UPDATE] = { update_cmd, NULL },
	[QKDN_W_CMD_KX] = { kx_cmd, NULL },
	[QKDN_W_CMD_KEEPALIVE] = { empty, NULL },
};

const struct qkdn_wire_policy qkdn_wire_kx_policy = {
	.name = "kx",
	.cmds = kx_cmds,
	.max_cmd = QKDN_W_CMD_KEEPALIVE,
};

/* Ck policy */

#define NODE_ID(req) { .type = QKDN_WT_U32, .required = (req), .min_val = 1, \
		       .max_val = QKDN_NODE_ID_MAX }
#define U8_RANGE(req, lo, hi) { .type = QKDN_WT_U8, .required = (req), .min_val = (lo), \
				.max_val = (hi) }
#define PATH_ARRAY { .type = QKDN_WT_U32_ARRAY, .min_len = 2 * 4, \
		     .max_len = QKDN_W_PATH_MAX * 4 }
#define MULTIPATH_ARRAY { .type = QKDN_WT_U32_ARRAY, .min_len = 2 * 4, \
			  .max_len = QKDN_W_MULTIPATH_MAX * 4 }

static const struct qkdn_wire_attr_policy ck_auth_cmd[QKDN_W_MAX + 1] = {
	[QKDN_W_AUTH_INFO] = STR(QKDN_W_STR_MAX),
	[QKDN_W_SENDER_HOSTNAME] = STR(QKDN_ID_MAXLEN),
};

static const struct qkdn_wire_attr_policy link_status_attrs[QKDN_W_MAX + 1] = {
	[QKDN_W_PEER_NODE_ID] = NODE_ID(true),
	[QKDN_W_LINK_STATE] = U8_RANGE(true, 1, QKDN_W_STATE_MAX),
	[QKDN_W_PEER_UP] = U8_RANGE(true, 0, 1),
	[QKDN_W_KEY_AMOUNT] = { .type = QKDN_WT_U64 },
	[QKDN_W_CONSUMPTION_RATE] = { .type = QKDN_WT_U64 },
	[QKDN_W_GENERATION_RATE] = { .type = QKDN_WT_U64 },
	[QKDN_W_QKD_STATE] = U8_RANGE(false, 0, QKDN_QKD_STATE_MAX),
	[QKDN_W_QBER] = { .type = QKDN_WT_U32, .max_val = QKDN_W_QBER_MAX },
};

const struct qkdn_wire_nest_policy qkdn_wire_ck_link_status_nest = {
	link_status_attrs, QKDN_W_MAX
};

static const struct qkdn_wire_attr_policy store_status_attrs[QKDN_W_MAX + 1] = {
	[QKDN_W_DEST_NODE_ID] = NODE_ID(true),
	[QKDN_W_KEY_AMOUNT] = { .type = QKDN_WT_U64, .required = true },
};

const struct qkdn_wire_nest_policy qkdn_wire_ck_store_status_nest = {
	store_status_attrs, QKDN_W_MAX
};

static const struct qkdn_wire_attr_policy status_table_members[QKDN_W_MAX + 1] = {
	[QKDN_W_LINK_STATUS] = { .type = QKDN_WT_NESTED,
				 .nested = &qkdn_wire_ck_link_status_nest },
	[QKDN_W_STORE_STATUS] = { .type = QKDN_WT_NESTED,
				  .nested = &qkdn_wire_ck_store_status_nest },
};

static const struct qkdn_wire_nest_policy status_table = { status_table_members, QKDN_W_MAX };

static const struct qkdn_wire_attr_policy route_attrs[QKDN_W_MAX + 1] = {
	[QKDN_W_SESSION_ID] = { .type = QKDN_WT_U64, .required = true },
	[QKDN_W_SOURCE_NODE_ID] = NODE_ID(true),
	[QKDN_W_DEST_NODE_ID] = NODE_ID(true),
	[QKDN_W_NEXT_HOP_NODE_ID] = NODE_ID(true),
	[QKDN_W_PROTECTION_NEXT_HOP] = NODE_ID(false),
	[QKDN_W_ROUTE_OP] = U8_RANGE(true, 1, QKDN_W_ROUTE_OP_MAX),
	[QKDN_W_PATH] = PATH_ARRAY,
	[QKDN_W_PROTECTION_PATH] = PATH_ARRAY,
	[QKDN_W_ROUTE_REASON] = U8_RANGE(false, 1, QKDN_W_ROUTE_REASON_MAX),
	[QKDN_W_MULTIPATH_HOPS] = MULTIPATH_ARRAY,
	[QKDN_W_MULTIPATH_KEYS] = MULTIPATH_ARRAY,
};

const struct qkdn_wire_nest_policy qkdn_wire_ck_route_nest = { route_attrs, QKDN_W_MAX };

static const struct qkdn_wire_attr_policy route_table_members[QKDN_W_MAX + 1] = {
	[QKDN_W_ROUTE] = { .type = QKDN_WT_NESTED, .nested = &qkdn_wire_ck_route_nest },
};

static const struct qkdn_wire_nest_policy route_table = { route_table_members, QKDN_W_MAX };

#define STATUS_TABLE(req) { .type = QKDN_WT_TABLE, .required = (req), .nested = &status_table }
#define ROUTE_TABLE(req) { .type = QKDN_WT_TABLE, .required = (req), .nested = &route_table }
#define REASON { .type = QKDN_WT_STRING, .max_len = QKDN_W_REASON_MAX }

static const struct qkdn_wire_attr_policy ck_status_cmd[QKDN_W_MAX + 1] = {
	[QKDN_W_PERIOD] = { .type = QKDN_WT_U32, .required = true, .max_val = QKDN_W_PERIOD_MAX },
	[QKDN_W_STATUS_PARAMS] = { .type = QKDN_WT_U32, .required = true,
				   .max_val = __QKDN_W_STATUS_ALL },
};

/* Success carries the state and table, failure a reason: the receiver
 * checks which by the response code. */
static const struct qkdn_wire_attr_policy ck_status_resp[QKDN_W_MAX + 1] = {
	[QKDN_W_REASON] = REASON,
	[QKDN_W_KM_STATE] = U8_RANGE(false, 1, QKDN_W_STATE_MAX),
	[QKDN_W_STATUS_TABLE] = STATUS_TABLE(false),
};

static const struct qkdn_wire_attr_policy ck_notify_cmd[QKDN_W_MAX + 1] = {
	[QKDN_W_EVENT] = { .type = QKDN_WT_U16, .required = true, .min_val = 1,
			   .max_val = QKDN_W_EVENT_MAX },
	[QKDN_W_PEER_NODE_ID] = NODE_ID(false),
	[QKDN_W_DEST_NODE_ID] = NODE_ID(false),
	[QKDN_W_KM_STATE] = U8_RANGE(false, 1, QKDN_W_STATE_MAX),
	[QKDN_W_STATUS_TABLE] = STATUS_TABLE(true),
	[QKDN_W_ROUTE_TABLE] = ROUTE_TABLE(false),
};

static const struct qkdn_wire_attr_policy ck_route_cmd[QKDN_W_MAX + 1] = {
	[QKDN_W_SOURCE_NODE_ID] = NODE_ID(true),
	[QKDN_W_DEST_NODE_ID] = NODE_ID(true),
	[QKDN_W_KEY_AMOUNT] = { .type = QKDN_WT_U64, .required = true },
	[QKDN_W_PRIORITY] = U8_RANGE(false, 0, QKDN_W_PRIORITY_MAX),
	[QKDN_W_TOLERANCE_MS] = { .type = QKDN_WT_U32 },
};

static const struct qkdn_wire_attr_policy ck_route_resp[QKDN_W_MAX + 1] = {
	[QKDN_W_REASON] = REASON,
	[QKDN_W_SESSION_ID] = { .type = QKDN_WT_U64 },
	[QKDN_W_ROUTE_TABLE] = ROUTE_TABLE(false),
};

static const struct qkdn_wire_attr_policy ck_route_push_cmd[QKDN_W_MAX + 1] = {
	[QKDN_W_ROUTE_TABLE] = ROUTE_TABLE(true),
};

static const struct qkdn_wire_attr_policy ck_crl_cmd[QKDN_W_MAX + 1] = {
	[QKDN_W_CRL] = { .type = QKDN_WT_BINARY, .required = true, .min_len = 1,
			 .max_len = QKDN_W_CRL_MAX },
};

static const struct qkdn_wire_cmd_policy ck_cmds[] = {
	[QKDN_W_CMD_KEEPALIVE] = { empty, NULL },
	[QKDN_W_CMD_CK_AUTH] = { ck_auth_cmd, plain_resp },
	[QKDN_W_CMD_CK_STATUS] = { ck_status_cmd, ck_status_resp },
	[QKDN_W_CMD_CK_NOTIFY] = { ck_notify_cmd, plain_resp },
	[QKDN_W_CMD_CK_ROUTE] = { ck_route_cmd, ck_route_resp },
	[QKDN_W_CMD_CK_ROUTE_PUSH] = { ck_route_push_cmd, plain_resp },
	[QKDN_W_CMD_CK_CRL] = { ck_crl_cmd, plain_resp },
};

const struct qkdn_wire_policy qkdn_wire_ck_policy = {
	.name = "ck",
	.cmds = ck_cmds,
	.max_cmd = QKDN_W_CMD_CK_CRL,
	.extra_sender_id = QKDN_W_CONTROLLER_ID,
};

/* qkdn-secd: SA policy. Multiples of QKDN_KEY_ID_LEN, an AN and SCI for
 * MACsec only, and reverse keys but for PPK, are checked by qkdn-secd. */

#define SA_KEY_IDS(req) { .type = QKDN_WT_BINARY, .required = (req), .min_len = QKDN_KEY_ID_LEN, \
			  .max_len = QKDN_W_SA_KEYS_MAX * QKDN_KEY_ID_LEN }
#define SA_KIND { .type = QKDN_WT_U8, .required = true, .min_val = 1, \
		  .max_val = QKDN_W_SA_KIND_MAX }
#define SA_GEN(req) { .type = QKDN_WT_U32, .required = (req), .min_val = 1, \
		      .max_val = UINT32_MAX }
#define SA_SPI { .type = QKDN_WT_U32, .min_val = QKDN_W_SA_SPI_MIN, .max_val = UINT32_MAX }

static const struct qkdn_wire_attr_policy sa_propose_cmd[QKDN_W_MAX + 1] = {
	[QKDN_W_SA_KIND] = SA_KIND,
	[QKDN_W_SA_GENERATION] = SA_GEN(true),
	[QKDN_W_SA_KEY_IDS_FWD] = SA_KEY_IDS(true),
	/* Not for PPK: qkdn-secd checks it is there for IPsec and MACsec. */
	[QKDN_W_SA_KEY_IDS_REV] = SA_KEY_IDS(false),
	[QKDN_W_SA_LIFETIME] = { .type = QKDN_WT_U32, .required = true, .min_val = 1,
				 .max_val = QKDN_W_TIMER_MAX },
	[QKDN_W_SA_AN] = { .type = QKDN_WT_U8, .min_val = 0, .max_val = 3 },
	[QKDN_W_SA_SCI] = { .type = QKDN_WT_U64 },
};

static const struct qkdn_wire_attr_policy sa_propose_resp[QKDN_W_MAX + 1] = {
	[QKDN_W_REASON] = { .type = QKDN_WT_STRING, .max_len = QKDN_W_REASON_MAX },
	[QKDN_W_SA_GENERATION] = SA_GEN(false),
	[QKDN_W_SA_SPI] = SA_SPI,
	[QKDN_W_SA_SCI] = { .type = QKDN_WT_U64 },
};

static const struct qkdn_wire_attr_policy sa_installed_cmd[QKDN_W_MAX + 1] = {
	[QKDN_W_SA_KIND] = SA_KIND,
	[QKDN_W_SA_GENERATION] = SA_GEN(true),
	[QKDN_W_SA_SPI] = SA_SPI,
};

static const struct qkdn_wire_attr_policy sa_installed_resp[QKDN_W_MAX + 1] = {
	[QKDN_W_REASON] = { .type = QKDN_WT_STRING, .max_len = QKDN_W_REASON_MAX },
	[QKDN_W_SA_GENERATION] = SA_GEN(false),
};

static const struct qkdn_wire_attr_policy sa_delete_cmd[QKDN_W_MAX + 1] = {
	[QKDN_W_SA_KIND] = SA_KIND,
	[QKDN_W_SA_GENERATION] = SA_GEN(true),
};

static const struct qkdn_wire_cmd_policy sa_cmds[] = {
	[QKDN_W_CMD_SA_PROPOSE] = { sa_propose_cmd, sa_propose_resp },
	[QKDN_W_CMD_SA_INSTALLED] = { sa_installed_cmd, sa_installed_resp },
	[QKDN_W_CMD_SA_DELETE] = { sa_delete_cmd, plain_resp },
};

const struct qkdn_wire_policy qkdn_wire_sa_policy = {
	.name = "sa",
	.cmds = sa_cmds,
	.max_cmd = QKDN_W_CMD_SA_DELETE,
};

/* qkdn-secd end */

/* qkdn-mgrd: management policy (Mk, Mq, Mc). Macros of the Ck policy are
 * reused; the ones below are this block's own. */

#define M_ID STR(QKDN_ID_MAXLEN)
#define M_DESC { .type = QKDN_WT_STRING, .max_len = QKDN_W_M_DESC_MAX }
#define M_U8(req, lo, hi) { .type = QKDN_WT_U8, .required = (req), .min_val = (lo), \
			    .max_val = (hi) }
#define M_U16(req, lo, hi) { .type = QKDN_WT_U16, .required = (req), .min_val = (lo), \
			     .max_val = (hi) }
#define M_U64(req) { .type = QKDN_WT_U64, .required = (req) }
/* What every notification carries. */
#define M_NOTIFY_COMMON \
	[QKDN_W_M_SEQ] = { .type = QKDN_WT_U64, .required = true, .min_val = 1, \
			   .max_val = UINT64_MAX }, \
	[QKDN_W_M_TIME_MS] = M_U64(true), \
	[QKDN_W_M_RESOURCE_ID] = M_ID, \
	[QKDN_W_M_RESOURCE_DESC] = M_DESC, \
	[QKDN_W_PRIORITY] = U8_RANGE(false, 0, QKDN_W_PRIORITY_MAX), \
	[QKDN_W_M_ORIGIN_AGENT] = { .type = QKDN_WT_STRING, .max_len = QKDN_ID_MAXLEN }, \
	[QKDN_W_M_ORIGIN_EVENT] = M_U64(false)

static const struct qkdn_wire_attr_policy m_auth_cmd[QKDN_W_MAX + 1] = {
	[QKDN_W_AUTH_INFO] = STR(QKDN_W_STR_MAX),
	[QKDN_W_SENDER_HOSTNAME] = STR(QKDN_ID_MAXLEN),
	[QKDN_W_M_AGENT_KIND] = M_U8(true, 1, QKDN_W_AGENT_MAX),
	[QKDN_W_M_EPOCH] = { .type = QKDN_WT_U64, .required = true, .min_val = 1,
			     .max_val = UINT64_MAX },
	[QKDN_W_M_REQUESTOR] = { .type = QKDN_WT_STRING, .max_len = QKDN_ID_MAXLEN },
};

static const struct qkdn_wire_attr_policy m_auth_resp[QKDN_W_MAX + 1] = {
	[QKDN_W_REASON] = REASON,
	[QKDN_W_M_SESSION] = M_U64(false),
	[QKDN_W_M_ACK_SEQ] = M_U64(false),
	[QKDN_W_M_RETRY_MS] = { .type = QKDN_WT_U32, .min_val = 1, .max_val = QKDN_W_M_RETRY_MAX },
};

static const struct qkdn_wire_attr_policy m_notify_resp[QKDN_W_MAX + 1] = {
	[QKDN_W_REASON] = REASON,
	[QKDN_W_M_SEQ] = M_U64(false),
	[QKDN_W_M_RETRY_MS] = { .type = QKDN_WT_U32, .min_val = 1, .max_val = QKDN_W_M_RETRY_MAX },
};

static const struct qkdn_wire_attr_policy m_alarm_cmd[QKDN_W_MAX + 1] = {
	M_NOTIFY_COMMON,
	[QKDN_W_M_ALARM_TYPE] = M_U16(true, 1, QKDN_W_ALARM_MAX),
	[QKDN_W_M_ALARM_ID] = M_U64(true),
	[QKDN_W_M_ALARM_SOURCE] = M_ID,
	[QKDN_W_M_SEVERITY] = M_U8(true, 0, QKDN_W_SEV_MAX),
	[QKDN_W_M_ALARM_VALUE] = M_U64(false),
	[QKDN_W_M_ALARM_DESC] = M_DESC,
	[QKDN_W_PEER_NODE_ID] = NODE_ID(false),
	[QKDN_W_DEST_NODE_ID] = NODE_ID(false),
};

static const struct qkdn_wire_attr_policy m_perf_cmd[QKDN_W_MAX + 1] = {
	M_NOTIFY_COMMON,
	[QKDN_W_M_PERF_TYPE] = M_U16(true, 1, QKDN_W_PERF_MAX),
	[QKDN_W_M_PERF_TARGET] = M_ID,
	[QKDN_W_M_PERF_VALUE] = M_U64(true),
	[QKDN_W_M_PERF_DESC] = M_DESC,
	[QKDN_W_PEER_NODE_ID] = NODE_ID(false),
};

static const struct qkdn_wire_attr_policy m_config_cmd[QKDN_W_MAX + 1] = {
	M_NOTIFY_COMMON,
	[QKDN_W_M_RESOURCE_KIND] = M_U8(true, 1, QKDN_W_RES_MAX),
	[QKDN_W_M_RESOURCE_STATE] = M_U8(true, 1, QKDN_W_STATE_MAX),
	[QKDN_W_PEER_NODE_ID] = NODE_ID(false),
	[QKDN_W_M_LINK_ID] = { .type = QKDN_WT_U32 },
	[QKDN_W_M_QKD_MODULE] = { .type = QKDN_WT_STRING, .max_len = QKDN_ID_MAXLEN },
	[QKDN_W_M_PEER_QKD_MODULE] = { .type = QKDN_WT_STRING, .max_len = QKDN_ID_MAXLEN },
	[QKDN_W_KEY_AMOUNT] = M_U64(false),
};

static const struct qkdn_wire_attr_policy m_account_cmd[QKDN_W_MAX + 1] = {
	M_NOTIFY_COMMON,
	[QKDN_W_M_APP_ID] = M_ID,
	[QKDN_W_M_KEY_COUNT] = M_U64(true),
	[QKDN_W_M_KEY_BITS] = M_U64(true),
	[QKDN_W_PEER_NODE_ID] = NODE_ID(false),
	[QKDN_W_DEST_NODE_ID] = NODE_ID(false),
};

static const struct qkdn_wire_attr_policy m_security_cmd[QKDN_W_MAX + 1] = {
	M_NOTIFY_COMMON,
	[QKDN_W_M_SEC_EVENT] = M_U16(true, 1, QKDN_W_SEC_MAX),
	[QKDN_W_M_ALARM_VALUE] = M_U64(false),
	[QKDN_W_M_ALARM_DESC] = M_DESC,
	[QKDN_W_PEER_NODE_ID] = NODE_ID(false),
};

static const struct qkdn_wire_attr_policy m_key_event_cmd[QKDN_W_MAX + 1] = {
	M_NOTIFY_COMMON,
	[QKDN_W_KEY_ID] = { .type = QKDN_WT_BINARY, .required = true, .min_len = QKDN_KEY_ID_LEN,
			    .max_len = QKDN_KEY_ID_LEN },
	[QKDN_W_M_KEY_EVENT] = M_U8(true, 1, QKDN_W_KEY_EVENT_MAX),
	[QKDN_W_SOURCE_NODE_ID] = NODE_ID(false),
	[QKDN_W_DEST_NODE_ID] = NODE_ID(false),
	[QKDN_W_NEXT_HOP_NODE_ID] = NODE_ID(false),
	[QKDN_W_PEER_NODE_ID] = NODE_ID(false),
	[QKDN_W_M_APP_ID] = { .type = QKDN_WT_STRING, .max_len = QKDN_ID_MAXLEN },
	[QKDN_W_M_KEY_BITS] = M_U64(false),
};

static const struct qkdn_wire_attr_policy m_resilience_cmd[QKDN_W_MAX + 1] = {
	M_NOTIFY_COMMON,
	[QKDN_W_M_RESIL_KIND] = M_U8(true, 1, QKDN_W_RESIL_KIND_MAX),
	[QKDN_W_M_RESIL_OP] = M_U8(true, 1, QKDN_W_RESIL_OP_MAX),
	[QKDN_W_M_WORKING] = M_ID,
	[QKDN_W_M_PROTECTION] = { .type = QKDN_WT_STRING, .max_len = QKDN_ID_MAXLEN },
	[QKDN_W_DEST_NODE_ID] = NODE_ID(false),
	[QKDN_W_SESSION_ID] = M_U64(false),
};

static const struct qkdn_wire_attr_policy m_diag_cmd[QKDN_W_MAX + 1] = {
	[QKDN_W_M_RESOURCE_ID] = M_ID,
};

static const struct qkdn_wire_attr_policy m_diag_resp[QKDN_W_MAX + 1] = {
	[QKDN_W_REASON] = REASON,
	[QKDN_W_M_RESOURCE_STATE] = M_U8(false, 1, QKDN_W_STATE_MAX),
	[QKDN_W_M_DIAG_INFO] = M_DESC,
};

static const struct qkdn_wire_attr_policy m_control_cmd[QKDN_W_MAX + 1] = {
	[QKDN_W_M_ACTION_TYPE] = M_U8(true, 1, QKDN_W_ACTION_MAX),
	[QKDN_W_PRIORITY] = U8_RANGE(true, 0, QKDN_W_PRIORITY_MAX),
	[QKDN_W_M_ACTION_VALUE] = STR(QKDN_W_M_DESC_MAX),
	[QKDN_W_M_RESOURCE_ID] = M_ID,
	[QKDN_W_M_ACTION_ID] = M_U64(true),
};

static const struct qkdn_wire_attr_policy m_support_cmd[QKDN_W_MAX + 1] = {
	[QKDN_W_M_RESOURCE_ID] = { .type = QKDN_WT_STRING, .max_len = QKDN_ID_MAXLEN },
};

static const struct qkdn_wire_attr_policy m_support_link[QKDN_W_MAX + 1] = {
	[QKDN_W_M_RESOURCE_ID] = M_ID,
	[QKDN_W_SOURCE_NODE_ID] = NODE_ID(true),
	[QKDN_W_PEER_NODE_ID] = NODE_ID(true),
	[QKDN_W_M_RESOURCE_STATE] = M_U8(true, 1, QKDN_W_STATE_MAX),
	[QKDN_W_M_ALARM_TYPE] = M_U16(false, 1, QKDN_W_ALARM_MAX),
	[QKDN_W_M_ALARM_DESC] = M_DESC,
	[QKDN_W_M_SEVERITY] = M_U8(false, 0, QKDN_W_SEV_MAX),
	[QKDN_W_GENERATION_RATE] = M_U64(false),
	[QKDN_W_QBER] = { .type = QKDN_WT_U32, .max_val = QKDN_W_QBER_MAX },
	[QKDN_W_KEY_AMOUNT] = M_U64(false),
};

const struct qkdn_wire_nest_policy qkdn_wire_m_support_link_nest = { m_support_link, QKDN_W_MAX };

static const struct qkdn_wire_attr_policy m_support_members[QKDN_W_MAX + 1] = {
	[QKDN_W_M_SUPPORT_LINK] = { .type = QKDN_WT_NESTED,
				    .nested = &qkdn_wire_m_support_link_nest },
};

static const struct qkdn_wire_nest_policy m_support_table = { m_support_members, QKDN_W_MAX };

static const struct qkdn_wire_attr_policy m_support_resp[QKDN_W_MAX + 1] = {
	[QKDN_W_REASON] = REASON,
	[QKDN_W_M_SUPPORT_TABLE] = { .type = QKDN_WT_TABLE, .nested = &m_support_table },
};

static const struct qkdn_wire_cmd_policy mgmt_cmds[] = {
	[QKDN_W_CMD_KEEPALIVE] = { empty, NULL },
	[QKDN_W_CMD_M_AUTH] = { m_auth_cmd, m_auth_resp },
	[QKDN_W_CMD_M_ALARM] = { m_alarm_cmd, m_notify_resp },
	[QKDN_W_CMD_M_PERF] = { m_perf_cmd, m_notify_resp },
	[QKDN_W_CMD_M_CONFIG] = { m_config_cmd, m_notify_resp },
	[QKDN_W_CMD_M_ACCOUNT] = { m_account_cmd, m_notify_resp },
	[QKDN_W_CMD_M_SECURITY] = { m_security_cmd, m_notify_resp },
	[QKDN_W_CMD_M_KEY_EVENT] = { m_key_event_cmd, m_notify_resp },
	[QKDN_W_CMD_M_RESILIENCE] = { m_resilience_cmd, m_notify_resp },
	[QKDN_W_CMD_M_DIAG] = { m_diag_cmd, m_diag_resp },
	[QKDN_W_CMD_M_CONTROL] = { m_control_cmd, plain_resp },
	[QKDN_W_CMD_M_SUPPORT] = { m_support_cmd, m_support_resp },
};

const struct qkdn_wire_policy qkdn_wire_mgmt_policy = {
	.name = "mgmt",
	.cmds = mgmt_cmds,
	.max_cmd = QKDN_W_CMD_M_SUPPORT,
	.extra_sender_id = QKDN_W_CONTROLLER_ID,
};

/* qkdn-mgrd end */

/* Message IDs */

uint64_t qkdn_wire_next_msg_id(void)
{
	static uint64_t next;
	static bool seeded;

	if (!seeded) {
		/* Random start, so IDs of a restarted process do not repeat
		 * the previous run's; only uniqueness matters, not secrecy. */
		if (getrandom(&next, sizeof(next), GRND_NONBLOCK) != sizeof(next))
			next = (uint64_t)time(NULL) << 20;
		next &= (1ULL << 62) - 1;	/* far from wrapping */
		seeded = true;
	}
	return ++next;
}

/* Builder */

static bool reserve(struct qkdn_wire_msg *m, size_t more)
{
	size_t need, cap;
	unsigned char *p;

	if (m->err)
		return false;
	if (more > QKDN_WIRE_LEN_SIZE + QKDN_WIRE_BODY_MAX ||
	    m->len + more > QKDN_WIRE_LEN_SIZE + QKDN_WIRE_BODY_MAX) {
		m->err = -EMSGSIZE;
		return false;
	}
	need = m->len + more;
	if (need <= m->cap)
		return true;
	cap = m->cap ? m->cap : 256;
	while (cap < need)
		cap *= 2;
	p = realloc(m->buf, cap);
	if (!p) {
		m->err = -ENOMEM;
		return false;
	}
	memset(p + m->cap, 0, cap - m->cap);
	m->buf = p;
	m->cap = cap;
	return true;
}

static void put(struct qkdn_wire_msg *m, uint16_t type, const void *p, size_t len)
{
	struct nlattr *a;
	size_t total = MNL_ALIGN(MNL_ATTR_HDRLEN + len);

	if (len > ATTR_PAYLOAD_MAX) {
		if (!m->err)
			m->err = -EMSGSIZE;
		return;
	}
	if (!reserve(m, total))
		return;
	a = (struct nlattr *)(m->buf + m->len);
	a->nla_len = (uint16_t)(MNL_ATTR_HDRLEN + len);
	a->nla_type = type;
	if (len)
		memcpy(a + 1, p, len);
	memset(m->buf + m->len + MNL_ATTR_HDRLEN + len, 0, total - MNL_ATTR_HDRLEN - len);
	m->len += total;
}

void qkdn_wire_put_u8(struct qkdn_wire_msg *m, uint16_t type, uint8_t v)
{
	put(m, type, &v, sizeof(v));
}

void qkdn_wire_put_u16(struct qkdn_wire_msg *m, uint16_t type, uint16_t v)
{
	put(m, type, &v, sizeof(v));
}

void qkdn_wire_put_u32(struct qkdn_wire_msg *m, uint16_t type, uint32_t v)
{
	put(m, type, &v, sizeof(v));
}

void qkdn_wire_put_u64(struct qkdn_wire_msg *m, uint16_t type, uint64_t v)
{
	put(m, type, &v, sizeof(v));
}

void qkdn_wire_put_str(struct qkdn_wire_msg *m, uint16_t type, const char *s)
{
	put(m, type, s, strlen(s) + 1);
}

void qkdn_wire_put_bin(struct qkdn_wire_msg *m, uint16_t type, const void *p, size_t len)
{
	put(m, type, p, len);
}

long qkdn_wire_nest_start(struct qkdn_wire_msg *m, uint16_t type)
{
	size_t start = m->len;

	put(m, type | NLA_F_NESTED, NULL, 0);
	return m->err ? -1 : (long)start;
}

void qkdn_wire_nest_end(struct qkdn_wire_msg *m, long nest)
{
	struct nlattr *a;
	size_t len;

	if (nest < 0 || m->err)
		return;
	len = m->len - (size_t)nest;
	if (len > UINT16_MAX) {
		m->err = -EMSGSIZE;
		return;
	}
	a = (struct nlattr *)(m->buf + nest);
	a->nla_len = (uint16_t)len;
}

struct qkdn_wire_msg *qkdn_wire_msg_new(uint16_t cmd, uint32_t sender)
{
	struct qkdn_wire_msg *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->len = QKDN_WIRE_LEN_SIZE;
	if (!reserve(m, 0)) {
		free(m);
		return NULL;
	}
	m->msg_id = qkdn_wire_next_msg_id();
	qkdn_wire_put_u64(m, QKDN_W_MSG_ID, m->msg_id);
	qkdn_wire_put_u16(m, QKDN_W_CMD, cmd);
	qkdn_wire_put_u32(m, QKDN_W_SENDER_ID, sender);
	if (m->err) {
		qkdn_wire_msg_free(m);
		return NULL;
	}
	return m;
}

struct qkdn_wire_msg *qkdn_wire_response_new(uint16_t cmd, uint32_t sender,
					     uint64_t orig_msg_id, uint16_t code)
{
	struct qkdn_wire_msg *m = qkdn_wire_msg_new(cmd, sender);

	if (!m)
		return NULL;
	qkdn_wire_put_u64(m, QKDN_W_ORIG_MSG_ID, orig_msg_id);
	qkdn_wire_put_u16(m, QKDN_W_RESPONSE_CODE, code);
	return m;
}

void qkdn_wire_msg_free(struct qkdn_wire_msg *m)
{
	if (!m)
		return;
	free(m->buf);
	free(m);
}

uint64_t qkdn_wire_msg_id(const struct qkdn_wire_msg *m)
{
	return m->msg_id;
}

int qkdn_wire_msg_finish(struct qkdn_wire_msg *m, const void **bytes, size_t *len)
{
	uint32_t body;

	if (m->err)
		return m->err;
	body = (uint32_t)(m->len - QKDN_WIRE_LEN_SIZE);
	m->buf[0] = (unsigned char)(body >> 24);
	m->buf[1] = (unsigned char)(body >> 16);
	m->buf[2] = (unsigned char)(body >> 8);
	m->buf[3] = (unsigned char)body;
	*bytes = m->buf;
	*len = m->len;
	return 0;
}

/* Parser */

int qkdn_wire_frame_body_len(const void *prefix, uint32_t *body_len)
{
	const unsigned char *p = prefix;
	uint32_t n = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];

	if (n > QKDN_WIRE_BODY_MAX)
		return -EMSGSIZE;
	*body_len = n;
	return 0;
}

__attribute__((format(printf, 3, 4)))
static int fail(char *err, size_t err_len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, err_len, fmt, ap);
	va_end(ap);
	return -EPROTO;
}

static const char *type_name(enum qkdn_wire_type t)
{
	switch (t) {
	case QKDN_WT_U8: return "u8";
	case QKDN_WT_U16: return "u16";
	case QKDN_WT_U32: return "u32";
	case QKDN_WT_U64: return "u64";
	case QKDN_WT_STRING: return "string";
	case QKDN_WT_BINARY: return "binary";
	case QKDN_WT_NESTED: return "nest";
	case QKDN_WT_TABLE: return "table";
	case QKDN_WT_U32_ARRAY: return "u32 array";
	default: return "?";
	}
}

static int validate_attr(const struct nlattr *a, const struct qkdn_wire_attr_policy *p,
			 const char *name, char *err, size_t err_len);

enum {
	WALK_NESTED = 1,	/* inside a nest: members are named "nested" */
	WALK_REPEATS = 2,	/* a table: members may repeat */
	WALK_SKIP_UNKNOWN = 4,	/* skip what attrs does not know (layout still checked) */
};

/*
 * Walks the attributes in [start, start + len), checking the TLV layout
 * and each attribute against attrs[0..max] (common items of a message
 * against common[] instead, if common is not NULL). Fills tb.
 */
static int walk(const unsigned char *start, size_t len,
		const struct qkdn_wire_attr_policy *attrs, unsigned int max,
		const struct qkdn_wire_attr_policy *common, unsigned int common_max,
		const struct nlattr **tb, unsigned int flags, const char *ctx,
		char *err, size_t err_len)
{
	bool nested_ctx = flags & WALK_NESTED;
	size_t off = 0;

	while (off < len) {
		const struct nlattr *a = (const struct nlattr *)(start + off);
		const struct qkdn_wire_attr_policy *p = NULL;
		uint16_t type, raw;
		const char *an;
		int ret;

		if (len - off < MNL_ATTR_HDRLEN) {
			snprintf(err, err_len, "truncated attribute header at offset %zu%s",
				 off, nested_ctx ? " in a nest" : "");
			return -EBADMSG;
		}
		if (a->nla_len < MNL_ATTR_HDRLEN || a->nla_len > len - off) {
			snprintf(err, err_len,
				 "attribute at offset %zu%s claims %u bytes, %zu left",
				 off, nested_ctx ? " in a nest" : "", a->nla_len, len - off);
			return -EBADMSG;
		}
		raw = a->nla_type;
		type = raw & NLA_TYPE_MASK;
		an = nested_ctx ? "nested" : qkdn_wire_attr_name(type);
		if (common && type <= common_max && common[type].type != QKDN_WT_UNSPEC)
			p = &common[type];
		else if (type <= max && attrs[type].type != QKDN_WT_UNSPEC)
			p = &attrs[type];
		if (!p && (flags & WALK_SKIP_UNKNOWN)) {
			off += MNL_ALIGN(a->nla_len);
			if (off > len) {
				snprintf(err, err_len, "attribute %u (%s) lacks its padding", type,
					 an);
				return -EBADMSG;
			}
			continue;
		}
		if (!p)
			return fail(err, err_len, "attribute %u (%s) not allowed in %s", type, an,
				    ctx);
		if ((raw & NLA_F_NET_BYTEORDER) ||
		    !!(raw & NLA_F_NESTED) !=
		    (p->type == QKDN_WT_NESTED || p->type == QKDN_WT_TABLE))
			return fail(err, err_len, "attribute %u (%s) has wrong flags 0x%x", type,
				    an, raw & ~NLA_TYPE_MASK);
		if (tb[type] && !(flags & WALK_REPEATS))
			return fail(err, err_len, "attribute %u (%s) appears twice", type, an);
		ret = validate_attr(a, p, an, err, err_len);
		if (ret)
			return ret;
		tb[type] = a;
		off += MNL_ALIGN(a->nla_len);
		if (off > len) {
			/* The last attribute's padding is missing. */
			snprintf(err, err_len, "attribute %u (%s) lacks its padding", type, an);
			return -EBADMSG;
		}
	}
	return 0;
}

static int check_required(const struct qkdn_wire_attr_policy *attrs, unsigned int max,
			  const struct nlattr **tb, const char *what, char *err, size_t err_len)
{
	for (unsigned int t = 0; t <= max; t++)
		if (attrs[t].required && !tb[t])
			return fail(err, err_len, "%s: required attribute %u (%s) missing",
				    what, t, strcmp(what, "nest") ? qkdn_wire_attr_name((uint16_t)t)
								  : "nested");
	return 0;
}

static int validate_attr(const struct nlattr *a, const struct qkdn_wire_attr_policy *p,
			 const char *name, char *err, size_t err_len)
{
	uint16_t type = a->nla_type & NLA_TYPE_MASK;
	size_t len = mnl_attr_get_payload_len(a);
	const char *s = mnl_attr_get_payload(a);
	size_t want = 0, max = p->max_len ? p->max_len : ATTR_PAYLOAD_MAX;

	switch (p->type) {
	case QKDN_WT_U8: want = 1; break;
	case QKDN_WT_U16: want = 2; break;
	case QKDN_WT_U32: want = 4; break;
	case QKDN_WT_U64: want = 8; break;
	case QKDN_WT_STRING:
		if (len < 2 || len > max)
			return fail(err, err_len,
				    "attribute %u (%s): string of %zu bytes, want 2..%zu with the NUL",
				    type, name, len, max);
		if (s[len - 1] != '\0' || memchr(s, '\0', len - 1))
			return fail(err, err_len,
				    "attribute %u (%s): string not NUL-terminated or with an inner NUL",
				    type, name);
		return 0;
	case QKDN_WT_BINARY:
		if (len < p->min_len || len > max) {
			if (p->min_len == max)
				return fail(err, err_len,
					    "attribute %u (%s): %zu bytes, want exactly %zu",
					    type, name, len, max);
			return fail(err, err_len, "attribute %u (%s): %zu bytes, want %u..%zu",
				    type, name, len, p->min_len, max);
		}
		return 0;
	case QKDN_WT_U32_ARRAY:
		if (len % 4 || len < p->min_len || len > max)
			return fail(err, err_len,
				    "attribute %u (%s): %zu bytes, want %u..%zu in steps of 4",
				    type, name, len, p->min_len, max);
		return 0;
	case QKDN_WT_TABLE:
	case QKDN_WT_NESTED: {
		const struct qkdn_wire_nest_policy *np = p->nested;
		bool table = p->type == QKDN_WT_TABLE;
		const struct nlattr **ntb;
		int ret;

		if (!np)
			return fail(err, err_len, "attribute %u (%s): nest without a policy",
				    type, name);
		ntb = calloc(np->max + 1, sizeof(*ntb));
		if (!ntb) {
			snprintf(err, err_len, "out of memory");
			return -ENOMEM;
		}
		ret = walk((const unsigned char *)mnl_attr_get_payload(a), len, np->attrs, np->max,
			   NULL, 0, ntb, WALK_NESTED | (table ? WALK_REPEATS : 0),
			   table ? "a table" : "a nest", err, err_len);
		if (!ret && !table)
			ret = check_required(np->attrs, np->max, ntb, "nest", err, err_len);
		free(ntb);
		return ret;
	}
	default:
		return fail(err, err_len, "attribute %u (%s): bad policy", type, name);
	}
	if (len != want)
		return fail(err, err_len, "attribute %u (%s): %zu bytes, want %s (%zu)", type,
			    name, len, type_name(p->type), want);
	if (p->min_val || p->max_val) {
		uint64_t v = want == 1 ? mnl_attr_get_u8(a) : want == 2 ? mnl_attr_get_u16(a) :
			     want == 4 ? mnl_attr_get_u32(a) : mnl_attr_get_u64(a);

		if (v < p->min_val || v > p->max_val)
			return fail(err, err_len,
				    "attribute %u (%s): %llu out of range %llu..%llu", type, name,
				    (unsigned long long)v, (unsigned long long)p->min_val,
				    (unsigned long long)p->max_val);
	}
	return 0;
}

static const struct qkdn_wire_attr_policy common_policy[QKDN_W_REASON] = {
	[QKDN_W_MSG_ID] = { .type = QKDN_WT_U64, .required = true },
	[QKDN_W_CMD] = { .type = QKDN_WT_U16, .required = true },
	[QKDN_W_SENDER_ID] = { .type = QKDN_WT_U32, .required = true },
	[QKDN_W_ORIG_MSG_ID] = { .type = QKDN_WT_U64 },
	[QKDN_W_RESPONSE_CODE] = { .type = QKDN_WT_U16 },
};

#define COMMON_MAX (QKDN_W_REASON - 1)

/* The first CMD attribute and whether ORIG_MSG_ID is there, before the
 * strict walk, which needs to know the command's table. Stops quietly at
 * a malformed attribute: the walk reports it. */
static void scan(const unsigned char *body, size_t len, const struct nlattr **cmd, bool *response)
{
	size_t off = 0;

	*cmd = NULL;
	*response = false;
	while (len - off >= MNL_ATTR_HDRLEN) {
		const struct nlattr *a = (const struct nlattr *)(body + off);

		if (a->nla_len < MNL_ATTR_HDRLEN || a->nla_len > len - off)
			return;
		if (a->nla_type == QKDN_W_CMD && !*cmd)
			*cmd = a;
		if (a->nla_type == QKDN_W_ORIG_MSG_ID)
			*response = true;
		off += MNL_ALIGN(a->nla_len);
		if (off > len)
			return;
	}
}

/* The length prefix and alignment of a framed message. */
static int frame_check(const void *buf, size_t len, struct qkdn_wire_hdr *hdr, uint32_t *body_len)
{
	char *err = hdr->error;
	size_t err_len = sizeof(hdr->error);

	if ((uintptr_t)buf % 4) {
		snprintf(err, err_len, "message buffer not 4-byte aligned");
		return -EINVAL;
	}
	if (len < QKDN_WIRE_LEN_SIZE) {
		snprintf(err, err_len, "truncated: %zu bytes, no length prefix", len);
		return -EBADMSG;
	}
	if (qkdn_wire_frame_body_len(buf, body_len) < 0) {
		snprintf(err, err_len, "body over the %u-byte limit", QKDN_WIRE_BODY_MAX);
		return -EMSGSIZE;
	}
	if (len - QKDN_WIRE_LEN_SIZE != *body_len) {
		snprintf(err, err_len, "length prefix says %u bytes, %zu follow: %s", *body_len,
			 len - QKDN_WIRE_LEN_SIZE,
			 len - QKDN_WIRE_LEN_SIZE < *body_len ? "truncated" : "trailing bytes");
		return -EBADMSG;
	}
	return 0;
}

int qkdn_wire_parse_common(const void *buf, size_t len, struct qkdn_wire_hdr *hdr)
{
	const unsigned char *body = (const unsigned char *)buf + QKDN_WIRE_LEN_SIZE;
	const struct nlattr *tb[QKDN_W_MAX + 1] = { 0 };
	uint32_t body_len;
	int ret;

	memset(hdr, 0, sizeof(*hdr));
	ret = frame_check(buf, len, hdr, &body_len);
	if (!ret)
		ret = walk(body, body_len, empty, QKDN_W_MAX, common_policy, COMMON_MAX, tb,
			   WALK_SKIP_UNKNOWN, "a message", hdr->error, sizeof(hdr->error));
	if (!ret)
		ret = check_required(common_policy, COMMON_MAX, tb, "message", hdr->error,
				     sizeof(hdr->error));
	if (ret)
		return ret;
	hdr->msg_id = mnl_attr_get_u64(tb[QKDN_W_MSG_ID]);
	hdr->cmd = mnl_attr_get_u16(tb[QKDN_W_CMD]);
	hdr->sender_id = mnl_attr_get_u32(tb[QKDN_W_SENDER_ID]);
	hdr->is_response = tb[QKDN_W_ORIG_MSG_ID];
	return 0;
}

int qkdn_wire_parse(const void *buf, size_t len, const struct qkdn_wire_policy *policy,
		    const struct nlattr *tb[QKDN_W_MAX + 1], struct qkdn_wire_hdr *hdr)
{
	const unsigned char *body = (const unsigned char *)buf + QKDN_WIRE_LEN_SIZE;
	const struct qkdn_wire_attr_policy *attrs;
	const struct qkdn_wire_cmd_policy *cp = NULL;
	const struct nlattr *cmd_attr;
	char *err = hdr->error;
	size_t err_len = sizeof(hdr->error);
	uint32_t body_len;
	bool response;
	int ret;

	memset(hdr, 0, sizeof(*hdr));
	memset(tb, 0, sizeof(tb[0]) * (QKDN_W_MAX + 1));
	ret = frame_check(buf, len, hdr, &body_len);
	if (ret)
		return ret;
	scan(body, body_len, &cmd_attr, &response);
	if (cmd_attr && mnl_attr_get_payload_len(cmd_attr) == sizeof(uint16_t)) {
		hdr->cmd = mnl_attr_get_u16(cmd_attr);
		if (hdr->cmd <= policy->max_cmd && policy->cmds[hdr->cmd].command)
			cp = &policy->cmds[hdr->cmd];
	}
	if (cp && response && !cp->response)
		return fail(err, err_len, "%s has no response, but ORIG_MSG_ID is there",
			    qkdn_wire_cmd_name(hdr->cmd));
	attrs = !cp ? empty : response ? cp->response : cp->command;
	/* Without a known command only the common items can be judged: the
	 * rest is skipped so that the answer is "not part of protocol". */
	ret = walk(body, body_len, attrs, QKDN_W_MAX, common_policy, COMMON_MAX, tb,
		   cp ? 0 : WALK_SKIP_UNKNOWN, !cp ? "a message" : response ? "a response" : qkdn_wire_cmd_name(hdr->cmd),
		   err, err_len);
	if (ret)
		return ret;
	ret = check_required(common_policy, COMMON_MAX, tb, "message", err, err_len);
	if (ret)
		return ret;
	hdr->msg_id = mnl_attr_get_u64(tb[QKDN_W_MSG_ID]);
	hdr->sender_id = mnl_attr_get_u32(tb[QKDN_W_SENDER_ID]);
	if (!cp) {
		snprintf(err, err_len, "command %u (%s) not part of protocol %s", hdr->cmd,
			 qkdn_wire_cmd_name(hdr->cmd), policy->name);
		return -EOPNOTSUPP;
	}
	if ((hdr->sender_id == 0 || hdr->sender_id > QKDN_NODE_ID_MAX) &&
	    (!policy->extra_sender_id || hdr->sender_id != policy->extra_sender_id))
		return fail(err, err_len, "sender ID %u out of range", hdr->sender_id);
	if (!!tb[QKDN_W_ORIG_MSG_ID] != !!tb[QKDN_W_RESPONSE_CODE])
		return fail(err, err_len, "a response needs both ORIG_MSG_ID and RESPONSE_CODE");
	hdr->is_response = response;
	if (response) {
		hdr->orig_msg_id = mnl_attr_get_u64(tb[QKDN_W_ORIG_MSG_ID]);
		hdr->response_code = mnl_attr_get_u16(tb[QKDN_W_RESPONSE_CODE]);
		if (hdr->response_code == QKDN_W_RESP_UNSPEC ||
		    hdr->response_code > QKDN_W_RESP_MAX)
			return fail(err, err_len, "response code %u unknown", hdr->response_code);
	}
	return check_required(attrs, QKDN_W_MAX, tb, qkdn_wire_cmd_name(hdr->cmd), err, err_len);
}

int qkdn_wire_parse_nested(const struct nlattr *nest, const struct qkdn_wire_nest_policy *nested,
			   const struct nlattr **tb_out, char *err, size_t err_len)
{
	int ret;

	memset(tb_out, 0, sizeof(tb_out[0]) * (nested->max + 1));
	ret = walk((const unsigned char *)mnl_attr_get_payload(nest),
		   mnl_attr_get_payload_len(nest), nested->attrs, nested->max, NULL, 0, tb_out,
		   WALK_NESTED, "a nest", err, err_len);
	if (ret)
		return ret;
	return check_required(nested->attrs, nested->max, tb_out, "nest", err, err_len);
}
