"""Incident analytics over a window: counts, MTTA/MTTR, and availability, downtime and MTBF per service.

Availability per service = 1 - merged downtime / window, where downtime is the union of that service's
incident intervals [detected_at, resolved_at or now] clipped to the window (two overlapping incidents of
one service count once). Whole UTC days come from the daily rollup (incidents/rollup.py, ServiceDay); the
partial days at the window's ends, and services whose rollup is pending or that have an ongoing incident,
are merged in SQL with window functions (gaps and islands), on PostgreSQL and SQLite alike. Both give the
same numbers (incidents/tests/test_rollup.py).

The default window's answer is cached as rendered JSON bytes for ANALYTICS_CACHE_SECONDS and shared by
every process (Redis in service mode); per-service rows come worst first, a page at a time.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Avg, Count, Q, Sum
from django.utils import timezone

from incidents import rollup
from incidents.choices import UNRESOLVED, Severity
from incidents.models import Incident, ServiceDay

SLA_LEVELS = ((99.9, "excellent"), (99.0, "good"), (95.0, "fair"))
# Per-service rows in one answer by default (`service_limit`, up to SERVICES_PAGE_MAX; `service_offset` pages).
SERVICES_PAGE = 100
SERVICES_PAGE_MAX = 1000

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


def downtime_by_service(
    since: datetime, until: datetime, now: datetime, only: set[str] | None = None, lookback: timedelta | None = None
) -> dict[str, float]:
    """{service: merged downtime seconds within [since, until]} for services with any downtime (of the
    services in `only`, when given; counting only incidents detected at most `lookback` before `since`)."""
    table = Incident._meta.db_table
    start, end = _epoch("detected_at"), _epoch("resolved_at")
    names = sorted(only or ())
    among = f"AND service IN ({', '.join(f'%(s{i})s' for i in range(len(names)))})" if only is not None else ""
    if only is not None and not names:
        return {}
    recent = "AND detected_at >= %(earliest_dt)s" if lookback is not None else ""
    sql = f"""
        WITH iv AS (
            SELECT service,
                   CASE WHEN {start} > %(since)s THEN {start} ELSE %(since)s END AS s,
                   CASE WHEN COALESCE({end}, %(now)s) < %(until)s THEN COALESCE({end}, %(now)s)
                        ELSE %(until)s END AS e
            FROM {table}
            WHERE detected_at < %(until_dt)s AND (resolved_at IS NULL OR resolved_at > %(since_dt)s) {among}
                  {recent}
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
        "earliest_dt": connection.ops.adapt_datetimefield_value(since - lookback) if lookback else None,
        **{f"s{i}": name for i, name in enumerate(names)},
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


def _medians(window: Window) -> tuple[float | None, float | None]:
    """Median ack_seconds and resolve_seconds of the window's incidents: one ordered-set aggregate on
    PostgreSQL, two sorts on SQLite."""
    if connection.vendor != "postgresql":
        in_window = _detected(window.since, window.until)
        return _median(in_window, "ack_seconds"), _median(in_window, "resolve_seconds")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ack_seconds),"
            " percentile_cont(0.5) WITHIN GROUP (ORDER BY resolve_seconds)"
            " FROM incidents_incident WHERE detected_at >= %s AND detected_at < %s",
            [window.since, window.until],
        )
        return cursor.fetchone()


def _counts(queryset, field: str) -> dict[str, int]:
    return {row[field]: row["n"] for row in queryset.values(field).annotate(n=Count("id")).order_by(field)}


