#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR MIT
"""Raw Mx cases for mgrd_mx.sh, what lib/mgmt.c and mx.c never send: the
origin attributes from an agent, Mx notifications without an origin or with
a manager as origin, a manager certificate claiming an agent's kind. One
line per case, "CASE: RESULT".

  mgrd_mx_raw.py PORT DIR     (DIR: the PKI of mgrd_mx.sh)"""
import sys
from mgrd_wire import KIND, u8, u16, u64, s, msg, recv, reason, case
import mgrd_wire

port, d = int(sys.argv[1]), sys.argv[2]
mgrd_wire.first_msg_id(5000)

def connect(name):
    return mgrd_wire.connect(port, d, name)

def auth(c, cn, kind, sender, epoch):
    c.sendall(msg("QKDN_W_CMD_M_AUTH", sender, s("QKDN_W_AUTH_INFO", cn) +
                  s("QKDN_W_SENDER_HOSTNAME", "raw") + u8("QKDN_W_M_AGENT_KIND", KIND[kind]) +
                  u64("QKDN_W_M_EPOCH", epoch)))
    return reason(recv(c))

def alarm(seq, origin=None):
    b = u64("QKDN_W_M_SEQ", seq) + u64("QKDN_W_M_TIME_MS", 1) + \
        s("QKDN_W_M_RESOURCE_ID", "raw-mx") + u16("QKDN_W_M_ALARM_TYPE", 1) + \
        u64("QKDN_W_M_ALARM_ID", 1) + s("QKDN_W_M_ALARM_SOURCE", "raw") + \
        u8("QKDN_W_M_SEVERITY", 4)
    if origin:
        b += s("QKDN_W_M_ORIGIN_AGENT", origin)
    return b

def origin_from_agent():
    c = connect("node-2")
    auth(c, "qkdn-node-2", "QKDN_W_AGENT_KM", 2, 991)
    c.sendall(msg("QKDN_W_CMD_M_ALARM", 2, alarm(1, origin="qkdn-node-1")))
    return reason(recv(c))

def mx_without_origin():
    c = connect("mx-a")
    auth(c, "qkdn-mgr-mgr-a", "QKDN_W_AGENT_MGR", 7, 992)
    c.sendall(msg("QKDN_W_CMD_M_ALARM", 7, alarm(1)))
    return reason(recv(c))

def mx_origin_manager():
    c = connect("mx-a")
    auth(c, "qkdn-mgr-mgr-a", "QKDN_W_AGENT_MGR", 7, 993)
    c.sendall(msg("QKDN_W_CMD_M_ALARM", 7, alarm(1, origin="qkdn-mgr-mgr-x")))
    return reason(recv(c))

def mx_kind_mismatch():
    c = connect("mx-a")
    return auth(c, "qkdn-mgr-mgr-a", "QKDN_W_AGENT_KM", 7, 994)

case("origin-from-agent", origin_from_agent)
case("mx-without-origin", mx_without_origin)
case("mx-origin-manager", mx_origin_manager)
case("mx-kind-mismatch", mx_kind_mismatch)
