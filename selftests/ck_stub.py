#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR MIT
"""A scripted QKDN controller speaking Ck (lib/wire.h), for tests of the
key manager side only (ctl_mesh_km.test.sh). It computes nothing: the
routes come from a JSON file.

    ck_stub.py --listen ADDR:PORT --cert CRT --key KEY --ca CA
               --routes FILE --log FILE [--control FIFO]

--routes: {"sessions": [{"id": N, "src": S, "dst": D, "working": [S..D],
           "protection": [S..D] (optional), "recover": [S..D] (optional)}]}
A CK_ROUTE from S for D gets session N: its entries are pushed
(CK_ROUTE_PUSH) to every other KM of the working and protection paths,
and the requester is answered once they all acknowledged. When a KM
notifies "route withdrawn" for a session with a "recover" path, that path
is pushed (recovery by the controller).

Every AUTH, notification (with the routes of a sync), status response
and push result is appended to --log as one line of words, for the test
to grep. Commands from --control, one per line: "crl FILE" pushes the CRL
(DER) to every KM; "status PERIOD_MS" asks every KM for its status.
Command, attribute and event numbers are read from lib/wire.h, so the
stub follows the header. Python 3 standard library only.
"""
import argparse
import json
import os
import re
import socket
import ssl
import struct
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
WIRE_H = os.path.join(HERE, "..", "userspace", "lib", "wire.h")
CONTROLLER_ID = 0xFFFFFFFF
NESTED = 0x8000


def enum(text, name):
    body = re.search(r"enum %s \{(.*?)\};" % name, text, re.S).group(1)
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    out, value = {}, 0
    for item in body.split(","):
        item = item.strip()
        if not item:
            continue
        if "=" in item:
            item, v = [x.strip() for x in item.split("=")]
            value = int(v, 0)
        out[item] = value
        value += 1
    return out


with open(WIRE_H) as f:
    _h = f.read()
A = {k[len("QKDN_W_"):]: v for k, v in enum(_h, "qkdn_wire_attr").items()}
C = {k[len("QKDN_W_CMD_"):]: v for k, v in enum(_h, "qkdn_wire_cmd").items()}
E = {v: k[len("QKDN_W_EVENT_"):].lower() for k, v in enum(_h, "qkdn_wire_event").items()}
EV = {v: k for k, v in E.items()}

LOG_LOCK = threading.Lock()
CONNS = {}          # node ID -> Conn
CONNS_LOCK = threading.Lock()
MSG_ID = [int(time.time()) << 20]
SESSIONS = []
RECOVERED = set()
ARGS = None


def log(line):
    with LOG_LOCK, open(ARGS.log, "a") as f:
        f.write(line + "\n")


def attr(t, payload):
    n = 4 + len(payload)
    return struct.pack("<HH", n, t) + payload + b"\0" * ((4 - n % 4) % 4)


def u8(t, v): return attr(t, struct.pack("<B", v))
def u16(t, v): return attr(t, struct.pack("<H", v))
def u32(t, v): return attr(t, struct.pack("<I", v))
def u64(t, v): return attr(t, struct.pack("<Q", v))
def nest(t, parts): return attr(t | NESTED, b"".join(parts))


def parse(buf):
    out, off = {}, 0
    while off + 4 <= len(buf):
        n, t = struct.unpack_from("<HH", buf, off)
        out.setdefault(t & 0x3FFF, []).append(buf[off + 4:off + n])
        off += (n + 3) & ~3
    return out


def val(p, fmt):
    return struct.unpack("<" + fmt, p)[0]


def next_id():
    MSG_ID[0] += 1
    return MSG_ID[0]


def message(cmd, attrs, orig=None, code=None):
    mid = next_id()
    body = u64(A["MSG_ID"], mid) + u16(A["CMD"], cmd) + u32(A["SENDER_ID"], CONTROLLER_ID)
    if orig is not None:
        body += u64(A["ORIG_MSG_ID"], orig) + u16(A["RESPONSE_CODE"], code)
    body += b"".join(attrs)
    return mid, struct.pack(">I", len(body)) + body


def entries(s, path_key):
    """(node, dest, next hop) entries a path implies, both directions."""
    p = s[path_key]
    out = []
    for i, n in enumerate(p):
        if i < len(p) - 1:
            out.append((n, s["dst"], p[i + 1]))
        if i > 0:
            out.append((n, s["src"], p[i - 1]))
    return out


def route_nest(s, node, dest, nh, prot, op=1):
    path = s.get("current", s["working"])
    parts = [u64(A["SESSION_ID"], s["id"]), u32(A["SOURCE_NODE_ID"], s["src"]),
             u32(A["DEST_NODE_ID"], dest), u32(A["NEXT_HOP_NODE_ID"], nh),
             u8(A["ROUTE_OP"], op),
             attr(A["PATH"], b"".join(struct.pack("<I", x) for x in path))]
    if prot:
        parts.append(u32(A["PROTECTION_NEXT_HOP"], prot))
    return nest(A["ROUTE"], parts)


