from __future__ import annotations

import psycopg

from monitoring.checkers.postgres import OWN_APPLICATION_NAMES, connect
from remediation.actions.base import Action, RestartCommand

IDLE_SESSIONS = """
    SELECT pid, coalesce(application_name, ''), now() - state_change
    FROM pg_stat_activity
    WHERE datname = current_database()
      AND state = 'idle'
      AND pid <> pg_backend_pid()
      AND backend_type = 'client backend'
      AND coalesce(application_name, '') <> ALL(%s)
      AND now() - state_change >= make_interval(secs => %s)
"""


class KillIdleConnections(Action):
    """`pg_terminate_backend` on sessions idle longer than `idle_floor_seconds` (default 0) in the target
    database only; never OpsAssist's own connections, never other databases' sessions."""

    name = "kill_idle_connections"
    label = "Terminate idle connections"
    fixes_metric = "idle_connections"
    category = "database_issue"
    fact = "{value} idle connections (healthy: at most {threshold})"
    critical_above = 15

    def sessions(self, conn) -> list[tuple]:
        floor = float(self.config.get("idle_floor_seconds", 0))
        return conn.execute(IDLE_SESSIONS, [list(OWN_APPLICATION_NAMES), floor]).fetchall()

    def execute(self, dry_run: bool = False) -> dict:
        with connect(self.monitor.target, self.monitor.timeout_seconds) as conn:
            sessions = self.sessions(conn)
            if dry_run:
                return {"would_terminate": len(sessions), "pids": [pid for pid, _, _ in sessions]}
            ended = [pid for pid, _, _ in sessions if _terminate(conn, pid)]
        return {"terminated": len(ended), "pids": ended}


def _terminate(conn: psycopg.Connection, pid: int) -> bool:
    row = conn.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone()
    return bool(row and row[0])


class RestartPostgres(RestartCommand):
    name = "restart_postgres"
    label = "Restart PostgreSQL (configured command)"
    category = "database_issue"
