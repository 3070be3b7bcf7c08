from __future__ import annotations

from urllib.parse import urlsplit

from rest_framework import serializers

from monitoring.checkers import KINDS
from monitoring.models import CheckResult, Host, Monitor
from opsassist.lib import outbound

SCHEMES = {"postgres": ("postgres", "postgresql"), "redis": ("redis", "rediss"), "http": ("http", "https"),
           "tcp": ("tcp",)}  # fmt: skip


class MonitorSerializer(serializers.ModelSerializer):
    """A monitor as clients see it: the target's password is always redacted."""

    target = serializers.CharField(source="safe_target", read_only=True)
    service = serializers.CharField(source="effective_service", read_only=True)
    thresholds = serializers.JSONField(source="config", read_only=True)
    open_incident_id = serializers.SerializerMethodField()
    availability = serializers.SerializerMethodField()

    class Meta:
        model = Monitor
        fields = [
            "name", "kind", "target", "service", "team", "interval_seconds", "timeout_seconds", "thresholds",
            "enabled", "pinned_host", "health", "status", "last_checked_at", "metrics", "last_error",
            "open_incident_id", "availability",
        ]  # fmt: skip
        read_only_fields = fields

    def get_open_incident_id(self, monitor: Monitor) -> int | None:
        if "open_incidents" in self.context:
            return self.context["open_incidents"].get(monitor.pk)
        from monitoring.services import open_incident_ids

        return open_incident_ids([monitor]).get(monitor.pk)

    def get_availability(self, monitor: Monitor) -> dict:
        if "availability" in self.context:
            return self.context["availability"].get(monitor.pk, {})
        from monitoring.services import availability

        return availability([monitor.pk]).get(monitor.pk, {})


class MonitorWriteSerializer(serializers.ModelSerializer):
    """Create/update. `thresholds` (alias `config`) holds per-kind settings, e.g. `memory_limit_bytes`."""

    kind = serializers.ChoiceField(choices=list(KINDS))
    target = serializers.CharField(max_length=1000)
    interval_seconds = serializers.IntegerField(min_value=1, max_value=86_400, required=False)
    timeout_seconds = serializers.FloatField(min_value=0.1, max_value=60, required=False)
    thresholds = serializers.DictField(source="config", required=False)

    class Meta:
        model = Monitor
        fields = ["name", "kind", "target", "service", "team", "interval_seconds", "timeout_seconds",
                  "thresholds", "enabled", "pinned_host"]  # fmt: skip

    def validate(self, attrs):
        kind = attrs.get("kind") or getattr(self.instance, "kind", None)
        target = attrs.get("target") or getattr(self.instance, "target", "")
        try:
            parts = urlsplit(target)
            port = parts.port
        except ValueError:
            raise serializers.ValidationError({"target": ["Not a valid URL."]}) from None
        if parts.scheme not in SCHEMES.get(kind, ()):
            expected = " or ".join(f"{s}://" for s in SCHEMES.get(kind, ()))
            raise serializers.ValidationError({"target": [f"A {kind} monitor's target starts with {expected}."]})
        if not parts.hostname or (kind == "tcp" and not port):
            raise serializers.ValidationError(
                {"target": ["The target needs a host" + (" and port." if kind == "tcp" else ".")]}
            )
        try:
            outbound.check_url(target)
        except outbound.OutboundRefused as exc:
            raise serializers.ValidationError({"target": [str(exc)]}) from None
        return attrs


class CheckResultSerializer(serializers.ModelSerializer):
    class Meta:
        model = CheckResult
        fields = ["at", "health", "status", "metrics", "latency_ms", "error"]


class DrillSerializer(serializers.Serializer):
    failure = serializers.ChoiceField(choices=["idle_connections", "memory_pressure"])


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
