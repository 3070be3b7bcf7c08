"""Ingestion benchmark: single events, batches of 1000, and event -> incident latency.

    .venv/bin/python bench/ingest.py --spawn                  # own server: PostgreSQL + Redis, service mode
    .venv/bin/python bench/ingest.py --url URL --token TOKEN  # an already running server

--spawn creates a scratch PostgreSQL database (dropped afterwards) on OPSASSIST_TEST_POSTGRES_URL's
server and uses Redis DB 14 of OPSASSIST_TEST_REDIS_URL's server; it starts `manage.py up` with
WEB_CONCURRENCY web workers, a Celery worker and beat, exactly as `make up` does in service mode.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
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


async def single(base: str, headers: dict, n: int, concurrency: int) -> None:
    bodies = [event(f"bench-{i % 50}", "INFO", i) for i in range(n)]
    latencies, elapsed, cpu = await drive(base + "/api/v1/events", headers, bodies, concurrency)
    report(f"single (c={concurrency})", latencies, elapsed, n, "events", cpu)


async def batch(base: str, headers: dict, batches: int, concurrency: int) -> None:
    bodies = [[event(f"bench-{j % 50}", "DEBUG", j) for j in range(1000)] for _ in range(batches)]
    latencies, elapsed, cpu = await drive(base + "/api/v1/events", headers, bodies, concurrency)
    report(f"batch x1000 (c={concurrency})", latencies, elapsed, batches * 1000, "events", cpu)


async def incident_latency(base: str, headers: dict, bursts: int) -> None:
    """Post 5 ERROR events for a fresh service; time until GET /incidents?service= shows it."""
    latencies = []
    async with httpx.AsyncClient(timeout=30, headers=headers) as client:
        for i in range(bursts):
            service = f"latency-{uuid.uuid4().hex[:8]}"
            await client.post(base + "/api/v1/events", json=[event(service, "ERROR", j) for j in range(5)])
            started = time.perf_counter()
            while time.perf_counter() - started < 10:
                found = (await client.get(base + "/api/v1/incidents", params={"service": service})).json()
                if found:
                    break
                await asyncio.sleep(0.02)
            latencies.append(time.perf_counter() - started)
            if i % 50 == 49:
                print(f"  ... {i + 1} bursts")
    ms = [v * 1000 for v in latencies]
    print(
        f"{'event -> incident':<24} {bursts} bursts   p50 {pct(ms, 50):6.0f} ms   p95 {pct(ms, 95):6.0f} ms   "
        f"p99 {pct(ms, 99):6.0f} ms   max {max(ms):6.0f} ms   (goal: p99 <= 3000 ms)"
    )


@contextmanager
def spawned_server(web_workers: int):
    import redis

    from tests.server import running_server, scratch_database

    pg = os.environ.get("OPSASSIST_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    redis_url = os.environ.get("OPSASSIST_TEST_REDIS_URL", "redis://127.0.0.1:6379/13").rsplit("/", 1)[0] + "/14"
    try:
        with scratch_database(pg, "opsassist_bench") as database_url, tempfile.TemporaryDirectory() as var:
            env = {"DATABASE_URL": database_url, "REDIS_URL": redis_url,
                   "WEB_CONCURRENCY": str(web_workers), "DB_POOL_MAX": "20"}  # fmt: skip
            with running_server(Path(var), env=env, timeout=120) as (base, token, _):
                yield base, token
    finally:
        redis.Redis.from_url(redis_url).flushdb()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--token", default=os.environ.get("OPSASSIST_TOKEN"))
    parser.add_argument("--spawn", action="store_true", help="start a PostgreSQL + Redis server for the run")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--bursts", type=int, default=200)
    args = parser.parse_args()

    with ExitStack() as stack:
        if args.spawn:
            base, token = stack.enter_context(spawned_server(args.web_workers))
        else:
            base, token = args.url, args.token or (ROOT / "var" / "admin-token").read_text().strip()
        headers = {"Authorization": f"Token {token}"}
        health = httpx.get(base + "/health").json()
        print(f"server {base}: database {health['checks']['database'].get('engine')}, "
              f"broker {health['checks']['broker'].get('kind')}; {psutil.cpu_count()} cores")  # fmt: skip
        asyncio.run(single(base, headers, args.requests // 10, args.concurrency))  # warm-up
        asyncio.run(single(base, headers, args.requests, args.concurrency))
        asyncio.run(batch(base, headers, args.batches, 2))
        asyncio.run(incident_latency(base, headers, args.bursts))


if __name__ == "__main__":
    main()
