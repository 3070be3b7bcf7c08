"""The events list never counts millions of rows: exact up to a cap, then an estimate or a lower bound,
labelled in `X-Total-Count-Kind`; `Link: rel="next"` stays right either way."""

import pytest
from django.db import connection

from incidents.api import pagination
from incidents.tests.factories import EventFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def six_events(monkeypatch):
    monkeypatch.setattr(pagination, "COUNT_CAP", 4)
    for n in range(6):
        EventFactory(service="api" if n % 2 else "db")


def test_it_counts_exactly_below_the_cap(api):
    for _ in range(3):
        EventFactory()
    response = api.get("/api/v1/events", {"limit": 2})
    assert response["X-Total-Count"] == "3" and response["X-Total-Count-Kind"] == "exact"
    assert 'rel="next"' in response["Link"]


def test_above_the_cap_a_filtered_list_says_at_least(api, six_events):
    response = api.get("/api/v1/events", {"limit": 2, "service": "db"})
    assert response["X-Total-Count"] == "3" and response["X-Total-Count-Kind"] == "exact"
    response = api.get("/api/v1/events", {"limit": 2, "level": "ERROR,INFO,WARNING,DEBUG,CRITICAL,FATAL"})
    assert response["X-Total-Count"] == "5" and response["X-Total-Count-Kind"] == "at-least"


def test_the_next_link_follows_the_rows_not_the_count(api, six_events):
    response = api.get("/api/v1/events", {"limit": 2, "offset": 4})
    assert len(response.json()) == 2 and 'rel="next"' not in response.get("Link", "")
    response = api.get("/api/v1/events", {"limit": 2, "offset": 3})
    assert len(response.json()) == 2 and 'rel="next"' in response["Link"]


def test_an_unfiltered_list_above_the_cap_gives_the_planner_estimate(api, six_events):
    if connection.vendor != "postgresql":
        response = api.get("/api/v1/events")
        assert response["X-Total-Count-Kind"] == "at-least"
        return
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE incidents_event")
    response = api.get("/api/v1/events")
    assert response["X-Total-Count-Kind"] == "estimate" and response["X-Total-Count"] == "6"
