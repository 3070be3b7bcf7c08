"""The one intake for `POST /api/v1/events`: body rules, validation, rows, storage, metrics and the 201 body.

Both transports call it: the DRF view (`incidents.api.views.EventViewSet.create`, every engine) and the
event-loop path (`incidents.fastingest`, PostgreSQL). What they share lives here, so they cannot drift:

- `check_shape`: an event object, or an array of 1..MAX_BATCH of them;
- `validate`: a compiled check of each event (types, lengths, the allowed levels, computed once) that
  accepts exactly what `EventSerializer` accepts, and hands anything it does not recognise to the
  serializer itself, which words the 400 (or accepts an input the compiled check is too strict for);
- `build_rows`: one tuple per event in the order of `COLUMNS`, which are read from the `Event` model;
- `store`: a single event through the ORM; a batch with COPY on PostgreSQL (`bulk_create` elsewhere), in
  one transaction, so a batch is stored whole or not at all, before any 201 is sent;
- `count` (the `events_ingested_total` metric) and `render` (the 201 body of one event).
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, tzinfo
from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone
from rest_framework import ISO_8601, serializers
from rest_framework.exceptions import ValidationError
from rest_framework.settings import api_settings

from incidents.api.serializers import MAX_BATCH, EventSerializer
from incidents.choices import Level
from incidents.metrics import events_ingested_total
from incidents.models import Event

__all__ = ["COLUMNS", "MAX_BATCH", "build_rows", "check_shape", "count", "render", "store", "validate"]

# Every column but the generated primary key, in the model's order; `incident` stays NULL on intake
# (correlation links events later).
_FIELDS: tuple[models.Field, ...] = tuple(f for f in Event._meta.concrete_fields if not f.primary_key)
COLUMNS: tuple[str, ...] = tuple(str(f.column) for f in _FIELDS)
_NAMES: tuple[str, ...] = tuple(f.name for f in _FIELDS)
# Set by the intake itself: never taken from the sender (read-only in the serializer).
_STAMPED = ("timestamp", "received_at")

NOT_A_LIST_OR_OBJECT = "Send an event object or an array of events."
EMPTY = "The array is empty."

# One serializer for the process: building a serializer's fields is most of its cost. It keeps no state
# between calls; fields are used only through their pure methods.
_SERIALIZER = EventSerializer()
_TIMESTAMP = _SERIALIZER.fields["timestamp"]
_LEVELS = frozenset(Level.values)
# The spellings senders use, resolved once; anything else goes through the same rule as the serializer.
_LEVEL_OF = {spelling: level for level in Level.values for spelling in (level, level.lower(), level.capitalize())}
_SURROGATE = re.compile("[\ud800-\udfff]")


class _Unsure(Exception):
    """The compiled check cannot decide: the serializer does."""


def check_shape(body: Any) -> list:
    """The events of a request body (a list of one for an object), or ValidationError."""
    if isinstance(body, list):
        if not body:
            raise ValidationError({"non_field_errors": [EMPTY]})
        if len(body) > MAX_BATCH:
            raise ValidationError({"non_field_errors": [f"At most {MAX_BATCH} events per request ({len(body)} sent)."]})
        return body
    if not isinstance(body, dict):
        raise ValidationError({"non_field_errors": [NOT_A_LIST_OR_OBJECT]})
    return [body]


def validate(body: dict | list) -> list[dict]:
    """The validated events of a body that passed `check_shape`, exactly as `EventSerializer` would give
    them; ValidationError with the serializer's own errors (a dict for an object, a list for an array)."""
    items = body if isinstance(body, list) else [body]
    try:
        return [_compiled(item) for item in items]
    except _Unsure:
        pass
    serializer = EventSerializer(data=body, many=isinstance(body, list))
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    return [dict(item) for item in data] if isinstance(body, list) else [dict(data)]


def _compiled(item: Any) -> dict:
    """One event's validated data, or _Unsure. Accepts only plain JSON types: anything coerced,
    blank, too long or unknown is left to the serializer."""
    if type(item) is not dict:
        raise _Unsure
    data: dict[str, Any] = {
        "service": _text(item.get("service"), 255),
        "level": _level(item.get("level")),
        "message": _text(item.get("message"), 10_000),
        "host": _host(item.get("host", "")),
        "attributes": _attributes(item.get("attributes", {})),
    }
    if not data["service"].strip():
        raise _Unsure
    if "timestamp" in item:
        data["timestamp"] = _time(item["timestamp"])
    return data


def _text(value: Any, max_length: int) -> str:
    # Kept as sent (no trimming): 1..max_length characters, no NUL, no lone surrogate.
    if type(value) is not str or not 0 < len(value) <= max_length or "\x00" in value:
        raise _Unsure
    if not value.isascii() and _SURROGATE.search(value):
        raise _Unsure
    return value


def _level(value: Any) -> str:
    level = _LEVEL_OF.get(value) if type(value) is str else None
    if level is not None:
        return level
    if type(value) is not str or "\x00" in value or _SURROGATE.search(value):
        raise _Unsure
    level = value.strip().upper()  # EventSerializer.validate_level's own rule
    if level not in _LEVELS:
        raise _Unsure
    return level


def _host(value: Any) -> str:
    if type(value) is not str or "\x00" in value:
        raise _Unsure
    host = value.strip()  # the serializer trims this field
    if len(host) > 255 or (not host.isascii() and _SURROGATE.search(host)):
        raise _Unsure
    return host


