"""A real local forward HTTP proxy standing in for a corporate one: it records every request it is asked
to forward (absolute-form `POST http://host:port/path`) and relays it to that destination."""

from __future__ import annotations

import http.client
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from tests.server import serving


@contextmanager
def forward_proxy(host: str = "127.0.0.1"):
    """`server.used` lists the URLs forwarded; `server.url` is what HTTP_PROXY takes."""
    used: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def _forward(self):
            used.append(self.path)
            target = urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("proxy-connection", "connection")}
            upstream = http.client.HTTPConnection(target.hostname, target.port or 80, timeout=5)
            try:
                path = target.path + (f"?{target.query}" if target.query else "")
                upstream.request(self.command, path or "/", body=body, headers=headers)
                answer = upstream.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
            finally:
                upstream.close()
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = _forward  # noqa: N815 - http.server dispatches on these names

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer((host, 0), Handler)
    server.used = used
    server.url = f"http://{host}:{server.server_address[1]}"
    with serving(server):
        yield server
