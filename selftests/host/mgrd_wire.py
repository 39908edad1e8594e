# SPDX-License-Identifier: GPL-2.0 OR MIT
"""The management protocol (userspace/lib/wire.h, "Management") from the
raw side, for the host tests' clients that send what lib/mgmt.c never
sends (mgrd_raw.py, mgrd_mx_raw.py, mgrd_support.py). Numbers are read
from wire.h by name, so the tests follow it."""
import os, socket, ssl, struct

_src = open(os.path.join(os.path.dirname(__file__), "../../userspace/lib/wire.h")).read()

def enum(name):
    """{NAME: value} of enum NAME in wire.h (one name a line, from 0)."""
    body = _src[_src.index("enum %s {" % name):]
    body = body[:body.index("};")]
    names = [l.strip().split(",")[0].strip() for l in body.splitlines()[1:]
             if l.strip() and not l.strip().startswith("/*")]
    return {n: i for i, n in enumerate(names)}

CMD = enum("qkdn_wire_cmd")
ATTR = enum("qkdn_wire_attr")
KIND = enum("qkdn_wire_agent_kind")

def attr(t, payload):
    n = 4 + len(payload)
    return struct.pack("<HH", n, t) + payload + b"\0" * ((4 - n % 4) % 4)
def u8(t, v): return attr(ATTR[t], struct.pack("<B", v))
def u16(t, v): return attr(ATTR[t], struct.pack("<H", v))
def u32(t, v): return attr(ATTR[t], struct.pack("<I", v))
def u64(t, v): return attr(ATTR[t], struct.pack("<Q", v))
def s(t, v): return attr(ATTR[t], v.encode() + b"\0")

_msg_id = [1000]

def first_msg_id(n):
    """Message IDs from n + 1 on."""
    _msg_id[0] = n

def msg(cmd, sender, body):
    """A framed message: the common items, then body."""
    _msg_id[0] += 1
    b = u64("QKDN_W_MSG_ID", _msg_id[0]) + u16("QKDN_W_CMD", CMD[cmd]) + \
        u32("QKDN_W_SENDER_ID", sender) + body
    return struct.pack(">I", len(b)) + b

def parse(buf, multi=False):
    """Attributes of buf: {type: payload}, or [(type, payload)] if multi."""
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
    """The next message's attributes, None once the manager closed."""
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
    return None if body is None else parse(body)

def text(v): return v.rstrip(b"\0").decode()

def reason(r):
    """A response as "success", "failure: REASON" or "closed"."""
    if r is None:
        return "closed"
    code = struct.unpack("<H", r[ATTR["QKDN_W_RESPONSE_CODE"]])[0]
    return "success" if code == 1 else "failure: " + text(r.get(ATTR["QKDN_W_REASON"], b""))

def connect(port, d, name, ca="ca.crt"):
    """TLS 1.3 to the manager on 127.0.0.1:port as d/name.crt, trusting d/ca."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False
    ctx.load_verify_locations(os.path.join(d, ca))
    ctx.load_cert_chain(os.path.join(d, name + ".crt"), os.path.join(d, name + ".key"))
    sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), 5))
    sock.settimeout(5)
    return sock

def case(name, fn):
    """Prints "NAME: what fn returned", or the name of the error it met."""
    try:
        print("%s: %s" % (name, fn()))
    except (ssl.SSLError, ConnectionError, socket.timeout, OSError) as e:
        print("%s: %s" % (name, type(e).__name__))