def _attributes(value: Any) -> dict:
    if type(value) is not dict:
        raise _Unsure
    return value


def _time(value: Any) -> datetime:
    if type(value) is not str:
        raise _Unsure
    try:
        return _TIMESTAMP.to_internal_value(value)  # the field's own parsing and range check
    except ValidationError:
        raise _Unsure from None


def build_rows(items: Iterable[dict], now: datetime) -> list[tuple]:
    """One tuple per event, in COLUMNS order: the validated fields, `now` for the times not given, and
    the model's default for the rest."""
    base = {**_STATIC_DEFAULTS, **{name: _FIELDS[i].get_default() for i, name in _CALLED_DEFAULTS}}
    base.update(dict.fromkeys(_STAMPED, now))
    return [tuple(item[name] if name in item and name != "received_at" else base[name] for name in _NAMES)
            for item in items]  # fmt: skip


# Defaults read once; callable ones (a new dict each time) once per request.
_CALLED_DEFAULTS = [(i, f.name) for i, f in enumerate(_FIELDS) if callable(f.default) and f.name not in _STAMPED]
_STATIC_DEFAULTS = {f.name: f.get_default() for f in _FIELDS if not callable(f.default) and f.name not in _STAMPED}


def count(rows: list[tuple]) -> None:
    """Add accepted events to `events_ingested_total{level}`."""
    if len(rows) == 1:
        _counter(rows[0][_LEVEL_INDEX]).inc()
        return
    for level, n in Counter(row[_LEVEL_INDEX] for row in rows).items():
        _counter(level).inc(n)


@functools.cache
def _counter(level: str):
    return events_ingested_total.labels(level)  # levels are a closed set: the children are few


_LEVEL_INDEX = _NAMES.index("level")


def render(row: tuple, pk: int, zone: tzinfo | None = None) -> dict:
    """The stored event as `EventSerializer` shows it (the 201 body for one event); times in `zone`,
    by default the current time zone (as DRF shows them)."""
    values = dict(zip(_NAMES, row, strict=True))
    values["id"] = pk
    zone = zone or timezone.get_current_timezone()
    body = {}
    for name, show in _RENDERERS:
        value = values.get(name)
        body[name] = None if value is None else show(value, zone)
    return body


def _show_time(value: datetime, zone) -> str:
    text = value.astimezone(zone).isoformat()  # DRF's ISO 8601, with Z for UTC
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _renderer(field: serializers.Field):
    """How `field` shows a value read from a row: the field's own method, or a shortcut giving the same."""
    shown_as = str(getattr(field, "format", api_settings.DATETIME_FORMAT)).lower()
    if isinstance(field, serializers.DateTimeField) and not hasattr(field, "timezone") and shown_as == ISO_8601:
        return _show_time
    if type(field) in (serializers.CharField, serializers.IntegerField):
        return lambda value, zone: value
    return lambda value, zone: field.to_representation(value)


_RENDERERS = [(name, _renderer(field)) for name, field in _SERIALIZER.fields.items()]


def store(rows: list[tuple], *, returning: bool) -> list[int] | None:
    """Insert `rows` in one transaction through Django's connection; their ids when `returning`."""
    with transaction.atomic():
        if returning or connection.vendor != "postgresql":
            events = Event.objects.bulk_create([Event(**dict(zip(_NAMES, row, strict=True))) for row in rows])
            return [event.pk for event in events] if returning else None
        with connection.cursor() as cursor, cursor.cursor.copy(copy_sql()) as copy:
            copy.set_types(copy_types())
            for row in rows:
                copy.write_row(row)
    return None


# --- SQL for the psycopg writers (this module's `store` and incidents.fastingest) ----------------------


@functools.cache
def copy_sql() -> str:
    columns = ", ".join(connection.ops.quote_name(c) for c in COLUMNS)
    return f"COPY {connection.ops.quote_name(Event._meta.db_table)} ({columns}) FROM STDIN"


@functools.cache
def copy_types() -> list[str]:
    """PostgreSQL types of COLUMNS (jsonb takes a dict as it is)."""
    return [_pg_type(field) for field in _FIELDS]


def _pg_type(field: models.Field) -> str:
    if isinstance(field, models.ForeignKey):
        return "int8"
    return {"CharField": "varchar", "TextField": "text", "DateTimeField": "timestamptz",
            "JSONField": "jsonb"}[field.get_internal_type()]  # fmt: skip


@functools.cache
def insert_sql(where: str = "true") -> str:
    """One INSERT for any number of rows (one array per column), so its text never changes: psycopg
    prepares it once per connection instead of parsing a new statement for every row count. Rows are
    inserted only if `where` (an SQL condition, its parameters after the arrays') holds."""
    table = connection.ops.quote_name(Event._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(c) for c in COLUMNS)
    arrays = ", ".join(f"%b::{t}[]" for t in copy_types())  # binary: no per-element quoting to do
    pk = connection.ops.quote_name(str(Event._meta.pk.column))
    return f"INSERT INTO {table} ({columns}) SELECT * FROM unnest({arrays}) WHERE {where} RETURNING {pk}"  # noqa: S608


def insert_params(rows: list[tuple]) -> list[list]:
    """The arrays `insert_sql` takes: one list per column."""
    from psycopg.types.json import Jsonb

    columns = [list(column) for column in zip(*rows, strict=True)]
    for index, field in enumerate(_FIELDS):
        if isinstance(field, models.JSONField):
            columns[index] = [Jsonb(value) for value in columns[index]]
    return columns
