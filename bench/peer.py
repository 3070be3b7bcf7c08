"""Single-event ingestion, OpsAssist against Alerta and against a bare app doing one INSERT per request,
on the same machine, PostgreSQL and load generator.

    .venv/bin/python bench/peer.py                 # 2 rounds x 15 s per server, concurrency 16

All servers run at once from empty scratch databases on OPSASSIST_TEST_POSTGRES_URL's server (dropped
afterwards); the runs alternate (Alerta, bare, OpsAssist, Alerta, ...) and each starts from an empty table.

- OpsAssist: service mode exactly as `make up` starts it (uvicorn with WEB_CONCURRENCY = cores workers,
  Celery worker and beat, Redis DB 14), `POST /api/v1/events` with a token, rate limit off.
- bare: bench/bare.py, built here: uvicorn with the same number of workers as OpsAssist, one INSERT per
  request (autocommit, a psycopg async pool) into `bare_event`, a copy of OpsAssist's events table with
  its indexes, in OpsAssist's database; no auth, validation or rate limit. Its rate is the ceiling that
  group commit should reach or beat.
- Alerta: alerta-server from PyPI in its own venv (var/bench/alerta-venv, made on first use), gunicorn
  --preload with 2 x cores + 1 sync workers, AUTH_REQUIRED=False, PLUGINS="" (its fastest setting
  here: the default plugins cost it ~40%), `POST /alert`.
- Load: wrk (Debian package `wrk`; scripts/install-bench-deps.sh), a new, distinct event per request.

Prints req/s, p50/p95/p99, errors, wrk's own CPU share, rows stored, and the ratios beside their goals:
OpsAssist / Alerta >= 20x, OpsAssist / bare >= 1.0.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from statistics import median

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.server import free_port, running_server, scratch_database  # noqa: E402

ALERTA_VENV = ROOT / "var" / "bench" / "alerta-venv"
PG = os.environ.get("OPSASSIST_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("OPSASSIST_BENCH_REDIS_URL") or (
    os.environ.get("OPSASSIST_TEST_REDIS_URL", "redis://127.0.0.1:6379/13").rsplit("/", 1)[0] + "/14"
)
GOALS = {"alerta": 20.0, "bare": 1.0}

LUA = r"""
local counter = 0
local started = 0
function setup(thread) started = started + 1; thread:set("tid", started) end
request = function()
  counter = counter + 1
  return wrk.format("POST", nil, nil, string.format(BODY, counter % 50, tid, counter))
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT requests=%d duration_us=%d errors=%d non2xx=%d p50=%.2f p95=%.2f p99=%.2f\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000))
end
"""
BODIES = {
    "opsassist": '{"service":"bench-%d","level":"INFO","message":"bench event %d-%d","host":"bench-1"}',
    "bare": '{"service":"bench-%d","level":"INFO","message":"bench event %d-%d","host":"bench-1"}',
    "alerta": '{"resource":"bench-%d","event":"ev-%d-%d","environment":"Production","severity":"minor",'
    '"service":["bench"],"text":"bench event","origin":"bench-1"}',
}


def ensure_alerta() -> Path:
    gunicorn = ALERTA_VENV / "bin" / "gunicorn"
    if not gunicorn.exists():
        print(f"installing alerta-server into {ALERTA_VENV} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(ALERTA_VENV)], check=True)
        subprocess.run([str(ALERTA_VENV / "bin" / "pip"), "install", "-q", "alerta-server", "gunicorn",
                        "psycopg2-binary"], check=True)  # fmt: skip
    return gunicorn


@contextmanager
def alerta_server(database_url: str, workers: int):
    port = free_port()
    # Its fastest configuration: no auth, no plugins (with the default plugins it managed ~60% of this).
    env = {"DATABASE_URL": database_url, "AUTH_REQUIRED": "False", "DEBUG": "False", "PLUGINS": ""}
    args = [str(ensure_alerta()), "--preload", "-w", str(workers), "-b", f"127.0.0.1:{port}", "--log-level",
            "warning", "alerta:create_app()"]  # fmt: skip
    with serving("alerta", args, env, f"http://127.0.0.1:{port}", "/management/healthcheck") as base:
        yield base


@contextmanager
def bare_server(database_url: str, workers: int):
    """bench/bare.py under uvicorn, writing into a copy of incidents_event made here."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE bare_event (LIKE incidents_event INCLUDING ALL)")
    port = free_port()
    args = [sys.executable, "-m", "uvicorn", "bench.bare:app", "--workers", str(workers), "--host", "127.0.0.1",
            "--port", str(port), "--log-level", "warning", "--no-access-log"]  # fmt: skip
    with serving("bare", args, {"BARE_DATABASE_URL": database_url}, f"http://127.0.0.1:{port}", "/") as base:
        yield base


