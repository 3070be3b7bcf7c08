"""The deployment files, read as the tools read them (no Docker engine or systemd runs in the tests)."""

import configparser
import re
from pathlib import Path

import pytest
import yaml
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
LONG_RUNNING = ("postgres", "redis", "web", "worker", "beat")
UNITS = ("opsassist-web", "opsassist-worker", "opsassist-beat")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string((ROOT / "deploy/systemd" / f"{name}.service").read_text())
    return parser


def _queues_after_q(command: str) -> list[str]:
    match = re.search(r"-Q[ =]\S*?(?:\$\{\w+:-)?([\w.,-]+)", command)
    assert match, command
    return match.group(1).split(",")


def test_every_long_running_compose_service_restarts_unless_stopped(compose):
    services = compose["services"]
    for name in LONG_RUNNING:
        assert services[name]["restart"] == "unless-stopped", name
    assert services["migrate"]["restart"] == "no"


def test_web_worker_and_beat_have_healthchecks_that_fit_them(compose):
    services = compose["services"]
    assert "/health/live" in " ".join(services["web"]["healthcheck"]["test"])
    assert "inspect ping" in " ".join(services["worker"]["healthcheck"]["test"])
    assert "celerybeat-schedule" in " ".join(services["beat"]["healthcheck"]["test"])
    for name in ("web", "worker", "beat"):
        check = services[name]["healthcheck"]
        assert {"interval", "timeout", "retries", "start_period"} <= set(check), name


def test_the_demo_targets_run_only_with_the_demo_profile_and_only_on_localhost(compose):
    services = compose["services"]
    demo = [name for name, service in services.items() if "demo" in service.get("profiles", [])]
    assert sorted(demo) == ["postgres-test", "redis-test"]
    for name in demo:
        for port in services[name]["ports"]:
            assert str(port).startswith("127.0.0.1:"), (name, port)
    assert all("profiles" not in services[name] for name in LONG_RUNNING)


def test_the_image_is_pinned_to_a_patch_release_and_has_a_healthcheck():
    dockerfile = (ROOT / "Dockerfile").read_text()
    (base,) = re.findall(r"^FROM\s+(\S+)", dockerfile, re.MULTILINE)
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim(-\w+)?", base), base
    assert re.search(r"^HEALTHCHECK .*\n?.*/health/live", dockerfile, re.MULTILINE)
    assert re.search(r"^USER opsassist$", dockerfile, re.MULTILINE)


def test_secrets_state_tests_and_benches_stay_out_of_the_image():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".env", ".venv", "var", "tests", "**/tests", "bench", ".git", "*.sqlite3"} <= ignored


@pytest.mark.parametrize("name", UNITS)
def test_each_systemd_unit_restarts_on_failure_as_a_dedicated_hardened_user(name):
    service = _unit(name)["Service"]
    assert service["Restart"] == "on-failure"
    assert service["User"] == "opsassist" and service["Group"] == "opsassist"
    assert service["EnvironmentFile"] == "/etc/opsassist/opsassist.env"
    assert service["StateDirectory"] == "opsassist"
    for option in ("NoNewPrivileges", "ProtectHome", "PrivateTmp", "RestrictSUIDSGID"):
        assert service[option] == "yes", option
    assert service["ProtectSystem"] == "strict"
    assert service["CapabilityBoundingSet"] == ""
    assert _unit(name)["Install"]["WantedBy"] == "multi-user.target"


def test_the_worker_stops_no_sooner_than_its_longest_task():
    """A remediation command may run 120 s (remediation/actions/base.py): warm shutdown waits for it."""
    assert int(_unit("opsassist-worker")["Service"]["TimeoutStopSec"]) > 120


def test_every_way_of_starting_a_worker_consumes_every_queue(compose):
    expected = settings.CELERY_WORKER_QUEUES
    procfile = dict(line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip())
    makefile = next(
        line for line in (ROOT / "Makefile").read_text().splitlines() if "celery -A opsassist worker" in line
    )
    unit_env = dict(pair.split("=", 1) for pair in _unit("opsassist-worker")["Service"]["Environment"].split())
    assert _queues_after_q(procfile["worker"]) == expected
    assert _queues_after_q(makefile) == expected
    assert _queues_after_q(" ".join(compose["services"]["worker"]["command"])) == expected
    assert unit_env["CELERY_QUEUES"].split(",") == expected
