#!/usr/bin/env python3
"""js_async_receiver.py PORT TOKEN OUTFILE - stands for a network server's
answer endpoint in tests/integration/js_async.sh: each POST that carries
"Authorization: Bearer TOKEN" is appended to OUTFILE as one line (the body,
newlines removed) and answered 200 with an empty body; any other gets 401
and is not recorded. Binds 127.0.0.1 only."""
import http.server
import sys

port, token, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        if self.headers.get("Authorization") != "Bearer " + token:
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        with open(out, "ab") as f:
            f.write(body.replace(b"\n", b"") + b"\n")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
