"""Event-threshold correlation: a burst of error events from one service opens one incident.

Rule (contract, "Events and correlation"): when a service has >= CORRELATION_THRESHOLD error events
(ERROR, CRITICAL, FATAL) whose timestamps fall within CORRELATION_WINDOW_SECONDS of each other, one
incident opens (source "events"). Later error events of that service attach to the unresolved incident.

A pass, whatever the number of services:
1. takes the pass lease (a PostgreSQL advisory lock, else a cache lease): a pass that cannot take it
   returns at once, so passes never pile up behind a slow one; on PostgreSQL every statement of the pass
   has a time bound (statement_timeout), and a pass that hits it is logged and rolled back;
2. looks only at unlinked error events from where the previous pass left off (minus the window and a
   grace), at most CORRELATION_LOOKBACK_SECONDS back: the cost follows the recent error rate, never the
   table's history, and a pass that runs late (a stalled worker, a database outage) still sees the
   bursts that crossed the threshold meanwhile, because the window is tested on the events' timestamps;
3. one grouped statement finds the services that crossed the threshold, the exact sliding-window test
   runs on their timestamps, and their incidents open in bulk (`services.do_open_many`);
4. one statement links unlinked error events to their service's unresolved events-incident and adds
   them to its `event_count`.
The whole pass is one transaction: an incident is never seen without its events, and every step is
idempotent, so a pass run twice changes nothing.
"""

from __future__ import annotations

import logging
import time
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import OperationalError, connection, transaction
from django.db.models import Count, DateTimeField, Exists, ExpressionWrapper, OuterRef, Subquery
from django.db.models.functions import Coalesce, Left
from django.utils import timezone

from incidents import live, services
from incidents.choices import ERROR_LEVELS, SEVERITY_BY_LEVEL, SEVERITY_RANK, UNRESOLVED, Source
from incidents.models import Event, Incident

log = logging.getLogger(__name__)

# Events whose timestamp is older than window + grace when passes run on time are stored but never open
# an incident (a backfill of old logs is history, not an outage). The grace covers the pass interval.
GRACE_SECONDS = 60
# The advisory lock (PostgreSQL) or cache key (elsewhere) that lets one pass run at a time.
LOCK_ID = zlib.crc32(b"opsassist.correlation")
LEASE_KEY = "correlation:lease"
# The `now` of the last pass that completed: the next pass scans from there (minus window + grace).
MARK_KEY = "correlation:scanned-through"
# Opening this many incidents in one pass makes the planner's statistics of incidents stale: refresh them.
ANALYZE_AFTER_OPENED = 1000
QUERY_CANCELED = "57014"


@dataclass
class PassResult:
    opened: list[int] = field(default_factory=list)
    attached: int = 0
    updated: list[int] = field(default_factory=list)
    skipped: bool = False  # another pass held the lease
    timed_out: bool = False  # a statement hit CORRELATION_TIMEOUT_SECONDS; rolled back


@dataclass
class Burst:
    service: str
    first_seen_at: datetime
    severity: str
    last_event_id: int


def _unlinked_errors():
    return Event.objects.filter(incident__isnull=True, level__in=ERROR_LEVELS)


# --- What a pass looks at -----------------------------------------------------------------------


def scan_start(now: datetime, window: timedelta) -> datetime:
    """The oldest event timestamp this pass looks at: where the last completed pass left off minus
    window + grace, never more than CORRELATION_LOOKBACK_SECONDS back, never less than window + grace."""
    reach = window + timedelta(seconds=GRACE_SECONDS)
    floor = now - timedelta(seconds=max(settings.CORRELATION_LOOKBACK_SECONDS, reach.total_seconds()))
    mark = _read_mark()
    since = floor if mark is None else max(floor, min(mark, now) - reach)
    return min(since, now - reach)


def _read_mark() -> datetime | None:
    try:
        return cache.get(MARK_KEY)
    except Exception:  # the cache (Redis) is down: scan the whole lookback instead
        log.warning("correlation: cannot read where the last pass left off; scanning the lookback")
        return None


def _write_mark(now: datetime) -> None:
    try:
        mark = cache.get(MARK_KEY)
        if mark is None or now > mark:
            cache.set(MARK_KEY, now, timeout=None)
    except Exception:
        log.warning("correlation: cannot record where this pass left off")


# --- Finding bursts -----------------------------------------------------------------------------


