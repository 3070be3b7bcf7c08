"""A real Alertmanager (Debian's prometheus-alertmanager) sends its webhook to a live OpsAssist: the
incident opens, then resolves when the alert ends. Skipped locally without the binary; CI installs it."""

import shutil
import subprocess
import time
from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from conftest import need
from incidents.models import Incident
from incidents.tests.integrations_helpers import integration_client
from tests.server import free_port

CONFIG = """
route:
  receiver: opsassist
  group_by: [alertname, service]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: opsassist
    webhook_configs:
      - url: {url}
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: {key}
"""


@pytest.fixture
def alertmanager(tmp_path, live_server):
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    need("prometheus-alertmanager (apt-get install prometheus-alertmanager)", binary is not None)
    _, _, key = integration_client("alertmanager")
    config = tmp_path / "alertmanager.yml"
    config.write_text(CONFIG.format(url=f"{live_server.url}/api/v1/integrations/alertmanager", key=key))
    port = free_port()
    proc = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _ready(base), 20)
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


def _ready(base):
    try:
        return httpx.get(base + "/-/ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def wait_for(probe, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(0.25)
    raise AssertionError(f"not within {seconds} s")


def post_alert(base, ends_at):
    alert = {
        "labels": {"alertname": "E2EDown", "service": "e2e", "severity": "critical"},
        "annotations": {"summary": "e2e is down"},
        "startsAt": (timezone.now() - timedelta(seconds=5)).isoformat(),
        "endsAt": ends_at.isoformat(),
    }
    assert httpx.post(base + "/api/v2/alerts", json=[alert]).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_a_real_alertmanager_opens_and_resolves_an_incident(alertmanager):
    post_alert(alertmanager, timezone.now() + timedelta(hours=1))
    wait_for(lambda: Incident.objects.filter(source="alert", service="e2e", status="open").exists(), 20)
    incident = Incident.objects.get(source="alert", service="e2e")
    assert incident.severity == "critical" and incident.title == "e2e is down"

    post_alert(alertmanager, timezone.now() - timedelta(seconds=1))
    wait_for(lambda: Incident.objects.filter(pk=incident.pk, status="resolved").exists(), 30)
    assert Incident.objects.filter(source="alert").count() == 1
