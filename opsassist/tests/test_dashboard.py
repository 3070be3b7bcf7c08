"""The dashboard's reliability table: the worst services only, and a JSON twin the page fetches on changes."""

from datetime import timedelta

import pytest
from django.utils import timezone

from incidents import analytics
from incidents.tests.factories import IncidentFactory
from opsassist import pages

pytestmark = pytest.mark.django_db


def _down(service: str, minutes: int, days_ago: float = 2):
    start = timezone.now() - timedelta(days=days_ago)
    IncidentFactory(
        service=service, detected_at=start, resolved_at=start + timedelta(minutes=minutes), status="resolved"
    )


def test_the_table_lists_the_services_with_most_downtime_first(client, viewer):
    for n in range(pages.RELIABILITY_ROWS + 5):
        _down(f"svc-{n:02}", minutes=n + 1)
    client.force_login(viewer)
    response = client.get("/")
    rows = response.context["reliability"]
    assert len(rows) == pages.RELIABILITY_ROWS and response.context["reliability_total"] == pages.RELIABILITY_ROWS + 5
    assert rows[0]["service"] == f"svc-{pages.RELIABILITY_ROWS + 4:02}"
    assert rows[0]["week"]["downtime_seconds"] == pytest.approx((pages.RELIABILITY_ROWS + 5) * 60, abs=0.01)
    assert rows[0]["day"]["downtime_seconds"] == 0


def test_the_live_state_has_new_incidents_at_once(client, viewer):
    client.force_login(viewer)
    assert client.get("/dashboard/live").json()["reliability"] == []
    _down("billing", minutes=30, days_ago=10)
    body = client.get("/dashboard/live", {"days": "30"}).json()
    assert [(r["service"], r["incidents_30d"]) for r in body["reliability"]] == [("billing", 1)]
    assert len(body["charts"]["days"]) == 31 and sum(body["charts"]["per_day"]["high"]) == 1


def test_the_live_state_needs_a_login(client):
    assert client.get("/dashboard/live").status_code == 302


def test_the_headline_figures_match_analytics(client, viewer):
    now = timezone.now()
    _down("billing", minutes=30, days_ago=3)
    _down("billing", minutes=90, days_ago=0.5)
    IncidentFactory(service="api", severity="critical", status="open")
    client.force_login(viewer)
    summary = client.get("/").context["summary"]
    full = analytics.analytics(analytics.Window.default(now), now)
    for key in ("active", "last_24h", "last_7d", "critical_last_24h"):
        assert summary[key] == full[key], key
    assert summary["mttr_seconds"]["mean"] == full["mttr_seconds"]["mean"]


def test_the_page_shares_its_first_state_and_asks_for_a_fresh_one_when_old(client, viewer, settings, monkeypatch):
    settings.ANALYTICS_CACHE_SECONDS = 60
    client.force_login(viewer)
    first = client.get("/")
    assert first.context["live_stale"] is False and b'data-stale="1"' not in first.content
    _down("billing", minutes=30)
    later = pages.time_now() + 5
    monkeypatch.setattr(pages, "time_now", lambda: later)
    second = client.get("/")
    assert second.context["reliability"] == []  # the shared copy, ...
    assert second.context["live_stale"] is True and b'data-stale="1"' in second.content  # ... which app.js replaces
    assert [r["service"] for r in client.get("/dashboard/live").json()["reliability"]] == ["billing"]


def test_the_unowned_banner_names_twenty_services_and_counts_the_rest(client, viewer):
    for n in range(23):
        IncidentFactory(service=f"orphan-{n:02}")
    client.force_login(viewer)
    page = client.get("/").content.decode()
    banner = page[page.index('id="unowned-services"') :].split("</section>")[0]
    assert "No team owns 23 services" in banner and "orphan-19" in banner and "orphan-20" not in banner
    assert "and 3 more." in banner
