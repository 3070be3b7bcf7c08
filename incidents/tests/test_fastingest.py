"""The event-loop ingestion path (incidents.fastingest) on real PostgreSQL: it must answer exactly like
the DRF view, store what it acknowledges, group concurrent posts into one commit, and keep one bad
request from failing the others."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from django.db import connection
from rest_framework.authtoken.models import Token

from incidents.fastingest import FastIngest
from incidents.models import Event, Integration

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

BAD = [
    {"service": "", "level": "nope"},
    {"service": "api", "level": "INFO", "message": "x" * 10_001},
    {"service": "api", "level": "INFO", "message": "m", "timestamp": "yesterday"},
    {"service": "api", "level": "INFO", "message": "m", "attributes": ["not", "a", "dict"]},
    {"service": "api", "level": "INFO", "message": "m", "attributes": {"k": "nul\x00"}},
    {"service": "api\x00", "level": "INFO", "message": "m"},
    [],
    [{"service": "api", "level": "INFO", "message": "ok"}, {"service": "api", "level": "bad", "message": "m"}, 3],
    [{"service": "api", "level": "INFO", "message": "m"}] * 1001,
    "just a string",
    17,
]


def _run(app: FastIngest, requests: list[tuple[dict, object]]) -> list[httpx.Response]:
    """POST each (headers, body) through the ASGI app concurrently; close the app's pool after."""

    async def go():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            try:
                return await asyncio.gather(
                    *(
                        client.post(
                            "/api/v1/events",
                            content=body if isinstance(body, bytes) else json.dumps(body),
                            headers={"content-type": "application/json", **headers},
                        )
                        for headers, body in requests
                    )
                )
            finally:
                await app.close()

    return asyncio.run(go())


@pytest.fixture
def app():
    from opsassist.asgi import django_asgi_app

    assert connection.vendor == "postgresql"
    return FastIngest(django_asgi_app)


@pytest.fixture
def token_header(responder):
    return {"authorization": f"Token {Token.objects.create(user=responder).key}"}


def _comparable(body):
    if isinstance(body, dict):
        return {k: v for k, v in body.items() if k not in ("id", "timestamp", "received_at")}
    return body


@pytest.mark.parametrize("body", BAD, ids=range(len(BAD)))
def test_bad_input_is_answered_exactly_like_the_drf_view(app, token_header, responder_api, body):
    fast = _run(app, [(token_header, body)])[0]
    slow = responder_api.post("/api/v1/events", body, format="json")
    assert fast.status_code == slow.status_code == 400
    assert fast.json() == slow.json()
    assert Event.objects.count() == 0


def test_a_good_event_is_answered_like_the_drf_view_and_stored(app, token_header, responder_api):
    body = {"service": "api", "level": "error", "message": "boom", "host": "h1", "attributes": {"a": [1, 2]},
            "timestamp": "2026-11-23T10:00:00+01:00"}  # fmt: skip
    fast = _run(app, [(token_header, body)])[0]
    slow = responder_api.post("/api/v1/events", body, format="json")
    assert fast.status_code == slow.status_code == 201
    assert _comparable(fast.json()) == _comparable(slow.json())
    assert fast.json()["timestamp"] == slow.json()["timestamp"] == "2026-11-23T09:00:00Z"
    stored = Event.objects.get(pk=fast.json()["id"])
    assert (stored.service, stored.level, stored.message, stored.attributes) == ("api", "ERROR", "boom", {"a": [1, 2]})


def test_invalid_json_is_a_400(app, token_header):
    response = _run(app, [(token_header, b'{"service": ')])[0]
    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error")
    response = _run(app, [(token_header, b'{"service": "a", "level": "INFO", "message": NaN}')])[0]
    assert response.status_code == 400


def test_concurrent_posts_are_each_stored_once_and_answered_with_their_own_row(app, token_header):
    bodies = [{"service": f"svc-{i % 5}", "level": "INFO", "message": f"event {i}"} for i in range(60)]
    batch = [{"service": "batch", "level": "DEBUG", "message": f"b{i}"} for i in range(300)]
    responses = _run(app, [(token_header, body) for body in bodies] + [(token_header, batch)])
    assert all(r.status_code == 201 for r in responses)
    assert responses[-1].json() == {"accepted": 300}
    ids = [r.json()["id"] for r in responses[:-1]]
    assert len(set(ids)) == 60
    for response in responses[:-1]:
        assert Event.objects.get(pk=response.json()["id"]).message == response.json()["message"]
    assert Event.objects.count() == 360


@pytest.fixture
def poison():
    """A real database error for one specific event: its message is 'poison'."""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE incidents_event ADD CONSTRAINT no_poison CHECK (message <> 'poison')")
    yield
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE incidents_event DROP CONSTRAINT no_poison")


