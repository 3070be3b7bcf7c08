"""`/metrics`: process metrics (multiprocess-aware under several uvicorn workers) plus collectors that
read the database at scrape time."""

from __future__ import annotations

import os

from django.http import HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess

from incidents.metrics import IncidentCollector
from oncall.metrics import NotificationCollector

_db_registry = CollectorRegistry(auto_describe=False)
_db_registry.register(IncidentCollector())
_db_registry.register(NotificationCollector())


def metrics(request):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    body = generate_latest(registry) + generate_latest(_db_registry)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
