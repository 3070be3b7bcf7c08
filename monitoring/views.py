"""Monitor pages: create (on the list page), and one page per monitor with its health over time, its
incidents and its kind-aware edit form. Changes go to the REST API (same serializers and permissions)."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from incidents.api.serializers import IncidentSerializer
from incidents.models import Incident
from monitoring.api.serializers import MonitorSerializer
from monitoring.forms import all_kind_inputs
from monitoring.models import CheckResult, Monitor, MonitorRollup

RECENT = timedelta(hours=24)
HISTORY = timedelta(days=30)
MAX_POINTS = 720


def _history(monitor: Monitor, now) -> dict:
    """Recent checks (health per check, last 24 h) and hourly rollups (30 d) for the page's charts."""
    recent = CheckResult.objects.filter(monitor=monitor, at__gte=now - RECENT).order_by("-at")
    checks = [{"at": r.at.isoformat(), "health": r.health, "latency_ms": r.latency_ms}
              for r in recent.only("at", "health", "latency_ms")[:MAX_POINTS]]  # fmt: skip
    rollups = MonitorRollup.objects.filter(monitor=monitor, hour__gte=now - HISTORY).order_by("hour")
    hours = [{"at": r.hour.isoformat(), "healthy_percent": round(100 * r.healthy / r.checks, 2) if r.checks else None}
             for r in rollups]  # fmt: skip
    return {"checks": list(reversed(checks)), "hours": hours, "interval_seconds": monitor.interval_seconds}


@login_required
def monitor_detail(request, name: str):
    if not request.user.has_perm("monitoring.view_monitor"):
        raise PermissionDenied
    monitor = get_object_or_404(Monitor, name=name)
    now = timezone.now()
    incidents = Incident.objects.filter(source="health_check", component=monitor.name).select_related("assigned_to")
    data = MonitorSerializer(monitor).data
    return render(request, "monitoring/detail.html", {
        "monitor": monitor, "monitor_json": data, "history": _history(monitor, now),
        "incidents": IncidentSerializer(incidents[:20], many=True, context={"now": now}).data,
        "kinds": all_kind_inputs(monitor.kind, data["thresholds"]),
        "can_change": request.user.has_perm("monitoring.change_monitor"),
        "can_delete": request.user.has_perm("monitoring.delete_monitor"),
    })  # fmt: skip
