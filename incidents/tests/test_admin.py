import pytest

from incidents.tests.factories import IncidentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def test_the_triage_list_filters_and_searches(admin_client):
    IncidentFactory(title="Checkout slow", service="checkout")
    response = admin_client.get("/admin/incidents/incident/", {"status__exact": "open", "q": "checkout"})
    assert response.status_code == 200
    assert b"Checkout slow" in response.content


def test_bulk_actions_go_through_the_lifecycle(admin_client):
    open_one = IncidentFactory(status="open")
    closed_one = IncidentFactory(status="closed")
    response = admin_client.post(
        "/admin/incidents/incident/",
        {"action": "acknowledge", "_selected_action": [open_one.pk, closed_one.pk]},
        follow=True,
    )
    assert response.status_code == 200
    open_one.refresh_from_db()
    closed_one.refresh_from_db()
    assert open_one.status == "acknowledged"
    assert open_one.timeline.filter(kind="status_change", actor="alice").exists()
    assert closed_one.status == "closed"
    assert b"Refused" in response.content


def test_the_change_page_shows_the_timeline(admin_client):
    incident = IncidentFactory()
    admin_client.post(f"/admin/incidents/incident/{incident.pk}/change/", {})  # invalid form is fine
    response = admin_client.get(f"/admin/incidents/incident/{incident.pk}/change/")
    assert response.status_code == 200
    assert b"Timeline" in response.content or b"timeline" in response.content
