"""Serve HTTP and WebSockets with uvicorn.

Embedded mode (no REDIS_URL): also runs the Celery worker and beat in this process.
Service mode: web only; run `make worker` and `make beat` (or `make up`, which starts all three).
"""

import os
import shutil

import uvicorn
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from opsassist.lib import embedded


class Command(BaseCommand):
    help = "Serve OpsAssist over HTTP and WebSocket (uvicorn)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("OPSASSIST_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=settings.OPSASSIST_PORT)
        parser.add_argument(
            "--workers",
            type=int,
            default=None,
            help="uvicorn worker processes (service mode only; default WEB_CONCURRENCY or 2)",
        )

    def handle(self, *args, host, port, workers, **options):
        config = {
            "host": host,
            "port": port,
            "lifespan": "on",
            "log_level": settings.LOG_LEVEL.lower(),
            "access_log": settings.LOG_LEVEL == "DEBUG",
            # Client address and scheme from X-Forwarded-* only behind a proxy (sent by FORWARDED_ALLOW_IPS);
            # otherwise any client could pick the address its failed logins count against.
            "proxy_headers": settings.OPSASSIST_BEHIND_PROXY,
            "timeout_graceful_shutdown": 10,
        }
        mode = "embedded" if settings.EMBEDDED else "service"
        # The public URL is the one browsers must use: another host name is answered 400 (see docs/security.md).
        self.stdout.write(f"OpsAssist on http://{host}:{port}/ ({mode} mode), public URL {settings.OPSASSIST_URL}")
        if settings.EMBEDDED:
            if workers and workers > 1:
                raise CommandError("Several web workers need REDIS_URL (the in-memory broker is per process).")
            embedded.request_background_services()  # started by the ASGI lifespan, stopped at its end
            # workers=1 explicitly: uvicorn would otherwise read WEB_CONCURRENCY and fork.
            uvicorn.run("opsassist.asgi:application", workers=1, **config)
        else:
            workers = workers or int(os.environ.get("WEB_CONCURRENCY", "2"))
            _prepare_multiprocess_metrics()
            uvicorn.run("opsassist.asgi:application", workers=workers, **config)


def _prepare_multiprocess_metrics() -> None:
    """Several uvicorn workers share counters through prometheus_client's multiprocess directory."""
    path = settings.VAR_DIR / "prometheus"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(path))
