"""Heartbeats of the Celery worker and beat, so `/health` and `/metrics` see a silent one.

Each process writes `{hostname: unix time}` under its role in Django's cache: Redis in service mode
(shared by every process), process memory in the embedded mode (worker and beat run inside the web
process there). The worker writes from a timer on its consumer's event loop and beat from its scheduler
tick, so a frozen process (SIGSTOP, a blocked loop) stops refreshing and its age grows.
"""

from __future__ import annotations

import logging
import socket
import time

from celery import bootsteps
from celery.beat import PersistentScheduler
from django.conf import settings
from django.core.cache import cache

log = logging.getLogger(__name__)

ROLES = ("worker", "beat")
KEY = "opsassist:heartbeat:{role}"
# A host silent this long is dropped from its role's map (a renamed or retired worker).
FORGET_AFTER = 24 * 3600


def beat(role: str, host: str | None = None, now: float | None = None) -> bool:
    """Record that `role` on `host` is alive now; False if it could not be written. Never raises: a
    heartbeat must not kill its process."""
    now = time.time() if now is None else now
    host = host or socket.gethostname()
    try:
        beats = {h: t for h, t in _read(role).items() if now - t < FORGET_AFTER}
        beats[host] = now
        cache.set(KEY.format(role=role), beats, timeout=FORGET_AFTER)
    except Exception as exc:  # the cache (Redis) is down: /health reports the broker and the age
        log.warning("heartbeat of %s not written: %r", role, exc)
        return False
    return True


def ages(now: float | None = None) -> dict[str, float | None]:
    """Seconds since the freshest heartbeat of each role, None when none was ever written."""
    now = time.time() if now is None else now
    result: dict[str, float | None] = {}
    for role in ROLES:
        beats = _read(role)
        result[role] = round(max(0.0, now - max(beats.values())), 3) if beats else None
    return result


def check_age(role: str, now: float | None = None) -> dict:
    """Health check of one role: its age, or RuntimeError naming why it is silent."""
    age = ages(now)[role]
    limit = settings.HEALTH_HEARTBEAT_MAX_AGE_SECONDS
    if age is None:
        raise RuntimeError(f"{role}: no heartbeat yet")
    if age > limit:
        raise RuntimeError(f"{role}: last heartbeat {age:.0f}s ago (limit {limit:g}s)")
    return {"age_seconds": age, "max_age_seconds": limit}


def _read(role: str) -> dict[str, float]:
    value = cache.get(KEY.format(role=role))
    return value if isinstance(value, dict) else {}


class WorkerHeartbeat(bootsteps.StartStopStep):
    """A consumer bootstep: a repeating timer on the worker's own loop writes the worker heartbeat."""

    requires = {"celery.worker.consumer.tasks:Tasks"}

    def __init__(self, parent, **kwargs):
        super().__init__(parent, **kwargs)
        self.tref = None

    def start(self, parent):
        host = parent.hostname
        beat("worker", host)
        interval = settings.HEALTH_HEARTBEAT_INTERVAL_SECONDS
        self.tref = parent.timer.call_repeatedly(interval, beat, ("worker", host))

    def stop(self, parent):
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None

    shutdown = stop


class HeartbeatScheduler(PersistentScheduler):
    """Celery beat's persistent scheduler that also writes the beat heartbeat on every tick."""

    _last_beat = 0.0

    def tick(self, *args, **kwargs):
        now = time.time()
        interval = settings.HEALTH_HEARTBEAT_INTERVAL_SECONDS
        # After a failed write (Redis restarting) try again on the next tick, not an interval later.
        if now - self._last_beat >= interval and beat("beat", now=now):
            self._last_beat = now
        return min(super().tick(*args, **kwargs), interval)
