"""The admins' settings page: what the server runs with, secrets only as set / not set."""

import pytest
from django.db import connection

from opsassist.lib import heartbeat

pytestmark = pytest.mark.django_db


@pytest.fixture
def secrets(settings):
    settings.ANTHROPIC_API_KEY = "sk-ant-very-secret"
    settings.ANTHROPIC_BASE_URL = "https://proxyuser:proxypass@gateway.example.com/claude"
    settings.ANTHROPIC_MODEL = "claude-test-model"
    settings.EMAIL_CONFIGURED, settings.EMAIL_HOST, settings.EMAIL_PORT = True, "mail.example.com", 587
    settings.EMAIL_HOST_PASSWORD = "smtp-very-secret"
    return settings


def test_an_admin_sees_the_settings_without_any_secret(client, admin_user, secrets):
    heartbeat.beat("worker")
    client.force_login(admin_user)
    response = client.get("/settings/")
    assert response.status_code == 200
    page = response.content.decode()
    for shown in ("claude-test-model", "https://gateway.example.com/claude", "mail.example.com:587", "embedded",
                  connection.vendor, "no heartbeat yet", "s ago"):  # fmt: skip
        assert shown in page
    assert '<th scope="row">ANTHROPIC_API_KEY</th><td>set</td>' in page
    for secret in ("sk-ant-very-secret", "proxypass", "proxyuser", "smtp-very-secret"):
        assert secret not in page
    assert 'href="/settings/"' in page


def test_it_says_not_set_and_not_configured(client, admin_user, settings):
    settings.ANTHROPIC_API_KEY, settings.ANTHROPIC_BASE_URL, settings.EMAIL_CONFIGURED = "", "", False
    client.force_login(admin_user)
    page = client.get("/settings/").content.decode()
    assert '<th scope="row">ANTHROPIC_API_KEY</th><td>not set</td>' in page
    assert "not configured: set EMAIL_URL or EMAIL_HOST" in page


def test_a_responder_gets_403_and_no_link(client, responder):
    client.force_login(responder)
    assert client.get("/settings/").status_code == 403
    assert 'href="/settings/"' not in client.get("/").content.decode()


def test_an_anonymous_visitor_is_sent_to_log_in(client):
    response = client.get("/settings/")
    assert response.status_code == 302 and "/login" in response["Location"]
