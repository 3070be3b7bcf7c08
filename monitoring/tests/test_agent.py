import os
import subprocess
import sys
import time
import uuid

import pytest
from django.core.management import call_command

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