def test_one_failing_request_does_not_fail_the_others_in_its_commit(app, token_header, poison):
    bodies = [{"service": "api", "level": "INFO", "message": "poison" if i == 7 else f"m{i}"} for i in range(20)]
    responses = _run(app, [(token_header, body) for body in bodies])
    assert [r.status_code for r in responses].count(201) == 19
    assert responses[7].status_code == 500
    assert Event.objects.count() == 19


def test_a_failing_batch_does_not_fail_the_single_events_written_with_it(app, token_header, poison):
    singles = [{"service": "api", "level": "INFO", "message": f"m{i}"} for i in range(10)]
    batch = [{"service": "api", "level": "INFO", "message": "poison" if i == 50 else f"b{i}"} for i in range(100)]
    good = [{"service": "api", "level": "INFO", "message": f"g{i}"} for i in range(100)]
    requests = [(token_header, body) for body in [*singles[:5], batch, *singles[5:], good]]
    responses = _run(app, requests)
    assert [r.status_code for r in responses] == [201] * 5 + [500] + [201] * 5 + [201]
    assert Event.objects.count() == 110
    assert not Event.objects.filter(message__startswith="b").exists()


def test_concurrent_posts_are_charged_exactly_against_the_shared_limit(app, token_header, settings, redis_url):
    import redis

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url}}
    settings.INGEST_RATE_LIMIT = "10/min"
    event = {"service": "api", "level": "INFO", "message": "m"}
    responses = _run(app, [(token_header, event)] * 12 + [(token_header, [event] * 3)])
    assert sorted(r.status_code for r in responses) == [201] * 10 + [429] * 3
    assert Event.objects.count() == 10
    (key,) = redis.Redis.from_url(redis_url).keys("*throttle:ingest:user*")
    assert int(redis.Redis.from_url(redis_url).get(key)) == 15


def test_authentication_and_permission_match_the_drf_view(app, viewer, django_user_model):
    generic, alertmanager = Integration(name="g", kind="generic"), Integration(name="am", kind="alertmanager")
    generic_key, alertmanager_key = generic.set_new_key(), alertmanager.set_new_key()
    generic.save()
    alertmanager.save()
    inactive = django_user_model.objects.create_user("gone", is_active=False)
    event = {"service": "api", "level": "INFO", "message": "m"}
    responses = _run(
        app,
        [
            ({"authorization": "Token nope"}, event),
            ({"authorization": f"Token {Token.objects.create(user=viewer).key}"}, event),
            ({"authorization": f"Token {Token.objects.create(user=inactive).key}"}, event),
            ({"authorization": f"Bearer {generic_key}"}, event),
            ({"authorization": f"Bearer {alertmanager_key}"}, event),
            ({"authorization": "Bearer oa_unknown"}, event),
        ],
    )
    assert [r.status_code for r in responses] == [401, 403, 401, 201, 403, 401]
    assert responses[0].headers["www-authenticate"] == "Token"
    assert Event.objects.count() == 1


def test_the_rate_limit_is_shared_with_the_drf_view(app, token_header, responder_api, settings):
    settings.INGEST_RATE_LIMIT = "5/min"
    event = {"service": "api", "level": "INFO", "message": "m"}
    for _ in range(3):
        assert responder_api.post("/api/v1/events", event, format="json").status_code == 201
    responses = _run(app, [(token_header, event), (token_header, [event, event])])
    assert sorted(r.status_code for r in responses) == [201, 429]
    refused = next(r for r in responses if r.status_code == 429)
    assert int(refused.headers["retry-after"]) >= 1


def test_browsers_and_sessions_go_through_django(app, token_header):
    """A request with an Origin gets Django's CORS handling (the fast path sends no CORS headers)."""
    event = {"service": "api", "level": "INFO", "message": "m"}
    response = _run(app, [({**token_header, "origin": "http://localhost:3000"}, event)])[0]
    assert response.status_code == 201
    assert response.headers["access-control-allow-origin"] == "http://localhost:3000"


def test_concurrent_requests_with_a_new_credential_share_one_lookup(app, token_header, monkeypatch):
    from incidents import fastingest

    calls = []
    real = fastingest._resolve_caller
    monkeypatch.setattr(fastingest, "_resolve_caller", lambda header: calls.append(header) or real(header))
    event = {"service": "api", "level": "INFO", "message": "m"}
    responses = _run(app, [(token_header, event)] * 12)
    assert [r.status_code for r in responses] == [201] * 12
    assert len(calls) == 1


RAW_BAD = [
    b'{"service": "api", "level": "INFO", "message": "one", "message": "two"}',
    b'{"service": "api", "level": "INFO", "message": "m", "attributes": ' + b'{"a": ' * 70 + b"1" + b"}" * 71,
    b"[" * 100_000 + b"]" * 100_000,
    b'{"service": "api", "level": "INFO", "message": "m", "timestamp": "9999-12-31T23:59:59-05:00"}',
    b'{"service": "api", "level": "INFO", "message": "m", "timestamp": "1999-12-31T23:59:59Z"}',
    b'[{"service": "api", "level": "INFO", "message": "m", "timestamp": "2999-01-01T00:00:00Z"}]',
]


