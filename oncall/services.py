"""Assignment, escalation and notification delivery. Incidents change only through incidents.services."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from zoneinfo import available_timezones

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from incidents import services as incident_services
from incidents.choices import Status, TimelineKind
from incidents.models import Incident
from oncall.models import (
    Channel,
    ContactMethod,
    Escalation,
    Notification,
    Schedule,
    ServiceOwnership,
    Team,
    UserProfile,
    new_calendar_token,
)
from oncall.schedule import Shift, on_call_at
from oncall.transports import transport_for
from oncall.transports.base import NotConfigured, TransportError
from opsassist.lib.errors import ServiceError
from opsassist.lib.redact import log_remote_error, public_error

log = logging.getLogger(__name__)

ACTOR = "oncall"
MAX_ATTEMPTS = 6


# --- Who ----------------------------------------------------------------------------------------


def team_for_service(service: str) -> Team | None:
    """The owning team; else a team named like the service; else the default team."""
    ownership = ServiceOwnership.objects.select_related("team").filter(service=service).first()
    if ownership is not None:
        return ownership.team
    return Team.objects.filter(name=service).first() or Team.objects.filter(is_default=True).first()


def on_call_for_team(team: Team, at: datetime | None = None) -> tuple[Shift, Schedule] | None:
    at = at or timezone.now()
    for schedule in team.schedules.order_by("id"):
        shift = on_call_at(schedule, at)
        if shift is not None:
            return shift, schedule
    return None


# --- Escalation -----------------------------------------------------------------------------------


def _snapshot_steps(team: Team) -> tuple[list[dict], int]:
    """The policy's steps as plain data (copied: later edits don't change running escalations)."""
    default_wait = settings.ESCALATION_TIMEOUT_MINUTES
    policy = getattr(team, "escalation_policy", None)
    if policy is not None and policy.steps.exists():
        steps = [
            {"schedule_id": s.schedule_id, "user_id": s.user_id, "channel_id": s.channel_id,
             "wait_minutes": s.wait_minutes or default_wait}
            for s in policy.steps.order_by("position")
        ]  # fmt: skip
        return steps, policy.repeat_count
    first = team.schedules.order_by("id").first()
    if first is None:
        return [], 0
    return [{"schedule_id": first.pk, "user_id": None, "channel_id": None, "wait_minutes": default_wait}], 0


def do_start_escalation(incident_id: int, now: datetime | None = None) -> Escalation | None:
    """Assign a new incident to its team's on-call, notify step 1 and the team's channels. Idempotent."""
    now = now or timezone.now()
    incident = Incident.objects.filter(pk=incident_id).first()
    if incident is None or incident.status != Status.OPEN:
        return None
    team = team_for_service(incident.service)
    if team is None:
        incident_services.record(incident, TimelineKind.ESCALATION, ACTOR,
                                 f"No team owns service {incident.service}; nobody was paged.")  # fmt: skip
        return None
    steps, repeat_count = _snapshot_steps(team)
    try:
        with transaction.atomic():
            escalation = Escalation.objects.create(
                incident=incident, team=team, steps=steps, repeat_count=repeat_count, started_at=now
            )
    except IntegrityError:
        return Escalation.objects.get(incident=incident)  # a second run of the same task
    on_call = on_call_for_team(team, now)
    if on_call is not None and incident.assigned_to_id is None:
        incident_services.do_assign(incident, on_call[0].user, actor=ACTOR)
    _notify_channels(incident, team, Channel.Event.NEW)
    if steps:
        _run_step(escalation, now)
    else:
        text = f"Team {team.name} has no schedule or escalation policy; nobody was paged."
        incident_services.record(incident, TimelineKind.ESCALATION, ACTOR, text)
    return escalation


def _run_step(escalation: Escalation, now: datetime) -> None:
    step = escalation.steps[escalation.step_index]
    incident = escalation.incident
    label = f"Step {escalation.step_index + 1}/{len(escalation.steps)}"
    if escalation.round:
        label += f" (repeat {escalation.round})"
    event = Channel.Event.NEW if escalation.step_index == 0 and escalation.round == 0 else Channel.Event.ESCALATION
    names = []
    if step["channel_id"]:
        channel = Channel.objects.filter(pk=step["channel_id"], enabled=True).first()
        if channel is not None:
            _queue(incident, event, escalation, kind=channel.kind, config=channel.config, channel=channel)
            names.append(f"channel {channel.name}")
    else:
        user, why = _step_user(step, now)
        if user is not None:
            _notify_user(incident, event, escalation, user)
            names.append(f"{user.username}{why}")
    wait = step["wait_minutes"]
    text = f"{label}: notified {', '.join(names)}" if names else f"{label}: nobody to notify"
    text = f"{text}; next step in {wait} min if unacknowledged."
    data = {"step": escalation.step_index, "round": escalation.round}
    incident_services.record(incident, TimelineKind.ESCALATION, ACTOR, text, data)
    Escalation.objects.filter(pk=escalation.pk).update(next_at=now + timedelta(minutes=wait))


def _step_user(step: dict, now: datetime):
    from django.contrib.auth import get_user_model

    if step["user_id"]:
        return get_user_model().objects.filter(pk=step["user_id"], is_active=True).first(), ""
    schedule = Schedule.objects.filter(pk=step["schedule_id"]).first()
    shift = on_call_at(schedule, now) if schedule else None
    if shift is None:
        return None, ""
    return shift.user, f" (on call for {schedule.name})"


def do_escalate_due(now: datetime | None = None) -> list[int]:
    """Move every escalation whose wait is over to its next step (claimed, so each step runs once)."""
    now = now or timezone.now()
    moved = []
    for escalation in Escalation.objects.filter(state=Escalation.State.ACTIVE, next_at__lte=now).select_related(
        "incident"
    ):
        if escalation.incident.status != Status.OPEN:
            do_stop_escalation(escalation.incident, f"incident {escalation.incident.status}")
            continue
        index, round_ = escalation.step_index + 1, escalation.round
        if index >= len(escalation.steps):
            index, round_ = 0, round_ + 1
        claim = Escalation.objects.filter(
            pk=escalation.pk, step_index=escalation.step_index, round=escalation.round, state=Escalation.State.ACTIVE
        )
        if round_ > escalation.repeat_count:
            if claim.update(state=Escalation.State.EXHAUSTED, next_at=None):
                incident_services.record(escalation.incident, TimelineKind.ESCALATION, ACTOR,
                                         "Escalation exhausted: every step notified, nobody acknowledged.")  # fmt: skip
            continue
        if not claim.update(step_index=index, round=round_):
            continue  # another scheduler took this step
        escalation.step_index, escalation.round = index, round_
        _run_step(escalation, now)
        moved.append(escalation.incident_id)
    return moved


def do_stop_escalation(incident: Incident, reason: str) -> bool:
    stopped = Escalation.objects.filter(incident=incident, state=Escalation.State.ACTIVE).update(
        state=Escalation.State.STOPPED, next_at=None
    )
    if stopped:
        incident_services.record(incident, TimelineKind.ESCALATION, ACTOR, f"Escalation stopped: {reason}.")
    return bool(stopped)


def do_on_status_change(incident_id: int, new: str, actor: str) -> None:
    incident = Incident.objects.filter(pk=incident_id).first()
    if incident is None:
        return
    if new in (Status.ACKNOWLEDGED, Status.RESOLVED, Status.CLOSED):
        do_stop_escalation(incident, f"{new} by {actor}")
    escalation = Escalation.objects.filter(incident=incident).select_related("team").first()
    team = escalation.team if escalation else team_for_service(incident.service)
    event = {Status.ACKNOWLEDGED: Channel.Event.ACKNOWLEDGE, Status.RESOLVED: Channel.Event.RESOLVE}.get(new)
    if team is not None and event is not None:
        _notify_channels(incident, team, event)


def do_page_on_call(incident: Incident, reason: str) -> None:
    """Page the incident's assignee, else its team's on-call, outside the escalation steps (e.g. a
    remediation failed)."""
    user = incident.assigned_to
    if user is None:
        team = team_for_service(incident.service)
        found = on_call_for_team(team) if team else None
        user = found[0].user if found else None
    if user is None:
        incident_services.record(incident, TimelineKind.ESCALATION, ACTOR, f"{reason}; nobody on call to page.")
        return
    incident_services.record(incident, TimelineKind.ESCALATION, ACTOR, f"{reason}; paging {user.username}.")
    _notify_user(incident, Channel.Event.ESCALATION, None, user)


# --- Notifications --------------------------------------------------------------------------------


def _notify_channels(incident: Incident, team: Team, event: str) -> None:
    for channel in team.channels.filter(enabled=True):
        if event in (channel.notify_on or []):
            _queue(incident, event, None, kind=channel.kind, config=channel.config, channel=channel)


def _notify_user(incident: Incident, event: str, escalation: Escalation, user) -> None:
    contacts = list(ContactMethod.objects.filter(user=user, enabled=True))
    if not contacts:
        # Recorded all the same: the page is in the log and the delivery log, never silently lost.
        _queue(incident, event, escalation, kind="log", config={}, recipient=user.username)
    for contact in contacts:
        _queue(incident, event, escalation, kind=contact.kind, config=contact.config, contact=contact,
               recipient=user.username)  # fmt: skip


def _queue(incident, event, escalation, *, kind, config, channel=None, contact=None, recipient="") -> None:
    target = transport_for(kind, config).describe() or kind
    if recipient and kind == "log":
        target = f"log:{recipient}"
    try:
        with transaction.atomic():
            notification = Notification.objects.create(
                incident=incident, event=event, kind=kind, channel=channel, contact=contact, recipient=recipient,
                target=target, step=escalation.step_index if escalation else -1,
                round=escalation.round if escalation else 0,
            )  # fmt: skip
    except IntegrityError:
        return  # already sent for this incident, event, step and target: stay quiet
    from oncall.tasks import deliver

    transaction.on_commit(lambda: deliver.delay(notification.pk))


def message_for(notification: Notification) -> dict:
    from incidents.api.serializers import IncidentSerializer

    incident = notification.incident
    headlines = {"new": "New incident", "escalation": "Escalated incident", "acknowledge": "Incident acknowledged",
                 "resolve": "Incident resolved"}  # fmt: skip
    return {
        "event": notification.event,
        "headline": headlines.get(notification.event, notification.event),
        "recipient": notification.recipient,
        "incident": IncidentSerializer(incident).data,
        "url": f"{settings.OPSASSIST_URL}/incidents/{incident.pk}/",
    }


def do_deliver(notification_id: int, final_attempt: bool) -> str:
    """One delivery attempt: "sent", "retry" (worth another try), "failed", "skipped" (the transport is not
    configured on this server) or "skip" (not ours to send)."""
    claimed = Notification.objects.filter(pk=notification_id, status=Notification.Status.PENDING).update(
        status=Notification.Status.SENDING, attempts=F("attempts") + 1
    )
    if not claimed:
        return "skip"
    notification = Notification.objects.select_related("incident", "channel", "contact").get(pk=notification_id)
    config = (
        (notification.channel or notification.contact).config if (notification.channel or notification.contact) else {}
    )
    started = time.perf_counter()
    try:
        transport_for(notification.kind, config).notify(message_for(notification))
    except NotConfigured as exc:
        return _record_skipped(notification, exc, started)
    except TransportError as exc:
        return _record_failure(notification, exc, final_attempt, started)
    except Exception as exc:  # a transport bug must not lose the row
        log_remote_error(f"delivery of notification {notification.pk}", exc, str(config.get("url", "")))
        return _record_failure(notification, TransportError(public_error(exc)), final_attempt, started)
    _finish(notification, Notification.Status.SENT, "", started)
    incident_services.record(notification.incident, TimelineKind.NOTIFICATION, ACTOR,
                             f"Notified {notification.recipient or notification.target} via {notification.kind} "
                             f"({notification.event}).", {"notification": notification.pk})  # fmt: skip
    return "sent"


def _finish(notification: Notification, status: str, error: str, started: float) -> None:
    Notification.objects.filter(pk=notification.pk).update(
        status=status, error=error[:2000], duration_ms=round((time.perf_counter() - started) * 1000, 2),
        sent_at=timezone.now() if status == Notification.Status.SENT else None,
    )  # fmt: skip


def _record_skipped(notification: Notification, exc: NotConfigured, started: float) -> str:
    _finish(notification, Notification.Status.SKIPPED, exc.message, started)
    incident_services.record(notification.incident, TimelineKind.NOTIFICATION, ACTOR,
                             f"Notification to {notification.recipient or notification.target} via {notification.kind} "
                             f"skipped: {exc.message[:300]}", {"notification": notification.pk})  # fmt: skip
    return "skipped"


def _record_failure(notification: Notification, exc: TransportError, final_attempt: bool, started: float) -> str:
    if not exc.permanent and not final_attempt:
        _finish(notification, Notification.Status.PENDING, exc.message, started)
        return "retry"
    _finish(notification, Notification.Status.FAILED, exc.message, started)
    if exc.permanent and notification.channel_id:
        Channel.objects.filter(pk=notification.channel_id).update(enabled=False, disabled_reason=exc.message[:1000])
    incident_services.record(notification.incident, TimelineKind.NOTIFICATION, ACTOR,
                             f"Notification to {notification.recipient or notification.target} via {notification.kind} "
                             f"failed after {notification.attempts} attempt(s): {exc.message[:300]}",
                             {"notification": notification.pk})  # fmt: skip
    return "failed"


# --- Profiles and calendar feeds ------------------------------------------------------------------


def profile_for(user) -> UserProfile:
    profile, _ = UserProfile.objects.get_or_create(user=user)
    return profile


def check_time_zone(value: str) -> str:
    """Raises ServiceError unless `value` is an IANA zone name."""
    value = (value or "").strip()
    if value not in available_timezones():
        raise ServiceError(f"'{value[:64]}' is not an IANA time zone (e.g. Europe/Berlin).", field="time_zone")
    return value


def do_set_time_zone(user, value: str, *, only_if_unset: bool = False) -> UserProfile:
    """Store the zone pages show `user` times in; with only_if_unset, a browser's guess never overwrites
    a zone the person chose."""
    value = check_time_zone(value)
    profile = profile_for(user)
    rows = UserProfile.objects.filter(pk=profile.pk)
    if only_if_unset:
        rows = rows.filter(time_zone="")
    rows.update(time_zone=value)
    profile.refresh_from_db()
    return profile


def do_rotate_calendar_token(row: Schedule | UserProfile) -> str:
    """A new secret for the row's calendar feed; the old URL stops working at once."""
    row.calendar_token = new_calendar_token()
    type(row).objects.filter(pk=row.pk).update(calendar_token=row.calendar_token)
    return row.calendar_token
