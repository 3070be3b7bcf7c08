"""`/metrics`: process metrics (multiprocess-aware under several uvicorn workers) plus collectors that
read the database and the heartbeats at scrape time. Every collector runs a bounded, indexed query."""

from __future__ import annotations

import math
import os

from django.http import HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily

from incidents.metrics import IncidentCollector
from monitoring.metrics import MonitorCollector
from oncall.metrics import NotificationCollector
from opsassist.lib import heartbeat
from remediation.metrics import RemediationCollector


class HeartbeatCollector:
    """opsassist_heartbeat_age_seconds{role}: +Inf for a role that never wrote one."""

    def collect(self):
        family = GaugeMetricFamily(
            "opsassist_heartbeat_age_seconds",
            "Seconds since the worker or beat last wrote its heartbeat",
            labels=["role"],
        )
        for role, age in heartbeat.ages().items():
            family.add_metric([role], math.inf if age is None else age)
        yield family


_db_registry = CollectorRegistry(auto_describe=False)
for collector in (
    IncidentCollector(),
    NotificationCollector(),
    MonitorCollector(),
    RemediationCollector(),
    HeartbeatCollector(),
):
    _db_registry.register(collector)


def metrics(request):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    body = generate_latest(registry) + generate_latest(_db_registry)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
