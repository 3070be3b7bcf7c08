"""Host agent: send this host's metrics and process status to OpsAssist every --interval seconds.

    manage.py agent --url https://opsassist.example.com --token KEY \
        --process ffmpeg='ffmpeg .*capture1':/var/log/capture1.log:120 --process monitor=capture-monitor

A process matches when its command line matches the pattern, except the agent itself, its ancestors
(`make agent`, the shell that started it) and shells that only carry the pattern (`sh -c "…"`).
`--print` prints the heartbeat it would send and exits (no token needed).
"""

import json
import logging
import os
import time

import httpx
from django.core.management.base import BaseCommand, CommandError

from monitoring.agent import ProcessSpec, heartbeat

log = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Run the host agent: heartbeats with host metrics and process status."

    def add_arguments(self, parser):
        parser.add_argument("--url", default=os.environ.get("OPSASSIST_URL", "http://127.0.0.1:8000"))
        parser.add_argument("--token", default=os.environ.get("OPSASSIST_TOKEN", ""))
        parser.add_argument("--host", default=os.environ.get("OPSASSIST_AGENT_HOST") or None)
        parser.add_argument("--interval", type=float, default=float(os.environ.get("OPSASSIST_AGENT_INTERVAL", 60)))
        parser.add_argument("--process", action="append", default=[], help="name=pattern[:file[:max_age]]")
        parser.add_argument("--once", action="store_true", help="send one heartbeat and exit")
        parser.add_argument(
            "--print", action="store_true", dest="print_only", help="print one heartbeat as JSON, send nothing"
        )

    def handle(self, *args, url, token, host, interval, process, once, print_only, **options):
        try:
            specs = [ProcessSpec.parse(p) for p in process]
        except ValueError as exc:
            raise CommandError(f"--process: {exc}") from None
        if print_only:
            self.stdout.write(json.dumps(heartbeat(specs, host), indent=2))
            return
        if not token:
            raise CommandError("--token (or OPSASSIST_TOKEN) is required")
        client = httpx.Client(base_url=url, headers={"Authorization": f"Token {token}"}, timeout=10)
        while True:
            body = heartbeat(specs, host)
            try:
                response = client.post("/api/v1/heartbeats", json=body)
                self.stdout.write(f"heartbeat {body['host']}: HTTP {response.status_code}")
                if response.status_code >= 400:
                    self.stderr.write(response.text[:500])
            except httpx.HTTPError as exc:
                # The server being away is exactly what heartbeats detect: keep trying.
                self.stderr.write(f"heartbeat failed: {exc}")
            if once:
                return
            time.sleep(interval)
