"""Inputs that used to break things for good: out-of-range times, deep or ambiguous JSON, requests that
stored half of themselves, and error pages in HTML on API paths. Each is refused with a 4xx naming the
field, and a refused request stores nothing."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from incidents.models import Alert, Event, Incident
from incidents.tests.integrations_helpers import integration_client, payload

pytestmark = pytest.mark.django_db

AM = "/api/v1/integrations/alertmanager"
PD = "/api/v1/integrations/pagerduty"
YEAR_10000 = "9999-12-31T23:59:59-05:00"
GO_ZERO = "0001-01-01T00:00:00Z"


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _am_alert(startsAt: str, endsAt: str = GO_ZERO, status: str = "firing", **labels) -> dict:  # noqa: N803
    labels = {"alertname": "Watchdog", "service": "infra", **labels}
    fingerprint = "f-" + "-".join(f"{k}={v}" for k, v in sorted(labels.items()))[:60]
    return {"status": status, "labels": labels, "annotations": {"summary": "watchdog"}, "startsAt": startsAt,
            "endsAt": endsAt, "generatorURL": "http://prometheus/graph", "fingerprint": fingerprint}  # fmt: skip


def _am_body(*alerts: dict) -> dict:
    return {"version": "4", "status": "firing", "receiver": "opsassist", "groupKey": "", "alerts": list(alerts)}


@pytest.fixture
def am():
    return integration_client("alertmanager", service="infra")[0]


@pytest.fixture
def pd_key():
    return integration_client("pagerduty", service="payments")[2]


def _pd_event(key: str, **payload) -> dict:
    return {"routing_key": key, "event_action": "trigger", "dedup_key": "disk/db-1",
            "payload": {"summary": "disk full", "source": "db-1", "severity": "critical", **payload}}  # fmt: skip


def _nothing_stored() -> bool:
    return not (Alert.objects.exists() or Incident.objects.exists() or Event.objects.exists())


def _errors(response) -> dict:
    return response.json().get("errors", {})


# --- times ------------------------------------------------------------------------------------------


def test_a_year_10000_start_is_refused_and_nothing_is_stored(am, pd_key, responder_api):
    response = am.post(AM, _am_body(_am_alert("2026-11-23T07:00:00Z"), _am_alert(YEAR_10000, instance="b")),
                       format="json")  # fmt: skip
    assert response.status_code == 400
    assert "alerts[1].startsAt" in _errors(response)
    assert "alerts[1].startsAt" in response.json()["detail"]

    response = APIClient().post(PD, _pd_event(pd_key, timestamp=YEAR_10000), format="json")
    assert response.status_code == 400
    assert "payload.timestamp" in response.json()["detail"]

    event = {"service": "api", "level": "ERROR", "message": "boom", "timestamp": YEAR_10000}
    response = responder_api.post("/api/v1/events", event, format="json")
    assert response.status_code == 400 and "timestamp" in _errors(response)
    response = responder_api.post("/api/v1/events", [{**event, "timestamp": "2026-11-23T07:00:00Z"}, event],
                                  format="json")  # fmt: skip
    assert response.status_code == 400 and "[1].timestamp" in _errors(response)
    assert _nothing_stored()


@pytest.mark.parametrize(
    "when",
    ["1999-12-31T23:59:59Z", "2000-01-01T04:59:59+05:00", "1970-01-01T00:00:00Z", "2026-13-01T00:00:00Z", "soon"],
)
def test_times_before_2000_or_impossible_are_refused_on_every_path(am, pd_key, responder_api, when):
    assert am.post(AM, _am_body(_am_alert(when)), format="json").status_code == 400
    assert APIClient().post(PD, _pd_event(pd_key, timestamp=when), format="json").status_code == 400
    event = {"service": "api", "level": "ERROR", "message": "boom", "timestamp": when}
    assert responder_api.post("/api/v1/events", event, format="json").status_code == 400
    assert _nothing_stored()


def test_a_time_more_than_a_day_ahead_is_refused_and_one_hour_ahead_is_accepted(am, responder_api):
    now = datetime.now(UTC)
    far, near = _iso(now + timedelta(days=1, minutes=5)), _iso(now + timedelta(hours=1))
    response = responder_api.post("/api/v1/events", {"service": "a", "level": "INFO", "message": "m", "timestamp": far},
                                  format="json")  # fmt: skip
    assert response.status_code == 400 and "timestamp" in _errors(response)
    assert am.post(AM, _am_body(_am_alert(far)), format="json").status_code == 400
    assert _nothing_stored()
    assert am.post(AM, _am_body(_am_alert(near)), format="json").status_code == 200


def test_a_watchdog_firing_for_years_is_accepted(am):
    ends = _iso(datetime.now(UTC) + timedelta(minutes=4))  # Alertmanager's resolve timeout ahead
    response = am.post(AM, _am_body(_am_alert("2016-03-01T00:00:00Z", ends)), format="json")
    assert response.status_code == 200, response.json()
    alert = Alert.objects.get()
    assert alert.starts_at == datetime(2016, 3, 1, tzinfo=UTC)
    assert alert.ends_at is None and alert.status == "firing"
    assert alert.incident.status == "open"


def test_go_zero_ends_at_on_a_firing_alert_is_not_ended(am):
    response = am.post(AM, _am_body(_am_alert("2026-11-23T07:00:00Z", GO_ZERO)), format="json")
    assert response.status_code == 200
    assert Alert.objects.get().ends_at is None
    # A firing alert's endsAt far ahead, even one that overflows in UTC, is "not ended" too.
    response = am.post(AM, _am_body(_am_alert("2026-11-23T07:00:00Z", YEAR_10000, instance="b")), format="json")
    assert response.status_code == 200
    assert Alert.objects.filter(ends_at__isnull=True).count() == 2


def test_a_resolved_alert_ending_out_of_range_is_refused(am):
    response = am.post(AM, _am_body(_am_alert("2026-11-23T07:00:00Z", YEAR_10000, status="resolved")), format="json")
    assert response.status_code == 400 and "alerts[0].endsAt" in _errors(response)
    for bad_end in ("2026-13-01T00:00:00Z", "later", "1970-01-01T00:00:00Z"):  # on a firing alert too
        response = am.post(AM, _am_body(_am_alert("2026-11-23T07:00:00Z", bad_end)), format="json")
        assert response.status_code == 400 and "alerts[0].endsAt" in _errors(response), bad_end
    assert _nothing_stored()


def test_only_the_exact_go_zero_time_means_not_ended_and_a_zero_start_is_refused(am):
    response = am.post(AM, _am_body(_am_alert(GO_ZERO)), format="json")
    assert response.status_code == 400 and "alerts[0].startsAt" in _errors(response)
    for almost in ("0001-02-03T00:00:00Z", "0001-01-01T00:00:00Zjunk"):
        response = am.post(AM, _am_body(_am_alert("2026-11-23T07:00:00Z", almost)), format="json")
        assert response.status_code == 400 and "alerts[0].endsAt" in _errors(response), almost
    assert _nothing_stored()


def test_a_resolved_alert_with_go_zero_end_resolves_now(am):
    am.post(AM, _am_body(_am_alert("2026-11-23T07:00:00Z")), format="json")
    response = am.post(AM, _am_body(_am_alert("2026-11-23T07:00:00Z", GO_ZERO, status="resolved")), format="json")
    assert response.status_code == 200
    alert = Alert.objects.get()
    assert alert.status == "resolved" and alert.ends_at is not None
    assert alert.incident.status == "resolved"


@pytest.mark.parametrize(
    "query", ["until=0001-01-01T00:00:00Z", "since=0001-01-01T00:00:00Z", "until=9999-12-31T23:59:59-05:00",
              "since=9999-12-31T00:00:00Z&until=9999-12-31T23:59:59Z"],
)  # fmt: skip
def test_an_analytics_window_outside_any_incident_is_a_400_not_a_500(api, query):
    response = api.get(f"/api/v1/incidents/analytics?{query}")
    assert response.status_code == 400
    assert set(_errors(response)) <= {"since", "until"}


# --- JSON ---------------------------------------------------------------------------------------------


def _nested(depth: int) -> bytes:
    """A JSON object whose innermost value sits `depth` containers deep."""
    return b'{"service": ' + b'{"a": ' * (depth - 1) + b"1" + b"}" * depth


JSON_ENDPOINTS = ["/api/v1/events", AM, "/api/v1/alerts", "/api/v1/incidents", "/api/v1/heartbeats"]


@pytest.mark.parametrize("depth", [65, 310, 5000, 200_000])
def test_json_deeper_than_64_levels_is_a_400_everywhere(api, depth):
    body = _nested(depth)
    for url in JSON_ENDPOINTS:
        response = api.post(url, body, content_type="application/json")
        assert response.status_code == 400, (url, response.status_code)
        assert "nested deeper than 64" in response.json()["detail"]
    # PagerDuty senders send no credentials: parsing comes first, and is refused the same way.
    response = APIClient().post(PD, body, content_type="application/json")
    assert response.status_code == 400 and "nested deeper than 64" in response.json()["detail"]
    assert _nothing_stored()


def test_json_64_levels_deep_is_parsed(responder_api):
    attributes = json.loads(_nested(64))["service"]  # 63 levels inside the event object = 64 in all
    event = {"service": "api", "level": "INFO", "message": "deep", "attributes": attributes}
    assert responder_api.post("/api/v1/events", event, format="json").status_code == 201
    event["attributes"] = {"one": "more", "level": attributes}
    assert responder_api.post("/api/v1/events", event, format="json").status_code == 400


def test_duplicate_json_keys_are_a_400(api, pd_key):
    body = b'{"service": "api", "level": "INFO", "message": "one", "message": "two"}'
    response = api.post("/api/v1/events", body, content_type="application/json")
    assert response.status_code == 400
    assert 'Duplicate key "message"' in response.json()["detail"]
    nested = b'{"alerts": [{"status": "firing", "labels": {"service": "a", "service": "b"}}]}'
    assert api.post(AM, nested, content_type="application/json").status_code == 400
    pd = json.dumps(_pd_event(pd_key))[:-1] + ', "event_action": "resolve"}'
    response = APIClient().post(PD, pd.encode(), content_type="application/json")
    assert response.status_code == 400 and "event_action" in response.json()["detail"]
    assert _nothing_stored()


# --- all or nothing, fields named ------------------------------------------------------------------------


def test_an_alertmanager_request_with_one_bad_alert_stores_nothing(am):
    body = _am_body(_am_alert("2026-11-23T07:00:00Z"), _am_alert("2026-11-23T07:00:00Z", service="s" * 256))
    response = am.post(AM, body, format="json")
    assert response.status_code == 400
    assert list(_errors(response)) == ["alerts[1].labels.service"]
    assert "character varying" not in response.content.decode()
    assert _nothing_stored()


def test_too_long_names_are_refused_by_field_on_every_alert_path(am, pd_key, api):
    cases = [
        (_am_body(_am_alert("2026-11-23T07:00:00Z", service="", job="j" * 256)), "alerts[0].labels.job"),
        ({**_am_body(_am_alert("2026-11-23T07:00:00Z")), "commonLabels": {"service": "c" * 256}},
         "commonLabels.service"),
        ({**_am_body(_am_alert("2026-11-23T07:00:00Z")), "alerts": [{**_am_alert("2026-11-23T07:00:00Z"),
                                                                      "fingerprint": "f" * 256}]},
         "alerts[0].fingerprint"),
    ]  # fmt: skip
    for body, field in cases:
        response = am.post(AM, body, format="json")
        assert response.status_code == 400 and field in _errors(response), (field, response.json())
    for name in ("source", "group", "component", "class"):
        response = APIClient().post(PD, _pd_event(pd_key, **{name: "x" * 256}), format="json")
        assert response.status_code == 400 and f"payload.{name}" in response.json()["detail"]
    response = APIClient().post(PD, {**_pd_event(pd_key), "dedup_key": "d" * 256}, format="json")
    assert response.status_code == 400 and "dedup_key" in response.json()["detail"]
    generic = {"service": "api", "severity": "high", "summary": "s", "dedup_key": "d" * 256}
    response = api.post("/api/v1/alerts", generic, format="json")
    assert response.status_code == 400 and "dedup_key" in _errors(response)
    assert _nothing_stored()


def test_the_longest_accepted_keys_fit_the_incident_key(am, pd_key, api):
    fingerprint = "f" * 255
    response = am.post(AM, _am_body({**_am_alert("2026-11-23T07:00:00Z"), "fingerprint": fingerprint}), format="json")
    assert response.status_code == 200
    response = APIClient().post(PD, {**_pd_event(pd_key, group="g" * 255), "dedup_key": "d" * 255}, format="json")
    assert response.status_code == 202
    generic = {"service": "api", "severity": "high", "summary": "s", "dedup_key": "k" * 255}
    assert api.post("/api/v1/alerts", generic, format="json").status_code == 202
    assert Incident.objects.count() == 3
    assert all(len(key) <= 255 for key in Incident.objects.values_list("source_key", flat=True))


def test_the_captured_alertmanager_payloads_are_still_accepted(am):
    for name in ("alertmanager-0.25-firing.json", "alertmanager-group-mixed.json", "prometheus-rule-firing.json"):
        body = copy.deepcopy(payload(name))
        assert am.post(AM, body, format="json").status_code == 200, name


# --- errors on API paths are JSON -------------------------------------------------------------------------


def test_api_errors_are_json(api, settings):
    response = api.get("/api/v1/incidents/abc")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json" and response.json() == {"detail": "Not found."}
    assert api.get("/api/v1/no-such-thing").json() == {"detail": "Not found."}

    big = b'{"service": "api", "level": "INFO", "message": "' + b"x" * (5 * 1024 * 1024) + b'"}'
    for url in ("/api/v1/events", PD, AM):
        response = api.post(url, big, content_type="application/json")
        assert response.status_code == 413, url
        assert response["Content-Type"] == "application/json"
        assert "Request body over" in response.json()["detail"]

    response = api.delete("/api/v1/events")
    assert response.status_code == 405 and response["Content-Type"] == "application/json"
    assert "DELETE" in response.json()["detail"]
    assert _nothing_stored()


def test_a_too_large_form_body_on_an_api_path_is_a_json_413(api):
    response = api.post("/api/v1/events", {"message": "x" * (5 * 1024 * 1024)})  # multipart, read by Django
    assert response.status_code in (413, 415)
    assert response["Content-Type"] == "application/json"


def test_server_errors_on_api_paths_are_json_and_pages_stay_html(rf):
    from opsassist.lib import exceptions

    response = exceptions.server_error(rf.get("/api/v1/incidents"))
    assert response.status_code == 500 and json.loads(response.content) == {"detail": "Internal server error."}
    assert exceptions.server_error(rf.get("/incidents/"))["Content-Type"].startswith("text/html")


def test_page_errors_stay_html(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
