"""Worker and beat heartbeats: their ages, and /health going 503 naming the silent one."""

import re
import time

import pytest
from django.test import override_settings

from opsassist.lib import heartbeat

pytestmark = pytest.mark.django_db


def test_ages_are_none_before_any_heartbeat():
    assert heartbeat.ages() == {"worker": None, "beat": None}


def test_the_age_is_the_time_since_the_freshest_host_beat():
    now = time.time()
    heartbeat.beat("worker", "w1", now=now - 50)
    heartbeat.beat("worker", "w2", now=now - 4)
    heartbeat.beat("beat", "b1", now=now - 12)
    assert heartbeat.ages(now=now) == {"worker": 4.0, "beat": 12.0}


def test_a_host_silent_for_a_day_is_forgotten():
    now = time.time()
    heartbeat.beat("worker", "old", now=now - heartbeat.FORGET_AFTER - 1)
    heartbeat.beat("worker", "new", now=now)
    assert set(heartbeat._read("worker")) == {"new"}


@override_settings(HEALTH_HEARTBEAT_MAX_AGE_SECONDS=30)
def test_check_age_passes_within_the_limit_and_names_the_role_past_it():
    now = time.time()
    heartbeat.beat("worker", now=now - 29)
    assert heartbeat.check_age("worker", now=now)["age_seconds"] == pytest.approx(29, abs=0.01)
    with pytest.raises(RuntimeError, match=r"worker: last heartbeat 31s ago \(limit 30s\)"):
        heartbeat.check_age("worker", now=now + 2)
    with pytest.raises(RuntimeError, match="beat: no heartbeat yet"):
        heartbeat.check_age("beat", now=now)


@override_settings(HEALTH_HEARTBEAT_MAX_AGE_SECONDS=30)
@pytest.mark.parametrize("path", ["/health", "/health/ready"])
def test_health_answers_503_naming_a_silent_worker(client, path):
    heartbeat.beat("worker", now=time.time() - 45)
    heartbeat.beat("beat")
    response = client.get(path)
    assert response.status_code == 503
    body = response.json()
    assert "worker" in body["failed"] and "beat" not in body["failed"]
    assert re.fullmatch(r"worker: last heartbeat 4[5-9]s ago \(limit 30s\)", body["checks"]["worker"]["error"])
    assert body["checks"]["beat"]["age_seconds"] < 5


def test_health_answers_503_naming_beat_when_it_never_beat(client):
    heartbeat.beat("worker")
    response = client.get("/health")
    assert response.status_code == 503
    assert "beat" in response.json()["failed"]
    assert response.json()["checks"]["worker"]["status"] == "ok"


def test_the_beat_scheduler_writes_a_heartbeat_on_its_tick(tmp_path):
    from opsassist.celery import app

    scheduler = heartbeat.HeartbeatScheduler(app, schedule_filename=str(tmp_path / "schedule"), lazy=True)
    scheduler.setup_schedule()
    try:
        assert scheduler.tick() <= 5.0
    finally:
        scheduler.close()
    assert heartbeat.ages()["beat"] < 5


def test_a_real_worker_writes_its_heartbeat_from_its_loop():
    """A thread-pool worker on the in-memory broker, as in the embedded mode."""
    import threading

    from opsassist.celery import app

    worker = app.WorkController(
        app=app, pool="threads", concurrency=1, hostname="hb-test@here", without_heartbeat=True,
        without_mingle=True, without_gossip=True, queues=["hb-test"],
    )  # fmt: skip
    thread = threading.Thread(target=worker.start, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while "hb-test@here" not in heartbeat._read("worker") and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        worker.stop(in_sighandler=False)
        thread.join(10)
    assert "hb-test@here" in heartbeat._read("worker")


def test_with_eager_tasks_there_is_no_worker_to_wait_for(client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    heartbeat.beat("beat")
    response = client.get("/health")
    assert response.json()["checks"]["worker"] == {"status": "ok", "kind": "eager"}