def tables(s, path_key):
    """node -> route table entries (nests) for session s along path_key,
    with the protection path's entries and next hops if there is one."""
    t = {}
    work = entries(s, path_key)
    prot = s.get("protection") if path_key == "working" else None
    for n, dest, nh in work:
        p = 0
        if prot and n == s["src"] and dest == s["dst"]:
            p = prot[1]
        if prot and n == s["dst"] and dest == s["src"]:
            p = prot[-2]
        t.setdefault(n, []).append(route_nest(s, n, dest, nh, p))
    if prot:
        for n, dest, nh in entries(dict(s, working=prot), "working"):
            if n not in s["working"]:
                t.setdefault(n, []).append(route_nest(s, n, dest, nh, 0))
    return t


class Conn:
    def __init__(self, sock, addr):
        self.sock, self.addr, self.node = sock, addr, None
        self.send_lock = threading.Lock()
        self.waiting = {}   # msg id -> [Event, response attrs]

    def send(self, data):
        with self.send_lock:
            self.sock.sendall(data)

    def request(self, cmd, attrs, timeout=5.0):
        mid, data = message(cmd, attrs)
        ev = [threading.Event(), None]
        self.waiting[mid] = ev
        self.send(data)
        ev[0].wait(timeout)
        self.waiting.pop(mid, None)
        return ev[1]

    def recv_exact(self, n):
        b = b""
        while len(b) < n:
            chunk = self.sock.recv(n - len(b))
            if not chunk:
                raise EOFError
            b += chunk
        return b

    def serve(self):
        try:
            while True:
                n = struct.unpack(">I", self.recv_exact(4))[0]
                self.handle(parse(self.recv_exact(n)))
        except (EOFError, OSError, ssl.SSLError):
            pass
        finally:
            log("down %s" % self.node)
            with CONNS_LOCK:
                if CONNS.get(self.node) is self:
                    del CONNS[self.node]
            self.sock.close()

    def respond(self, cmd, orig, ok=True, attrs=()):
        self.send(message(cmd, list(attrs), orig, 1 if ok else 2)[1])

    def handle(self, m):
        cmd = val(m[A["CMD"]][0], "H")
        mid = val(m[A["MSG_ID"]][0], "Q")
        sender = val(m[A["SENDER_ID"]][0], "I")
        if A["ORIG_MSG_ID"] in m:
            ev = self.waiting.get(val(m[A["ORIG_MSG_ID"]][0], "Q"))
            code = val(m[A["RESPONSE_CODE"]][0], "H")
            if cmd == C["CK_STATUS"]:
                self.log_status(m)
            elif cmd == C["CK_ROUTE_PUSH"] or cmd == C["CK_CRL"]:
                reason = m[A["REASON"]][0].rstrip(b"\0").decode() if A["REASON"] in m else ""
                log("result %s %s %s %s" % (self.node, "push" if cmd == C["CK_ROUTE_PUSH"]
                                            else "crl", "ok" if code == 1 else "failed",
                                            reason.replace(" ", "_")))
            if ev:
                ev[1] = m
                ev[0].set()
            return
        if cmd == C["CK_AUTH"]:
            auth = m[A["AUTH_INFO"]][0].rstrip(b"\0").decode()
            ok = auth == "qkdn-node-%u" % sender
            self.node = sender
            with CONNS_LOCK:
                CONNS[sender] = self
            log("auth %u %s" % (sender, "ok" if ok else "refused"))
            self.respond(cmd, mid, ok)
        elif cmd == C["CK_NOTIFY"]:
            ev = E.get(val(m[A["EVENT"]][0], "H"), "?")
            peer = val(m[A["PEER_NODE_ID"]][0], "I") if A["PEER_NODE_ID"] in m else 0
            dest = val(m[A["DEST_NODE_ID"]][0], "I") if A["DEST_NODE_ID"] in m else 0
            line = "notify %u %s peer %u dest %u" % (sender, ev, peer, dest)
            if ev == "sync":
                rts = []
                for r in parse(m[A["ROUTE_TABLE"]][0]).get(A["ROUTE"], []) \
                        if A["ROUTE_TABLE"] in m else []:
                    f = parse(r)
                    rts.append("%u:%u:%u:%u" % (
                        val(f[A["SESSION_ID"]][0], "Q"), val(f[A["DEST_NODE_ID"]][0], "I"),
                        val(f[A["NEXT_HOP_NODE_ID"]][0], "I"),
                        val(f[A["PROTECTION_NEXT_HOP"]][0], "I")
                        if A["PROTECTION_NEXT_HOP"] in f else 0))
                line += " routes " + (",".join(sorted(rts)) or "-")
            log(line)
            self.respond(cmd, mid)
            if ev == "route_withdrawn":
                threading.Thread(target=recover, args=(sender, dest), daemon=True).start()
        elif cmd == C["CK_ROUTE"]:
            threading.Thread(target=self.route, args=(m, mid, sender), daemon=True).start()
        elif cmd != C["KEEPALIVE"]:
            self.respond(cmd, mid, False, [attr(A["REASON"], b"not served by the stub\0")])

    def log_status(self, m):
        links = []
        if A["STATUS_TABLE"] in m:
            for ls in parse(m[A["STATUS_TABLE"]][0]).get(A["LINK_STATUS"], []):
                f = parse(ls)
                links.append("%u:%u:%u" % (
                    val(f[A["PEER_NODE_ID"]][0], "I"), val(f[A["PEER_UP"]][0], "B"),
                    val(f[A["KEY_AMOUNT"]][0], "Q") if A["KEY_AMOUNT"] in f else 0))
        log("status %s %s" % (self.node, ",".join(sorted(links))))

    def route(self, m, mid, sender):
        src = val(m[A["SOURCE_NODE_ID"]][0], "I")
        dst = val(m[A["DEST_NODE_ID"]][0], "I")
        s = next((x for x in SESSIONS if x["src"] == src and x["dst"] == dst), None)
        if not s:
            log("route %u %u refused" % (src, dst))
            self.respond(C["CK_ROUTE"], mid, False, [attr(A["REASON"], b"no route\0")])
            return
        t = tables(s, "working")
        for node, nests in sorted(t.items()):
            if node != sender and not push(node, nests):
                log("route %u %u refused km-%u" % (src, dst, node))
                self.respond(C["CK_ROUTE"], mid, False,
                             [attr(A["REASON"], b"a KM of the path is not connected\0")])
                return
        log("route %u %u session %u" % (src, dst, s["id"]))
        self.respond(C["CK_ROUTE"], mid, True,
                     [u64(A["SESSION_ID"], s["id"]), nest(A["ROUTE_TABLE"], t.get(sender, []))])


