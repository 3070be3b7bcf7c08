"""Grafana OnCall compatible inbound URLs: /integrations/v1/<type>/<token>/ in OnCall's formats."""

import pytest
from rest_framework.test import APIClient

from incidents.models import Alert, Incident, Integration

pytestmark = pytest.mark.django_db

TOKEN = "Q2lXy7rVb9eJg4mZkN1aPcT0s"


@pytest.fixture
def integration():
    return Integration.objects.create(name="Prometheus (OnCall)", kind="alertmanager", service="payments-alerts",
                                      key_prefix=TOKEN[:10], key_hash=Integration.hash_key(TOKEN))  # fmt: skip


def alertmanager_body(status="firing", **extra):
    alert = {"status": status, "labels": {"alertname": "HighLatency", "job": "api", "severity": "critical"},
             "annotations": {"summary": "p99 latency above 2s"}, "startsAt": "2026-01-05T10:00:00Z",
             "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prom/graph", "fingerprint": "abc1"}  # fmt: skip
    return {"version": "4", "groupKey": '{}:{alertname="HighLatency"}', "status": status, "receiver": "oncall",
            "groupLabels": {"alertname": "HighLatency"}, "commonLabels": {"alertname": "HighLatency", "job": "api"},
            "commonAnnotations": {}, "externalURL": "http://alertmanager:9093", "truncatedAlerts": 0,
            "alerts": [{**alert, **extra}]}  # fmt: skip


def post(path, body, **kwargs):
    return APIClient().post(path, body, format="json", **kwargs)


def test_an_alertmanager_webhook_on_the_oncall_url_opens_an_incident_for_the_integrations_service(integration):
    response = post(f"/integrations/v1/alertmanager/{TOKEN}/", alertmanager_body())
    assert response.status_code == 200, response.content
    incident = Incident.objects.get()
    assert incident.service == "payments-alerts"  # the integration routes, not the `job` label
    assert incident.severity == "critical"
    assert post(f"/integrations/v1/alertmanager/{TOKEN}/", alertmanager_body("resolved")).status_code == 200
    incident.refresh_from_db()
    assert incident.status == "resolved"


def test_the_url_works_without_the_trailing_slash(integration):
    assert post(f"/integrations/v1/alertmanager/{TOKEN}", alertmanager_body()).status_code == 200


def test_a_grafana_alerting_body_with_its_extras_is_accepted(integration):
    body = alertmanager_body(values={"B": 2.5}, valueString="[ var='B' value=2.5 ]", silenceURL="http://g/s",
                             dashboardURL="", panelURL="")  # fmt: skip
    body.update(orgId=1, title="[FIRING:1] HighLatency", state="alerting", message="**Firing**")
    response = post(f"/integrations/v1/grafana_alerting/{TOKEN}/", body)
    assert response.status_code == 200, response.content
    assert Incident.objects.get().title == "p99 latency above 2s"


def test_an_unknown_token_is_refused_and_nothing_is_stored(integration):
    response = post("/integrations/v1/alertmanager/not-a-token/", alertmanager_body())
    assert response.status_code == 401
    assert not Alert.objects.exists()


def test_a_disabled_integrations_token_is_refused(integration):
    Integration.objects.filter(pk=integration.pk).update(enabled=False)
    assert post(f"/integrations/v1/alertmanager/{TOKEN}/", alertmanager_body()).status_code == 401


def test_a_pagerduty_integrations_key_cannot_post_alertmanager_bodies(integration):
    Integration.objects.filter(pk=integration.pk).update(kind="pagerduty")
    assert post(f"/integrations/v1/alertmanager/{TOKEN}/", alertmanager_body()).status_code == 403


def test_a_timestamp_out_of_range_is_refused_naming_the_field_and_nothing_is_stored(integration):
    body = alertmanager_body(startsAt="1990-01-01T00:00:00Z")
    response = post(f"/integrations/v1/alertmanager/{TOKEN}/", body)
    assert response.status_code == 400
    assert "startsAt" in response.content.decode()
    assert not Alert.objects.exists() and not Incident.objects.exists()


def test_duplicate_keys_are_refused(integration):
    raw = '{"alerts": [], "alerts": []}'
    response = APIClient().post(f"/integrations/v1/alertmanager/{TOKEN}/", raw, content_type="application/json")
    assert response.status_code == 400


def test_a_webhook_fires_then_state_ok_resolves(integration):
    Integration.objects.filter(pk=integration.pk).update(kind="generic")
    body = {"alert_uid": "08d6891a-835c-e661", "title": "TestAlert: The whole system is down",
            "state": "alerting", "message": "Oh no!", "link_to_upstream_details": "https://x.example/"}  # fmt: skip
    assert post(f"/integrations/v1/webhook/{TOKEN}/", body).status_code == 200
    incident = Incident.objects.get()
    assert incident.title == "TestAlert: The whole system is down"
    assert incident.service == "payments-alerts"
    assert post(f"/integrations/v1/formatted_webhook/{TOKEN}/", {**body, "state": "ok"}).status_code == 200
    incident.refresh_from_db()
    assert incident.status == "resolved"


def test_a_link_to_a_host_without_a_domain_is_accepted_and_only_http_links_are_kept(integration):
    Integration.objects.filter(pk=integration.pk).update(kind="generic")
    body = {"alert_uid": "a1", "title": "Down", "link_to_upstream_details": "http://grafana:3000/d/x"}
    assert post(f"/integrations/v1/webhook/{TOKEN}/", body).status_code == 200
    body = {"alert_uid": "a2", "title": "Down too", "link_to_upstream_details": "javascript:alert(1)"}
    assert post(f"/integrations/v1/webhook/{TOKEN}/", body).status_code == 200
    links = dict(Alert.objects.values_list("labels__alert_uid", "generator_url"))
    assert links == {"a1": "http://grafana:3000/d/x", "a2": ""}


def test_a_webhook_body_that_is_not_an_object_is_refused(integration):
    response = post(f"/integrations/v1/webhook/{TOKEN}/", ["not", "an", "object"])
    assert response.status_code == 400
    assert not Alert.objects.exists()


def test_a_new_integrations_key_works_on_the_same_form(api):
    created = api.post("/api/v1/integrations/", {"name": "new", "kind": "alertmanager", "service": "web"},
                       format="json").json()  # fmt: skip
    assert post(f"/integrations/v1/alertmanager/{created['key']}/", alertmanager_body()).status_code == 200
    assert Incident.objects.get().service == "web"
