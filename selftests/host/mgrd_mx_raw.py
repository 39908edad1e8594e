#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR MIT
"""Raw Mx cases for mgrd_mx.sh, what lib/mgmt.c and mx.c never send: the
origin attributes from an agent, Mx notifications without an origin or with
a manager as origin, a manager certificate claiming an agent's kind. One
line per case, "CASE: RESULT".

  mgrd_mx_raw.py PORT DIR     (DIR: the PKI of mgrd_mx.sh)"""
import os, socket, ssl, struct, sys

port, d = int(sys.argv[1]), sys.argv[2]
src = open(os.path.join(os.path.dirname(__file__), "../../userspace/lib/wire.h")).read()
def enum(name):
    body = src[src.index("enum %s {" % name):]
    body = body[:body.index("};")]
    names = [l.strip().split(",")[0].strip() for l in body.splitlines()[1:]
             if l.strip() and not l.strip().startswith("/*")]
    return {n: i for i, n in enumerate(names)}
CMD = enum("qkdn_wire_cmd")
ATTR = enum("qkdn_wire_attr")
KIND = enum("qkdn_wire_agent_kind")

def attr(t, payload):
    n = 4 + len(payload)
    return struct.pack("<HH", n, ATTR[t]) + payload + b"\0" * ((4 - n % 4) % 4)
def u8(t, v): return attr(t, struct.pack("<B", v))
def u16(t, v): return attr(t, struct.pack("<H", v))
def u32(t, v): return attr(t, struct.pack("<I", v))
def u64(t, v): return attr(t, struct.pack("<Q", v))
def s(t, v): return attr(t, v.encode() + b"\0")
def msg(cmd, sender, body, msg_id=[5000]):
    msg_id[0] += 1
    b = u64("QKDN_W_MSG_ID", msg_id[0]) + u16("QKDN_W_CMD", CMD[cmd]) + \
        u32("QKDN_W_SENDER_ID", sender) + body
    return struct.pack(">I", len(b)) + b

def recv(sock):
    def exact(n):
        b = b""
        while len(b) < n:
            c = sock.recv(n - len(b))
            if not c:
                return None
            b += c
        return b
    hdr = exact(4)
    if hdr is None:
        return None
    body = exact(struct.unpack(">I", hdr)[0])
    out, off = {}, 0
    while body is not None and off + 4 <= len(body):
        n, t = struct.unpack_from("<HH", body, off)
        out[t & 0x3fff] = body[off + 4:off + n]
        off += (n + 3) & ~3
    return out

def reason(r):
    if r is None:
        return "closed"
    code = struct.unpack("<H", r[ATTR["QKDN_W_RESPONSE_CODE"]])[0]
    why = r.get(ATTR["QKDN_W_REASON"], b"").rstrip(b"\0").decode()
    return "success" if code == 1 else "failure: " + why

def connect(name):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False
    ctx.load_verify_locations(os.path.join(d, "ca.crt"))
    ctx.load_cert_chain(os.path.join(d, name + ".crt"), os.path.join(d, name + ".key"))
    sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), 5))
    sock.settimeout(5)
    return sock

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

def case(name, fn):
    try:
        print("%s: %s" % (name, fn()))
    except (ssl.SSLError, ConnectionError, socket.timeout, OSError) as e:
        print("%s: %s" % (name, type(e).__name__))

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
