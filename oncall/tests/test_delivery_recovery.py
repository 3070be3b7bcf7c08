"""Deliveries and escalations in flight survive a dead worker: the reaper re-queues or fails what is stuck,
and an escalation step commits together with its claim."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from incidents.tests.factories import IncidentFactory
from oncall import services
from oncall.models import Escalation, Notification
from oncall.tests.factories import team_with_rotation

pytestmark = pytest.mark.django_db


def stuck(incident, status, attempts, target):
    return Notification.objects.create(
        incident=incident, event="new", kind="log", recipient="ann", target=target, status=status,
        attempts=attempts, deadline_at=timezone.now() - timedelta(seconds=1),
    )  # fmt: skip


def test_a_notification_stuck_sending_after_its_worker_died_is_sent_again(django_capture_on_commit_callbacks):
    incident = IncidentFactory()
    notification = stuck(incident, Notification.Status.SENDING, 1, "log:ann")
    with django_capture_on_commit_callbacks(execute=True):
        assert services.do_reap_notifications()["requeued"] == [notification.pk]
    notification.refresh_from_db()
    assert notification.status == "sent" and notification.attempts == 2 and notification.deadline_at is None


def test_a_notification_stuck_after_its_last_attempt_fails_and_says_why():
    incident = IncidentFactory()
    notification = stuck(incident, Notification.Status.SENDING, services.MAX_ATTEMPTS, "log:ann")
    assert services.do_reap_notifications()["failed"] == [notification.pk]
    notification.refresh_from_db()
    assert notification.status == "failed" and "no worker finished" in notification.error
    assert incident.timeline.filter(kind="notification", text__contains="no worker finished").exists()


def test_a_notification_before_its_deadline_is_left_alone():
    notification = stuck(IncidentFactory(), Notification.Status.PENDING, 1, "log:ann")
    Notification.objects.filter(pk=notification.pk).update(deadline_at=timezone.now() + timedelta(minutes=1))
    assert services.do_reap_notifications() == {"requeued": [], "failed": []}


def test_every_queued_notification_carries_a_deadline(django_capture_on_commit_callbacks):
    team_with_rotation(services=("checkout",))
    incident = IncidentFactory(service="checkout")
    with django_capture_on_commit_callbacks(execute=False):
        services.do_start_escalation(incident.pk)
    pending = Notification.objects.filter(status="pending")
    assert pending.exists() and not pending.filter(deadline_at__isnull=True).exists()


def test_an_escalation_step_that_dies_half_way_is_run_again_not_skipped(monkeypatch):
    team_with_rotation(services=("checkout",))
    incident = IncidentFactory(service="checkout")
    services.do_start_escalation(incident.pk)
    Escalation.objects.filter(incident=incident).update(next_at=timezone.now() - timedelta(seconds=1), repeat_count=1)

    def dies(escalation, now):
        raise SystemExit("worker killed")

    monkeypatch.setattr(services, "_run_step", dies)
    with pytest.raises(SystemExit), transaction.atomic():
        services.do_escalate_due()
    escalation = Escalation.objects.get(incident=incident)
    assert (escalation.step_index, escalation.round) == (0, 0)  # the claim rolled back with the step
    monkeypatch.undo()
    assert services.do_escalate_due() == [incident.pk]
