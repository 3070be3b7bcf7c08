"""People in the API: what is shown of a person, and what an admin may set."""

from __future__ import annotations

from django.contrib.auth.validators import UnicodeUsernameValidator
from rest_framework import serializers

from opsassist import people


class _OnlyKnownFields(serializers.Serializer):
    """Refuses fields it does not take (400 naming them): a PATCH of `username` or `password` must not look
    as though it worked."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["This field cannot be set here."] for name in unknown})
        return super().to_internal_value(data)


class PersonSerializer(serializers.Serializer):
    username = serializers.CharField()
    email = serializers.CharField(help_text="empty when none is known")
    name = serializers.CharField(source="get_full_name")
    role = serializers.SerializerMethodField()
    is_active = serializers.BooleanField()
    time_zone = serializers.SerializerMethodField()
    teams = serializers.SerializerMethodField()
    last_login = serializers.DateTimeField(allow_null=True)

    def get_role(self, user) -> str:
        return people.role_of(user)

    def get_time_zone(self, user) -> str:
        profile = getattr(user, "profile", None)
        return profile.time_zone if profile is not None else ""

    def get_teams(self, user) -> list[str]:
        return sorted(team.name for team in user.teams.all())


class PersonCreateSerializer(_OnlyKnownFields):
    username = serializers.CharField(max_length=150, validators=[UnicodeUsernameValidator()])
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True, default="")
    name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")
    role = serializers.ChoiceField(choices=people.ROLES)


class PersonChangeSerializer(_OnlyKnownFields):
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True)
    name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    role = serializers.ChoiceField(choices=people.ROLES, required=False)
    is_active = serializers.BooleanField(required=False)


class NewPersonSerializer(PersonSerializer):
    """The 201 of a create: the person, plus their set-password link (shown this once)."""

    set_password_url = serializers.CharField()
    emailed = serializers.BooleanField(help_text="the link was also mailed to the person")


class TokenSerializer(serializers.Serializer):
    username = serializers.CharField()
    token = serializers.CharField(help_text="shown this once; the previous token no longer works")


class PasswordLinkSerializer(serializers.Serializer):
    username = serializers.CharField()
    set_password_url = serializers.CharField(help_text="works once, until PASSWORD_RESET_TIMEOUT; shown this once")
