"""Start OpsAssist for real (`manage.py up`, as `make up` does) in a subprocess, for end-to-end tests; and
serve a test's own stand-in receiver (a stdlib HTTP server) in a thread."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
STRIPPED = ("DATABASE_URL", "REDIS_URL", "OPSASSIST_TEST_DB_NAME", "DJANGO_SETTINGS_MODULE", "OPSASSIST_BASE_URL")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_server(var_dir: Path, env: dict[str, str] | None = None, timeout: float = 60.0):
    """Yield (base_url, admin_token, process); stop it with SIGINT (Ctrl-C) and check it exits."""
    port = free_port()
    full_env = {k: v for k, v in os.environ.items() if k not in STRIPPED}
    full_env.update(
        {
            "OPSASSIST_VAR_DIR": str(var_dir),
            "OPSASSIST_PORT": str(port),
            "OPSASSIST_URL": f"http://127.0.0.1:{port}",  # the public URL: allowed host and origin
            "OPSASSIST_SIMULATION": "1",
            "LOG_LEVEL": "WARNING",
            "WEB_CONCURRENCY": "2",
            "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
        }
    )
    full_env.update(env or {})
    log = open(var_dir / "server.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "up"],
        cwd=ROOT,
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(base + "/health/live", proc, var_dir, timeout)
        token = (var_dir / "admin-token").read_text().strip()
        yield base, token, proc
    finally:
        stop(proc)
        log.close()


def stop(proc: subprocess.Popen, timeout: float = 20.0) -> int:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
    return proc.returncode


def _wait_for(url: str, proc: subprocess.Popen, var_dir: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early:\n{(var_dir / 'server.log').read_text()[-4000:]}")
        try:
            # Ours once the token it writes before serving is there: a port just freed may still be
            # answered for a moment by another test's server on a busy machine.
            if httpx.get(url, timeout=1).status_code == 200 and (var_dir / "admin-token").exists():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server not up in {timeout}s:\n{(var_dir / 'server.log').read_text()[-4000:]}")


def wait_until_healthy(base: str, timeout: float = 60.0) -> dict:
    """/health once it answers 200: worker and beat have written their first heartbeats."""
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.get(base + "/health", timeout=10)
        if response.status_code == 200 or time.monotonic() > deadline:
            assert response.status_code == 200, response.text
            return response.json()
        time.sleep(0.3)


@contextmanager
def scratch_database(server_url: str, prefix: str = "opsassist_scratch"):
    """A PostgreSQL database created on `server_url`'s server for one use, dropped (forcibly) after."""
    import uuid

    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def serving(server):
    """Run `server` (a stdlib HTTP server bound to a loopback port) in a thread for the block, then stop it."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
