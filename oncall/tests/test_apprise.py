"""Every apprise-driven kind against a real local HTTP sink, through apprise's own URL form.

ntfy, Gotify, Matrix and the SMS gateway take the server from the user, so they reach the sink as
configured. Pushover, Telegram and Discord talk to a fixed service address: for them the plugin's API
base is pointed at the sink (the request apprise builds is otherwise unchanged). Microsoft Teams (apprise's Workflows
plugin) always speaks https, so its sink runs TLS with a throw-away certificate.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from apprise.plugins.discord import NotifyDiscord
from apprise.plugins.pushover import NotifyPushover
from apprise.plugins.telegram import NotifyTelegram

from incidents import services as incident_services
from oncall.models import ContactMethod, Notification
from oncall.tests.factories import user
from oncall.tests.sink import http_sink
from oncall.transports import transport_for
from oncall.transports.apprise import ALLOWED_SCHEMES
from oncall.transports.base import TransportError

pytestmark = pytest.mark.django_db

MESSAGE = {
    "headline": "New incident",
    "incident": {"id": 7, "title": "db down", "service": "db", "severity": "high", "priority": "P2", "status": "open"},
    "links": {"open": "https://ops.example.com/incidents/7/"},
}
TEXT = "New incident: #7 db down\ndb · high (P2) · open\nOpen: https://ops.example.com/incidents/7/"


@pytest.fixture
def sink():
    with http_sink() as server:
        yield server


@pytest.fixture
def fixed_hosts_at_sink(sink, monkeypatch):
    monkeypatch.setattr(NotifyPushover, "notify_url", f"{sink.base}/1/messages.json")
    monkeypatch.setattr(NotifyTelegram, "notify_url", f"{sink.base}/bot")
    monkeypatch.setattr(NotifyDiscord, "notify_url", f"{sink.base}/api/webhooks")
    return sink


def send(kind: str, config: dict) -> None:
    transport_for(kind, config).notify(MESSAGE)


def test_ntfy_posts_the_topic_title_and_text_with_the_token(sink):
    send("ntfy", {"server": sink.base, "topic": "ops-ann", "token": "tk_secret"})
    [request] = sink.received
    assert (request["method"], request["path"]) == ("POST", "/")
    assert request["headers"]["authorization"] == "Bearer tk_secret"
    assert request["body"] == {"topic": "ops-ann", "title": "[P2] #7 db down", "message": TEXT}


def test_gotify_posts_to_the_message_endpoint_under_the_server_path(sink):
    send("gotify", {"server": f"{sink.base}/gotify", "token": "AppToken123"})
    [request] = sink.received
    assert request["path"] == "/gotify/message"
    assert request["headers"]["x-gotify-key"] == "AppToken123"
    assert request["body"]["title"] == "[P2] #7 db down" and request["body"]["message"] == TEXT


def test_matrix_joins_the_room_and_sends_the_text_with_the_access_token(sink):
    send("matrix", {"server": sink.base, "access_token": "syt_token", "room": "#ops:localhost"})
    assert {r["headers"]["authorization"] for r in sink.received} == {"Bearer syt_token"}
    sent = [r for r in sink.received if r["method"] == "PUT"]
    assert len(sent) == 1 and "/rooms/%21room%3Alocalhost/send/m.room.message/" in sent[0]["path"]
    assert sent[0]["body"]["msgtype"] == "m.text" and TEXT in sent[0]["body"]["body"]


def test_the_sms_gateway_gets_json_with_the_number_and_its_auth_header(sink):
    send("sms", {"gateway_url": f"{sink.base}/send?key=k1", "to": "+15550001111", "auth_header": "Bearer gw"})
    [request] = sink.received
    assert request["path"] == "/send" and request["query"] == {"key": ["k1"]}
    assert request["headers"]["authorization"] == "Bearer gw"
    body = request["body"]
    assert (body["to"], body["title"], body["message"], body["type"]) == (
        "+15550001111",
        "[P2] #7 db down",
        TEXT,
        "info",
    )


def test_pushover_posts_the_user_key_token_and_text(fixed_hosts_at_sink):
    send("pushover", {"user_key": "u" * 30, "token": "a" * 30})
    [request] = fixed_hosts_at_sink.received
    assert request["path"] == "/1/messages.json"
    body = request["body"]
    assert (body["user"], body["token"], body["title"], body["message"]) == (
        "u" * 30,
        "a" * 30,
        "[P2] #7 db down",
        TEXT,
    )


def test_telegram_sends_the_message_to_the_chat_through_the_bot(fixed_hosts_at_sink):
    bot = "123456:" + "A" * 35
    send("telegram", {"bot_token": bot, "chat_id": "42"})
    [request] = fixed_hosts_at_sink.received
    assert request["path"] == f"/bot{bot}/sendMessage"
    assert request["body"]["chat_id"] == 42 and "db down" in request["body"]["text"]


def test_discord_posts_the_content_to_the_webhook(fixed_hosts_at_sink):
    send("discord", {"webhook_url": "https://discord.com/api/webhooks/1234567890123/" + "t" * 40})
    [request] = fixed_hosts_at_sink.received
    assert request["path"] == "/api/webhooks/1234567890123/" + "t" * 40
    assert TEXT in request["body"]["content"] and "avatar_url" not in request["body"]


@pytest.fixture
def tls_sink(tmp_path, monkeypatch):
    """An https sink with a throw-away certificate for 127.0.0.1 that requests (inside apprise) trusts."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a test certificate")
    pem = tmp_path / "sink.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(pem), "-out", str(tmp_path / "cert.pem")],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    cert = (tmp_path / "cert.pem").read_text()
    pem.write_text(pem.read_text() + cert)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "cert.pem"))
    with http_sink(certfile=str(pem)) as server:
        yield server


