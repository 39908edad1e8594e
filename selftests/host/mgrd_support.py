#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR MIT
"""M_SUPPORT (seed 001 10.7) as the controller and as a KM would send it.
Prints one line per case, "CASE: RESULT".

  mgrd_support.py PORT DIR CASE...

CASE: link (km-link-1-2), all (no resource), bogus (a resource of no
form), km (sent by qkdn-node-1). DIR holds the test PKI of lib-mgrd.sh."""
import socket, ssl, struct, sys
from mgrd_wire import CMD, ATTR, u8, u64, s, msg, parse, recv, text
import mgrd_wire

port, d = int(sys.argv[1]), sys.argv[2]
mgrd_wire.first_msg_id(5000)
CONTROLLER_ID = 0xffffffff

def connect(name, cn, kind, sender):
    sock = mgrd_wire.connect(port, d, name)
    sock.sendall(msg("QKDN_W_CMD_M_AUTH", sender,
                     s("QKDN_W_AUTH_INFO", cn) + s("QKDN_W_SENDER_HOSTNAME", "raw") +
                     u8("QKDN_W_M_AGENT_KIND", kind) + u64("QKDN_W_M_EPOCH", 4242)))
    recv(sock)
    return sock

def support(sock, sender, resource):
    body = s("QKDN_W_M_RESOURCE_ID", resource) if resource else b""
    sock.sendall(msg("QKDN_W_CMD_M_SUPPORT", sender, body))
    while True:
        # The manager's queued decisions (M_CONTROL) may come first.
        r = recv(sock)
        if r is None:
            return "closed"
        if ATTR["QKDN_W_RESPONSE_CODE"] in r and \
           struct.unpack("<H", r[ATTR["QKDN_W_CMD"]])[0] == CMD["QKDN_W_CMD_M_SUPPORT"]:
            break
    code = struct.unpack("<H", r[ATTR["QKDN_W_RESPONSE_CODE"]])[0]
    if code != 1:
        return "failure: " + text(r.get(ATTR["QKDN_W_REASON"], b""))
    links = []
    for t, nest in parse(r.get(ATTR["QKDN_W_M_SUPPORT_TABLE"], b""), multi=True):
        a = parse(nest)
        one = "%s state=%d" % (text(a[ATTR["QKDN_W_M_RESOURCE_ID"]]),
                               a[ATTR["QKDN_W_M_RESOURCE_STATE"]][0])
        if ATTR["QKDN_W_M_ALARM_TYPE"] in a:
            one += " alarm=%d" % struct.unpack("<H", a[ATTR["QKDN_W_M_ALARM_TYPE"]][:2])[0]
        if ATTR["QKDN_W_GENERATION_RATE"] in a:
            one += " rate=%d" % struct.unpack("<Q", a[ATTR["QKDN_W_GENERATION_RATE"]])[0]
        if ATTR["QKDN_W_M_ALARM_DESC"] in a:
            one += " cause=" + text(a[ATTR["QKDN_W_M_ALARM_DESC"]])
        links.append(one)
    return "success: " + " | ".join(links)

for case in sys.argv[3:]:
    try:
        if case == "km":
            c = connect("node-1", "qkdn-node-1", 1, 1)
            print("km: " + support(c, 1, "km-link-1-2"))
            continue
        c = connect("ctl", "qkdn-ctl", 3, CONTROLLER_ID)
        res = {"link": "km-link-1-2", "all": None, "bogus": "link-1-2", "route": "route-1-3"}[case]
        print("%s: %s" % (case, support(c, CONTROLLER_ID, res)))
    except (ssl.SSLError, ConnectionError, socket.timeout, OSError) as e:
        print("%s: %s" % (case, type(e).__name__))
