"""The postmortem: a Markdown draft of a resolved incident, editable, saved (versioned, who and when) and
downloadable, on the page and through the API; Claude writes the narrative on request when configured (the
SDK over a fake HTTP transport), a template otherwise."""

from __future__ import annotations

from datetime import timedelta

import httpx2 as httpx
import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from incidents.models import TimelineEntry
from incidents.tests.factories import IncidentFactory
from remediation.models import Postmortem
from remediation.postmortem import do_save_postmortem
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


# --- Saved postmortems: the page --------------------------------------------------------------------


def test_a_responder_saves_the_postmortem_and_the_incident_page_links_it(client, responder):
    incident = resolved_incident()
    client.force_login(responder)
    text = client.get(f"/incidents/{incident.pk}/postmortem").context["markdown"] + "\nWe doubled the pool.\n"
    response = client.post(f"/incidents/{incident.pk}/postmortem", {"action": "save", "markdown": text, "version": 0})
    assert response.status_code == 302
    saved = Postmortem.objects.get(incident=incident)
    assert (saved.markdown, saved.version, saved.updated_by, saved.created_by) == (text, 1, responder, responder)
    assert incident.timeline.filter(text="Postmortem saved (version 1).", actor="bob").exists()
    page = client.get(response["Location"])
    assert page.context["markdown"] == text and "Saved version 1 by <strong>bob</strong>" in page.content.decode()
    detail = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert "Postmortem (saved, version 1, bob)" in detail
    download = client.get(f"/incidents/{incident.pk}/postmortem?download=1")
    assert download["Content-Disposition"] == f'attachment; filename="postmortem-{incident.pk}.md"'
    assert download.content.decode() == text


def test_a_viewer_reads_the_saved_postmortem_but_cannot_save(client, viewer, responder):
    incident = resolved_incident()
    do_save_postmortem(incident, "# Ours\n", responder)
    client.force_login(viewer)
    page = client.get(f"/incidents/{incident.pk}/postmortem")
    assert page.context["markdown"] == "# Ours\n" and "readonly" in page.content.decode()
    assert "Save postmortem" not in page.content.decode()
    response = client.post(f"/incidents/{incident.pk}/postmortem", {"action": "save", "markdown": "# Mine"})
    assert response.status_code == 403
    assert Postmortem.objects.get(incident=incident).markdown == "# Ours\n"


def test_a_stale_save_keeps_the_typed_text_and_shows_the_newer_version(client, responder, admin_user):
    incident = resolved_incident()
    do_save_postmortem(incident, "# First\n", responder)
    do_save_postmortem(incident, "# Second, by alice\n", admin_user, version=1)
    client.force_login(responder)
    response = client.post(f"/incidents/{incident.pk}/postmortem",
                           {"action": "save", "markdown": "# Bob's edit of v1\n", "version": 1})  # fmt: skip
    assert response.status_code == 409
    assert response.context["markdown"] == "# Bob's edit of v1\n" and "version 2" in response.context["error"]
    assert "# Second, by alice" in response.content.decode()  # shown to merge
    assert Postmortem.objects.get(incident=incident).markdown == "# Second, by alice\n"


@pytest.mark.parametrize(("markdown", "version", "field"), [("", "0", "markdown"), ("   ", "0", "markdown"),
                         ("x" * 100_001, "0", "markdown"), ("# ok", "one", "version"),
                         ("# ok", "²", "version")])  # fmt: skip
def test_bad_input_on_the_page_is_a_400_naming_the_field(client, responder, markdown, version, field):
    incident = resolved_incident()
    client.force_login(responder)
    response = client.post(f"/incidents/{incident.pk}/postmortem",
                           {"action": "save", "markdown": markdown, "version": version})  # fmt: skip
    assert response.status_code == 400 and response.context["error"].startswith(f"{field}:")
    assert not Postmortem.objects.exists()


# --- Saved postmortems: the API ---------------------------------------------------------------------


