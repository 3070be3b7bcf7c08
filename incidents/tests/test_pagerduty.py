"""PagerDuty Events API v2 bodies as PagerDuty documents them."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient

from incidents.models import Alert, Incident
from incidents.tests.integrations_helpers import integration_client

pytestmark = pytest.mark.django_db

URL = "/api/v1/integrations/pagerduty"


@pytest.fixture
def key():
    return integration_client("pagerduty", service="payments")[2]


def event(key, action="trigger", dedup_key="srv01/HTTP", **payload):
    body = {"routing_key": key, "event_action": action, "dedup_key": dedup_key}
    if action == "trigger":
        body["payload"] = {"summary": "DISK at 99% on machine prod-datapipe03.example.com",
                           "source": "prod-datapipe03.example.com", "severity": "critical",
                           "component": "mysql", "group": "prod-datapipe", "class": "disk",
                           "custom_details": {"free space": "1%"}, **payload}  # fmt: skip
    return body


def test_trigger_opens_one_incident_per_dedup_key(key):
    client = APIClient()  # PagerDuty senders send no auth header
    response = client.post(URL, event(key), format="json")
    assert response.status_code == 202
    assert response.json() == {"status": "success", "message": "Event processed", "dedup_key": "srv01/HTTP"}
    client.post(URL, event(key), format="json")
    incident = Incident.objects.get()
    assert incident.source == "alert" and incident.severity == "critical"
    assert incident.service == "payments" and incident.component == "mysql"
    assert incident.host == "prod-datapipe03.example.com"
    assert incident.title.startswith("DISK at 99%")


def test_a_missing_dedup_key_is_generated_and_returned(key):
    body = event(key)
    del body["dedup_key"]
    dedup_key = APIClient().post(URL, body, format="json").json()["dedup_key"]
    assert Alert.objects.get().fingerprint == dedup_key


def test_acknowledge_then_resolve(key):
    client = APIClient()
    client.post(URL, event(key), format="json")
    assert client.post(URL, event(key, "acknowledge"), format="json").status_code == 202
    assert Incident.objects.get().status == "acknowledged"
    client.post(URL, event(key, "resolve"), format="json")
    assert Incident.objects.get().status == "resolved"
    with time_machine.travel(timezone.now() + timedelta(minutes=16)):  # fires again, past FLAP_WINDOW_SECONDS
        client.post(URL, event(key), format="json")  # a new incident
    assert Incident.objects.filter(status="open").count() == 1 and Incident.objects.count() == 2


def test_severity_words_map(key):
    client = APIClient()
    for i, (word, expected) in enumerate([("error", "high"), ("warning", "medium"), ("info", "low")]):
        client.post(URL, event(key, dedup_key=f"k{i}", severity=word), format="json")
        assert Incident.objects.get(source_key=f"pd:k{i}").severity == expected


def test_resolve_of_an_unknown_key_is_accepted(key):
    assert APIClient().post(URL, event(key, "resolve", dedup_key="never-seen"), format="json").status_code == 202
    assert not Incident.objects.exists()


@pytest.mark.parametrize(
    ("mutate", "word"),
    [
        (lambda b: b.update(event_action="explode"), "event_action"),
        (lambda b: b["payload"].pop("summary"), "payload.summary"),
        (lambda b: b["payload"].pop("source"), "payload.source"),
        (lambda b: b["payload"].update(severity="urgent"), "payload.severity"),
        (lambda b: b.pop("payload"), "payload"),
        (lambda b: b["payload"].update(summary="x" * 1025), "payload.summary"),
    ],
)
def test_invalid_events_get_pagerduty_style_errors(key, mutate, word):
    body = event(key)
    mutate(body)
    response = APIClient().post(URL, body, format="json")
    assert response.status_code == 400
    assert response.json()["status"] == "invalid event"
    assert any(word in message for message in response.json()["errors"])
    assert not Incident.objects.exists()


def test_resolve_needs_a_dedup_key(key):
    body = event(key, "resolve")
    del body["dedup_key"]
    response = APIClient().post(URL, body, format="json")
    assert response.status_code == 400 and "dedup_key" in response.json()["errors"][0]


def test_a_bad_routing_key_is_401(key):
    response = APIClient().post(URL, event("oa_not-a-key"), format="json")
    assert response.status_code == 401
    assert not Incident.objects.exists()


def test_an_alertmanager_key_cannot_be_a_routing_key():
    _, _, am_key = integration_client("alertmanager")
    assert APIClient().post(URL, event(am_key), format="json").status_code == 401


def test_a_disabled_integration_is_refused(key):
    from incidents.models import Integration

    Integration.objects.update(enabled=False)
    assert APIClient().post(URL, event(key), format="json").status_code == 401
