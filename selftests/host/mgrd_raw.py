#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR MIT
"""A raw management client, for what lib/mgmt.c never sends: malformed and
unauthenticated messages. Prints one line per case, "CASE: RESULT".

  mgrd_raw.py PORT DIR

DIR holds the test PKI of lib-mgrd.sh."""
import os, socket, ssl, struct, sys

port, d = int(sys.argv[1]), sys.argv[2]
# Numbers from userspace/lib/wire.h, found by name so the test follows it.
src = open(os.path.join(os.path.dirname(__file__), "../../userspace/lib/wire.h")).read()
def enum(name, first):
    body = src[src.index("enum %s {" % name):]
    body = body[:body.index("};")]
    names = [l.strip().rstrip(",") for l in body.splitlines()[1:]
             if l.strip() and not l.strip().startswith("/*")]
    return {n: i for i, n in enumerate(names)}
CMD = enum("qkdn_wire_cmd", 0)
ATTR = enum("qkdn_wire_attr", 0)

def attr(t, payload):
    n = 4 + len(payload)
    return struct.pack("<HH", n, t) + payload + b"\0" * ((4 - n % 4) % 4)
def u8(t, v): return attr(ATTR[t], struct.pack("<B", v))
def u16(t, v): return attr(ATTR[t], struct.pack("<H", v))
def u32(t, v): return attr(ATTR[t], struct.pack("<I", v))
def u64(t, v): return attr(ATTR[t], struct.pack("<Q", v))
def s(t, v): return attr(ATTR[t], v.encode() + b"\0")
def msg(cmd, sender, body, msg_id=[1000]):
    msg_id[0] += 1
    b = u64("QKDN_W_MSG_ID", msg_id[0]) + u16("QKDN_W_CMD", CMD[cmd]) + \
        u32("QKDN_W_SENDER_ID", sender) + body
    return struct.pack(">I", len(b)) + b

def parse(buf):
    out, off = {}, 0
    while off + 4 <= len(buf):
        n, t = struct.unpack_from("<HH", buf, off)
        out[t & 0x3fff] = buf[off + 4:off + n]
        off += (n + 3) & ~3
    return out

def recv(sock):
    hdr = b""
    while len(hdr) < 4:
        c = sock.recv(4 - len(hdr))
        if not c:
            return None
        hdr += c
    n = struct.unpack(">I", hdr)[0]
    body = b""
    while len(body) < n:
        c = sock.recv(n - len(body))
        if not c:
            return None
        body += c
    return parse(body)

def reason(r):
    if r is None:
        return "closed"
    code = struct.unpack("<H", r[ATTR["QKDN_W_RESPONSE_CODE"]])[0]
    why = r.get(ATTR["QKDN_W_REASON"], b"").rstrip(b"\0").decode()
    return "success" if code == 1 else "failure: " + why

def connect(name, ca="ca.crt"):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False
    ctx.load_verify_locations(os.path.join(d, ca))
    ctx.load_cert_chain(os.path.join(d, name + ".crt"), os.path.join(d, name + ".key"))
    raw = socket.create_connection(("127.0.0.1", port), 5)
    sock = ctx.wrap_socket(raw)
    sock.settimeout(5)
    return sock

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

def case(name, fn):
    try:
        print("%s: %s" % (name, fn()))
    except (ssl.SSLError, ConnectionError, socket.timeout, OSError) as e:
        print("%s: %s" % (name, type(e).__name__))

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
