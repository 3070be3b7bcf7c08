"""Event-threshold correlation: a burst of error events from one service opens one incident.

Rule (contract, "Events and correlation"): when a service has >= CORRELATION_THRESHOLD error events
(ERROR, CRITICAL, FATAL) whose timestamps fall within CORRELATION_WINDOW_SECONDS of each other, one
incident opens (source "events"). Later error events of that service attach to the unresolved incident.

A pass is three grouped statements, whatever the number of services:
1. candidate services: unlinked error events with a recent timestamp, grouped, HAVING count >= threshold;
2. the exact sliding-window test on those services' timestamps, then get-or-open per firing service;
3. one UPDATE linking unlinked error events to their service's unresolved events-incident, and one
   UPDATE recounting `event_count` for the incidents that gained events.
Every step is idempotent, so overlapping passes or a pass run twice change nothing.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, DateTimeField, Exists, ExpressionWrapper, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from incidents import live, services
from incidents.choices import ERROR_LEVELS, SEVERITY_BY_LEVEL, SEVERITY_RANK, UNRESOLVED, Source
from incidents.models import Event, Incident

log = logging.getLogger(__name__)

# Events whose timestamp is older than window + grace when a pass looks are stored but never open an
# incident (a backfill of old logs is history, not an outage). The grace covers the pass interval.
GRACE_SECONDS = 60


@dataclass
class PassResult:
    opened: list[int] = field(default_factory=list)
    attached: int = 0
    updated: list[int] = field(default_factory=list)


def _unlinked_errors():
    return Event.objects.filter(incident__isnull=True, level__in=ERROR_LEVELS)


def find_bursts(now: datetime, threshold: int, window: timedelta) -> dict[str, list[tuple[datetime, str]]]:
    """Services with a burst: {service: [(timestamp, level), ...] of the first qualifying window}."""
    recent = _unlinked_errors().filter(timestamp__gte=now - window - timedelta(seconds=GRACE_SECONDS))
    open_services = Incident.objects.filter(source=Source.EVENTS, status__in=UNRESOLVED, service=OuterRef("service"))
    candidates = (
        recent.exclude(Exists(open_services))
        .values("service")
        .annotate(n=Count("id"))
        .filter(n__gte=threshold)
        .values_list("service", flat=True)
    )
    rows = recent.filter(service__in=list(candidates)).order_by("service", "timestamp")
    by_service: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    for service, ts, level in rows.values_list("service", "timestamp", "level").iterator(chunk_size=5000):
        by_service[service].append((ts, level))
    bursts = {}
    for service, points in by_service.items():
        for i in range(len(points) - threshold + 1):
            if points[i + threshold - 1][0] - points[i][0] <= window:
                bursts[service] = points[i : i + threshold]
                break
    return bursts


def _open_for_burst(service: str, burst: list[tuple[datetime, str]], now: datetime, window: timedelta):
    worst = max((level for _, level in burst), key=lambda lv: SEVERITY_RANK[SEVERITY_BY_LEVEL[lv]])
    sample = Event.objects.filter(service=service, incident__isnull=True, level__in=ERROR_LEVELS)
    message = sample.order_by("-timestamp").values_list("message", flat=True).first() or ""
    minutes = max(1, round(window.total_seconds() / 60))
    title = f"{service}: {message[:300]}" if message else f"{service}: error burst"
    return services.get_or_open_incident(
        source=Source.EVENTS,
        service=service,
        title=title,
        severity=SEVERITY_BY_LEVEL[worst],
        description=f"{len(burst)} or more {'/'.join(ERROR_LEVELS)} events from {service} within {minutes} minutes.",
        first_seen_at=burst[0][0],
        actor="correlation",
        now=now,
    )


def _attach_burst(incident: Incident, window: timedelta) -> None:
    """Link a just-opened incident's unlinked error events (from one window before its first one on)."""
    assert incident.first_seen_at is not None  # get_or_open_incident sets it on every incident it opens
    linked = _unlinked_errors().filter(service=incident.service, timestamp__gte=incident.first_seen_at - window)
    count = linked.update(incident=incident)
    Incident.objects.filter(pk=incident.pk).update(event_count=count)


def attach_events(window: timedelta) -> tuple[int, list[int]]:
    """Link unlinked error events to their service's unresolved events-incident: those from one window
    before its first burst event on (late stragglers of the burst included, last week's errors not).
    Returns (events linked, incident ids that gained events)."""
    target = Incident.objects.filter(
        source=Source.EVENTS,
        status__in=UNRESOLVED,
        service=OuterRef("service"),
        first_seen_at__lte=ExpressionWrapper(OuterRef("timestamp") + window, output_field=DateTimeField()),
    )
    pending = _unlinked_errors().filter(Exists(target))
    touched = list(
        Incident.objects.filter(
            source=Source.EVENTS,
            status__in=UNRESOLVED,
            service__in=pending.values("service"),
        ).values_list("id", flat=True)
    )
    if not touched:
        return 0, []
    linked = pending.update(incident=Subquery(target.values("id")[:1]))
    counts = Event.objects.filter(incident=OuterRef("pk")).values("incident").annotate(n=Count("id")).values("n")
    Incident.objects.filter(pk__in=touched).update(event_count=Coalesce(Subquery(counts), 0))
    return linked, touched


def correlate(now: datetime | None = None) -> PassResult:
    """One correlation pass (run every CORRELATION_INTERVAL_SECONDS by beat)."""
    now = now or timezone.now()
    threshold = settings.CORRELATION_THRESHOLD
    window = timedelta(seconds=settings.CORRELATION_WINDOW_SECONDS)
    result = PassResult()
    with live.batched():
        for service, burst in find_bursts(now, threshold, window).items():
            # Open and link the burst in one transaction: the incident is never seen without its events.
            with transaction.atomic():
                incident, created = _open_for_burst(service, burst, now, window)
                if created:
                    _attach_burst(incident, window)
                    result.opened.append(incident.pk)
    result.attached, result.updated = attach_events(window)
    live.broadcast_many([pk for pk in result.updated if pk not in result.opened])
    if result.opened or result.attached:
        log.info("correlation pass", extra={"opened": result.opened, "attached": result.attached})
    return result
