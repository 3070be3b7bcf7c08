"""remediation_runs_total{action,outcome}: finished remediation runs, counted from the runs at scrape time."""

from __future__ import annotations

from django.db.models import Count
from prometheus_client.core import CounterMetricFamily

OUTCOMES = ["succeeded", "failed", "rejected"]


class RemediationCollector:
    def collect(self):
        from remediation.models import RemediationRun

        family = CounterMetricFamily(
            "remediation_runs", "Finished remediation runs by action and outcome", labels=["action", "outcome"]
        )
        rows = (
            RemediationRun.objects.filter(status__in=OUTCOMES)
            .values("action", "status")
            .annotate(n=Count("id"))
            .order_by("action", "status")
        )
        for row in rows:
            family.add_metric([row["action"], row["status"]], row["n"])
        yield family
