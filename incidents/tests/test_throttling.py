"""Ingestion rate limit: per integration key / per user, counted in events, 429 with Retry-After,
shared through Redis, and never the reason an event is lost when Redis is down."""

import pytest

from incidents.models import Event, Integration

pytestmark = pytest.mark.django_db


def _event(i=0):
    return {"service": "api", "level": "INFO", "message": f"m{i}"}


@pytest.fixture
def limit(settings):
    settings.INGEST_RATE_LIMIT = "5/min"
    return settings


def _key_client(name):
    from rest_framework.test import APIClient

    integration = Integration(name=name, kind="generic")
    key = integration.set_new_key()
    integration.save()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def test_over_the_limit_answers_429_with_retry_after(limit, responder_api):
    for i in range(5):
        assert responder_api.post("/api/v1/events", _event(i), format="json").status_code == 201
    response = responder_api.post("/api/v1/events", _event(), format="json")
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert "throttled" in response.json()["detail"].lower()
    assert Event.objects.count() == 5


def test_each_key_and_each_user_has_its_own_budget(limit, responder_api, api):
    first, second = _key_client("first"), _key_client("second")
    for client in (first, second, responder_api, api):
        for i in range(5):
            assert client.post("/api/v1/events", _event(i), format="json").status_code == 201
        assert client.post("/api/v1/events", _event(), format="json").status_code == 429


def test_a_batch_counts_its_events(limit, responder_api):
    assert responder_api.post("/api/v1/events", [_event(i) for i in range(4)], format="json").status_code == 201
    assert responder_api.post("/api/v1/events", [_event(i) for i in range(2)], format="json").status_code == 429
    assert Event.objects.count() == 4


def test_alert_endpoints_share_the_budget(limit):
    client = _key_client("am")
    for i in range(5):
        body = {"service": "api", "severity": "high", "summary": "down", "dedup_key": f"k{i}"}
        assert client.post("/api/v1/alerts", body, format="json").status_code in (200, 201, 202)
    assert client.post("/api/v1/events", _event(), format="json").status_code == 429


def test_reading_is_not_rate_limited(limit, responder_api):
    for _ in range(8):
        assert responder_api.get("/api/v1/events").status_code == 200


def test_the_count_lives_in_redis_in_service_mode(limit, redis_url, responder_api):
    import redis

    limit.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url}}
    for i in range(5):
        assert responder_api.post("/api/v1/events", _event(i), format="json").status_code == 201
    keys = redis.Redis.from_url(redis_url).keys("*throttle:ingest:user*")
    assert len(keys) == 1
    assert int(redis.Redis.from_url(redis_url).get(keys[0])) == 5
    assert responder_api.post("/api/v1/events", _event(), format="json").status_code == 429


def test_redis_down_never_refuses_an_event(limit, responder_api):
    from tests.server import free_port

    limit.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
        }
    }
    for i in range(7):
        assert responder_api.post("/api/v1/events", _event(i), format="json").status_code == 201
    assert Event.objects.count() == 7


def test_an_empty_limit_turns_it_off(settings, responder_api):
    settings.INGEST_RATE_LIMIT = ""
    for i in range(10):
        assert responder_api.post("/api/v1/events", _event(i), format="json").status_code == 201
