"""Teams, who is on call (rotation layers + overrides), escalation policies, channels and deliveries."""

from __future__ import annotations

import secrets
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from oncall.transports import KIND_CHOICES


def validate_time_zone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"'{value}' is not an IANA time zone (e.g. Europe/Berlin).") from None


def new_calendar_token() -> str:
    """A secret for a calendar feed URL: calendar apps fetch it without a session, so the URL is the key."""
    return secrets.token_urlsafe(32)


class Team(models.Model):
    """People who own services. An incident of a service goes to the team that owns it."""

    name = models.SlugField(max_length=100, unique=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="teams")
    is_default = models.BooleanField(default=False, help_text="Receives incidents of services no team owns.")

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True), name="oncall_team_one_default")
        ]

    def __str__(self) -> str:
        return self.name


class ServiceOwnership(models.Model):
    """`service` belongs to `team` (a service has one owner)."""

    service = models.CharField(max_length=255, unique=True)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="services")

    class Meta:
        ordering = ["service"]

    def __str__(self) -> str:
        return f"{self.service} → {self.team}"


class Schedule(models.Model):
    """An on-call schedule of a team: rotation layers (the highest `order` that has someone wins),
    and overrides on top of all layers."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="schedules")
    name = models.CharField(max_length=100)
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    calendar_token = models.CharField(max_length=64, unique=True, default=new_calendar_token, editable=False)

    class Meta:
        ordering = ["team__name", "name"]
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="oncall_schedule_unique_name")]

    def __str__(self) -> str:
        return f"{self.team} / {self.name}"


class UserProfile(models.Model):
    """A person's own settings: the time zone pages show times in ("" = not chosen yet, shown in UTC) and
    the secret of their "my shifts" calendar feed."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    time_zone = models.CharField(max_length=64, blank=True, default="", validators=[validate_time_zone])
    calendar_token = models.CharField(max_length=64, unique=True, default=new_calendar_token, editable=False)

    class Meta:
        ordering = ["user__username"]

    def __str__(self) -> str:
        return f"profile of {self.user}"


class Layer(models.Model):
    """Users take turns: each shift lasts `rotation_days` and hands off at `handoff_time` local time
    (wall clock in the schedule's zone, so a handoff stays at 09:00 across DST changes)."""

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="layers")
    name = models.CharField(max_length=100, default="Primary")
    order = models.PositiveSmallIntegerField(default=0)
    start_date = models.DateField(help_text="the first shift starts this day at the handoff time")
    handoff_time = models.TimeField(default="09:00")
    rotation_days = models.PositiveSmallIntegerField(default=7)

    class Meta:
        ordering = ["schedule", "-order", "id"]

    def __str__(self) -> str:
        return f"{self.schedule} / {self.name}"

    @property
    def users(self) -> list:
        return [m.user for m in self.members.all()]


class LayerMember(models.Model):
    layer = models.ForeignKey(Layer, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["layer", "position"], name="oncall_layermember_position")]

    def __str__(self) -> str:
        return f"{self.position}: {self.user}"


class Override(models.Model):
    """`user` covers the schedule from `start` to `end`, whatever the layers say."""

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="overrides")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    start = models.DateTimeField()
    end = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["start"]
        constraints = [
            models.CheckConstraint(condition=Q(end__gt=models.F("start")), name="oncall_override_end_after_start")
        ]
        indexes = [models.Index(fields=["schedule", "start", "end"], name="override_window_idx")]

    def __str__(self) -> str:
        return f"{self.user} {self.start:%Y-%m-%d %H:%M}-{self.end:%Y-%m-%d %H:%M}"


class Channel(models.Model):
    """A place notifications go to: a webhook, a Slack-compatible incoming webhook, an email address, the
    log. Team channels hear the events named in `notify_on`; escalation steps may target one directly."""

    class Event(models.TextChoices):
        NEW = "new", "New incident"
        ESCALATION = "escalation", "Escalation"
        ACKNOWLEDGE = "acknowledge", "Acknowledged"
        RESOLVE = "resolve", "Resolved"
        REASSIGN = "reassign", "Reassigned"

    name = models.CharField(max_length=100, unique=True)
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.CASCADE, related_name="channels")
    kind = models.CharField(max_length=20, choices=KIND_CHOICES)
    config = models.JSONField(default=dict, blank=True)  # {"url", "secret"} | {"address"} | {}
    notify_on = models.JSONField(default=list, blank=True)
    enabled = models.BooleanField(default=True)
    disabled_reason = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ContactMethod(models.Model):
    """How one person is paged (their email, a personal webhook, ...)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="contact_methods")
    kind = models.CharField(max_length=20, choices=KIND_CHOICES)
    config = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["user", "id"]

    def __str__(self) -> str:
        return f"{self.user} via {self.kind}"


class EscalationPolicy(models.Model):
    """Ordered steps for a team's new incidents; after the last step, start again `repeat_count` times."""

    team = models.OneToOneField(Team, on_delete=models.CASCADE, related_name="escalation_policy")
    repeat_count = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name_plural = "escalation policies"

    def __str__(self) -> str:
        return f"{self.team} policy"


