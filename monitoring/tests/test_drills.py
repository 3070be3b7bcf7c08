"""Seed 001 for real: drill -> incident within one check -> clear -> auto-resolved, one incident throughout."""

import pytest

from incidents.models import Incident
from monitoring import drills
from monitoring.checkers import postgres as postgres_checker
from monitoring.services import do_run_check
from opsassist.lib.errors import ServiceError

pytestmark = pytest.mark.django_db


def incidents_of(monitor):
    return Incident.objects.filter(source="health_check", component=monitor.name)


def test_postgres_idle_connections_drill_round_trip(pg_monitor):
    assert do_run_check(pg_monitor).health == 100
    started = drills.do_start_drill(pg_monitor, "idle_connections")
    assert started["idle_connections_opened"] == 12
    try:
        for _ in range(3):  # several unhealthy checks: still one incident
            result = do_run_check(pg_monitor)
        assert result.metrics["idle_connections"] == 12
        assert result.health == 50 and result.status == "degraded"
        incident = incidents_of(pg_monitor).get()
        assert incident.status == "open" and incident.service == "postgres-test"
        assert "Health: 50%" in incident.title
    finally:
        cleared = drills.do_clear_drill(pg_monitor)
    assert cleared["connections_closed"] >= 12
    result = do_run_check(pg_monitor)
    assert result.health == 100 and result.metrics["idle_connections"] == 0
    incident = incidents_of(pg_monitor).get()
    assert incident.status == "resolved"
    assert "Auto-resolved" in incident.resolution_notes


def test_clear_ends_connections_another_process_holds(pg_monitor):
    drills.do_start_drill(pg_monitor, "idle_connections")
    # Forget this process's handles, as if another web worker had opened them.
    held = postgres_checker._held.pop(pg_monitor.name)
    try:
        assert drills.do_clear_drill(pg_monitor)["connections_closed"] == 12
        assert do_run_check(pg_monitor).metrics["idle_connections"] == 0
    finally:
        for conn in held:
            conn.close()


def test_redis_memory_pressure_drill_round_trip(redis_monitor):
    assert do_run_check(redis_monitor).health == 100
    started = drills.do_start_drill(redis_monitor, "memory_pressure")
    try:
        assert started["memory_percent"] > 90
        result = do_run_check(redis_monitor)
        assert result.health == 0 and result.status == "down"
        incident = incidents_of(redis_monitor).get()
        assert incident.severity == "critical"
    finally:
        cleared = drills.do_clear_drill(redis_monitor)
    assert cleared["keys_deleted"] == started["keys_written"]
    assert do_run_check(redis_monitor).health == 100
    assert incidents_of(redis_monitor).get().status == "resolved"


def test_a_redis_drill_never_touches_server_settings(redis_monitor, redis_target):
    import redis

    client = redis.Redis.from_url(redis_target[0])
    before = client.config_get("maxmemory")
    drills.do_start_drill(redis_monitor, "memory_pressure")
    drills.do_clear_drill(redis_monitor)
    assert client.config_get("maxmemory") == before


def test_two_monitors_never_disturb_each_other(pg_monitor, redis_monitor):
    """Seed 000: a healthy check of one monitor must not reset the other's incident tracking."""
    drills.do_start_drill(pg_monitor, "idle_connections")
    try:
        for _ in range(3):
            do_run_check(pg_monitor)
            do_run_check(redis_monitor)  # healthy, interleaved
        assert incidents_of(pg_monitor).count() == 1
        assert incidents_of(redis_monitor).count() == 0
        drills.do_start_drill(redis_monitor, "memory_pressure")
        for _ in range(2):
            do_run_check(redis_monitor)
            do_run_check(pg_monitor)
        drills.do_clear_drill(redis_monitor)
        do_run_check(redis_monitor)  # redis recovers...
        do_run_check(pg_monitor)  # ...postgres is still down
        assert incidents_of(redis_monitor).get().status == "resolved"
        assert incidents_of(pg_monitor).get().status == "open"
    finally:
        drills.do_clear_drill(pg_monitor)
        drills.do_clear_drill(redis_monitor)
    do_run_check(pg_monitor)
    assert incidents_of(pg_monitor).get().status == "resolved"
    assert Incident.objects.count() == 2


def test_drills_need_simulation_mode(pg_monitor, settings):
    settings.OPSASSIST_SIMULATION = False
    with pytest.raises(ServiceError, match="OPSASSIST_SIMULATION"):
        drills.do_start_drill(pg_monitor, "idle_connections")


def test_the_drill_must_match_the_kind(pg_monitor):
    with pytest.raises(ServiceError, match="idle_connections"):
        drills.do_start_drill(pg_monitor, "memory_pressure")
