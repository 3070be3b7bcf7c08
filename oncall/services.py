"""Assignment, escalation and notification delivery. Incidents change only through incidents.services."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from zoneinfo import available_timezones

from celery import current_app
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from incidents import services as incident_services
from incidents.choices import Status, TimelineKind
from incidents.models import Incident
from oncall import payload, slack
from oncall.models import (
    Channel,
    ContactMethod,
    Escalation,
    Notification,
    NotificationRule,
    Schedule,
    ScheduledNotification,
    ServiceOwnership,
    SlackMessage,
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
# An open incident with no escalation this long after it was opened lost its start task: the reaper starts
# it. Well above a start task's normal delay; a late task then finds the escalation started and stays quiet.
ESCALATION_START_GRACE_SECONDS = 60


# --- Who ----------------------------------------------------------------------------------------


def team_for_service(service: str) -> Team | None:
    """The owning team; else a team named like the service; else the default team."""
    return _owner(service)[0]


def _owner(service: str) -> tuple[Team | None, str]:
    """`team_for_service`, with why that team (in words)."""
    ownership = ServiceOwnership.objects.select_related("team").filter(service=service).first()
    if ownership is not None:
        return ownership.team, f"owns {service}"
    named = Team.objects.filter(name=service).first()
    if named is not None:
        return named, "named like the service"
    default = Team.objects.filter(is_default=True).first()
    return default, f"the default team; nobody owns {service}"


def paged_for(service: str) -> str:
    """Who a new incident of `service` pages, and why, in words (e.g. the alert storm's on the maintenance
    page): its team, else the fallback team, else the admins."""
    team, why = _owner(service)
    if team is not None:
        return f"team {team.name} ({why})"
    team = fallback_team()
    if team is not None:
        return f"team {team.name} (ONCALL_FALLBACK_TEAM; no team owns {service})"
    return f"the admins (no team owns {service} and ONCALL_FALLBACK_TEAM is not set)"


def on_call_for_team(team: Team, at: datetime | None = None) -> tuple[Shift, Schedule] | None:
    at = at or timezone.now()
    for schedule in team.schedules.order_by("id"):
        shift = on_call_at(schedule, at)
        if shift is not None:
            return shift, schedule
    return None


def unowned_services(since: datetime) -> list[str]:
    """Services with incidents since `since` that no team owns (by ownership or by name): the dashboard
    warns about them, since their pages go to the fallback team or the admins."""
    services = set(Incident.objects.filter(detected_at__gte=since).values_list("service", flat=True).distinct()[:1000])
    owned = set(ServiceOwnership.objects.filter(service__in=services).values_list("service", flat=True))
    named = set(Team.objects.filter(name__in=services).values_list("name", flat=True))
    return sorted(services - owned - named)


def fallback_team() -> Team | None:
    """`ONCALL_FALLBACK_TEAM`: who is paged for services no team owns."""
    name = settings.ONCALL_FALLBACK_TEAM
    return Team.objects.filter(name=name).first() if name else None


def _page_admins(incident: Incident, why: str, escalation: Escalation | None = None) -> None:
    """Nobody is silently unpaged: the active superusers get the page, and the timeline says why. Given an
    escalation paging again (a later round), its pages are new rows, not de-duplicated into the first."""
    admins = list(get_user_model().objects.filter(is_superuser=True, is_active=True).order_by("username"))
    if not admins:
        incident_services.record(incident, TimelineKind.ESCALATION, ACTOR, f"{why}; no active admin: nobody was paged.")
        return
    names = ", ".join(a.username for a in admins)
    incident_services.record(incident, TimelineKind.ESCALATION, ACTOR, f"{why}; paging the admins: {names}.")
    again = escalation is not None and escalation.round > 0
    for admin in admins:
        _notify_user(incident, Channel.Event.ESCALATION if again else Channel.Event.NEW, escalation, admin)


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
    """Assign a new incident to its team's on-call, notify step 1 and the team's channels. Idempotent: the
    incident's one Escalation row is the claim, inserted in the same transaction as the first pages, so a
    second run (the task redelivered, the reaper, a late original) pages nobody again."""
    started = _claim_start(incident_id, now or timezone.now(), note="")
    return started[0] if started else None


def _claim_start(incident_id: int, now: datetime, note: str) -> tuple[Escalation, bool] | None:
    """(escalation, whether this call started it), or None when the incident must not page now. `note`
    goes to the timeline first, written only by the call that starts it."""
    incident = Incident.objects.filter(pk=incident_id).first()
    if incident is None or incident.status != Status.OPEN or _held(incident, now):
        return None
    owner = team_for_service(incident.service)
    team = owner or fallback_team()
    steps, repeat_count = _snapshot_steps(team) if team is not None else ([], 0)
    try:
        # All or nothing: a worker that dies half-way leaves no escalation without its first step, so the
        # redelivered task (acks_late) or the reaper starts it again. Even paging the admins leaves a row,
        # so the reaper knows this incident was paged.
        with transaction.atomic():
            escalation = Escalation.objects.create(
                incident=incident, team=team, steps=steps, repeat_count=repeat_count, started_at=now
            )
            if note:
                incident_services.record(incident, TimelineKind.ESCALATION, ACTOR, note)
            _begin(escalation, incident, team, fallback=owner is None, now=now)
    except IntegrityError:
        return Escalation.objects.get(incident=incident), False
    return escalation, True


def do_start_escalations(incident_ids: list[int], seconds: float = float("inf")) -> list[int]:
    """`do_start_escalation` for incidents opened in bulk. In a mass outage nearly all hang under the
    storm's major incident, which pages for the group: they are held in bulk, the others start one by
    one for at most `seconds`. Returns the ids not reached then."""
    deadline = time.monotonic() + seconds
    children = incident_services.do_hold_storm_children(incident_ids, actor=ACTOR)
    rest = [incident_id for incident_id in incident_ids if incident_id not in children]
    for index, incident_id in enumerate(rest):
        if index and time.monotonic() > deadline:  # at least one each time: the batch always moves on
            return rest[index:]
        try:
            do_start_escalation(incident_id)
        except SoftTimeLimitExceeded:
            raise
        except Exception:  # one incident's failure must not leave the rest of the batch unpaged
            log.exception("starting the escalation of incident %s failed", incident_id)
    return []


def _begin(escalation: Escalation, incident: Incident, team: Team | None, *, fallback: bool, now: datetime) -> None:
    if team is None:
        _page_admins(incident, f"No team owns service {incident.service} and ONCALL_FALLBACK_TEAM is not set")
        return
    if fallback:
        incident_services.record(incident, TimelineKind.ESCALATION, ACTOR,
                                 f"No team owns service {incident.service}; paging the fallback team {team.name} "
                                 "(ONCALL_FALLBACK_TEAM).")  # fmt: skip
    on_call = on_call_for_team(team, now)
    if on_call is not None and incident.assigned_to_id is None:
        incident_services.do_assign(incident, on_call[0].user, actor=ACTOR)
    _notify_channels(incident, team, Channel.Event.NEW)
    if escalation.steps:
        _run_step(escalation, now)
    else:
        _page_admins(incident, f"Team {team.name} has no schedule or escalation policy")


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
    if step["user_id"]:
        return get_user_model().objects.filter(pk=step["user_id"], is_active=True).first(), ""
    schedule = Schedule.objects.filter(pk=step["schedule_id"]).first()
    shift = on_call_at(schedule, now) if schedule else None
    if schedule is None or shift is None:
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
        if _held(escalation.incident, now):
            # Paused: the release task restarts it when the hold lifts.
            Escalation.objects.filter(pk=escalation.pk, next_at=escalation.next_at).update(next_at=None)
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
        # The claim and the step's notifications commit together: a worker dying in between rolls the
        # claim back and the next pass runs the step, instead of skipping it.
        with transaction.atomic():
            if not claim.update(step_index=index, round=round_):
                continue  # another scheduler took this step
            escalation.step_index, escalation.round = index, round_
            _run_step(escalation, now)
        moved.append(escalation.incident_id)
    return moved


def do_reap_escalations(now: datetime | None = None) -> list[int]:
    """Open incidents whose escalation never started although they were opened over
    ESCALATION_START_GRACE_SECONDS ago: their start task was lost (the broker was down when it was queued,
    or the worker died before committing). Each is started now through the same claim as the task, so two
    reapers, or the original task arriving late, page nobody twice. Returns the incidents started here."""
    now = now or timezone.now()
    lost = Incident.objects.filter(
        status=Status.OPEN, parent__isnull=True, paging_held=False, escalation__isnull=True,
        created_at__lte=now - timedelta(seconds=ESCALATION_START_GRACE_SECONDS),
    )  # fmt: skip
    started = []
    for incident_id, created_at in lost.order_by("id").values_list("id", "created_at")[:200]:
        waited = int((now - created_at).total_seconds())
        note = f"Escalation resumed after {waited} s with nobody paged: its start was lost (queue or worker down)."
        try:
            claimed = _claim_start(incident_id, now, note)
        except Exception:  # rolled back, so tried again next pass; one broken incident never starves the rest
            log.exception("starting the lost escalation of incident %s failed", incident_id)
            continue
        if claimed is not None and claimed[1]:
            started.append(incident_id)
    return started


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
        do_cancel_scheduled(incident)
    if new in (Status.RESOLVED, Status.CLOSED) and incident.snoozed_until is not None:
        Incident.objects.filter(pk=incident.pk).update(snoozed_until=None)  # a resolved incident is not snoozed
    escalation = Escalation.objects.filter(incident=incident).select_related("team").first()
    if incident.parent_id is not None or (incident.paging_held and escalation is None):
        return  # nobody was told it opened (a storm child, or held from the start): nobody is told it moved
    team = escalation.team if escalation else team_for_service(incident.service)
    events: dict[str, str] = {Status.ACKNOWLEDGED: Channel.Event.ACKNOWLEDGE, Status.RESOLVED: Channel.Event.RESOLVE}
    event = events.get(new)
    notified = _notify_channels(incident, team, event) if team is not None and event is not None else []
    if SlackMessage.objects.filter(incident=incident).exists():  # the message shows the incident as it is now
        skip = [channel.config.get("channel", "") for channel in notified if channel.kind == "slack_app"]
        slack.do_update_messages(incident, f"Incident {new}", skip=skip)


def do_page_on_call(incident: Incident, reason: str, round_: int | None = None) -> None:
    """Page the incident's assignee, else its team's on-call, outside the escalation steps (e.g. a
    remediation failed). `round_` tells this page from an earlier one of the same kind (de-duplication)."""
    if _held(incident, timezone.now()):
        return
    user = incident.assigned_to
    if user is None:
        team = team_for_service(incident.service)
        found = on_call_for_team(team) if team else None
        user = found[0].user if found else None
    if user is None:
        incident_services.record(incident, TimelineKind.ESCALATION, ACTOR, f"{reason}; nobody on call to page.")
        return
    incident_services.record(incident, TimelineKind.ESCALATION, ACTOR, f"{reason}; paging {user.username}.")
    _notify_user(incident, Channel.Event.ESCALATION, None, user, round_=round_)


def do_page_on_call_by_id(incident_id: int, reason: str) -> None:
    incident = Incident.objects.select_related("assigned_to").filter(pk=incident_id).first()
    if incident is not None:
        do_page_on_call(incident, reason)


# --- Holds: maintenance, silences, snooze, storms --------------------------------------------------


def _held(incident: Incident, now: datetime) -> bool:
    """True (and the timeline says why, once) when the incident must not page now."""
    reason = incident_services.suppression_for(incident, now)
    if reason is None:
        return False
    incident_services.do_hold_paging(incident, reason)
    return True


def do_release_held(now: datetime | None = None) -> list[int]:
    """Page the unresolved incidents whose hold lifted: the maintenance window or silence ended, the
    snooze ran out (periodic; each incident claimed, so a second pass pages nobody twice)."""
    now = now or timezone.now()
    released = []
    held = Incident.objects.filter(paging_held=True, status__in=(Status.OPEN, Status.ACKNOWLEDGED))
    # Storm children follow their parent and running snoozes are not due: neither can starve the others.
    held = held.filter(parent__isnull=True).exclude(snoozed_until__gt=now)
    for incident in held.order_by("id")[:500]:
        if incident_services.suppression_for(incident, now) is not None:
            continue
        # The claim commits with the pages: a worker dying in between leaves the incident held for the next
        # pass, never released with nobody paged; one that fails is rolled back alone and the rest go on.
        try:
            with transaction.atomic():
                if incident_services.claim_released(incident):
                    _resume_paging(incident, now)
                    released.append(incident.pk)
        except Exception:
            log.exception("paging incident %s after its hold failed", incident.pk)
    return released


def _resume_paging(incident: Incident, now: datetime) -> None:
    snoozed = incident.snoozed_until is not None and incident.snoozed_until <= now
    if snoozed:  # over: the incident is no longer snoozed (lists and filters stop saying so)
        Incident.objects.filter(pk=incident.pk, snoozed_until__lte=now).update(snoozed_until=None)
    why = "Snooze over" if snoozed else "Hold lifted (maintenance or silence ended)"
    if incident.status == Status.ACKNOWLEDGED and not snoozed:
        # Somebody took it, possibly while nobody was being told: tell them (or on-call) it is still
        # unresolved, without escalating. Each release is its own notification (a later window's too).
        releases = incident.timeline.filter(kind=TimelineKind.ESCALATION).count()
        do_page_on_call(incident, f"{why}; acknowledged but unresolved, notifying without escalating",
                        round_=min(releases, 32767))  # fmt: skip
        return
    escalation = Escalation.objects.filter(incident=incident).first()
    if escalation is None:
        incident_services.record(incident, TimelineKind.ESCALATION, ACTOR, f"{why}; still unresolved: paging.")
        if incident.status == Status.OPEN:
            do_start_escalation(incident.pk, now)
        else:
            do_page_on_call(incident, why)
        return
    # A new round from step 1: its notifications are new rows, so the de-duplication lets them through.
    claimed = Escalation.objects.filter(pk=escalation.pk, round=escalation.round).update(
        state=Escalation.State.ACTIVE, step_index=0, round=escalation.round + 1
    )
    if not claimed:
        return
    escalation.refresh_from_db()
    incident_services.record(incident, TimelineKind.ESCALATION, ACTOR, f"{why}; still unresolved: paging again.")
    if escalation.steps:
        _run_step(escalation, now)
    else:  # no team owns the service, or its team has no schedule: the admins were paged, and are again
        _page_admins(incident, "No escalation steps", escalation)


# --- Notifications --------------------------------------------------------------------------------


def _notify_channels(incident: Incident, team: Team, event: str) -> list[Channel]:
    """Queue the event to the team's channels that hear it; returns those channels."""
    notified = [channel for channel in team.channels.filter(enabled=True) if event in (channel.notify_on or [])]
    for channel in notified:
        _queue(incident, event, None, kind=channel.kind, config=channel.config, channel=channel)
    return notified


