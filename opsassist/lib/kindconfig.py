"""Typed per-kind configuration (monitor thresholds, notification channel configs).

Each plug-in kind (a checker, a transport) declares its settings once, as a `KindConfig`: a DRF serializer
whose fields give the type, range, default and choices of every key, and whose `SecretField`s say which
values are never shown. The same class

- validates writes (`validate_input`): 400s name the key, unknown keys are refused, masked secrets sent
  back unchanged keep the stored value;
- reads stored rows (`read`): typed values with defaults applied;
- shapes output (`masked`): the stored keys with secrets masked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from types import SimpleNamespace
from typing import Any

from django.core.validators import URLValidator
from rest_framework import serializers
from rest_framework.fields import empty

log = logging.getLogger(__name__)

MASK = "***"
UNKNOWN_KEY = "unknown key"


def mask_all(value: Any) -> str:
    return MASK


class SecretField(serializers.CharField):
    """A string the API never shows. `mask` turns the stored value into what clients see (default: ***);
    a client sending that masked value back means "unchanged"."""

    def __init__(self, *, mask: Callable[[Any], str] = mask_all, **kwargs):
        self.mask = mask
        super().__init__(**kwargs)


class SecretUrlField(SecretField):
    """A URL (http or https) that carries secrets in its path, query or password; shown redacted."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 2000)
        super().__init__(**kwargs)
        self.validators.append(URLValidator(schemes=["http", "https"], message="Enter an http:// or https:// URL."))


class StatusCodesField(serializers.ListField):
    """One HTTP status code or a list of them (each 100-599); read back as a list."""

    def __init__(self, **kwargs):
        kwargs.setdefault("child", serializers.IntegerField(min_value=100, max_value=599))
        kwargs.setdefault("min_length", 1)
        kwargs.setdefault("max_length", 50)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, list):
            return [self.child.run_validation(data)]
        return super().to_internal_value(data)


class KindConfig(serializers.Serializer):
    """A kind's settings. Subclass it next to the kind and declare one field per key.

    Fields with `default=` supply the value `read()` returns when the key is not stored; optional keys
    without a default read as None.
    """

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            unknown = sorted(str(key) for key in data if key not in self.fields)
            if unknown:
                raise serializers.ValidationError({key: [UNKNOWN_KEY] for key in unknown})
        return super().to_internal_value(data)

    @classmethod
    def secret_fields(cls) -> dict[str, SecretField]:
        return {name: field for name, field in cls().fields.items() if isinstance(field, SecretField)}

    @classmethod
    def validate_input(cls, data: Any, current: Mapping | None = None) -> dict:
        """The keys the client sent, validated and typed, ready to store. Raises ValidationError keyed
        by setting name. A secret sent back exactly as the API showed it (masked) keeps `current`'s value."""
        if isinstance(data, Mapping):
            data = cls._unmask(dict(data), current or {})
        checked = cls(data=data)
        checked.is_valid(raise_exception=True)
        return {key: value for key, value in checked.validated_data.items() if key in data}

    @classmethod
    def _unmask(cls, data: dict, current: Mapping) -> dict:
        for name, field in cls.secret_fields().items():
            value = data.get(name)
            if not isinstance(value, str) or MASK not in value:
                continue
            stored = current.get(name)
            if stored and value in (MASK, field.mask(stored)):
                data[name] = stored
            else:
                raise serializers.ValidationError(
                    {name: [f"Contains the mask {MASK}: send the whole new value, or the masked one unchanged."]}
                )
        return data

    @classmethod
    def read(cls, raw: Any) -> SimpleNamespace:
        """Typed values with defaults applied. Never fails: keys that are unknown or invalid in a stored
        row (written before the kind declared them) are ignored, with a warning."""
        data = {key: value for key, value in raw.items() if key in cls().fields} if isinstance(raw, Mapping) else {}
        checked = cls(data=data)
        if not checked.is_valid():
            log.warning("ignoring invalid stored settings %s of %s", sorted(checked.errors), cls.__name__)
            data = {key: value for key, value in data.items() if key not in checked.errors}
            checked = cls(data=data)
            if not checked.is_valid():
                checked = cls(data={})
                checked.is_valid()
        # .keys(): the stubs type iterating a BindingDict as its Fields, but it yields the names.
        values: dict[str, Any] = dict.fromkeys(checked.fields.keys())
        values.update(checked.validated_data)
        return SimpleNamespace(**values)

    @classmethod
    def masked(cls, raw: Any) -> dict:
        """The stored keys as the API shows them: secrets masked, keys the kind does not declare left out."""
        if not isinstance(raw, Mapping):
            return {}
        fields, secrets = cls().fields, cls.secret_fields()
        return {
            key: secrets[key].mask(value) if key in secrets and value else value
            for key, value in raw.items()
            if key in fields
        }

    @classmethod
    def describe(cls) -> str:
        """The declared keys, for API docs: `name (type, default x)`."""
        return ", ".join(f"{name} ({_describe(field)})" for name, field in cls().fields.items()) or "no keys"


def _describe(field: serializers.Field) -> str:
    if isinstance(field, serializers.ChoiceField):
        kind = " | ".join(map(str, field.choices))
    elif isinstance(field, StatusCodesField):
        kind = "status code or list of them"
    elif isinstance(field, (serializers.IntegerField, serializers.FloatField)):
        kind = "integer" if isinstance(field, serializers.IntegerField) else "number"
        if field.min_value is not None and field.max_value is not None:
            kind += f" {field.min_value}-{field.max_value}"
    elif isinstance(field, SecretField):
        kind = "http(s) URL, secret" if isinstance(field, SecretUrlField) else "string, secret"
    else:
        kind = "string"
    if field.required:
        kind += ", required"
    return kind + (f", default {field.default}" if field.default is not empty else "")


class FreeConfig(KindConfig):
    """For a kind that has not declared its settings yet: any object is accepted and read as is."""

    def to_internal_value(self, data):
        if not isinstance(data, Mapping):
            return super().to_internal_value(data)  # DRF's "expected a dictionary" error
        return dict(data)

    @classmethod
    def read(cls, raw: Any) -> SimpleNamespace:
        return SimpleNamespace(**raw) if isinstance(raw, Mapping) else SimpleNamespace()

    @classmethod
    def masked(cls, raw: Any) -> dict:
        return dict(raw) if isinstance(raw, Mapping) else {}

    @classmethod
    def describe(cls) -> str:
        return "any keys"
