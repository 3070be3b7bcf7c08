"""Server-rendered pages (login required). Each view gathers the page's first state; static/opsassist/app.js
keeps it live over /ws/incidents/."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from time import time as time_now
from typing import cast

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Avg, Count
from django.db.models.functions import TruncDate
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from incidents import analytics, noise, payload
from incidents.api.filters import IncidentFilterSet
from incidents.api.serializers import IncidentSerializer
from incidents.choices import UNRESOLVED, Severity, Source, Status, TimelineKind
from incidents.forms import MaintenanceWindowForm
from incidents.models import Incident, MaintenanceWindow, TimelineEntry
from monitoring.api.serializers import MonitorSerializer
from monitoring.forms import all_kind_inputs
from monitoring.models import CheckResult, Monitor
from monitoring.queries import availability, open_incident_ids
from oncall.services import fallback_team, paged_for, unowned_services
from opsassist.lib.errors import ServiceError
from remediation.actions import allowed_actions
from remediation.analysis import monitor_of
from remediation.models import Postmortem


def _monitors_state(now) -> list[dict]:
    monitors = list(Monitor.objects.all())
    context = {
        "open_incidents": open_incident_ids(monitors),
        "availability": availability([m.pk for m in monitors], now),
    }
    # many=True builds a ListSerializer, whose data is a list; the stubs type it as the child's dict.
    data = cast(list[dict], MonitorSerializer(monitors, many=True, context=context).data)
    for item, monitor in zip(data, monitors, strict=True):
        recent = CheckResult.objects.filter(monitor=monitor).order_by("-at").values_list("health", flat=True)[:30]
        item["sparkline"] = list(reversed(recent))
    return data


CHART_RANGES = (7, 14, 30, 90)


def _chart_days(request) -> int:
    """The dashboard charts' range in days (?days=7|14|30|90; anything else: 14)."""
    value = request.GET.get("days", "")
    return int(value) if value.isdigit() and int(value) in CHART_RANGES else 14


def _charts(now, span: int = 14) -> dict:
    # Days in the viewer's zone, like TruncDate below (it truncates in the current time zone).
    since = timezone.localtime(now - timedelta(days=span)).replace(hour=0, minute=0, second=0, microsecond=0)
    days = [(since + timedelta(days=i)).date() for i in range(span + 1)]
    rows = (
        Incident.objects.filter(detected_at__gte=since)
        .annotate(day=TruncDate("detected_at"))
        .values("day", "severity")
        .annotate(n=Count("id"), mtta=Avg("ack_seconds"), mttr=Avg("resolve_seconds"))
        .order_by()
    )
    per_day = {s: [0] * len(days) for s in Severity.values}
    # Per day: (average seconds, incidents) of each severity, weighted together below.
    mtta: list[list[tuple[float, int]]] = [[] for _ in days]
    mttr: list[list[tuple[float, int]]] = [[] for _ in days]
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


def _with_ai_flag(rows) -> list:
    flagged = ai_analysed_ids(row["id"] for row in rows)
    return [{**row, "ai_analysed": row["id"] in flagged} for row in rows]


RELIABILITY_ROWS = 20


def _reliability(now) -> tuple[list[dict], int]:
    """The services with the most downtime over 30 days (at most RELIABILITY_ROWS, worst first), each with its
    availability over 24 h and 7 d and its 30-day incident count; and how many services the 30 days saw."""
    month = analytics.Window(since=now - timedelta(days=30), until=now)
    inputs = analytics.reliability_inputs(month, now)
    rows = analytics.service_reliability(month, now, inputs=inputs, limit=RELIABILITY_ROWS)
    names = {row["service"] for row in rows}
    by_window = {}
    for key, span in (("day", timedelta(hours=24)), ("week", timedelta(days=7))):
        window = analytics.Window(since=now - span, until=now)
        found = analytics.service_reliability(
            window, now, sorted(names), inputs=analytics.raw_inputs(window, now, names)
        )
        by_window[key] = {row["service"]: row for row in found}
    day, week = by_window["day"], by_window["week"]
    reliability = [{"service": r["service"], "day": day[r["service"]], "week": week[r["service"]],
                    "incidents_30d": r["incidents"]} for r in rows]  # fmt: skip
    return reliability, len(set(inputs[0]) | set(inputs[1]))


