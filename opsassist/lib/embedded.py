"""Run a Celery worker and beat inside the web process (the embedded, Redis-less mode)."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from celery.beat import EmbeddedService
from django.conf import settings

log = logging.getLogger(__name__)


@contextmanager
def background_services() -> Iterator[None]:
    """Start an in-process worker (thread pool) and beat (thread) on the in-memory broker; stop both on exit."""
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
    worker_thread = threading.Thread(target=worker.start, name="celery-worker", daemon=True)
    worker_thread.start()
    beat = EmbeddedService(app, thread=True, schedule_filename=settings.CELERY_BEAT_SCHEDULE_FILENAME)
    beat.start()
    log.info("embedded worker and beat started")
    try:
        yield
    finally:
        beat.stop()
        worker.stop(in_sighandler=False)
        worker_thread.join(10)
        log.info("embedded worker and beat stopped")
