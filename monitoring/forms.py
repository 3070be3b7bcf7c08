"""Kind-aware monitor forms: the inputs of each kind's thresholds, read from its checker's typed Config
(the same declaration the API validates against), with human units (MiB, ms, s)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rest_framework import serializers
from rest_framework.fields import empty

from monitoring.checkers import KINDS, checker_class
from opsassist.lib.kindconfig import SecretField, StatusCodesField

MIB = 1024 * 1024
# A key's suffix names its unit: the form shows the human one and the page converts on submit.
UNITS = {"_bytes": ("MiB", MIB), "_ms": ("ms", 1), "_seconds": ("s", 1), "_percent": ("%", 1)}


@dataclass
class Input:
    name: str
    label: str
    type: str  # int | number | choice | list | secret | text
    unit: str = ""
    scale: int = 1
    minimum: Any = None
    maximum: Any = None
    default: Any = None
    choices: tuple = ()
    required: bool = False
    value: Any = None


def _unit(name: str) -> tuple[str, int]:
    return next((unit for suffix, unit in UNITS.items() if name.endswith(suffix)), ("", 1))


def _type(field: serializers.Field) -> str:
    if isinstance(field, serializers.ChoiceField):
        return "choice"
    if isinstance(field, (StatusCodesField, serializers.ListField)):
        return "list"
    if isinstance(field, serializers.IntegerField):
        return "int"
    if isinstance(field, serializers.FloatField):
        return "number"
    return "secret" if isinstance(field, SecretField) else "text"


def _human(value: Any, scale: int) -> Any:
    if value is None or scale == 1 or not isinstance(value, (int, float)):
        return value
    return round(value / scale, 3)


def kind_inputs(kind: str, stored: dict | None = None) -> list[Input]:
    """One input per declared key of `kind`, filled from `stored` (the API's masked thresholds)."""
    stored = stored or {}
    inputs = []
    for name, field in checker_class(kind).Config().fields.items():
        unit, scale = _unit(name)
        label = name.removesuffix("_bytes").removesuffix("_ms").removesuffix("_seconds").replace("_", " ")
        inputs.append(Input(
            name=name, label=label.capitalize(), type=_type(field), unit=unit, scale=scale,
            minimum=_human(getattr(field, "min_value", None), scale),
            maximum=_human(getattr(field, "max_value", None), scale),
            default=None if field.default is empty else _human(field.default, scale),
            choices=tuple(field.choices) if isinstance(field, serializers.ChoiceField) else (),
            required=field.required, value=_human(stored.get(name), scale),
        ))  # fmt: skip
    return inputs


def all_kind_inputs(stored_kind: str | None = None, stored: dict | None = None) -> list[tuple[str, str, list]]:
    """[(kind, label, inputs)] for every kind; the stored kind's inputs carry the stored values."""
    return [
        (kind, label, kind_inputs(kind, stored if kind == stored_kind else None)) for kind, (label, _) in KINDS.items()
    ]
