"""Web hardening: hosts, origins and links from OPSASSIST_URL; the WebSocket's Origin check; the CSP the pages
live under; login lockout; secure cookies and HSTS; `check --deploy`."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from opsassist.lib.publicurl import absolute_url, parse_public_url

ROOT = Path(__file__).resolve().parent.parent
# Variables a developer's shell may hold that would change what the fresh settings read.
SETTINGS_ENV = (
    "OPSASSIST_URL", "OPSASSIST_BASE_URL", "OPSASSIST_PORT", "SERVICE_PORT", "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS",
    "WEBSOCKET_ALLOWED_ORIGINS", "OPSASSIST_BEHIND_PROXY", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD", "SECURE_SSL_REDIRECT", "DATABASE_URL", "REDIS_URL", "OPSASSIST_TEST_DB_NAME", "DEBUG",
)  # fmt: skip


def fresh_settings(tmp_path, **env) -> dict:
    """The settings a newly started process reads from `env` (start-up is what decides them)."""
    names = ["OPSASSIST_URL", "PUBLIC_ORIGINS", "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS", "WEBSOCKET_ALLOWED_ORIGINS",
             "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_HSTS_SECONDS", "SECURE_PROXY_SSL_HEADER",
             "OPSASSIST_BASE_URL", "CONTENT_SECURITY_POLICY"]  # fmt: skip
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n) for n in {names!r}}}, default=str))"
    )
    result = _run_python(tmp_path, env, "-c", code)
    return json.loads(result.stdout.strip().splitlines()[-1])


def _run_python(tmp_path, env, *args) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k not in SETTINGS_ENV}
    full_env.update({"DJANGO_SETTINGS_MODULE": "opsassist.settings", "OPSASSIST_VAR_DIR": str(tmp_path),
                     "LOG_LEVEL": "WARNING", **env})  # fmt: skip
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=300, check=False
    )


# --- OPSASSIST_URL: hosts, origins, links ------------------------------------------------------------


def test_the_default_public_url_is_loopback_on_the_port_plus_localhost(tmp_path):
    found = fresh_settings(tmp_path, OPSASSIST_PORT="8123")
    assert found["OPSASSIST_URL"] == "http://127.0.0.1:8123"
    assert found["CSRF_TRUSTED_ORIGINS"] == ["http://127.0.0.1:8123", "http://localhost:8123"]
    assert found["WEBSOCKET_ALLOWED_ORIGINS"] == ["http://127.0.0.1:8123", "http://localhost:8123"]
    assert "*" not in found["ALLOWED_HOSTS"]
    assert set(found["ALLOWED_HOSTS"]) == {"127.0.0.1", "localhost", "[::1]"}


def test_hosts_and_origins_come_from_opsassist_url_and_the_lists_only_add(tmp_path):
    found = fresh_settings(
        tmp_path,
        OPSASSIST_URL="https://Ops.Example.com/",
        ALLOWED_HOSTS="ops-internal.example.com",
        CSRF_TRUSTED_ORIGINS="https://ops-internal.example.com",
    )
    assert found["OPSASSIST_URL"] == "https://ops.example.com"
    assert found["ALLOWED_HOSTS"] == ["ops.example.com", "127.0.0.1", "localhost", "[::1]", "ops-internal.example.com"]
    assert found["CSRF_TRUSTED_ORIGINS"] == ["https://ops.example.com", "https://ops-internal.example.com"]
    assert found["WEBSOCKET_ALLOWED_ORIGINS"] == ["https://ops.example.com"]
    # The Django test client's host is added by the test environment only, never by the settings.
    assert "testserver" not in found["ALLOWED_HOSTS"]


def test_the_old_base_url_name_still_sets_the_public_url(tmp_path):
    found = fresh_settings(tmp_path, OPSASSIST_BASE_URL="https://old.example.com:8443")
    assert found["OPSASSIST_URL"] == found["OPSASSIST_BASE_URL"] == "https://old.example.com:8443"
    assert (
        fresh_settings(tmp_path, OPSASSIST_URL="https://new.example.com", OPSASSIST_BASE_URL="https://old.example.com")[
            "OPSASSIST_URL"
        ]
        == "https://new.example.com"
    )


@pytest.mark.parametrize(
    "value",
    ["ops.example.com", "ftp://ops.example.com", "https://user:pw@ops.example.com", "https://ops.example.com/ops",
     "https://ops.example.com/?a=1", "https://ops.example.com:99999", "https://"],
)  # fmt: skip
def test_a_public_url_the_product_cannot_link_to_stops_start_up(value):
    with pytest.raises(ImproperlyConfigured, match="OPSASSIST_URL"):
        parse_public_url(value)


def test_a_bad_public_url_stops_the_process_with_a_message_naming_it(tmp_path):
    result = _run_python(tmp_path, {"OPSASSIST_URL": "https://ops.example.com/ops"}, "manage.py", "check")
    assert result.returncode != 0
    assert "OPSASSIST_URL must have no path" in result.stderr


def test_an_ipv6_public_url_keeps_its_brackets():
    assert parse_public_url("http://[::1]:8000/") == "http://[::1]:8000"


def test_absolute_links_are_built_from_the_public_url(settings):
    settings.OPSASSIST_URL = "https://ops.example.com"
    assert absolute_url("/incidents/7/") == "https://ops.example.com/incidents/7/"
    # Without the slash the path would run into the host name: "https://ops.example.com.evil.example/".
    with pytest.raises(ValueError, match="starting with '/'"):
        absolute_url(".evil.example/")


@pytest.mark.django_db
def test_a_password_reset_with_a_forged_host_is_refused_and_mails_nothing(client, viewer):
    response = client.post("/accounts/password_reset/", {"email": viewer.email}, HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert mail.outbox == []


@pytest.mark.django_db
def test_a_password_reset_mails_a_link_to_the_public_url_whatever_host_was_asked(client, viewer, settings):
    # Even an operator who allowed every host (ALLOWED_HOSTS=*) gets links to OPSASSIST_URL only.
    settings.ALLOWED_HOSTS = ["*"]
    settings.OPSASSIST_URL = "https://ops.example.com"
    response = client.post("/accounts/password_reset/", {"email": viewer.email}, HTTP_HOST="evil.example")
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    links = re.findall(r"\w+://[^\s/]+/\S*", mail.outbox[0].body)
    assert links
    assert all(link.startswith("https://ops.example.com/accounts/reset/") for link in links), mail.outbox[0].body
    assert "evil.example" not in mail.outbox[0].body + mail.outbox[0].subject


@pytest.mark.django_db
def test_the_mailed_reset_link_works(client, viewer, settings):
    settings.OPSASSIST_URL = "http://127.0.0.1:8000"
    client.post("/accounts/password_reset/", {"email": viewer.email}, HTTP_HOST="localhost:8000")
    link = re.search(r"http://127\.0\.0\.1:8000(/accounts/reset/\S+)", mail.outbox[0].body).group(1)
    response = client.get(link, follow=True)
    assert response.status_code == 200
    assert b"new_password1" in response.content


@pytest.mark.django_db
def test_notifications_link_to_the_public_url(settings, viewer):
    from incidents.tests.factories import IncidentFactory
    from oncall.models import Notification
    from oncall.services import message_for

    settings.OPSASSIST_URL = "https://ops.example.com"
    incident = IncidentFactory()
    notification = Notification.objects.create(incident=incident, event="new", kind="email", target="x")
    assert message_for(notification)["url"] == f"https://ops.example.com/incidents/{incident.pk}/"


# --- WebSocket origins -------------------------------------------------------------------------------


async def _ws_connects(headers: list[tuple[bytes, bytes]]) -> bool:
    from asgiref.testing import ApplicationCommunicator

    from opsassist.asgi import application

    scope = {"type": "websocket", "path": "/ws/incidents/", "query_string": b"", "headers": headers,
             "subprotocols": [], "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000)}  # fmt: skip
    communicator = ApplicationCommunicator(application, scope)
    await communicator.send_input({"type": "websocket.connect"})
    answer = await communicator.receive_output(timeout=5)
    if answer["type"] == "websocket.accept":
        await communicator.send_input({"type": "websocket.disconnect", "code": 1000})
        await communicator.wait(timeout=5)
        return True
    assert answer["type"] == "websocket.close"
    return False


@pytest.fixture
def session_cookie(client, viewer):
    client.force_login(viewer)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


@pytest.fixture
def token_header(viewer):
    from rest_framework.authtoken.models import Token

    return (b"authorization", f"Token {Token.objects.create(user=viewer).key}".encode())


@pytest.fixture
def public_origins(settings):
    settings.OPSASSIST_URL = "https://ops.example.com"
    settings.WEBSOCKET_ALLOWED_ORIGINS = ["https://ops.example.com"]


@pytest.mark.django_db(transaction=True)
def test_a_page_of_the_public_url_opens_the_live_stream(public_origins, session_cookie):
    assert asyncio.run(_ws_connects([session_cookie, (b"origin", b"https://ops.example.com")])) is True


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "origin",
    [b"https://evil.example", b"http://ops.example.com", b"https://ops.example.com:8443", b"https://ops.example.com.evil.example",
     b"https://evil.ops.example.com", b"null", b"", b"\xff\xfe"],
)  # fmt: skip
def test_another_sites_page_cannot_open_the_live_stream_with_the_users_cookie(origin, public_origins, session_cookie):
    assert asyncio.run(_ws_connects([session_cookie, (b"origin", origin)])) is False


@pytest.mark.django_db(transaction=True)
def test_without_an_origin_a_session_cookie_alone_is_refused(public_origins, session_cookie):
    assert asyncio.run(_ws_connects([session_cookie])) is False


@pytest.mark.django_db(transaction=True)
def test_a_script_without_an_origin_connects_with_its_token(public_origins, token_header):
    assert asyncio.run(_ws_connects([token_header])) is True


@pytest.mark.django_db(transaction=True)
def test_a_script_without_an_origin_and_a_wrong_token_is_refused(public_origins):
    assert asyncio.run(_ws_connects([(b"authorization", b"Token not-a-real-key")])) is False


@pytest.mark.django_db(transaction=True)
def test_a_token_does_not_let_another_sites_page_in(public_origins, token_header):
    assert asyncio.run(_ws_connects([token_header, (b"origin", b"https://evil.example")])) is False


@pytest.mark.django_db(transaction=True)
def test_the_default_url_accepts_both_loopback_and_localhost_pages(settings, session_cookie):
    settings.WEBSOCKET_ALLOWED_ORIGINS = ["http://127.0.0.1:8000", "http://localhost:8000"]
    for origin in (b"http://127.0.0.1:8000", b"http://localhost:8000"):
        assert asyncio.run(_ws_connects([session_cookie, (b"origin", origin)])) is True
    assert asyncio.run(_ws_connects([session_cookie, (b"origin", b"http://localhost:9000")])) is False


# --- Content-Security-Policy ---------------------------------------------------------------------------


class InlineCode(HTMLParser):
    """Collects what a strict CSP would block: inline scripts and styles, event-handler and style
    attributes, javascript: URLs."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []
        self._inline = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        for name, value in attrs:
            if name.startswith("on") or name == "style" or (value or "").strip().lower().startswith("javascript:"):
                self.found.append(f"<{tag} {name}={value!r}>")
        executable = tag == "script" and attributes.get("type", "text/javascript") in ("text/javascript", "module")
        if (executable and "src" not in attributes) or tag == "style":
            self._inline = tag if "nonce" not in attributes else None

    def handle_data(self, data):
        if self._inline and data.strip():
            self.found.append(f"inline <{self._inline}>: {data.strip()[:60]}")

    def handle_endtag(self, tag):
        self._inline = None


