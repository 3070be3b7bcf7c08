"""The event intake (incidents.intake) on every engine: its compiled validation accepts exactly what
`EventSerializer` accepts, with the same data, and leaves every refusal to the serializer's wording; its
rows follow the model; its 201 body is the serializer's."""

from __future__ import annotations

import pytest
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from incidents import intake
from incidents.api.serializers import EventSerializer
from incidents.models import Event

OK = {"service": "api", "level": "INFO", "message": "m"}

CASES = [
    OK,
    {**OK, "level": "error"},
    {**OK, "level": " Fatal "},
    {**OK, "level": "\u0131nfo"},  # dotless i: upper() makes it INFO, as in the serializer
    {**OK, "level": "WARN"},
    {**OK, "level": ""},
    {**OK, "level": 3},
    {**OK, "level": None},
    {**OK, "level": "\ud800"},
    {**OK, "service": "  padded  "},
    {**OK, "service": "   "},
    {**OK, "service": ""},
    {**OK, "service": "s" * 255},
    {**OK, "service": "s" * 256},
    {**OK, "service": 42},
    {**OK, "service": True},
    {**OK, "service": "caf\u00e9 \U0001f600"},
    {**OK, "service": "bad \udc80"},
    {**OK, "message": "   "},
    {**OK, "message": "m" * 10_000},
    {**OK, "message": "m" * 10_001},
    {**OK, "message": 1.5},
    {**OK, "message": ["x"]},
    {**OK, "host": "  web-1  "},
    {**OK, "host": "   "},
    {**OK, "host": " " + "h" * 255 + " "},
    {**OK, "host": "h" * 256},
    {**OK, "host": None},
    {**OK, "host": 7},
    {**OK, "attributes": {}},
    {**OK, "attributes": {"a": [1, {"b": None}], "c": "\u00e9"}},
    {**OK, "attributes": None},
    {**OK, "attributes": ["a"]},
    {**OK, "attributes": "a"},
    {**OK, "timestamp": "2026-11-23T10:00:00+01:00"},
    {**OK, "timestamp": "2026-11-23T10:00:00"},
    {**OK, "timestamp": "2026-11-23 10:00:00.123456Z"},
    {**OK, "timestamp": "2026-13-01T00:00:00Z"},
    {**OK, "timestamp": "1999-12-31T23:59:59Z"},
    {**OK, "timestamp": "9999-12-31T23:59:59-05:00"},
    {**OK, "timestamp": ""},
    {**OK, "timestamp": None},
    {**OK, "timestamp": 1700000000},
    {**OK, "id": 5, "received_at": "2020-01-01T00:00:00Z", "incident": 3, "extra": "ignored"},
    {"level": "INFO", "message": "m"},
    {"service": "api", "message": "m"},
    {"service": "api", "level": "INFO"},
    {},
]


def _by_serializer(body):
    serializer = EventSerializer(data=body, many=isinstance(body, list))
    if not serializer.is_valid():
        return "refused", serializer.errors
    data = serializer.validated_data
    return "accepted", [dict(item) for item in data] if isinstance(body, list) else [dict(data)]


def _by_intake(body):
    try:
        return "accepted", intake.validate(body)
    except ValidationError as exc:
        return "refused", exc.detail


@pytest.mark.parametrize("event", CASES, ids=range(len(CASES)))
def test_it_validates_each_event_exactly_like_the_serializer(event):
    assert _by_intake(event) == _by_serializer(event)
    batch = [OK, event, {**OK, "level": "debug"}]
    assert _by_intake(batch) == _by_serializer(batch)


def test_plain_events_never_reach_the_serializer(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the serializer was used")

    monkeypatch.setattr(intake, "EventSerializer", refuse)
    batch = [{**OK, "level": level, "host": "h", "attributes": {"k": 1}} for level in ("info", "ERROR", "Fatal")]
    batch.append({**OK, "timestamp": "2026-11-23T10:00:00Z", "message": "caf\u00e9"})
    assert [item["level"] for item in intake.validate(batch)] == ["INFO", "ERROR", "FATAL", "INFO"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "The array is empty."),
        ([OK] * 1001, "At most 1000 events per request (1001 sent)."),
        ("text", "Send an event object or an array of events."),
        (None, "Send an event object or an array of events."),
    ],
)
def test_it_refuses_bodies_of_the_wrong_shape(body, message):
    with pytest.raises(ValidationError) as refused:
        intake.check_shape(body)
    assert refused.value.detail == {"non_field_errors": [message]}


def test_rows_follow_the_model_columns():
    columns = [f.column for f in Event._meta.concrete_fields if not f.primary_key]
    assert list(intake.COLUMNS) == columns
    now = timezone.now()
    (row,) = intake.build_rows(intake.validate({**OK, "received_at": "2020-01-01T00:00:00Z"}), now)
    values = dict(zip(intake.COLUMNS, row, strict=True))
    assert values["timestamp"] == values["received_at"] == now
    assert (values["host"], values["attributes"], values["incident_id"]) == ("", {}, None)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("returning", [True, False])
def test_stored_rows_read_back_as_rendered(returning):
    first = {**OK, "level": "error", "host": " h1 ", "attributes": {"a": [1, 2]}, "timestamp": "2026-11-23T10:00+01:00"}
    body = [first, {**OK, "message": "second"}]
    rows = intake.build_rows(intake.validate(body), timezone.now())
    ids = intake.store(rows, returning=returning)
    stored = list(Event.objects.order_by("id"))
    assert len(stored) == 2
    if returning:
        assert ids == [event.pk for event in stored]
    else:
        assert ids is None
    for row, event in zip(rows, stored, strict=True):
        assert intake.render(row, event.pk) == EventSerializer(event).data


@pytest.mark.django_db(transaction=True)
def test_a_batch_that_fails_in_the_database_stores_nothing():
    rows = intake.build_rows(intake.validate([OK, OK, OK]), timezone.now())
    rows[2] = (None, *rows[2][1:])  # service NULL: refused by the database, after two good rows
    with pytest.raises(Exception):  # noqa: B017 - psycopg's error (COPY) or Django's (bulk_create)
        intake.store(rows, returning=False)
    assert not Event.objects.exists()


@pytest.mark.django_db
def test_the_201_body_shows_times_like_the_serializer_in_any_active_time_zone():
    rows = intake.build_rows(intake.validate({**OK, "timestamp": "2026-11-23T10:00:00.5+01:00"}), timezone.now())
    (pk,) = intake.store(rows, returning=True) or []
    with timezone.override("America/New_York"):
        assert intake.render(rows[0], pk) == EventSerializer(Event.objects.get(pk=pk)).data
        assert intake.render(rows[0], pk)["timestamp"] == "2026-11-23T04:00:00.500000-05:00"
