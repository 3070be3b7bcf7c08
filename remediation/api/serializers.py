from __future__ import annotations

from django.contrib.auth.models import User
from rest_framework import serializers

from monitoring.models import Monitor
from remediation import services
from remediation.models import POSTMORTEM_MAX_CHARS, ActionPolicy, RemediationRun, policy_errors

ADMIN_PERMISSION = "remediation.manage_actionpolicy"


class RemediationRunSerializer(serializers.ModelSerializer):
    """A run and its audit: who proposed, who (or which policy) decided, what ran, how it ended. A command's
    output is shown to admins only (it is the target's own text)."""

    decided_by = serializers.CharField(source="decider", read_only=True, allow_null=True)
    proposed_by_user: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    monitor: serializers.SlugRelatedField[Monitor] = serializers.SlugRelatedField(slug_field="name", read_only=True)
    output = serializers.SerializerMethodField()

    class Meta:
        model = RemediationRun
        fields = ["id", "incident", "monitor", "action", "rationale", "proposed_by", "proposed_by_user", "model",
                  "status", "decided_by", "decided_at", "argv", "target", "exit_status", "output", "duration_ms",
                  "result", "verification", "verify_attempts", "deadline_at", "error", "created_at",
                  "updated_at"]  # fmt: skip
        read_only_fields = fields

    def get_output(self, run: RemediationRun) -> str | None:
        request = self.context.get("request")
        user = getattr(request, "user", None)
        return run.output if user is not None and user.has_perm(ADMIN_PERMISSION) else None


class RejectSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=1000, default="")


class ActionPolicySerializer(serializers.ModelSerializer):
    monitor = serializers.SlugRelatedField(slug_field="name", queryset=Monitor.objects.all())
    set_by = serializers.CharField(source="set_by_name", read_only=True)

    class Meta:
        model = ActionPolicy
        fields = ["id", "monitor", "action", "auto_approve", "allow_flushdb", "set_by", "created_at", "updated_at"]
        read_only_fields = ["id", "set_by", "created_at", "updated_at"]
        # One policy per monitor and action: checked in validate() with a message naming the field.
        validators: list = []

    def validate(self, attrs):
        monitor = attrs.get("monitor", getattr(self.instance, "monitor", None))
        action = attrs.get("action", getattr(self.instance, "action", ""))
        flushdb = attrs.get("allow_flushdb", getattr(self.instance, "allow_flushdb", False))
        errors = policy_errors(monitor, action, flushdb)
        if errors:
            raise serializers.ValidationError({field: [message] for field, message in errors.items()})
        clash = ActionPolicy.objects.filter(monitor=monitor, action=action)
        if self.instance is not None:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            raise serializers.ValidationError({"action": [f"{monitor.name} already has a policy for {action}."]})
        return attrs

    def create(self, validated_data):
        return services.do_save_policy(None, validated_data, actor=self.context["request"].user)

    def update(self, instance, validated_data):
        return services.do_save_policy(instance, validated_data, actor=self.context["request"].user)


class ActionCatalogRowSerializer(serializers.Serializer):
    """One row of `GET /api/v1/remediation/actions` (documentation of the response shape)."""

    monitor = serializers.CharField()
    kind = serializers.CharField()
    action = serializers.CharField()
    risk = serializers.CharField()
    offered = serializers.BooleanField()
    command = serializers.ListField(child=serializers.CharField(), allow_null=True)
    runs = serializers.CharField(allow_null=True)
    policy = serializers.DictField(allow_null=True)

    def get_fields(self):
        # `label` is also an attribute of every DRF field, so it cannot be declared on the class.
        fields = super().get_fields()
        ordered = {}
        for name, field in fields.items():
            ordered[name] = field
            if name == "action":
                ordered["label"] = serializers.CharField()
        return ordered


class MarkdownField(serializers.CharField):
    """Text only: a number or a list is refused rather than turned into a string."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class PostmortemInputSerializer(serializers.Serializer):
    markdown = MarkdownField(max_length=POSTMORTEM_MAX_CHARS, trim_whitespace=False)
    version = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=2**31 - 1,
        help_text="the version you edited (0: none saved yet); a stale one is a 409",
    )


class PostmortemSerializer(serializers.Serializer):
    """A saved postmortem, or the unsaved draft (`saved` false, `version` 0) of a resolved incident."""

    incident = serializers.IntegerField(source="incident_id")
    markdown = serializers.CharField()
    saved = serializers.BooleanField()
    version = serializers.IntegerField()
    created_by = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField(allow_null=True)
    updated_by = serializers.CharField(allow_null=True)
    updated_at = serializers.DateTimeField(allow_null=True)