def _breakdowns(queryset) -> dict:
    """total, by_status, by_severity, by_category and mean MTTA/MTTR of the window in one grouped scan."""
    rows = queryset.order_by().values("status", "severity", "category").annotate(
        n=Count("id"), ack_sum=Sum("ack_seconds"), ack_n=Count("ack_seconds"),
        resolve_sum=Sum("resolve_seconds"), resolve_n=Count("resolve_seconds"),
    )  # fmt: skip
    out: dict = {"total": 0, "by_status": Counter(), "by_severity": Counter(), "by_category": Counter()}
    sums: Counter[str] = Counter()
    for row in rows:
        out["total"] += row["n"]
        out["by_status"][row["status"]] += row["n"]
        out["by_severity"][row["severity"]] += row["n"]
        out["by_category"][row["category"] or "uncategorized"] += row["n"]
        for key in ("ack_sum", "ack_n", "resolve_sum", "resolve_n"):
            sums[key] += row[key] or 0
    for key in ("by_status", "by_severity", "by_category"):
        out[key] = dict(sorted(out[key].items()))
    out["ack_mean"] = sums["ack_sum"] / sums["ack_n"] if sums["ack_n"] else None
    out["resolve_mean"] = sums["resolve_sum"] / sums["resolve_n"] if sums["resolve_n"] else None
    return out


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

    def whole_days(self) -> tuple[datetime, datetime] | None:
        """The UTC midnights bounding the whole days inside the window, if there is at least one."""
        first = rollup.day_start(rollup.utc_day(self.since))
        if first < self.since:
            first += timedelta(days=1)
        last = rollup.day_start(rollup.utc_day(self.until))
        return (first, last) if first < last else None


def _detected(since: datetime, until: datetime):
    return Incident.objects.filter(detected_at__gte=since, detected_at__lt=until)


Inputs = tuple[dict[str, int], dict[str, float]]


def raw_inputs(window: Window, now: datetime, only: set[str] | None = None) -> Inputs:
    """What reliability_inputs gives, computed from the incidents alone (of the services in `only`)."""
    in_window = _detected(window.since, window.until)
    if only is not None:
        in_window = in_window.filter(service__in=sorted(only))
    downtime = downtime_by_service(window.since, window.until, now, only)
    return _counts(in_window, "service"), {service: down for service, down in downtime.items() if down > 0}


def reliability_inputs(window: Window, now: datetime) -> Inputs:
    """({service: incidents detected in the window}, {service: merged downtime seconds}), exact: whole days
    from the rollup, the rest from the incidents."""
    rollup.catch_up(rollup.READ_BATCH)
    days = window.whole_days()
    pending, ongoing = rollup.pending_services(), rollup.ongoing_services(window.until)
    if days is None or pending is None or ongoing is None or len(pending | ongoing) > rollup.RAW_SERVICES_LIMIT:
        return raw_inputs(window, now)
    raw = pending | ongoing
    counts: dict[str, int] = defaultdict(int)
    downtime: dict[str, float] = defaultdict(float)
    if raw:
        raw_counts, raw_downtime = raw_inputs(window, now, raw)
        counts.update(raw_counts)
        downtime.update(raw_downtime)
    whole = ServiceDay.objects.filter(day__gte=days[0].date(), day__lt=days[1].date()).order_by()
    for service, n, down in whole.values_list("service").annotate(Sum("incidents"), Sum("downtime_seconds")):
        if service not in raw:
            counts[service] += n
            downtime[service] += down
    # The partial days at the ends: only incidents of up-to-date services, all resolved, count here, so
    # none detected longer than the longest of them before an end's start reaches into it.
    lookback = rollup.longest_resolved()
    for since, until in ((window.since, days[0]), (days[1], window.until)):
        if since < until:
            for service, n in _counts(_detected(since, until), "service").items():
                counts[service] += 0 if service in raw else n
            for service, down in downtime_by_service(since, until, now, lookback=lookback).items():
                downtime[service] += 0 if service in raw else down
    return {k: v for k, v in counts.items() if v > 0}, {k: v for k, v in downtime.items() if v > 0}


def _reliability_row(service: str, window: Window, failures: int, down: float) -> dict:
    down = min(down, window.seconds)
    availability = round(100.0 * (1 - down / window.seconds), 4)
    return {
        "service": service,
        "incidents": failures,
        "availability_percent": availability,
        "downtime_seconds": round(down, 3),
        "mtbf_seconds": round((window.seconds - down) / failures, 3) if failures else None,
        "sla_status": sla_status(availability),
    }