def find_bursts(since: datetime, threshold: int, window: timedelta) -> list[Burst]:
    """Services without an unresolved events-incident whose unlinked errors since `since` hold a burst:
    `threshold` of them within `window`, measured on their timestamps (the first such window wins)."""
    recent = _unlinked_errors().filter(timestamp__gte=since)
    crossing = recent.order_by().values("service").annotate(n=Count("id")).filter(n__gte=threshold).values("service")
    open_incident = Incident.objects.filter(source=Source.EVENTS, status__in=UNRESOLVED, service=OuterRef("service"))
    rows = (
        recent.filter(service__in=crossing)
        .exclude(Exists(open_incident))
        .order_by("service", "timestamp", "id")
        .values_list("service", "timestamp", "level", "id")
    )
    bursts: list[Burst] = []
    points: list[tuple[datetime, str, int]] = []
    service = None
    for row in rows.iterator(chunk_size=5000):
        if row[0] != service:
            _add_burst(bursts, service, points, threshold, window)
            service, points = row[0], []
        points.append(row[1:])
    _add_burst(bursts, service, points, threshold, window)
    return bursts


def _add_burst(bursts: list[Burst], service, points, threshold: int, window: timedelta) -> None:
    """Append the service's burst if its time-ordered points hold one."""
    for i in range(len(points) - threshold + 1):
        if points[i + threshold - 1][0] - points[i][0] <= window:
            levels = [level for _, level, _ in points[i : i + threshold]]
            worst = max(levels, key=lambda lv: SEVERITY_RANK[SEVERITY_BY_LEVEL[lv]])
            bursts.append(Burst(service, points[i][0], SEVERITY_BY_LEVEL[worst], points[-1][2]))
            return


def _latest_messages(bursts: list[Burst]) -> dict[int, str]:
    """The message of each burst's latest event (for the title), 300 characters at most."""
    ids = [burst.last_event_id for burst in bursts]
    messages: dict[int, str] = {}
    for start in range(0, len(ids), services.BULK_CHUNK):
        chunk = Event.objects.filter(id__in=ids[start : start + services.BULK_CHUNK]).order_by()
        messages.update(chunk.annotate(text=Left("message", 300)).values_list("id", "text"))
    return messages


def open_bursts(bursts: list[Burst], window: timedelta, now: datetime) -> list[int]:
    """Open one incident per burst, in bulk; returns the ids opened."""
    messages = _latest_messages(bursts)
    minutes = max(1, round(window.total_seconds() / 60))
    threshold = settings.CORRELATION_THRESHOLD
    specs = []
    for burst in bursts:
        message = messages.get(burst.last_event_id, "")
        specs.append(
            services.OpenSpec(
                source=Source.EVENTS,
                service=burst.service,
                title=f"{burst.service}: {message}" if message else f"{burst.service}: error burst",
                severity=burst.severity,
                description=f"{threshold} or more {'/'.join(ERROR_LEVELS)} events from {burst.service} "
                f"within {minutes} minutes.",
                first_seen_at=burst.first_seen_at,
            )
        )
    return [incident.pk for incident in services.do_open_many(specs, actor="correlation", now=now)]


# --- Attaching events ---------------------------------------------------------------------------

# Driven from the unresolved events-incidents (few) joined on service to the recent unlinked errors
# (event_unlinked_service_idx), both sides bounded, so any join order the planner picks stays cheap.
# The CTE counts exactly the rows this UPDATE linked, so event_count grows without a recount.
ATTACH_SQL = """
WITH linked AS (
    UPDATE incidents_event AS e SET incident_id = i.id
    FROM incidents_incident AS i
    WHERE i.source = %(source)s AND i.status = ANY(%(unresolved)s)
      AND e.service = i.service AND e.incident_id IS NULL AND e.level = ANY(%(levels)s)
      AND e.timestamp >= %(since)s AND e.timestamp >= i.first_seen_at - %(window)s
    RETURNING e.incident_id
), gained AS (
    SELECT incident_id, count(*) AS n FROM linked GROUP BY incident_id
)
UPDATE incidents_incident AS i SET event_count = i.event_count + gained.n
FROM gained WHERE i.id = gained.incident_id
RETURNING i.id, gained.n
"""


def attach_events(since: datetime, window: timedelta) -> tuple[int, list[int]]:
    """Link unlinked error events (timestamps since `since`) to their service's unresolved
    events-incident: those from one window before its first burst event on (late stragglers of the
    burst included, last week's errors not). Returns (events linked, incident ids that gained events)."""
    if connection.vendor == "postgresql":
        return _attach_postgres(since, window)
    return _attach_portable(since, window)