def test_the_api_shows_the_draft_then_saves_and_versions_the_postmortem(responder_api, viewer_api):
    incident = resolved_incident()
    url = f"/api/v1/incidents/{incident.pk}/postmortem"
    draft = viewer_api.get(url).json()
    assert (draft["saved"], draft["version"], draft["incident"]) == (False, 0, incident.pk)
    assert draft["markdown"].startswith(f"# Postmortem: #{incident.pk} Checkout down")
    created = responder_api.put(url, {"markdown": "# One\n", "version": 0}, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["saved"] and created.json()["version"] == 1 and created.json()["updated_by"] == "bob"
    updated = responder_api.put(url, {"markdown": "# Two\n"}, format="json")
    assert updated.status_code == 200 and updated.json()["version"] == 2
    again = responder_api.put(url, {"markdown": "# Two\n", "version": 2}, format="json")
    assert again.status_code == 200 and again.json()["version"] == 2  # the same text: no new version
    assert viewer_api.get(url).json()["markdown"] == "# Two\n"
    assert viewer_api.put(url, {"markdown": "# Viewer\n"}, format="json").status_code == 403
    assert Postmortem.objects.get(incident=incident).markdown == "# Two\n"


@pytest.mark.parametrize(("body", "field"), [
    ({}, "markdown"), ({"markdown": 5}, "markdown"), ({"markdown": ["# a"]}, "markdown"),
    ({"markdown": ""}, "markdown"), ({"markdown": " \n"}, "markdown"), ({"markdown": "x" * 100_001}, "markdown"),
    ({"markdown": "# a", "version": "two"}, "version"), ({"markdown": "# a", "version": -1}, "version"),
    ({"markdown": "# a", "version": 10**20}, "version"),
])  # fmt: skip
def test_bad_input_to_the_api_is_a_400_naming_the_field(responder_api, body, field):
    incident = resolved_incident()
    response = responder_api.put(f"/api/v1/incidents/{incident.pk}/postmortem", body, format="json")
    assert response.status_code == 400 and field in response.json()["errors"], response.content
    assert not Postmortem.objects.exists()


def test_a_lone_surrogate_is_a_400_naming_markdown(responder_api):
    incident = resolved_incident()
    body = '{"markdown": "a\\ud800b"}'  # valid JSON, but not storable text
    response = responder_api.generic("PUT", f"/api/v1/incidents/{incident.pk}/postmortem", body,
                                     content_type="application/json")  # fmt: skip
    assert response.status_code == 400 and "markdown" in response.json()["errors"]
    assert not Postmortem.objects.exists()


def test_a_stale_version_through_the_api_is_a_409_naming_it(responder_api, responder):
    incident = resolved_incident()
    do_save_postmortem(incident, "# One\n", responder)
    do_save_postmortem(incident, "# Two\n", responder)
    response = responder_api.put(f"/api/v1/incidents/{incident.pk}/postmortem",
                                 {"markdown": "# Old edit\n", "version": 1}, format="json")  # fmt: skip
    assert response.status_code == 409 and "version" in response.json()["errors"]
    assert Postmortem.objects.get(incident=incident).markdown == "# Two\n"


def test_an_unresolved_incident_gets_no_postmortem_through_the_api(responder_api):
    incident = IncidentFactory(status="open")
    url = f"/api/v1/incidents/{incident.pk}/postmortem"
    assert responder_api.get(url).status_code == 409
    assert responder_api.put(url, {"markdown": "# Early\n"}, format="json").status_code == 409
    assert responder_api.get("/api/v1/incidents/999999/postmortem").status_code == 404
    assert APIClient().get(url).status_code == 401
    assert not Postmortem.objects.exists()


def test_the_database_bounds_the_markdown(responder):
    incident = resolved_incident()
    with pytest.raises(IntegrityError), transaction.atomic():
        Postmortem.objects.create(incident=incident, markdown="x" * 100_001)


def test_the_draft_says_when_nobody_acknowledged_and_counts_seconds(client, viewer):
    incident = IncidentFactory(status="resolved", service="web", severity="low", title="Blip", ack_seconds=None,
                               resolve_seconds=40, resolved_at=timezone.now())  # fmt: skip
    client.force_login(viewer)
    text = client.get(f"/incidents/{incident.pk}/postmortem").context["markdown"]
    assert "It was resolved after 40 s, without being acknowledged." in text


def test_a_draft_claude_wrote_is_saved_as_edited(client, responder, fake_claude):  # noqa: F811
    incident = resolved_incident()
    answer = {"id": "msg_2", "type": "message", "role": "assistant", "model": "claude-sonnet-5-5",
              "content": [{"type": "text", "text": "Idle sessions filled the pool."}], "stop_reason": "end_turn",
              "stop_sequence": None, "usage": {"input_tokens": 90, "output_tokens": 12}}  # fmt: skip
    fake_claude(lambda request: httpx.Response(200, json=answer))
    client.force_login(responder)
    text = client.post(f"/incidents/{incident.pk}/postmortem", {"action": "claude"}).context["markdown"]
    assert not Postmortem.objects.exists()  # a new draft is not saved until someone saves it
    edited = text.replace("Idle sessions filled the pool.", "Idle sessions filled the pool at 09:00.")
    client.post(f"/incidents/{incident.pk}/postmortem", {"action": "save", "markdown": edited, "version": 0})
    assert "Idle sessions filled the pool at 09:00." in Postmortem.objects.get(incident=incident).markdown
