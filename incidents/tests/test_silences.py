"""Silences: matching incidents are recorded as silenced and not paged; paged if still open at the end."""

from datetime import timedelta

import pytest

from incidents import alerts
from incidents.models import Incident, Silence
from incidents.tests.paging_helpers import T0, at, pages, paging_team, texts
from oncall import services as oncall_services

pytestmark = pytest.mark.django_db
URL = "/api/v1/silences"


@pytest.fixture
def team(settings):
    return paging_team(settings)


def silence(api, matchers, ends_at=None, comment="known noisy canary"):
    body = {"matchers": matchers, "ends_at": (ends_at or T0 + timedelta(hours=1)).isoformat(), "comment": comment}
    return api.post(URL, body, format="json")


def fire(fingerprint, labels, service="checkout", severity="high") -> Incident:
    alert = alerts.AlertIn(
        source="generic", fingerprint=fingerprint, status="firing", service=service, severity=severity,
        summary=f"{fingerprint} firing", labels=labels,
    )  # fmt: skip
    return alerts.do_fire(alert, incident_key=fingerprint, actor="test")[1]


def test_a_matching_alert_is_recorded_silenced_and_pages_nobody_until_the_silence_ends(
    responder_api, team, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    with at(T0, capture):
        response = silence(responder_api, {"service": "checkout", "labels": {"env": "=~prod|staging"}})
        assert response.status_code == 201, response.content
        assert response.json()["created_by"] == "bob"
        quiet = fire("canary-prod", {"env": "prod"})
    quiet.refresh_from_db()
    assert quiet.silenced and pages() == 0
    assert any(text.startswith("Nobody was paged: silenced until") for text in texts(quiet))

    with at(T0 + timedelta(minutes=10), capture):
        loud = fire("canary-dev", {"env": "dev"})
    assert not Incident.objects.get(pk=loud.pk).silenced
    assert pages() == 1

    with at(T0 + timedelta(minutes=59), capture):
        assert oncall_services.do_release_held() == []
    with at(T0 + timedelta(hours=1), capture):
        assert oncall_services.do_release_held() == [quiet.pk]
    assert pages() == 2


def test_exact_matchers_on_source_and_severity(responder_api, team, django_capture_on_commit_callbacks):
    with at(T0, django_capture_on_commit_callbacks):
        silence(responder_api, {"source": "alert", "severity": "low"})
        assert not Incident.objects.get(pk=fire("a", {}, severity="high").pk).silenced
        assert Incident.objects.get(pk=fire("b", {}, severity="low").pk).silenced
    assert pages() == 1


def test_deleting_a_silence_ends_it(responder_api, team, django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks
    with at(T0, capture):
        created = silence(responder_api, {"service": "checkout"}).json()
        quiet = fire("x", {})
    with at(T0 + timedelta(minutes=1), capture):
        assert responder_api.delete(f"{URL}/{created['id']}").status_code == 204
        assert oncall_services.do_release_held() == [quiet.pk]
    assert pages() == 1


def test_silences_are_listed_for_viewers_but_only_responders_create_them(responder_api, viewer_api):
    with at(T0):
        silence(responder_api, {"service": "checkout"})
        listed = viewer_api.get(URL).json()
        assert silence(viewer_api, {"service": "checkout"}).status_code == 403
    assert [s["matchers"] for s in listed] == [{"service": "checkout"}]
    assert listed[0]["active"] is True


@pytest.mark.parametrize(
    ("matchers", "field"),
    [
        ({}, "matchers"),
        ("service=checkout", "matchers"),
        ({"team": "payments"}, "matchers"),
        ({"service": "=~(unclosed"}, "matchers.service"),
        ({"service": "=~" + "a" * 300}, "matchers.service"),
        ({"severity": 3}, "matchers.severity"),
        ({"severity": "P7"}, "matchers.severity"),
        ({"source": "bogus"}, "matchers.source"),
        ({"source": "Alert"}, "matchers.source"),
        ({"labels": {"env": "=~[z-a]"}}, "matchers.labels.env"),
        ({"labels": []}, "matchers.labels"),
    ],
)
def test_a_bad_matcher_is_refused_naming_the_field_and_nothing_is_stored(responder_api, matchers, field):
    with at(T0):
        response = silence(responder_api, matchers)
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
    assert not Silence.objects.exists()


def test_a_silence_must_end_in_the_future_and_within_the_limit(responder_api):
    with at(T0):
        past = silence(responder_api, {"service": "checkout"}, ends_at=T0 - timedelta(minutes=1))
        far = silence(responder_api, {"service": "checkout"}, ends_at=T0 + timedelta(days=60))
    assert past.status_code == far.status_code == 400
    assert "ends_at" in past.json()["errors"] and "ends_at" in far.json()["errors"]


def test_a_pathological_regex_matches_in_linear_time(responder_api, team):
    with at(T0):
        assert silence(responder_api, {"service": "=~(a+)+$"}).status_code == 201
        assert not fire("redos", {}, service="a" * 200 + "!").silenced


def test_a_severity_matcher_takes_what_incidents_accept(responder_api, team, django_capture_on_commit_callbacks):
    with at(T0, django_capture_on_commit_callbacks):
        response = silence(responder_api, {"severity": "P1"})
        assert response.status_code == 201 and response.json()["matchers"] == {"severity": "critical"}
        assert Incident.objects.get(pk=fire("a", {}, severity="critical").pk).silenced


def test_an_unknown_source_lists_the_allowed_ones(responder_api):
    with at(T0):
        response = silence(responder_api, {"source": "bogus"})
    assert response.status_code == 400 and "checkin" in response.json()["errors"]["matchers.source"][0]
