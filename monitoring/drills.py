"""Failure drills (OPSASSIST_SIMULATION=1): make a real target really unhealthy, then undo it.

- postgres `idle_connections`: opens `drill_connections` (12) real idle connections to the target,
  tagged `application_name = opsassist-drill:<monitor>`, held by this process across requests.
- redis `memory_pressure`: writes keys under `opsassist:drill:<monitor>:` into the monitor's own DB until
  used memory passes 90 % of the monitor's memory limit (keys expire after an hour as a safety net).

Neither changes a server setting. `clear` works from any process: it terminates the tagged backends
by name and deletes the drill keys by prefix.
"""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.utils import timezone

from monitoring.checkers.postgres import connect
from monitoring.checkers.redis import client_for, memory_limit
from monitoring.models import Monitor
from opsassist.lib.errors import ServiceError

log = logging.getLogger(__name__)

FAILURES = {"postgres": "idle_connections", "redis": "memory_pressure"}
DRILL_KEY_TTL = 3600
CHUNK = 256 * 1024

_held: dict[str, list] = {}  # monitor name -> this process's open drill connections
_lock = threading.Lock()


def drill_application_name(monitor: Monitor) -> str:
    return f"opsassist-drill:{monitor.name}"[:63]


def drill_prefix(monitor: Monitor) -> str:
    return f"opsassist:drill:{monitor.name}:"


def check_drill(monitor: Monitor, failure: str) -> None:
    if not settings.OPSASSIST_SIMULATION:
        raise ServiceError("Failure simulation is disabled; start OpsAssist with OPSASSIST_SIMULATION=1.")
    expected = FAILURES.get(monitor.kind)
    if expected is None:
        raise ServiceError(f"{monitor.kind} monitors have no failure drill.", field="failure")
    if failure != expected:
        raise ServiceError(f"A {monitor.kind} monitor's drill is '{expected}', not '{failure}'.", field="failure")


def do_start_drill(monitor: Monitor, failure: str) -> dict:
    check_drill(monitor, failure)
    result = _start_postgres(monitor) if monitor.kind == "postgres" else _start_redis(monitor)
    _check_soon(monitor)
    return {"monitor": monitor.name, "failure": failure, **result}


def do_clear_drill(monitor: Monitor) -> dict:
    if not settings.OPSASSIST_SIMULATION:
        raise ServiceError("Failure simulation is disabled; start OpsAssist with OPSASSIST_SIMULATION=1.")
    if monitor.kind == "postgres":
        result = _clear_postgres(monitor)
    elif monitor.kind == "redis":
        result = _clear_redis(monitor)
    else:
        raise ServiceError(f"{monitor.kind} monitors have no failure drill.")
    _check_soon(monitor)
    return {"monitor": monitor.name, "cleared": True, **result}


def _check_soon(monitor: Monitor) -> None:
    Monitor.objects.filter(pk=monitor.pk).update(next_check_at=timezone.now())


def _start_postgres(monitor: Monitor) -> dict:
    count = int(monitor.config.get("drill_connections", 12))
    name = drill_application_name(monitor)
    opened = []
    try:
        for _ in range(count):
            opened.append(connect(monitor.target, monitor.timeout_seconds, application_name=name))
    except Exception as exc:
        for conn in opened:
            conn.close()
        raise ServiceError(f"Could not open drill connections: {type(exc).__name__}") from None
    with _lock:
        _held.setdefault(monitor.name, []).extend(opened)
        held = len(_held[monitor.name])
    log.info("drill started", extra={"monitor": monitor.name, "idle_connections": held})
    return {"idle_connections_opened": count, "application_name": name}


def _clear_postgres(monitor: Monitor) -> dict:
    with _lock:
        mine = _held.pop(monitor.name, [])
    for conn in mine:
        conn.close()
    # Connections another process holds: end them by their tag, and wait until they are gone
    # (pg_terminate_backend only signals the backend).
    tag = drill_application_name(monitor)
    with connect(monitor.target, monitor.timeout_seconds) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s", [tag]
        ).fetchall()
        for _ in range(50):
            if not conn.execute("SELECT 1 FROM pg_stat_activity WHERE application_name = %s", [tag]).fetchone():
                break
            time.sleep(0.05)
    return {"connections_closed": len(mine) + len(rows)}


def _start_redis(monitor: Monitor) -> dict:
    client = client_for(monitor.target, monitor.timeout_seconds)
    try:
        info = client.info("memory")
        limit = memory_limit(info, monitor.config)
        target_bytes = int(limit * 0.92)
        prefix, written, index = drill_prefix(monitor), 0, 0
        payload = b"x" * CHUNK
        # Bounded: never writes more than the limit itself.
        while int(client.info("memory")["used_memory"]) < target_bytes and written < limit:
            pipe = client.pipeline(transaction=False)
            for _ in range(16):
                pipe.set(f"{prefix}{index}", payload, ex=DRILL_KEY_TTL)
                index += 1
                written += CHUNK
            pipe.execute()
        used = int(client.info("memory")["used_memory"])
    finally:
        client.close()
    return {"keys_written": index, "bytes_written": written, "memory_percent": round(100 * used / limit, 2)}


def _clear_redis(monitor: Monitor) -> dict:
    client = client_for(monitor.target, monitor.timeout_seconds)
    deleted = 0
    try:
        batch = []
        for key in client.scan_iter(match=drill_prefix(monitor) + "*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                deleted += client.unlink(*batch)
                batch = []
        if batch:
            deleted += client.unlink(*batch)
    finally:
        client.close()
    return {"keys_deleted": deleted}
