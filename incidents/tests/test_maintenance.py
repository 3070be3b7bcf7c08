"""Maintenance windows: incidents recorded, nobody paged, nothing auto-approved; paged when the window ends."""

from datetime import timedelta

import pytest

from incidents import services
from incidents.models import MaintenanceWindow
from incidents.tests.paging_helpers import T0, at, open_incident, pages, paging_team, texts
from oncall import services as oncall_services

pytestmark = pytest.mark.django_db
URL = "/api/v1/maintenance"


def window(api, start, end, services_=("checkout",), comment="database upgrade"):
    body = {"starts_at": start.isoformat(), "ends_at": end.isoformat(), "services": list(services_), "comment": comment}
    return api.post(URL, body, format="json")


@pytest.fixture
def team(settings):
    return paging_team(settings)


def test_an_incident_during_maintenance_pages_nobody_then_pages_once_when_the_window_ends(
    responder_api, team, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    with at(T0, capture):
        response = window(responder_api, T0, T0 + timedelta(minutes=30))
    assert response.status_code == 201, response.content
    assert response.json()["created_by"] == "bob" and response.json()["active"] is True

    with at(T0 + timedelta(minutes=1), capture):
        incident = open_incident()
    incident.refresh_from_db()
    assert incident.in_maintenance and incident.paging_held
    assert pages() == 0
    assert any(text.startswith("Nobody was paged: in maintenance until") for text in texts(incident))

    with at(T0 + timedelta(minutes=20), capture):
        assert oncall_services.do_release_held() == []
        oncall_services.do_escalate_due()
    assert pages() == 0

    with at(T0 + timedelta(minutes=30), capture):
        assert oncall_services.do_release_held() == [incident.pk]
    with at(T0 + timedelta(minutes=31), capture):
        assert oncall_services.do_release_held() == []
    assert pages() == 1


def test_an_incident_resolved_during_maintenance_is_never_paged(
    responder_api, team, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    with at(T0, capture):
        window(responder_api, T0, T0 + timedelta(minutes=30))
        incident = open_incident()
        services.do_change_status(incident, "resolved", actor="test")
    with at(T0 + timedelta(minutes=31), capture):
        assert oncall_services.do_release_held() == []
    assert pages() == 0


def test_an_incident_acknowledged_during_maintenance_is_notified_when_the_window_ends(
    responder_api, team, django_capture_on_commit_callbacks
):
    """Still unresolved when the window ends: its assignee hears about it, without a new escalation."""
    from oncall.models import Escalation, Notification

    capture = django_capture_on_commit_callbacks
    with at(T0, capture):
        window(responder_api, T0, T0 + timedelta(minutes=30))
        incident = open_incident()
    with at(T0 + timedelta(minutes=5), capture):
        services.do_change_status(incident, "acknowledged", actor="test")
        services.do_assign(incident, responder_api.user, actor="test")
    with at(T0 + timedelta(minutes=30), capture):
        assert oncall_services.do_release_held() == [incident.pk]
    with at(T0 + timedelta(minutes=31), capture):
        assert oncall_services.do_release_held() == []
    assert list(Notification.objects.values_list("recipient", "event")) == [("bob", "escalation")]
    assert not Escalation.objects.filter(incident=incident).exists()
    assert any("acknowledged but unresolved, notifying without escalating; paging bob" in t for t in texts(incident))


def test_other_services_and_incidents_after_the_window_page_as_usual(
    responder_api, team, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    with at(T0, capture):
        window(responder_api, T0, T0 + timedelta(minutes=30), services_=("billing",))
        assert not open_incident().in_maintenance
    assert pages() == 1


def test_a_window_scheduled_ahead_is_listed_and_can_be_deleted(responder_api, viewer_api):
    ahead = T0 + timedelta(days=2)
    with at(T0):
        created = window(responder_api, ahead, ahead + timedelta(hours=2)).json()
        assert created["active"] is False
        listed = viewer_api.get(URL).json()
    assert [w["id"] for w in listed] == [created["id"]]
    assert viewer_api.delete(f"{URL}/{created['id']}").status_code == 403
    assert responder_api.delete(f"{URL}/{created['id']}").status_code == 204
    assert not MaintenanceWindow.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"ends_at": (T0 - timedelta(hours=1)).isoformat()}, "ends_at"),
        ({"ends_at": (T0 + timedelta(days=40)).isoformat()}, "ends_at"),
        ({"services": []}, "services"),
        ({"services": [""]}, "services"),
        ({"services": "checkout"}, "services"),
        ({"starts_at": "tomorrow"}, "starts_at"),
    ],
)
def test_a_bad_window_is_refused_naming_the_field_and_nothing_is_stored(responder_api, change, field):
    body = {"starts_at": T0.isoformat(), "ends_at": (T0 + timedelta(hours=1)).isoformat(), "services": ["checkout"]}
    with at(T0 - timedelta(minutes=1)):
        response = responder_api.post(URL, {**body, **change}, format="json")
    assert response.status_code == 400, response.content
    assert any(name.startswith(field) for name in response.json()["errors"])
    assert not MaintenanceWindow.objects.exists()


def test_a_viewer_cannot_schedule_maintenance(viewer_api):
    assert window(viewer_api, T0, T0 + timedelta(hours=1)).status_code == 403
