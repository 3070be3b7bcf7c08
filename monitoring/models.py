"""Monitors of real services, their check history, and host agents' heartbeats."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from monitoring.checkers import KIND_CHOICES, checker_class
from opsassist.lib.redact import redact_url

__all__ = ["CheckResult", "Host", "Monitor", "MonitorRollup", "redact_url"]  # redact_url: older imports

HEALTHY_FLOOR = 70  # health below this is unhealthy (seed 001)


class Monitor(models.Model):
    """A PostgreSQL, Redis, HTTP or TCP target checked every `interval_seconds`.

    `target` may hold credentials: it is never shown (`safe_target`) nor logged. Per-kind thresholds and
    options live in `config`, declared and typed by each checker's Config (read them through `conf`).
    """

    class Status(models.TextChoices):
        HEALTHY = "healthy", "Healthy"
        DEGRADED = "degraded", "Degraded"
        DOWN = "down", "Down"
        UNKNOWN = "unknown", "Not checked yet"

    name = models.SlugField(max_length=100, unique=True)
    kind = models.CharField(max_length=20, choices=KIND_CHOICES)
    target = models.CharField(max_length=1000)
    service = models.CharField(max_length=255, blank=True, default="", help_text="default: the monitor's name")
    team = models.CharField(max_length=100, blank=True, default="")
    interval_seconds = models.PositiveIntegerField(default=5)
    timeout_seconds = models.FloatField(default=3.0)
    config = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    # Failure drills may run against this target; only an admin (superuser) sets it.
    drills_allowed = models.BooleanField(default=False)
    # A host agent's Celery worker consuming queue "host.<pinned_host>" runs this monitor's checks.
    pinned_host = models.CharField(max_length=255, blank=True, default="")

    health = models.PositiveSmallIntegerField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.UNKNOWN)
    metrics = models.JSONField(default=dict, blank=True)
    last_error = models.TextField(blank=True, default="")
    last_checked_at = models.DateTimeField(null=True, blank=True)
    next_check_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(interval_seconds__gte=1), name="monitoring_monitor_interval_positive"),
        ]
        indexes = [
            # Used by run_due_checks every second: enabled monitors whose next check is due.
            models.Index(fields=["next_check_at"], condition=Q(enabled=True), name="monitor_due_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def effective_service(self) -> str:
        return self.service or self.name

    @property
    def conf(self):
        """The thresholds, typed by the kind's checker Config, with defaults applied."""
        return checker_class(self.kind).Config.read(self.config)

    @property
    def safe_target(self) -> str:
        return redact_url(self.target)

    @property
    def queue(self) -> str:
        return f"host.{self.pinned_host}" if self.pinned_host else "checks"


class CheckResult(models.Model):
    """One check of a monitor. Raw results are kept for CHECK_RESULT_RETENTION_HOURS; hourly rollups
    (MonitorRollup) keep availability for longer."""

    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="results")
    at = models.DateTimeField(default=timezone.now)
    health = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=10, choices=Monitor.Status.choices)
    metrics = models.JSONField(default=dict, blank=True)
    latency_ms = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["monitor", "-at"], name="checkresult_monitor_idx")]

    def __str__(self) -> str:
        return f"{self.monitor_id} {self.at:%H:%M:%S} {self.health}"


class MonitorRollup(models.Model):
    """Checks of one monitor in one hour: how many, how many healthy. Availability reads these."""

    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="rollups")
    hour = models.DateTimeField()
    checks = models.PositiveIntegerField(default=0)
    healthy = models.PositiveIntegerField(default=0)
    health_sum = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-hour"]
        constraints = [models.UniqueConstraint(fields=["monitor", "hour"], name="monitoring_rollup_one_per_hour")]

    def __str__(self) -> str:
        return f"{self.monitor_id} {self.hour:%Y-%m-%d %H}:00 {self.healthy}/{self.checks}"


class Host(models.Model):
    """A server running the host agent; `last_seen_at` is its latest heartbeat."""

    name = models.CharField(max_length=255, unique=True)
    last_seen_at = models.DateTimeField(default=timezone.now)
    metrics = models.JSONField(default=dict, blank=True)
    components = models.JSONField(default=dict, blank=True)  # {name: {"status", "detail"}}
    silent = models.BooleanField(default=False)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["last_seen_at"], name="host_last_seen_idx")]

    def __str__(self) -> str:
        return self.name


MAX_CHECKIN_SECONDS = 365 * 24 * 3600


class CheckIn(models.Model):
    """A cron job or batch run that pings its secret URL (healthchecks-style): a success every
    `period_seconds`, give or take `grace_seconds`. Late, or a `/fail` ping: an incident (source
    `checkin`, component = the name); the next success resolves it.

    The token is the ping URL's only credential: random, shown to whoever may view check-ins."""

    class Status(models.TextChoices):
        NEW = "new", "Waiting for the first ping"
        UP = "up", "Up"
        DOWN = "down", "Late or failed"

    name = models.SlugField(max_length=100, unique=True)
    service = models.CharField(max_length=255, blank=True, default="", help_text="default: the check-in's name")
    period_seconds = models.PositiveIntegerField()
    grace_seconds = models.PositiveIntegerField()
    token = models.CharField(max_length=64, unique=True, editable=False)
    status = models.CharField(max_length=5, choices=Status.choices, default=Status.NEW)
    # When a success must have arrived by (last success, or creation, + period + grace).
    due_at = models.DateTimeField()
    last_ping_at = models.DateTimeField(null=True, blank=True)
    last_start_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(period_seconds__gte=60, period_seconds__lte=MAX_CHECKIN_SECONDS),
                name="monitoring_checkin_period_range",
            ),
            models.CheckConstraint(
                condition=Q(grace_seconds__lte=MAX_CHECKIN_SECONDS), name="monitoring_checkin_grace_range"
            ),
        ]
        indexes = [
            # Used by check_late_checkins every 15 s: check-ins not already down whose success is overdue.
            models.Index(fields=["due_at"], condition=~Q(status="down"), name="checkin_due_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def effective_service(self) -> str:
        return self.service or self.name

    @property
    def ping_path(self) -> str:
        return f"/ping/{self.token}"
