"""Monitor pages: kind-aware forms from the typed configuration, who sees which controls, the monitor page."""

from __future__ import annotations

import pytest
from django.utils import timezone

from monitoring.forms import kind_inputs
from monitoring.models import CheckResult, Monitor

pytestmark = pytest.mark.django_db


def test_the_form_inputs_come_from_the_kind_config_in_human_units():
    redis = {i.name: i for i in kind_inputs("redis", {"memory_limit_bytes": 256 * 1024 * 1024})}
    assert (redis["memory_limit_bytes"].unit, redis["memory_limit_bytes"].value) == ("MiB", 256)
    assert redis["memory_limit_bytes"].scale == 1024 * 1024 and redis["memory_limit_bytes"].minimum == 1
    assert redis["memory_scope"].choices == ("server", "database") and redis["memory_scope"].default == "server"
    http = {i.name: i for i in kind_inputs("http")}
    assert (http["latency_warn_ms"].unit, http["latency_warn_ms"].default) == ("ms", 1000)


def test_a_viewer_sees_no_monitor_controls_and_gets_403(client, viewer):
    Monitor.objects.create(name="web", kind="http", target="http://127.0.0.1:9/")
    client.force_login(viewer)
    assert "monitor-create" not in client.get("/monitors/").content.decode()
    page = client.get("/monitors/web/").content.decode()
    assert "monitor-edit" not in page and "check-now" not in page
    body = {"name": "x", "kind": "tcp", "target": "tcp://127.0.0.1:9"}
    assert client.post("/api/v1/monitors", body, content_type="application/json").status_code == 403


def test_a_responder_gets_the_kind_aware_forms(client, responder):
    Monitor.objects.create(name="cache", kind="redis", target="redis://u:hunter2@127.0.0.1:6379/0",
                           config={"memory_limit_bytes": 64 * 1024 * 1024})  # fmt: skip
    client.force_login(responder)
    create = client.get("/monitors/").content.decode()
    assert "monitor-create" in create and 'data-kind="redis"' in create and "Memory limit (MiB)" in create
    page = client.get("/monitors/cache/")
    text = page.content.decode()
    assert page.status_code == 200 and "monitor-edit" in text and "hunter2" not in text
    assert 'data-scale="1048576"' in text and 'value="64.0"' in text


def test_the_monitor_page_carries_its_recent_health(client, viewer):
    monitor = Monitor.objects.create(name="db", kind="tcp", target="tcp://127.0.0.1:5432", interval_seconds=10)
    CheckResult.objects.create(monitor=monitor, at=timezone.now(), health=100, status="healthy", latency_ms=3.2)
    client.force_login(viewer)
    history = client.get("/monitors/db/").context["history"]
    assert [c["health"] for c in history["checks"]] == [100] and history["interval_seconds"] == 10
    assert client.get("/monitors/nope/").status_code == 404
