import pytest

from monitoring.models import Monitor
from tests.server import scratch_database


@pytest.fixture
def pg_target(postgres_url):
    """A scratch database on the real PostgreSQL server, so idle counts are ours alone."""
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
    settings.OPSASSIST_SIMULATION = True
    return Monitor.objects.create(name="postgres-test", kind="postgres", target=pg_target)


@pytest.fixture
def redis_monitor(redis_target, settings):
    settings.OPSASSIST_SIMULATION = True
    url, limit = redis_target
    return Monitor.objects.create(name="redis-test", kind="redis", target=url, config={"memory_limit_bytes": limit})