def _live_state(request, now) -> dict:
    """What the dashboard's reliability table and charts show; app.js fetches it again on incident changes."""
    reliability, total = _reliability(now)
    return {"reliability": reliability, "reliability_total": total, "charts": _charts(now, _chart_days(request)),
            "computed_at": time_now()}  # fmt: skip


def _cached_live_state(request, now) -> dict:
    """The page's first state, shared for ANALYTICS_CACHE_SECONDS (with thousands of services it is most
    of the page's cost); `live_stale` tells app.js to fetch it fresh at once when it is older than a second."""
    state = analytics.cached(f"dashboard:live:{_chart_days(request)}", lambda: _live_state(request, now),
                             settings.ANALYTICS_CACHE_SECONDS)  # fmt: skip
    return {**state, "live_stale": time_now() - state["computed_at"] > 1}


@login_required
def dashboard(request):
    now = timezone.now()
    active = Incident.objects.filter(status__in=UNRESOLVED).select_related("assigned_to")[:100]
    recent = Incident.objects.select_related("assigned_to")[:20]
    return render(request, "dashboard.html", {
        # The shape live updates bring (incidents/payload.py), a tenth of the REST serializer's cost.
        "active": _with_ai_flag([payload.incident_shape(i, now) for i in active]),
        "recent": _with_ai_flag([payload.incident_shape(i, now) for i in recent]),
        "summary": analytics.summary(now), "monitors": _monitors_state(now), **_cached_live_state(request, now),
        "chart_days": _chart_days(request), "chart_ranges": CHART_RANGES,
        "unowned": unowned_services(now - timedelta(days=7)), "fallback_team": fallback_team(),
    })  # fmt: skip


@login_required
@require_GET
def dashboard_live(request):
    """The dashboard's reliability table and charts as JSON (?days= as the page), fresh."""
    return JsonResponse(_live_state(request, timezone.now()))


SORTABLE = {"severity": "severity", "id": "id", "service": "service", "status": "status",
            "assigned_to": "assigned_to__username", "detected_at": "detected_at"}  # fmt: skip
COLUMNS = [("severity", "Severity"), ("id", "Incident"), ("service", "Service"), ("", "Source"), ("status", "Status"),
           ("assigned_to", "Assignee"), ("detected_at", "Detected")]  # fmt: skip


def _page_filters(request, queryset):
    """The list page's own filters on top of the API's: a part of a service name, a date range (days in
    the viewer's zone) and a sortable column. Raises ServiceError naming the field."""
    params = request.GET
    if params.get("service_contains"):
        queryset = queryset.filter(service__icontains=params["service_contains"].strip())
    for name, lookup, extra in (("from", "detected_at__gte", 0), ("to", "detected_at__lt", 1)):
        if params.get(name):
            try:
                day = parse_date(params[name]) if len(params[name]) == 10 else None
            except ValueError:
                day = None
            if day is None:
                raise ServiceError(f"{name}: '{params[name][:20]}' is not a date (YYYY-MM-DD).", field=name)
            start = datetime.combine(day + timedelta(days=extra), time.min, tzinfo=timezone.get_current_timezone())
            queryset = queryset.filter(**{lookup: start})
    ordering = params.get("ordering", "")
    if ordering:
        field = SORTABLE.get(ordering.lstrip("-"))
        if field is None:
            raise ServiceError(f"ordering: '{ordering[:30]}' is not a sortable column.", field="ordering")
        queryset = queryset.order_by(("-" if ordering.startswith("-") else "") + field, "-id")
    return queryset


