#!/usr/bin/env python3
# tls_policy.py - a raw TLS ClientHello, for suites that the openssl
# command of this machine can no longer offer (3DES: OpenSSL 3 builds
# without it), so that the server's refusal is seen on the wire and not the
# client's. Used by tls_policy.sh.
#
#   tls_policy.py PORT VERSION SUITE...
#     VERSION: 0301 (TLS 1.0), 0302 (1.1), 0303 (1.2), hex
#     SUITE:   a cipher suite number, hex (000a = TLS_RSA_WITH_3DES_EDE_CBC_SHA)
#
# Prints one line: "hello VERSION SUITE" (the ServerHello's choice),
# "alert DESCRIPTION" (a TLS alert, numbers of RFC 8446 6.2), or "closed".
#
#   tls_policy.py inflight PORT CAFILE BODYFILE TOKEN READY GO
#     a request held open across a reload: connects (TLS, CAFILE trusted),
#     sends the headers and half of the body, creates the file READY, waits
#     for the file GO, sends the rest and reads the answer. Prints
#     "serial=SERIAL HTTP STATUS BODY": the certificate that connection was
#     served with, and what came back.
import os
import socket
import ssl
import struct
import sys
import time


def ext(kind, body):
    return struct.pack("!HH", kind, len(body)) + body


def client_hello(version, suites):
    groups = struct.pack("!5H", 0x001D, 0x0017, 0x0018, 0x0019, 0x0100)
    sigs = struct.pack("!8H", 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601, 0x0403, 0x0201)
    exts = (ext(0x000A, struct.pack("!H", len(groups)) + groups)       # supported_groups
            + ext(0x000B, b"\x01\x00")                                  # ec_point_formats: uncompressed
            + ext(0x000D, struct.pack("!H", len(sigs)) + sigs)         # signature_algorithms
            + ext(0x0017, b"")                                          # extended_master_secret
            + ext(0xFF01, b"\x00"))                                     # renegotiation_info (empty)
    cs = b"".join(struct.pack("!H", s) for s in suites)
    body = (struct.pack("!H", version) + bytes(32) + b"\x00"
            + struct.pack("!H", len(cs)) + cs + b"\x01\x00"
            + struct.pack("!H", len(exts)) + exts)
    hs = b"\x01" + struct.pack("!I", len(body))[1:] + body
    return b"\x16\x03\x01" + struct.pack("!H", len(hs)) + hs


def read_exactly(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            return None
        out += chunk
    return out


def inflight(port, cafile, bodyfile, token, ready, go):
    body = open(bodyfile, "rb").read()
    ctx = ssl.create_default_context(cafile=cafile)
    with ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=60),
                         server_hostname="127.0.0.1") as s:
        serial = s.getpeercert()["serialNumber"]
        head = ("POST / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer %s\r\n"
                "Content-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                % (port, token, len(body))).encode()
        half = len(body) // 2
        s.sendall(head + body[:half])
        open(ready, "w").close()
        deadline = time.time() + 60
        while not os.path.exists(go) and time.time() < deadline:
            time.sleep(0.02)
        s.sendall(body[half:])
        answer = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            answer += chunk
    status = answer.split(b"\r\n", 1)[0].decode("latin-1")
    rest = answer.split(b"\r\n\r\n", 1)
    print("serial=%s %s %s" % (serial, status, rest[1].decode("utf-8", "replace") if len(rest) > 1 else ""))


def main():
    if sys.argv[1] == "inflight":
        inflight(int(sys.argv[2]), *sys.argv[3:8])
        return
    port = int(sys.argv[1])
    version = int(sys.argv[2], 16)
    suites = [int(x, 16) for x in sys.argv[3:]]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(client_hello(version, suites))
        try:
            head = read_exactly(s, 5)
        except (ConnectionResetError, socket.timeout):
            head = None
        if head is None:
            print("closed")
            return
        kind, _, length = struct.unpack("!BHH", head)
        rec = read_exactly(s, length) or b""
        if kind == 21 and len(rec) >= 2:
            print("alert %d" % rec[1])
        elif kind == 22 and len(rec) >= 39 and rec[0] == 2:
            sid = rec[38]
            at = 39 + sid
            print("hello %04x %04x" % (struct.unpack("!H", rec[4:6])[0], struct.unpack("!H", rec[at:at + 2])[0]))
        else:
            print("record %d" % kind)


if __name__ == "__main__":
    main()
