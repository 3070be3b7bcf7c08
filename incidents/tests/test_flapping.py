"""Flapping: a thing that fails and recovers repeatedly keeps one incident, pages once, and resolves
only after FLAP_STABLE_SECONDS of continuous health."""

from datetime import timedelta

import pytest

from incidents import alerts, inbox, services
from incidents.models import Incident
from incidents.tests.paging_helpers import T0, at, pages, paging_team, texts
from monitoring.checkers.base import Outcome
from monitoring.models import Monitor
from monitoring.services import apply_to_incidents

pytestmark = pytest.mark.django_db
DOWN, UP = Outcome(health=0, error="connection refused"), Outcome(health=100)


@pytest.fixture
def monitor(settings):
    paging_team(settings, services_=("api",))
    return Monitor.objects.create(name="api-http", service="api", kind="http", target="http://127.0.0.1:9/")


def check(monitor, outcome, minute, capture):
    with at(T0 + timedelta(minutes=minute), capture):
        apply_to_incidents(monitor, outcome)


def test_three_flaps_keep_one_incident_page_once_and_resolve_after_the_stable_period(
    monitor, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    for minute, outcome in enumerate([DOWN, UP, DOWN, UP, DOWN, UP]):
        check(monitor, outcome, minute, capture)
    incident = Incident.objects.get()
    assert incident.flapping and incident.status == "open"
    assert pages() == 1
    assert any(text.startswith("Flapping: recovered 3 times within 900 s") for text in texts(incident))

    check(monitor, DOWN, 6, capture)  # failing again restarts the stable period
    for minute in (7, 8, 9, 10, 11):  # every healthy check after that leaves the period running
        check(monitor, UP, minute, capture)
    with at(T0 + timedelta(minutes=11, seconds=59), capture):
        assert services.do_resolve_stable() == []
    with at(T0 + timedelta(minutes=12), capture):
        assert services.do_resolve_stable() == [incident.pk]
    incident.refresh_from_db()
    assert incident.status == "resolved" and Incident.objects.count() == 1 and pages() == 1


def test_a_failure_long_after_a_recovery_opens_a_new_incident_and_pages(monitor, django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks
    check(monitor, DOWN, 0, capture)
    check(monitor, UP, 1, capture)
    check(monitor, DOWN, 20, capture)  # past FLAP_WINDOW_SECONDS
    assert Incident.objects.count() == 2 and pages() == 2
    assert not Incident.objects.filter(flapping=True).exists()


def test_one_recovery_resolves_at_once(monitor, django_capture_on_commit_callbacks):
    check(monitor, DOWN, 0, django_capture_on_commit_callbacks)
    check(monitor, UP, 1, django_capture_on_commit_callbacks)
    assert Incident.objects.get().status == "resolved"


def test_a_flapping_alert_keeps_one_incident(settings, django_capture_on_commit_callbacks):
    paging_team(settings)
    for minute, status in enumerate(["firing", "resolved"] * 3):
        alert = alerts.AlertIn(source="generic", fingerprint="disk", status=status, service="checkout",
                               severity="high", summary="disk full")  # fmt: skip
        with at(T0 + timedelta(minutes=minute), django_capture_on_commit_callbacks):
            inbox.do_queue([(alert, "disk")], actor="test")
            inbox.do_drain()
    incident = Incident.objects.get()
    assert incident.flapping and incident.status == "open" and pages() == 1
