import json

import pytest

from monitoring.models import Monitor

pytestmark = pytest.mark.django_db

URL = "/api/v1/monitors"


def test_create_list_and_get_never_show_the_password(api, pg_target):
    secret_target = pg_target.replace("postgres@", "postgres:hunter2@")
    response = api.post(
        URL, {"name": "orders-db", "kind": "postgres", "target": secret_target, "interval_seconds": 10}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["target"].count("***") == 1
    listing = api.get(URL)
    one = api.get(f"{URL}/orders-db")
    for body in (response.content, listing.content, one.content):
        assert b"hunter2" not in body
    monitor = one.json()
    assert monitor["service"] == "orders-db"
    assert set(monitor) >= {"name", "kind", "health", "status", "last_checked_at", "metrics", "open_incident_id"}


def test_check_now_returns_the_result(api, pg_target):
    Monitor.objects.create(name="db", kind="postgres", target=pg_target)
    response = api.post(f"{URL}/db/check")
    assert response.status_code == 200
    body = response.json()
    assert body["health"] == 100 and body["metrics"]["idle_connections"] == 0
    detail = api.get(f"{URL}/db").json()
    assert detail["status"] == "healthy" and detail["last_checked_at"]
    assert detail["availability"]["24h"] == 100.0


def test_an_unhealthy_monitor_links_its_incident(api):
    Monitor.objects.create(name="dead", kind="tcp", target="tcp://127.0.0.1:1", timeout_seconds=1)
    api.post(f"{URL}/dead/check")
    monitor = api.get(URL).json()[0]
    assert monitor["status"] == "down" and monitor["open_incident_id"]
    incident = api.get(f"/api/v1/incidents/{monitor['open_incident_id']}").json()
    assert incident["source"] == "health_check" and incident["component"] == "dead"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"kind": "postgres", "target": "postgres://h/db"}, "name"),
        ({"name": "x", "kind": "mysql", "target": "mysql://h/db"}, "kind"),
        ({"name": "x", "kind": "postgres", "target": "redis://h/0"}, "target"),
        ({"name": "x", "kind": "tcp", "target": "tcp://h"}, "target"),
        ({"name": "x", "kind": "http", "target": "http://h", "interval_seconds": 0}, "interval_seconds"),
        ({"name": "bad name!", "kind": "http", "target": "http://h"}, "name"),
    ],
)
def test_bad_monitors_are_refused_naming_the_field(api, payload, field):
    response = api.post(URL, payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert Monitor.objects.count() == 0


def test_duplicate_names_are_refused(api):
    payload = {"name": "x", "kind": "http", "target": "http://h"}
    assert api.post(URL, payload, format="json").status_code == 201
    assert api.post(URL, payload, format="json").status_code == 400


def test_simulate_and_clear_over_the_api(api, pg_monitor):
    response = api.post(f"{URL}/postgres-test/simulate", {"failure": "idle_connections"}, format="json")
    assert response.status_code == 200
    try:
        assert api.post(f"{URL}/postgres-test/check").json()["health"] == 50
    finally:
        cleared = api.post(f"{URL}/postgres-test/simulate/clear")
    assert cleared.status_code == 200
    assert api.post(f"{URL}/postgres-test/check").json()["health"] == 100
    assert api.post(f"{URL}/postgres-test/simulate", {"failure": "boom"}, format="json").status_code == 400


def test_simulation_off_is_refused(api, pg_monitor, settings):
    settings.OPSASSIST_SIMULATION = False
    response = api.post(f"{URL}/postgres-test/simulate", {"failure": "idle_connections"}, format="json")
    assert response.status_code == 400
    assert "OPSASSIST_SIMULATION" in response.json()["detail"]


def test_viewers_read_but_cannot_check(viewer_api):
    Monitor.objects.create(name="x", kind="http", target="http://127.0.0.1:1")
    assert viewer_api.get(URL).status_code == 200
    assert viewer_api.post(f"{URL}/x/check").status_code == 403


def test_missing_monitor_404(api):
    assert api.get(f"{URL}/nope").status_code == 404


def test_the_list_query_count_is_fixed(api, django_assert_num_queries):
    for i in range(10):
        Monitor.objects.create(name=f"m{i}", kind="http", target="http://h", config={})
    with django_assert_num_queries(4):  # token, monitors, open incidents, availability
        response = api.get(URL)
    assert len(json.loads(response.content)) == 10