@contextmanager
def serving(name: str, args: list[str], env: dict[str, str], base: str, health: str):
    """Run `args` (a server on `base`) in its own process group until `health` answers 200; stop it after."""
    log = tempfile.NamedTemporaryFile(prefix=f"{name}-", suffix=".log", delete=False)  # noqa: SIM115
    proc = subprocess.Popen(args, cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)  # fmt: skip
    try:
        _wait_until_up(base + health, proc, log.name)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
        os.unlink(log.name)


def _wait_until_up(url: str, proc: subprocess.Popen, log: str) -> None:
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(Path(log).read_text()[-3000:])
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not come up:\n" + Path(log).read_text()[-3000:])


def run_wrk(url: str, headers: dict, body: str, seconds: float, concurrency: int) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(f"BODY = [[{body}]]\n" + LUA)
    args = ["wrk", "-t2", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "-s", script.name, "--timeout", "10s"]
    for name, value in {"Content-Type": "application/json", **headers}.items():
        args += ["-H", f"{name}: {value}"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    os.unlink(script.name)
    fields = dict(re.findall(r"(\w+)=([\d.]+)", out.split("RESULT", 1)[1]))
    result = {k: float(v) for k, v in fields.items()}
    elapsed = result["duration_us"] / 1e6
    result["rps"] = result["requests"] / elapsed
    result["cpu"] = 100 * ((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)) / elapsed
    return result


def count_and_empty(database_url: str, table: str, empty: bool) -> int:
    with psycopg.connect(database_url, autocommit=True) as conn:
        count = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        if empty:
            conn.execute(f"TRUNCATE {table}")
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: run scripts/install-bench-deps.sh (apt-get install wrk)")
    cores = os.cpu_count() or 1

    with ExitStack() as stack:
        ops_db = stack.enter_context(scratch_database(PG, "opsassist_peer"))
        alerta_db = stack.enter_context(scratch_database(PG, "alerta_peer"))
        var = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        env = {"DATABASE_URL": ops_db, "REDIS_URL": REDIS, "WEB_CONCURRENCY": str(cores), "INGEST_RATE_LIMIT": ""}
        ops_base, token, _ = stack.enter_context(running_server(var, env=env, timeout=120))
        alerta_base = stack.enter_context(alerta_server(alerta_db, 2 * cores + 1))
        bare_base = stack.enter_context(bare_server(ops_db, cores))
        targets = {
            "alerta": (alerta_base + "/alert", {}, alerta_db, "alerts"),
            "bare": (bare_base + "/events", {}, ops_db, "bare_event"),
            "opsassist": (ops_base + "/api/v1/events", {"Authorization": f"Token {token}"}, ops_db, "incidents_event"),
        }
        print(f"{cores} cores; concurrency {args.concurrency}; {args.rounds} rounds x {args.seconds:.0f} s each, "
              f"alternating; Alerta: gunicorn --preload -w {2 * cores + 1} (sync); bare: {cores} uvicorn workers, "
              f"one INSERT per request; OpsAssist: {cores} uvicorn workers + Celery worker + beat",
              flush=True)  # fmt: skip
        results: dict[str, list[dict]] = {name: [] for name in targets}
        for round_no in range(1, args.rounds + 1):
            for name, (url, headers, database, table) in targets.items():
                run_wrk(url, headers, BODIES[name], 3, args.concurrency)  # warm-up, then empty the table
                count_and_empty(database, table, empty=True)
                result = run_wrk(url, headers, BODIES[name], args.seconds, args.concurrency)
                result["stored"] = count_and_empty(database, table, empty=False)
                results[name].append(result)
                print(f"  round {round_no} {name:<9} {result['rps']:8.0f} req/s  p50 {result['p50']:6.1f} ms  "
                      f"p95 {result['p95']:6.1f} ms  p99 {result['p99']:6.1f} ms  errors {result['errors']:.0f}  "
                      f"non-2xx {result['non2xx']:.0f}  stored {result['stored']:.0f}/{result['requests']:.0f}  "
                      f"wrk CPU {result['cpu']:.0f}%", flush=True)  # fmt: skip
        print()
        summary = {name: {k: median(r[k] for r in runs) for k in ("rps", "p50", "p95", "p99", "cpu")}
                   for name, runs in results.items()}  # fmt: skip
        for name, s in summary.items():
            print(f"{name:<10} median {s['rps']:8.0f} req/s   p50 {s['p50']:6.1f} ms   p95 {s['p95']:6.1f} ms   "
                  f"p99 {s['p99']:6.1f} ms   (load generator CPU {s['cpu']:.0f}% of one core)")  # fmt: skip
        for peer, goal in GOALS.items():
            ratio = summary["opsassist"]["rps"] / summary[peer]["rps"]
            verdict = "MET" if ratio >= goal else "NOT MET"
            print(f"ratio      OpsAssist / {peer:<6} = {ratio:5.2f}x req/s   (goal >= {goal:g}x: {verdict})")
        print(f"p99        OpsAssist {summary['opsassist']['p99']:.1f} ms, bare {summary['bare']['p99']:.1f} ms, "
              f"Alerta {summary['alerta']['p99']:.1f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
