from datetime import timedelta

import pytest
from django.utils import timezone

from incidents import services
from incidents.correlation import correlate
from incidents.models import Incident
from incidents.tests.factories import EventFactory

pytestmark = pytest.mark.django_db


def burst(n, service="checkout", level="ERROR", start=None, step=1.0):
    start = start or timezone.now() - timedelta(seconds=n * step)
    return [EventFactory(service=service, level=level, timestamp=start + timedelta(seconds=i * step)) for i in range(n)]


def test_four_errors_open_nothing():
    burst(4)
    correlate()
    assert Incident.objects.count() == 0


def test_five_errors_open_one_incident():
    burst(5, level="ERROR")
    result = correlate()
    incident = Incident.objects.get()
    assert result.opened == [incident.pk]
    assert incident.source == "events"
    assert incident.service == "checkout"
    assert incident.event_count == 5
    assert incident.severity == "high"
    assert incident.status == "open"
    assert incident.timeline.filter(kind="created").exists()


def test_severity_follows_the_worst_level():
    burst(4, level="ERROR")
    burst(1, level="FATAL")
    correlate()
    assert Incident.objects.get().severity == "critical"


def test_critical_and_fatal_count_too():
    burst(2, level="CRITICAL")
    burst(3, level="FATAL")
    correlate()
    assert Incident.objects.count() == 1


@pytest.mark.parametrize("level", ["DEBUG", "INFO", "WARNING"])
def test_lower_levels_never_count(level):
    burst(4)
    burst(10, level=level)
    correlate()
    assert Incident.objects.count() == 0


def test_other_services_do_not_add_up():
    burst(3, service="a")
    burst(3, service="b")
    correlate()
    assert Incident.objects.count() == 0


def test_five_errors_exactly_one_window_apart_open_one(settings):
    # Window edge: first and fifth 300 s apart (inclusive) still count.
    burst(5, start=timezone.now() - timedelta(seconds=300), step=75)
    correlate()
    assert Incident.objects.count() == 1


def test_five_errors_spread_over_more_than_the_window_open_nothing():
    burst(5, start=timezone.now() - timedelta(seconds=301), step=75.25)
    correlate()
    assert Incident.objects.count() == 0


def test_the_threshold_and_window_come_from_settings(settings):
    settings.CORRELATION_THRESHOLD = 3
    settings.CORRELATION_WINDOW_SECONDS = 10
    burst(3, step=6)  # 12 s spread
    correlate()
    assert Incident.objects.count() == 0
    burst(3, step=1)
    correlate()
    assert Incident.objects.count() == 1


def test_later_errors_attach_to_the_open_incident():
    burst(5)
    correlate()
    burst(7)
    result = correlate()
    incident = Incident.objects.get()
    assert incident.event_count == 12
    assert result.attached == 7 and result.opened == []


def test_a_new_burst_after_resolve_opens_a_new_incident():
    burst(5)
    correlate()
    first = Incident.objects.get()
    services.do_change_status(first, "resolved", actor=None)
    burst(3)
    correlate()
    assert Incident.objects.count() == 1  # 3 new errors are not a burst; the old 5 are spent
    burst(2)
    correlate()
    assert Incident.objects.count() == 2
    second = Incident.objects.exclude(pk=first.pk).get()
    assert second.event_count == 5 and second.status == "open"
    first.refresh_from_db()
    assert first.event_count == 5


def test_a_pass_run_twice_changes_nothing():
    burst(6)
    correlate()
    assert correlate().opened == []
    assert Incident.objects.get().event_count == 6


def test_old_backfilled_errors_do_not_open_incidents():
    burst(10, start=timezone.now() - timedelta(hours=3))
    correlate()
    assert Incident.objects.count() == 0


def test_many_services_in_one_pass(django_assert_max_num_queries, settings):
    settings.STORM_THRESHOLD = 100  # 30 services at once would be an alert storm (test_storms.py)
    for i in range(30):
        burst(5, service=f"svc-{i}")
    burst(4, service="quiet")
    correlate()
    assert Incident.objects.count() == 30
    # Once open, a pass is a constant number of statements, not one per service or event (lease, scan,
    # targets, pairs, link, counts, live update, savepoint).
    for i in range(30):
        burst(1, service=f"svc-{i}")
    with django_assert_max_num_queries(10):
        correlate()
    assert set(Incident.objects.values_list("event_count", flat=True)) == {6}
