"""Incident analytics over a window: counts, MTTA/MTTR, and availability, downtime and MTBF per service.

Availability per service = 1 - merged downtime / window, where downtime is the union of that service's
incident intervals [detected_at, resolved_at or now] clipped to the window (two overlapping incidents of
one service count once). The merge runs in SQL with window functions (gaps and islands), on PostgreSQL
and SQLite alike.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Avg, Count, Q
from django.utils import timezone

from incidents.choices import UNRESOLVED, Severity
from incidents.models import Incident

SLA_LEVELS = ((99.9, "excellent"), (99.0, "good"), (95.0, "fair"))

# Other apps add sections to the analytics answer here (name -> callable(now) -> JSON-able), so this app
# never imports them: monitoring registers "monitors" (availability from check history).
EXTRA_SECTIONS: dict = {}


def sla_status(availability_percent: float) -> str:
    for floor, name in SLA_LEVELS:
        if availability_percent >= floor:
            return name
    return "poor"


def _epoch(column: str) -> str:
    if connection.vendor == "postgresql":
        return f"EXTRACT(EPOCH FROM {column})"
    return f"((julianday({column}) - 2440587.5) * 86400.0)"


def downtime_by_service(since: datetime, until: datetime, now: datetime) -> dict[str, float]:
    """{service: merged downtime seconds within [since, until]} for services with any downtime."""
    table = Incident._meta.db_table
    start, end = _epoch("detected_at"), _epoch("resolved_at")
    sql = f"""
        WITH iv AS (
            SELECT service,
                   CASE WHEN {start} > %(since)s THEN {start} ELSE %(since)s END AS s,
                   CASE WHEN COALESCE({end}, %(now)s) < %(until)s THEN COALESCE({end}, %(now)s)
                        ELSE %(until)s END AS e
            FROM {table}
            WHERE detected_at < %(until_dt)s AND (resolved_at IS NULL OR resolved_at > %(since_dt)s)
        ),
        marked AS (
            SELECT service, s, e,
                   CASE WHEN s > MAX(e) OVER (PARTITION BY service ORDER BY s, e
                                             ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
                        THEN 1 ELSE 0 END AS gap
            FROM iv WHERE e > s
        ),
        islands AS (
            SELECT service, s, e,
                   SUM(gap) OVER (PARTITION BY service ORDER BY s, e ROWS UNBOUNDED PRECEDING) AS grp
            FROM marked
        )
        SELECT service, SUM(island_end - island_start) FROM (
            SELECT service, grp, MIN(s) AS island_start, MAX(e) AS island_end FROM islands GROUP BY service, grp
        ) merged GROUP BY service
    """  # noqa: S608 - table and column names are ours; values are parameters
    params = {
        "since": since.timestamp(),
        "until": until.timestamp(),
        "now": now.timestamp(),
        "since_dt": connection.ops.adapt_datetimefield_value(since),
        "until_dt": connection.ops.adapt_datetimefield_value(until),
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {service: float(seconds or 0.0) for service, seconds in cursor.fetchall()}


def _median(queryset, column: str) -> float | None:
    values = queryset.filter(**{f"{column}__isnull": False}).order_by(column).values_list(column, flat=True)
    count = values.count()
    if count == 0:
        return None
    middle = values[(count - 1) // 2 : count // 2 + 1]
    return sum(middle) / len(middle)


def _mean_median(queryset, column: str) -> dict:
    mean = queryset.aggregate(v=Avg(column))["v"]
    return {"mean": mean, "median": _median(queryset, column)}


def _counts(queryset, field: str) -> dict[str, int]:
    return {row[field]: row["n"] for row in queryset.values(field).annotate(n=Count("id")).order_by(field)}


@dataclass
class Window:
    since: datetime
    until: datetime

    @classmethod
    def default(cls, now: datetime) -> Window:
        return cls(since=now - timedelta(days=30), until=now)

    @property
    def seconds(self) -> float:
        return max(1.0, (self.until - self.since).total_seconds())


def service_reliability(window: Window, now: datetime, services: list[str] | None = None) -> list[dict]:
    """Per service: incidents, availability_percent, downtime_seconds, mtbf_seconds, sla_status."""
    in_window = Incident.objects.filter(detected_at__gte=window.since, detected_at__lt=window.until)
    counts = _counts(in_window, "service")
    downtime = downtime_by_service(window.since, window.until, now)
    names = sorted(set(services or []) | set(counts) | set(downtime))
    rows = []
    for service in names:
        down = min(downtime.get(service, 0.0), window.seconds)
        availability = round(100.0 * (1 - down / window.seconds), 4)
        failures = counts.get(service, 0)
        rows.append(
            {
                "service": service,
                "incidents": failures,
                "availability_percent": availability,
                "downtime_seconds": round(down, 3),
                "mtbf_seconds": round((window.seconds - down) / failures, 3) if failures else None,
                "sla_status": sla_status(availability),
            }
        )
    return rows


def analytics(window: Window, now: datetime | None = None) -> dict:
    now = now or timezone.now()
    incidents = Incident.objects.all()
    in_window = incidents.filter(detected_at__gte=window.since, detected_at__lt=window.until)
    recent = incidents.aggregate(
        last_24h=Count("id", filter=Q(detected_at__gte=now - timedelta(hours=24))),
        last_7d=Count("id", filter=Q(detected_at__gte=now - timedelta(days=7))),
        critical_last_24h=Count("id", filter=Q(detected_at__gte=now - timedelta(hours=24), severity=Severity.CRITICAL)),
        active=Count("id", filter=Q(status__in=UNRESOLVED)),
    )
    services = service_reliability(window, now)
    return {
        "since": window.since,
        "until": window.until,
        "total": in_window.count(),
        **recent,
        "mtta_seconds": _mean_median(in_window, "ack_seconds"),
        "mttr_seconds": _mean_median(in_window, "resolve_seconds"),
        "by_status": _counts(in_window, "status"),
        "by_severity": _counts(in_window, "severity"),
        "by_service": _counts(in_window, "service"),
        "by_category": {k or "uncategorized": v for k, v in _counts(in_window, "category").items()},
        "services": services,
        **{name: section(now) for name, section in EXTRA_SECTIONS.items()},
    }


def current(now: datetime | None = None) -> dict:
    """`analytics` over the default window (the last 30 days), computed at most once per
    ANALYTICS_CACHE_SECONDS and shared by every process through the cache (Redis in service mode): with
    thousands of services the full computation takes a good part of a second."""
    now = now or timezone.now()
    ttl = settings.ANALYTICS_CACHE_SECONDS
    if ttl <= 0:
        return analytics(Window.default(now), now)
    key = f"analytics:default:{int(now.timestamp() // ttl)}"
    found = None
    with contextlib.suppress(Exception):  # the cache is down: compute, as without it
        found = cache.get(key)
    if found is None:
        found = analytics(Window.default(now), now)
        with contextlib.suppress(Exception):
            cache.set(key, found, timeout=2 * ttl)
    return found
