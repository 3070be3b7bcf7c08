"""Incidents, the events and alerts behind them, notes and the audit timeline."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q, Value
from django.db.models.functions import Coalesce
from django.db.models.lookups import Exact
from django.utils import timezone

from incidents.choices import (
    ERROR_LEVELS,
    PRIORITY_BY_SEVERITY,
    UNRESOLVED,
    AlertStatus,
    Category,
    Level,
    Severity,
    Source,
    Status,
    TimelineKind,
)


class Incident(models.Model):
    """One failing thing, from detection to closure.

    At most one unresolved (open/acknowledged) incident exists per (source, service, component, host,
    source_key): the database enforces it (`incidents_incident_one_unresolved`), and every code path that
    opens incidents goes through `incidents.services.get_or_open_incident`.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    title = models.CharField(max_length=500)
    description = models.TextField(blank=True, default="")
    service = models.CharField(max_length=255)
    component = models.CharField(max_length=255, blank=True, default="")
    host = models.CharField(max_length=255, blank=True, default="")
    source = models.CharField(max_length=20, choices=Source.choices)
    # What identifies the failing thing within its source: "" for an event burst or a monitor, the
    # dedup key / alert group for alerts, the incident's own uuid for manual incidents.
    source_key = models.CharField(max_length=255, blank=True, default="")
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.HIGH)
    status = models.CharField(max_length=15, choices=Status.choices, default=Status.OPEN)

    category = models.CharField(max_length=30, choices=Category.choices, blank=True, default="")
    summary = models.TextField(blank=True, default="")
    recommended_actions = models.JSONField(default=list, blank=True)
    suggested_severity = models.CharField(max_length=10, choices=Severity.choices, blank=True, default="")
    root_cause = models.TextField(blank=True, default="")
    resolution_notes = models.TextField(blank=True, default="")

    event_count = models.PositiveIntegerField(default=0)
    alert_count = models.PositiveIntegerField(default=0)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="incidents"
    )

    # Earliest event of the burst that opened it: later error events at or after this attach to it.
    first_seen_at = models.DateTimeField(null=True, blank=True)
    detected_at = models.DateTimeField(default=timezone.now)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Stored at the transition so analytics and the MTTA/MTTR histograms are plain column aggregates.
    ack_seconds = models.FloatField(null=True, blank=True)
    resolve_seconds = models.FloatField(null=True, blank=True)

    # Noise control (incidents/noise.py). Opened during a maintenance window or matching a silence:
    # recorded, not paged while the window or silence lasts.
    in_maintenance = models.BooleanField(default=False)
    silenced = models.BooleanField(default=False)
    snoozed_until = models.DateTimeField(null=True, blank=True)
    # Paging was held back (maintenance, silence, snooze); the release task pages once the hold lifts.
    paging_held = models.BooleanField(default=False)
    # Failing → recovered FLAP_THRESHOLD times within FLAP_WINDOW_SECONDS: stays open until healthy for
    # FLAP_STABLE_SECONDS. `recovered_at` is when the thing last recovered (None while it fails).
    flapping = models.BooleanField(default=False)
    recovered_at = models.DateTimeField(null=True, blank=True)
    # A child of an alert storm's major incident: not paged on its own; follows the parent's ack/resolve.
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")

    class Meta:
        ordering = ["-detected_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "service", "component", "host", "source_key"],
                condition=Q(status__in=UNRESOLVED),
                name="incidents_incident_one_unresolved",
            ),
            models.CheckConstraint(condition=Q(status__in=Status.values), name="incidents_incident_status_valid"),
            models.CheckConstraint(condition=Q(severity__in=Severity.values), name="incidents_incident_severity_valid"),
        ]
        indexes = [
            models.Index(fields=["-detected_at", "-id"], name="incident_detected_idx"),
            models.Index(fields=["status", "-detected_at"], name="incident_status_idx"),
            models.Index(fields=["service", "-detected_at"], name="incident_service_idx"),
            models.Index(fields=["severity", "-detected_at"], name="incident_severity_idx"),
            models.Index(fields=["source", "-detected_at"], name="incident_source_idx"),
            # Used by correlation (attach phase) and the open_incidents gauge: unresolved incidents only.
            models.Index(
                fields=["source", "service"], condition=Q(status__in=UNRESOLVED), name="incident_unresolved_idx"
            ),
            # Used by analytics (incidents/rollup.py): services with an ongoing incident are computed raw.
            models.Index(fields=["service"], condition=Q(resolved_at__isnull=True), name="incident_ongoing_idx"),
            # Used by the release task every 15 s: incidents whose paging waits for a hold to lift.
            models.Index(
                fields=["id"], condition=Q(paging_held=True, status__in=UNRESOLVED), name="incident_paging_held_idx"
            ),
            # Used by the flapping task every 15 s: unresolved flapping incidents waiting out their stable period.
            models.Index(
                fields=["recovered_at"], condition=Q(flapping=True, status__in=UNRESOLVED), name="incident_flapping_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.title}"

    @property
    def priority(self) -> str:
        return PRIORITY_BY_SEVERITY[self.severity]

    @property
    def is_unresolved(self) -> bool:
        return self.status in UNRESOLVED

    def duration_seconds(self, now=None) -> float:
        end = self.resolved_at or now or timezone.now()
        return max(0.0, (end - self.detected_at).total_seconds())

    def snoozed_until_now(self, now=None):
        """`snoozed_until` while the snooze holds (unresolved and not yet over), else None: a past snooze
        is no snooze, whether or not the release job has cleared the column yet."""
        if self.snoozed_until is None or not self.is_unresolved or self.snoozed_until <= (now or timezone.now()):
            return None
        return self.snoozed_until


def unlinked() -> Exact:
    """ "No incident" as `COALESCE(incident_id, 0) = 0`: the condition of correlation's partial indexes."""
    return Exact(Coalesce("incident", Value(0)), 0)


class Event(models.Model):
    """A log/error event sent to `POST /api/v1/events`. Error-level events feed correlation."""

    service = models.CharField(max_length=255)
    level = models.CharField(max_length=10, choices=Level.choices)
    message = models.TextField()
    timestamp = models.DateTimeField(default=timezone.now)
    received_at = models.DateTimeField(default=timezone.now)
    host = models.CharField(max_length=255, blank=True, default="")
    attributes = models.JSONField(default=dict, blank=True)
    incident = models.ForeignKey(Incident, null=True, blank=True, on_delete=models.SET_NULL, related_name="events")

    class Meta:
        ordering = ["-timestamp", "-id"]
        indexes = [
            models.Index(fields=["-timestamp", "-id"], name="event_timestamp_idx"),
            models.Index(fields=["service", "-timestamp"], name="event_service_idx"),
            models.Index(fields=["incident", "-timestamp"], name="event_incident_idx"),
            # Unlinked error events by time: the correlation lag metric (the oldest unlinked error inside
            # the window is its first entry past the window's start).
            models.Index(
                fields=["timestamp", "service"],
                condition=Q(incident__isnull=True, level__in=ERROR_LEVELS),
                name="event_uncorrelated_idx",
            ),
            # Used by correlation (incidents.correlation), through the same `unlinked()` condition: the
            # unlinked errors since the scan start grouped by service, and from each unresolved
            # events-incident its service's recent unlinked errors. The condition is written so that no
            # index on incident_id can serve it: stale statistics saying "no event is unlinked" made the
            # planner pick that index and walk every unlinked INFO event instead.
            models.Index(
                fields=["timestamp", "service"],
                condition=Q(unlinked(), level__in=ERROR_LEVELS),
                name="event_unlinked_time_idx",
            ),
            models.Index(
                fields=["service", "timestamp"],
                condition=Q(unlinked(), level__in=ERROR_LEVELS),
                name="event_unlinked_service_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.level} {self.service}: {self.message[:60]}"


class Alert(models.Model):
    """An alert from another tool (Alertmanager, PagerDuty-style senders, the generic endpoint),
    kept by its fingerprint / dedup key."""

    source = models.CharField(max_length=20)  # alertmanager | pagerduty | generic
    fingerprint = models.CharField(max_length=255)
    status = models.CharField(max_length=10, choices=AlertStatus.choices, default=AlertStatus.FIRING)
    service = models.CharField(max_length=255)
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.HIGH)
    summary = models.CharField(max_length=1024, blank=True, default="")
    labels = models.JSONField(default=dict, blank=True)
    annotations = models.JSONField(default=dict, blank=True)
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    generator_url = models.URLField(max_length=2000, blank=True, default="")
    incident = models.ForeignKey(Incident, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "fingerprint"], name="incidents_alert_unique_fingerprint"),
        ]
        indexes = [models.Index(fields=["incident", "status"], name="alert_incident_idx")]

    def __str__(self) -> str:
        return f"{self.source}:{self.fingerprint} ({self.status})"


class AlertInbox(models.Model):
    """One request's alerts, accepted and not yet applied (the durable queue of Alertmanager intake).

    The webhook stores the whole group as one row and answers; a drain applies rows in id order and
    deletes them in the same transaction, so a drain that dies mid-batch leaves its rows for the next one.
    `alerts` is a list of `[alert, incident key]`, each alert normalized (`incidents.alerts.AlertIn`)."""

    id = models.BigAutoField(primary_key=True)
    received_at = models.DateTimeField(default=timezone.now)
    actor = models.CharField(max_length=150)
    size = models.PositiveIntegerField()
    alerts = models.JSONField()
    # Set when the row failed to apply on its own (a bug, not an outage): kept aside, with the error.
    failed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "alert inbox"

    def __str__(self) -> str:
        return f"{self.size} alert(s) from {self.actor}"


class Note(models.Model):
    """A responder's note on an incident."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.text[:60]


class TimelineEntry(models.Model):
    """One step of an incident's audit trail: status changes, assignments, notes, notifications,
    analysis and remediation steps, each with who (or what) did it."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="timeline")
    at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=20, choices=TimelineKind.choices)
    actor = models.CharField(max_length=150)
    text = models.TextField()
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        verbose_name_plural = "timeline entries"
        indexes = [models.Index(fields=["incident", "at"], name="timeline_incident_idx")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.kind}: {self.text[:60]}"


