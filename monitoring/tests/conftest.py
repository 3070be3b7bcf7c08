import uuid

import psycopg
import pytest

from monitoring.models import Monitor


@pytest.fixture
def pg_target(postgres_url):
    """A scratch database on the real PostgreSQL server, so idle counts are ours alone."""
    name = f"opsassist_target_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield postgres_url.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def redis_target(redis_url):
    """The tests' own Redis DB, with a memory limit a few MB above what the server uses now."""
    import redis

    used = int(redis.Redis.from_url(redis_url).info("memory")["used_memory"])
    return redis_url, used * 4 + 4 * 1024 * 1024


@pytest.fixture
def pg_monitor(pg_target, settings):
    settings.OPSASSIST_SIMULATION = True
    return Monitor.objects.create(name="postgres-test", kind="postgres", target=pg_target)


@pytest.fixture
def redis_monitor(redis_target, settings):
    settings.OPSASSIST_SIMULATION = True
    url, limit = redis_target
    return Monitor.objects.create(name="redis-test", kind="redis", target=url, config={"memory_limit_bytes": limit})
