import pytest

from incidents.models import Event

pytestmark = pytest.mark.django_db

URL = "/api/v1/events"


def test_it_stores_one_event(api):
    response = api.post(URL, {"service": "orders", "level": "error", "message": "boom", "host": "web-1"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["level"] == "ERROR"
    assert body["service"] == "orders" and body["host"] == "web-1"
    assert body["timestamp"] and body["id"]
    assert Event.objects.count() == 1


def test_it_keeps_the_given_timestamp(api):
    payload = {"service": "s", "level": "INFO", "message": "m", "timestamp": "2026-01-02T03:04:05Z"}
    response = api.post(URL, payload, format="json")
    assert response.json()["timestamp"] == "2026-01-02T03:04:05Z"


def test_it_accepts_a_batch(api):
    batch = [{"service": "orders", "level": lvl, "message": f"m{i}"} for i, lvl in enumerate(["debug", "Fatal"] * 50)]
    response = api.post(URL, batch, format="json")
    assert response.status_code == 201
    assert response.json() == {"accepted": 100}
    assert Event.objects.filter(level="FATAL").count() == 50


def test_a_batch_is_all_or_nothing(api):
    batch = [{"service": "orders", "level": "ERROR", "message": "ok"}] * 3 + [{"service": "", "level": "nope"}]
    response = api.post(URL, batch, format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert set(errors) == {"[3].service", "[3].level", "[3].message"}
    assert "[3].level" in response.json()["detail"]
    assert Event.objects.count() == 0


def test_it_refuses_more_than_1000(api):
    batch = [{"service": "s", "level": "INFO", "message": "m"}] * 1001
    response = api.post(URL, batch, format="json")
    assert response.status_code == 400
    assert "1000" in response.json()["detail"]
    assert Event.objects.count() == 0


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"level": "ERROR", "message": "m"}, "service"),
        ({"service": "", "level": "ERROR", "message": "m"}, "service"),
        ({"service": "x" * 256, "level": "ERROR", "message": "m"}, "service"),
        ({"service": "s", "message": "m"}, "level"),
        ({"service": "s", "level": "LOUD", "message": "m"}, "level"),
        ({"service": "s", "level": "ERROR"}, "message"),
        ({"service": "s", "level": "ERROR", "message": ""}, "message"),
        ({"service": "s", "level": "ERROR", "message": "m" * 10_001}, "message"),
        ({"service": "s", "level": "ERROR", "message": "m", "timestamp": "yesterday"}, "timestamp"),
        ({"service": "s", "level": "ERROR", "message": "m", "attributes": [1, 2]}, "attributes"),
        ({"service": 12, "level": ["ERROR"], "message": "m"}, "level"),
    ],
)
def test_it_names_each_bad_field(api, payload, field):
    response = api.post(URL, payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert field in response.json()["detail"]
    assert Event.objects.count() == 0


@pytest.mark.parametrize("body", ["not json", "42", '"a string"', "[]"])
def test_it_refuses_malformed_bodies(api, body):
    response = api.post(URL, body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["detail"]


def test_it_lists_events_newest_first_with_filters(api):
    api.post(URL, [{"service": "a", "level": "ERROR", "message": str(i)} for i in range(3)], format="json")
    api.post(URL, {"service": "b", "level": "INFO", "message": "x"}, format="json")
    response = api.get(URL, {"service": "a", "level": "error", "limit": 2})
    assert response.status_code == 200
    assert len(response.json()) == 2
    assert response["X-Total-Count"] == "3"
    assert 'rel="next"' in response["Link"]


def test_viewers_cannot_post_events(viewer_api):
    response = viewer_api.post(URL, {"service": "s", "level": "ERROR", "message": "m"}, format="json")
    assert response.status_code == 403


def test_users_without_a_role_cannot_read(outsider_api):
    assert outsider_api.get(URL).status_code == 403
