"""Snooze: no escalation or notification until then; pages again if still unresolved afterwards."""

from datetime import timedelta

import pytest

from incidents.models import Incident
from incidents.tests.paging_helpers import T0, at, open_incident, pages, paging_team, texts
from oncall import services as oncall_services
from oncall.models import Escalation, Notification

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(settings):
    return paging_team(settings)


def snooze(api, incident, minutes):
    return api.post(f"/api/v1/incidents/{incident.pk}/snooze", {"minutes": minutes}, format="json")


def test_a_snoozed_incident_is_quiet_until_the_snooze_ends_then_pages_again(
    responder_api, team, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    with at(T0, capture):
        incident = open_incident()
    assert pages() == 1

    with at(T0 + timedelta(minutes=1), capture):
        response = snooze(responder_api, incident, 30)
    assert response.status_code == 200, response.content
    assert response.json()["snoozed_until"] == "2026-01-06T12:31:00Z"

    for minutes in (6, 15, 30):  # escalation steps fall due; the snooze holds them
        with at(T0 + timedelta(minutes=minutes), capture):
            oncall_services.do_escalate_due()
            oncall_services.do_release_held()
    assert pages() == 1
    assert "Nobody was paged: snoozed until 2026-01-06 12:31 UTC." not in texts(incident)  # held at snooze

    with at(T0 + timedelta(minutes=31), capture):
        assert oncall_services.do_release_held() == [incident.pk]
        assert oncall_services.do_release_held() == []
    assert pages() == 2
    assert Notification.objects.order_by("id").last().event == "escalation"
    assert Escalation.objects.get().round == 1
    assert "Snooze over; still unresolved: paging again." in texts(Incident.objects.get(pk=incident.pk))


def test_a_snooze_that_outlives_the_incident_pages_nobody(responder_api, team, django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks
    with at(T0, capture):
        incident = open_incident()
    with at(T0 + timedelta(minutes=1), capture):
        snooze(responder_api, incident, 10)
        responder_api.post(f"/api/v1/incidents/{incident.pk}/status", {"status": "resolved"}, format="json")
    with at(T0 + timedelta(minutes=12), capture):
        assert oncall_services.do_release_held() == []
    assert pages() == 1


def test_an_acknowledged_then_snoozed_incident_pages_its_assignee_again(
    responder_api, team, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    with at(T0, capture):
        incident = open_incident()
    with at(T0 + timedelta(minutes=1), capture):
        responder_api.post(f"/api/v1/incidents/{incident.pk}/status", {"status": "acknowledged"}, format="json")
        snooze(responder_api, incident, 60)
    with at(T0 + timedelta(minutes=61), capture):
        assert oncall_services.do_release_held() == [incident.pk]
    assert pages() == 2
    assert Notification.objects.order_by("id").last().recipient == "ann"


@pytest.mark.parametrize("minutes", [0, 1441, -5, "ten", None, 2.5])
def test_bad_minutes_are_refused_naming_the_field(responder_api, team, minutes):
    incident = open_incident()
    response = snooze(responder_api, incident, minutes)
    assert response.status_code == 400, response.content
    assert "minutes" in response.json()["errors"]
    assert Incident.objects.get(pk=incident.pk).snoozed_until is None


def test_a_resolved_incident_cannot_be_snoozed(responder_api, team):
    incident = open_incident()
    responder_api.post(f"/api/v1/incidents/{incident.pk}/status", {"status": "resolved"}, format="json")
    assert snooze(responder_api, incident, 5).status_code == 409


def test_a_viewer_cannot_snooze(viewer_api, team):
    assert snooze(viewer_api, open_incident(), 5).status_code == 403


def test_snoozed_until_is_null_once_the_snooze_is_over_or_the_incident_resolved(
    responder_api, team, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    with at(T0, capture):
        first, second = open_incident(), open_incident(service="payments")
    with at(T0 + timedelta(minutes=1), capture):
        snooze(responder_api, first, 10)
        snooze(responder_api, second, 60)
    with at(T0 + timedelta(minutes=12), capture):  # before the release job ran: already reported as over
        assert responder_api.get(f"/api/v1/incidents/{first.pk}").json()["snoozed_until"] is None
        oncall_services.do_release_held()
        responder_api.post(f"/api/v1/incidents/{second.pk}/status", {"status": "resolved"}, format="json")
    assert Incident.objects.get(pk=first.pk).snoozed_until is None
    assert Incident.objects.get(pk=second.pk).snoozed_until is None
    with at(T0 + timedelta(minutes=13)):
        listed = responder_api.get("/api/v1/incidents").json()
    assert [item["snoozed_until"] for item in listed] == [None, None]
