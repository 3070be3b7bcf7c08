"""Alertmanager webhooks in the exact shapes Alertmanager 0.25 sends (captured payloads)."""

import copy
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from incidents.models import Alert, Incident
from incidents.tests.integrations_helpers import integration_client, payload

pytestmark = pytest.mark.django_db

URL = "/api/v1/integrations/alertmanager"


@pytest.fixture
def am():
    client, integration, _ = integration_client("alertmanager", service="infra")
    client.integration = integration
    return client


def test_a_firing_alert_opens_an_incident(am):
    response = am.post(URL, payload("alertmanager-0.25-firing.json"), format="json")
    assert response.status_code == 200
    incident = Incident.objects.get()
    alert = Alert.objects.get()
    assert incident.source == "alert" and incident.status == "open"
    assert incident.alert_count == 1
    assert alert.incident == incident and alert.status == "firing"
    assert alert.fingerprint == payload("alertmanager-0.25-firing.json")["alerts"][0]["fingerprint"]
    assert alert.ends_at is None  # 0001-01-01 means no end
    assert incident.timeline.filter(kind="alert").count() == 1


def test_repeats_are_idempotent(am):
    for _ in range(5):
        am.post(URL, payload("alertmanager-0.25-firing.json"), format="json")
    incident = Incident.objects.get()
    assert Alert.objects.count() == 1
    assert incident.timeline.filter(kind="alert").count() == 1


def test_resolved_resolves_the_incident(am):
    am.post(URL, payload("alertmanager-0.25-firing.json"), format="json")
    am.post(URL, payload("alertmanager-0.25-resolved.json"), format="json")
    incident = Incident.objects.get()
    assert incident.status == "resolved"
    assert "every alert" in incident.resolution_notes
    am.post(URL, payload("alertmanager-0.25-resolved.json"), format="json")  # repeat: nothing new
    assert incident.timeline.filter(kind="status_change").count() == 1


def test_prometheus_rule_alert_takes_service_severity_and_summary(am):
    am.post(URL, payload("prometheus-rule-firing.json"), format="json")
    incident = Incident.objects.get()
    assert incident.service == "checkout"
    assert incident.severity == "critical"
    assert incident.title == "checkout is failing (demo gauge = 1)"
    assert "> 0" in incident.description  # \u003e arrives as >
    am.post(URL, payload("prometheus-rule-resolved.json"), format="json")
    incident.refresh_from_db()
    assert incident.status == "resolved"


def test_a_group_with_one_resolved_alert_stays_open_until_all_resolve(am):
    group = payload("alertmanager-group-mixed.json")
    both_firing = copy.deepcopy(group)
    for alert in both_firing["alerts"]:
        alert["status"] = "firing"
    am.post(URL, both_firing, format="json")
    incident = Incident.objects.get()
    assert incident.alert_count == 2 and incident.service == "db" and incident.severity == "medium"

    am.post(URL, group, format="json")  # partial resolution: top-level status still firing
    incident.refresh_from_db()
    assert incident.status == "open"
    assert Alert.objects.get(fingerprint="eaf09244f2c30009").status == "resolved"

    all_resolved = copy.deepcopy(group)
    all_resolved["status"] = "resolved"
    for alert in all_resolved["alerts"]:
        alert["status"] = "resolved"
    am.post(URL, all_resolved, format="json")
    incident.refresh_from_db()
    assert incident.status == "resolved"


def test_per_alert_grouping(am):
    am.integration.grouping = "alert"
    am.integration.save()
    group = payload("alertmanager-group-mixed.json")
    for alert in group["alerts"]:
        alert["status"] = "firing"
    am.post(URL, group, format="json")
    assert Incident.objects.count() == 2


def test_refiring_after_resolution_opens_a_new_incident(am):
    am.post(URL, payload("alertmanager-0.25-firing.json"), format="json")
    am.post(URL, payload("alertmanager-0.25-resolved.json"), format="json")
    with time_machine.travel(timezone.now() + timedelta(minutes=16)):  # past FLAP_WINDOW_SECONDS
        am.post(URL, payload("alertmanager-0.25-firing.json"), format="json")
    assert Incident.objects.count() == 2
    assert Incident.objects.filter(status="open").count() == 1


def test_refiring_soon_after_resolution_reopens_the_same_incident(am):
    am.post(URL, payload("alertmanager-0.25-firing.json"), format="json")
    am.post(URL, payload("alertmanager-0.25-resolved.json"), format="json")
    am.post(URL, payload("alertmanager-0.25-firing.json"), format="json")
    assert Incident.objects.get().status == "open"


def test_unknown_fields_are_ignored(am):
    body = payload("alertmanager-0.25-firing.json")
    body["futureField"] = {"x": 1}
    body["alerts"][0]["newThing"] = [1, 2]
    assert am.post(URL, body, format="json").status_code == 200


def test_service_falls_back_to_job_then_the_integration(am):
    body = payload("alertmanager-0.25-firing.json")
    labels = body["alerts"][0]["labels"]
    labels.pop("service", None)
    labels["job"] = "node"
    body["commonLabels"] = {}
    body["groupKey"] = ""
    am.post(URL, body, format="json")
    assert Incident.objects.get().service == "node"
    labels.pop("job")
    body["alerts"][0]["fingerprint"] = "other"
    am.post(URL, body, format="json")
    assert Incident.objects.filter(service="infra").exists()


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b.pop("alerts"), "alerts"),
        (lambda b: b.update(alerts=[]), "alerts"),
        (lambda b: b["alerts"][0].update(status="pending"), "alerts[0].status"),
        (lambda b: b["alerts"][0].update(labels="x"), "alerts[0].labels"),
        (lambda b: b["alerts"][0].update(startsAt="yesterday"), "alerts[0].startsAt"),
    ],
)
def test_malformed_bodies_are_400_naming_the_field(am, mutate, field):
    body = payload("alertmanager-0.25-firing.json")
    mutate(body)
    response = am.post(URL, body, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not Incident.objects.exists() and not Alert.objects.exists()


def test_not_json_is_400(am):
    assert am.post(URL, "{nope", content_type="application/json").status_code == 400


def test_a_token_header_works_too(api):
    assert api.post(URL, payload("alertmanager-0.25-firing.json"), format="json").status_code == 200


def test_without_a_key_401_and_a_pagerduty_key_403(anon_api):
    assert anon_api.post(URL, payload("alertmanager-0.25-firing.json"), format="json").status_code == 401
    pd, _, _ = integration_client("pagerduty")
    assert pd.post(URL, payload("alertmanager-0.25-firing.json"), format="json").status_code == 403