def _notify_user(
    incident: Incident, event: str, escalation: Escalation | None, user, now=None, round_=None, by_person=False
) -> None:
    """Page `user` by their personal rules: delay 0 now, later ones scheduled for the escalation tick.
    Without rules, every enabled contact method at once; without any, the log (never silently lost).
    `by_person`: a person asked for this page (see suppression_reason)."""
    now = now or timezone.now()
    rules = list(NotificationRule.objects.filter(user=user, contact__enabled=True).select_related("contact"))
    if not rules:
        rules = [NotificationRule(user=user, contact=c) for c in ContactMethod.objects.filter(user=user, enabled=True)]
    step = escalation.step_index if escalation else -1
    if round_ is None:
        round_ = escalation.round if escalation else 0
    if not rules:
        _queue(incident, event, None, kind="log", config={}, recipient=user.username, step=step, round_=round_,
               by_person=by_person)  # fmt: skip
    for rule in rules:
        if rule.delay_minutes == 0:
            _queue(incident, event, None, kind=rule.contact.kind, config=rule.contact.config,
                   contact=rule.contact, recipient=user.username, step=step, round_=round_,
                   by_person=by_person)  # fmt: skip
            continue
        ScheduledNotification.objects.get_or_create(
            incident=incident, contact=rule.contact, event=event, step=step, round=round_,
            delay_minutes=rule.delay_minutes,
            defaults={"user": user, "due_at": now + timedelta(minutes=rule.delay_minutes)},
        )  # fmt: skip


