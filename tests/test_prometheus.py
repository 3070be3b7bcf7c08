"""The shipped Prometheus rules and Grafana dashboard, checked by the real tools, and a real Prometheus
scraping a running OpsAssist."""

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from conftest import need
from tests.server import free_port, running_server

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "deploy/prometheus/opsassist-rules.yml"
DASHBOARD = ROOT / "deploy/grafana/opsassist.json"
# Series Prometheus itself (up) or the blackbox exporter (probe_success) makes, not OpsAssist.
NOT_OURS = {"up", "probe_success"}
PROMQL_WORDS = {"sum", "by", "rate", "increase", "histogram_quantile", "label_values", "le", "job", "instance"}


def _tool(name: str) -> str:
    path = shutil.which(name)
    need(name + " (scripts/install-test-deps.sh)", path is not None)
    return path


def test_promtool_accepts_the_rules_and_their_unit_tests():
    promtool = _tool("promtool")
    check = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS" in check.stdout
    unit = subprocess.run(
        [promtool, "test", "rules", "opsassist-rules.test.yml"],
        cwd=RULES.parent, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert unit.returncode == 0, unit.stdout + unit.stderr


def _metric_names(expr: str) -> set[str]:
    names = set(re.findall(r"\b([a-z_][a-z0-9_]*)\s*(?:\{|\[)", expr))
    return {re.sub(r"_(bucket|count|sum)$", "", n) for n in names} - PROMQL_WORDS


def _dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]


def test_the_dashboard_has_a_datasource_variable_used_by_every_panel():
    dashboard = json.loads(DASHBOARD.read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
            assert all(t["datasource"]["uid"] == "${datasource}" for t in panel["targets"])
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))


@pytest.mark.django_db
def test_the_dashboard_and_rules_use_only_metrics_opsassist_exports(client):
    exported = set(re.findall(r"^# TYPE (\w+) ", client.get("/metrics").content.decode(), re.M))
    exported |= {name.removesuffix("_total") for name in exported} | {name + "_total" for name in exported}
    rules = re.findall(r"expr: (.+(?:\n {10,}.+)*)", RULES.read_text())
    used = set().union(*(_metric_names(e) for e in [*_dashboard_exprs(), *rules])) - NOT_OURS
    assert used, "no metric found in the dashboard"
    assert used <= exported, used - exported


@pytest.mark.server
def test_a_real_prometheus_scrapes_incidents_total_from_a_running_server(tmp_path):
    prometheus = _tool("prometheus")
    server_dir = tmp_path / "server"
    server_dir.mkdir()
    with running_server(server_dir) as (base, _token, _proc):
        port = free_port()
        config = tmp_path / "prometheus.yml"
        shutil.copy(RULES, tmp_path / "opsassist-rules.yml")
        config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            "rule_files: [opsassist-rules.yml]\n"
            "scrape_configs:\n"
            f"  - job_name: opsassist\n    static_configs: [{{targets: ['{base.removeprefix('http://')}']}}]\n"
        )
        log = open(tmp_path / "prometheus.log", "wb")  # noqa: SIM115 - closed below
        proc = subprocess.Popen(
            [prometheus, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            series = _wait_for_series(f"http://127.0.0.1:{port}", "incidents_total", proc, tmp_path)
            rules = httpx.get(f"http://127.0.0.1:{port}/api/v1/rules", timeout=5).json()["data"]["groups"]
        finally:
            proc.terminate()
            proc.wait(20)
            log.close()
    labels = {(s["metric"]["status"], s["metric"]["severity"]) for s in series}
    assert ("open", "critical") in labels and ("resolved", "low") in labels
    assert all(s["metric"]["job"] == "opsassist" for s in series)
    assert {r["name"] for g in rules for r in g["rules"]} >= {"OpsAssistWorkerSilent", "OpsAssistBeatSilent"}


def _wait_for_series(url: str, name: str, proc: subprocess.Popen, tmp_path: Path, timeout: float = 60) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, (tmp_path / "prometheus.log").read_text()[-3000:]
        try:
            response = httpx.get(url + "/api/v1/query", params={"query": name}, timeout=5)
        except httpx.HTTPError:
            response = None
        if response is not None and response.status_code == 200 and response.json()["data"]["result"]:
            return response.json()["data"]["result"]
        time.sleep(0.5)
    raise AssertionError(f"no {name} series in {timeout}s:\n" + (tmp_path / "prometheus.log").read_text()[-3000:])
