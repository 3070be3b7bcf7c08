"""A real local HTTP server standing in for Slack's Web API: answers chat.postMessage, chat.update,
chat.postEphemeral and users.info in Slack's JSON shape, and records every call."""

from __future__ import annotations

import json
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from tests.server import serving


@contextmanager
def slack_api(emails: dict[str, str] | None = None):
    """Yield the server: `.url` (the SLACK_API_URL), `.calls` [(method, args)], `.emails` {user id: email},
    `.failing` {method: Slack error} to make a method fail."""
    calls: list[tuple[str, dict]] = []
    counter = iter(range(1, 10_000))

    def answer(method: str, args: dict) -> dict:
        if method in server.failing:
            return {"ok": False, "error": server.failing[method]}
        if method == "chat.postMessage":
            # Posting to a user ID lands in the app's DM with that user (a D… conversation).
            channel = str(args.get("channel", ""))
            channel = "D" + channel[1:] if channel.startswith("U") else channel
            return {"ok": True, "channel": channel, "ts": f"1767700000.{next(counter):06d}"}
        if method == "chat.update":
            return {"ok": True, "channel": args.get("channel"), "ts": args.get("ts")}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": f"1767700000.{next(counter):06d}"}
        if method == "users.info":
            email = server.emails.get(args.get("user", ""))
            if email is None:
                return {"ok": False, "error": "user_not_found"}
            return {"ok": True, "user": {"id": args["user"], "profile": {"email": email}}}
        return {"ok": False, "error": "unknown_method"}

    class Handler(BaseHTTPRequestHandler):
        def _reply(self, args: dict) -> None:
            method = urlsplit(self.path).path.rsplit("/", 1)[-1]
            calls.append((method, args))
            body = json.dumps(answer(method, args)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            self._reply({k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()})

        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.headers.get("Content-Type", "").startswith("application/json"):
                args = json.loads(raw or b"{}")
            else:
                args = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
            args.update({k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()})
            self._reply(args)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.calls = calls
    server.emails = dict(emails or {})
    server.failing = {}  # method → the Slack error it answers
    server.url = f"http://127.0.0.1:{server.server_address[1]}/api/"
    with serving(server):
        yield server