def do_send_due_rules(now: datetime | None = None) -> int:
    """Send the personal rules whose delay is over (the escalation tick); each claimed, so sent once.
    An incident no longer open cancels them instead."""
    now = now or timezone.now()
    sent = 0
    due = ScheduledNotification.objects.filter(state=ScheduledNotification.State.PENDING, due_at__lte=now)
    for page in due.select_related("incident", "contact", "user").order_by("due_at", "id")[:500]:
        if page.incident.status != Status.OPEN or not page.contact.enabled:
            ScheduledNotification.objects.filter(pk=page.pk, state=page.State.PENDING).update(
                state=page.State.CANCELLED
            )
            continue
        if not ScheduledNotification.objects.filter(pk=page.pk, state=page.State.PENDING).update(state=page.State.SENT):
            continue  # another tick took it
        _queue(page.incident, page.event, None, kind=page.contact.kind, config=page.contact.config,
               contact=page.contact, recipient=page.user.username, step=page.step, round_=page.round,
               delay_minutes=page.delay_minutes, by_person=page.event == Channel.Event.REASSIGN)  # fmt: skip
        sent += 1
    return sent


def do_cancel_scheduled(incident: Incident) -> int:
    """Acknowledged or resolved: the later personal rules of its pages are not sent."""
    return ScheduledNotification.objects.filter(incident=incident, state=ScheduledNotification.State.PENDING).update(
        state=ScheduledNotification.State.CANCELLED
    )


