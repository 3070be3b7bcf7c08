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
3. one grouped statement counts those events per service; for the services that crossed the threshold
   the exact sliding-window test runs on their timestamps (read per chunk of services), and their
   incidents open in bulk (`services.do_open_many`) with the events just read linked by id;
4. per chunk of the other unresolved events-incidents whose service has such events, an index probe
   per incident finds them, they are linked by id, and `event_count` grows by what was linked.
No statement joins the events table as a scanned relation, so no plan turns quadratic on stale
statistics (the incident behind this design: a join planned on statistics taken while the tables were
empty ran for 22 minutes). Work per statement is bounded by chunks of BULK_CHUNK.
The whole pass is one transaction: an incident is never seen without its events, and every step is
idempotent, so a pass run twice changes nothing.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections import Counter, defaultdict
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import OperationalError, connection, transaction
from django.db.models import Count, F
from django.db.models.functions import Left
from django.utils import timezone

from incidents import live, services
from incidents.choices import ERROR_LEVELS, SEVERITY_BY_LEVEL, SEVERITY_RANK, UNRESOLVED, Source
from incidents.models import Event, Incident, unlinked
from opsassist.lib import lease

log = logging.getLogger(__name__)

# Events whose timestamp is older than window + grace when passes run on time are stored but never open
# an incident (a backfill of old logs is history, not an outage). The grace covers the pass interval.
GRACE_SECONDS = 60
# The advisory lock (PostgreSQL) or cache key (elsewhere) that lets one pass run at a time.
LOCK_ID = zlib.crc32(b"opsassist.correlation")
LEASE_KEY = "correlation:lease"
# The `now` of the last pass that completed: the next pass scans from there (minus window + grace).
MARK_KEY = "correlation:scanned-through"
# Opening this many incidents in one pass makes the planner's statistics stale: refresh them.
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
    # The unlinked errors its incident takes at once (from one window before the burst on).
    event_ids: list[int] = field(default_factory=list)


def _unlinked_errors():
    """Unlinked error events, in the form correlation's partial indexes are built on (`unlinked()`)."""
    return Event.objects.filter(unlinked(), level__in=ERROR_LEVELS)


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


def erring_services(since: datetime) -> dict[str, int]:
    """Service → how many unlinked error events since `since` (one aggregate: its cost follows the recent
    error rate). Only these services can open or gain anything in this pass."""
    recent = _unlinked_errors().filter(timestamp__gte=since).order_by()
    return dict(recent.values("service").annotate(n=Count("id")).values_list("service", "n"))


def find_bursts(since: datetime, threshold: int, window: timedelta, erring: dict[str, int]) -> list[Burst]:
    """Services without an unresolved events-incident whose unlinked errors since `since` hold a burst:
    `threshold` of them within `window`, measured on their timestamps (the first such window wins).

    Separate statements with no join between them, so no plan can turn quadratic whatever the planner's
    statistics say: the aggregate (`erring`), then the crossing services' points by chunks of services."""
    recent = _unlinked_errors().filter(timestamp__gte=since)
    crossing = [service for service, n in erring.items() if n >= threshold]
    bursts: list[Burst] = []
    for chunk in _chunks(sorted(_without_open_incident(crossing))):
        rows = recent.filter(service__in=chunk).order_by("service", "timestamp", "id")
        points: list[tuple[datetime, str, int]] = []
        service = None
        for row in rows.values_list("service", "timestamp", "level", "id"):
            if row[0] != service:
                _add_burst(bursts, service, points, threshold, window, since)
                service, points = row[0], []
            points.append(row[1:])
        _add_burst(bursts, service, points, threshold, window, since)
    return bursts


def _chunks(items: list) -> Iterator[list]:
    for start in range(0, len(items), services.BULK_CHUNK):
        yield items[start : start + services.BULK_CHUNK]


def _without_open_incident(names: list[str]) -> set[str]:
    unresolved = Incident.objects.filter(source=Source.EVENTS, status__in=UNRESOLVED)
    taken: set[str] = set()
    for chunk in _chunks(names):
        taken.update(unresolved.filter(service__in=chunk).values_list("service", flat=True))
    return set(names) - taken


def _add_burst(bursts: list[Burst], service, points, threshold: int, window: timedelta, since: datetime) -> None:
    """Append the service's burst if its time-ordered points hold one."""
    for i in range(len(points) - threshold + 1):
        if points[i + threshold - 1][0] - points[i][0] <= window:
            levels = [level for _, level, _ in points[i : i + threshold]]
            worst = max(levels, key=lambda lv: SEVERITY_RANK[SEVERITY_BY_LEVEL[lv]])
            bound = max(since, points[i][0] - window)  # what attach_events would link, see there
            ids = [event_id for at, _, event_id in points if at >= bound]
            bursts.append(Burst(service, points[i][0], SEVERITY_BY_LEVEL[worst], points[-1][2], ids))
            return


