"""Run a Celery worker and beat inside the web process (the embedded, Redis-less mode).

They start from the ASGI lifespan, once the server's event loop is known, so that every live update
they send (opsassist.lib.live) reaches the in-memory channel layer through that loop.
"""

from __future__ import annotations

import logging
import socket
import threading

from celery.beat import EmbeddedService
from django.conf import settings

from opsassist.lib import heartbeat

log = logging.getLogger(__name__)

_wanted = False
_running: tuple | None = None


def request_background_services() -> None:
    """Called by `manage.py serve` in embedded mode: the lifespan start-up will start them."""
    global _wanted
    _wanted = True


def start() -> None:
    """Start an in-process worker (thread pool) and beat (thread) on the in-memory broker."""
    global _running
    if not _wanted or _running is not None:
        return
    from opsassist.celery import app

    worker = app.WorkController(
        app=app,
        pool="threads",
        concurrency=settings.CELERY_WORKER_CONCURRENCY,
        hostname=f"embedded@{socket.gethostname()}",
        queues=settings.CELERY_WORKER_QUEUES,
        without_heartbeat=True,
        without_mingle=True,
        without_gossip=True,
        loglevel=settings.LOG_LEVEL,
    )
    thread = threading.Thread(target=worker.start, name="celery-worker", daemon=True)
    thread.start()
    beat = EmbeddedService(
        app,
        thread=True,
        schedule_filename=settings.CELERY_BEAT_SCHEDULE_FILENAME,
        scheduler_cls=app.conf.beat_scheduler,
    )
    beat.start()
    _running = (worker, thread, beat)
    # Both were started just now; from here on their own timers keep the heartbeats fresh.
    for role in heartbeat.ROLES:
        heartbeat.beat(role)
    log.info("embedded worker and beat started")


def stop() -> None:
    global _running
    if _running is None:
        return
    worker, thread, beat = _running
    _running = None
    beat.stop()
    worker.stop(in_sighandler=False)
    thread.join(10)
    log.info("embedded worker and beat stopped")