def test_teams_posts_an_adaptive_card_to_the_workflow_over_https(tls_sink):
    url = (f"{tls_sink.base}/workflows/abc123/triggers/manual/paths/invoke"
           "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=SiGnAtUrE")  # fmt: skip
    transport = transport_for("msteams", {"workflow_url": url})
    assert transport.apprise_url().startswith(f"workflows://127.0.0.1:{tls_sink.port}/abc123/SiGnAtUrE")
    transport.notify(MESSAGE)
    [request] = tls_sink.received
    assert request["path"] == "/workflows/abc123/triggers/manual/paths/invoke"
    assert request["query"]["sig"] == ["SiGnAtUrE"]
    assert "db down" in json.dumps(request["body"])


def test_every_kind_builds_only_allow_listed_schemes(sink):
    configs = {
        "ntfy": {"server": sink.base, "topic": "t"}, "gotify": {"server": sink.base, "token": "x"},
        "pushover": {"user_key": "u" * 30, "token": "a" * 30},
        "telegram": {"bot_token": "1:" + "A" * 30, "chat_id": "1"},
        "discord": {"webhook_url": "https://discord.com/api/webhooks/1234567890/" + "t" * 30},
        "matrix": {"server": sink.base, "access_token": "t", "room": "!r:localhost"},
        "sms": {"gateway_url": sink.base, "to": "+15550001111"},
    }  # fmt: skip
    for kind, config in configs.items():
        scheme = transport_for(kind, config).apprise_url().split("://", 1)[0]
        assert scheme in ALLOWED_SCHEMES, kind


def test_a_4xx_is_a_permanent_failure_and_a_5xx_is_worth_a_retry(sink):
    for status, permanent in ((400, True), (503, False)):
        sink.status = status
        with pytest.raises(TransportError) as failure:
            send("ntfy", {"server": sink.base, "topic": "ops"})
        assert (failure.value.message, failure.value.permanent) == (f"HTTP {status}", permanent)


def test_a_denied_server_is_refused_before_apprise_connects(sink, settings):
    settings.OUTBOUND_DENY = ["127.0.0.0/8"]
    with pytest.raises(TransportError) as failure:
        send("gotify", {"server": sink.base, "token": "x"})
    assert failure.value.permanent and "OUTBOUND_DENY" in failure.value.message
    assert sink.received == []