def _latest_messages(bursts: list[Burst]) -> dict[int, str]:
    """The message of each burst's latest event (for the title), 300 characters at most."""
    messages: dict[int, str] = {}
    for chunk in _chunks([burst.last_event_id for burst in bursts]):
        events = Event.objects.filter(id__in=chunk).order_by().annotate(text=Left("message", 300))
        messages.update(events.values_list("id", "text"))
    return messages


def open_bursts(bursts: list[Burst], window: timedelta, now: datetime) -> tuple[list[int], int]:
    """Open one incident per burst, in bulk, with the burst's events linked (the pass read them already:
    no search per incident). Returns (the ids opened, events linked)."""
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
                event_count=len(burst.event_ids),
            )
        )
    opened = {incident.service: incident.pk for incident in services.do_open_many(specs, actor="correlation", now=now)}
    # A burst whose service had an unresolved incident after all opened nothing: attach_events links it.
    pairs = [(event_id, opened[b.service]) for b in bursts if b.service in opened for event_id in b.event_ids]
    gained = Counter(_link_pairs(pairs))
    # event_count went in with the count read; it is corrected if fewer linked (deleted meanwhile).
    expected = {opened[b.service]: len(b.event_ids) for b in bursts if b.service in opened}
    _add_to_event_counts(Counter({pk: gained[pk] - n for pk, n in expected.items() if gained[pk] != n}))
    return sorted(opened.values()), gained.total()


# --- Attaching events ---------------------------------------------------------------------------

# Driven from the unresolved events-incidents, a VALUES list of at most BULK_CHUNK (incident, service,
# bound) rows with each bound computed in Python, into the recent unlinked errors of each service
# (event_unlinked_service_idx). The levels are inlined (constants of the code, not input) so the planner
# can prove the partial index usable.
_LEVELS_SQL = ", ".join(f"'{level}'" for level in ERROR_LEVELS if level.isalpha())
# PostgreSQL, in two statements that never join the events table as a scanned relation: statistics taken
# when the table held only dead or linked rows estimate it at one row, and any such join was planned as
# every unlinked error times every incident. 1) The LATERAL subquery with OFFSET 0 cannot be flattened,
# so it is one index probe per incident; 2) the UPDATE reaches its rows by primary key (= ANY) only (no
# "incident_id IS NULL" there: stale statistics make the index on incident_id look selective, and most
# events — INFO, WARNING — are unlinked; the pass lease means nobody linked them in between), and its
# join to the (event, incident) pairs is bounded by the chunk.
# The targets travel as three arrays (a long VALUES list costs more to bind than to run).
PAIRS_SQL_POSTGRES = f"""
SELECT ev.id, t.incident FROM unnest(%s::bigint[], %s::text[], %s::timestamptz[]) AS t(incident, service, since)
CROSS JOIN LATERAL (
    SELECT e.id FROM incidents_event AS e
    WHERE e.service = t.service AND COALESCE(e.incident_id, 0) = 0 AND e.level IN ({_LEVELS_SQL})
      AND e.timestamp >= t.since
    OFFSET 0
) AS ev
"""  # noqa: S608
LINK_SQL_POSTGRES = """
UPDATE incidents_event AS e SET incident_id = v.incident
FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, incident)
WHERE e.id = v.id AND e.id = ANY(%s::bigint[])
RETURNING e.incident_id
"""
LINK_SQL_SQLITE = """
UPDATE incidents_event SET incident_id = t.column2 FROM (VALUES {values}) AS t
WHERE incidents_event.id = t.column1 RETURNING incidents_event.incident_id
"""
# SQLite (no LATERAL; its planner keeps no statistics unless asked) scans the VALUES and searches the
# index for each row, in one statement.
ATTACH_SQL_SQLITE = f"""
UPDATE incidents_event SET incident_id = t.column1
FROM (VALUES {{values}}) AS t
WHERE incidents_event.service = t.column2 AND COALESCE(incidents_event.incident_id, 0) = 0
  AND incidents_event.level IN ({_LEVELS_SQL}) AND incidents_event.timestamp >= t.column3
RETURNING incidents_event.incident_id
"""  # noqa: S608


def attach_events(
    since: datetime, window: timedelta, erring: Collection[str], skip: Collection[int] = ()
) -> tuple[int, list[int]]:
    """Link unlinked error events (timestamps since `since`) to their service's unresolved
    events-incident: those from one window before its first burst event on (late stragglers of the
    burst included, last week's errors not). Only the incidents of `erring` services are probed (after
    a mass outage, thousands stay unresolved with nothing new); `skip`: incidents this pass opened with
    their events. Returns (events linked, incident ids that gained events)."""
    targets = Incident.objects.filter(source=Source.EVENTS, status__in=UNRESOLVED).order_by()
    rows = [
        row for row in targets.values_list("id", "service", "first_seen_at") if row[1] in erring and row[0] not in skip
    ]
    gained: Counter[int] = Counter()
    for chunk in _chunks(rows):
        gained.update(_link_chunk(chunk, since, window))
    _add_to_event_counts(gained)
    return sum(gained.values()), sorted(gained)


