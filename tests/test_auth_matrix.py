"""Every API route x every kind of caller → the expected 401 / 403 / allowed.

MATRIX is the whole authorization policy in one table; `test_the_matrix_covers_every_route` fails when a
route or method is added without a row here. "Allowed" means the request got past authentication and
authorization (a 2xx, or a 400/404/409 about the body or the object), never a 5xx.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from incidents.models import Integration, MaintenanceWindow, Silence
from incidents.tests.factories import IncidentFactory
from monitoring import checkins
from monitoring.models import Host, Monitor
from oncall.calendar_models import CalendarSource
from oncall.models import Channel, ContactMethod, EscalationPolicy, Notification, NotificationRule, Override
from oncall.tests.factories import team_with_rotation
from remediation.models import ActionPolicy, RemediationRun

ROLES = ("anonymous", "outsider", "viewer", "responder", "agent", "admin", "key")
READERS = {"viewer", "responder", "admin"}
WORKERS = {"responder", "admin"}
ADMIN = {"admin"}
INGEST_ALERTS = {"responder", "admin", "key"}

# (method, path, roles allowed). {…} placeholders are filled from the `objects` fixture.
MATRIX = [
    ("GET", "me", {"outsider", "viewer", "responder", "agent", "admin"}),
    ("POST", "me/token", {"outsider", "viewer", "responder", "agent", "admin"}),
    # People: everyone who reads sees who is who; only admins add, change, deactivate and issue tokens.
    ("GET", "users", READERS),
    ("POST", "users", ADMIN),
    ("GET", "users/{person}", READERS),
    ("PATCH", "users/{person}", ADMIN),
    ("DELETE", "users/{person}", ADMIN),
    ("POST", "users/{person}/token", ADMIN),
    ("POST", "users/{person}/password-link", ADMIN),
    ("POST", "integrations/alertmanager", INGEST_ALERTS),
    ("POST", "integrations/pagerduty", INGEST_ALERTS),
    ("POST", "alerts", INGEST_ALERTS),
    ("GET", "incidents", READERS),
    ("POST", "incidents", WORKERS),
    ("GET", "incidents/analytics", READERS),
    ("GET", "incidents/{incident}", READERS),
    ("PATCH", "incidents/{incident}", WORKERS),
    ("POST", "incidents/{incident}/analyze", WORKERS),
    ("GET", "incidents/{incident}/notes", READERS),
    ("POST", "incidents/{incident}/notes", WORKERS),
    ("PATCH", "incidents/{incident}/status", WORKERS),
    ("POST", "incidents/{incident}/status", WORKERS),
    ("GET", "incidents/{incident}/remediations", READERS),
    ("POST", "incidents/{incident}/remediations", WORKERS),
    ("GET", "incidents/{incident}/postmortem", READERS),
    ("PUT", "incidents/{incident}/postmortem", WORKERS),
    ("GET", "events", READERS),
    ("POST", "events", {"responder", "admin", "agent", "key"}),
    ("GET", "integrations", READERS),
    ("POST", "integrations", ADMIN),
    ("GET", "integrations/{integration}", READERS),
    ("PATCH", "integrations/{integration}", ADMIN),
    ("DELETE", "integrations/{integration}", ADMIN),
    ("POST", "integrations/{integration}/rotate", ADMIN),
    ("POST", "heartbeats", {"responder", "agent", "admin"}),
    ("GET", "monitors", READERS),
    ("POST", "monitors", WORKERS),
    ("GET", "monitors/{monitor}", READERS),
    ("PATCH", "monitors/{monitor}", WORKERS),
    ("DELETE", "monitors/{monitor}", ADMIN),
    ("POST", "monitors/{monitor}/check", WORKERS),
    ("GET", "monitors/{monitor}/results", READERS),
    ("POST", "monitors/{monitor}/simulate", WORKERS),
    ("POST", "monitors/{monitor}/simulate/clear", WORKERS),
    ("GET", "hosts", READERS),
    ("GET", "hosts/{host}", READERS),
    ("GET", "oncall/current", READERS),
    ("GET", "notifications", READERS),
    ("GET", "notifications/{notification}", READERS),
    ("GET", "remediations", READERS),
    ("GET", "remediations/{remediation}", READERS),
    ("POST", "remediations/{remediation}/approve", WORKERS),
    ("POST", "remediations/{remediation}/reject", WORKERS),
    # What may run is the operator's and the admins' decision: everyone reads it, only admins set policies.
    ("GET", "remediation/actions", READERS),
    ("GET", "remediation/policies", READERS),
    ("POST", "remediation/policies", ADMIN),
    ("GET", "remediation/policies/{actionpolicy}", READERS),
    ("PUT", "remediation/policies/{actionpolicy}", ADMIN),
    ("PATCH", "remediation/policies/{actionpolicy}", ADMIN),
    ("DELETE", "remediation/policies/{actionpolicy}", ADMIN),
    # Calendars feed schedules from a URL or a file: everyone reads them, only admins add, refresh or drop one.
    ("GET", "oncall/calendars", READERS),
    ("POST", "oncall/calendars", ADMIN),
    ("GET", "oncall/calendars/{calendar}", READERS),
    ("DELETE", "oncall/calendars/{calendar}", ADMIN),
    ("POST", "oncall/calendars/{calendar}/refresh", ADMIN),
    ("GET", "oncall/schedules/{schedule}/ical", READERS),
    ("GET", "oncall/schedules/{schedule}/shifts", READERS),
    ("POST", "incidents/{incident}/snooze", WORKERS),
    ("GET", "checkins", READERS),
    ("POST", "checkins", WORKERS),
    ("GET", "checkins/{checkin}", READERS),
    ("DELETE", "checkins/{checkin}", WORKERS),
    ("POST", "checkins/{checkin}/rotate", WORKERS),
]
# Staying quiet: everyone reads; responders schedule and end maintenance windows and silences.
for _collection, _key in [("maintenance", "maintenance"), ("silences", "silence")]:
    MATRIX += [
        ("GET", _collection, READERS),
        ("POST", _collection, WORKERS),
        ("GET", f"{_collection}/{{{_key}}}", READERS),
        ("DELETE", f"{_collection}/{{{_key}}}", WORKERS),
    ]
# On-call configuration: everyone reads, admins change; overrides are the responders' own tool.
for _collection, _key, _writers in [
    ("teams", "team", ADMIN),
    ("schedules", "schedule", ADMIN),
    ("overrides", "override", WORKERS),
    ("policies", "policy", ADMIN),
    ("channels", "channel", ADMIN),
    ("contacts", "contact", ADMIN),
]:
    MATRIX += [
        ("GET", f"oncall/{_collection}", READERS),
        ("POST", f"oncall/{_collection}", _writers),
        ("GET", f"oncall/{_collection}/{{{_key}}}", READERS),
        ("PUT", f"oncall/{_collection}/{{{_key}}}", _writers),
        ("PATCH", f"oncall/{_collection}/{{{_key}}}", _writers),
        ("DELETE", f"oncall/{_collection}/{{{_key}}}", _writers),
    ]

# Personal paging: every person manages their own contact methods and rules (others' are 404), admins anyone's.
for _collection, _key in [("contact-methods", "contact"), ("notification-rules", "rule")]:
    MATRIX += [
        ("GET", f"oncall/{_collection}", READERS),
        ("POST", f"oncall/{_collection}", READERS),
        ("GET", f"oncall/{_collection}/{{{_key}}}", READERS),
        ("PUT", f"oncall/{_collection}/{{{_key}}}", READERS),
        ("PATCH", f"oncall/{_collection}/{{{_key}}}", READERS),
        ("DELETE", f"oncall/{_collection}/{{{_key}}}", READERS),
    ]
# A test page through a contact method: responders their own (others' are 404), admins anyone's.
MATRIX.append(("POST", "oncall/contact-methods/{contact}/test", WORKERS))

CASES = [(method, path, role, role in allowed) for method, path, allowed in MATRIX for role in ROLES]


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def objects(admin_user, settings):
    settings.OPSASSIST_SIMULATION = True
    team, schedule, _ = team_with_rotation(name="payments", services=("checkout",))
    incident = IncidentFactory(service="checkout")
    integration = Integration(name="existing", kind="generic")
    integration.set_new_key()
    integration.save()
    # A closed port: a "check now" fails fast without touching anything real.
    monitor = Monitor.objects.create(name="db", kind="tcp", target="127.0.0.1:9")
    host = Host.objects.create(name="web-1")
    now = timezone.now()
    contact = ContactMethod.objects.create(user=admin_user, kind="email", config={"address": "a@example.com"})
    return {
        "incident": incident.pk,
        "integration": integration.pk,
        "monitor": monitor.name,
        "host": host.name,
        "team": team.name,
        "schedule": schedule.pk,
        "calendar": CalendarSource.objects.create(schedule=schedule, ics="BEGIN:VCALENDAR\nEND:VCALENDAR\n").pk,
        "override": Override.objects.create(
            schedule=schedule, user=admin_user, start=now, end=now + timedelta(hours=1)
        ).pk,
        "policy": EscalationPolicy.objects.create(team=team).pk,
        "channel": Channel.objects.create(name="ops-log", kind="log").pk,
        "contact": contact.pk,
        "rule": NotificationRule.objects.create(user=admin_user, contact=contact, delay_minutes=5).pk,
        "notification": Notification.objects.create(incident=incident, event="new", kind="log", target="log").pk,
        # Finished already: approving it is refused (409) after authorization, nothing runs.
        "actionpolicy": ActionPolicy.objects.create(monitor=monitor, action="none", set_by_name="alice").pk,
        "remediation": RemediationRun.objects.create(
            incident=incident, action="notify_only", proposed_by="rules", status=RemediationRun.Status.SUCCEEDED
        ).pk,
        "maintenance": MaintenanceWindow.objects.create(
            starts_at=now, ends_at=now + timedelta(hours=1), services=["checkout"]
        ).pk,
        "silence": Silence.objects.create(matchers={"service": "checkout"}, ends_at=now + timedelta(hours=1)).pk,
        "checkin": checkins.do_create(name="backup", period_seconds=3600, grace_seconds=60).name,
        "person": admin_user.username,
    }


def _client(role: str, django_user_model) -> APIClient:
    client = APIClient()
    if role == "anonymous":
        return client
    if role == "key":
        integration = Integration(name="sender", kind="generic")
        key = integration.set_new_key()
        integration.save()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        return client
    user = django_user_model.objects.create_user(
        username=f"who-{role}", is_staff=role == "admin", is_superuser=role == "admin"
    )
    if role in ("viewer", "responder", "agent"):
        user.groups.add(Group.objects.get(name=role))
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path", "role", "allowed"), CASES, ids=[f"{m} {p} {r}" for m, p, r, _ in CASES])
def test_the_matrix(method, path, role, allowed, objects, django_user_model):
    client = _client(role, django_user_model)
    url = "/api/v1/" + path.format(**objects)
    if path == "oncall/current":
        url += "?team=payments"
    response = getattr(client, method.lower())(url, {}, format="json")
    if allowed:
        assert response.status_code not in (401, 403, 405), response.content
        assert response.status_code < 500, response.content
    elif role == "anonymous":
        assert response.status_code == 401, response.content
    else:
        assert response.status_code == 403, response.content


def _api_routes() -> set[tuple[str, str]]:
    """(method, path regex) of every route under /api/v1/, from the URL resolver and the views."""
    found = set()

    def walk(patterns, prefix):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
                continue
            assert isinstance(pattern, URLPattern)
            callback = pattern.callback
            view = getattr(callback, "cls", None)
            if view is None:  # @api_view functions carry their class on .cls too; plain views have none
                continue
            allowed = {m.upper() for m in view.http_method_names} - {"HEAD", "OPTIONS"}
            actions = getattr(callback, "actions", None)
            handlers = actions or {m.lower(): m for m in allowed if hasattr(view, m.lower())}
            methods = {m.upper() for m in handlers}
            for method in methods & allowed:
                found.add((method, prefix + str(pattern.pattern)))

    walk(get_resolver().url_patterns, "")
    return {(m, p) for m, p in found if p.startswith("api/v1/")}


def test_the_matrix_covers_every_route():
    routes = _api_routes()
    covered = set()
    for method, regex in routes:
        body = regex.removeprefix("api/v1/").removeprefix("^").removesuffix("$")
        if any(m == method and re.fullmatch(body, re.sub(r"\{\w+\}", "1", p)) for m, p, _ in MATRIX):
            covered.add((method, regex))
    missing = sorted(routes - covered)
    assert not missing, f"routes without a row in MATRIX: {missing}"
    bodies = [(m, r.removeprefix("api/v1/").removeprefix("^").removesuffix("$")) for m, r in routes]
    concrete = [(m, p, re.sub(r"\{\w+\}", "1", p)) for m, p, _ in MATRIX]
    stale = [(m, p) for m, p, c in concrete if not any(m == rm and re.fullmatch(b, c) for rm, b in bodies)]
    assert not stale, f"rows in MATRIX for no route (or a method it refuses): {stale}"
    assert len(MATRIX) == len({(m, p) for m, p, _ in MATRIX}), "duplicate rows in MATRIX"


# --- The WebSocket ---------------------------------------------------------------------------------


async def _ws_connects(headers: list[tuple[bytes, bytes]]) -> bool:
    """Open /ws/incidents/ on the ASGI application (asgiref's communicator: channels.testing needs daphne)."""
    from asgiref.testing import ApplicationCommunicator

    from opsassist.asgi import application

    scope = {"type": "websocket", "path": "/ws/incidents/", "query_string": b"", "headers": headers,
             "subprotocols": [], "client": ("127.0.0.1", 5000), "server": ("testserver", 80)}  # fmt: skip
    communicator = ApplicationCommunicator(application, scope)
    await communicator.send_input({"type": "websocket.connect"})
    answer = await communicator.receive_output(timeout=5)
    if answer["type"] == "websocket.accept":
        await communicator.send_input({"type": "websocket.disconnect", "code": 1000})
        await communicator.wait(timeout=5)
        return True
    assert answer["type"] == "websocket.close"
    return False


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("role", "accepted"),
    [("anonymous", False), ("key", False), ("outsider", False), ("agent", False), ("viewer", True), ("admin", True)],
)
def test_the_websocket_needs_a_user_who_may_view_incidents(role, accepted, django_user_model):
    import asyncio

    client = _client(role, django_user_model)
    authorization = client._credentials.get("HTTP_AUTHORIZATION", "")
    headers = [(b"authorization", authorization.encode())] if authorization else []
    assert asyncio.run(_ws_connects(headers)) is accepted


@pytest.mark.django_db(transaction=True)
def test_the_websocket_accepts_the_browser_session(client, viewer, settings):
    import asyncio

    client.force_login(viewer)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    # A browser always sends the page's Origin (checked in tests/test_web_hardening.py).
    origin = settings.WEBSOCKET_ALLOWED_ORIGINS[0].encode()
    assert asyncio.run(_ws_connects([(b"cookie", cookie), (b"origin", origin)])) is True