class EscalationStep(models.Model):
    """Notify the on-call of `schedule`, or `user`, or `channel`; then wait `wait_minutes` (default
    ESCALATION_TIMEOUT_MINUTES) for an acknowledgement before the next step."""

    policy = models.ForeignKey(EscalationPolicy, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField()
    schedule = models.ForeignKey(Schedule, null=True, blank=True, on_delete=models.CASCADE)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE)
    channel = models.ForeignKey(Channel, null=True, blank=True, on_delete=models.CASCADE)
    wait_minutes = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "position"], name="oncall_escalationstep_position"),
            models.CheckConstraint(
                condition=(
                    Q(schedule__isnull=False, user__isnull=True, channel__isnull=True)
                    | Q(schedule__isnull=True, user__isnull=False, channel__isnull=True)
                    | Q(schedule__isnull=True, user__isnull=True, channel__isnull=False)
                ),
                name="oncall_escalationstep_one_target",
            ),
        ]

    def __str__(self) -> str:
        return f"step {self.position + 1}"


class Escalation(models.Model):
    """An incident's escalation in flight. The policy's steps are copied when it starts, so editing a
    policy never changes escalations already running."""

    class State(models.TextChoices):
        ACTIVE = "active", "Active"
        STOPPED = "stopped", "Stopped (acknowledged or resolved)"
        EXHAUSTED = "exhausted", "All steps done"

    incident = models.OneToOneField("incidents.Incident", on_delete=models.CASCADE, related_name="escalation")
    team = models.ForeignKey(Team, null=True, on_delete=models.SET_NULL)
    steps = models.JSONField(default=list)
    repeat_count = models.PositiveSmallIntegerField(default=0)
    step_index = models.PositiveSmallIntegerField(default=0)
    round = models.PositiveSmallIntegerField(default=0)
    state = models.CharField(max_length=10, choices=State.choices, default=State.ACTIVE)
    next_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            # Used by escalate_due every 15 s: active escalations whose wait is over.
            models.Index(fields=["next_at"], condition=Q(state="active"), name="escalation_due_idx"),
        ]

    def __str__(self) -> str:
        return f"escalation of {self.incident_id} ({self.state})"


