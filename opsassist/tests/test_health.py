import pytest
from django.test import override_settings

from opsassist.lib import heartbeat

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _alive_worker_and_beat():
    """Worker and beat are not running under the test client: write their heartbeats as if they were."""
    for role in heartbeat.ROLES:
        heartbeat.beat(role)


def test_it_reports_every_check_healthy(client):
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy"
    assert set(body["checks"]) == {"database", "broker", "worker", "beat", "memory", "disk"}


@override_settings(HEALTH_DISK_THRESHOLD=0.0)
def test_it_answers_503_naming_the_failed_check(client):
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["failed"] == ["disk"]
    assert "disk" in response.json()["checks"]["disk"]["error"]


@override_settings(EMBEDDED=False, REDIS_URL="redis://127.0.0.1:1/0")
def test_ready_fails_when_the_broker_is_unreachable(client):
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["failed"] == ["broker"]


def test_ready_checks_a_real_redis_broker(client, redis_url):
    with override_settings(EMBEDDED=False, REDIS_URL=redis_url):
        response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json()["checks"]["broker"]["kind"] == "redis"


def test_live_needs_no_database(client):
    assert client.get("/health/live").json() == {"status": "alive"}


def test_metrics_are_prometheus_text(client):
    response = client.get("/metrics")
    assert response.status_code == 200
    assert b"django_http_requests" in response.content


def test_openapi_schema_and_docs_are_served(client):
    assert client.get("/api/schema").status_code == 200
    docs = client.get("/docs")
    assert docs.status_code == 200
    # Swagger UI comes from the vendored sidecar package, not a CDN.
    assert b"cdn." not in docs.content


@pytest.mark.parametrize("path", ["/health/live", "/health/ready"])
def test_the_probes_answer_whatever_the_host(client, settings, path):
    """A kubelet probes the pod IP: not OPSASSIST_URL's host, not loopback."""
    settings.ALLOWED_HOSTS = ["ops.example.com"]
    assert client.get(path, HTTP_HOST="10.42.0.17:8000").status_code == 200
    assert client.get("/health", HTTP_HOST="10.42.0.17:8000").status_code == 400  # only the probes
    assert client.get("/api/v1/me", HTTP_HOST="10.42.0.17:8000").status_code == 400
    assert client.post(path, HTTP_HOST="10.42.0.17:8000").status_code == 405