class Integration(models.Model):
    """A sender of alerts (Alertmanager, a PagerDuty-compatible tool, a script) with its ingestion key.

    The key is shown once when created or rotated; only its SHA-256 is stored. A key can only ingest
    (events, alerts, webhooks), never read or change anything else.
    """

    class Kind(models.TextChoices):
        ALERTMANAGER = "alertmanager", "Prometheus Alertmanager"
        PAGERDUTY = "pagerduty", "PagerDuty Events API v2"
        GENERIC = "generic", "Generic (alerts and events)"

    class Grouping(models.TextChoices):
        GROUP = "group", "One incident per Alertmanager group"
        ALERT = "alert", "One incident per alert"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    service = models.CharField(max_length=255, blank=True, default="", help_text="service when a payload names none")
    team = models.CharField(max_length=100, blank=True, default="")
    grouping = models.CharField(max_length=10, choices=Grouping.choices, default=Grouping.GROUP)
    key_prefix = models.CharField(max_length=12, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @staticmethod
    def hash_key(key: str) -> str:
        import hashlib

        return hashlib.sha256(key.encode()).hexdigest()

    def set_new_key(self) -> str:
        """Generate a key, keep its hash; returns the key (to show once)."""
        import secrets

        key = "oa_" + secrets.token_urlsafe(30)
        self.key_prefix = key[:10]
        self.key_hash = self.hash_key(key)
        return key


class StatusCountManager(models.Manager):
    def add(self, status: str, severity: str, n: int = 1) -> None:
        """Count `n` incidents entering `status`; call inside the transaction that makes the move."""
        from django.db import IntegrityError, transaction

        if self.filter(status=status, severity=severity).update(count=models.F("count") + n):
            return
        try:
            with transaction.atomic():
                self.create(status=status, severity=severity, count=n)
        except IntegrityError:  # a concurrent first increment created the row: add to it
            self.filter(status=status, severity=severity).update(count=models.F("count") + n)

    def add_many(self, moves: list[tuple[str, str]]) -> None:
        """Count a batch of (status, severity) entries: one statement per distinct pair."""
        from collections import Counter

        for (status, severity), n in sorted(Counter(moves).items()):
            self.add(status, severity, n)


class StatusCount(models.Model):
    """How many incidents ever entered a status, by the severity they had then: `incidents_total`.

    Incremented in the same transaction as each transition, never decremented (deleting an incident
    leaves it), so the Prometheus counter survives restarts and is the same seen from any process.
    """

    status = models.CharField(max_length=20, choices=Status.choices)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    count = models.PositiveBigIntegerField(default=0)

    objects = StatusCountManager()

    class Meta:
        ordering = ["status", "severity"]
        constraints = [
            models.UniqueConstraint(fields=["status", "severity"], name="incidents_statuscount_one_per_pair"),
        ]

    def __str__(self) -> str:
        return f"{self.status}/{self.severity}: {self.count}"


class MaintenanceWindow(models.Model):
    """A planned period during which the listed services' new incidents are recorded but nobody is paged
    and nothing auto-remediates. What still fails when it ends is paged then."""

    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    services = models.JSONField(default=list)
    comment = models.CharField(max_length=1000, blank=True, default="")
    created_by = models.CharField(max_length=150, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-starts_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")), name="incidents_maintenancewindow_ends_after_start"
            ),
        ]
        # Used at every opening and by the release task: windows that have not ended.
        indexes = [models.Index(fields=["ends_at", "starts_at"], name="maintenance_ends_idx")]

    def __str__(self) -> str:
        return f"maintenance {self.starts_at:%Y-%m-%d %H:%M} to {self.ends_at:%H:%M} {', '.join(self.services)}"

    def covers(self, service: str, at) -> bool:
        return self.starts_at <= at < self.ends_at and service in self.services


