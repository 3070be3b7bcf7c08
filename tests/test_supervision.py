"""Service mode's supervisor: a crashed child comes back while the others keep serving; Ctrl-C stops all."""

import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import psutil
import pytest

from opsassist.lib.supervisor import Program, Supervisor, read_procfile
from tests.server import running_server, scratch_database


def _celery_workers(proc: subprocess.Popen) -> list[psutil.Process]:
    """The worker's main process: the supervisor's child running `celery ... worker`."""
    workers = []
    for child in psutil.Process(proc.pid).children():
        try:
            argv = child.cmdline()
        except psutil.Error:  # the killed worker, a zombie until the supervisor reaps it
            continue
        if "worker" in argv and any("celery" in part for part in argv):
            workers.append(child)
    return workers


# Service mode on its own scratch PostgreSQL database, whichever engine the suite runs on: it runs once,
# in the PostgreSQL pass.
@pytest.mark.postgres
@pytest.mark.server
def test_a_killed_worker_is_restarted_within_10s_while_web_keeps_answering(tmp_path, postgres_url, redis_url):
    with scratch_database(postgres_url, "opsassist_sup") as database_url:
        env = {"DATABASE_URL": database_url, "REDIS_URL": redis_url}
        with running_server(tmp_path, env=env, timeout=90) as (base, _token, proc):
            (old,) = _wait_for(lambda: _celery_workers(proc), 20)
            failures: list[str] = []
            stop = threading.Event()
            poller = threading.Thread(target=_poll_live, args=(base + "/health/live", stop, failures))
            poller.start()
            try:
                time.sleep(0.5)
                old.send_signal(signal.SIGKILL)
                killed_at = time.monotonic()
                (new,) = _wait_for(lambda: [w for w in _celery_workers(proc) if w.pid != old.pid], 10)
                assert time.monotonic() - killed_at < 10
                time.sleep(1)
            finally:
                stop.set()
                poller.join()
            assert failures == []
            assert new.is_running()
    log = (tmp_path / "server.log").read_text()
    assert f"worker (pid {old.pid}) exited with signal SIGKILL; restarting in 1 s" in log
    assert "restarting worker (restart 1)" in log
    assert proc.returncode == 0


def _poll_live(url: str, stop: threading.Event, failures: list[str]) -> None:
    while not stop.is_set():
        try:
            status = httpx.get(url, timeout=2).status_code
            if status != 200:
                failures.append(f"HTTP {status}")
        except httpx.HTTPError as exc:
            failures.append(repr(exc))
        time.sleep(0.1)


def _wait_for(probe, seconds: float):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {seconds} s")


# -- the supervisor on its own, with throwaway programs --------------------------------------------------


def _run_in_thread(supervisor: Supervisor) -> threading.Thread:
    """Signal handlers only install on the main thread, so drive the loop by hand here."""
    thread = threading.Thread(target=_loop, args=(supervisor,), daemon=True)
    thread.start()
    return thread


def _loop(supervisor: Supervisor) -> None:
    for program in supervisor.programs:
        supervisor._start(program)
    while supervisor._stop_signal is None:
        supervisor._tick(time.monotonic())
        time.sleep(0.05)
    supervisor._stop_all(supervisor._stop_signal)


def test_a_child_that_keeps_crashing_is_restarted_with_growing_back_off(caplog):
    caplog.set_level("WARNING", logger="opsassist.supervisor")
    crasher = Program("crasher", [sys.executable, "-c", "raise SystemExit(3)"])
    steady = Program("steady", [sys.executable, "-c", "import time; time.sleep(60)"])
    supervisor = Supervisor([crasher, steady], backoff_initial=0.1, backoff_max=0.4, grace=5)
    thread = _run_in_thread(supervisor)
    _wait_for(lambda: len(crasher.exit_codes) >= 4, 10)
    steady_pid = steady.process.pid
    supervisor._stop_signal = signal.SIGTERM
    thread.join(10)
    assert crasher.exit_codes[:4] == [3, 3, 3, 3]
    assert crasher.restarts >= 3
    delays = [r.args[-1] for r in caplog.records if "exited with" in r.msg and r.args[0] == "crasher"]
    assert delays[:4] == [0.1, 0.2, 0.4, 0.4]
    assert not psutil.pid_exists(steady_pid) or psutil.Process(steady_pid).status() == psutil.STATUS_ZOMBIE


def test_stopping_forwards_the_signal_and_kills_a_child_that_ignores_it(tmp_path):
    stubborn = Program(
        "stubborn",
        [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"],
    )
    polite = Program("polite", [sys.executable, "-c", "import time; time.sleep(60)"])
    supervisor = Supervisor([stubborn, polite], grace=1)
    thread = _run_in_thread(supervisor)
    _wait_for(lambda: stubborn.process and polite.process, 5)
    time.sleep(0.3)
    started = time.monotonic()
    supervisor._stop_signal = signal.SIGTERM
    thread.join(10)
    assert time.monotonic() - started < 5
    assert polite.process.returncode == -signal.SIGTERM
    assert stubborn.process.returncode == -signal.SIGKILL


def test_the_procfile_runs_each_line_through_exec(tmp_path):
    procfile = tmp_path / "Procfile"
    procfile.write_text("# comment\nweb: python manage.py serve --workers ${WEB_CONCURRENCY:-2}\n\nbeat: celery beat\n")
    programs = read_procfile(procfile)
    assert [p.name for p in programs] == ["web", "beat"]
    assert programs[0].argv == ["/bin/sh", "-c", "exec python manage.py serve --workers ${WEB_CONCURRENCY:-2}"]


def test_a_procfile_line_without_a_command_is_refused(tmp_path):
    procfile = tmp_path / "Procfile"
    procfile.write_text("web:\n")
    with pytest.raises(ValueError, match="not 'name: command'"):
        read_procfile(procfile)


def test_the_supervisor_itself_stops_on_sigint_and_leaves_no_child(tmp_path):
    script = tmp_path / "sup.py"
    script.write_text(
        "import sys\n"
        "from opsassist.lib.supervisor import Program, Supervisor\n"
        "progs = [Program('a', [sys.executable, '-c', 'import time; time.sleep(60)']),\n"
        "         Program('b', ['/bin/sh', '-c', 'exec sleep 60'])]\n"
        "sys.exit(Supervisor(progs, grace=5).run())\n"
    )
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.Popen([sys.executable, str(script)], env=env, start_new_session=True)
    children = _wait_for(
        lambda: len(psutil.Process(proc.pid).children()) == 2 and psutil.Process(proc.pid).children(), 10
    )
    time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(10) == 0
    assert not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children)


def test_children_die_with_a_supervisor_that_was_killed(tmp_path):
    script = tmp_path / "sup.py"
    script.write_text(
        "import sys\n"
        "from opsassist.lib.supervisor import Program, Supervisor\n"
        "Supervisor([Program('a', ['/bin/sh', '-c', 'exec sleep 60'])]).run()\n"
    )
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.Popen([sys.executable, str(script)], env=env)
    (child,) = _wait_for(lambda: psutil.Process(proc.pid).children(), 10)
    proc.kill()
    proc.wait()
    _wait_for(lambda: not child.is_running() or child.status() == psutil.STATUS_ZOMBIE, 5)