def do_page_reassigned(incident_id: int, user_id: int, actor: str, entry_id: int) -> bool:
    """The new assignee of an unresolved incident is paged (event `reassign`), once per reassignment."""
    incident = Incident.objects.filter(pk=incident_id).first()
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if incident is None or user is None or incident.status not in (Status.OPEN, Status.ACKNOWLEDGED):
        return False
    # The reassignment's number on this incident tells a second run of the task from a new reassignment.
    number = incident.timeline.filter(kind=TimelineKind.ASSIGNMENT, pk__lte=entry_id).count()
    incident_services.record(
        incident, TimelineKind.ESCALATION, ACTOR, f"Reassigned by {actor}; paging {user.username}."
    )
    _notify_user(incident, Channel.Event.REASSIGN, None, user, round_=min(number, 32767), by_person=True)
    return True


def suppression_reason(incident: Incident, *, by_person: bool = False) -> str | None:
    """Why notifications about this incident are held back now (maintenance, silence, snooze, storm child).
    A page a person asked for (`by_person`: a reassignment) is not held by a storm."""
    return incident_services.suppression_for(incident, storm=not by_person)


def _queue(
    incident,
    event,
    escalation,
    *,
    kind,
    config,
    channel=None,
    contact=None,
    recipient="",
    step=None,
    round_=None,
    delay_minutes=0,
    by_person=False,
) -> None:
    reason = suppression_reason(incident, by_person=by_person)
    if reason:
        incident_services.record(incident, TimelineKind.NOTIFICATION, ACTOR,
                                 f"Not notifying {recipient or kind}: {reason}.")  # fmt: skip
        return
    target = transport_for(kind, config).describe() or kind
    if recipient and kind == "log":
        target = f"log:{recipient}"
    if step is None:
        step = escalation.step_index if escalation else -1
    if round_ is None:
        round_ = escalation.round if escalation else 0
    try:
        with transaction.atomic():
            notification = Notification.objects.create(
                incident=incident, event=event, kind=kind, channel=channel, contact=contact, recipient=recipient,
                target=target[:500], step=step, round=round_, delay_minutes=delay_minutes,
                deadline_at=_stuck_after(0),
            )  # fmt: skip
    except IntegrityError:
        return  # already sent for this incident, event, step, round, target and rule: stay quiet
    _queue_delivery(notification.pk)


