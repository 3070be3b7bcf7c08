"""Server-rendered pages (login required). Each view gathers the page's first state; static/opsassist/app.js
keeps it live over /ws/incidents/."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Avg, Count
from django.db.models.functions import TruncDate
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from incidents import analytics
from incidents.api.filters import IncidentFilterSet
from incidents.api.serializers import IncidentSerializer
from incidents.choices import UNRESOLVED, Severity, Source, Status
from incidents.models import Incident
from monitoring.api.serializers import MonitorSerializer
from monitoring.models import CheckResult, Monitor
from monitoring.services import availability, open_incident_ids
from opsassist.lib.errors import ServiceError


def _monitors_state(now) -> list[dict]:
    monitors = list(Monitor.objects.all())
    context = {
        "open_incidents": open_incident_ids(monitors),
        "availability": availability([m.pk for m in monitors], now),
    }
    data = MonitorSerializer(monitors, many=True, context=context).data
    for item, monitor in zip(data, monitors, strict=True):
        recent = CheckResult.objects.filter(monitor=monitor).order_by("-at").values_list("health", flat=True)[:30]
        item["sparkline"] = list(reversed(recent))
    return data


def _charts(now) -> dict:
    since = (now - timedelta(days=14)).replace(hour=0, minute=0, second=0, microsecond=0)
    days = [(since + timedelta(days=i)).date() for i in range(15)]
    rows = (
        Incident.objects.filter(detected_at__gte=since)
        .annotate(day=TruncDate("detected_at"))
        .values("day", "severity")
        .annotate(n=Count("id"), mtta=Avg("ack_seconds"), mttr=Avg("resolve_seconds"))
        .order_by()
    )
    per_day = {s: [0] * len(days) for s in Severity.values}
    mtta, mttr = [[] for _ in days], [[] for _ in days]
    for row in rows:
        i = days.index(row["day"]) if row["day"] in days else None
        if i is None:
            continue
        per_day[row["severity"]][i] += row["n"]
        if row["mtta"] is not None:
            mtta[i].append((row["mtta"], row["n"]))
        if row["mttr"] is not None:
            mttr[i].append((row["mttr"], row["n"]))

    def weighted(values):
        total = sum(n for _, n in values)
        return round(sum(v * n for v, n in values) / total / 60, 1) if total else None

    return {
        "days": [d.isoformat() for d in days],
        "per_day": per_day,
        "mtta_minutes": [weighted(v) for v in mtta],
        "mttr_minutes": [weighted(v) for v in mttr],
    }


@login_required
def dashboard(request):
    now = timezone.now()
    active = Incident.objects.filter(status__in=UNRESOLVED).select_related("assigned_to")[:100]
    recent = Incident.objects.select_related("assigned_to")[:20]
    summary = analytics.current(now)
    week = analytics.service_reliability(analytics.Window(since=now - timedelta(days=7), until=now), now)
    reliability = {
        "24h": analytics.service_reliability(analytics.Window(since=now - timedelta(hours=24), until=now), now),
        "7d": {row["service"]: row for row in week},
    }
    return render(request, "dashboard.html", {
        "active": IncidentSerializer(active, many=True, context={"now": now}).data,
        "recent": IncidentSerializer(recent, many=True, context={"now": now}).data,
        "summary": summary, "reliability": reliability, "monitors": _monitors_state(now), "charts": _charts(now),
    })  # fmt: skip


@login_required
def incident_list(request):
    filterset = IncidentFilterSet(request.GET, queryset=Incident.objects.select_related("assigned_to"))
    errors = filterset.errors if not filterset.is_valid() else None
    try:
        queryset = Incident.objects.none() if errors else filterset.qs
        queryset.exists()
    except ServiceError as exc:
        errors, queryset = exc.message, Incident.objects.none()
    page = Paginator(queryset, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "incidents/list.html", {
        "page": page, "incidents": IncidentSerializer(page.object_list, many=True).data, "filters": request.GET,
        "query": query.urlencode(), "statuses": Status.values, "severities": Severity.values,
        "sources": Source.values, "errors": errors,
    })  # fmt: skip


@login_required
def incident_detail(request, pk: int):
    incident = get_object_or_404(Incident.objects.select_related("assigned_to"), pk=pk)
    return render(request, "incidents/detail.html", {
        "incident": incident, "incident_json": IncidentSerializer(incident).data,
        "can_change": request.user.has_perm("incidents.change_incident"),
        "can_approve": request.user.has_perm("remediation.approve_remediationrun"),
    })  # fmt: skip


@login_required
def monitors(request):
    return render(request, "monitoring/monitors.html", {
        "monitors": _monitors_state(timezone.now()), "simulation": settings.OPSASSIST_SIMULATION,
        "can_change": request.user.has_perm("monitoring.change_monitor"),
    })  # fmt: skip