def _directives(header: str) -> dict[str, list[str]]:
    parts = [p.strip().split() for p in header.split(";") if p.strip()]
    return {p[0]: p[1:] for p in parts}


@pytest.mark.django_db
def test_pages_carry_a_strict_content_security_policy(client):
    response = client.get("/accounts/login/")
    policy = _directives(response["Content-Security-Policy"])
    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    for directive in ("script-src", "style-src"):
        assert "'self'" in policy[directive]
        assert not {"'unsafe-inline'", "'unsafe-eval'", "*", "data:"} & set(policy[directive])


@pytest.mark.django_db
def test_every_page_works_under_the_policy(client, admin_user):
    from incidents.tests.factories import IncidentFactory

    incident = IncidentFactory()
    for path in ["/accounts/login/", "/accounts/password_reset/"]:
        _assert_no_inline_code(client, path)
    client.force_login(admin_user)
    for path in ["/", "/incidents/", f"/incidents/{incident.pk}/", "/monitors/", "/oncall/", "/docs", "/admin/"]:
        _assert_no_inline_code(client, path)


def _assert_no_inline_code(client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200, path
    assert "Content-Security-Policy" in response, path
    parser = InlineCode()
    parser.feed(response.content.decode())
    assert parser.found == [], f"{path}: {parser.found}"


@pytest.mark.django_db
def test_the_api_docs_load_their_start_up_script_from_the_same_origin(client, admin_user):
    client.force_login(admin_user)
    page = client.get("/docs").content.decode()
    script = re.search(r'<script src="(/docs\?[^"]*script[^"]*)"', page).group(1).replace("&amp;", "&")
    response = client.get(script)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    assert b"SwaggerUIBundle" in response.content


def test_the_page_scripts_start_from_the_body_not_from_inline_code():
    app = (ROOT / "static/opsassist/app.js").read_text()
    assert "document.body.dataset.page" in app
    for template in (ROOT / "templates").rglob("*.html"):
        parser = InlineCode()
        parser.feed(template.read_text())
        assert parser.found == [], f"{template}: {parser.found}"


# --- Login throttling -------------------------------------------------------------------------------------


def _login(client, username: str, password: str, ip: str = "203.0.113.5", **headers):
    return client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=ip, **headers)


