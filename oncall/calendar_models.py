"""Schedules fed by calendars (an iCal URL, an uploaded file, or shifts imported from Grafana OnCall),
and where imported rows came from.

Imported from oncall.models so that Django sees them as the oncall app's models.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q


class CalendarSource(models.Model):
    """An iCalendar feeding a schedule. `url` sources are fetched again periodically; the others hold
    an uploaded or generated file in `ics`. The events are expanded into CalendarShift rows."""

    class Role(models.TextChoices):
        PRIMARY = "primary", "Shifts"
        OVERRIDES = "overrides", "Overrides (win over every shift)"

    schedule = models.ForeignKey("oncall.Schedule", on_delete=models.CASCADE, related_name="calendars")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.PRIMARY)
    url = models.URLField(max_length=2000, blank=True, default="", help_text="fetched again periodically")
    ics = models.TextField(blank=True, default="", help_text="the calendar last fetched, uploaded or generated")
    fetched_at = models.DateTimeField(null=True, blank=True)
    expanded_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    unmatched = models.JSONField(default=list, blank=True, help_text="event people matching no user")

    class Meta:
        ordering = ["schedule", "role", "id"]

    def __str__(self) -> str:
        return f"{self.schedule} / {self.role} calendar"


class CalendarShift(models.Model):
    """One expanded calendar event: `user` is on call from `start` to `end`. The highest `priority`
    wins where events overlap (override calendars rank above every shift)."""

    source = models.ForeignKey(CalendarSource, on_delete=models.CASCADE, related_name="shifts")
    schedule = models.ForeignKey("oncall.Schedule", on_delete=models.CASCADE, related_name="calendar_shifts")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    start = models.DateTimeField()
    end = models.DateTimeField()
    priority = models.IntegerField(default=0)
    summary = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        ordering = ["start", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(end__gt=models.F("start")), name="oncall_calendarshift_end_after_start")
        ]
        # Used by oncall.schedule.on_call_at on every call: the events covering an instant.
        indexes = [models.Index(fields=["schedule", "start", "end"], name="calendarshift_window_idx")]

    def __str__(self) -> str:
        return f"{self.user} {self.start:%Y-%m-%d %H:%M}-{self.end:%Y-%m-%d %H:%M}"


class ExternalRef(models.Model):
    """The row an object of another system (e.g. a Grafana OnCall schedule) was imported into, so that
    importing again updates it instead of adding a copy."""

    source = models.CharField(max_length=30)  # e.g. "grafana_oncall"
    kind = models.CharField(max_length=40)  # the other system's object type: "schedule", "route", ...
    external_id = models.CharField(max_length=100)
    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE)
    object_id = models.PositiveBigIntegerField()
    target = GenericForeignKey("content_type", "object_id")
    imported_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["source", "kind", "external_id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "kind", "external_id"], name="oncall_externalref_unique")
        ]

    def __str__(self) -> str:
        return f"{self.source} {self.kind} {self.external_id}"
