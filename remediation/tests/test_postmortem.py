"""The postmortem page: a Markdown draft of a resolved incident, editable and downloadable; Claude writes
the narrative on request when configured (the SDK over a fake HTTP transport), a template otherwise."""

from __future__ import annotations

from datetime import timedelta

import httpx2 as httpx
import pytest
from django.utils import timezone

from incidents.models import TimelineEntry
from incidents.tests.factories import IncidentFactory
from remediation.tests.test_ai import fake_claude  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db


def resolved_incident():
    now = timezone.now()
    incident = IncidentFactory(status="resolved", title="Checkout down", service="checkout", severity="high",
                               detected_at=now - timedelta(minutes=50), acknowledged_at=now - timedelta(minutes=45),
                               resolved_at=now, ack_seconds=300, resolve_seconds=3000,
                               root_cause="Pool exhausted | by idle sessions")  # fmt: skip
    TimelineEntry.objects.create(
        incident=incident, kind="status_change", actor="bob", text="Status open → acknowledged"
    )
    return incident


def test_a_viewer_reads_the_draft_and_downloads_an_edited_markdown(client, viewer):
    incident = resolved_incident()
    client.force_login(viewer)
    response = client.get(f"/incidents/{incident.pk}/postmortem")
    text = response.context["markdown"]
    assert response.status_code == 200 and text.startswith(f"# Postmortem: #{incident.pk} Checkout down")
    assert "after 5 min" in text and "after 50 min" in text and "- bob: 1 timeline entry" in text
    assert (
        "Pool exhausted | by idle sessions" in text
        and "Write the narrative with Claude" not in response.content.decode()
    )
    edited = text + "\nOur own words.\n"
    download = client.post(f"/incidents/{incident.pk}/postmortem", {"action": "download", "markdown": edited})
    assert download["Content-Type"] == "text/markdown; charset=utf-8"
    assert download["Content-Disposition"] == f'attachment; filename="postmortem-{incident.pk}.md"'
    assert download.content.decode() == edited


def test_an_unresolved_incident_has_no_postmortem_yet(client, viewer):
    incident = IncidentFactory(status="open")
    client.force_login(viewer)
    assert client.get(f"/incidents/{incident.pk}/postmortem").status_code == 409


def test_a_viewer_cannot_spend_a_claude_call(client, viewer, settings):
    settings.ANTHROPIC_API_KEY = "sk-ant-test"
    incident = resolved_incident()
    client.force_login(viewer)
    assert client.post(f"/incidents/{incident.pk}/postmortem", {"action": "claude"}).status_code == 403


def test_claude_writes_the_narrative_when_asked(client, responder, fake_claude):  # noqa: F811
    incident = resolved_incident()
    answer = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-5-5",
              "content": [{"type": "text", "text": "The checkout pool ran dry at peak."}], "stop_reason": "end_turn",
              "stop_sequence": None, "usage": {"input_tokens": 100, "output_tokens": 20}}  # fmt: skip
    sent = fake_claude(lambda request: httpx.Response(200, json=answer))
    client.force_login(responder)
    text = client.post(f"/incidents/{incident.pk}/postmortem", {"action": "claude"}).context["markdown"]
    assert "The checkout pool ran dry at peak." in text
    assert "<incident_data>" in sent[0]["messages"][0]["content"]


def test_a_failing_claude_leaves_the_template_narrative(client, responder, fake_claude):  # noqa: F811
    incident = resolved_incident()
    fake_claude(lambda request: httpx.Response(500, json={"type": "error", "error": {"type": "api_error"}}))
    client.force_login(responder)
    text = client.post(f"/incidents/{incident.pk}/postmortem", {"action": "claude"}).context["markdown"]
    assert "checkout had a high incident: Checkout down" in text