def test_a_redirect_to_a_denied_address_is_refused_at_connect_time(sink):
    sink.status, sink.redirect_to = 307, "http://169.254.169.254/latest/meta-data/"
    with pytest.raises(TransportError) as failure:
        send("ntfy", {"server": sink.base, "topic": "ops"})
    assert failure.value.permanent and "169.254.169.254 is in OUTBOUND_DENY" in failure.value.message
    assert len(sink.received) == 1


def test_a_name_that_resolves_into_the_deny_list_at_connect_time_is_refused(sink, settings, monkeypatch):
    from opsassist.lib import outbound

    transport = transport_for("ntfy", {"server": f"http://pager.example.test:{sink.port}", "topic": "ops"})
    answers = iter([["127.0.0.1"], ["169.254.169.254"]])  # checked first, then re-resolved (rebinding)
    monkeypatch.setattr(outbound, "resolve", lambda host, port: next(answers))
    with pytest.raises(TransportError) as failure:
        transport.notify(MESSAGE)
    assert failure.value.permanent and "OUTBOUND_DENY" in failure.value.message
    assert sink.received == []


def test_a_page_through_ntfy_lands_in_the_delivery_log_as_sent(sink, django_capture_on_commit_callbacks):
    from oncall import services

    ann = user("ann")
    contact = ContactMethod.objects.create(user=ann, kind="ntfy", config={"server": sink.base, "topic": "ann"})
    incident, _ = incident_services.get_or_open_incident(source="events", service="x", title="t", severity="high")
    with django_capture_on_commit_callbacks(execute=True):
        services._notify_user(incident, "new", None, ann)
    row = Notification.objects.get()
    assert (row.kind, row.contact_id, row.status, row.attempts, row.target) == (
        "ntfy", contact.pk, "sent", 1, f"ntfy:127.0.0.1:{sink.port}/ann",
    )  # fmt: skip
    assert len(sink.received) == 1


def test_a_failed_apprise_delivery_is_recorded_with_its_error_class(sink, django_capture_on_commit_callbacks):
    from oncall import services

    sink.status = 401
    ann = user("ann")
    ContactMethod.objects.create(user=ann, kind="ntfy", config={"server": sink.base, "topic": "ann"})
    incident, _ = incident_services.get_or_open_incident(source="events", service="x", title="t", severity="high")
    with django_capture_on_commit_callbacks(execute=True):
        services._notify_user(incident, "new", None, ann)
    row = Notification.objects.get()
    assert (row.status, row.error, row.attempts) == ("failed", "HTTP 401", 1)
    assert len(sink.received) == 1


@pytest.mark.parametrize(
    ("kind", "config", "field"),
    [
        ("ntfy", {"server": "file:///etc/passwd", "topic": "t"}, "server"),
        ("ntfy", {"server": "https://ntfy.sh", "topic": "a/b"}, "topic"),
        ("ntfy", {"server": "https://ntfy.sh", "topic": "t", "url": "windows://"}, "url"),
        ("gotify", {"server": "https://user:pw@gotify.example.com", "token": "x"}, "server"),
        ("discord", {"webhook_url": "https://evil.example.com/api/webhooks/1234567890/" + "t" * 30}, "webhook_url"),
        ("sms", {"gateway_url": "http://gw.example.com/send", "to": "call me"}, "to"),
        (
            "sms",
            {"gateway_url": "http://gw.example.com/send", "to": "+15550001111", "auth_header": "a\r\nX: y"},
            "auth_header",
        ),
        ("matrix", {"server": "http://169.254.169.254", "access_token": "t", "room": "!r:x"}, "server"),
    ],
)
def test_bad_settings_get_a_400_naming_the_field_and_store_nothing(api, kind, config, field):
    response = api.post("/api/v1/oncall/contact-methods", {"kind": kind, "config": config}, format="json")
    assert response.status_code == 400, response.content
    assert field in str(response.json())
    assert not ContactMethod.objects.exists()


def test_secrets_are_masked_when_a_contact_method_is_read_back(api):
    config = {"user_key": "u" * 30, "token": "a" * 30}
    response = api.post("/api/v1/oncall/contact-methods", {"kind": "pushover", "config": config}, format="json")
    assert response.status_code == 201, response.content
    assert "u" * 30 not in response.content.decode() and "a" * 30 not in response.content.decode()