class Silence(models.Model):
    """Alertmanager-style matchers (service, source, severity, labels; exact or `=~` regex) until
    `ends_at`: matching new incidents are recorded with `silenced` and not paged."""

    matchers = models.JSONField(default=dict)
    starts_at = models.DateTimeField(default=timezone.now)
    ends_at = models.DateTimeField()
    comment = models.CharField(max_length=1000, blank=True, default="")
    created_by = models.CharField(max_length=150, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        # Used at every opening and by the release task: silences that have not ended.
        indexes = [models.Index(fields=["ends_at"], name="silence_ends_idx")]

    def __str__(self) -> str:
        return f"silence {self.matchers} until {self.ends_at:%Y-%m-%d %H:%M}"


class ServiceDay(models.Model):
    """Daily rollup for analytics, one row per (UTC day, service): incidents detected that day, and the merged
    downtime of the service's *resolved* incidents within the day (their intervals' union clipped to the day,
    so days add up exactly). Rebuilt per (service, days) from ServiceDayChange rows (incidents/rollup.py)."""

    day = models.DateField()
    service = models.CharField(max_length=255)
    incidents = models.PositiveIntegerField(default=0)
    downtime_seconds = models.FloatField(default=0.0)
    # The longest resolved incident detected that day: bounds how far back analytics looks for incidents
    # still running into a window's first hours.
    longest_seconds = models.FloatField(default=0.0)

    class Meta:
        ordering = ["day", "service"]
        constraints = [models.UniqueConstraint(fields=["service", "day"], name="incidents_serviceday_unique")]
        # Used by analytics on every computation: the longest resolved incident.
        indexes = [models.Index(fields=["longest_seconds"], name="serviceday_longest_idx")]

    def __str__(self) -> str:
        return f"{self.day} {self.service}: {self.incidents} incidents, {self.downtime_seconds:.0f} s down"


class ServiceDayChange(models.Model):
    """Days [since, until] of one service whose ServiceDay rows are stale. Written by database triggers
    (migration 0006) in the same transaction as every insert, delete, or change of an incident's service,
    detected_at or resolved_at, whatever wrote it (services, bulk SQL, admin); consumed by the rollup."""

    service = models.CharField(max_length=255)
    since = models.DateTimeField()
    until = models.DateTimeField()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.service} {self.since:%Y-%m-%d}..{self.until:%Y-%m-%d}"