def _queue_delivery(notification_id: int) -> None:
    """Queue one delivery by task name after commit (the tasks module imports this one: no circle)."""
    signature = current_app.signature("oncall.deliver", args=(notification_id,))
    transaction.on_commit(signature.delay)


def _incident_of(notification: Notification) -> Incident:
    """Every notification is queued for an incident (_queue) and goes with it; the column is nullable only
    in the schema."""
    assert notification.incident is not None
    return notification.incident


def message_for(notification: Notification) -> dict:
    """What the notification's transport renders (see oncall.payload); its action links act as the paged
    user, else the team channel."""
    return payload.message_for(
        _incident_of(notification),
        notification.event,
        notification.recipient,
        link_recipient=_link_recipient(notification),
    )


def _link_recipient(notification: Notification):
    """Who a notification's action links act as: the paged user, else the team channel."""
    if notification.contact is not None:
        return notification.contact.user
    return notification.channel or notification.recipient


def do_deliver(notification_id: int, final_attempt: bool) -> str:
    """One delivery attempt: "sent", "retry" (worth another try), "failed", "skipped" (the transport is not
    configured on this server) or "skip" (not ours to send)."""
    claimed = Notification.objects.filter(pk=notification_id, status=Notification.Status.PENDING).update(
        status=Notification.Status.SENDING, attempts=F("attempts") + 1,
        deadline_at=timezone.now() + timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 30),
    )  # fmt: skip
    if not claimed:
        return "skip"
    notification = Notification.objects.select_related("incident", "channel", "contact").get(pk=notification_id)
    config = destination.config if (destination := notification.channel or notification.contact) else {}
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
    incident_services.record(_incident_of(notification), TimelineKind.NOTIFICATION, ACTOR,
                             f"Notified {notification.recipient or notification.target} via {notification.kind} "
                             f"({notification.event}).", {"notification": notification.pk})  # fmt: skip
    return "sent"


