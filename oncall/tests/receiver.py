"""A real local HTTP server that records what it receives (a webhook target for tests)."""

from __future__ import annotations

import json
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.server import serving


@contextmanager
def http_receiver(status: int = 200):
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received.append({"headers": dict(self.headers), "raw": body, "json": json.loads(body or b"null")})
            self.send_response(server.status)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.status = status
    server.received = received
    server.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    with serving(server):
        yield server
