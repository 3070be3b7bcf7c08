from __future__ import annotations

from django.db import models
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied

from monitoring.checkers import KINDS, checker_class
from monitoring.models import CheckResult, Host, Monitor
from monitoring.queries import availability, open_incident_ids
from opsassist.lib import outbound

ADMIN_ONLY = {"drills_allowed": "Only an admin can set drills_allowed."}
# On a monitor with drills_allowed, the admin's approval is for this target: moving it needs an admin.
ADMIN_ONLY_WITH_DRILLS = {
    name: f"Only an admin can change {name} of a monitor with drills_allowed (an admin approved drills on this one)."
    for name in ("kind", "target")
}
THRESHOLDS_HELP = "The kind's settings; unknown keys are refused. " + "; ".join(
    f"{kind}: {checker_class(kind).Config.describe()}" for kind in KINDS
)


class MonitorSerializer(serializers.ModelSerializer):
    """A monitor as clients see it: the target's password is always redacted."""

    target = serializers.CharField(source="safe_target", read_only=True)
    service = serializers.CharField(source="effective_service", read_only=True)
    thresholds = serializers.SerializerMethodField()
    drill = serializers.SerializerMethodField(help_text="the failure a drill simulates here, if drills may run")
    open_incident_id = serializers.SerializerMethodField()
    availability = serializers.SerializerMethodField()

    class Meta:
        model = Monitor
        fields = [
            "name", "kind", "target", "service", "team", "interval_seconds", "timeout_seconds", "thresholds",
            "enabled", "drills_allowed", "drill", "pinned_host", "health", "status", "last_checked_at", "metrics",
            "last_error", "open_incident_id", "availability",
        ]  # fmt: skip
        read_only_fields = fields

    def get_thresholds(self, monitor: Monitor) -> dict:
        return checker_class(monitor.kind).Config.masked(monitor.config)

    def get_drill(self, monitor: Monitor) -> str | None:
        return checker_class(monitor.kind).drill_failure if monitor.drills_allowed else None

    def get_open_incident_id(self, monitor: Monitor) -> int | None:
        if "open_incidents" in self.context:
            return self.context["open_incidents"].get(monitor.pk)
        return open_incident_ids([monitor]).get(monitor.pk)

    def get_availability(self, monitor: Monitor) -> dict:
        if "availability" in self.context:
            return self.context["availability"].get(monitor.pk, {})
        return availability([monitor.pk]).get(monitor.pk, {})


class MonitorWriteSerializer(serializers.ModelSerializer):
    """Create/update. `thresholds` holds the kind's settings, declared by its checker's Config (unknown
    keys are refused). `drills_allowed` is an admin's decision: anyone else changing it gets a 403."""

    kind = serializers.ChoiceField(choices=list(KINDS))
    target = serializers.CharField(max_length=1000)
    interval_seconds = serializers.IntegerField(min_value=1, max_value=86_400, required=False)
    timeout_seconds = serializers.FloatField(min_value=0.1, max_value=60, required=False)
    thresholds = serializers.JSONField(source="config", required=False, help_text=THRESHOLDS_HELP)

    class Meta:
        model = Monitor
        fields = ["name", "kind", "target", "service", "team", "interval_seconds", "timeout_seconds",
                  "thresholds", "enabled", "drills_allowed", "pinned_host"]  # fmt: skip

    def validate(self, attrs):
        self.check_admin_only(attrs)
        kind = attrs.get("kind") or getattr(self.instance, "kind", None)
        target = attrs.get("target") or getattr(self.instance, "target", "")
        problem = checker_class(kind).target_problem(target, kind)
        if problem:
            raise serializers.ValidationError({"target": [problem]})
        try:
            outbound.check_url(target)
        except outbound.OutboundRefused as exc:
            raise serializers.ValidationError({"target": [str(exc)]}) from None
        if "config" in attrs or "kind" in attrs:
            attrs["config"] = self.validated_thresholds(kind, attrs)
        return attrs

    def check_admin_only(self, attrs) -> None:
        request = self.context.get("request")
        is_admin = bool(request and request.user.is_superuser)
        if is_admin:
            return
        refused = {
            name: [message]
            for name, message in ADMIN_ONLY.items()
            if name in attrs and attrs[name] != self.current_value(name)
        }
        if self.instance is not None and self.instance.drills_allowed:
            # An admin approved drills against this target: pointing the monitor elsewhere needs one again.
            refused.update({
                name: [message]
                for name, message in ADMIN_ONLY_WITH_DRILLS.items()
                if name in attrs and attrs[name] != self.current_value(name)
            })  # fmt: skip
        if refused:
            raise PermissionDenied({"detail": "Only an admin can set: " + ", ".join(refused) + ".", "errors": refused})

    def current_value(self, name: str):
        """The stored value, or the default a new monitor gets."""
        if self.instance is not None:
            return getattr(self.instance, name)
        field = Monitor._meta.get_field(name)
        assert isinstance(field, models.Field)  # ADMIN_ONLY names the monitor's own columns, never a relation
        return field.get_default()

    def validated_thresholds(self, kind: str, attrs) -> dict:
        current = self.instance.config if self.instance is not None else {}
        given = attrs.get("config", current)
        try:
            return checker_class(kind).Config.validate_input(given, current=current)
        except serializers.ValidationError as exc:
            raise serializers.ValidationError({"thresholds": exc.detail}) from None


class CheckResultSerializer(serializers.ModelSerializer):
    class Meta:
        model = CheckResult
        fields = ["at", "health", "status", "metrics", "latency_ms", "error"]


def drill_failures() -> list[str]:
    """The failures a drill can simulate, over every kind that has one."""
    return sorted({failure for kind in KINDS if (failure := checker_class(kind).drill_failure) is not None})


class DrillSerializer(serializers.Serializer):
    failure = serializers.ChoiceField(choices=drill_failures())


class ComponentSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=255)
    status = serializers.ChoiceField(choices=["active", "stuck", "stopped"])
    detail = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class HeartbeatSerializer(serializers.Serializer):
    host = serializers.CharField(max_length=255)
    components = ComponentSerializer(many=True, allow_empty=True)
    metrics = serializers.DictField(required=False)

    def validate_components(self, value):
        names = [c["name"] for c in value]
        if len(names) != len(set(names)):
            raise serializers.ValidationError("Component names must be unique.")
        return value


class HostSerializer(serializers.ModelSerializer):
    class Meta:
        model = Host
        fields = ["name", "last_seen_at", "silent", "metrics", "components"]