def _add_to_event_counts(gained: Counter[int]) -> None:
    """event_count += n, one UPDATE per distinct n (a storm's incidents mostly gained the same number)."""
    by_n: dict[int, list[int]] = defaultdict(list)
    for pk, n in gained.items():
        by_n[n].append(pk)
    for n, pks in by_n.items():
        for chunk in _chunks(sorted(pks)):
            Incident.objects.filter(pk__in=chunk).update(event_count=F("event_count") + n)


def _link_chunk(chunk: list[tuple[int, str, datetime | None]], since: datetime, window: timedelta) -> list[int]:
    """Link the events of these (incident id, service, first seen) targets; the incident id of each event
    linked."""
    bounds = [max(since, (first or since) - window) for _, _, first in chunk]
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            params: list[int | str | None] = []
            for (pk, service, _), bound in zip(chunk, bounds, strict=True):
                params += [pk, service, connection.ops.adapt_datetimefield_value(bound)]
            cursor.execute(ATTACH_SQL_SQLITE.format(values=", ".join(["(%s, %s, %s)"] * len(chunk))), params)
            return [pk for (pk,) in cursor.fetchall()]
        cursor.execute(PAIRS_SQL_POSTGRES, [[pk for pk, _, _ in chunk], [service for _, service, _ in chunk], bounds])
        pairs = cursor.fetchall()
    return _link_pairs(pairs)


def _link_pairs(pairs: list[tuple[int, int]]) -> list[int]:
    """Link these (event id, incident id) pairs, by primary key only; the incident id of each event linked."""
    linked: list[int] = []
    with connection.cursor() as cursor:
        for part in _chunks(pairs):
            if connection.vendor != "postgresql":
                values = ", ".join(["(%s, %s)"] * len(part))
                cursor.execute(LINK_SQL_SQLITE.format(values=values), [v for pair in part for v in pair])
                linked += [pk for (pk,) in cursor.fetchall()]
                continue
            # Arrays as text literals: psycopg's list dumper costs more than the statement here.
            ids = "{" + ",".join(str(event_id) for event_id, _ in part) + "}"
            incidents = "{" + ",".join(str(incident) for _, incident in part) + "}"
            cursor.execute(LINK_SQL_POSTGRES, [ids, incidents, ids])
            linked += [pk for (pk,) in cursor.fetchall()]
    return linked


# --- One pass -----------------------------------------------------------------------------------


def pass_lease():
    """A transaction for one pass, yielding whether this pass may run (no other pass is running); on
    PostgreSQL its statements are bounded by CORRELATION_TIMEOUT_SECONDS."""
    timeout = settings.CORRELATION_TIMEOUT_SECONDS
    return lease.exclusive(LOCK_ID, LEASE_KEY, timeout * 2, statement_timeout=timeout)


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
    opened = set(result.opened)
    for chunk in _chunks([pk for pk in result.updated if pk not in opened]):
        live.broadcast_many(chunk)
    _log_pass(result, time.monotonic() - started)
    return result


def _run_pass(now: datetime) -> PassResult:
    threshold = settings.CORRELATION_THRESHOLD
    window = timedelta(seconds=settings.CORRELATION_WINDOW_SECONDS)
    since = scan_start(now, window)
    result = PassResult()
    erring = erring_services(since)
    bursts = find_bursts(since, threshold, window, erring)
    linked = 0
    if bursts:
        result.opened, linked = open_bursts(bursts, window, now)
    result.attached, result.updated = attach_events(since, window, erring, skip=frozenset(result.opened))
    result.attached += linked
    return result


def _refresh_statistics(result: PassResult) -> None:
    """After a mass opening, refresh the planner's view of both tables: thousands of incidents appeared
    and tens of thousands of events stopped being unlinked. Bounded like a pass; failure is only logged."""
    if len(result.opened) < ANALYZE_AFTER_OPENED or connection.vendor != "postgresql":
        return
    timeout = str(int(settings.CORRELATION_TIMEOUT_SECONDS * 1000))
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", [timeout])
            cursor.execute("ANALYZE incidents_incident, incidents_event")
    except OperationalError:
        log.warning("correlation: refreshing statistics after a mass opening failed", exc_info=True)


def _log_pass(result: PassResult, seconds: float) -> None:
    extra = {"opened": len(result.opened), "attached": result.attached, "seconds": round(seconds, 3)}
    if seconds > settings.CORRELATION_INTERVAL_SECONDS:
        log.warning("correlation pass slower than its interval", extra=extra)
    elif result.opened or result.attached:
        log.info("correlation pass", extra=extra)
