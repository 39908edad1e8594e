#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR MIT
"""A raw Ck client (userspace/lib/wire.h) for testing qkdn-ctld without
qkdn-kmd: TLS 1.3 with a client certificate, TLV frames built by hand.
Command and attribute numbers are read from wire.h's enums, so appending
to them does not break this script.

  ck_client.py --addr A:P --cert C --key K --ca CA handshake
      exit 0 if the TLS handshake succeeds, 1 (and the reason) if not
  ck_client.py ... misbehave --node ID
      malformed and out-of-order messages; prints "ok - ..." lines
  ck_client.py ... km --node ID [--link PEER:UP:KEYS[:QBER_PPM]]...
                       [--route DST:AMOUNT[:PRIO]] [--hold S]
      a well-behaved KM: CK_AUTH, status answers, pushes acknowledged;
      prints each route response and push as a JSON line
"""
import argparse
import json
import os
import re
import socket
import ssl
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
WIRE_H = os.path.join(HERE, "..", "userspace", "lib", "wire.h")
NLA_F_NESTED = 0x8000
TIMEOUT = "timeout"	# recv() found nothing in time (None: connection closed)
CONTROLLER_ID = 0xFFFFFFFF


def enum(name):
    text = open(WIRE_H).read()
    body = re.search(r"enum %s \{(.*?)\};" % name, text, re.S).group(1)
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    out = {}
    for i, item in enumerate(x.strip() for x in body.split(",") if x.strip()):
        out[item] = i
    return out


CMD = {k[len("QKDN_W_CMD_"):]: v for k, v in enum("qkdn_wire_cmd").items()}
ATTR = {k[len("QKDN_W_"):]: v for k, v in enum("qkdn_wire_attr").items()}
ATTR_NAME = {v: k for k, v in ATTR.items()}
NESTS = {"STATUS_TABLE", "LINK_STATUS", "STORE_STATUS", "ROUTE_TABLE", "ROUTE"}


def attr(name_or_type, payload, nested=False):
    t = ATTR[name_or_type] if isinstance(name_or_type, str) else name_or_type
    if nested:
        t |= NLA_F_NESTED
    head = struct.pack("<HH", 4 + len(payload), t)
    return head + payload + b"\0" * (-len(payload) % 4)


def u8(n, v): return attr(n, struct.pack("<B", v))
def u16(n, v): return attr(n, struct.pack("<H", v))
def u32(n, v): return attr(n, struct.pack("<I", v))
def u64(n, v): return attr(n, struct.pack("<Q", v))
def string(n, s): return attr(n, s.encode() + b"\0")
def nest(n, *members): return attr(n, b"".join(members), nested=True)


_msg_id = [int(time.time() * 1000) << 8]


def message(cmd, sender, *attrs, orig=None, code=None, msg_id=None):
    if msg_id is None:
        _msg_id[0] += 1
        msg_id = _msg_id[0]
    body = u64("MSG_ID", msg_id) + u16("CMD", CMD[cmd] if isinstance(cmd, str) else cmd)
    body += u32("SENDER_ID", sender)
    if orig is not None:
        body += u64("ORIG_MSG_ID", orig) + u16("RESPONSE_CODE", code)
    body += b"".join(attrs)
    return msg_id, struct.pack(">I", len(body)) + body


def parse_attrs(data):
    out = {}
    off = 0
    while off + 4 <= len(data):
        ln, t = struct.unpack_from("<HH", data, off)
        payload = data[off + 4:off + ln]
        name = ATTR_NAME.get(t & 0x3FFF, str(t & 0x3FFF))
        if t & NLA_F_NESTED:
            members = []
            moff = 0
            while moff + 4 <= len(payload):
                mln, mt = struct.unpack_from("<HH", payload, moff)
                members.append((ATTR_NAME.get(mt & 0x3FFF, str(mt)),
                                parse_attrs(payload[moff + 4:moff + mln])))
                moff += (mln + 3) & ~3
            value = members
        else:
            value = payload
        out[name] = value
        off += (ln + 3) & ~3
    return out


def num(b):
    return int.from_bytes(b, "little") if b is not None else None


