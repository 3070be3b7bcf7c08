"""The daily per-service rollup behind analytics (ServiceDay), kept exact.

Database triggers record every change of an incident's days as a ServiceDayChange row, in the changing
transaction (migration 0006). `catch_up` rebuilds the days those rows name from the incidents themselves,
a bounded batch at a time: the periodic task `incidents.catch_up_rollup` runs it, and so does every analytics
read first. Readers treat services that still have pending changes as unknown and compute them from the
incidents (`pending_services`), so an answer never depends on how far the catch-up got.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta

from django.db import connection, transaction
from django.db.models import Q

from incidents.models import Incident, ServiceDay, ServiceDayChange

# Changes consumed per catch-up: one batch takes well under a second even when each names a new service.
CATCH_UP_BATCH = 2000
# Changes an analytics read folds in before answering (the periodic job takes the rest): a read stays quick.
READ_BATCH = 200
# Above this many services to compute from the incidents, a reader computes everything from them instead.
RAW_SERVICES_LIMIT = 500
_LOCK_KEY = 0x5E7D_0A11  # pg_try_advisory_xact_lock key: one catch-up at a time


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def utc_day(at: datetime) -> date:
    return at.astimezone(UTC).date()


def merge(intervals: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """The union of [start, end) intervals as sorted, disjoint intervals (empty ones dropped)."""
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _service_days(service: str, rows, first: date, last: date) -> list[ServiceDay]:
    """One service's ServiceDay rows for days first..last from its incidents' (service, detected, resolved)."""
    start, end = day_start(first), day_start(last + timedelta(days=1))
    counts: dict[date, int] = defaultdict(int)
    downtime: dict[date, float] = defaultdict(float)
    longest: dict[date, float] = defaultdict(float)
    intervals = []
    for _, detected, resolved in rows:
        if start <= detected < end:
            counts[utc_day(detected)] += 1
            if resolved is not None:
                day = utc_day(detected)
                longest[day] = max(longest[day], (resolved - detected).total_seconds())
        if resolved is not None:
            intervals.append((max(detected, start), min(resolved, end)))
    for down_from, down_to in merge(intervals):
        day = utc_day(down_from)
        while day_start(day) < down_to:
            next_day = day + timedelta(days=1)
            downtime[day] += (min(down_to, day_start(next_day)) - max(down_from, day_start(day))).total_seconds()
            day = next_day
    days = sorted(set(counts) | set(downtime))
    return [ServiceDay(day=d, service=service, incidents=counts[d], downtime_seconds=downtime[d],
                       longest_seconds=longest[d]) for d in days]  # fmt: skip


def longest_resolved() -> timedelta:
    """The longest resolved incident of any service whose rollup is up to date."""
    row = ServiceDay.objects.order_by("-longest_seconds").values_list("longest_seconds", flat=True).first()
    return timedelta(seconds=max(0.0, row or 0.0) + 1)


def rebuild(spans: dict[str, tuple[date, date]], chunk: int = 200) -> None:
    """Replace the ServiceDay rows of each service's days first..last with ones computed from its incidents.
    Services are taken `chunk` at a time over the union of their spans (rebuilding a few more days than
    asked is exact too, and makes one read, one delete and one insert per chunk)."""
    names = sorted(spans)
    for i in range(0, len(names), chunk):
        part = names[i : i + chunk]
        first, last = min(spans[name][0] for name in part), max(spans[name][1] for name in part)
        start, end = day_start(first), day_start(last + timedelta(days=1))
        rows = Incident.objects.filter(service__in=part, detected_at__lt=end).filter(
            Q(detected_at__gte=start) | Q(resolved_at__gt=start)
        )
        by_service: dict[str, list] = defaultdict(list)
        for row in rows.order_by().values_list("service", "detected_at", "resolved_at").iterator(chunk_size=5000):
            by_service[row[0]].append(row)
        ServiceDay.objects.filter(service__in=part, day__gte=first, day__lte=last).delete()
        fresh = [day for name in part for day in _service_days(name, by_service[name], first, last)]
        ServiceDay.objects.bulk_create(fresh, batch_size=1000)


def _claim() -> bool:
    """Inside a transaction: True if this process may run the catch-up (SQLite's write transactions are
    already one at a time)."""
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [_LOCK_KEY])
        return bool(cursor.fetchone()[0])


def catch_up(limit: int = CATCH_UP_BATCH) -> int:
    """Rebuild the days named by up to `limit` pending changes (oldest first); returns how many it consumed.
    Returns 0 at once when another catch-up is running."""
    with transaction.atomic():
        if not _claim():
            return 0
        changes = list(ServiceDayChange.objects.order_by("id").values_list("id", "service", "since", "until")[:limit])
        spans: dict[str, tuple[date, date]] = {}
        for _, service, since, until in changes:
            first, last = sorted((utc_day(since), utc_day(until)))
            if service in spans:
                first, last = min(first, spans[service][0]), max(last, spans[service][1])
            spans[service] = (first, last)
        rebuild(spans)
        ids = [change[0] for change in changes]
        for i in range(0, len(ids), 500):  # by id: a change committed meanwhile with a lower id stays
            ServiceDayChange.objects.filter(id__in=ids[i : i + 500]).delete()
    return len(changes)


def pending_services() -> set[str] | None:
    """Services with changes not yet in the rollup, or None when there are more than RAW_SERVICES_LIMIT."""
    names = ServiceDayChange.objects.order_by().values_list("service", flat=True).distinct()
    found = set(names[: RAW_SERVICES_LIMIT + 1])
    return None if len(found) > RAW_SERVICES_LIMIT else found


def ongoing_services(until: datetime) -> set[str] | None:
    """Services with an incident detected before `until` and not resolved (their downtime runs to now, so
    the rollup of resolved incidents does not hold it), or None when there are more than RAW_SERVICES_LIMIT."""
    ongoing = Incident.objects.filter(resolved_at=None, detected_at__lt=until)
    names = ongoing.order_by().values_list("service", flat=True)
    found = set(names.distinct()[: RAW_SERVICES_LIMIT + 1])
    return None if len(found) > RAW_SERVICES_LIMIT else found
