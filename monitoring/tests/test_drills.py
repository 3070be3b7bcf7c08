"""Seed 001 for real: drill -> incident within one check -> clear -> auto-resolved, one incident throughout."""

import pytest

from incidents.models import Incident
from monitoring import drills
from monitoring.checkers import postgres as postgres_checker
from monitoring.models import Monitor
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


def drill_bytes(url, monitor):
    """What the drill really stored: the total length of its keys' values."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        return sum(client.strlen(key) for key in client.scan_iter(match=drills.drill_prefix(monitor) + "*"))
    finally:
        client.close()


def test_a_drill_never_writes_more_than_drill_max_bytes(redis_url, settings):
    settings.OPSASSIST_SIMULATION = True
    settings.DRILL_MAX_BYTES = 1024 * 1024 + 1000  # four 256 KiB values fit, a fifth does not
    monitor = Monitor.objects.create(
        name="big", kind="redis", target=redis_url, config={"memory_limit_bytes": 2**40}, drills_allowed=True
    )
    try:
        started = drills.do_start_drill(monitor, "memory_pressure")
        stored = drill_bytes(redis_url, monitor)
        assert started["capped"] is True
        assert started["bytes_written"] == stored == 1024 * 1024
        assert stored <= settings.DRILL_MAX_BYTES
    finally:
        drills.do_clear_drill(monitor)
    assert drill_bytes(redis_url, monitor) == 0


def test_a_drill_on_a_redis_without_any_limit_is_refused(api, redis_url, settings):
    import redis

    if int(redis.Redis.from_url(redis_url).config_get("maxmemory")["maxmemory"]):
        pytest.skip("this Redis has a maxmemory; the refusal is for a server without one")
    settings.OPSASSIST_SIMULATION = True
    monitor = Monitor.objects.create(name="nolimit", kind="redis", target=redis_url, drills_allowed=True)
    response = api.post("/api/v1/monitors/nolimit/simulate", {"failure": "memory_pressure"}, format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["thresholds.memory_limit_bytes"]
    assert "maxmemory" in response.json()["detail"]
    assert drill_bytes(redis_url, monitor) == 0


@pytest.mark.parametrize(
    ("kind", "target", "failure"),
    [
        ("postgres", "postgres://app:hunter2@127.0.0.1:1/db", "idle_connections"),
        ("redis", "redis://:hunter2@127.0.0.1:1/0", "memory_pressure"),
    ],
)
def test_clearing_a_drill_on_an_unreachable_target_is_not_a_500(api, settings, kind, target, failure):
    settings.OPSASSIST_SIMULATION = True
    Monitor.objects.create(
        name="gone", kind=kind, target=target, timeout_seconds=1, drills_allowed=True,
        config={"memory_limit_bytes": 2**30} if kind == "redis" else {},
    )  # fmt: skip
    for path, body in (("simulate/clear", {}), ("simulate", {"failure": failure})):
        response = api.post(f"/api/v1/monitors/gone/{path}", body, format="json")
        assert response.status_code == 409, response.content
        assert "127.0.0.1:1" in response.json()["detail"]
        assert list(response.json()["errors"]) == ["target"]
        assert b"hunter2" not in response.content


def test_a_database_scope_monitor_counts_only_its_own_database(redis_url, settings):
    """The demo's shape: a budget for the monitor's own DB, whatever else the server holds."""
    settings.OPSASSIST_SIMULATION = True
    budget = 8 * 1024 * 1024
    monitor = Monitor.objects.create(
        name="scoped", kind="redis", target=redis_url, drills_allowed=True,
        config={"memory_scope": "database", "memory_limit_bytes": budget},
    )  # fmt: skip
    healthy = do_run_check(monitor)
    assert healthy.health == 100 and healthy.metrics["used_memory"] == 0
    try:
        started = drills.do_start_drill(monitor, "memory_pressure")
        assert started["capped"] is False and started["bytes_written"] < budget
        down = do_run_check(monitor)
        assert down.health == 0 and down.metrics["memory_percent"] >= 90
    finally:
        drills.do_clear_drill(monitor)
    assert do_run_check(monitor).health == 100
    assert incidents_of(monitor).get().status == "resolved"


def test_a_target_that_refuses_the_drill_is_a_409_without_its_words(api, settings, postgres_url):
    settings.OPSASSIST_SIMULATION = True
    target = postgres_url.replace("postgres@", "no_such_role_xyz@", 1)
    Monitor.objects.create(name="denied", kind="postgres", target=target, drills_allowed=True)
    response = api.post("/api/v1/monitors/denied/simulate", {"failure": "idle_connections"}, format="json")
    assert response.status_code == 409
    assert "OperationalError" in response.json()["detail"]
    assert b"does not exist" not in response.content
