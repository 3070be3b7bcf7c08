"""Service mode from nothing, as an operator runs it: `make up VENV=<fresh venv>` on a fresh PostgreSQL
database and an emptied Redis DB, then a burst of error events -> an incident -> its WebSocket message,
then Ctrl-C and no process left behind. Run by scripts/smoke-service.sh with the fresh venv's Python, so
it imports only what requirements.txt installs.

Exit status 0 when every step passed; otherwise the failing step and the tail of the server's log.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import psutil
import psycopg
import redis
from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parent.parent


class SmokeFailure(Exception):
    pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", required=True, type=Path)
    parser.add_argument("--work-dir", required=True, type=Path, help="a temporary directory to use and leave")
    parser.add_argument(
        "--postgres", default=os.environ.get("SMOKE_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    )
    parser.add_argument("--redis", default=os.environ.get("SMOKE_REDIS_URL", "redis://127.0.0.1:6379/10"))
    parser.add_argument("--start-timeout", type=float, default=120.0)
    args = parser.parse_args()

    database = f"opsassist_smoke_{uuid.uuid4().hex[:10]}"
    database_url = args.postgres.rsplit("/", 1)[0] + "/" + database
    var_dir = args.work_dir / "var"
    var_dir.mkdir(parents=True, exist_ok=True)
    log_path = args.work_dir / "server.log"
    _create_database(args.postgres, database)
    redis.Redis.from_url(args.redis).flushdb()
    started = time.monotonic()
    try:
        _smoke(args, database_url, var_dir, log_path)
    except SmokeFailure as exc:
        print(f"smoke: FAILED: {exc}", file=sys.stderr)
        print("---- server log (tail) ----", file=sys.stderr)
        print(log_path.read_text(errors="replace")[-6000:] if log_path.exists() else "(none)", file=sys.stderr)
        return 1
    finally:
        _drop_database(args.postgres, database)
        redis.Redis.from_url(args.redis).flushdb()
    print(f"smoke: OK in {time.monotonic() - started:.0f} s")
    return 0


def _smoke(args, database_url: str, var_dir: Path, log_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "OPSASSIST_TEST_DB_NAME")}
    env.update(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": args.redis,
            "OPSASSIST_PORT": str(port),
            "OPSASSIST_VAR_DIR": str(var_dir),
            "LOG_LEVEL": "WARNING",
        }
    )
    base = f"http://127.0.0.1:{port}"
    with open(log_path, "wb") as log:
        # Exactly the README's command, in its own process group as a terminal would run it.
        make = subprocess.Popen(
            ["make", "up", f"VENV={args.venv}"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            _step("service mode answers /health/live", lambda: _wait_live(base, make, args.start_timeout))
            token = (var_dir / "admin-token").read_text().strip()
            health = httpx.get(base + "/health", timeout=5, trust_env=False).json()
            if health["checks"]["database"]["engine"] != "postgresql" or health["checks"]["broker"]["kind"] != "redis":
                raise SmokeFailure(f"not in service mode: {json.dumps(health)[:500]}")
            _step("a burst of errors opens an incident, sent on /ws/incidents/", lambda: _burst(base, port, token))
            processes = _descendants(make)
            names = sorted({_name(p) for p in processes})
            print(f"smoke: running processes: {', '.join(names)}")
        finally:
            processes = _descendants(make) if make.poll() is None else []
            code = _ctrl_c(make)
        _step("Ctrl-C stops everything cleanly", lambda: _check_stopped(code, processes, args.venv, log_path))


def _step(title: str, action) -> None:
    started = time.monotonic()
    action()
    print(f"smoke: ok  {title} ({time.monotonic() - started:.1f} s)")


def _wait_live(base: str, make: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if make.poll() is not None:
            raise SmokeFailure(f"`make up` exited with {make.returncode} before serving")
        try:
            if httpx.get(base + "/health/live", timeout=1, trust_env=False).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SmokeFailure(f"/health/live did not answer 200 within {timeout:.0f} s")


def _burst(base: str, port: int, token: str) -> None:
    headers = {"Authorization": f"Token {token}"}
    service = f"smoke-{uuid.uuid4().hex[:6]}"
    ws = connect(
        f"ws://127.0.0.1:{port}/ws/incidents/", additional_headers=headers, origin=f"http://127.0.0.1:{port}",
        proxy=None, open_timeout=10,
    )  # fmt: skip
    with ws:
        events = [{"service": service, "level": "ERROR", "message": f"smoke {i}"} for i in range(5)]
        response = httpx.post(base + "/api/v1/events", json=events, headers=headers, timeout=10, trust_env=False)
        if response.status_code != 201:
            raise SmokeFailure(f"POST /api/v1/events: HTTP {response.status_code} {response.text[:300]}")
        incident = _wait_incident(base, headers, service, 15)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                message = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            except TimeoutError:
                break
            if message.get("type", "").startswith("incident.") and message["incident"]["id"] == incident["id"]:
                return
        raise SmokeFailure(f"no /ws/incidents/ message for incident {incident['id']} within 15 s")


def _wait_incident(base: str, headers: dict, service: str, seconds: float) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = httpx.get(
            base + "/api/v1/incidents", params={"service": service}, headers=headers, timeout=5, trust_env=False
        ).json()
        if found:
            return found[0]
        time.sleep(0.2)
    raise SmokeFailure(f"no incident for {service} within {seconds:.0f} s (is the worker or beat down?)")


def _ctrl_c(make: subprocess.Popen, timeout: float = 40.0) -> int | None:
    if make.poll() is not None:
        return make.returncode
    os.killpg(make.pid, signal.SIGINT)
    try:
        return make.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(make.pid, signal.SIGKILL)
        make.wait()
        return None


def _check_stopped(code: int | None, processes: list[psutil.Process], venv: Path, log_path: Path) -> None:
    if code is None:
        raise SmokeFailure("`make up` did not exit within 40 s of Ctrl-C")
    time.sleep(0.5)
    alive = [p for p in processes if _alive(p)]
    alive += [
        p
        for p in psutil.process_iter(["cmdline"])
        if p.pid != os.getpid() and str(venv) in " ".join(p.info["cmdline"] or []) and _alive(p)
    ]
    if alive:
        described = "; ".join(f"{p.pid} {_name(p)}" for p in alive)
        for process in alive:
            process.kill()
        raise SmokeFailure(f"processes survived Ctrl-C: {described}")
    # make re-raises the Ctrl-C it received once its child is done (the shell convention), so "killed by
    # SIGINT" is a clean stop; a failing `manage.py up` shows as "make: *** [...] Error N".
    if code not in (0, 130, -signal.SIGINT):
        raise SmokeFailure(f"`make up` exited with {code} after Ctrl-C")
    if re.search(r"make: \*\*\* \[.*\] Error", log_path.read_text(errors="replace")):
        raise SmokeFailure("`manage.py up` exited with an error after Ctrl-C")


def _descendants(make: subprocess.Popen) -> list[psutil.Process]:
    try:
        return psutil.Process(make.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _name(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline()[:6])[:120]
    except psutil.Error:
        return "?"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _create_database(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')


def _drop_database(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
