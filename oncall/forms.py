"""Kind-aware contact method forms: one input per setting a transport kind declares (its typed Config, the
same declaration the API validates against). Secrets are write-only: an edit form holds only their masked
value, which the API reads as "unchanged"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rest_framework import serializers
from rest_framework.fields import empty

from oncall.transports import TRANSPORTS, transport_class
from opsassist.lib.kindconfig import SecretField, SecretUrlField

# Kinds a person can be paged through (a Slack app posts to channels, not to a person).
PERSONAL_KINDS = [kind for kind in TRANSPORTS if kind != "slack_app"]
ACRONYMS = {"url": "URL", "id": "ID"}


@dataclass
class ConfigInput:
    name: str
    label: str
    type: str  # text | url | secret | secret-url | choice | int
    required: bool = False
    default: Any = None
    choices: tuple = ()
    value: Any = None


def _type(field: serializers.Field) -> str:
    if isinstance(field, SecretUrlField):
        return "secret-url"
    if isinstance(field, SecretField):
        return "secret"
    if isinstance(field, serializers.ChoiceField):
        return "choice"
    if isinstance(field, serializers.IntegerField):
        return "int"
    return "url" if isinstance(field, serializers.URLField) else "text"


def config_inputs(kind: str, masked: dict | None = None) -> list[ConfigInput]:
    """The inputs of `kind`'s settings, filled from `masked` (the API's view of a stored config)."""
    masked = masked or {}
    return [_input(name, field, masked.get(name)) for name, field in transport_class(kind).Config().fields.items()]


def _label(name: str) -> str:
    words = name.replace("_", " ").capitalize().split()
    return " ".join(ACRONYMS.get(word.lower(), word) for word in words)


def _input(name: str, field: serializers.Field, value: Any) -> ConfigInput:
    return ConfigInput(
        name=name, label=_label(name), type=_type(field), required=field.required,
        default=None if field.default is empty else field.default,
        choices=tuple(field.choices) if isinstance(field, serializers.ChoiceField) else (), value=value,
    )  # fmt: skip


def kind_forms(kinds: list[str] | None = None) -> list[tuple[str, str, list[ConfigInput]]]:
    """[(kind, label, inputs)] for a new contact method's form."""
    return [(kind, TRANSPORTS[kind][0], config_inputs(kind)) for kind in kinds or PERSONAL_KINDS]
