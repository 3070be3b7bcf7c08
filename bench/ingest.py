"""Ingestion benchmark: batches of 1000 against the raw insert ceiling, and the latency of
event -> incident -> WebSocket message. (Single events, against a peer: bench/peer.py.)

    .venv/bin/python bench/ingest.py --spawn                  # own server: PostgreSQL + Redis, service mode
    .venv/bin/python bench/ingest.py --url URL --token TOKEN  # an already running server (no ceiling)

--spawn creates a scratch PostgreSQL database (dropped afterwards) on OPSASSIST_TEST_POSTGRES_URL's
server and uses Redis DB 14 of OPSASSIST_TEST_REDIS_URL's server, or OPSASSIST_BENCH_REDIS_URL (flushed
afterwards); it starts `manage.py up` with WEB_CONCURRENCY web workers, a Celery worker and beat, exactly
as `make up` does in service mode.

- batch: POST arrays of 1000 events (2 connections); the ceiling is the same rows written straight into
  the same table from psycopg with COPY, 2 connections too, in the same run (a multi-row INSERT is shown
  beside it for reference). Printed: API events/s, the COPY ceiling, the fraction, and the goal (>= 50 %).
- latency: a WebSocket client stays connected to /ws/incidents/; each burst posts 5 ERROR events for a
  new service (the correlation threshold) and waits for that service's `incident.created` message.
  Printed: event -> incident row (the incident's detected_at minus the post) and incident row ->
  WebSocket message (arrival minus detected_at), p50/p95/p99 over the bursts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
GOAL_PERCENT = 50
sys.path.insert(0, str(ROOT))


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def report(name: str, latencies: list[float], elapsed: float, units: int, unit: str, cpu: float) -> None:
    ms = [v * 1000 for v in latencies]
    print(
        f"{name:<24} {units / elapsed:>9.0f} {unit}/s   p50 {pct(ms, 50):6.1f} ms   p95 {pct(ms, 95):6.1f} ms   "
        f"p99 {pct(ms, 99):6.1f} ms   ({units} {unit} in {elapsed:.1f} s, load generator CPU {cpu:.0f}% of one core)"
    )


async def drive(url: str, headers: dict, bodies, concurrency: int) -> tuple[list[float], float, float]:
    """POST every body with `concurrency` connections; returns (latencies, elapsed, generator CPU %)."""
    latencies: list[float] = []
    queue: asyncio.Queue = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    failures = 0

    async def worker(client: httpx.AsyncClient):
        nonlocal failures
        while not queue.empty():
            body = queue.get_nowait()
            started = time.perf_counter()
            response = await client.post(url, json=body, headers=headers)
            latencies.append(time.perf_counter() - started)
            if response.status_code != 201:
                failures += 1

    process = psutil.Process()
    cpu_before = process.cpu_times()
    started = time.perf_counter()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    cpu_after = process.cpu_times()
    cpu = 100 * ((cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system)) / elapsed
    if failures:
        print(f"  !! {failures} requests did not answer 201")
    return latencies, elapsed, cpu


def event(service: str, level: str = "INFO", i: int = 0) -> dict:
    return {"service": service, "level": level, "message": f"bench event {i}", "host": "bench-1"}


async def batch(base: str, headers: dict, batches: int, concurrency: int) -> float:
    bodies = [[event(f"bench-{j % 50}", "DEBUG", j) for j in range(1000)] for _ in range(batches)]
    latencies, elapsed, cpu = await drive(base + "/api/v1/events", headers, bodies, concurrency)
    report(f"API batch x1000 (c={concurrency})", latencies, elapsed, batches * 1000, "events", cpu)
    return batches * 1000 / elapsed


def ceiling(database_url: str, batches: int, connections: int = 2) -> dict[str, float]:
    """Events/s written straight into incidents_event from psycopg, 1000 rows a transaction, by method."""
    import psycopg
    from psycopg.types.json import Jsonb

    columns = "service, level, message, timestamp, received_at, host, attributes"
    now = datetime.now().astimezone()
    rows = [(f"bench-{j % 50}", "DEBUG", f"bench event {j}", now, now, "bench-1", Jsonb({})) for j in range(1000)]
    results = {}
    for method in ("copy", "insert"):

        def work(n: int, method=method) -> None:
            with psycopg.connect(database_url) as conn:
                for _ in range(n):
                    with conn.transaction(), conn.cursor() as cursor:
                        if method == "copy":
                            with cursor.copy(f"COPY incidents_event ({columns}) FROM STDIN") as copy:
                                for row in rows:
                                    copy.write_row(row)
                        else:
                            values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * len(rows))
                            cursor.execute(f"INSERT INTO incidents_event ({columns}) VALUES {values}",
                                           [v for row in rows for v in row])  # fmt: skip

        threads = [threading.Thread(target=work, args=(batches // connections,)) for _ in range(connections)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        results[method] = batches // connections * connections * 1000 / (time.perf_counter() - started)
        name = f"ceiling {method} x1000"
        print(f"{name:<24} {results[method]:>9.0f} events/s   (psycopg into the same table, {connections} connections)")
    return results


async def incident_latency(base: str, token: str, bursts: int) -> None:
    from websockets.asyncio.client import connect

    headers = {"Authorization": f"Token {token}"}
    to_row, to_socket = [], []
    ws_url = base.replace("http", "ws", 1) + "/ws/incidents/"
    async with (
        httpx.AsyncClient(timeout=30, headers=headers) as client,
        connect(ws_url, additional_headers=headers) as socket,
    ):
        for i in range(bursts):
            service = f"latency-{uuid.uuid4().hex[:8]}"
            posted = time.time()
            response = await client.post(base + "/api/v1/events", json=[event(service, "ERROR", j) for j in range(5)])
            assert response.status_code == 201, response.text
            while True:
                message = json.loads(await asyncio.wait_for(socket.recv(), timeout=15))
                arrived = time.time()
                incident = message.get("incident") or {}
                if message.get("type") == "incident.created" and incident.get("service") == service:
                    break
            detected = datetime.fromisoformat(incident["detected_at"].replace("Z", "+00:00")).timestamp()
            to_row.append(detected - posted)
            to_socket.append(arrived - detected)
            if i % 50 == 49:
                print(f"  ... {i + 1} bursts", flush=True)
    for name, values, goal in (("event -> incident row", to_row, 3000), ("incident row -> WebSocket", to_socket, 250)):
        ms = [v * 1000 for v in values]
        print(f"{name:<26} {bursts} bursts   p50 {pct(ms, 50):6.0f} ms   p95 {pct(ms, 95):6.0f} ms   "
              f"p99 {pct(ms, 99):6.0f} ms   max {max(ms):6.0f} ms   (goal: p99 <= {goal} ms)")  # fmt: skip


@contextmanager
def spawned_server(web_workers: int):
    import redis

    from tests.server import running_server, scratch_database

    pg = os.environ.get("OPSASSIST_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    redis_url = os.environ.get("OPSASSIST_BENCH_REDIS_URL") or (
        os.environ.get("OPSASSIST_TEST_REDIS_URL", "redis://127.0.0.1:6379/13").rsplit("/", 1)[0] + "/14"
    )
    try:
        with scratch_database(pg, "opsassist_bench") as database_url, tempfile.TemporaryDirectory() as var:
            env = {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "INGEST_RATE_LIMIT": "",
                   "WEB_CONCURRENCY": str(web_workers), "DB_POOL_MAX": "20"}  # fmt: skip
            with running_server(Path(var), env=env, timeout=120) as (base, token, _):
                yield base, token, database_url
    finally:
        redis.Redis.from_url(redis_url).flushdb()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--token", default=os.environ.get("OPSASSIST_TOKEN"))
    parser.add_argument("--spawn", action="store_true", help="start a PostgreSQL + Redis server for the run")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=2, help="connections for the batch run")
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--bursts", type=int, default=200)
    args = parser.parse_args()

    with ExitStack() as stack:
        database_url = None
        if args.spawn:
            base, token, database_url = stack.enter_context(spawned_server(args.web_workers))
        else:
            base, token = args.url, args.token or (ROOT / "var" / "admin-token").read_text().strip()
        headers = {"Authorization": f"Token {token}"}
        health = httpx.get(base + "/health").json()
        print(f"server {base}: database {health['checks']['database'].get('engine')}, "
              f"broker {health['checks']['broker'].get('kind')}; {psutil.cpu_count()} cores")  # fmt: skip
        asyncio.run(batch(base, headers, 4, args.concurrency))  # warm-up
        api = asyncio.run(batch(base, headers, args.batches, args.concurrency))
        if database_url:
            fraction = 100 * api / ceiling(database_url, args.batches)["copy"]
            verdict = "MET" if fraction >= GOAL_PERCENT else "NOT MET"
            print(f"{'API / COPY ceiling':<24} {fraction:>8.0f} %   (goal: >= {GOAL_PERCENT} %: {verdict})")
        else:
            print("API / COPY ceiling       not measured: the ceiling needs --spawn (its own database)")
        asyncio.run(incident_latency(base, token, args.bursts))


if __name__ == "__main__":
    main()
