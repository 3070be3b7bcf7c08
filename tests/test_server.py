"""`make up` for real: the embedded single process, and the PostgreSQL + Redis multi-process mode."""

import time
import uuid

import httpx
import pytest
import redis

from tests.server import running_server, scratch_database, wait_until_healthy

pytestmark = pytest.mark.server


def _check_served(base: str, token: str) -> None:
    wait_until_healthy(base)
    assert httpx.get(base + "/api/v1/me").status_code == 401
    me = httpx.get(base + "/api/v1/me", headers={"Authorization": f"Token {token}"})
    assert me.status_code == 200 and me.json()["username"] == "admin"


def _burst_opens_incident_within_3s(base: str, token: str) -> None:
    """The contract's promise, through the real worker and beat: 5 errors -> an incident within 3 s."""
    headers = {"Authorization": f"Token {token}"}
    service = f"svc-{uuid.uuid4().hex[:6]}"
    events = [{"service": service, "level": "ERROR", "message": f"boom {i}"} for i in range(5)]
    assert httpx.post(base + "/api/v1/events", json=events, headers=headers).status_code == 201
    started = time.monotonic()
    while time.monotonic() - started < 3:
        found = httpx.get(base + "/api/v1/incidents", params={"service": service}, headers=headers).json()
        if found:
            assert found[0]["event_count"] == 5 and found[0]["source"] == "events"
            return
        time.sleep(0.1)
    raise AssertionError("no incident within 3 s")


def test_embedded_mode_serves_and_stops_on_ctrl_c(tmp_path):
    with running_server(tmp_path) as (base, token, proc):
        _check_served(base, token)
        assert httpx.get(base + "/health").json()["checks"]["database"]["engine"] == "sqlite"
        _burst_opens_incident_within_3s(base, token)
    assert proc.returncode == 0
    assert (tmp_path / "opsassist.sqlite3").exists()

    # A second start reuses the admin user and its token.
    with running_server(tmp_path) as (base, token2, _):
        assert token2 == token
        _check_served(base, token2)


# Service mode on its own scratch PostgreSQL database, whichever engine the suite runs on: it runs once,
# in the PostgreSQL pass.
@pytest.mark.postgres
def test_service_mode_runs_web_worker_and_beat(tmp_path, postgres_url, redis_url):
    with scratch_database(postgres_url, "opsassist_srv") as database_url:
        _run_service_mode(tmp_path, database_url, redis_url)


def _run_service_mode(tmp_path, database_url: str, redis_url: str) -> None:
    env = {"DATABASE_URL": database_url, "REDIS_URL": redis_url}
    with running_server(tmp_path, env=env, timeout=90) as (base, token, _proc):
        _check_served(base, token)
        health = httpx.get(base + "/health").json()
        assert health["checks"]["database"]["engine"] == "postgresql"
        assert health["checks"]["broker"]["kind"] == "redis"
        _burst_opens_incident_within_3s(base, token)
        # The worker is a separate process consuming the Redis broker.
        client = redis.Redis.from_url(redis_url)
        assert any(key.startswith(b"_kombu.binding") for key in client.keys("*"))
    log = (tmp_path / "server.log").read_text()
    assert "Supervising web, worker, beat" in log


def test_a_drill_through_the_real_scheduler_opens_and_resolves_one_incident(tmp_path, postgres_url):
    """Beat -> worker -> check -> incident within one interval; clear -> resolved. Embedded mode."""
    with scratch_database(postgres_url, "opsassist_drill") as target, running_server(tmp_path) as (base, token, _):
        headers = {"Authorization": f"Token {token}"}
        monitor = {
            "name": "drill-db",
            "kind": "postgres",
            "target": target,
            "interval_seconds": 2,
            "drills_allowed": True,
        }
        assert httpx.post(base + "/api/v1/monitors", json=monitor, headers=headers).status_code == 201
        drill = httpx.post(base + "/api/v1/monitors/drill-db/simulate", json={"failure": "idle_connections"},
                           headers=headers)  # fmt: skip
        assert drill.status_code == 200
        incident_id = _wait(
            lambda: httpx.get(base + "/api/v1/monitors/drill-db", headers=headers).json()["open_incident_id"], 4
        )
        assert httpx.post(base + "/api/v1/monitors/drill-db/simulate/clear", headers=headers).status_code == 200
        _wait(
            lambda: httpx.get(f"{base}/api/v1/incidents/{incident_id}", headers=headers).json()["status"] == "resolved",
            4,
        )
        params = {"source": "health_check", "q": "drill-db"}
        incidents = httpx.get(base + "/api/v1/incidents", params=params, headers=headers).json()
        assert [i["id"] for i in incidents] == [incident_id]


def _wait(probe, seconds: float):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"not within {seconds} s")


def test_embedded_mode_is_one_process_whatever_web_concurrency_says(tmp_path):
    with running_server(tmp_path, env={"WEB_CONCURRENCY": "3", "LOG_LEVEL": "INFO"}):
        pass
    assert "Started parent process" not in (tmp_path / "server.log").read_text()