def service_reliability(
    window: Window,
    now: datetime,
    services: list[str] | None = None,
    inputs: Inputs | None = None,
    limit: int | None = None,
) -> list[dict]:
    """Per service (those named, and every one with incidents or downtime in the window), worst first, the
    first `limit`: incidents, availability_percent, downtime_seconds, mtbf_seconds, sla_status."""
    counts, downtime = inputs or reliability_inputs(window, now)
    names = set(services or []) | set(counts) | set(downtime)
    # Worst first: most downtime, then most incidents (the same order as availability, without rounding).
    order = sorted(names, key=lambda name: (-downtime.get(name, 0.0), -counts.get(name, 0), name))
    return [_reliability_row(name, window, counts.get(name, 0), downtime.get(name, 0.0)) for name in order[:limit]]


def _recent(now: datetime) -> dict:
    return Incident.objects.filter(detected_at__gte=now - timedelta(days=7)).aggregate(
        last_24h=Count("id", filter=Q(detected_at__gte=now - timedelta(hours=24))),
        last_7d=Count("id"),
        critical_last_24h=Count("id", filter=Q(detected_at__gte=now - timedelta(hours=24), severity=Severity.CRITICAL)),
    )


def summary(now: datetime) -> dict:
    """The dashboard's headline figures (a few indexed counts): active, last_24h, last_7d,
    critical_last_24h, and mttr_seconds.mean over the last 30 days."""
    mttr = _detected(now - timedelta(days=30), now).aggregate(mean=Avg("resolve_seconds"))
    return {"active": Incident.objects.filter(status__in=UNRESOLVED).count(), **_recent(now), "mttr_seconds": mttr}


def analytics(window: Window, now: datetime | None = None, limit: int = SERVICES_PAGE, offset: int = 0) -> dict:
    now = now or timezone.now()
    in_window = _detected(window.since, window.until)
    recent = _recent(now)
    inputs = reliability_inputs(window, now)
    services = service_reliability(window, now, inputs=inputs, limit=offset + limit)
    breakdowns = _breakdowns(in_window)
    ack_median, resolve_median = _medians(window)
    return {
        "since": window.since,
        "until": window.until,
        "total": breakdowns["total"],
        "active": Incident.objects.filter(status__in=UNRESOLVED).count(),
        **recent,
        "mtta_seconds": {"mean": breakdowns["ack_mean"], "median": ack_median},
        "mttr_seconds": {"mean": breakdowns["resolve_mean"], "median": resolve_median},
        "by_status": breakdowns["by_status"],
        "by_severity": breakdowns["by_severity"],
        "by_service": dict(sorted(inputs[0].items())),
        "by_category": breakdowns["by_category"],
        "services": services[offset : offset + limit],
        "services_total": len(set(inputs[0]) | set(inputs[1])),
        "services_offset": offset,
        "services_limit": limit,
        **{name: section(now) for name, section in EXTRA_SECTIONS.items()},
    }


def cached(key: str, compute: Callable[[], Any], ttl: float) -> Any:
    """`compute()`, shared through the cache for `ttl` seconds. When it is stale, one process recomputes
    (it holds a short lock) while the others keep answering the previous value, so a slow computation
    never piles up requests. A cache that is down means computing each time, as without it."""
    if ttl <= 0:
        return compute()
    now = time.time()
    found = None
    with contextlib.suppress(Exception):
        found = cache.get(key)
    if found is not None:
        computed_at, value = found
        if now - computed_at < ttl:
            return value
        with contextlib.suppress(Exception):
            if not cache.add(f"{key}:lock", 1, timeout=max(30, int(ttl))):
                return value  # another process is recomputing: the previous answer meanwhile
    value = compute()
    with contextlib.suppress(Exception):
        cache.set(key, (time.time(), value), timeout=max(60, int(10 * ttl)))
        cache.delete(f"{key}:lock")
    return value


def current_json(limit: int = SERVICES_PAGE, offset: int = 0) -> bytes:
    """The default window's answer rendered to JSON bytes, at most ANALYTICS_CACHE_SECONDS old: a cached
    answer costs a cache read, not a computation and a rendering of thousands of rows."""
    from rest_framework.renderers import JSONRenderer

    def render() -> bytes:
        return JSONRenderer().render(analytics(Window.default(timezone.now()), limit=limit, offset=offset))

    return cached(f"analytics:default:json:{limit}:{offset}", render, settings.ANALYTICS_CACHE_SECONDS)
