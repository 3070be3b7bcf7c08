"""Alertmanager at speed: webhook answer time for groups of 100 alerts, and alerts applied per second.

    .venv/bin/python bench/alertmanager.py                    # 30,000 alerts, one incident per group
    .venv/bin/python bench/alertmanager.py --grouping alert   # one incident per alert (the harder case)

Runs OpsAssist in service mode (as `make up` does with DATABASE_URL and REDIS_URL: web, worker, beat) on a
scratch database of OPSASSIST_TEST_POSTGRES_URL's server, dropped afterwards, and the Redis DB of
OPSASSIST_TEST_REDIS_URL. Then:

1. answer time: `--latency-groups` groups of 100 firing alerts sent at the sustained goal rate, 1,000
   alerts/s (a group every 100 ms, on schedule whatever the answers: an open loop, as Alertmanagers
   send) (goal p99 < 100 ms); then the same number sent by 4 clients back to back, which saturates the
   machine (the answer time of an overload, printed without a goal);
2. throughput: `--alerts` firing alerts in groups of 100 sent as fast as 8 clients can, then the same
   alerts resolved. An alert counts as processed when the database shows it (its Alert row firing, then
   resolved, and the inbox empty); the rate is alerts over the time from the first request until the
   last alert is in the database (goal >= 1,000 alerts/s sustained);
3. backlog: as many new alerts stored at once, as if the web had taken them while the worker was down,
   then applied by the drain alone (the rate the worker sustains when it does not share the CPU with the
   web answering).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx
import psutil
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ingest import pct  # noqa: E402
from tests.server import running_server, scratch_database  # noqa: E402

PG = os.environ.get("OPSASSIST_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("OPSASSIST_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
GROUP = 100
ANSWER_GOAL_MS = 100.0
RATE_GOAL = 1000.0


def body(prefix: str, group: int, status: str) -> bytes:
    """One Alertmanager notification: GROUP alerts of one group (its own groupKey and service)."""
    service = f"{prefix}-svc-{group}"
    alerts = [
        {"status": status, "labels": {"alertname": "InstanceDown", "service": service, "instance": f"host-{i}",
                                      "severity": "critical"},
         "annotations": {"summary": f"host-{i} of {service} is down"}, "fingerprint": f"{prefix}-{group}-{i}",
         "startsAt": "2026-01-01T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else
         "2026-01-01T00:05:00Z", "generatorURL": "http://prometheus:9090/graph"}
        for i in range(GROUP)
    ]  # fmt: skip
    return json.dumps({"version": "4", "groupKey": f'{{}}:{{service="{service}"}}', "status": status,
                       "receiver": "opsassist", "groupLabels": {"service": service},
                       "commonLabels": {"service": service}, "alerts": alerts}).encode()  # fmt: skip


def send_all(base: str, key: str, bodies: list[bytes], clients: int) -> tuple[list[float], float]:
    """POST every body with `clients` concurrent clients; (answer times, seconds) — every answer a 200."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    url = base + "/api/v1/integrations/alertmanager"

    def worker(share: list[bytes]) -> list[float]:
        times = []
        with httpx.Client(timeout=30, headers=headers) as client:
            for content in share:
                started = time.perf_counter()
                response = client.post(url, content=content)
                times.append(time.perf_counter() - started)
                assert response.status_code == 200, response.text
        return times

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(worker, [bodies[i::clients] for i in range(clients)]))
    return [t for times in results for t in times], time.perf_counter() - started


def wait_applied(database_url: str, sql: str, expected: int, limit: float) -> float:
    """Seconds until `sql` counts `expected` rows and the alert inbox is empty (polled every 50 ms)."""
    started = time.perf_counter()
    with psycopg.connect(database_url, autocommit=True) as conn:
        while time.perf_counter() - started < limit:
            done = conn.execute(sql).fetchone()[0]
            waiting = conn.execute("SELECT count(*) FROM incidents_alertinbox WHERE failed_at IS NULL").fetchone()[0]
            if done >= expected and waiting == 0:
                return time.perf_counter() - started
            time.sleep(0.05)
    raise SystemExit(f"not applied within {limit} s: {done} of {expected}, {waiting} waiting")


