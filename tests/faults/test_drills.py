"""Fault drills against the real product in service mode (`manage.py up` with PostgreSQL and Redis:
uvicorn web workers, a Celery worker, beat), each with its own throwaway server to break.

Promises checked: an event answered 201 is stored, exactly once; nothing answers 5xx except a clear
503 (with Retry-After) while the database is truly gone; everything recovers by itself; correlation
catches up; a killed worker loses no task and opens no duplicate incident; SIGTERM drains cleanly.
"""

from __future__ import annotations

import signal
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
import psutil
import psycopg
import pytest

from tests.faults.conftest import Load, _wait_until, stored_messages
from tests.server import running_server, scratch_database

# Run once, in the PostgreSQL pass of the suite (they start their own servers whatever the pass).
pytestmark = [pytest.mark.faults, pytest.mark.postgres]


def _server(database_url: str, redis_url: str, **extra):
    var = tempfile.TemporaryDirectory()
    env = {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "WEB_CONCURRENCY": "2", "INGEST_RATE_LIMIT": "",
           "CORRELATION_INTERVAL_SECONDS": "1", "DB_POOL_TIMEOUT": "3", **extra}  # fmt: skip
    return var, running_server(Path(var.name), env=env, timeout=120)


def _assert_every_acknowledged_event_stored_once(load: Load, database_url: str) -> None:
    stored = Counter(stored_messages(database_url))
    missing = [m for m in load.acknowledged if stored[m] == 0]
    assert not missing, f"{len(missing)} acknowledged events were lost"
    duplicated = [m for m, n in stored.items() if n > 1]
    assert not duplicated, f"{len(duplicated)} events stored twice"


def _error_burst(base: str, token: str, service: str) -> int:
    events = [{"service": service, "level": "ERROR", "message": f"boom {i}"} for i in range(5)]
    return httpx.post(base + "/api/v1/events", json=events, headers={"Authorization": f"Token {token}"},
                      timeout=30).status_code  # fmt: skip


def _incidents(base: str, token: str, service: str) -> list[dict]:
    response = httpx.get(base + "/api/v1/incidents", params={"service": service},
                         headers={"Authorization": f"Token {token}"}, timeout=10)  # fmt: skip
    return response.json() if response.status_code == 200 else []


def test_redis_stopped_during_ingest(shared_postgres, throwaway_redis):
    """Redis (broker, channel layer, rate-limit counters) goes away for 6 s under load."""
    with scratch_database(shared_postgres, "opsassist_drill") as database_url:
        var, server = _server(database_url, throwaway_redis.url)
        with var:
            with server as (base, token, _), Load(base, token) as load:
                time.sleep(2)
                throwaway_redis.stop()
                time.sleep(1)
                assert _error_burst(base, token, "during-outage") == 201  # accepted while Redis is down
                ready = httpx.get(base + "/health/ready", timeout=10)
                assert ready.status_code == 503 and ready.json()["checks"]["broker"]["status"] == "fail"
                time.sleep(5)
                throwaway_redis.start()
                time.sleep(2)
                # Correlation catches up: the burst sent during the outage opens its incident.
                _wait_until(lambda: len(_incidents(base, token, "during-outage")) == 1, 30, "correlation to catch up")
                assert httpx.get(base + "/health/ready", timeout=10).status_code == 200
            log = (Path(var.name) / "server.log").read_text(errors="replace")[-6000:]  # read before it is removed
        statuses = Counter(load.statuses)
        assert statuses[201] > 100
        assert set(statuses) <= {201}, (
            f"answers other than 201 while Redis was down: {statuses}; slow (> 6 s): {load.slow}\n"
            f"the server's log ends:\n{log}"
        )
        _assert_every_acknowledged_event_stored_once(load, database_url)


def test_postgres_restarted_under_load(throwaway_postgres, drill_redis_url):
    """The database stops for ~6 s under load: fast 503s with Retry-After, /health/ready 503, then
    recovery without a restart of OpsAssist."""
    var, server = _server(throwaway_postgres.url, drill_redis_url)
    with var, server as (base, token, _):
        with Load(base, token) as load:
            time.sleep(2)
            throwaway_postgres.stop("fast")
            time.sleep(1.5)
            down = httpx.post(base + "/api/v1/events", json={"service": "x", "level": "INFO", "message": "m"},
                              headers={"Authorization": f"Token {token}"}, timeout=30)  # fmt: skip
            assert down.status_code == 503, down.text
            assert down.headers["retry-after"] == "5"
            assert httpx.get(base + "/health/ready", timeout=10).status_code == 503
            time.sleep(10)  # longer than the fast path's credential cache: lookups hit the dead database too
            throwaway_postgres.start()
            _wait_until(lambda: load.count(201) > 0 and load.statuses[-1] == 201, 30, "ingestion to recover")
            before = load.count(201)
            time.sleep(2)
            assert load.count(201) > before + 20
        assert httpx.get(base + "/health/ready", timeout=10).status_code == 200
        statuses = Counter(load.statuses)
        assert set(statuses) <= {201, 503}, f"unexpected answers: {statuses}"
        assert statuses[503] > 0
        assert not load.slow, f"answers slower than 6 s while the database was down: {load.slow[:5]}"
        _assert_every_acknowledged_event_stored_once(load, throwaway_postgres.url)


