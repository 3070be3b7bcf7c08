"""A real local HTTP server standing in for push, chat and SMS services: it records every request
(method, path, query, headers, body) and answers 200 with a JSON body each service's client accepts."""

from __future__ import annotations

import json
import ssl
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from tests.server import serving

# Enough for every client we point here: Pushover's status, Telegram's ok, Matrix's room and event ids.
ANSWER = {"ok": True, "status": 1, "result": {"message_id": 1}, "room_id": "!room:localhost", "event_id": "$event",
          "id": 1, "joined_rooms": ["!room:localhost"]}  # fmt: skip


def _parsed(headers, raw: bytes):
    kind = headers.get("Content-Type", "")
    if "json" in kind:
        return json.loads(raw or b"null")
    if "x-www-form-urlencoded" in kind:
        return {k: v[0] for k, v in parse_qs(raw.decode()).items()}
    return raw.decode(errors="replace")


@contextmanager
def http_sink(status: int = 200, certfile: str | None = None):
    """With `certfile` (certificate and key in one PEM), the sink speaks https."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def _record(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
            parts = urlsplit(self.path)
            received.append({"method": self.command, "path": parts.path, "query": parse_qs(parts.query),
                             "headers": {k.lower(): v for k, v in self.headers.items()}, "raw": raw,
                             "body": _parsed(self.headers, raw)})  # fmt: skip
            body = json.dumps(ANSWER if server.status < 400 else {"error": "refused"}).encode()
            self.send_response(server.status)
            if server.redirect_to:
                self.send_header("Location", server.redirect_to)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = _record  # noqa: N815 - http.server dispatches on these names

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if certfile:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certfile)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    server.status = status
    server.redirect_to = ""  # with a 3xx status: where to send the client
    server.received = received
    server.base = f"{'https' if certfile else 'http'}://127.0.0.1:{server.server_address[1]}"
    server.port = server.server_address[1]
    with serving(server):
        yield server
