from __future__ import annotations

import logging
import math
import threading
import time

import psycopg
from rest_framework import serializers

from monitoring.checkers.base import Checker, CheckerConfig, Outcome
from opsassist.lib import outbound

log = logging.getLogger(__name__)

# Connections that are OpsAssist itself (its pool, its checker) never count as the target's idle load.
OWN_APPLICATION_NAMES = ("opsassist", "opsassist-monitor")

IDLE_QUERY = """
    SELECT count(*) FILTER (WHERE state = 'idle'),
           count(*),
           current_setting('max_connections')::int
    FROM pg_stat_activity
    WHERE datname = current_database()
      AND pid <> pg_backend_pid()
      AND backend_type = 'client backend'
      AND coalesce(application_name, '') <> ALL(%s)
"""


def health_for_idle(idle: int) -> int:
    """Seed 001's table: <= 8 idle -> 100, > 8 -> 70, > 10 -> 50, > 12 -> 30, > 15 -> 0."""
    if idle > 15:
        return 0
    if idle > 12:
        return 30
    if idle > 10:
        return 50
    if idle > 8:
        return 70
    return 100


def connect(target: str, timeout: float, application_name: str = "opsassist-monitor") -> psycopg.Connection:
    # hostaddr: the address the outbound policy checked just now, so libpq never resolves the name again
    # (None when there is none: psycopg leaves None parameters out).
    hostaddr = outbound.postgres_hostaddr(target) or None
    return psycopg.connect(
        target, connect_timeout=max(1, math.ceil(timeout)), application_name=application_name, autocommit=True,
        hostaddr=hostaddr,
    )  # fmt: skip


class PostgresConfig(CheckerConfig):
    drill_connections = serializers.IntegerField(min_value=1, max_value=50, default=12)
    # Read by the kill_idle_connections action: only connections idle longer than this are ended.
    idle_floor_seconds = serializers.FloatField(min_value=0, max_value=86_400, default=0)


class PostgresChecker(Checker):
    """Idle connections of the target database, from pg_stat_activity.

    Note: health 70 (9-10 idle) still counts as healthy; the incident opens below 70.

    Drill `idle_connections`: opens `drill_connections` (12) real idle connections to the target, tagged
    `application_name = opsassist-drill:<monitor>` and held by this process; clearing terminates the tagged
    backends by name, so it works from any process.
    """

    Config = PostgresConfig
    schemes = ("postgres", "postgresql")
    key_metric = ("idle_connections", 8)
    drill_failure = "idle_connections"
    target_errors = (psycopg.Error, OSError)

    def check(self) -> Outcome:
        with connect(self.monitor.target, self.timeout) as conn:
            conn.execute(f"SET statement_timeout = {int(self.timeout * 1000)}")
            row = conn.execute(IDLE_QUERY, [list(OWN_APPLICATION_NAMES)]).fetchone()
        assert row is not None  # an aggregate without GROUP BY always returns one row
        idle, total, max_connections = row
        health = health_for_idle(idle)
        return Outcome(
            health=health,
            metrics={
                "idle_connections": idle,
                "connections": total,
                "max_connections": max_connections,
                "idle_threshold": 8,
            },
            summary=f"{idle} idle connections",
        )

    def start_drill(self, max_bytes: int) -> dict:
        count, name = self.conf.drill_connections, drill_application_name(self.monitor)
        opened = []
        try:
            for _ in range(count):
                opened.append(connect(self.monitor.target, self.timeout, application_name=name))
        except Exception:
            for conn in opened:
                conn.close()
            raise
        with _drill_lock:
            _held.setdefault(self.monitor.name, []).extend(opened)
            held = len(_held[self.monitor.name])
        log.info("drill started", extra={"monitor": self.monitor.name, "idle_connections": held})
        return {"idle_connections_opened": count, "application_name": name}

    def clear_drill(self) -> dict:
        with _drill_lock:
            mine = _held.pop(self.monitor.name, [])
        for conn in mine:
            conn.close()
        # Connections another process holds: end them by their tag, and wait until they are gone
        # (pg_terminate_backend only signals the backend).
        # Only in the target database: a monitor of the same name elsewhere on the server is not ours.
        tag = drill_application_name(self.monitor)
        with connect(self.monitor.target, self.timeout) as conn:
            rows = conn.execute(f"SELECT pg_terminate_backend(pid) {DRILL_SESSIONS}", [tag]).fetchall()
            for _ in range(50):
                if not conn.execute(f"SELECT 1 {DRILL_SESSIONS}", [tag]).fetchone():
                    break
                time.sleep(0.05)
        return {"connections_closed": len(mine) + len(rows)}


DRILL_SESSIONS = "FROM pg_stat_activity WHERE application_name = %s AND datname = current_database()"
_held: dict[str, list] = {}  # monitor name -> this process's open drill connections
_drill_lock = threading.Lock()


def drill_application_name(monitor) -> str:
    return f"opsassist-drill:{monitor.name}"[:63]