@pytest.mark.parametrize("raw", RAW_BAD, ids=range(len(RAW_BAD)))
def test_deep_ambiguous_and_out_of_range_bodies_are_refused_like_the_drf_view(app, token_header, responder_api, raw):
    fast = _run(app, [(token_header, raw)])[0]
    slow = responder_api.post("/api/v1/events", raw, content_type="application/json")
    assert fast.status_code == slow.status_code == 400
    assert fast.json() == slow.json()
    assert Event.objects.count() == 0


def test_a_rotated_integration_key_stops_working_at_once_on_the_fast_path(api):
    """Two fast-path instances (as in two web processes) both knew the old key; neither accepts it after
    the rotation, without waiting for anything to expire."""
    from opsassist.asgi import django_asgi_app

    created = api.post("/api/v1/integrations", {"name": "node-agent", "kind": "generic"}, format="json").json()
    old = {"authorization": f"Bearer {created['key']}"}
    event = {"service": "api", "level": "INFO", "message": "m"}
    first, second = FastIngest(django_asgi_app), FastIngest(django_asgi_app)
    assert [_run(app, [(old, event)])[0].status_code for app in (first, second)] == [201, 201]

    rotated = api.post(f"/api/v1/integrations/{created['id']}/rotate").json()
    new = {"authorization": f"Bearer {rotated['key']}"}
    for app in (first, second):
        refused, accepted = _run(app, [(old, event), (new, event)])
        assert (refused.status_code, accepted.status_code) == (401, 201)

    api.patch(f"/api/v1/integrations/{created['id']}", {"enabled": False}, format="json")
    assert [_run(app, [(new, event)])[0].status_code for app in (first, second)] == [401, 401]
    assert Event.objects.count() == 4


def test_a_deleted_token_stops_working_at_once(responder):
    """On the fast path of two instances and on the DRF view alike; a deactivated user's token too."""
    from rest_framework.test import APIClient

    from opsassist.asgi import django_asgi_app

    token = Token.objects.create(user=responder)
    header = {"authorization": f"Token {token.key}"}
    drf = APIClient(HTTP_AUTHORIZATION=f"Token {token.key}")
    event = {"service": "api", "level": "INFO", "message": "m"}
    first, second = FastIngest(django_asgi_app), FastIngest(django_asgi_app)
    assert [_run(app, [(header, event)])[0].status_code for app in (first, second)] == [201, 201]

    token.delete()
    assert [_run(app, [(header, event)])[0].status_code for app in (first, second)] == [401, 401]
    assert drf.post("/api/v1/events", event, format="json").status_code == 401

    token = Token.objects.create(user=responder)
    header = {"authorization": f"Token {token.key}"}
    assert [_run(app, [(header, event)])[0].status_code for app in (first, second)] == [201, 201]
    type(responder).objects.filter(pk=responder.pk).update(is_active=False)
    assert [_run(app, [(header, event)])[0].status_code for app in (first, second)] == [401, 401]


def test_a_user_removed_from_a_group_loses_ingestion_at_once(responder, token_header):
    from opsassist.asgi import django_asgi_app

    event = {"service": "api", "level": "INFO", "message": "m"}
    app = FastIngest(django_asgi_app)
    assert _run(app, [(token_header, event)])[0].status_code == 201
    responder.groups.clear()
    assert _run(app, [(token_header, event)])[0].status_code == 403


def test_an_unchanged_credential_is_not_resolved_again(app, token_header, monkeypatch):
    """Revocation costs one indexed read per request, not a full authentication."""
    from incidents import fastingest

    calls = []
    real = fastingest._resolve_caller
    monkeypatch.setattr(fastingest, "_resolve_caller", lambda header: calls.append(header) or real(header))
    event = {"service": "api", "level": "INFO", "message": "m"}
    for _ in range(3):
        assert _run(app, [(token_header, event)])[0].status_code == 201
    assert len(calls) == 1


def test_single_events_with_a_known_credential_cost_no_separate_read(app, token_header, monkeypatch):
    """The INSERT checks the credential's row itself; a batch (COPY) has it read first."""
    from incidents.fastingest import EventWriter

    reads = []
    real = EventWriter.credential_row
    monkeypatch.setattr(EventWriter, "credential_row", lambda self, header: reads.append(header) or real(self, header))
    event = {"service": "api", "level": "INFO", "message": "m"}
    for _ in range(3):
        assert _run(app, [(token_header, event)])[0].status_code == 201
    assert len(reads) == 1
    assert _run(app, [(token_header, [event, event])])[0].status_code == 201
    assert len(reads) == 2
    assert Event.objects.count() == 5
