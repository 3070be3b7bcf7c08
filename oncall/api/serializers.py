from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction
from rest_framework import serializers
from rest_framework.validators import UniqueValidator

from oncall.models import (
    MAX_RULE_DELAY_MINUTES,
    Channel,
    ContactMethod,
    EscalationPolicy,
    EscalationStep,
    Layer,
    LayerMember,
    Notification,
    NotificationRule,
    Override,
    Schedule,
    ServiceOwnership,
    Team,
    validate_time_zone,
)
from oncall.transports import TRANSPORTS, transport_class
from opsassist.lib.kindconfig import FreeConfig
from opsassist.lib.outbound import OutboundRefused, check_config_urls


def check_outbound_urls(config) -> None:
    """Every URL in a channel's config must pass the outbound policy (400 naming `config.<key>`)."""
    try:
        check_config_urls(config)
    except OutboundRefused as exc:
        raise serializers.ValidationError({exc.field or "config": [exc.message]}) from None


def username_field(**kwargs):
    return serializers.SlugRelatedField(
        slug_field="username", queryset=get_user_model().objects.filter(is_active=True), **kwargs
    )


class TeamSerializer(serializers.ModelSerializer):
    members = username_field(many=True, required=False)
    services = serializers.ListField(child=serializers.CharField(max_length=255), required=False, write_only=True)

    class Meta:
        model = Team
        fields = ["id", "name", "members", "services", "is_default"]

    def to_representation(self, team):
        data = super().to_representation(team)
        data["services"] = sorted(o.service for o in team.services.all())
        return data

    def validate_services(self, services):
        taken = ServiceOwnership.objects.filter(service__in=services)
        if self.instance is not None:
            taken = taken.exclude(team=self.instance)
        if taken.exists():
            raise serializers.ValidationError(f"Already owned by another team: {', '.join(t.service for t in taken)}.")
        return services

    @transaction.atomic
    def create(self, validated):
        services = validated.pop("services", [])
        team = super().create(validated)
        ServiceOwnership.objects.bulk_create(ServiceOwnership(team=team, service=s) for s in set(services))
        return team

    @transaction.atomic
    def update(self, team, validated):
        services = validated.pop("services", None)
        team = super().update(team, validated)
        if services is not None:
            team.services.all().delete()
            ServiceOwnership.objects.bulk_create(ServiceOwnership(team=team, service=s) for s in set(services))
        return team


class LayerSerializer(serializers.ModelSerializer):
    users = username_field(many=True)

    class Meta:
        model = Layer
        fields = ["id", "name", "order", "start_date", "handoff_time", "rotation_days", "users"]

    def to_representation(self, layer):
        data = super().to_representation(layer)
        data["users"] = [m.user.username for m in layer.members.all()]
        return data

    def validate_rotation_days(self, value):
        if value < 1:
            raise serializers.ValidationError("At least 1 day.")
        return value


class ScheduleSerializer(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="name", queryset=Team.objects.all())
    time_zone = serializers.CharField(validators=[validate_time_zone], default="UTC")
    layers = LayerSerializer(many=True, required=False)

    class Meta:
        model = Schedule
        fields = ["id", "team", "name", "time_zone", "layers"]

    @transaction.atomic
    def create(self, validated):
        layers = validated.pop("layers", [])
        schedule = Schedule.objects.create(**validated)
        self._save_layers(schedule, layers)
        return schedule

    @transaction.atomic
    def update(self, schedule, validated):
        layers = validated.pop("layers", None)
        schedule = super().update(schedule, validated)
        if layers is not None:
            schedule.layers.all().delete()
            self._save_layers(schedule, layers)
        return schedule

    def _save_layers(self, schedule, layers):
        for data in layers:
            users = data.pop("users")
            layer = Layer.objects.create(schedule=schedule, **data)
            LayerMember.objects.bulk_create(LayerMember(layer=layer, user=u, position=i) for i, u in enumerate(users))


class OverrideSerializer(serializers.ModelSerializer):
    user = username_field()

    class Meta:
        model = Override
        fields = ["id", "schedule", "user", "start", "end"]

    def validate(self, attrs):
        # A PATCH may send only one end of the window: compare with the stored other end.
        start = attrs.get("start", getattr(self.instance, "start", None))
        end = attrs.get("end", getattr(self.instance, "end", None))
        if start and end and end <= start:
            raise serializers.ValidationError({"end": ["Must be after start."]})
        return attrs


class ShiftSerializer(serializers.Serializer):
    user = serializers.CharField(source="user.username")
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    # DRF's metaclass moves declared fields off the class, so this never shadows Field.source; the stubs
    # cannot tell.
    source = serializers.CharField()  # type: ignore[assignment]


class StepSerializer(serializers.ModelSerializer):
    user = username_field(required=False, allow_null=True)

    class Meta:
        model = EscalationStep
        fields = ["schedule", "user", "channel", "wait_minutes"]

    def validate(self, attrs):
        if sum(bool(attrs.get(k)) for k in ("schedule", "user", "channel")) != 1:
            raise serializers.ValidationError("Give exactly one of schedule, user, channel.")
        return attrs


