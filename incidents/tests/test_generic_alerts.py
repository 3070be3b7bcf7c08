import pytest

from incidents.models import Incident
from incidents.tests.integrations_helpers import integration_client

pytestmark = pytest.mark.django_db

URL = "/api/v1/alerts"


def alert(status="firing", **extra):
    return {"dedup_key": "db-1-replication", "service": "db", "severity": "P1", "summary": "Replication lag 300s",
            "status": status, "labels": {"replica": "db-2"}, **extra}  # fmt: skip


def test_firing_then_resolved(api):
    response = api.post(URL, alert(), format="json")
    assert response.status_code == 202
    incident_id = response.json()["incident_id"]
    api.post(URL, alert(), format="json")
    assert Incident.objects.get().pk == incident_id
    assert Incident.objects.get().severity == "critical"
    assert api.post(URL, alert("resolved"), format="json").json()["incident_id"] == incident_id
    assert Incident.objects.get().status == "resolved"


def test_a_generic_key_can_send_alerts_and_events_but_read_nothing():
    client, _, _ = integration_client("generic")
    assert client.post(URL, alert(), format="json").status_code == 202
    event = {"service": "s", "level": "ERROR", "message": "m"}
    assert client.post("/api/v1/events", event, format="json").status_code == 201
    assert client.get("/api/v1/incidents").status_code == 403
    assert client.get("/api/v1/events").status_code == 403
    assert client.get("/api/v1/me").status_code == 403


@pytest.mark.parametrize(("field", "value"), [("service", ""), ("severity", "meh"), ("summary", ""), ("status", "x")])
def test_bad_fields_are_named(api, field, value):
    response = api.post(URL, alert(**{field: value}), format="json")
    assert response.status_code == 400 and field in response.json()["errors"]
    assert not Incident.objects.exists()


def test_viewers_cannot_send_alerts(viewer_api):
    assert viewer_api.post(URL, alert(), format="json").status_code == 403