class Notification(models.Model):
    """One notification to one target, with every delivery attempt's outcome."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped (transport not configured)"

    incident = models.ForeignKey(
        "incidents.Incident", null=True, on_delete=models.CASCADE, related_name="notifications"
    )
    # "test": a test page a person sent through one of their contact methods (no incident).
    event = models.CharField(max_length=20, choices=[*Channel.Event.choices, ("test", "Test page")])
    step = models.SmallIntegerField(default=-1, help_text="escalation step (-1: not from a step)")
    round = models.PositiveSmallIntegerField(default=0)
    kind = models.CharField(max_length=20, choices=KIND_CHOICES)
    channel = models.ForeignKey(Channel, null=True, blank=True, on_delete=models.SET_NULL)
    contact = models.ForeignKey(ContactMethod, null=True, blank=True, on_delete=models.SET_NULL)
    recipient = models.CharField(max_length=255, blank=True, default="")
    target = models.CharField(max_length=500, help_text="where it went, secrets redacted")
    delay_minutes = models.PositiveSmallIntegerField(default=0, help_text="the personal rule's delay that sent it")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    duration_ms = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField(
        null=True, blank=True, help_text="pending/sending past this: the reaper re-queues or fails it"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # Quiet de-duplication: at most one notification per incident, event, step, round, target and
            # personal rule (a person may be pushed at once and pushed again 5 minutes later).
            models.UniqueConstraint(
                fields=["incident", "event", "step", "round", "target", "delay_minutes"],
                name="oncall_notification_once_per_rule",
            ),
        ]
        indexes = [
            models.Index(fields=["kind", "status"], name="notification_kind_status_idx"),
            # Used by reap_notifications every 15 s: deliveries in flight past their deadline.
            models.Index(
                fields=["deadline_at"], condition=Q(status__in=["pending", "sending"]), name="notification_stuck_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.target} ({self.status})"


class ActionLink(models.Model):
    """A link in a notification that acts on one incident for one recipient without a login: acknowledge,
    resolve or snooze. Only a hash of its token is stored; it works once (`used_at`) and until `expires_at`."""

    class Action(models.TextChoices):
        ACKNOWLEDGE = "acknowledge", "Acknowledge"
        RESOLVE = "resolve", "Resolve"
        SNOOZE = "snooze", "Snooze"

    incident = models.ForeignKey("incidents.Incident", on_delete=models.CASCADE, related_name="action_links")
    action = models.CharField(max_length=12, choices=Action.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE)
    recipient = models.CharField(max_length=255, help_text="who acts: the user's name, or channel:<name>")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # Used by the clean-up of expired links.
            models.Index(fields=["expires_at"], name="actionlink_expires_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.action} #{self.incident_id} for {self.recipient}"


class SlackMessage(models.Model):
    """The Slack message posted about an incident in one Slack channel, updated in place (`chat.update`)
    when the incident changes."""

    incident = models.ForeignKey("incidents.Incident", on_delete=models.CASCADE, related_name="slack_messages")
    slack_channel = models.CharField(max_length=64, help_text="the channel as configured (a channel or user ID)")
    channel_id = models.CharField(max_length=64, help_text="the conversation Slack posted in (a DM's D… for a user)")
    ts = models.CharField(max_length=32)
    posted_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(null=True, blank=True, help_text="last successful update in place")
    error = models.TextField(blank=True, default="", help_text="why the last update failed ('' when it worked)")

    class Meta:
        ordering = ["incident", "slack_channel"]
        constraints = [
            models.UniqueConstraint(fields=["incident", "slack_channel"], name="oncall_slackmessage_one_per_channel")
        ]

    def __str__(self) -> str:
        return f"#{self.incident_id} in {self.slack_channel} ({self.ts})"


# Calendar-fed schedules and imported rows live in their own module.
from oncall.calendar_models import CalendarShift, CalendarSource, ExternalRef  # noqa: E402, F401

MAX_RULE_DELAY_MINUTES = 24 * 60


class NotificationRule(models.Model):
    """One line of a person's own paging rules, like "at once: push; after 5 minutes unacknowledged: SMS":
    `delay_minutes` after they are paged, if nobody has acknowledged, notify them through `contact`.
    A person without rules gets every enabled contact method at once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_rules")
    contact = models.ForeignKey(ContactMethod, on_delete=models.CASCADE, related_name="rules")
    delay_minutes = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["user", "delay_minutes", "id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "contact", "delay_minutes"], name="oncall_notificationrule_once"),
            models.CheckConstraint(
                condition=Q(delay_minutes__lte=MAX_RULE_DELAY_MINUTES), name="oncall_notificationrule_delay_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user}: after {self.delay_minutes} min via {self.contact.kind}"


class ScheduledNotification(models.Model):
    """A later personal rule of one page, waiting for its time. The escalation tick sends it when due;
    acknowledging or resolving the incident cancels it."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        CANCELLED = "cancelled", "Cancelled"

    incident = models.ForeignKey("incidents.Incident", on_delete=models.CASCADE, related_name="scheduled_pages")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey(ContactMethod, on_delete=models.CASCADE, related_name="+")
    event = models.CharField(max_length=20, choices=Channel.Event.choices)
    step = models.SmallIntegerField(default=-1)
    round = models.PositiveSmallIntegerField(default=0)
    delay_minutes = models.PositiveSmallIntegerField()
    due_at = models.DateTimeField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)

    class Meta:
        ordering = ["due_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "contact", "event", "step", "round", "delay_minutes"],
                name="oncall_schedulednotification_once",
            ),
        ]
        indexes = [
            # Used by the escalation tick every 15 s: pending rules whose delay is over.
            models.Index(fields=["due_at"], condition=Q(state="pending"), name="scheduled_notification_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.user} via {self.contact_id} at {self.due_at:%H:%M} ({self.state})"
