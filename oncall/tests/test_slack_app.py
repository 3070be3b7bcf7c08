"""The Slack app channel against a local stand-in for Slack's Web API, and the interactivity endpoint with
requests signed the way Slack signs them: counting exactly what was sent to Slack and what changed."""

import json
import time
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.test import Client
from slack_sdk.signature import SignatureVerifier

from incidents import services as incident_services
from incidents.models import Incident
from oncall.models import Channel, ContactMethod, Notification, SlackMessage
from oncall.tests.factories import team_with_rotation, user
from oncall.tests.slack_standin import slack_api

pytestmark = pytest.mark.django_db
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
ENDPOINT = "/integrations/slack/interactive"
ANN_ON_CALL = datetime(2026, 1, 6, 12, 0, tzinfo=UTC)


@pytest.fixture
def slack(settings):
    settings.SLACK_BOT_TOKEN = "xoxb-test-token"
    settings.SLACK_SIGNING_SECRET = SECRET
    team, _, _ = team_with_rotation()
    ann = user("ann")
    ann.groups.add(Group.objects.get(name="responder"))
    with slack_api(emails={"U0ANN": "ANN@example.com", "U0EVE": "eve@elsewhere.example"}) as api:
        settings.SLACK_API_URL = api.url
        Channel.objects.create(name="ops-slack", team=team, kind="slack_app", config={"channel": "C0OPS"},
                               notify_on=["new", "acknowledge", "resolve"])  # fmt: skip
        yield api


def methods(api) -> list[str]:
    return [method for method, _ in api.calls]


def open_incident(capture, title="checkout errors") -> Incident:
    with capture(execute=True):
        incident, _ = incident_services.get_or_open_incident(
            source="events", service="checkout", title=title, severity="high"
        )
    return Incident.objects.get(pk=incident.pk)


def buttons(blocks: list[dict]) -> list[str]:
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


def click(action: str, incident: Incident, *, ts=None, slack_user="U0ANN", secret=SECRET, age=0, capture=None,
          channel="C0OPS"):  # fmt: skip
    message = SlackMessage.objects.filter(incident=incident, channel_id=channel).first()
    payload = {
        "type": "block_actions",
        "user": {"id": slack_user, "username": "someone", "team_id": "T0"},
        "container": {"type": "message", "message_ts": ts or message.ts, "channel_id": channel},
        "channel": {"id": channel, "name": "ops"},
        "actions": [{"action_id": action, "value": str(incident.pk), "type": "button", "block_id": "incident_actions"}],
    }
    body = urlencode({"payload": json.dumps(payload)})
    timestamp = str(int(time.time()) - age)
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    headers = {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature}
    post = lambda: Client().post(ENDPOINT, body, content_type="application/x-www-form-urlencoded", headers=headers)  # noqa: E731
    if capture is None:
        return post()
    with capture(execute=True):
        return post()


def test_a_new_incident_posts_one_message_with_buttons(slack, django_capture_on_commit_callbacks):
    incident = open_incident(django_capture_on_commit_callbacks)
    assert methods(slack) == ["chat.postMessage"]
    args = slack.calls[0][1]
    assert args["channel"] == "C0OPS" and "checkout errors" in args["text"]
    assert buttons(args["blocks"]) == ["acknowledge", "resolve"]
    assert SlackMessage.objects.get(incident=incident).ts == "1767700000.000001"
    assert Notification.objects.get(kind="slack_app").status == "sent"


def test_slack_message_is_updated_in_place_on_acknowledge(slack, django_capture_on_commit_callbacks):
    incident = open_incident(django_capture_on_commit_callbacks)
    posted_ts = SlackMessage.objects.get().ts
    response = click("acknowledge", incident, capture=django_capture_on_commit_callbacks)
    assert response.status_code == 200
    assert Incident.objects.get(pk=incident.pk).status == "acknowledged"
    entry = incident.timeline.filter(kind="status_change").get()
    assert (entry.actor, entry.text) == ("ann", "Status open → acknowledged: via Slack")
    assert methods(slack) == ["chat.postMessage", "users.info", "chat.update"]
    update = slack.calls[2][1]
    assert (update["channel"], update["ts"]) == ("C0OPS", posted_ts)
    assert buttons(update["blocks"]) == ["resolve"] and "acknowledged" in update["text"]
    assert SlackMessage.objects.count() == 1


def test_the_resolve_button_resolves_and_removes_the_buttons(slack, django_capture_on_commit_callbacks):
    incident = open_incident(django_capture_on_commit_callbacks)
    assert click("resolve", incident, capture=django_capture_on_commit_callbacks).status_code == 200
    assert Incident.objects.get(pk=incident.pk).status == "resolved"
    assert methods(slack) == ["chat.postMessage", "users.info", "chat.update"]
    assert buttons(slack.calls[2][1]["blocks"]) == []


