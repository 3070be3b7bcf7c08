"""Shared fixtures: the cast of users, API clients, and the real PostgreSQL/Redis the tests may need.

Tests that need a service skip when it is absent, except when OPSASSIST_REQUIRE_SERVICES=1 (CI), where
they fail instead.
"""

from __future__ import annotations

import contextlib
import os
import socket
from urllib.parse import urlparse

import pytest
from django.db import connection
from rest_framework.test import APIClient

REQUIRE_SERVICES = os.environ.get("OPSASSIST_REQUIRE_SERVICES") == "1"
TEST_REDIS_URL = os.environ.get("OPSASSIST_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
TEST_POSTGRES_URL = os.environ.get("OPSASSIST_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=1):
            return True
    except OSError:
        return False


def need(service: str, available: bool) -> None:
    """Skip (locally) or fail (CI) when a service a test needs is absent."""
    if available:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"{service} is required (OPSASSIST_REQUIRE_SERVICES=1) but not available")
    pytest.skip(f"{service} not available")


@pytest.fixture(autouse=True)
def _eager_celery(settings):
    """Tasks run inline in tests; the embedded worker itself is exercised by the server tests."""
    from opsassist.celery import app

    app.conf.task_always_eager = True
    yield


@pytest.fixture(autouse=True)
def _fresh_analytics(settings):
    """Tests read analytics right after changing incidents: no caching (test_analytics checks it)."""
    settings.ANALYTICS_CACHE_SECONDS = 0


@pytest.fixture(autouse=True)
def _fresh_cache():
    """The in-memory cache (rate-limit counters) starts empty in every test."""
    from django.core.cache import caches

    for cache in caches.all(initialized_only=True):
        with contextlib.suppress(Exception):  # a test's own, unreachable, Redis cache
            cache.clear()


@pytest.fixture(autouse=True)
def _postgres_marker(request):
    """`postgres` tests need PostgreSQL as the Django database: they run in the PostgreSQL pass (CI runs
    the suite on PostgreSQL, then again on SQLite, where they skip)."""
    if request.node.get_closest_marker("postgres") and connection.vendor != "postgresql":
        pytest.skip("needs DATABASE_URL=postgres://... (runs in the PostgreSQL pass)")


@contextlib.contextmanager
def owned_redis_db(url: str):
    """A Redis DB number the tests own on the shared server: emptied before and after use."""
    need("Redis", _reachable(url, 6379))
    import redis

    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


@pytest.fixture
def redis_url():
    with owned_redis_db(TEST_REDIS_URL) as url:
        yield url


@pytest.fixture
def postgres_url():
    """A real PostgreSQL server to use as a monitored target."""
    need("PostgreSQL", _reachable(TEST_POSTGRES_URL, 5432))
    return TEST_POSTGRES_URL


@pytest.fixture
def pg_target(postgres_url):
    """A scratch database on the real PostgreSQL server, so idle counts are ours alone."""
    from tests.server import scratch_database

    with scratch_database(postgres_url, "opsassist_target") as url:
        yield url


@pytest.fixture
def redis_target(redis_url):
    """The tests' own Redis DB, with a memory limit a few MB above what the server uses now."""
    import redis

    used = int(redis.Redis.from_url(redis_url).info("memory")["used_memory"])
    return redis_url, used * 4 + 4 * 1024 * 1024


@pytest.fixture
def pg_monitor(pg_target, settings):
    from monitoring.models import Monitor

    settings.OPSASSIST_SIMULATION = True
    return Monitor.objects.create(name="postgres-test", kind="postgres", target=pg_target, drills_allowed=True)


@pytest.fixture
def redis_monitor(redis_target, settings):
    from monitoring.models import Monitor

    settings.OPSASSIST_SIMULATION = True
    url, limit = redis_target
    return Monitor.objects.create(
        name="redis-test", kind="redis", target=url, config={"memory_limit_bytes": limit}, drills_allowed=True
    )


def _user(django_user_model, username: str, group: str | None = None, **extra):
    from django.contrib.auth.models import Group

    user = django_user_model.objects.create_user(
        username=username,
        email=f"{username}@example.com",
        password="pw",
        **extra,
    )
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def admin_user(django_user_model):
    return _user(django_user_model, "alice", is_staff=True, is_superuser=True)


@pytest.fixture
def responder(django_user_model):
    return _user(django_user_model, "bob", "responder")


@pytest.fixture
def viewer(django_user_model):
    return _user(django_user_model, "carol", "viewer")


@pytest.fixture
def outsider(django_user_model):
    return _user(django_user_model, "charlie")


def _client_for(user) -> APIClient:
    from rest_framework.authtoken.models import Token

    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    client.user = user
    return client


@pytest.fixture
def api(admin_user) -> APIClient:
    return _client_for(admin_user)


@pytest.fixture
def responder_api(responder) -> APIClient:
    return _client_for(responder)


@pytest.fixture
def viewer_api(viewer) -> APIClient:
    return _client_for(viewer)


@pytest.fixture
def outsider_api(outsider) -> APIClient:
    return _client_for(outsider)


@pytest.fixture
def anon_api() -> APIClient:
    return APIClient()
