#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR MIT
"""A raw management client, for what lib/mgmt.c never sends: malformed and
unauthenticated messages. Prints one line per case, "CASE: RESULT".

  mgrd_raw.py PORT DIR

DIR holds the test PKI of lib-mgrd.sh."""
import struct, sys
from mgrd_wire import CMD, ATTR, u8, u16, u64, s, msg, recv, reason, case
import mgrd_wire

port, d = int(sys.argv[1]), sys.argv[2]

def connect(name, ca="ca.crt"):
    return mgrd_wire.connect(port, d, name, ca)

def auth_body(cn="qkdn-node-1", kind=1):
    return s("QKDN_W_AUTH_INFO", cn) + s("QKDN_W_SENDER_HOSTNAME", "raw") + \
        u8("QKDN_W_M_AGENT_KIND", kind) + u64("QKDN_W_M_EPOCH", 777)

def alarm_body(seq, omit=None):
    parts = [("QKDN_W_M_SEQ", u64("QKDN_W_M_SEQ", seq)),
             ("QKDN_W_M_TIME_MS", u64("QKDN_W_M_TIME_MS", 1)),
             ("QKDN_W_M_RESOURCE_ID", s("QKDN_W_M_RESOURCE_ID", "raw-resource")),
             ("QKDN_W_M_ALARM_TYPE", u16("QKDN_W_M_ALARM_TYPE", 1)),
             ("QKDN_W_M_ALARM_ID", u64("QKDN_W_M_ALARM_ID", 1)),
             ("QKDN_W_M_ALARM_SOURCE", s("QKDN_W_M_ALARM_SOURCE", "raw")),
             ("QKDN_W_M_SEVERITY", u8("QKDN_W_M_SEVERITY", 4))]
    return b"".join(p for n, p in parts if n != omit)

def before_auth():
    c = connect("node-1")
    c.sendall(msg("QKDN_W_CMD_M_ALARM", 1, alarm_body(1)))
    return reason(recv(c))

def missing_attr():
    c = connect("node-1")
    c.sendall(msg("QKDN_W_CMD_M_AUTH", 1, auth_body()))
    recv(c)
    c.sendall(msg("QKDN_W_CMD_M_ALARM", 1, alarm_body(1, omit="QKDN_W_M_SEVERITY")))
    return reason(recv(c))

def bad_length():
    c = connect("node-1")
    c.sendall(msg("QKDN_W_CMD_M_AUTH", 1, auth_body()))
    recv(c)
    m = bytearray(msg("QKDN_W_CMD_M_ALARM", 1, alarm_body(1)))
    m[4] = m[5] = 0xff  # the first attribute claims more than there is
    c.sendall(bytes(m))
    return reason(recv(c))

def wrong_cn_claim():
    c = connect("node-1")
    c.sendall(msg("QKDN_W_CMD_M_AUTH", 1, auth_body(cn="qkdn-node-2")))
    return reason(recv(c))

def wrong_sender():
    c = connect("node-1")
    c.sendall(msg("QKDN_W_CMD_M_AUTH", 2, auth_body()))
    return reason(recv(c))

def no_agent_cn():
    c = connect("someone")
    c.sendall(msg("QKDN_W_CMD_M_AUTH", 1, auth_body()))
    return reason(recv(c))

def foreign_ca():
    c = connect("rogue")
    c.sendall(msg("QKDN_W_CMD_M_AUTH", 1, auth_body()))
    return reason(recv(c))

def oversize():
    c = connect("node-1")
    c.sendall(struct.pack(">I", 1 << 30))
    return reason(recv(c))

case("before-auth", before_auth)
case("missing-attr", missing_attr)
case("bad-length", bad_length)
case("wrong-cn-claim", wrong_cn_claim)
case("wrong-sender", wrong_sender)
case("no-agent-cn", no_agent_cn)
case("foreign-ca", foreign_ca)
case("oversize", oversize)
