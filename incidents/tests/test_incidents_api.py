from datetime import timedelta

import pytest
from django.utils import timezone

from incidents.models import Incident
from incidents.tests.factories import EventFactory, IncidentFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/incidents"
CONTRACT_FIELDS = {
    "id", "uuid", "title", "description", "service", "component", "host", "source", "severity", "priority",
    "status", "category", "summary", "recommended_actions", "root_cause", "resolution_notes", "event_count",
    "alert_count", "assigned_to", "detected_at", "acknowledged_at", "resolved_at", "closed_at", "updated_at",
    "time_to_acknowledge_seconds", "time_to_resolve_seconds", "duration_seconds",
}  # fmt: skip


def test_it_lists_newest_first_with_every_contract_field(api):
    old = IncidentFactory(detected_at=timezone.now() - timedelta(hours=1))
    new = IncidentFactory()
    response = api.get(URL)
    assert response.status_code == 200
    body = response.json()
    assert [i["id"] for i in body] == [new.pk, old.pk]
    assert set(body[0]) >= CONTRACT_FIELDS
    assert body[0]["priority"] == "P2"
    assert response["X-Total-Count"] == "2"


def test_it_pages_with_link_headers(api):
    for _ in range(5):
        IncidentFactory()
    response = api.get(URL, {"limit": 2, "offset": 2})
    assert len(response.json()) == 2
    assert 'rel="next"' in response["Link"] and 'rel="prev"' in response["Link"]
    assert "offset=4" in response["Link"]


def test_limit_is_capped_at_500(api):
    IncidentFactory()
    assert api.get(URL, {"limit": 100000}).status_code == 200


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"status": "open"}, {"a"}),
        ({"status": "acknowledged,resolved"}, {"b", "c"}),
        ({"status": "investigating"}, {"b"}),
        ({"severity": "critical"}, {"a"}),
        ({"severity": "P2"}, {"b", "c"}),
        ({"service": "api"}, {"b"}),
        ({"source": "events"}, {"c"}),
    ],
)
def test_it_filters(api, query, expected):
    IncidentFactory(title="a", status="open", severity="critical", service="db")
    IncidentFactory(title="b", status="acknowledged", severity="high", service="api")
    IncidentFactory(title="c", status="resolved", severity="high", service="db", source="events", source_key="")
    titles = {i["title"] for i in api.get(URL, query).json()}
    assert titles == expected


def test_a_bad_filter_is_a_400(api):
    assert api.get(URL, {"status": "sleeping"}).status_code == 400
    assert api.get(URL, {"source": "nowhere"}).status_code == 400


def test_the_list_uses_a_fixed_number_of_queries(api, django_assert_num_queries, admin_user):
    for _ in range(20):
        IncidentFactory(assigned_to=admin_user)
    with django_assert_num_queries(3):  # token + user, count, page (assignees joined)
        api.get(URL)


def test_detail_has_events_notes_timeline_and_alerts(api):
    incident = IncidentFactory()
    EventFactory.create_batch(3, incident=incident)
    api.post(f"{URL}/{incident.pk}/notes", {"text": "looking"}, format="json")
    body = api.get(f"{URL}/{incident.pk}").json()
    assert len(body["events"]) == 3
    assert body["notes"][0]["text"] == "looking" and body["notes"][0]["author"] == "alice"
    assert [e["kind"] for e in body["timeline"]] == ["note"]
    assert set(body["timeline"][0]) == {"at", "kind", "actor", "text", "data"}
    assert body["alerts"] == []


def test_detail_404s(api):
    assert api.get(f"{URL}/999999").status_code == 404
    assert api.get(f"{URL}/nope").status_code == 404


def test_manual_create(api):
    response = api.post(URL, {"title": "Checkout down", "service": "checkout", "severity": "P1"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["source"] == "manual" and body["severity"] == "critical" and body["priority"] == "P1"
    assert body["status"] == "open"
    # Two manual incidents for one service are two incidents.
    api.post(URL, {"title": "Again", "service": "checkout", "severity": "low"}, format="json")
    assert Incident.objects.filter(service="checkout").count() == 2


def test_manual_create_names_missing_fields(api):
    response = api.post(URL, {"severity": "urgent"}, format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"title", "service", "severity"}
    assert Incident.objects.count() == 0


def test_patch_changes_fields_assigns_notes_and_moves(api, responder):
    incident = IncidentFactory()
    payload = {
        "status": "acknowledged", "severity": "warning", "assigned_to": "bob", "title": "New title",
        "root_cause": "pool exhausted", "note": "on it",
    }  # fmt: skip
    response = api.patch(f"{URL}/{incident.pk}", payload, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "acknowledged" and body["severity"] == "medium" and body["assigned_to"] == "bob"
    assert body["title"] == "New title" and body["root_cause"] == "pool exhausted"
    kinds = {e.kind for e in incident.timeline.all()}
    assert kinds == {"status_change", "assignment", "note", "update"}


def test_patch_is_all_or_nothing(api):
    incident = IncidentFactory(title="Keep")
    response = api.patch(f"{URL}/{incident.pk}", {"title": "Changed", "assigned_to": "ghost"}, format="json")
    assert response.status_code == 400
    assert "assigned_to" in response.json()["errors"]
    incident.refresh_from_db()
    assert incident.title == "Keep"


def test_patch_refuses_unknown_fields_and_bad_moves(api):
    incident = IncidentFactory(status="closed")
    assert "id" in api.patch(f"{URL}/{incident.pk}", {"id": 5}, format="json").json()["errors"]
    response = api.patch(f"{URL}/{incident.pk}", {"status": "open"}, format="json")
    assert response.status_code == 400
    assert "closed" in response.json()["detail"] and "open" in response.json()["detail"]


def test_status_endpoint(api):
    incident = IncidentFactory()
    response = api.patch(f"{URL}/{incident.pk}/status", {"status": "resolved"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "resolved"
    assert response.json()["time_to_resolve_seconds"] is not None
    again = api.patch(f"{URL}/{incident.pk}/status", {"status": "resolved"}, format="json")
    assert again.status_code == 200
    bad = api.patch(f"{URL}/{incident.pk}/status", {"status": "acknowledged"}, format="json")
    assert bad.status_code == 400
    assert api.patch(f"{URL}/{incident.pk}/status", {"status": "gone"}, format="json").status_code == 400
    assert api.patch(f"{URL}/{incident.pk}/status", {}, format="json").status_code == 400


def test_notes(api):
    incident = IncidentFactory()
    response = api.post(f"{URL}/{incident.pk}/notes", {"text": "restarted pgbouncer"}, format="json")
    assert response.status_code == 201
    assert response.json()["author"] == "alice"
    assert api.post(f"{URL}/{incident.pk}/notes", {"text": ""}, format="json").status_code == 400
    assert len(api.get(f"{URL}/{incident.pk}/notes").json()) == 1


def test_viewer_can_read_but_not_change(viewer_api):
    incident = IncidentFactory()
    assert viewer_api.get(URL).status_code == 200
    assert viewer_api.patch(f"{URL}/{incident.pk}/status", {"status": "resolved"}, format="json").status_code == 403
    assert viewer_api.post(URL, {"title": "t", "service": "s", "severity": "low"}, format="json").status_code == 403


def test_responder_can_work_incidents(responder_api):
    incident = IncidentFactory()
    response = responder_api.patch(f"{URL}/{incident.pk}/status", {"status": "acknowledged"}, format="json")
    assert response.status_code == 200


def test_anonymous_gets_401(anon_api):
    assert anon_api.get(URL).status_code == 401
