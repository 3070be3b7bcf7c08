"""Shapes of incidents, events, notes and timeline entries in the API (and in live updates)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import cast

from django.contrib.auth.models import User
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from incidents.choices import Level, Severity, normalize_severity, normalize_status
from incidents.models import Alert, Event, Incident, Note, TimelineEntry

MAX_BATCH = 1000
# Every time accepted on an ingestion path lies in [EARLIEST, now + AHEAD] (UTC): a year-10000 time
# stored once breaks every page and list that shows it, and a far-future one never ages out.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
AHEAD = timedelta(days=1)
OUT_OF_RANGE = "Must lie between 2000-01-01T00:00:00Z and one day from now (UTC, after its offset)."
NOT_A_TIME = "Not an ISO 8601 / RFC 3339 time."


def check_ingest_time(when: datetime, now: datetime | None = None) -> datetime:
    """`when` in UTC, or ValidationError when it lies outside the accepted range."""
    try:
        when = when.astimezone(UTC) if timezone.is_aware(when) else when.replace(tzinfo=UTC)
    except OverflowError:  # 9999-12-31T23:59:59-05:00 is in year 10000 once in UTC
        raise serializers.ValidationError(OUT_OF_RANGE) from None
    if not EARLIEST <= when <= (now or timezone.now()) + AHEAD:
        raise serializers.ValidationError(OUT_OF_RANGE)
    return when


def parse_time(text) -> datetime | None:
    """A sender's ISO 8601 time as given (any offset, or naive), or None when it is not one."""
    try:
        return parse_datetime(text) if isinstance(text, str) else None
    except ValueError:  # well-formed but impossible, e.g. month 13
        return None


def parse_ingest_time(text, now: datetime | None = None) -> datetime:
    """A sender's time string in UTC, or ValidationError saying why it is refused."""
    when = parse_time(text)
    if when is None:
        raise serializers.ValidationError(NOT_A_TIME)
    return check_ingest_time(when, now)


class IngestTimeField(serializers.DateTimeField):
    """An ISO 8601 time a sender gives, within [2000-01-01, now + 1 day] UTC."""

    def to_internal_value(self, value):
        try:
            when = super().to_internal_value(value)
        except serializers.ValidationError as exc:
            if exc.get_codes() == ["overflow"]:
                raise serializers.ValidationError(OUT_OF_RANGE) from None
            raise
        return check_ingest_time(when)


class IncidentSerializer(serializers.ModelSerializer):
    priority = serializers.CharField(read_only=True)
    assigned_to: serializers.SlugRelatedField[User]
    assigned_to = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    time_to_acknowledge_seconds = serializers.FloatField(source="ack_seconds", read_only=True, allow_null=True)
    time_to_resolve_seconds = serializers.FloatField(source="resolve_seconds", read_only=True, allow_null=True)
    duration_seconds = serializers.SerializerMethodField()
    recommended_actions = serializers.ListField(child=serializers.CharField(), read_only=True)
    parent_id = serializers.IntegerField(read_only=True, allow_null=True)
    snoozed_until = serializers.SerializerMethodField(help_text="while a snooze holds, else null")

    class Meta:
        model = Incident
        fields = [
            "id", "uuid", "title", "description", "service", "component", "host", "source", "source_key",
            "severity", "priority", "status", "category", "summary", "recommended_actions",
            "suggested_severity", "root_cause", "resolution_notes", "event_count", "alert_count",
            "assigned_to", "detected_at", "acknowledged_at", "resolved_at", "closed_at", "updated_at",
            "time_to_acknowledge_seconds", "time_to_resolve_seconds", "duration_seconds",
            "in_maintenance", "silenced", "snoozed_until", "flapping", "parent_id",
        ]  # fmt: skip
        read_only_fields = fields

    def get_duration_seconds(self, incident: Incident) -> float:
        return round(incident.duration_seconds(self.context.get("now") or timezone.now()), 3)

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_snoozed_until(self, incident: Incident) -> str | None:
        until = incident.snoozed_until_now(self.context.get("now"))
        return serializers.DateTimeField().to_representation(until) if until else None


