"""The outward message: webhook body v1, chat and email text, built apart from the REST serializer."""

from __future__ import annotations

import pytest

from incidents import services as incident_services
from incidents.api.serializers import IncidentSerializer
from incidents.payload import incident_shape
from oncall import payload
from oncall.models import Channel, Notification, Team
from oncall.tests.sink import http_sink

pytestmark = pytest.mark.django_db


@pytest.fixture
def incident(settings):
    settings.OPSASSIST_URL = "https://ops.example.com"
    incident, _ = incident_services.get_or_open_incident(
        source="events", service="checkout", title="checkout\nerrors <b>", severity="critical"
    )
    return incident


def test_the_webhook_body_is_version_1_with_event_incident_and_links(incident):
    body = payload.webhook_body(payload.message_for(incident, "new", "ann"))
    assert set(body) == {"version", "event", "incident", "links"}
    assert (body["version"], body["event"]) == (1, "incident.opened")
    assert body["links"]["open"] == f"https://ops.example.com/incidents/{incident.pk}/"
    assert body["incident"]["id"] == incident.pk and body["incident"]["priority"] == "P1"


@pytest.mark.parametrize(
    ("event", "public"),
    [("new", "incident.opened"), ("escalation", "incident.escalated"), ("acknowledge", "incident.acknowledged"),
     ("resolve", "incident.resolved"), ("reassign", "incident.reassigned"), ("snooze", "incident.snoozed")],
)  # fmt: skip
def test_each_event_has_its_public_name(incident, event, public):
    assert payload.message_for(incident, event)["event"] == public


def test_the_incident_shape_has_the_list_fields_and_does_not_follow_the_serializer(incident, monkeypatch):
    shape = incident_shape(incident)
    api = IncidentSerializer(incident).data
    assert set(api) <= set(shape)
    assert {key: shape[key] for key in api if key != "duration_seconds"} == {
        key: value for key, value in api.items() if key != "duration_seconds"
    }
    monkeypatch.setattr(IncidentSerializer.Meta, "fields", ["id"])  # an API change does not change receivers
    assert set(incident_shape(incident)) == set(shape)


def test_a_webhook_receiver_gets_exactly_the_versioned_body(incident, django_capture_on_commit_callbacks):
    from oncall import services

    with http_sink() as sink:
        team = Team.objects.create(name="payments")
        Channel.objects.create(name="hook", team=team, kind="webhook", notify_on=["new"], config={"url": sink.base})
        with django_capture_on_commit_callbacks(execute=True):
            services._notify_channels(incident, team, "new")
        [request] = sink.received
    assert set(request["body"]) == {"version", "event", "incident", "links"}
    assert request["body"]["incident"] == incident_shape(incident) | {
        "duration_seconds": request["body"]["incident"]["duration_seconds"]
    }
    assert Notification.objects.get().status == "sent"


def test_email_subject_is_one_line_and_the_body_carries_the_links(incident):
    message = payload.message_for(incident, "escalation", "ann")
    assert payload.email_subject(message) == "[OpsAssist P1] checkout errors <b>"
    body = payload.email_body(message)
    assert body.startswith("Escalated incident\n") and f"Open: https://ops.example.com/incidents/{incident.pk}/" in body


def test_chat_text_names_the_incident_and_ends_with_the_links(incident):
    text = payload.chat_text(payload.message_for(incident, "new"))
    assert text.splitlines()[0] == f"New incident: #{incident.pk} checkout errors <b>"
    assert text.splitlines()[-1] == f"Open: https://ops.example.com/incidents/{incident.pk}/"