class Ck:
    def __init__(self, addr, cert, key, ca):
        host, port = addr.rsplit(":", 1)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.check_hostname = False
        ctx.load_cert_chain(cert, key)
        ctx.load_verify_locations(ca)
        raw = socket.create_connection((host, int(port)), timeout=10)
        self.s = ctx.wrap_socket(raw)
        # TLS 1.3: a refused client certificate shows on the first read.
        self.buf = b""

    def send_raw(self, data):
        self.s.sendall(data)

    def send(self, cmd, sender, *attrs, **kw):
        msg_id, data = message(cmd, sender, *attrs, **kw)
        self.send_raw(data)
        return msg_id

    def recv(self, timeout=10):
        """The next message as a dict, or None at EOF."""
        self.s.settimeout(timeout)
        while True:
            if len(self.buf) >= 4:
                n = struct.unpack(">I", self.buf[:4])[0]
                if len(self.buf) >= 4 + n:
                    body, self.buf = self.buf[4:4 + n], self.buf[4 + n:]
                    a = parse_attrs(body)
                    cmd = num(a.get("CMD"))
                    return {
                        "cmd": next((k for k, v in CMD.items() if v == cmd), cmd),
                        "msg_id": num(a.get("MSG_ID")),
                        "sender": num(a.get("SENDER_ID")),
                        "orig": num(a.get("ORIG_MSG_ID")),
                        "code": num(a.get("RESPONSE_CODE")),
                        "reason": a["REASON"].rstrip(b"\0").decode() if "REASON" in a else None,
                        "attrs": a,
                    }
            try:
                chunk = self.s.recv(65536)
            except socket.timeout:
                return TIMEOUT
            except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
                return None
            if not chunk:
                return None
            self.buf += chunk

    def response_to(self, msg_id, timeout=10):
        """Skips the controller's own commands (CK_STATUS, ...) until the
        response to msg_id; None at EOF."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = self.recv(max(0.1, deadline - time.time()))
            if m is None or m is TIMEOUT:
                return None
            if m["orig"] == msg_id:
                return m
        return None


def auth(ck, node, info=None, sender=None):
    return ck.send("CK_AUTH", node if sender is None else sender,
                   string("AUTH_INFO", info or "qkdn-node-%d" % node),
                   string("SENDER_HOSTNAME", "test-km-%d" % node))


def link_status(peer, up, keys, qber=None):
    m = [u32("PEER_NODE_ID", peer), u8("LINK_STATE", 1), u8("PEER_UP", 1 if up else 0),
         u64("KEY_AMOUNT", keys), u64("CONSUMPTION_RATE", 0), u64("GENERATION_RATE", 1000),
         u8("QKD_STATE", 1)]
    if qber is not None:
        m.append(u32("QBER", qber))
    return nest("LINK_STATUS", *m)


def status_table(links):
    return nest("STATUS_TABLE", *(link_status(*l) for l in links))


def routes_json(m):
    out = []
    for name, r in m["attrs"].get("ROUTE_TABLE", []):
        e = {"dest": num(r.get("DEST_NODE_ID")), "next_hop": num(r.get("NEXT_HOP_NODE_ID")),
             "op": num(r.get("ROUTE_OP")), "session": "%016x" % num(r.get("SESSION_ID"))}
        if "PROTECTION_NEXT_HOP" in r:
            e["protection_next_hop"] = num(r["PROTECTION_NEXT_HOP"])
        if "PATH" in r:
            e["path"] = list(struct.unpack("<%dI" % (len(r["PATH"]) // 4), r["PATH"]))
        out.append(e)
    return out


def check(what, cond, saw):
    if cond:
        print("ok - %s" % what)
    else:
        print("not ok - %s: saw %r" % (what, saw))
    sys.stdout.flush()
    return cond


def misbehave(args):
    node = args.node
    new = lambda: Ck(args.addr, args.cert, args.key, args.ca)
    good = True

    ck = new()
    mid = ck.send("CK_ROUTE", node, u32("SOURCE_NODE_ID", node), u32("DEST_NODE_ID", 2),
                  u64("KEY_AMOUNT", 64))
    r = ck.response_to(mid)
    good &= check("CK_ROUTE before CK_AUTH: failure 'not authenticated'",
                  r and r["code"] == 2 and r["reason"] == "not authenticated", r)
    mid = auth(ck, node)
    r = ck.response_to(mid)
    good &= check("connection kept: CK_AUTH then succeeds", r and r["code"] == 1, r)
    mid = ck.send("CK_ROUTE", node, u32("SOURCE_NODE_ID", node), u32("DEST_NODE_ID", 2))
    r = ck.response_to(mid)
    want = "bad message: CK_ROUTE: required attribute %d (KEY_AMOUNT) missing" % ATTR["KEY_AMOUNT"]
    good &= check("CK_ROUTE without KEY_AMOUNT: failure naming it",
                  r and r["code"] == 2 and r["reason"] == want, r)
    mid = ck.send("CK_NOTIFY", node, u16("EVENT", 2), status_table([]))
    r = ck.response_to(mid)
    good &= check("a valid CK_NOTIFY is still served", r and r["code"] == 1, r)
    mid = ck.send("HELLO", node, string("SENDER_IP", "127.0.0.1"))
    r = ck.response_to(mid)
    good &= check("Kx HELLO on Ck: failure 'not part of protocol ck'",
                  r and r["code"] == 2 and "not part of protocol ck" in (r["reason"] or ""), r)
    r = ck.recv(5)
    while r not in (None, TIMEOUT) and r["cmd"] in ("CK_STATUS", "KEEPALIVE"):
        r = ck.recv(5)
    good &= check("third violation closes the connection", r is None, r)

    ck = new()
    ck.send_raw(struct.pack(">I", 12) + b"\x07\x00\x01\x00garbage!")
    r = ck.recv(5)
    good &= check("unparseable header: closed without an answer", r is None, r)

    ck = new()
    mid = auth(ck, node, info="qkdn-node-%d" % (node + 100))
    r = ck.response_to(mid)
    good &= check("CK_AUTH naming another node: refused",
                  r and r["code"] == 2 and "does not match the certificate" in r["reason"], r)
    mid = auth(ck, node, sender=node + 1)
    r = ck.response_to(mid)
    good &= check("CK_AUTH with another sender ID: refused",
                  r and r["code"] == 2 and r["reason"] ==
                  "sender ID %d, but the certificate names node %d" % (node + 1, node), r)

    ck = new()
    ck.send_raw(struct.pack(">I", 0x7FFFFFFF))
    r = ck.recv(5)
    good &= check("length prefix over 1 MiB: closed", r is None, r)
    return 0 if good else 1


def km(args):
    ck = Ck(args.addr, args.cert, args.key, args.ca)
    links = []
    for spec in args.link:
        p = spec.split(":")
        links.append((int(p[0]), p[1] == "up", int(p[2]), int(p[3]) if len(p) > 3 else None))
    mid = auth(ck, args.node)
    r = ck.response_to(mid)
    if not r or r["code"] != 1:
        print(json.dumps({"auth": "failed", "reason": r and r["reason"]}), flush=True)
        return 1
    ck.send("CK_NOTIFY", args.node, u16("EVENT", 1), u8("KM_STATE", 1), status_table(links))
    route_id = None
    if args.route:
        p = args.route.split(":")
        a = [u32("SOURCE_NODE_ID", args.node), u32("DEST_NODE_ID", int(p[0])),
             u64("KEY_AMOUNT", int(p[1]))]
        if len(p) > 2:
            a.append(u8("PRIORITY", int(p[2])))
        time.sleep(args.route_delay)
        route_id = ck.send("CK_ROUTE", args.node, *a)
    deadline = time.time() + args.hold
    status = None	# (msg_id, period s, next due) of the CK_STATUS in force
    while time.time() < deadline:
        wait = deadline - time.time()
        if status:
            if time.time() >= status[2]:
                ck.send("CK_STATUS", args.node, u8("KM_STATE", 1), status_table(links),
                        orig=status[0], code=1)
                status = (status[0], status[1], time.time() + status[1])
            wait = min(wait, status[2] - time.time())
        m = ck.recv(max(0.05, wait))
        if m is TIMEOUT:
            continue
        if m is None:
            print(json.dumps({"closed": True}), flush=True)
            break
        if m["cmd"] == "CK_STATUS" and m["orig"] is None:
            # Answered at once, then every PERIOD ms until replaced.
            period = num(m["attrs"]["PERIOD"]) / 1000.0
            status = (m["msg_id"], period, time.time()) if period else None
            ck.send("CK_STATUS", args.node, u8("KM_STATE", 1), status_table(links),
                    orig=m["msg_id"], code=1)
            if status:
                status = (status[0], period, time.time() + period)
        elif m["cmd"] == "CK_ROUTE_PUSH" and m["orig"] is None:
            print(json.dumps({"push": routes_json(m)}), flush=True)
            ck.send("CK_ROUTE_PUSH", args.node, orig=m["msg_id"], code=1)
        elif m["cmd"] == "CK_CRL" and m["orig"] is None:
            print(json.dumps({"crl": len(m["attrs"].get("CRL", b""))}), flush=True)
            ck.send("CK_CRL", args.node, orig=m["msg_id"], code=1)
        elif m["orig"] is not None and m["orig"] == route_id:
            print(json.dumps({"route": m["code"], "reason": m["reason"],
                              "session": "%016x" % (num(m["attrs"].get("SESSION_ID")) or 0),
                              "routes": routes_json(m)}), flush=True)
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--addr", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--ca", required=True)
    sub = ap.add_subparsers(dest="what", required=True)
    sub.add_parser("handshake")
    m = sub.add_parser("misbehave")
    m.add_argument("--node", type=int, required=True)
    k = sub.add_parser("km")
    k.add_argument("--node", type=int, required=True)
    k.add_argument("--link", action="append", default=[])
    k.add_argument("--route")
    k.add_argument("--route-delay", type=float, default=0.5)
    k.add_argument("--hold", type=float, default=3)
    args = ap.parse_args()
    try:
        if args.what == "handshake":
            ck = Ck(args.addr, args.cert, args.key, args.ca)
            mid = auth(ck, int(re.search(r"(\d+)\.crt$", args.cert).group(1))
                       if re.search(r"(\d+)\.crt$", args.cert) else 1)
            r = ck.response_to(mid, 5)
            if r is None:
                print("handshake failed: connection closed", flush=True)
                return 1
            print("connected", flush=True)
            return 0
        if args.what == "misbehave":
            return misbehave(args)
        return km(args)
    except (ssl.SSLError, OSError) as e:
        print("handshake failed: %s" % e, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