class EscalationPolicySerializer(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(
        slug_field="name",
        queryset=Team.objects.all(),
        validators=[UniqueValidator(EscalationPolicy.objects.all(), message="This team already has a policy.")],
    )
    steps = StepSerializer(many=True)

    class Meta:
        model = EscalationPolicy
        fields = ["id", "team", "repeat_count", "steps"]

    @transaction.atomic
    def create(self, validated):
        steps = validated.pop("steps")
        policy = EscalationPolicy.objects.create(**validated)
        EscalationStep.objects.bulk_create(EscalationStep(policy=policy, position=i, **s) for i, s in enumerate(steps))
        return policy

    @transaction.atomic
    def update(self, policy, validated):
        steps = validated.pop("steps", None)
        policy = super().update(policy, validated)
        if steps is not None:
            policy.steps.all().delete()
            EscalationStep.objects.bulk_create(
                EscalationStep(policy=policy, position=i, **s) for i, s in enumerate(steps)
            )
        return policy


def config_class(kind: str | None):
    """The kind's declared settings (its transport's Config)."""
    return transport_class(kind).Config if kind in TRANSPORTS else FreeConfig


class ConfigTargetSerializer(serializers.ModelSerializer):
    """A row with a transport `kind` and its `config` (channels, contact methods). The config is checked
    against the kind's declared settings: 400 naming `config.<key>`, unknown keys refused; secrets are
    shown masked, and a masked value sent back means "unchanged"."""

    kind = serializers.ChoiceField(choices=list(TRANSPORTS))
    config = serializers.JSONField(
        required=False,
        help_text="The kind's settings; unknown keys are refused, secrets are shown masked. "
        + "; ".join(f"{kind}: {config_class(kind).describe()}" for kind in TRANSPORTS),
    )

    def to_representation(self, row):
        data = super().to_representation(row)
        data["config"] = config_class(row.kind).masked(row.config)
        return data

    def validate(self, attrs):
        kind = attrs.get("kind", getattr(self.instance, "kind", None))
        current = self.instance.config if self.instance is not None else {}
        if "config" in attrs or "kind" in attrs or self.instance is None:
            given = attrs.get("config", current if self.instance is not None else {})
            try:
                attrs["config"] = config_class(kind).validate_input(given, current=current)
            except serializers.ValidationError as exc:
                raise serializers.ValidationError({"config": exc.detail}) from None
        if "config" in attrs:
            check_outbound_urls(attrs["config"])
        return attrs


class ChannelSerializer(ConfigTargetSerializer):
    team = serializers.SlugRelatedField(slug_field="name", queryset=Team.objects.all(), required=False, allow_null=True)
    notify_on = serializers.ListField(child=serializers.ChoiceField(choices=Channel.Event.values), required=False)
    problem = serializers.SerializerMethodField(help_text='why this server cannot deliver it now ("" if it can)')

    class Meta:
        model = Channel
        fields = ["id", "name", "team", "kind", "config", "notify_on", "enabled", "disabled_reason", "problem"]
        read_only_fields = ["disabled_reason"]

    def get_problem(self, channel) -> str:
        return transport_class(channel.kind).problem() if channel.kind in TRANSPORTS else ""


class ContactMethodSerializer(ConfigTargetSerializer):
    user = username_field()

    class Meta:
        model = ContactMethod
        fields = ["id", "user", "kind", "config", "enabled"]


class OwnContactMethodSerializer(ConfigTargetSerializer):
    """A person's own contact method: `user` defaults to the caller; only admins name someone else."""

    user = username_field(required=False)

    class Meta:
        model = ContactMethod
        fields = ["id", "user", "kind", "config", "enabled"]

    def validate_user(self, user):
        return check_own(self.context["request"], user, "contact methods")

    def create(self, validated):
        validated.setdefault("user", self.context["request"].user)
        return super().create(validated)


class NotificationRuleSerializer(serializers.ModelSerializer):
    """`delay_minutes` after a page, if still unacknowledged, notify through `contact` (one of the user's
    own contact methods)."""

    user = username_field(required=False)
    contact = serializers.PrimaryKeyRelatedField(queryset=ContactMethod.objects.select_related("user"))
    delay_minutes = serializers.IntegerField(min_value=0, max_value=MAX_RULE_DELAY_MINUTES, default=0)

    class Meta:
        model = NotificationRule
        fields = ["id", "user", "contact", "delay_minutes"]
        validators: list = []  # the pair check below names the field; the constraint is the guarantee

    def validate_user(self, user):
        return check_own(self.context["request"], user, "notification rules")

    def validate(self, attrs):
        request = self.context["request"]
        user = attrs.get("user") or getattr(self.instance, "user", None) or request.user
        contact = attrs.get("contact", getattr(self.instance, "contact", None))
        if contact is not None and contact.user_id != user.pk:
            raise serializers.ValidationError({"contact": [f"Not a contact method of {user.username}."]})
        delay = attrs.get("delay_minutes", getattr(self.instance, "delay_minutes", 0))
        clash = NotificationRule.objects.filter(user=user, contact=contact, delay_minutes=delay)
        if self.instance is not None:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            raise serializers.ValidationError(
                {"delay_minutes": ["This contact method already has a rule at this delay."]}
            )
        attrs["user"] = user
        return attrs


def check_own(request, user, what: str):
    """Each person manages their own; admins anyone's (403 otherwise)."""
    from rest_framework.exceptions import PermissionDenied

    if user != request.user and not request.user.is_superuser:
        raise PermissionDenied(f"You may manage only your own {what}.")
    return user


class NotificationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Notification
        fields = ["id", "incident", "event", "step", "round", "kind", "recipient", "target", "status", "attempts",
                  "error", "duration_ms", "created_at", "sent_at"]  # fmt: skip
