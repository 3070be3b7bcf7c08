import json
import os
import shlex
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from monitoring.agent import ProcessSpec, heartbeat, process_status
from monitoring.models import Host


@pytest.fixture
def sleeper():
    tag = f"opsassist-agent-test-{uuid.uuid4().hex[:8]}"
    proc = subprocess.Popen([sys.executable, "-c", "import time,sys; time.sleep(60)", tag])
    yield tag
    proc.kill()
    proc.wait()


def test_spec_parsing():
    spec = ProcessSpec.parse("ffmpeg=ffmpeg .*cam1:/var/log/cam1.log:90")
    assert (spec.name, spec.pattern, spec.freshness_file, spec.max_age) == (
        "ffmpeg",
        "ffmpeg .*cam1",
        "/var/log/cam1.log",
        90,
    )
    with pytest.raises(ValueError):
        ProcessSpec.parse("no-pattern")


def test_a_running_process_is_active(sleeper):
    assert process_status(ProcessSpec("svc", sleeper))["status"] == "active"


def test_a_missing_process_is_stopped():
    assert process_status(ProcessSpec("svc", f"no-such-{uuid.uuid4().hex}"))["status"] == "stopped"


def test_a_stale_freshness_file_means_stuck(sleeper, tmp_path):
    log = tmp_path / "svc.log"
    log.write_text("x")
    old = time.time() - 600
    os.utime(log, (old, old))
    status = process_status(ProcessSpec("svc", sleeper, str(log), 120))
    assert status["status"] == "stuck" and "not written" in status["detail"]
    os.utime(log, None)
    assert process_status(ProcessSpec("svc", sleeper, str(log), 120))["status"] == "active"


def test_the_heartbeat_carries_host_metrics():
    body = heartbeat([], host="h1")
    assert body["host"] == "h1" and body["components"] == []
    assert {"cpu_percent", "memory_percent", "disk_percent"} <= set(body["metrics"])


@pytest.mark.django_db(transaction=True)
def test_the_agent_command_sends_a_heartbeat(live_server, admin_user, sleeper):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=admin_user).key
    call_command("agent", url=live_server.url, token=token, host="agent-host", once=True,
                 process=[f"svc={sleeper}", f"gone=no-such-{uuid.uuid4().hex}"])  # fmt: skip
    host = Host.objects.get(name="agent-host")
    assert host.components["svc"]["status"] == "active"
    assert host.components["gone"]["status"] == "stopped"
    assert host.metrics["memory_percent"] > 0


# -- started the documented way: `make agent AGENT_ARGS="--process name=pattern"` --------------------------


def _make_agent(agent_args: str, via_shell: bool = False) -> dict:
    """Run `make agent` with this test run's virtualenv (never reinstalling it) and read the heartbeat it
    prints."""
    venv = sys.prefix
    argv = ["make", "--no-print-directory", "-o", f"{venv}/.installed", "agent", f"VENV={venv}",
            f"AGENT_ARGS=--print {agent_args}"]  # fmt: skip
    if via_shell:
        argv = ["/bin/sh", "-c", " ".join(shlex.quote(a) for a in argv) + "; true"]
    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k != "MAKEFLAGS"}
    done = subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True, timeout=120, check=True)
    body = json.loads(done.stdout[done.stdout.index("{") :])
    return {c["name"]: c for c in body["components"]}


def test_through_make_a_process_that_is_not_running_is_stopped():
    ghost = f"opsassist-ghost-{uuid.uuid4().hex[:8]}"
    components = _make_agent(f"--process ghost={ghost}")
    assert components["ghost"]["status"] == "stopped"


def test_through_make_and_a_shell_a_running_process_is_active_and_only_it_matches(sleeper):
    ghost = f"opsassist-ghost-{uuid.uuid4().hex[:8]}"
    components = _make_agent(f"--process ghost={ghost} --process svc={sleeper}", via_shell=True)
    assert components["ghost"]["status"] == "stopped"
    assert components["svc"]["status"] == "active"
    assert len(components["svc"]["detail"].split(",")) == 1


def test_a_shell_that_only_carries_the_pattern_is_not_the_process():
    ghost = f"opsassist-ghost-{uuid.uuid4().hex[:8]}"
    carrier = subprocess.Popen(["/bin/sh", "-c", f"sleep 30; echo {ghost}"])
    other_agent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "--process", f"g={ghost}"])
    try:
        time.sleep(0.3)
        assert process_status(ProcessSpec("g", ghost))["status"] == "stopped"
    finally:
        for proc in (carrier, other_agent):
            proc.kill()
            proc.wait()


def test_a_script_run_by_a_shell_without_c_is_still_seen(tmp_path):
    script = tmp_path / f"opsassist-job-{uuid.uuid4().hex[:8]}.sh"
    script.write_text("sleep 30\n")
    job = subprocess.Popen(["/bin/sh", str(script)])
    try:
        time.sleep(0.3)
        status = process_status(ProcessSpec("job", script.name))
        assert status["status"] == "active" and str(job.pid) in status["detail"]
    finally:
        job.kill()
        job.wait()


def test_a_pattern_that_is_not_a_regular_expression_is_refused():
    with pytest.raises(ValueError, match="not a regular expression"):
        ProcessSpec.parse("bad=ffmpeg (")
    with pytest.raises(CommandError, match="--process"):
        call_command("agent", print_only=True, process=["bad=ffmpeg ("])
