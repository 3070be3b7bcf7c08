"""A frozen Celery worker (SIGSTOP) under `manage.py up` in service mode: /health sees it."""

import os
import signal
import time

import httpx
import psutil
import pytest

from tests.server import running_server, scratch_database, wait_until_healthy

pytestmark = pytest.mark.server


def _celery_main(proc, role: str) -> psutil.Process:
    """The main `celery ... <role>` process under the server (not its pool children)."""

    def is_role(p: psutil.Process) -> bool:
        cmdline = p.cmdline()
        return any("celery" in part for part in cmdline) and role in cmdline

    candidates = [p for p in psutil.Process(proc.pid).children(recursive=True) if is_role(p)]
    mains = [p for p in candidates if not is_role(p.parent())]
    assert len(mains) == 1, [p.cmdline() for p in candidates]
    return mains[0]


def _wait_for_failed(base: str, name: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = httpx.get(base + "/health", timeout=10)
        if response.status_code == 503 and name in response.json()["failed"]:
            return response.json()
        time.sleep(0.5)
    raise AssertionError(f"/health did not name {name} within {timeout}s: {response.text}")


# Service mode on its own scratch PostgreSQL database, whichever engine the suite runs on: it runs once,
# in the PostgreSQL pass.
@pytest.mark.postgres
def test_health_names_a_frozen_worker_within_30s_and_recovers(tmp_path, postgres_url, redis_url):
    env = {"REDIS_URL": redis_url, "HEALTH_HEARTBEAT_MAX_AGE_SECONDS": "6", "HEALTH_HEARTBEAT_INTERVAL_SECONDS": "1"}
    with scratch_database(postgres_url, "opsassist_frozen") as database_url:
        env["DATABASE_URL"] = database_url
        with running_server(tmp_path, env=env, timeout=90) as (base, _token, proc):
            healthy = wait_until_healthy(base)
            assert healthy["checks"]["worker"]["age_seconds"] < 6
            worker = _celery_main(proc, "worker")
            os.kill(worker.pid, signal.SIGSTOP)
            try:
                frozen_at = time.monotonic()
                body = _wait_for_failed(base, "worker", timeout=30)
                assert time.monotonic() - frozen_at < 30
                assert "beat" not in body["failed"]
                assert "last heartbeat" in body["checks"]["worker"]["error"]
                metrics = httpx.get(base + "/metrics", timeout=10).text
                assert 'opsassist_heartbeat_age_seconds{role="worker"}' in metrics
            finally:
                os.kill(worker.pid, signal.SIGCONT)
            wait_until_healthy(base, timeout=30)
