from __future__ import annotations

import math

import psycopg

from monitoring.checkers.base import Checker, Outcome
from opsassist.lib import outbound

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
    # hostaddr: the address the outbound policy checked just now, so libpq never resolves the name again.
    hostaddr = outbound.postgres_hostaddr(target)
    return psycopg.connect(
        target, connect_timeout=max(1, math.ceil(timeout)), application_name=application_name, autocommit=True,
        **({"hostaddr": hostaddr} if hostaddr else {}),
    )  # fmt: skip


class PostgresChecker(Checker):
    """Idle connections of the target database, from pg_stat_activity.

    Note: health 70 (9-10 idle) still counts as healthy; the incident opens below 70.
    """

    key_metric = ("idle_connections", 8)

    def check(self) -> Outcome:
        with connect(self.monitor.target, self.timeout) as conn:
            conn.execute(f"SET statement_timeout = {int(self.timeout * 1000)}")
            idle, total, max_connections = conn.execute(IDLE_QUERY, [list(OWN_APPLICATION_NAMES)]).fetchone()
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
