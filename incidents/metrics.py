"""Prometheus metrics of incidents and events.

Incident gauges and the MTTA/MTTR histograms are computed from the database at scrape time, so every
web process reports the same, correct numbers whatever process made the change. Only the ingestion
counter is counted in-process (multiprocess-aware, see opsassist.metrics).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Exists, Min, OuterRef, Q, Sum
from django.utils import timezone
from prometheus_client import Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from incidents.choices import ERROR_LEVELS, UNRESOLVED, Severity, Source, Status

events_ingested_total = Counter("events_ingested", "Events accepted by POST /api/v1/events", ["level"])


class IncidentCollector:
    """incidents_total{status,severity}, open_incidents{severity}, incident_mtta/mttr_seconds{severity},
    incidents_correlation_lag_seconds."""

    def collect(self):
        from incidents.models import Incident

        yield self._totals()
        counts = {
            (row["status"], row["severity"]): row["n"]
            for row in Incident.objects.filter(status__in=UNRESOLVED)
            .values("status", "severity")
            .annotate(n=Count("id"))
            .order_by()
        }

        unresolved = GaugeMetricFamily(
            "open_incidents", "Unresolved (open or acknowledged) incidents", labels=["severity"]
        )
        for severity in Severity.values:
            unresolved.add_metric([severity], sum(counts.get((s, severity), 0) for s in UNRESOLVED))
        yield unresolved

        yield self._histogram("incident_mtta_seconds", "Time to acknowledge", "ack_seconds", settings.MTTA_BUCKETS)
        yield self._histogram("incident_mttr_seconds", "Time to resolve", "resolve_seconds", settings.MTTR_BUCKETS)
        yield correlation_lag()

    def _totals(self) -> CounterMetricFamily:
        """Incidents that ever entered each status (StatusCount rows): never decreases."""
        from incidents.models import StatusCount

        totals = CounterMetricFamily(
            "incidents", "Incidents that ever entered each status, by severity", labels=["status", "severity"]
        )
        counts = {(row.status, row.severity): row.count for row in StatusCount.objects.all()}
        for status in Status.values:
            for severity in Severity.values:
                totals.add_metric([status, severity], counts.get((status, severity), 0))
        return totals

    def _histogram(self, name: str, doc: str, column: str, buckets: list[float]) -> HistogramMetricFamily:
        from incidents.models import Incident

        aggregates = {f"le_{i}": Count("id", filter=Q(**{f"{column}__lte": b})) for i, b in enumerate(buckets)}
        # The le_<i> columns are built at run time, so the stubs' row type (severity, n, total) does not list them.
        rows: dict[str, Mapping[str, Any]] = {
            row["severity"]: row
            for row in Incident.objects.filter(**{f"{column}__isnull": False})
            .values("severity")
            .annotate(n=Count("id"), total=Sum(column), **aggregates)
            .order_by()
        }
        family = HistogramMetricFamily(name, doc, labels=["severity"])
        for severity in Severity.values:
            row = rows.get(severity)
            cumulative = [(_le(b), float(row[f"le_{i}"]) if row else 0.0) for i, b in enumerate(buckets)]
            cumulative.append(("+Inf", float(row["n"]) if row else 0.0))
            family.add_metric([severity], cumulative, sum_value=float(row["total"] or 0) if row else 0.0)
        return family


def _le(bound: float) -> str:
    return str(int(bound)) + ".0" if float(bound).is_integer() else str(bound)


def correlation_lag(now=None) -> GaugeMetricFamily:
    """Age of the oldest error event that correlation should already have taken (0: none).

    Due are unlinked ERROR/CRITICAL/FATAL events inside the correlation window of a service that has
    CORRELATION_THRESHOLD of them, or an unresolved events incident to attach them to. A lone error below
    the threshold is not lag: it waits for company by design. One grouped query on the partial index
    `event_uncorrelated_idx`, the one the correlation pass reads.
    """
    from incidents.models import Event, Incident

    now = now or timezone.now()
    window_start = now - timedelta(seconds=settings.CORRELATION_WINDOW_SECONDS)
    open_incident = Incident.objects.filter(source=Source.EVENTS, status__in=UNRESOLVED, service=OuterRef("service"))
    rows = (
        Event.objects.filter(incident__isnull=True, level__in=ERROR_LEVELS, timestamp__gte=window_start)
        .annotate(has_open=Exists(open_incident))
        .values("service", "has_open")
        .annotate(n=Count("id"), oldest=Min("timestamp"))
        .order_by()
    )
    due = [row["oldest"] for row in rows if row["has_open"] or row["n"] >= settings.CORRELATION_THRESHOLD]
    family = GaugeMetricFamily(
        "incidents_correlation_lag_seconds", "Age of the oldest error event correlation should already have taken"
    )
    family.add_metric([], max(0.0, (now - min(due)).total_seconds()) if due else 0.0)
    return family
