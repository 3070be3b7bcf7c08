"""oncall_notifications_sent_total{channel,status} and oncall_notification_latency_seconds{channel}
(queued → sent), both read from the delivery log at scrape time."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

# Outcomes counted: a delivery in flight (pending, sending) has none yet.
OUTCOMES = ["sent", "failed", "skipped"]


class NotificationCollector:
    def collect(self):
        yield self._outcomes()
        yield self._latency()

    def _outcomes(self) -> CounterMetricFamily:
        from oncall.models import Notification

        family = CounterMetricFamily(
            "oncall_notifications_sent", "Notifications by channel kind and outcome", labels=["channel", "status"]
        )
        rows = Notification.objects.filter(status__in=OUTCOMES).values("kind", "status").annotate(n=Count("id"))
        for row in rows.order_by("kind", "status"):
            family.add_metric([row["kind"], row["status"]], row["n"])
        return family

    def _latency(self) -> HistogramMetricFamily:
        """Seconds from queueing (created_at) to the transport accepting it (sent_at), sent ones only."""
        from oncall.models import Notification

        buckets = settings.NOTIFICATION_LATENCY_BUCKETS
        latency = ExpressionWrapper(F("sent_at") - F("created_at"), output_field=DurationField())
        aggregates = {
            f"le_{i}": Count("id", filter=Q(latency__lte=timedelta(seconds=b))) for i, b in enumerate(buckets)
        }
        # The le_<i> columns are built at run time, so the stubs' row type (kind, n, total) does not list them.
        rows: Iterable[Mapping[str, Any]] = (
            Notification.objects.filter(status="sent", sent_at__isnull=False)
            .annotate(latency=latency)
            .values("kind")
            .annotate(n=Count("id"), total=Sum("latency"), **aggregates)
            .order_by("kind")
        )
        family = HistogramMetricFamily(
            "oncall_notification_latency_seconds", "Notification delivery latency, queued to sent", labels=["channel"]
        )
        for row in rows:
            cumulative = [(_le(b), float(row[f"le_{i}"])) for i, b in enumerate(buckets)]
            cumulative.append(("+Inf", float(row["n"])))
            family.add_metric([row["kind"]], cumulative, sum_value=_seconds(row["total"]))
        return family


def _seconds(total) -> float:
    if total is None:
        return 0.0
    return total.total_seconds() if isinstance(total, timedelta) else float(total) / 1e6  # SQLite: microseconds


def _le(bound: float) -> str:
    return str(int(bound)) + ".0" if float(bound).is_integer() else str(bound)