def test_sigterm_drains_web_worker_and_beat(shared_postgres, drill_redis_url):
    """SIGTERM to every process under load: in-flight requests finish, each process exits by itself,
    and every acknowledged event (and every acknowledged batch, whole) is stored."""
    with scratch_database(shared_postgres, "opsassist_drill") as database_url:
        var, server = _server(database_url, drill_redis_url)
        with var, server as (base, token, proc):
            processes = psutil.Process(proc.pid).children(recursive=True)
            with Load(base, token) as load:
                time.sleep(3)
                for child in processes:
                    if child.is_running():
                        child.send_signal(signal.SIGTERM)
                _, alive = psutil.wait_procs(processes, timeout=20)
                assert not alive, f"still running 20 s after SIGTERM: {[p.cmdline() for p in alive]}"
            assert load.count(201) > 50
            _assert_every_acknowledged_event_stored_once(load, database_url)
        with psycopg.connect(database_url) as conn:  # no half-written batch either
            assert conn.execute("SELECT count(*) FROM incidents_event WHERE service <> 'drill'").fetchone()[0] == 0


def test_a_worker_killed_mid_task_loses_nothing(shared_postgres, drill_redis_url):
    """A worker process is killed (SIGKILL) while it runs a health check: the task is redelivered
    (acks_late, reject_on_worker_lost), the check runs to its end, and the failing service has exactly
    one incident."""
    slow = _SlowServer()
    with slow, scratch_database(shared_postgres, "opsassist_drill") as database_url:
        var, server = _server(database_url, drill_redis_url)
        with var, server as (base, token, proc):
            headers = {"Authorization": f"Token {token}"}
            # Checked once (hourly): a second request to the target can only be the killed task redelivered.
            monitor = {"name": "slow-api", "kind": "http", "target": slow.url, "interval_seconds": 3600,
                       "timeout_seconds": 8}  # fmt: skip
            assert httpx.post(base + "/api/v1/monitors", json=monitor, headers=headers).status_code == 201
            _wait_until(lambda: slow.in_flight() > 0, 30, "a check in flight")
            victims = [p for p in psutil.Process(proc.pid).children(recursive=True)
                       if "worker" in " ".join(p.cmdline()) and p.children() == []]  # fmt: skip
            assert victims, "no Celery pool process found"
            checking = [v for v in victims if any(c.raddr and c.raddr[1] == slow.port
                                                  for c in v.net_connections(kind="tcp"))]  # fmt: skip
            assert len(checking) == 1, "the process running the check"
            checking[0].kill()
            assert slow.requests() == 1
            _wait_until(lambda: slow.requests() == 2, 40, "the killed check to be redelivered")
            _wait_until(lambda: len(_incidents(base, token, "slow-api")) >= 1, 60, "the incident")
            time.sleep(4)
            assert len([i for i in _incidents(base, token, "slow-api") if i["status"] != "resolved"]) == 1


class _SlowServer:
    """An HTTP endpoint that answers 500 after 3 s, counting requests."""

    def __init__(self):
        from tests.server import free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/health"
        self.dir = tempfile.TemporaryDirectory()
        self.log = Path(self.dir.name) / "requests"

    def __enter__(self):
        script = (
            "import http.server, time, sys\n"
            "log = open(sys.argv[2], 'a', buffering=1)\n"
            "class H(http.server.BaseHTTPRequestHandler):\n"
            "    def do_GET(self):\n"
            "        log.write('start\\n'); time.sleep(3); log.write('end\\n')\n"
            "        self.send_response(500); self.end_headers(); self.wfile.write(b'down')\n"
            "    def log_message(self, *a): pass\n"
            "http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()\n"
        )
        self.proc = subprocess.Popen(["python3", "-c", script, str(self.port), str(self.log)])
        self.log.touch()
        time.sleep(0.5)
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()
        self.dir.cleanup()

    def _lines(self) -> list[str]:
        return self.log.read_text().splitlines()

    def requests(self) -> int:
        return self._lines().count("start")

    def in_flight(self) -> int:
        lines = self._lines()
        return lines.count("start") - lines.count("end")
