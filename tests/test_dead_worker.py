"""Service mode for real: the Celery worker is SIGKILLed while it verifies a remediation. The run must not
stay `verifying` forever: the reaper (beat) fails or finishes it within its deadline, and the incident
accepts a new proposal afterwards."""

from __future__ import annotations

import os
import signal
import time
from datetime import datetime, timedelta

import httpx
import psutil
import psycopg
import pytest

from tests.server import running_server, scratch_database

VERIFY_SECONDS = 20
TIME_LIMIT = 30  # CELERY_TASK_TIME_LIMIT: the verification grace (and so the deadline) follows from it
REAPER_SLACK = timedelta(seconds=20)  # one reaper interval (15 s) and a health check


def _wait(probe, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {seconds} s")


def _kill_worker(server: int) -> list[int]:
    """SIGKILL the Celery worker (its main process and its pool) among this server's own descendants."""
    killed = []
    for child in psutil.Process(server).children(recursive=True):
        try:
            cmdline = " ".join(child.cmdline())
        except psutil.Error:
            continue
        if "celery" in cmdline and " worker" in cmdline:
            os.kill(child.pid, signal.SIGKILL)
            killed.append(child.pid)
    return killed


# Service mode on its own scratch PostgreSQL database, whichever engine the suite runs on: it runs once,
# in the PostgreSQL pass.
@pytest.mark.postgres
def test_a_worker_killed_mid_verification_leaves_nothing_in_flight(tmp_path, postgres_url, redis_url):
    env = {
        "REDIS_URL": redis_url,
        "REMEDIATION_VERIFY_SECONDS": str(VERIFY_SECONDS),
        "REMEDIATION_VERIFY_INTERVAL": "1",
        "CELERY_TASK_TIME_LIMIT": str(TIME_LIMIT),
        "REMEDIATION_COMMAND_TIMEOUT_SECONDS": "10",
    }
    with (
        scratch_database(postgres_url, "opsassist_dead") as database_url,
        scratch_database(postgres_url, "opsassist_dead_target") as target,
    ):
        env["DATABASE_URL"] = database_url
        sessions = [psycopg.connect(target, autocommit=True, application_name="app") for _ in range(12)]
        try:
            _kill_and_reap(tmp_path, env, target)
        finally:
            for session in sessions:
                session.close()


def _kill_and_reap(tmp_path, env: dict, target: str) -> None:
    with running_server(tmp_path, env=env, timeout=90) as (base, token, proc):
        api = httpx.Client(base_url=base + "/api/v1", headers={"Authorization": f"Token {token}"}, timeout=10)
        run, incident_id = _start_a_slow_verification(api, target)
        deadline = datetime.fromisoformat(run["deadline_at"])
        assert _kill_worker(proc.pid), "no worker process found"
    # Whether or not a supervisor restarts the worker, the run is left to the next worker and beat.
    with running_server(tmp_path, env=env, timeout=90) as (base, token, _):
        api = httpx.Client(base_url=base + "/api/v1", headers={"Authorization": f"Token {token}"}, timeout=10)
        finished = _wait(lambda: _finished(api, run["id"]), VERIFY_SECONDS + TIME_LIMIT + 60, "reaped")
        # The idle sessions are still there: failed (by the reaper, or by the attempt it resumed), within one
        # reaper pass of its deadline, the on-call paged through the usual path.
        assert finished["status"] == "failed" and finished["error"], finished
        assert datetime.fromisoformat(finished["updated_at"]) <= deadline + REAPER_SLACK
        # The page is a task of its own, queued when the run failed: it may land a moment after the run.
        _wait(lambda: _paged_about_the_failure(api, incident_id), 30, "the on-call paged about the failure")
        again = api.post(f"/incidents/{incident_id}/remediations")
        assert again.status_code in (201, 202), again.text  # nothing blocks a new proposal


def _paged_about_the_failure(api: httpx.Client, incident_id: int) -> bool:
    texts = [entry["text"] for entry in api.get(f"/incidents/{incident_id}").json()["timeline"]]
    return any("Remediation kill_idle_connections failed" in text and "pag" in text for text in texts)


def _start_a_slow_verification(api: httpx.Client, target: str) -> tuple[dict, int]:
    """12 idle sessions this test holds (they outlive a server restart, unlike a drill's) and a kill that
    finds none old enough to end, so verification keeps failing for a while."""
    monitor = {"name": "dead-db", "kind": "postgres", "target": target, "interval_seconds": 2,
               "thresholds": {"idle_floor_seconds": 3600}}  # fmt: skip
    assert api.post("/monitors", json=monitor).status_code == 201
    incident_id = _wait(lambda: api.get("/monitors/dead-db").json()["open_incident_id"], 20, "incident")
    proposed = api.post(f"/incidents/{incident_id}/remediations")
    assert proposed.status_code in (201, 202), proposed.text
    run_id = proposed.json()["id"]
    _wait(lambda: api.get(f"/remediations/{run_id}").json()["action"], 30, "proposal")
    approved = api.post(f"/remediations/{run_id}/approve")
    assert approved.status_code == 200, approved.text
    run = _wait(lambda: _verifying(api, run_id), 30, "verifying")
    return run, incident_id


def _verifying(api: httpx.Client, run_id: int) -> dict | None:
    run = api.get(f"/remediations/{run_id}").json()
    assert run["status"] not in ("failed", "succeeded"), run
    return run if run["status"] == "verifying" and run["verify_attempts"] >= 2 else None


def _finished(api: httpx.Client, run_id: int) -> dict | None:
    run = api.get(f"/remediations/{run_id}").json()
    return run if run["status"] in ("failed", "succeeded") else None
