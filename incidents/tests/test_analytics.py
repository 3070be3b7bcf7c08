from datetime import timedelta

import pytest
from django.utils import timezone

from incidents import analytics
from incidents.analytics import Window, sla_status
from incidents.tests.factories import IncidentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def fixture_window():
    """Hand-computed: see each incident's comment."""
    now = timezone.now().replace(microsecond=0)
    t0 = now - timedelta(seconds=10_000)

    def at(seconds):
        return t0 + timedelta(seconds=seconds)

    # db #1: down [1000, 2000], acked after 100 s
    IncidentFactory(service="db", status="resolved", detected_at=at(1000), resolved_at=at(2000),
                    acknowledged_at=at(1100), ack_seconds=100, resolve_seconds=1000)  # fmt: skip
    # db #2: down [1500, 2500] overlaps #1 -> merged [1000, 2500] = 1500 s; acked after 300 s
    IncidentFactory(service="db", status="resolved", detected_at=at(1500), resolved_at=at(2500),
                    acknowledged_at=at(1800), ack_seconds=300, resolve_seconds=1000)  # fmt: skip
    # db #3: began before the window, down [-500, 500] -> clipped to 500 s; not counted as in-window
    IncidentFactory(service="db", status="resolved", detected_at=at(-500), resolved_at=at(500),
                    resolve_seconds=1000, severity="low")  # fmt: skip
    # api: still open, down [9990, now] = 10 s
    IncidentFactory(service="api", status="open", detected_at=at(9990), severity="critical", category="network_issue")
    return Window(since=t0, until=now), now


def test_the_numbers_match_the_hand_computed_fixture(fixture_window):
    window, now = fixture_window
    result = analytics.analytics(window, now=now)
    assert result["total"] == 3
    assert result["active"] == 1
    assert result["critical_last_24h"] == 1
    assert result["last_24h"] == 4 and result["last_7d"] == 4
    assert result["mtta_seconds"] == {"mean": 200.0, "median": 200.0}
    assert result["mttr_seconds"] == {"mean": 1000.0, "median": 1000.0}
    assert result["by_status"] == {"open": 1, "resolved": 2}
    assert result["by_severity"] == {"critical": 1, "high": 2}
    assert result["by_service"] == {"api": 1, "db": 2}
    assert result["by_category"] == {"network_issue": 1, "uncategorized": 2}
    services = {row["service"]: row for row in result["services"]}
    assert services["db"]["downtime_seconds"] == pytest.approx(2000, abs=0.01)
    assert services["db"]["availability_percent"] == pytest.approx(80.0)
    assert services["db"]["mtbf_seconds"] == pytest.approx(4000, abs=0.01)
    assert services["db"]["sla_status"] == "poor"
    assert services["api"]["downtime_seconds"] == pytest.approx(10, abs=0.01)
    assert services["api"]["availability_percent"] == pytest.approx(99.9)
    assert services["api"]["sla_status"] == "excellent"


def test_median_of_an_odd_count():
    for seconds in (10, 20, 90):
        IncidentFactory(ack_seconds=seconds)
    now = timezone.now()
    result = analytics.analytics(Window(since=now - timedelta(days=1), until=now + timedelta(seconds=1)), now=now)
    assert result["mtta_seconds"] == {"mean": 40.0, "median": 20.0}
    assert result["mttr_seconds"] == {"mean": None, "median": None}


@pytest.mark.parametrize(
    ("percent", "status"),
    [(100, "excellent"), (99.9, "excellent"), (99.89, "good"), (99.0, "good"), (98.99, "fair"), (95.0, "fair"),
     (94.99, "poor")],
)  # fmt: skip
def test_sla_buckets(percent, status):
    assert sla_status(percent) == status


def test_the_endpoint(api, fixture_window):
    window, _ = fixture_window
    response = api.get(
        "/api/v1/incidents/analytics", {"since": window.since.isoformat(), "until": window.until.isoformat()}
    )
    assert response.status_code == 200
    body = response.json()
    for key in ("total", "active", "last_24h", "last_7d", "critical_last_24h", "mtta_seconds", "mttr_seconds",
                "by_status", "by_severity", "by_service", "by_category", "services"):  # fmt: skip
        assert key in body
    assert {"availability_percent", "downtime_seconds", "mtbf_seconds", "sla_status"} <= set(body["services"][0])


def test_the_endpoint_defaults_to_30_days(api):
    assert api.get("/api/v1/incidents/analytics").json()["total"] == 0


def test_the_endpoint_names_bad_params(api):
    response = api.get("/api/v1/incidents/analytics", {"since": "soon"})
    assert response.status_code == 400 and "since" in response.json()["errors"]
    now = timezone.now().isoformat()
    assert api.get("/api/v1/incidents/analytics", {"since": now, "until": now}).status_code == 400


def test_the_default_window_is_computed_once_per_cache_period(api, settings, django_assert_max_num_queries):
    from incidents.tests.factories import IncidentFactory

    settings.ANALYTICS_CACHE_SECONDS = 60
    IncidentFactory(service="api")
    first = api.get("/api/v1/incidents/analytics").json()
    IncidentFactory(service="db")
    with django_assert_max_num_queries(4):  # auth and session only: the answer comes from the cache
        second = api.get("/api/v1/incidents/analytics").json()
    assert second == first
    # An explicit window is always computed fresh.
    fresh = api.get("/api/v1/incidents/analytics", {"since": "2000-01-01T00:00:00Z"}).json()
    assert fresh["total"] == first["total"] + 1
