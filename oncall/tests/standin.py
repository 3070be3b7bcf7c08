"""A real local HTTP server answering GETs from a table of paths (a stand-in for another system's API
or a calendar host), recording each request's path and headers."""

from __future__ import annotations

import json
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from tests.server import serving


@contextmanager
def get_server():
    """Yields the server: set `server.pages[path_with_query] = (status, body)` (a dict or list body is
    sent as JSON); `server.base` is its URL, `server.requests` what it received; with `server.key` set,
    /api/ paths answer 403 unless the Authorization header is exactly that key."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            server.requests.append({"path": self.path, "headers": dict(self.headers)})
            if server.key and self.path.startswith("/api/") and self.headers.get("Authorization") != server.key:
                self._send(403, {"detail": "Invalid token."})
                return
            status, body = server.pages.get(self.path) or server.pages.get(urlsplit(self.path).path, (404, b""))
            self._send(status, body)

        def _send(self, status, body):
            if isinstance(body, (dict, list)):
                body = json.dumps(body)
            data = body.encode() if isinstance(body, str) else body
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.pages, server.requests, server.key = {}, [], None
    server.base = f"http://127.0.0.1:{server.server_address[1]}"
    with serving(server):
        yield server
