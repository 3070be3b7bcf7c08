"""On-call pages: who is on call, the team set-up, the viewer's profile and the calendar feeds.

Edits of teams, schedules, overrides, policies, contact methods and notification rules go from the page to
the REST API (same serializers, same permissions); the views here only render, plus the few form posts the
API has no endpoint for (profile time zone, rotating a feed secret)."""

from __future__ import annotations

from zoneinfo import available_timezones

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from oncall import services
from oncall.calendar import schedule_calendar, user_calendar, user_shifts
from oncall.forms import config_inputs, kind_forms
from oncall.models import (
    Channel,
    ContactMethod,
    EscalationPolicy,
    EscalationStep,
    Layer,
    Notification,
    NotificationRule,
    Override,
    Schedule,
    Team,
    UserProfile,
)
from oncall.schedule import next_shifts
from oncall.testpage import TEST_EVENT, UNTESTABLE_KINDS
from oncall.transports import TRANSPORTS, transport_for
from opsassist.lib.errors import ServiceError
from opsassist.lib.publicurl import absolute_url

SHIFTS_SHOWN = 6


def _schedules():
    layers = Prefetch("layers", Layer.objects.prefetch_related("members__user").order_by("-order", "id"))
    return Schedule.objects.select_related("team").prefetch_related(layers)


def _schedule_state(schedule: Schedule, now) -> dict:
    path = reverse("oncall-schedule-feed", args=[schedule.calendar_token])
    return {"schedule": schedule, "next": next_shifts(schedule, now, count=SHIFTS_SHOWN), "feed": absolute_url(path)}


def _team_state(team: Team, now) -> dict:
    found = services.on_call_for_team(team, now)
    schedules = [s for s in _schedules().filter(team=team)]
    overrides = Override.objects.filter(schedule__team=team, end__gt=now).select_related("user", "schedule")
    return {
        "team": team, "services": [s.service for s in team.services.all()], "members": list(team.members.all()),
        "shift": found[0] if found else None, "on_call_schedule": found[1] if found else None,
        "schedules": [_schedule_state(s, now) for s in schedules], "overrides": overrides.order_by("start")[:20],
    }  # fmt: skip


@login_required
def oncall(request):
    now = timezone.now()
    teams = [_team_state(team, now) for team in Team.objects.prefetch_related("services", "members")]
    return render(request, "oncall/oncall.html", {
        "teams": teams, "users": get_user_model().objects.filter(is_active=True).order_by("username"),
        "can_cover": request.user.has_perm("oncall.add_override"),
        "can_delete_override": request.user.has_perm("oncall.delete_override"),
        "can_change_override": request.user.has_perm("oncall.change_override"),
        "can_rotate": request.user.has_perm("oncall.change_schedule"),
    })  # fmt: skip


def _policies():
    steps = Prefetch("steps", EscalationStep.objects.select_related("schedule", "user", "channel"))
    return EscalationPolicy.objects.select_related("team").prefetch_related(steps)


@login_required
def setup(request):
    """Teams, their services, schedules (rotation layers) and escalation policies."""
    teams = Team.objects.prefetch_related("members", "services")
    return render(request, "oncall/setup.html", {
        "teams": teams, "schedules": _schedules(), "policies": _policies(),
        "users": get_user_model().objects.filter(is_active=True).order_by("username"),
        "channels": Channel.objects.all(), "time_zones": sorted(available_timezones()),
        "teams_without_policy": teams.filter(escalation_policy__isnull=True),
    })  # fmt: skip


def _contact_row(contact: ContactMethod, last_test: Notification | None) -> dict:
    transport = transport_for(contact.kind, contact.config)
    return {
        "contact": contact, "label": TRANSPORTS[contact.kind][0], "target": transport.describe(),
        "inputs": config_inputs(contact.kind, transport.Config.masked(contact.config)), "last_test": last_test,
        "testable": contact.kind not in UNTESTABLE_KINDS,
    }  # fmt: skip


def _paging_state(person, viewer) -> dict:
    """A person's contact methods (secrets masked) and notification rules, for the profile and for admins."""
    tests = Notification.objects.filter(contact__user=person, event=TEST_EVENT).order_by("-created_at", "-id")
    last_tests: dict[int | None, Notification] = {}
    for test in tests[:200]:
        last_tests.setdefault(test.contact_id, test)
    contacts = {c.pk: _contact_row(c, last_tests.get(c.pk)) for c in ContactMethod.objects.filter(user=person)}
    rules = NotificationRule.objects.filter(user=person).order_by("delay_minutes", "id")
    return {
        "person": person, "is_self": person == viewer, "contacts": list(contacts.values()), "kinds": kind_forms(),
        "rules": [{"rule": r, "contact": contacts[r.contact_id]} for r in rules if r.contact_id in contacts],
        "can_test": viewer.has_perm("incidents.change_incident"),
    }  # fmt: skip


@login_required
def profile(request):
    profile = services.profile_for(request.user)
    error = None
    if request.method == "POST":
        try:
            services.do_set_time_zone(request.user, request.POST.get("time_zone", ""))
            return redirect("profile")
        except ServiceError as exc:
            error = exc
    feed = absolute_url(reverse("oncall-user-feed", args=[profile.calendar_token]))
    return render(request, "oncall/profile.html", {
        "profile": profile, "feed": feed, "time_zones": sorted(available_timezones()), "error": error,
        "shifts": user_shifts(request.user, timezone.now())[:10], **_paging_state(request.user, request.user),
    }, status=400 if error else 200)  # fmt: skip


@login_required
def person(request, username: str):
    """Someone's contact methods and rules, managed by an admin (the API lets admins manage anyone's)."""
    if not request.user.is_superuser:
        raise PermissionDenied
    person = get_object_or_404(get_user_model(), username=username, is_active=True)
    if person == request.user:
        return redirect("profile")
    return render(request, "oncall/person.html", _paging_state(person, request.user))


@login_required
@require_POST
def guess_time_zone(request):
    """The browser's zone (from Intl), stored only while the person has chosen none."""
    try:
        profile = services.do_set_time_zone(request.user, request.POST.get("time_zone", ""), only_if_unset=True)
    except ServiceError as exc:
        return JsonResponse({exc.field: [exc.message]}, status=400)
    return JsonResponse({"time_zone": profile.time_zone})


@login_required
@require_POST
def rotate_my_feed(request):
    services.do_rotate_calendar_token(services.profile_for(request.user))
    return redirect("profile")


@require_POST
@permission_required("oncall.change_schedule", raise_exception=True)
def rotate_schedule_feed(request, pk: int):
    services.do_rotate_calendar_token(get_object_or_404(Schedule, pk=pk))
    return redirect("oncall")


def _ics(body: bytes, name: str) -> HttpResponse:
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'inline; filename="{name}.ics"'
    response["Cache-Control"] = "private, max-age=300"
    response["X-Robots-Tag"] = "noindex"
    return response


@require_safe
def schedule_feed(request, token: str):
    """No session: the secret in the URL is the key (calendar apps cannot log in)."""
    schedule = get_object_or_404(Schedule.objects.select_related("team"), calendar_token=token)
    return _ics(schedule_calendar(schedule, timezone.now()), f"oncall-{schedule.pk}")


@require_safe
def user_feed(request, token: str):
    profile = get_object_or_404(UserProfile.objects.select_related("user"), calendar_token=token)
    if not profile.user.is_active:
        return HttpResponse(status=404)
    return _ics(user_calendar(profile.user, timezone.now()), "my-shifts")