@login_required
def incident_list(request):
    api_params = request.GET.copy()
    for name in ("service_contains", "from", "to", "ordering", "page"):
        api_params.pop(name, None)
    filterset = IncidentFilterSet(api_params, queryset=Incident.objects.select_related("assigned_to"))
    errors = filterset.errors if not filterset.is_valid() else None
    try:
        queryset = Incident.objects.none() if errors else _page_filters(request, filterset.qs)
        queryset.exists()
    except ServiceError as exc:
        errors, queryset = exc.message, Incident.objects.none()
    page = Paginator(queryset, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    without_ordering = query.copy()
    without_ordering.pop("ordering", None)
    return render(request, "incidents/list.html", {
        "page": page, "incidents": _with_ai_flag(IncidentSerializer(page.object_list, many=True).data),
        "filters": request.GET, "can_change": request.user.has_perm("incidents.change_incident"),
        "can_add": request.user.has_perm("incidents.add_incident"), "users": _usernames(), "columns": COLUMNS,
        "query": query.urlencode(), "query_without_ordering": without_ordering.urlencode(),
        "statuses": Status.values, "severities": Severity.values, "sources": Source.values, "errors": errors,
    }, status=400 if errors else 200)  # fmt: skip


def _usernames():
    return get_user_model().objects.filter(is_active=True).order_by("username").values_list("username", flat=True)


def ai_analysed_ids(ids) -> set[int]:
    """Incidents Claude analysed (an analysis entry by the `ai` actor): they carry the robot badge."""
    rows = TimelineEntry.objects.filter(incident_id__in=list(ids), kind=TimelineKind.ANALYSIS, actor="ai")
    return set(rows.values_list("incident_id", flat=True))


@login_required
def incident_detail(request, pk: int):
    incident = get_object_or_404(Incident.objects.select_related("assigned_to"), pk=pk)
    monitor = monitor_of(incident)
    data = IncidentSerializer(incident).data
    data["ai_analysed"] = bool(ai_analysed_ids([incident.pk]))
    return render(request, "incidents/detail.html", {
        "incident": incident, "incident_json": data, "monitor": monitor,
        "can_change": request.user.has_perm("incidents.change_incident"),
        "can_approve": request.user.has_perm("remediation.approve_remediationrun"),
        "can_remediate": bool(allowed_actions(monitor)),
        "proposer": "Claude" if settings.ANTHROPIC_API_KEY else "built-in rules",
        "users": _usernames(),
        "severities": Severity.values, "postmortem": Postmortem.objects.filter(incident=incident).first(),
    })  # fmt: skip


@login_required
def monitors(request):
    return render(request, "monitoring/monitors.html", {
        "monitors": _monitors_state(timezone.now()), "simulation": settings.OPSASSIST_SIMULATION,
        "can_change": request.user.has_perm("monitoring.change_monitor"),
        "can_add": request.user.has_perm("monitoring.add_monitor"), "kinds": all_kind_inputs(),
    })  # fmt: skip


@login_required
@require_http_methods(["GET", "POST"])
def maintenance(request):
    """Maintenance windows: the current and coming ones, the past week's, and a form to schedule one."""
    if not request.user.has_perm("incidents.view_maintenancewindow"):
        raise PermissionDenied
    now = timezone.now()
    form = MaintenanceWindowForm(request.POST or None)
    if request.method == "POST":
        if not request.user.has_perm("incidents.add_maintenancewindow"):
            raise PermissionDenied
        if form.is_valid():
            try:
                noise.do_create_window(**form.cleaned_data, actor=request.user, now=now)
                return redirect("maintenance")
            except ServiceError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
    windows = MaintenanceWindow.objects.filter(ends_at__gte=now - timedelta(days=7)).order_by("starts_at", "id")
    return render(request, "incidents/maintenance.html", {
        "windows": windows, "form": form, "now": now, "storm": _storm_rule(),
        "can_add": request.user.has_perm("incidents.add_maintenancewindow"),
        "can_delete": request.user.has_perm("incidents.delete_maintenancewindow"),
    }, status=400 if form.errors else 200)  # fmt: skip


def _storm_rule() -> dict:
    """The alert-storm rule and who its major incident pages, for the maintenance page."""
    service = settings.STORM_SERVICE
    return {"threshold": settings.STORM_THRESHOLD, "window": settings.STORM_WINDOW_SECONDS, "service": service,
            "paged": paged_for(service)}  # fmt: skip


@login_required
@require_POST
def maintenance_delete(request, pk: int):
    if not request.user.has_perm("incidents.delete_maintenancewindow"):
        raise PermissionDenied
    get_object_or_404(MaintenanceWindow, pk=pk).delete()
    return redirect("maintenance")
