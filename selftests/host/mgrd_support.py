#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR MIT
"""M_SUPPORT (seed 001 10.7) as the controller and as a KM would send it.
Prints one line per case, "CASE: RESULT".

  mgrd_support.py PORT DIR CASE...

CASE: link (km-link-1-2), all (no resource), bogus (a resource of no
form), km (sent by qkdn-node-1). DIR holds the test PKI of lib-mgrd.sh."""
import os, socket, ssl, struct, sys

port, d = int(sys.argv[1]), sys.argv[2]
src = open(os.path.join(os.path.dirname(__file__), "../../userspace/lib/wire.h")).read()
def enum(name):
    body = src[src.index("enum %s {" % name):]
    body = body[:body.index("};")]
    names = [l.strip().rstrip(",") for l in body.splitlines()[1:]
             if l.strip() and not l.strip().startswith("/*")]
    return {n: i for i, n in enumerate(names)}
CMD, ATTR = enum("qkdn_wire_cmd"), enum("qkdn_wire_attr")
CONTROLLER_ID = 0xffffffff

def attr(t, payload):
    n = 4 + len(payload)
    return struct.pack("<HH", n, t) + payload + b"\0" * ((4 - n % 4) % 4)
def u8(t, v): return attr(ATTR[t], struct.pack("<B", v))
def u16(t, v): return attr(ATTR[t], struct.pack("<H", v))
def u32(t, v): return attr(ATTR[t], struct.pack("<I", v))
def u64(t, v): return attr(ATTR[t], struct.pack("<Q", v))
def s(t, v): return attr(ATTR[t], v.encode() + b"\0")
def msg(cmd, sender, body, msg_id=[5000]):
    msg_id[0] += 1
    b = u64("QKDN_W_MSG_ID", msg_id[0]) + u16("QKDN_W_CMD", CMD[cmd]) + \
        u32("QKDN_W_SENDER_ID", sender) + body
    return struct.pack(">I", len(b)) + b

def parse(buf, multi=False):
    out, off = ([] if multi else {}), 0
    while off + 4 <= len(buf):
        n, t = struct.unpack_from("<HH", buf, off)
        item = (t & 0x3fff, buf[off + 4:off + n])
        if multi:
            out.append(item)
        else:
            out[item[0]] = item[1]
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

def text(v): return v.rstrip(b"\0").decode()

def connect(name, cn, kind, sender):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False
    ctx.load_verify_locations(os.path.join(d, "ca.crt"))
    ctx.load_cert_chain(os.path.join(d, name + ".crt"), os.path.join(d, name + ".key"))
    sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), 5))
    sock.settimeout(5)
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
