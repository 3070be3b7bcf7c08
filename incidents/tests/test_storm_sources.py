"""Only incidents opened by events, alerts and checks make an alert storm; an incident a person declares
neither counts toward one nor joins one: it is paged on its own."""

import re
from datetime import timedelta

import pytest
from django.test import Client

from incidents import services
from incidents.models import Incident
from incidents.tests.paging_helpers import T0, at, open_incident, pages, paging_team
from oncall.models import ServiceOwnership, Team
from oncall.tests.factories import user

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(settings):
    team = paging_team(settings, services_=[f"svc-{n}" for n in range(20)])
    team.is_default = True
    team.save()
    return team


def declare(n: int) -> Incident:
    return services.create_manual_incident(
        title=f"declared {n}", service=f"svc-{n}", severity="high", actor=user("ann")
    )


def test_declared_incidents_do_not_count_toward_a_storm(team, django_capture_on_commit_callbacks):
    with at(T0, django_capture_on_commit_callbacks):
        for n in range(5):
            declare(n)
        for n in range(5, 11):  # 6 opened by checks, alerts and events: 11 in all, but only 6 count
            open_incident(service=f"svc-{n}", source=("health_check", "alert", "events")[n % 3])
    assert not Incident.objects.filter(service="alert-storm").exists()
    assert pages() == 11


def test_an_incident_declared_during_a_storm_is_paged_on_its_own(team, django_capture_on_commit_callbacks):
    with at(T0, django_capture_on_commit_callbacks):
        for n in range(11):
            open_incident(service=f"svc-{n}", source=("events", "checkin")[n % 2])
    storm = Incident.objects.get(service="alert-storm")
    assert storm.children.count() == 11 and pages() == 1
    with at(T0 + timedelta(seconds=30), django_capture_on_commit_callbacks):
        declared = declare(15)
    assert Incident.objects.get(pk=declared.pk).parent_id is None
    assert declared.notifications.count() == 1 and pages() == 2


def storm_note(client) -> str:
    html = client.get("/maintenance/").content.decode()
    return re.search(r'<p class="muted" id="storm-paging">(.*?)</p>', html, re.S).group(1)


def test_the_maintenance_page_says_who_a_storm_pages(responder, settings):
    client = Client()
    client.force_login(responder)
    settings.ONCALL_FALLBACK_TEAM = ""
    assert "pages the admins (no team owns alert-storm and ONCALL_FALLBACK_TEAM is not set)" in storm_note(client)
    Team.objects.create(name="<b>ops</b>")
    settings.ONCALL_FALLBACK_TEAM = "<b>ops</b>"
    assert "pages team &lt;b&gt;ops&lt;/b&gt; (ONCALL_FALLBACK_TEAM; no team owns alert-storm)" in storm_note(client)
    sre = Team.objects.create(name="sre")
    ServiceOwnership.objects.create(team=sre, service="alert-storm")
    note = storm_note(client)
    assert "more than 10 incidents opened by events, alerts or checks within 60 s" in note
    assert "pages team sre (owns alert-storm)" in note