def test_a_status_change_elsewhere_updates_the_message_too(slack, django_capture_on_commit_callbacks):
    incident = open_incident(django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        incident_services.do_change_status(incident, "acknowledged", actor=user("ann"))
    assert methods(slack) == ["chat.postMessage", "chat.update"]


def test_a_personal_slack_page_is_a_direct_message_whose_buttons_work(slack, django_capture_on_commit_callbacks):
    ContactMethod.objects.create(user=user("ann"), kind="slack_app", config={"channel": "U0ANN"})
    with time_machine.travel(ANN_ON_CALL):
        incident = open_incident(django_capture_on_commit_callbacks)
    assert methods(slack) == ["chat.postMessage", "chat.postMessage"]
    assert {m.channel_id for m in SlackMessage.objects.all()} == {"C0OPS", "D0ANN"}
    response = click("acknowledge", incident, channel="D0ANN", capture=django_capture_on_commit_callbacks)
    assert response.status_code == 200
    assert Incident.objects.get(pk=incident.pk).status == "acknowledged"
    updates = sorted(args["channel"] for method, args in slack.calls if method == "chat.update")
    assert updates == ["C0OPS", "D0ANN"]  # both messages show the acknowledgement


def test_a_failed_update_in_place_is_kept_on_the_message(slack, django_capture_on_commit_callbacks):
    incident = open_incident(django_capture_on_commit_callbacks)
    slack.failing["chat.update"] = "message_not_found"
    with django_capture_on_commit_callbacks(execute=True):
        incident_services.do_change_status(incident, "acknowledged", actor=user("ann"))
    message = SlackMessage.objects.get()
    assert message.error == "Slack chat.update: message_not_found" and message.updated_at is None
    slack.failing.clear()
    with django_capture_on_commit_callbacks(execute=True):
        incident_services.do_change_status(incident, "resolved", actor=user("ann"))
    message.refresh_from_db()
    assert message.error == "" and message.updated_at is not None
    # The team channel's acknowledge notification retried its update; the resolve updated it once.
    assert methods(slack)[0] == "chat.postMessage" and set(methods(slack)[1:]) == {"chat.update"}


def test_a_bad_slack_signature_is_refused(slack, django_capture_on_commit_callbacks):
    incident = open_incident(django_capture_on_commit_callbacks)
    response = click("acknowledge", incident, secret="not-the-secret", capture=django_capture_on_commit_callbacks)
    assert response.status_code == 401
    assert Incident.objects.get(pk=incident.pk).status == "open"
    assert methods(slack) == ["chat.postMessage"]


def test_a_stale_slack_request_is_refused(slack, django_capture_on_commit_callbacks):
    incident = open_incident(django_capture_on_commit_callbacks)
    response = click("acknowledge", incident, age=301, capture=django_capture_on_commit_callbacks)
    assert response.status_code == 401
    assert Incident.objects.get(pk=incident.pk).status == "open"
    assert methods(slack) == ["chat.postMessage"]


@pytest.mark.parametrize("headers", [{}, {"X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": "v0=00"}])
def test_an_unsigned_slack_request_is_refused(slack, headers):
    response = Client().post(ENDPOINT, "payload=%7B%7D", content_type="application/x-www-form-urlencoded",
                             headers=headers)  # fmt: skip
    assert response.status_code == 401
    assert slack.calls == []


def test_a_click_by_a_slack_user_without_an_account_changes_nothing(slack, django_capture_on_commit_callbacks):
    incident = open_incident(django_capture_on_commit_callbacks)
    response = click("acknowledge", incident, slack_user="U0EVE", capture=django_capture_on_commit_callbacks)
    assert response.status_code == 200
    assert Incident.objects.get(pk=incident.pk).status == "open"
    assert methods(slack) == ["chat.postMessage", "users.info", "chat.postEphemeral"]
    assert slack.calls[2][1]["user"] == "U0EVE"


def test_a_click_by_a_viewer_changes_nothing(slack, django_capture_on_commit_callbacks):
    incident = open_incident(django_capture_on_commit_callbacks)
    user("ann").groups.set([Group.objects.get(name="viewer")])
    assert click("resolve", incident, capture=django_capture_on_commit_callbacks).status_code == 200
    assert Incident.objects.get(pk=incident.pk).status == "open"
    assert methods(slack) == ["chat.postMessage", "users.info", "chat.postEphemeral"]


def test_a_click_on_a_message_opsassist_did_not_post_is_refused(slack, django_capture_on_commit_callbacks):
    incident = open_incident(django_capture_on_commit_callbacks)
    response = click("acknowledge", incident, ts="1111.2222", capture=django_capture_on_commit_callbacks)
    assert response.status_code == 404
    assert Incident.objects.get(pk=incident.pk).status == "open"
    assert methods(slack) == ["chat.postMessage"]


def test_an_incident_title_cannot_ping_the_channel(slack, django_capture_on_commit_callbacks):
    open_incident(django_capture_on_commit_callbacks, title="<!channel> see <https://evil.example|here>")
    section = slack.calls[0][1]["blocks"][0]["text"]["text"]
    assert "<!channel>" not in section and "&lt;!channel&gt;" in section
    assert "<https://evil.example" not in section


def test_slack_api_url_must_pass_the_outbound_policy(slack, settings, django_capture_on_commit_callbacks):
    settings.OUTBOUND_DENY = [*settings.OUTBOUND_DENY, "127.0.0.0/8"]
    open_incident(django_capture_on_commit_callbacks)
    notification = Notification.objects.get(kind="slack_app")
    assert notification.status == "failed" and "OUTBOUND_DENY" in notification.error
    assert slack.calls == []


def test_without_a_bot_token_the_notification_is_skipped(slack, settings, django_capture_on_commit_callbacks):
    settings.SLACK_BOT_TOKEN = ""
    open_incident(django_capture_on_commit_callbacks)
    assert Notification.objects.get(kind="slack_app").status == "skipped"
    assert slack.calls == []


@pytest.mark.parametrize("channel", ["#ops", "", "c0lower", "C0" + "X" * 40])
def test_a_slack_app_channel_needs_a_channel_id(api, channel):
    response = api.post("/api/v1/oncall/channels", {"name": "s", "kind": "slack_app", "config": {"channel": channel}},
                        format="json")  # fmt: skip
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["config.channel"]
    assert not Channel.objects.exists()