def _finish(notification: Notification, status: str, error: str, started: float) -> None:
    retry = status == Notification.Status.PENDING
    Notification.objects.filter(pk=notification.pk).update(
        status=status, error=error[:2000], duration_ms=round((time.perf_counter() - started) * 1000, 2),
        sent_at=timezone.now() if status == Notification.Status.SENT else None,
        deadline_at=_stuck_after(retry_countdown(notification.attempts)) if retry else None,
    )  # fmt: skip


def _record_skipped(notification: Notification, exc: NotConfigured, started: float) -> str:
    _finish(notification, Notification.Status.SKIPPED, exc.message, started)
    incident_services.record(_incident_of(notification), TimelineKind.NOTIFICATION, ACTOR,
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
    incident_services.record(_incident_of(notification), TimelineKind.NOTIFICATION, ACTOR,
                             f"Notification to {notification.recipient or notification.target} via {notification.kind} "
                             f"failed after {notification.attempts} attempt(s): {exc.message[:300]}",
                             {"notification": notification.pk})  # fmt: skip
    return "failed"


# --- Deliveries in flight: the reaper ---------------------------------------------------------------


def retry_countdown(attempts: int) -> int:
    """Back-off before the next attempt after `attempts` tries: 5 s, 10 s, 20 s, ... up to 5 min."""
    return min(settings.CELERY_LONGEST_COUNTDOWN_SECONDS, 5 * 2 ** max(0, attempts - 1))


def _stuck_after(countdown: float) -> datetime:
    return timezone.now() + timedelta(seconds=countdown + settings.NOTIFICATION_STUCK_SECONDS)


def do_reap_notifications(now: datetime | None = None) -> dict[str, list[int]]:
    """Notifications pending or sending past their deadline (their task was lost, or the worker sending
    them died): re-queued while attempts remain, else failed with the timeline saying why. Each is claimed
    on its deadline, so two reapers act once."""
    now = now or timezone.now()
    done: dict[str, list[int]] = {"requeued": [], "failed": []}
    stuck = Notification.objects.filter(
        status__in=[Notification.Status.PENDING, Notification.Status.SENDING], deadline_at__lte=now
    ).select_related("incident")
    for notification in stuck:
        claim = Notification.objects.filter(
            pk=notification.pk, status=notification.status, deadline_at=notification.deadline_at
        )
        if notification.attempts >= MAX_ATTEMPTS:
            error = f"no worker finished the delivery in time (after {notification.attempts} attempt(s))"
            if claim.update(status=Notification.Status.FAILED, error=error, deadline_at=None):
                _record_stuck(notification, error)
                done["failed"].append(notification.pk)
        elif claim.update(status=Notification.Status.PENDING, deadline_at=_stuck_after(0)):
            _queue_delivery(notification.pk)
            done["requeued"].append(notification.pk)
    return done


def _record_stuck(notification: Notification, error: str) -> None:
    who = notification.recipient or notification.target
    if notification.incident is not None:
        text = f"Notification to {who} via {notification.kind} failed: {error}."
        incident_services.record(notification.incident, TimelineKind.NOTIFICATION, ACTOR, text,
                                 {"notification": notification.pk})  # fmt: skip


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