def server_cpu(pid: int) -> float:
    """CPU seconds used so far by the server's processes (web, worker, beat): the cost of the work on a
    shared machine, where wall-clock rates depend on what else runs (PostgreSQL's own CPU is not in it)."""
    total = 0.0
    root = psutil.Process(pid)
    for proc in [root, *root.children(recursive=True)]:
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def verdict(met: bool) -> str:
    return "MET" if met else "NOT MET"


def send_paced(base: str, key: str, bodies: list[bytes], per_second: float) -> list[float]:
    """POST body i at start + i / per_second (open loop: a slow answer does not delay the next request;
    up to 32 in flight); the answer times, every answer a 200."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    url = base + "/api/v1/integrations/alertmanager"
    local, clients = threading.local(), []

    def post(content: bytes) -> float:
        if not hasattr(local, "client"):
            local.client = httpx.Client(timeout=30, headers=headers)
            clients.append(local.client)
        started = time.perf_counter()
        response = local.client.post(url, content=content)
        assert response.status_code == 200, response.text
        return time.perf_counter() - started

    start = time.perf_counter()
    with ThreadPoolExecutor(32) as pool:
        futures = []
        for i, content in enumerate(bodies):
            time.sleep(max(0.0, start + i / per_second - time.perf_counter()))
            futures.append(pool.submit(post, content))
        times = [future.result() for future in futures]
    for client in clients:
        client.close()
    return times


def answer_times(base: str, key: str, groups: int) -> float:
    rate = RATE_GOAL / GROUP
    ms = [t * 1000 for t in send_paced(base, key, [body("lat", g, "firing") for g in range(groups)], rate)]
    p99 = pct(ms, 99)
    print(f"answer, groups of {GROUP} at {RATE_GOAL:.0f} alerts/s: p50 {pct(ms, 50):.1f} ms  p95 {pct(ms, 95):.1f} ms"
          f"  p99 {p99:.1f} ms  max {max(ms):.1f} ms  (goal p99 < {ANSWER_GOAL_MS:.0f} ms: "
          f"{verdict(p99 < ANSWER_GOAL_MS)})", flush=True)  # fmt: skip
    times, sent = send_all(base, key, [body("sat", g, "firing") for g in range(groups)], clients=4)
    ms = [t * 1000 for t in times]
    print(f"answer, groups of {GROUP}, 4 clients back to back ({groups * GROUP / sent:.0f} alerts/s, the machine "
          f"saturated): p50 {pct(ms, 50):.1f} ms  p95 {pct(ms, 95):.1f} ms  p99 {pct(ms, 99):.1f} ms  (overload: "
          f"no goal)", flush=True)  # fmt: skip
    return p99


def throughput(base: str, key: str, database_url: str, alerts: int, grouping: str, pid: int) -> float:
    groups = alerts // GROUP
    rates = []
    for status, sql in (
        ("firing", "SELECT count(*) FROM incidents_alert WHERE fingerprint LIKE 'run-%' AND status = 'firing'"),
        ("resolved", "SELECT count(*) FROM incidents_alert WHERE fingerprint LIKE 'run-%' AND status = 'resolved'"),
    ):
        bodies = [body("run", g, status) for g in range(groups)]
        cpu = server_cpu(pid)
        times, sent = send_all(base, key, bodies, clients=8)
        applied = sent + wait_applied(database_url, sql, groups * GROUP, limit=600)
        rate = groups * GROUP / applied
        rates.append(rate)
        cpu_ms = (server_cpu(pid) - cpu) * 1000 / (groups * GROUP) * 1000
        print(f"{status:<8} {groups * GROUP} alerts: answered in {sent:.1f} s ({groups * GROUP / sent:.0f}/s, "
              f"p99 {pct([t * 1000 for t in times], 99):.1f} ms), in the database after {applied:.1f} s: "
              f"{rate:.0f} alerts/s; server CPU {cpu_ms:.0f} ms per 1000 alerts")  # fmt: skip
    ours = "FROM incidents_incident WHERE source = 'alert' AND service LIKE 'run-%'"
    with psycopg.connect(database_url, autocommit=True) as conn:
        opened = conn.execute(f"SELECT count(*) {ours}").fetchone()[0]
        unresolved = conn.execute(f"SELECT count(*) {ours} AND status IN ('open', 'acknowledged')").fetchone()[0]
    want = groups if grouping == "group" else groups * GROUP
    print(f"incidents: {opened} opened (expected {want}: {verdict(opened == want)}), {unresolved} left unresolved")
    rate = min(rates)
    print(f"sustained processing: {rate:.0f} alerts/s (goal >= {RATE_GOAL:.0f}/s: {verdict(rate >= RATE_GOAL)})")
    return rate


def backlog(database_url: str, alerts: int) -> float:
    """The drain alone, without the web answering at the same time: `alerts` firing alerts stored in one
    transaction (as the webhook stores them, one inbox row per group of GROUP), then one drain queued;
    alerts/s until the database shows them all."""
    from django.db import transaction

    from incidents import inbox, tasks
    from incidents.alerts import AlertIn

    groups = alerts // GROUP
    with transaction.atomic():
        for g in range(groups):
            service = f"backlog-svc-{g}"
            batch = [
                (AlertIn(source="alertmanager", fingerprint=f"backlog-{g}-{i}", status="firing", service=service,
                         severity="critical", summary=f"host-{i} of {service} is down",
                         labels={"alertname": "InstanceDown", "service": service, "instance": f"host-{i}"},
                         incident_service=service), f"am:backlog-{g}")
                for i in range(GROUP)
            ]  # fmt: skip
            inbox.do_queue(batch, actor="integration:bench")
    started = time.perf_counter()
    tasks.queue_alert_drain()
    sql = "SELECT count(*) FROM incidents_alert WHERE fingerprint LIKE 'backlog-%'"
    rate = groups * GROUP / (time.perf_counter() - started + wait_applied(database_url, sql, groups * GROUP, 600))
    print(f"backlog  {groups * GROUP} alerts stored at once, applied by the drain alone: {rate:.0f} alerts/s")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alerts", type=int, default=30_000)
    parser.add_argument("--latency-groups", type=int, default=300)
    parser.add_argument("--grouping", choices=("group", "alert"), default="group")
    args = parser.parse_args()
    with ExitStack() as stack:
        database_url = stack.enter_context(scratch_database(PG, "opsassist_am"))
        var = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        env = {"DATABASE_URL": database_url, "REDIS_URL": REDIS, "INGEST_RATE_LIMIT": ""}
        base, token, proc = stack.enter_context(running_server(var, env=env, timeout=120))
        created = httpx.post(base + "/api/v1/integrations", headers={"Authorization": f"Token {token}"},
                             json={"name": "bench", "kind": "alertmanager", "grouping": args.grouping})  # fmt: skip
        assert created.status_code == 201, created.text
        key = created.json()["key"]
        p99 = answer_times(base, key, args.latency_groups)
        wait_applied(database_url, "SELECT count(*) FROM incidents_alert WHERE fingerprint LIKE 'lat-%' OR "
                     "fingerprint LIKE 'sat-%'", 2 * args.latency_groups * GROUP, limit=600)  # fmt: skip
        rate = throughput(base, key, database_url, args.alerts, args.grouping, proc.pid)
        # This process stores the backlog itself, on the same database and broker as the server.
        os.environ.update(env, OPSASSIST_VAR_DIR=str(var), DJANGO_SETTINGS_MODULE="opsassist.settings",
                          LOG_LEVEL="WARNING")  # fmt: skip
        import django

        django.setup()
        backlog(database_url, args.alerts)
        load = os.getloadavg()[0]
        print(f"overall: {verdict(p99 < ANSWER_GOAL_MS and rate >= RATE_GOAL)} "
              f"(load average {load:.1f} on {os.cpu_count()} CPUs)")  # fmt: skip


if __name__ == "__main__":
    main()
