"""Read-only questions about monitors (their open incidents, availability), shared by the API, the pages,
live updates and analytics. Nothing here writes, so everything may import it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from django.db.models import Q, Sum
from django.utils import timezone

from incidents.analytics import sla_status
from incidents.choices import UNRESOLVED, Source
from incidents.models import Incident
from monitoring.models import Monitor, MonitorRollup


def open_incident_ids(monitors) -> dict[int, int]:
    """{monitor id: its unresolved incident id} in one query."""
    by_component = {m.name: m for m in monitors}
    rows = Incident.objects.filter(
        source=Source.HEALTH_CHECK, status__in=UNRESOLVED, component__in=list(by_component)
    ).values_list("component", "service", "id")
    return {by_component[c].pk: pk for c, service, pk in rows if by_component[c].effective_service == service}


def availability(monitor_ids: list[int], now=None) -> dict[int, dict[str, float | None]]:
    """{monitor id: {"24h", "7d", "30d": percent of healthy checks}} from the hourly rollups."""
    now = now or timezone.now()
    windows = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
    aggregates = {}
    for label, span in windows.items():
        since = (now - span).replace(minute=0, second=0, microsecond=0)
        aggregates[f"c_{label}"] = Sum("checks", filter=Q(hour__gte=since))
        aggregates[f"h_{label}"] = Sum("healthy", filter=Q(hour__gte=since))
    # The c_/h_ columns are built at run time, so the stubs' row type (monitor_id) does not list them.
    rows: Iterable[Mapping[str, Any]] = (
        MonitorRollup.objects.filter(monitor_id__in=monitor_ids).values("monitor_id").annotate(**aggregates)
    )
    out = {pk: dict.fromkeys(windows) for pk in monitor_ids}
    for row in rows:
        for label in windows:
            checks = row[f"c_{label}"]
            out[row["monitor_id"]][label] = round(100.0 * row[f"h_{label}"] / checks, 3) if checks else None
    return out


def monitor_availability(now=None) -> list[dict]:
    """Per monitor: availability over 24 h / 7 d / 30 d with its SLA status (for analytics)."""
    monitors = list(Monitor.objects.all())
    figures = availability([m.pk for m in monitors], now)
    return [
        {
            "name": m.name,
            "service": m.effective_service,
            "availability_percent": figures[m.pk],
            "sla_status": {k: sla_status(v) if v is not None else None for k, v in figures[m.pk].items()},
        }
        for m in monitors
    ]