def _fail(client, username: str, times: int, ip: str = "203.0.113.5", **headers) -> None:
    for attempt in range(1, times + 1):
        # The failure that reaches the limit is already answered with the lockout.
        expected = 429 if attempt >= 10 else 200
        assert _login(client, username, "wrong", ip, **headers).status_code == expected


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    """Lockout tests check many wrong passwords: a cheap hasher keeps them quick (users are made after)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.mark.django_db
def test_ten_failed_logins_lock_that_user_out_from_that_address(client, viewer):
    _fail(client, viewer.username, 10)
    response = _login(client, viewer.username, "pw")
    assert response.status_code == 429
    assert b"Too many failed logins" in response.content
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_nine_failed_logins_still_let_the_right_password_in_and_reset_the_count(client, viewer):
    _fail(client, viewer.username, 9)
    assert _login(client, viewer.username, "pw").status_code == 302
    client.logout()
    _fail(client, viewer.username, 9)
    assert _login(client, viewer.username, "pw").status_code == 302


@pytest.mark.django_db
def test_the_lockout_binds_username_and_address_together(client, viewer, responder):
    _fail(client, viewer.username, 10)
    # Another user from the same address, and the same user from another address, are not locked out.
    assert _login(client, responder.username, "pw").status_code == 302
    client.logout()
    assert _login(client, viewer.username, "pw", ip="198.51.100.7").status_code == 302


@pytest.mark.django_db
def test_a_forwarded_for_header_does_not_escape_the_lockout_without_a_proxy(client, viewer):
    for i in range(10):
        _login(client, viewer.username, "wrong", HTTP_X_FORWARDED_FOR=f"192.0.2.{i}")
    assert _login(client, viewer.username, "pw", HTTP_X_FORWARDED_FOR="192.0.2.200").status_code == 429


@pytest.mark.django_db
def test_the_lockout_ends_after_the_cool_off(client, viewer):
    from axes.models import AccessAttempt

    _fail(client, viewer.username, 10)
    assert _login(client, viewer.username, "pw").status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    assert _login(client, viewer.username, "pw").status_code == 302


@pytest.mark.django_db
def test_the_limit_is_configurable(client, viewer, settings):
    settings.AXES_FAILURE_LIMIT = 3
    _fail(client, viewer.username, 2)
    assert _login(client, viewer.username, "wrong").status_code == 429
    assert _login(client, viewer.username, "pw").status_code == 429


@pytest.mark.django_db
def test_the_admin_login_is_throttled_too(client, admin_user):
    for _ in range(10):
        client.post("/admin/login/", {"username": admin_user.username, "password": "wrong"}, REMOTE_ADDR="203.0.113.5")
    response = client.post("/admin/login/?next=/admin/", {"username": admin_user.username, "password": "pw"},
                           REMOTE_ADDR="203.0.113.5")  # fmt: skip
    assert response.status_code == 429


@pytest.mark.django_db
def test_a_locked_out_user_keeps_api_token_and_integration_key_access(client, viewer, viewer_api):
    from incidents.models import Integration

    _fail(client, viewer.username, 10)
    assert _login(client, viewer.username, "pw").status_code == 429
    assert viewer_api.get("/api/v1/incidents").status_code == 200
    integration = Integration(name="sender", kind="generic")
    key = integration.set_new_key()
    integration.save()
    response = client.post("/api/v1/events", {"service": "orders", "level": "ERROR", "message": "boom"},
                           content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}")  # fmt: skip
    assert response.status_code == 201


@pytest.mark.django_db
def test_failed_tokens_and_keys_are_not_login_failures(client, viewer):
    from axes.models import AccessAttempt

    for _ in range(12):
        assert client.get("/api/v1/incidents", HTTP_AUTHORIZATION="Token wrong").status_code == 401
        response = client.post("/api/v1/events", {"service": "x", "level": "ERROR", "message": "m"},
                               content_type="application/json", HTTP_AUTHORIZATION="Bearer wrong")  # fmt: skip
        assert response.status_code == 401
    assert not AccessAttempt.objects.exists()
    assert _login(client, viewer.username, "pw").status_code == 302


@pytest.mark.django_db
def test_a_session_from_the_login_form_still_works_on_the_api(client, viewer):
    assert _login(client, viewer.username, "pw").status_code == 302
    assert client.get("/api/v1/incidents").status_code == 200


@pytest.mark.django_db
def test_the_test_clients_login_and_scripts_without_a_request_still_authenticate(client, viewer):
    from django.contrib.auth import authenticate

    assert authenticate(username=viewer.username, password="pw") == viewer
    assert client.login(username=viewer.username, password="pw") is True


# --- TLS: secure cookies, HSTS, proxy ---------------------------------------------------------------------


def test_an_https_url_makes_cookies_secure_and_turns_hsts_on(tmp_path):
    found = fresh_settings(tmp_path, OPSASSIST_URL="https://ops.example.com")
    assert found["SESSION_COOKIE_SECURE"] is True
    assert found["CSRF_COOKIE_SECURE"] is True
    assert found["SECURE_HSTS_SECONDS"] == 31536000
    assert found["SECURE_PROXY_SSL_HEADER"] is None
    assert "wss://ops.example.com" in found["CONTENT_SECURITY_POLICY"]["DIRECTIVES"]["connect-src"]


def test_plain_http_sends_no_hsts_and_no_secure_only_cookies(tmp_path):
    found = fresh_settings(tmp_path, OPSASSIST_URL="http://ops.example.com:8000")
    assert (found["SESSION_COOKIE_SECURE"], found["CSRF_COOKIE_SECURE"], found["SECURE_HSTS_SECONDS"]) == (
        False,
        False,
        0,
    )


def test_the_forwarded_proto_header_is_trusted_only_behind_a_proxy(tmp_path):
    found = fresh_settings(tmp_path, OPSASSIST_URL="https://ops.example.com", OPSASSIST_BEHIND_PROXY="True",
                           SECURE_HSTS_SECONDS="600")  # fmt: skip
    assert found["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert found["SECURE_HSTS_SECONDS"] == 600


def test_serve_reads_forwarded_headers_only_behind_a_proxy():
    source = (ROOT / "opsassist/management/commands/serve.py").read_text()
    assert '"proxy_headers": settings.OPSASSIST_BEHIND_PROXY' in source


@pytest.mark.django_db
def test_an_https_response_carries_hsts(client, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    response = client.get("/accounts/login/", secure=True)
    assert response["Strict-Transport-Security"] == "max-age=31536000"


def _deploy_check(tmp_path, **env) -> set[str]:
    result = _run_python(tmp_path, env, "manage.py", "check", "--deploy")
    found = set(re.findall(r"\(([\w.]+\.[EW]\d+)\)", result.stdout + result.stderr))
    # drf_spectacular's are notes about the API schema, not about the deployment.
    return {check for check in found if not check.startswith("drf_spectacular.")}


def test_the_deploy_check_is_clean_except_the_documented_items(tmp_path):
    found = _deploy_check(tmp_path, OPSASSIST_URL="https://ops.example.com", OPSASSIST_BEHIND_PROXY="True")
    # Documented in docs/security.md ("TLS"): HSTS for subdomains and preloading are the operator's call,
    # and the redirect from http to https belongs to the TLS proxy.
    assert found == {"security.W005", "security.W008", "security.W021"}


def test_the_deploy_check_warns_about_a_wildcard_host_and_https_without_the_proxy_setting(tmp_path):
    found = _deploy_check(tmp_path, OPSASSIST_URL="https://ops.example.com", ALLOWED_HOSTS="*")
    assert {"opsassist.W001", "opsassist.W002"} <= found
