"""The incidents list and incident page: who sees which controls, the page's own filters, the robot
badge, the remediation panel's wording, and the dashboard's 30-day column."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from incidents.choices import TimelineKind
from incidents.models import TimelineEntry
from incidents.tests.factories import IncidentFactory

pytestmark = pytest.mark.django_db


def test_a_viewer_sees_no_bulk_or_declare_controls_and_gets_403_on_changes(client, viewer):
    incident = IncidentFactory(status="open")
    client.force_login(viewer)
    page = client.get("/incidents/").content.decode()
    assert 'data-bulk="0"' in page and "declare-form" not in page
    detail = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert "assign-me" not in detail and "rca-form" not in detail
    body = {"assigned_to": "carol"}
    assert client.patch(f"/api/v1/incidents/{incident.pk}", body, content_type="application/json").status_code == 403
    body = {"title": "x", "service": "y", "severity": "high"}
    assert client.post("/api/v1/incidents", body, content_type="application/json").status_code == 403


def test_a_responder_gets_the_controls(client, responder):
    incident = IncidentFactory(status="open")
    client.force_login(responder)
    assert "declare-form" in client.get("/incidents/").content.decode()
    detail = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert "assign-me" in detail and "rca-form" in detail


def test_the_list_filters_by_part_of_a_service_name_dates_and_sorts(client, viewer):
    now = timezone.now()
    IncidentFactory(service="payments-api", title="old one", detected_at=now - timedelta(days=10))
    IncidentFactory(service="payments-worker", title="new one", detected_at=now)
    IncidentFactory(service="search", title="other", detected_at=now)
    client.force_login(viewer)
    titles = lambda r: [i["title"] for i in r.context["incidents"]]  # noqa: E731
    assert sorted(titles(client.get("/incidents/", {"service_contains": "PAYMENTS"}))) == ["new one", "old one"]
    since = (now - timedelta(days=2)).date().isoformat()
    assert sorted(titles(client.get("/incidents/", {"service_contains": "pay", "from": since}))) == ["new one"]
    assert titles(client.get("/incidents/", {"ordering": "service"}))[0] == "old one"
    assert titles(client.get("/incidents/", {"ordering": "-service"}))[0] == "other"


@pytest.mark.parametrize("params", [{"from": "2026-13-40"}, {"to": "yesterday"}, {"ordering": "password"}])
def test_bad_page_filters_get_400_naming_the_field(client, viewer, params):
    client.force_login(viewer)
    response = client.get("/incidents/", params)
    assert response.status_code == 400 and next(iter(params)) in response.content.decode()


def test_incidents_claude_analysed_carry_the_robot_badge(client, viewer):
    analysed, plain = IncidentFactory(), IncidentFactory()
    TimelineEntry.objects.create(incident=analysed, kind=TimelineKind.ANALYSIS, actor="ai", text="Analysis (ai)")
    client.force_login(viewer)
    rows = {i["id"]: i["ai_analysed"] for i in client.get("/incidents/").context["incidents"]}
    assert rows == {analysed.pk: True, plain.pk: False}
    assert client.get(f"/incidents/{analysed.pk}/").context["incident_json"]["ai_analysed"] is True


def test_the_remediation_panel_offers_no_fix_when_no_action_exists(client, responder, settings):
    settings.ANTHROPIC_API_KEY = ""
    incident = IncidentFactory(status="open", source="event_burst")
    client.force_login(responder)
    page = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert "start-remediation" not in page and "No automated action exists" in page


def test_the_dashboard_counts_incidents_over_30_days(client, viewer):
    now = timezone.now()
    for days in (0, 3, 20):
        IncidentFactory(service="billing", detected_at=now - timedelta(days=days), status="resolved",
                        resolved_at=now - timedelta(days=days) + timedelta(minutes=5))  # fmt: skip
    client.force_login(viewer)
    rows = client.get("/").context["reliability"]
    assert [(r["service"], r["incidents_30d"], r["day"]["incidents"]) for r in rows] == [("billing", 3, 1)]


@pytest.mark.parametrize(("days", "expected"), [("30", 31), ("90", 91), ("1000", 15), ("x", 15)])
def test_the_dashboard_charts_take_a_range(client, viewer, days, expected):
    client.force_login(viewer)
    response = client.get("/", {"days": days})
    assert response.status_code == 200 and len(response.context["charts"]["days"]) == expected
