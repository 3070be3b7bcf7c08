"""An incident whose escalation start task was lost (queued while the broker was down, or held by a worker
that died) is paged by the reaper, exactly once, however many reapers run and whenever the original task
turns up."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.db import connection

from incidents import services as incident_services
from incidents.models import Incident
from oncall import services, tasks
from oncall.models import Escalation, Notification
from oncall.tests.factories import team_with_rotation

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 1, 6, 12, 0, tzinfo=UTC)  # ann is on call (week of 2026-01-05)
GRACE = timedelta(seconds=services.ESCALATION_START_GRACE_SECONDS)


def open_with_lost_start(django_capture_on_commit_callbacks, service="checkout") -> Incident:
    """Open an incident whose after-commit work never runs: the start_escalation task is never queued."""
    with django_capture_on_commit_callbacks(execute=False):
        incident, _ = incident_services.get_or_open_incident(
            source="events", service=service, title="checkout errors", severity="high"
        )
    return incident


def resumed_entries(incident) -> int:
    return incident.timeline.filter(kind="escalation", text__startswith="Escalation resumed after").count()


def test_it_pages_an_incident_whose_start_task_was_lost_exactly_once(django_capture_on_commit_callbacks):
    team_with_rotation()
    with time_machine.travel(T0, tick=False):
        incident = open_with_lost_start(django_capture_on_commit_callbacks)
    assert not Escalation.objects.exists() and not Notification.objects.exists()

    with time_machine.travel(T0 + GRACE - timedelta(seconds=1), tick=False):
        assert services.do_reap_escalations() == []  # a start task may still be on its way
    with time_machine.travel(T0 + GRACE, tick=False), django_capture_on_commit_callbacks(execute=True):
        assert services.do_reap_escalations() == [incident.pk]
    page = Notification.objects.get()
    assert (page.recipient, page.event, page.status) == ("ann", "new", "sent")
    assert Incident.objects.get(pk=incident.pk).assigned_to.username == "ann"
    assert resumed_entries(incident) == 1
    assert "after 60 s" in incident.timeline.get(text__startswith="Escalation resumed").text

    with time_machine.travel(T0 + GRACE * 2, tick=False), django_capture_on_commit_callbacks(execute=True):
        assert services.do_reap_escalations() == []
        tasks.start_escalation.delay(incident.pk)  # the original task, delivered late
    assert Notification.objects.count() == 1 and Escalation.objects.count() == 1 and resumed_entries(incident) == 1


def test_it_leaves_alone_incidents_that_were_paged_acknowledged_or_held(django_capture_on_commit_callbacks):
    team_with_rotation(services=("checkout", "billing", "search"))
    with time_machine.travel(T0, tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            incident_services.get_or_open_incident(source="events", service="checkout", title="paged", severity="high")
        acked = open_with_lost_start(django_capture_on_commit_callbacks, service="billing")
        incident_services.do_change_status(acked, "acknowledged", actor="ann")
        held = open_with_lost_start(django_capture_on_commit_callbacks, service="search")
        Incident.objects.filter(pk=held.pk).update(paging_held=True)
    sent = Notification.objects.count()
    with time_machine.travel(T0 + GRACE * 10, tick=False), django_capture_on_commit_callbacks(execute=True):
        assert services.do_reap_escalations() == []
    assert Notification.objects.count() == sent


def test_an_incident_nobody_owns_pages_the_admins_once(django_capture_on_commit_callbacks):
    get_user_model().objects.create_superuser("root", "root@example.com", "x")
    with time_machine.travel(T0, tick=False):
        incident = open_with_lost_start(django_capture_on_commit_callbacks, service="orphan")
    with time_machine.travel(T0 + GRACE, tick=False), django_capture_on_commit_callbacks(execute=True):
        assert services.do_reap_escalations() == [incident.pk]
    with time_machine.travel(T0 + GRACE * 2, tick=False), django_capture_on_commit_callbacks(execute=True):
        assert services.do_reap_escalations() == []  # the admins' page left its escalation row behind
    assert list(Notification.objects.values_list("recipient", flat=True)) == ["root"]
    assert incident.timeline.filter(text__contains="paging the admins: root").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_reapers_and_the_late_task_page_once():
    team_with_rotation()
    incident, _ = incident_services.get_or_open_incident(
        source="events", service="checkout", title="checkout errors", severity="high"
    )
    # transaction=True ran the start task at commit: undo it, as if it had been lost.
    Escalation.objects.all().delete()
    Notification.objects.all().delete()
    incident.timeline.filter(kind__in=("escalation", "notification", "assignment")).delete()
    Incident.objects.filter(pk=incident.pk).update(assigned_to=None)

    barrier, started, errors = threading.Barrier(4), [], []

    def run(work):
        try:
            barrier.wait()
            started.append(work())
        except Exception as exc:  # asserted on below
            errors.append(exc)
        finally:
            connection.close()

    later = incident.created_at + GRACE
    work = [lambda: services.do_reap_escalations(later)] * 3 + [lambda: services.do_start_escalation(incident.pk)]
    threads = [threading.Thread(target=run, args=(w,)) for w in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert Escalation.objects.count() == 1
    assert Notification.objects.filter(event="new").count() == 1
    assert resumed_entries(incident) <= 1


def test_an_incident_only_the_admins_were_paged_for_pages_them_again_after_a_snooze(
    django_capture_on_commit_callbacks,
):
    get_user_model().objects.create_superuser("root", "root@example.com", "x")
    with time_machine.travel(T0, tick=False), django_capture_on_commit_callbacks(execute=True):
        incident, _ = incident_services.get_or_open_incident(
            source="events", service="orphan", title="orphan errors", severity="high"
        )
    with time_machine.travel(T0 + timedelta(minutes=1), tick=False), django_capture_on_commit_callbacks(execute=True):
        incident_services.do_snooze(incident, 10, actor="root")
    with time_machine.travel(T0 + timedelta(minutes=12), tick=False), django_capture_on_commit_callbacks(execute=True):
        assert services.do_release_held() == [incident.pk]
        assert services.do_reap_escalations() == []
    pages = list(Notification.objects.order_by("id").values_list("recipient", "event", "round"))
    assert pages == [("root", "new", 0), ("root", "escalation", 1)]


def test_an_incident_that_fails_to_start_does_not_starve_the_others(django_capture_on_commit_callbacks, monkeypatch):
    team_with_rotation(services=("checkout", "billing"))
    with time_machine.travel(T0, tick=False):
        broken = open_with_lost_start(django_capture_on_commit_callbacks, service="checkout")
        fine = open_with_lost_start(django_capture_on_commit_callbacks, service="billing")
    begin = services._begin

    def fails_for_broken(escalation, incident, team, **kwargs):
        if incident.pk == broken.pk:
            raise RuntimeError("a bug")
        begin(escalation, incident, team, **kwargs)

    monkeypatch.setattr(services, "_begin", fails_for_broken)
    with time_machine.travel(T0 + GRACE, tick=False), django_capture_on_commit_callbacks(execute=True):
        assert services.do_reap_escalations() == [fine.pk]
    assert not Escalation.objects.filter(incident=broken).exists()  # rolled back: tried again next pass
    monkeypatch.undo()
    with time_machine.travel(T0 + GRACE * 2, tick=False), django_capture_on_commit_callbacks(execute=True):
        assert services.do_reap_escalations() == [broken.pk]


def test_a_released_hold_that_fails_to_page_stays_held_and_the_others_are_paged(
    django_capture_on_commit_callbacks, monkeypatch
):
    team_with_rotation(services=("checkout", "billing"))
    with time_machine.travel(T0, tick=False):
        broken = open_with_lost_start(django_capture_on_commit_callbacks, service="checkout")
        fine = open_with_lost_start(django_capture_on_commit_callbacks, service="billing")
        Incident.objects.filter(pk__in=(broken.pk, fine.pk)).update(paging_held=True)  # e.g. a silence that ended
    resume = services._resume_paging

    def fails_for_broken(incident, now):
        if incident.pk == broken.pk:
            raise RuntimeError("a bug")
        resume(incident, now)

    monkeypatch.setattr(services, "_resume_paging", fails_for_broken)
    with time_machine.travel(T0 + GRACE, tick=False), django_capture_on_commit_callbacks(execute=True):
        assert services.do_release_held() == [fine.pk]
    assert Incident.objects.get(pk=broken.pk).paging_held  # rolled back: released on a later pass
    assert Notification.objects.filter(incident=fine).count() == 1
