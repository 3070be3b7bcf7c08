import pytest

from monitoring.checkers.postgres import health_for_idle
from monitoring.checkers.redis import health_for_memory
from monitoring.models import Monitor, redact_url
from monitoring.services import do_run_check

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("idle", "health"), [(0, 100), (8, 100), (9, 70), (10, 70), (11, 50), (12, 50), (13, 30), (15, 30), (16, 0)]
)
def test_postgres_health_follows_the_seed_table(idle, health):
    assert health_for_idle(idle) == health


@pytest.mark.parametrize(("percent", "health"), [(0, 100), (30, 100), (60, 50), (90, 0), (99, 0)])
def test_redis_health_scales_between_30_and_90_percent(percent, health):
    assert health_for_memory(percent) == health


def test_redact_url_hides_passwords_and_query_values():
    assert redact_url("postgres://app:s3cret@db:5432/x") == "postgres://app:***@db:5432/x"
    assert redact_url("redis://:pw@cache:6379/2") == "redis://:***@cache:6379/2"
    assert redact_url("http://example.com/health") == "http://example.com/health"
    assert redact_url("https://api.example.com/health?key=abc&x=1") == "https://api.example.com/health?key=***&x=***"
    slack = "https://hooks.slack.com/services/T000/B000/XXXXtoken"
    assert redact_url(slack, keep_path=False) == "https://hooks.slack.com/services/***"


def test_a_real_postgres_is_checked(pg_target):
    monitor = Monitor.objects.create(name="pg", kind="postgres", target=pg_target)
    result = do_run_check(monitor)
    assert result.health == 100 and result.status == "healthy"
    assert result.metrics["idle_connections"] == 0
    assert result.metrics["max_connections"] > 0


def test_a_real_redis_is_checked(redis_target):
    url, limit = redis_target
    monitor = Monitor.objects.create(name="cache", kind="redis", target=url, config={"memory_limit_bytes": limit})
    result = do_run_check(monitor)
    assert result.health == 100
    assert 0 < result.metrics["memory_percent"] < 30
    assert result.metrics["memory_limit"] == limit


@pytest.mark.parametrize(
    ("kind", "target"),
    [
        ("postgres", "postgres://app:hunter2@127.0.0.1:1/db"),
        ("redis", "redis://:hunter2@127.0.0.1:1/0"),
        ("http", "http://user:hunter2@127.0.0.1:1/health"),
        ("tcp", "tcp://127.0.0.1:1"),
    ],
)
def test_an_unreachable_target_is_health_0_with_the_error_and_no_password(kind, target):
    monitor = Monitor.objects.create(name=f"dead-{kind}", kind=kind, target=target, timeout_seconds=1)
    result = do_run_check(monitor)
    assert result.health == 0 and result.status == "down"
    assert result.error
    assert "hunter2" not in result.error
    incident = monitor_incident(monitor)
    assert incident.severity == "critical"
    assert "hunter2" not in incident.description + incident.title


def monitor_incident(monitor):
    from incidents.models import Incident

    return Incident.objects.get(source="health_check", component=monitor.name)


def test_http_and_tcp_checks_against_a_live_server(live_server):
    http = Monitor.objects.create(name="self", kind="http", target=live_server.url + "/health/live")
    assert do_run_check(http).metrics["status_code"] == 200
    host_port = live_server.url.split("//")[1]
    tcp = Monitor.objects.create(name="self-tcp", kind="tcp", target=f"tcp://{host_port}")
    assert do_run_check(tcp).health == 100


def test_an_http_error_status_is_down(live_server):
    monitor = Monitor.objects.create(name="missing", kind="http", target=live_server.url + "/nope")
    result = do_run_check(monitor)
    assert result.health == 0 and result.metrics["status_code"] == 404
