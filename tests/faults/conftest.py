"""Throwaway Redis and PostgreSQL servers (own port, own data directory) that a drill may stop and
start at will, and a load generator that remembers every event the server acknowledged.

The machine's shared servers are never stopped: drills either start their own, or use the shared
PostgreSQL only for a scratch database of their own.
"""

from __future__ import annotations

import asyncio
import glob
import logging
import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from conftest import TEST_POSTGRES_URL, TEST_REDIS_URL, _reachable, need, owned_redis_db
from tests.server import free_port

logging.getLogger("httpx").setLevel(logging.WARNING)  # thousands of requests per drill

PG_BIN = next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)), "")


def _as_postgres(args: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: drop to the postgres user when we are root."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


class ThrowawayRedis:
    def __init__(self, directory: Path):
        self.port = free_port()
        self.directory = directory
        self.proc: subprocess.Popen | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait_until(lambda: _reachable(self.url, self.port), 10, "redis up")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


class ThrowawayPostgres:
    def __init__(self, directory: Path):
        self.port = free_port()
        self.data = directory / "data"
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/opsassist"

    def init(self) -> None:
        self.data.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.data, "postgres", "postgres")
            shutil.chown(self.data.parent, "postgres", "postgres")
        subprocess.run(_as_postgres([f"{PG_BIN}/initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
                                     "--no-sync"]), check=True, capture_output=True)  # fmt: skip
        self.start()
        subprocess.run(_as_postgres([f"{PG_BIN}/createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                                     "opsassist"]), check=True)  # fmt: skip

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.data} -c fsync=off"
        command = [f"{PG_BIN}/pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.data / "log"), "-w", "start"]
        subprocess.run(_as_postgres(command), check=True, capture_output=True)

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(_as_postgres([f"{PG_BIN}/pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop"]),
                       check=False, capture_output=True)  # fmt: skip


def _wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def throwaway_redis():
    need("redis-server (for fault drills)", shutil.which("redis-server") is not None)
    with tempfile.TemporaryDirectory() as directory:
        server = ThrowawayRedis(Path(directory))
        server.start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def throwaway_postgres():
    need("PostgreSQL server binaries (for fault drills)", bool(PG_BIN) and shutil.which("runuser") is not None)
    with tempfile.TemporaryDirectory() as directory:
        server = ThrowawayPostgres(Path(directory))
        server.init()
        try:
            yield server
        finally:
            server.stop("immediate")


@pytest.fixture
def drill_redis_url():
    """Redis DB 12 of the shared server: the drills' own."""
    with owned_redis_db(TEST_REDIS_URL.rsplit("/", 1)[0] + "/12") as url:
        yield url


@pytest.fixture
def shared_postgres():
    need("PostgreSQL", _reachable(TEST_POSTGRES_URL, 5432))
    return TEST_POSTGRES_URL


@dataclass
class Load:
    """Posts events from a background thread until stopped; records every answer."""

    base: str
    token: str
    concurrency: int = 8
    statuses: list[int] = field(default_factory=list)
    acknowledged: list[str] = field(default_factory=list)  # messages answered 201
    slow: list[float] = field(default_factory=list)  # seconds, answers slower than 6 s
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self):
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(60)

    def count(self, status: int) -> int:
        return sum(1 for s in list(self.statuses) if s == status)

    async def _run(self):
        headers = {"Authorization": f"Token {self.token}"}
        async with httpx.AsyncClient(base_url=self.base, headers=headers, timeout=30) as client:
            await asyncio.gather(*(self._worker(client) for _ in range(self.concurrency)))

    async def _worker(self, client: httpx.AsyncClient):
        while not self._stop.is_set():
            message = f"drill {uuid.uuid4().hex}"
            started = time.monotonic()
            try:
                response = await client.post("/api/v1/events", json={"service": "drill", "level": "INFO",
                                                                      "message": message})  # fmt: skip
                status = response.status_code
            except httpx.TransportError:
                status = 0  # refused / reset: nothing acknowledged
                await asyncio.sleep(0.05)
            if time.monotonic() - started > 6:
                self.slow.append(time.monotonic() - started)
            self.statuses.append(status)
            if status == 201:
                self.acknowledged.append(message)


def stored_messages(database_url: str) -> list[str]:
    import psycopg

    with psycopg.connect(database_url) as conn:
        return [row[0] for row in conn.execute("SELECT message FROM incidents_event WHERE service = 'drill'")]