def push(node, nests):
    with CONNS_LOCK:
        c = CONNS.get(node)
    if not c:
        log("push %u skipped not-connected" % node)
        return False
    r = c.request(C["CK_ROUTE_PUSH"], [nest(A["ROUTE_TABLE"], nests)])
    return r is not None and val(r[A["RESPONSE_CODE"]][0], "H") == 1


def recover(node, dest):
    for s in SESSIONS:
        if node not in (s["src"], s["dst"]) or dest not in (s["src"], s["dst"]) or \
                "recover" not in s or s["id"] in RECOVERED:
            continue
        RECOVERED.add(s["id"])
        s["current"] = s["recover"]
        t = tables(dict(s, working=s["recover"], protection=None), "working")
        # Far nodes first, the source last: its relays must not outrun
        # the entries on the way.
        order = sorted(t, key=lambda n: n == s["src"])
        for n in order:
            push(n, t[n])
        log("recovered %u" % s["id"])


def control(path):
    while True:
        with open(path) as f:
            for line in f:
                w = line.split()
                with CONNS_LOCK:
                    conns = list(CONNS.values())
                if w and w[0] == "crl":
                    with open(w[1], "rb") as g:
                        der = g.read()
                    for c in conns:
                        threading.Thread(target=c.request, daemon=True,
                                         args=(C["CK_CRL"], [attr(A["CRL"], der)])).start()
                elif w and w[0] == "status":
                    for c in conns:
                        mid, data = message(C["CK_STATUS"], [u32(A["PERIOD"], int(w[1])),
                                                             u32(A["STATUS_PARAMS"], 0x7F)])
                        c.send(data)


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    for a in ("--listen", "--cert", "--key", "--ca", "--routes", "--log"):
        ap.add_argument(a, required=True)
    ap.add_argument("--control")
    ARGS = ap.parse_args()
    with open(ARGS.routes) as f:
        SESSIONS.extend(json.load(f)["sessions"])
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(ARGS.cert, ARGS.key)
    ctx.load_verify_locations(ARGS.ca)
    ctx.verify_mode = ssl.CERT_REQUIRED
    host, port = ARGS.listen.rsplit(":", 1)
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, int(port)))
    srv.listen(16)
    if ARGS.control:
        threading.Thread(target=control, args=(ARGS.control,), daemon=True).start()
    log("listening")
    while True:
        s, addr = srv.accept()
        try:
            s = ctx.wrap_socket(s, server_side=True)
        except (ssl.SSLError, OSError) as e:
            sys.stderr.write("ck_stub: handshake from %s failed: %s\n" % (addr, e))
            s.close()
            continue
        threading.Thread(target=Conn(s, addr).serve, daemon=True).start()


if __name__ == "__main__":
    main()
