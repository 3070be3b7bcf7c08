"""monitor_health{monitor,kind}: each enabled monitor's last result, read from the database at scrape time."""

from __future__ import annotations

from prometheus_client.core import GaugeMetricFamily

# 1 healthy, 0.5 degraded, 0 down; a monitor not checked yet has no sample.
HEALTH_VALUE = {"healthy": 1.0, "degraded": 0.5, "down": 0.0}


class MonitorCollector:
    def collect(self):
        from monitoring.models import Monitor

        family = GaugeMetricFamily(
            "monitor_health", "Monitor health: 1 healthy, 0.5 degraded, 0 down", labels=["monitor", "kind"]
        )
        rows = Monitor.objects.filter(enabled=True, status__in=HEALTH_VALUE).values_list("name", "kind", "status")
        for name, kind, status in rows.order_by("name"):
            family.add_metric([name, kind], HEALTH_VALUE[status])
        yield family