def _attach_postgres(since: datetime, window: timedelta) -> tuple[int, list[int]]:
    params = {
        "source": Source.EVENTS.value,
        "unresolved": [s.value for s in UNRESOLVED],
        "levels": [lv.value for lv in ERROR_LEVELS],
        "since": since,
        "window": window,
    }
    with connection.cursor() as cursor:
        cursor.execute(ATTACH_SQL, params)
        rows = cursor.fetchall()
    return sum(n for _, n in rows), sorted(pk for pk, _ in rows)


def _attach_portable(since: datetime, window: timedelta) -> tuple[int, list[int]]:
    """SQLite (embedded, one process): the pass holds the write lock from its start, so nothing
    changes between these statements; event_count is recounted (embedded volumes are small)."""
    target = Incident.objects.filter(
        source=Source.EVENTS,
        status__in=UNRESOLVED,
        service=OuterRef("service"),
        first_seen_at__lte=ExpressionWrapper(OuterRef("timestamp") + window, output_field=DateTimeField()),
    )
    pending = _unlinked_errors().filter(timestamp__gte=since).filter(Exists(target))
    touched = list(
        Incident.objects.filter(
            source=Source.EVENTS, status__in=UNRESOLVED, service__in=pending.values("service")
        ).values_list("id", flat=True)
    )
    if not touched:
        return 0, []
    linked = pending.update(incident=Subquery(target.values("id")[:1]))
    counts = Event.objects.filter(incident=OuterRef("pk")).values("incident").annotate(n=Count("id")).values("n")
    Incident.objects.filter(pk__in=touched).update(event_count=Coalesce(Subquery(counts), 0))
    return linked, sorted(touched)


# --- One pass -----------------------------------------------------------------------------------


@contextmanager
def pass_lease() -> Iterator[bool]:
    """A transaction for one pass, yielding whether this pass may run (no other pass is running).

    PostgreSQL: a transaction-level advisory lock (released by commit, rollback or a dead connection)
    and a statement_timeout for the pass's statements. Elsewhere: a cache lease (Redis SET NX with an
    expiry in service mode, in-process in the embedded mode).
    """
    timeout = settings.CORRELATION_TIMEOUT_SECONDS
    if connection.vendor == "postgresql":
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [LOCK_ID])
            held = cursor.fetchone()[0]
            if held:
                cursor.execute("SELECT set_config('statement_timeout', %s, true)", [str(int(timeout * 1000))])
            yield held
        return
    token = uuid.uuid4().hex
    held = cache.add(LEASE_KEY, token, timeout=max(1, int(timeout * 2)))
    try:
        with transaction.atomic():
            yield held
    finally:
        if held and cache.get(LEASE_KEY) == token:
            cache.delete(LEASE_KEY)


def correlate(now: datetime | None = None) -> PassResult:
    """One correlation pass (run every CORRELATION_INTERVAL_SECONDS by beat)."""
    now = now or timezone.now()
    started = time.monotonic()
    try:
        with pass_lease() as held:
            if not held:
                return PassResult(skipped=True)
            result = _run_pass(now)
    except OperationalError as exc:
        if getattr(exc.__cause__, "sqlstate", None) != QUERY_CANCELED:
            raise
        log.error(
            "correlation pass hit its time bound and was rolled back",
            extra={"timeout_seconds": settings.CORRELATION_TIMEOUT_SECONDS},
        )
        return PassResult(timed_out=True)
    _write_mark(now)
    _refresh_statistics(result)
    live.broadcast_many([pk for pk in result.updated if pk not in result.opened])
    _log_pass(result, time.monotonic() - started)
    return result


def _run_pass(now: datetime) -> PassResult:
    threshold = settings.CORRELATION_THRESHOLD
    window = timedelta(seconds=settings.CORRELATION_WINDOW_SECONDS)
    since = scan_start(now, window)
    result = PassResult()
    bursts = find_bursts(since, threshold, window)
    if bursts:
        result.opened = open_bursts(bursts, window, now)
    result.attached, result.updated = attach_events(since, window)
    return result


def _refresh_statistics(result: PassResult) -> None:
    """After a mass opening, refresh the planner's view of incidents (the next passes join on them)."""
    if len(result.opened) < ANALYZE_AFTER_OPENED or connection.vendor != "postgresql":
        return
    try:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE incidents_incident")
    except OperationalError:
        log.warning("correlation: ANALYZE incidents_incident failed", exc_info=True)


def _log_pass(result: PassResult, seconds: float) -> None:
    extra = {"opened": len(result.opened), "attached": result.attached, "seconds": round(seconds, 3)}
    if seconds > settings.CORRELATION_INTERVAL_SECONDS:
        log.warning("correlation pass slower than its interval", extra=extra)
    elif result.opened or result.attached:
        log.info("correlation pass", extra=extra)
