"""Escalation with a frozen clock: assigned, notified, escalated after the timeout, stopped by ack."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from incidents import services as incident_services
from incidents.models import Incident
from oncall import services
from oncall.models import Channel, ContactMethod, Escalation, EscalationPolicy, EscalationStep, Notification
from oncall.tests.factories import team_with_rotation, user
from oncall.tests.receiver import http_receiver
from oncall.transports.webhook import sign

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 1, 6, 12, 0, tzinfo=UTC)  # ann is on call (week of 2026-01-05)


def open_incident(django_capture_on_commit_callbacks, service="checkout"):
    with django_capture_on_commit_callbacks(execute=True):
        incident, _ = incident_services.get_or_open_incident(
            source="events", service=service, title="checkout errors", severity="high"
        )
    return Incident.objects.get(pk=incident.pk)


def timeline(incident):
    return [(e.kind, e.text) for e in incident.timeline.order_by("at", "id")]


@pytest.fixture
def team(settings):
    settings.ESCALATION_TIMEOUT_MINUTES = 5
    team, schedule, _ = team_with_rotation()
    policy = EscalationPolicy.objects.create(team=team, repeat_count=0)
    EscalationStep.objects.create(policy=policy, position=0, schedule=schedule)
    EscalationStep.objects.create(policy=policy, position=1, user=user("boss"), wait_minutes=10)
    return team


def test_a_new_incident_is_assigned_notified_escalated_and_stopped_by_ack(team, django_capture_on_commit_callbacks):
    with time_machine.travel(T0, tick=False):
        incident = open_incident(django_capture_on_commit_callbacks)
        assert incident.assigned_to.username == "ann"
        first = Notification.objects.get()
        assert (first.recipient, first.event, first.status, first.step) == ("ann", "new", "sent", 0)

    with time_machine.travel(T0 + timedelta(minutes=4, seconds=59), tick=False):
        assert services.do_escalate_due() == []
    with time_machine.travel(T0 + timedelta(minutes=5), tick=False), django_capture_on_commit_callbacks(execute=True):
        assert services.do_escalate_due() == [incident.pk]
    second = Notification.objects.get(recipient="boss")
    assert second.event == "escalation" and second.step == 1

    with time_machine.travel(T0 + timedelta(minutes=7), tick=False), django_capture_on_commit_callbacks(execute=True):
        incident_services.do_change_status(incident, "acknowledged", actor=user("boss"))
    assert Escalation.objects.get().state == "stopped"
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        assert services.do_escalate_due() == []
    kinds = [kind for kind, _ in timeline(incident)]
    assert kinds[0] == "created"
    assert [k for k in kinds if k in ("assignment", "escalation", "notification")][:3] == [
        "assignment", "escalation", "notification",
    ]  # fmt: skip
    assert "Escalation stopped: acknowledged by boss." in [text for _, text in timeline(incident)]
    assert Notification.objects.count() == 2


def test_exhaustion_after_the_last_step_and_repeats(team, django_capture_on_commit_callbacks):
    team.escalation_policy.repeat_count = 1
    team.escalation_policy.save()
    with time_machine.travel(T0, tick=False):
        incident = open_incident(django_capture_on_commit_callbacks)
    for minutes in (5, 15, 20, 30):  # step 2, repeat step 1, repeat step 2, exhausted
        with time_machine.travel(T0 + timedelta(minutes=minutes), tick=False), \
                django_capture_on_commit_callbacks(execute=True):  # fmt: skip
            services.do_escalate_due()
    assert Escalation.objects.get().state == "exhausted"
    assert Notification.objects.filter(recipient="ann").count() == 2  # round 0 and round 1
    assert "Escalation exhausted" in timeline(incident)[-1][1]


def test_the_policy_is_copied_when_escalation_starts(team, django_capture_on_commit_callbacks):
    with time_machine.travel(T0, tick=False):
        open_incident(django_capture_on_commit_callbacks)
    team.escalation_policy.steps.filter(position=1).update(user=user("someone-else"))
    with time_machine.travel(T0 + timedelta(minutes=5), tick=False), django_capture_on_commit_callbacks(execute=True):
        services.do_escalate_due()
    assert Notification.objects.filter(recipient="boss").exists()


def test_no_team_means_a_timeline_entry_not_an_error(django_capture_on_commit_callbacks):
    incident = open_incident(django_capture_on_commit_callbacks, service="orphan")
    assert any("No team owns service orphan" in text for _, text in timeline(incident))


def test_a_webhook_is_delivered_signed_to_a_real_receiver(team, django_capture_on_commit_callbacks):
    with http_receiver() as receiver:
        Channel.objects.create(name="ops-hook", team=team, kind="webhook", notify_on=["new", "resolve"],
                               config={"url": receiver.url, "secret": "s3cret"})  # fmt: skip
        incident = open_incident(django_capture_on_commit_callbacks)
        with django_capture_on_commit_callbacks(execute=True):
            incident_services.do_change_status(incident, "resolved", actor=None)
        assert [r["json"]["event"] for r in receiver.received] == ["incident.opened", "incident.resolved"]
        request = receiver.received[0]
        headers = {k.lower(): v for k, v in request["headers"].items()}
        assert headers["x-opsassist-signature"] == sign("s3cret", headers["x-opsassist-timestamp"], request["raw"])
        assert request["json"]["incident"]["id"] == incident.pk
    assert Notification.objects.filter(kind="webhook", status="sent").count() == 2


def test_a_failing_channel_is_retried_and_recorded_and_the_incident_is_unaffected(
    team, django_capture_on_commit_callbacks
):
    ContactMethod.objects.create(user=user("ann"), kind="log")
    with http_receiver(status=503) as receiver, time_machine.travel(T0, tick=False):
        Channel.objects.create(name="flaky", team=team, kind="webhook", notify_on=["new"], config={"url": receiver.url})
        incident = open_incident(django_capture_on_commit_callbacks)
        assert len(receiver.received) == services.MAX_ATTEMPTS
    failed = Notification.objects.get(kind="webhook")
    assert failed.status == "failed" and failed.attempts == services.MAX_ATTEMPTS and "503" in failed.error
    assert Notification.objects.get(kind="log").status == "sent"  # the other channel went through
    incident.refresh_from_db()
    assert incident.status == "open" and incident.assigned_to.username == "ann"
    assert any("failed after 6 attempt(s)" in text for _, text in timeline(incident))


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_not_delivery_and_is_retried(team, django_capture_on_commit_callbacks, status):
    with http_receiver(status=status) as receiver, time_machine.travel(T0, tick=False):
        channel = Channel.objects.create(name="moved", team=team, kind="webhook", notify_on=["new"],
                                         config={"url": receiver.url})  # fmt: skip
        open_incident(django_capture_on_commit_callbacks)
        assert len(receiver.received) == services.MAX_ATTEMPTS
    failed = Notification.objects.get(kind="webhook")
    assert failed.status == "failed" and failed.error == f"answered {status} redirect, not followed"
    channel.refresh_from_db()
    assert channel.enabled  # maybe a moved receiver: not disabled like a 4xx


def test_a_4xx_is_permanent_and_disables_the_channel(team, django_capture_on_commit_callbacks):
    with http_receiver(status=404) as receiver:
        channel = Channel.objects.create(name="gone", team=team, kind="webhook", notify_on=["new"],
                                         config={"url": receiver.url})  # fmt: skip
        open_incident(django_capture_on_commit_callbacks)
        assert len(receiver.received) == 1
    channel.refresh_from_db()
    assert not channel.enabled and "404" in channel.disabled_reason


def test_notifications_are_counted_in_metrics(team, django_capture_on_commit_callbacks, client):
    open_incident(django_capture_on_commit_callbacks)
    text = client.get("/metrics").content.decode()
    assert 'oncall_notifications_sent_total{channel="log",status="sent"} 1.0' in text


def test_a_task_run_twice_pages_once(team, django_capture_on_commit_callbacks):
    incident = open_incident(django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        services.do_start_escalation(incident.pk)
    assert Notification.objects.count() == 1 and Escalation.objects.count() == 1