class EventSerializer(serializers.ModelSerializer):
    """One event in (validation) and out. `level` is case-insensitive on input."""

    service = serializers.CharField(min_length=1, max_length=255, trim_whitespace=False)
    level = serializers.CharField()
    message = serializers.CharField(min_length=1, max_length=10_000, trim_whitespace=False)
    timestamp = IngestTimeField(required=False)
    host = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    attributes = serializers.DictField(required=False, default=dict)

    class Meta:
        model = Event
        fields = ["id", "service", "level", "message", "timestamp", "received_at", "host", "attributes", "incident"]
        read_only_fields = ["id", "received_at", "incident"]

    def validate_level(self, value: str) -> str:
        level = str(value).strip().upper()
        if level not in Level.values:
            raise serializers.ValidationError(f"'{value}' is not a valid level; use one of {', '.join(Level.values)}.")
        return level

    def validate_service(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("This field may not be blank.")
        return value


class IncidentRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Event
        fields = ["id", "service", "level", "message", "timestamp", "host", "attributes"]


class AlertSerializer(serializers.ModelSerializer):
    class Meta:
        model = Alert
        fields = [
            "id", "source", "fingerprint", "status", "service", "severity", "summary", "labels",
            "annotations", "starts_at", "ends_at", "generator_url", "created_at", "updated_at",
        ]  # fmt: skip


class NoteSerializer(serializers.ModelSerializer):
    author: serializers.SlugRelatedField[User]
    author = serializers.SlugRelatedField(slug_field="username", read_only=True)
    text = serializers.CharField(min_length=1, max_length=10_000)

    class Meta:
        model = Note
        fields = ["id", "author", "text", "created_at"]
        read_only_fields = ["id", "author", "created_at"]


class TimelineEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = TimelineEntry
        fields = ["at", "kind", "actor", "text", "data"]


class IncidentChildSerializer(serializers.ModelSerializer):
    """An alert storm's child incident, as listed in its major incident's detail."""

    class Meta:
        model = Incident
        fields = ["id", "title", "service", "component", "source", "severity", "status", "detected_at"]
        read_only_fields = fields


class IncidentDetailSerializer(IncidentSerializer):
    alerts = AlertSerializer(many=True, read_only=True)
    events = serializers.SerializerMethodField()
    notes = NoteSerializer(many=True, read_only=True)
    timeline = TimelineEntrySerializer(many=True, read_only=True)
    children = IncidentChildSerializer(many=True, read_only=True)

    class Meta(IncidentSerializer.Meta):
        fields = [*IncidentSerializer.Meta.fields, "alerts", "events", "notes", "timeline", "children"]
        read_only_fields = fields

    def get_events(self, incident: Incident) -> list[dict]:
        events = incident.events.order_by("-timestamp", "-id")[:100]
        return cast(list[dict], IncidentRefSerializer(events, many=True).data)  # many=True: a list of dicts


class SeverityField(serializers.CharField):
    """Accepts critical/high/medium/low, P1..P4 and error/warning/info."""

    def to_internal_value(self, data):
        severity = normalize_severity(super().to_internal_value(data))
        if severity is None:
            raise serializers.ValidationError(
                f"'{data}' is not a valid severity; use {', '.join(Severity.values)} or P1-P4."
            )
        return severity


class StatusField(serializers.CharField):
    def to_internal_value(self, data):
        status = normalize_status(super().to_internal_value(data))
        if status is None:
            raise serializers.ValidationError(
                f"'{data}' is not a valid status; use open, acknowledged, resolved or closed."
            )
        return status


class IncidentCreateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=500)
    service = serializers.CharField(max_length=255)
    severity = SeverityField()
    description = serializers.CharField(required=False, allow_blank=True, default="")
    component = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    host = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")


class IncidentUpdateSerializer(serializers.Serializer):
    status = StatusField(required=False)
    severity = SeverityField(required=False)
    assigned_to = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    title = serializers.CharField(max_length=500, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    root_cause = serializers.CharField(required=False, allow_blank=True)
    resolution_notes = serializers.CharField(required=False, allow_blank=True)
    note = serializers.CharField(required=False, max_length=10_000)

    def validate(self, attrs):
        unknown = set(self.initial_data) - set(self.fields) if isinstance(self.initial_data, dict) else set()
        if unknown:
            raise serializers.ValidationError({name: ["This field cannot be changed."] for name in sorted(unknown)})
        if not attrs:
            raise serializers.ValidationError("Nothing to change.")
        return attrs


class StatusSerializer(serializers.Serializer):
    status = StatusField()


class SnoozeSerializer(serializers.Serializer):
    minutes = serializers.IntegerField(min_value=1, max_value=1440)
