"""Request bodies the database could not store, or that are not JSON values at all, are a 400 naming where
the problem is, on every engine: never a 500 from the driver, never a 409 from a misread database error."""

import pytest

from incidents.models import Event, Incident
from monitoring.models import Monitor
from opsassist.lib import nul

pytestmark = pytest.mark.django_db

EVENT = '{"service": "api", "level": "error", "message": "m", "attributes": {%s}}'
CASES = [
    (EVENT % '"k": 1e999', "attributes.k", "too large"),
    (EVENT % '"k": -1e400', "attributes.k", "too large"),
    (EVENT % '"k": "a\\udfff"', "attributes.k", "surrogate"),
    (EVENT % '"\\udfffkey": "v"', "attributes.\\udfffkey", "surrogate"),
    (EVENT % '"k": ["ok", "\\ud800"]', "attributes.k[1]", "surrogate"),
    (EVENT % '"k": "nul\\u0000"', "attributes.k", "U+0000"),
    (EVENT % '"k\\u0000": 1', "attributes.k\\u0000", "U+0000"),
]


@pytest.mark.parametrize(("body", "where", "problem"), CASES)
def test_an_event_the_database_cannot_store_is_a_400_naming_the_field(api, body, where, problem):
    response = api.post("/api/v1/events", body, content_type="application/json")
    assert response.status_code == 400, response.content
    detail = response.json()["detail"]
    assert problem.lower() in detail.lower() and f"(at {where})" in detail, detail
    assert not Event.objects.exists() and not Incident.objects.exists()


def test_a_batch_names_the_item(api):
    body = '[{"service": "a", "level": "error", "message": "m"}, {"service": "b\\udc00", "level": "error"}]'
    response = api.post("/api/v1/events", body, content_type="application/json")
    assert response.status_code == 400 and "(at [1].service)" in response.json()["detail"]
    assert not Event.objects.exists()


@pytest.mark.parametrize("value", ["1e999", '"\\udfff"'])
def test_every_api_body_goes_through_the_same_checks(api, value):
    body = '{"name": "m", "kind": "http", "target": "http://web.example/", "thresholds": {"connect_warn_ms": %s}}'
    response = api.post("/api/v1/monitors", body % value, content_type="application/json")
    assert response.status_code == 400 and "(at thresholds.connect_warn_ms)" in response.json()["detail"]
    assert not Monitor.objects.exists()


def test_a_valid_surrogate_pair_and_large_finite_numbers_are_fine():
    assert nul.loads('{"e": "\\ud83d\\ude00", "n": 1e308, "i": 123456789012345678901234567890}') == {
        "e": "\U0001f600", "n": 1e308, "i": 123456789012345678901234567890,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ('{"k": ' + "1" * 250 + "e99}", "too large"),  # no exponent of three digits, still infinite
        ('{"k": ' + "9" * 400 + ".0}", "too large"),
        ('{"k": "' + "\udfff" + '"}', "surrogate"),  # sent raw (UTF-8 with surrogatepass), no backslash
        ("[" * 65 + "]" * 65, "deeper"),
    ],
)
def test_bodies_without_escapes_are_still_checked(raw, problem):
    """Most bodies skip the walk (no backslash, few brackets, short numbers): those that only look alike are
    walked all the same."""
    with pytest.raises(nul.InvalidJSON, match=f"(?i){problem}"):
        nul.loads(raw.encode("utf-8", "surrogatepass"))
