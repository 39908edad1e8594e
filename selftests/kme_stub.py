#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR MIT
"""A small ETSI GS QKD 014 key management entity (KME), for tests only.

    kme_stub.py --listen ADDR:PORT --cert CRT --key KEY --ca CA
                [--sae CN=SAE_ID]... [--mode-file FILE] [--ready FILE]

One process plays the KMEs of both ends of a QKD link: keys that
enc_keys hands to the master SAE wait in one in-memory store until the
slave SAE takes them with dec_keys (each key once). HTTPS with mutual
TLS: clients need a certificate signed by CA; with --sae, the client
certificate's CN names the SAE it may act as (master in enc_keys, slave
in dec_keys), as a real KME identifies SAEs by their certificates.

  GET  /api/v1/keys/{slave_SAE_ID}/enc_keys?number=N&size=BITS
  POST /api/v1/keys/{master_SAE_ID}/dec_keys  {"key_IDs":[{"key_ID":...}]}
  GET  /api/v1/keys/{slave_SAE_ID}/status

Faults for error tests: the first word of --mode-file, read at every
request, is "ok" or OP-FAULT with OP "enc" or "dec" and FAULT one of
  503        HTTP 503 with the spec's {"message": ...}
  malformed  HTTP 200 with a body that is not JSON
  short      keys one byte shorter than asked for
  missing    keys without their "key" field
A fault answers without consuming keys. Python 3 standard library only.
"""
import argparse
import base64
import json
import os
import ssl
import sys
import threading
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STORE = {}  # key_ID -> (master SAE, slave SAE, bytes)
LOCK = threading.Lock()
MAX_NUMBER = 1024
MAX_SIZE_BITS = 32768 * 8


class Handler(BaseHTTPRequestHandler):
    server_version = "qkdn-kme-stub/1"

    def log_message(self, fmt, *args):
        sys.stderr.write("kme_stub: %s %s\n" % (self.address_string(), fmt % args))

    def reply(self, status, obj=None, raw=None):
        body = raw if raw is not None else json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def error(self, status, message):
        self.reply(status, {"message": message})

    def fault(self, op):
        try:
            with open(self.server.mode_file) as f:
                words = f.read().split()
        except (TypeError, OSError):
            return None
        mode = words[0] if words else "ok"
        return mode.split("-", 1)[1] if mode.startswith(op + "-") else None

    def caller(self):
        """The SAE the client certificate names, or None if unchecked."""
        if not self.server.saes:
            return None
        cert = self.connection.getpeercert() or {}
        for rdn in cert.get("subject", ()):
            for name, value in rdn:
                if name == "commonName" and value in self.server.saes:
                    return self.server.saes[value]
        return ""

    def route(self):
        url = urllib.parse.urlsplit(self.path)
        parts = url.path.split("/")
        # ['', 'api', 'v1', 'keys', SAE, op]
        if len(parts) != 6 or parts[1:4] != ["api", "v1", "keys"]:
            return None, None, None
        return urllib.parse.unquote(parts[4]), parts[5], urllib.parse.parse_qs(url.query)

    def keys_answer(self, keys, fault):
        out = []
        for key_id, data in keys:
            if fault == "short":
                data = data[:-1]
            entry = {"key_ID": key_id}
            if fault != "missing":
                entry["key"] = base64.b64encode(data).decode()
            out.append(entry)
        if fault == "malformed":
            self.reply(200, raw=b'{"keys": [{"key_ID": "oops", "key": ')
        else:
            self.reply(200, {"keys": out})

    def do_GET(self):
        sae, op, query = self.route()
        me = self.caller()
        if op == "status":
            return self.reply(200, {"source_KME_ID": "stub", "target_KME_ID": "stub",
                                    "master_SAE_ID": me or "", "slave_SAE_ID": sae,
                                    "key_size": 256, "stored_key_count": len(STORE),
                                    "max_key_count": 100000, "max_key_per_request": MAX_NUMBER,
                                    "max_key_size": MAX_SIZE_BITS, "min_key_size": 8,
                                    "max_SAE_ID_count": 0})
        if op != "enc_keys":
            return self.error(404, "no such resource")
        if me == "":
            return self.error(401, "client certificate names no known SAE")
        fault = self.fault("enc")
        if fault == "503":
            return self.error(503, "key stream exhausted: the QKD link delivers no keys")
        try:
            number = int(query.get("number", ["1"])[0])
            size = int(query.get("size", ["256"])[0])
        except ValueError:
            return self.error(400, "number and size must be integers")
        if not 1 <= number <= MAX_NUMBER or not 8 <= size <= MAX_SIZE_BITS or size % 8:
            return self.error(400, "number or size out of range")
        keys = [(str(uuid.uuid4()), os.urandom(size // 8)) for _ in range(number)]
        if not fault:
            with LOCK:
                for key_id, data in keys:
                    STORE[key_id] = (me, sae, data)
        self.keys_answer(keys, fault)

    def do_POST(self):
        master, op, _ = self.route()
        me = self.caller()
        if op != "dec_keys":
            return self.error(404, "no such resource")
        if me == "":
            return self.error(401, "client certificate names no known SAE")
        length = int(self.headers.get("Content-Length", "0"))
        try:
            req = json.loads(self.rfile.read(length))
            ids = [k["key_ID"] for k in req["key_IDs"]]
        except (ValueError, KeyError, TypeError):
            return self.error(400, "body is not {\"key_IDs\": [{\"key_ID\": ...}]}")
        fault = self.fault("dec")
        if fault == "503":
            return self.error(503, "KME busy")
        with LOCK:
            for key_id in ids:
                entry = STORE.get(key_id)
                if not entry or entry[1] != (me if me is not None else entry[1]) or \
                        (me is not None and entry[0] != master):
                    return self.error(400, "key_ID %s unknown for this SAE pair" % key_id)
            keys = [(key_id, STORE[key_id][2]) for key_id in ids]
            if not fault:
                for key_id in ids:
                    del STORE[key_id]
        self.keys_answer(keys, fault)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--listen", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--sae", action="append", default=[], help="CN=SAE_ID")
    ap.add_argument("--mode-file")
    ap.add_argument("--ready", help="file to write once listening")
    args = ap.parse_args()

    host, port = args.listen.rsplit(":", 1)
    server = ThreadingHTTPServer((host.strip("[]"), int(port)), Handler)
    server.mode_file = args.mode_file
    server.saes = dict(s.split("=", 1) for s in args.sae)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(args.cert, args.key)
    ctx.load_verify_locations(args.ca)
    ctx.verify_mode = ssl.CERT_REQUIRED
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    if args.ready:
        with open(args.ready, "w") as f:
            f.write("ready\n")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
