"""The alert inbox's bulk writes: alert rows and timeline entries, thousands per batch.

On PostgreSQL they go through psycopg with server-side parameters, a prepared statement and pipelined
`executemany`: the ORM's bulk_create spends most of a batch building and dumping per-value arrays (about
1 s per thousand alerts on a busy machine). Elsewhere (the embedded SQLite mode) the ORM does them.
"""

from __future__ import annotations

from datetime import datetime

import psycopg
from django.db import connection
from psycopg.types.json import Jsonb

from incidents import services
from incidents.alerts import ALERT_FIELDS
from incidents.models import Alert, TimelineEntry

ALERT_COLUMNS = ("source", "fingerprint", *ALERT_FIELDS, "incident_id")
JSON_COLUMNS = {"labels", "annotations"}
# One row per alert (source, fingerprint): a known alert is rewritten whole; created_at stays.
# Built from the constant column names above, no input.
UPSERT_ALERT = (
    f"INSERT INTO incidents_alert ({', '.join(ALERT_COLUMNS)}, created_at, updated_at) "  # noqa: S608
    f"VALUES ({', '.join(['%s'] * len(ALERT_COLUMNS))}, %s, %s) "
    "ON CONFLICT (source, fingerprint) DO UPDATE SET "
    + ", ".join(f"{name} = EXCLUDED.{name}" for name in (*ALERT_COLUMNS[2:], "updated_at"))
)
END_ALERT = (
    "UPDATE incidents_alert SET status = 'resolved', ends_at = %s, updated_at = %s "
    "WHERE source = %s AND fingerprint = %s AND status <> 'resolved'"
)
INSERT_ENTRY = (
    "INSERT INTO incidents_timelineentry (incident_id, at, kind, actor, text, data) VALUES (%s, %s, %s, %s, %s, %s)"
)


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def _executemany(sql: str, params: list[tuple]) -> None:
    """psycopg's own cursor (server-side binding, pipelined) on Django's connection and transaction."""
    if not params:
        return
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.executemany(sql, params)


def upsert_alerts(rows: list[dict], now: datetime) -> None:
    """Insert or rewrite whole alert rows (dicts of ALERT_COLUMNS)."""
    if _postgres():
        params = [
            (*(Jsonb(row[name]) if name in JSON_COLUMNS else row[name] for name in ALERT_COLUMNS), now, now)
            for row in rows
        ]
        _executemany(UPSERT_ALERT, params)
        return
    Alert.objects.bulk_create(
        [Alert(**row) for row in rows], batch_size=services.BULK_CHUNK, update_conflicts=True,
        unique_fields=["source", "fingerprint"], update_fields=[*ALERT_FIELDS, "incident", "updated_at"],
    )  # fmt: skip


def end_alerts(ended: list[tuple[str, str, datetime]], now: datetime) -> None:
    """Mark known alerts resolved: (source, fingerprint, ends_at) each."""
    if _postgres():
        _executemany(END_ALERT, [(ends_at, now, source, fingerprint) for source, fingerprint, ends_at in ended])
        return
    for source, fingerprint, ends_at in ended:
        Alert.objects.filter(source=source, fingerprint=fingerprint).update(
            status="resolved", ends_at=ends_at, updated_at=now
        )


def insert_entries(entries: list[TimelineEntry]) -> None:
    """Timeline entries nobody needs the ids of."""
    if _postgres():
        params = [(e.incident_id, e.at, e.kind, e.actor, e.text, Jsonb(e.data)) for e in entries]
        _executemany(INSERT_ENTRY, params)
        return
    TimelineEntry.objects.bulk_create(entries, batch_size=services.BULK_CHUNK)
