"""The email transport: honest "not configured" without SMTP settings, real SMTP delivery with them."""

import subprocess
import sys
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from incidents.models import TimelineEntry
from incidents.tests.factories import IncidentFactory
from oncall import services
from oncall.models import Channel, Notification
from tests.server import free_port

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


class Inbox:
    """aiosmtpd handler keeping every envelope it accepts."""

    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd calls it by this name
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller, inbox
    finally:
        controller.stop()


def _notification(address: str = "oncall@example.com") -> Notification:
    channel = Channel.objects.create(name="mail", kind="email", config={"address": address})
    incident = IncidentFactory(title="Checkout down", severity="critical")
    return Notification.objects.create(incident=incident, event="open", kind="email", channel=channel, target=address)


def test_without_smtp_settings_a_notification_is_skipped_as_not_configured(settings):
    settings.EMAIL_CONFIGURED = False
    notification = _notification()
    assert services.do_deliver(notification.pk, final_attempt=False) == "skipped"
    notification.refresh_from_db()
    assert notification.status == "skipped"
    assert notification.error == "email not configured: set EMAIL_URL or EMAIL_HOST"
    assert notification.sent_at is None
    assert Channel.objects.get(pk=notification.channel_id).enabled
    entry = TimelineEntry.objects.filter(incident=notification.incident, kind="notification").get()
    assert "skipped: email not configured" in entry.text


def test_the_channel_api_says_email_is_not_configured(api, settings):
    settings.EMAIL_CONFIGURED = False
    Channel.objects.create(name="mail", kind="email", config={"address": "oncall@example.com"})
    Channel.objects.create(name="log", kind="log")
    problems = {c["name"]: c["problem"] for c in api.get("/api/v1/oncall/channels").json()}
    assert problems == {"mail": "email not configured: set EMAIL_URL or EMAIL_HOST", "log": ""}


def test_with_smtp_settings_the_message_arrives_for_real(settings, smtp_server):
    controller, inbox = smtp_server
    settings.EMAIL_CONFIGURED = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.DEFAULT_FROM_EMAIL = "opsassist@example.com"
    notification = _notification("oncall@example.com")

    assert services.do_deliver(notification.pk, final_attempt=True) == "sent"

    notification.refresh_from_db()
    assert notification.status == "sent" and notification.error == ""
    [envelope] = inbox.envelopes
    assert envelope.mail_from == "opsassist@example.com"
    assert envelope.rcpt_tos == ["oncall@example.com"]
    content = envelope.content.decode()
    assert "Subject: [OpsAssist P1] Checkout down" in content
    assert f"/incidents/{notification.incident_id}/" in content


def test_an_unreachable_smtp_server_is_a_failure_worth_a_retry(settings):
    settings.EMAIL_CONFIGURED = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    notification = _notification()
    assert services.do_deliver(notification.pk, final_attempt=False) == "retry"
    notification.refresh_from_db()
    assert notification.status == "pending" and "ConnectionRefusedError" in notification.error


def test_an_address_with_a_header_injection_is_refused_for_good(settings, smtp_server):
    controller, inbox = smtp_server
    settings.EMAIL_CONFIGURED = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    notification = _notification("a@example.com\nBcc: victim@example.com")
    assert services.do_deliver(notification.pk, final_attempt=False) == "failed"
    assert inbox.envelopes == []


def _settings_with(env: dict) -> subprocess.CompletedProcess:
    code = (
        "import django; from django.conf import settings as s; django.setup(); "
        "print(s.EMAIL_CONFIGURED, s.EMAIL_BACKEND, s.EMAIL_HOST, s.EMAIL_PORT, s.EMAIL_HOST_USER, "
        "s.EMAIL_HOST_PASSWORD, s.EMAIL_USE_TLS)"
    )
    base = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "opsassist.settings", "OPSASSIST_VAR_DIR": "/tmp"}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**base, **env}, capture_output=True, text=True)


def test_email_url_configures_smtp():
    result = _settings_with({"EMAIL_URL": "smtp://mailer:s%40cret@mail.example.com:587/?tls=1"})
    assert result.stdout.split() == [
        "True", "django.core.mail.backends.smtp.EmailBackend", "mail.example.com", "587", "mailer", "s@cret", "True",
    ]  # fmt: skip


def test_no_email_settings_mean_not_configured():
    result = _settings_with({})
    assert result.stdout.split()[:2] == ["False", "django.core.mail.backends.console.EmailBackend"]


def test_an_email_url_that_is_not_smtp_fails_at_start_up():
    result = _settings_with({"EMAIL_URL": "console://"})
    assert result.returncode != 0
    assert "EMAIL_URL must be smtp://" in result.stderr
