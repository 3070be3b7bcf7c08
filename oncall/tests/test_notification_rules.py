"""Personal notification rules with a frozen clock: "at once: push; after 5 minutes unacknowledged: SMS"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from incidents import services as incident_services
from incidents.models import Incident
from oncall import services
from oncall.models import (
    ContactMethod,
    EscalationPolicy,
    EscalationStep,
    Notification,
    NotificationRule,
    ScheduledNotification,
)
from oncall.tests.factories import team_with_rotation, user
from oncall.tests.sink import http_sink

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 1, 6, 12, 0, tzinfo=UTC)  # ann is on call (week of 2026-01-05)


@pytest.fixture
def sink():
    with http_sink() as server:
        yield server


@pytest.fixture
def ann(sink):
    team, schedule, _ = team_with_rotation()
    policy = EscalationPolicy.objects.create(team=team)
    EscalationStep.objects.create(policy=policy, position=0, schedule=schedule, wait_minutes=60)
    ann = user("ann")
    push = ContactMethod.objects.create(user=ann, kind="ntfy", config={"server": sink.base, "topic": "ann"})
    sms = ContactMethod.objects.create(
        user=ann, kind="sms", config={"gateway_url": f"{sink.base}/sms", "to": "+15550001111"}
    )
    ann.push, ann.sms = push, sms
    return ann


def open_incident(capture):
    with capture(execute=True):
        incident, _ = incident_services.get_or_open_incident(
            source="events", service="checkout", title="checkout errors", severity="high"
        )
    return Incident.objects.get(pk=incident.pk)


def tick(capture, at):
    with time_machine.travel(at, tick=False), capture(execute=True):
        return services.do_send_due_rules()


def sent_kinds():
    return sorted(Notification.objects.filter(status="sent").values_list("kind", flat=True))


def test_the_first_rule_fires_at_once_and_the_later_one_after_its_delay(ann, sink, django_capture_on_commit_callbacks):
    NotificationRule.objects.create(user=ann, contact=ann.push, delay_minutes=0)
    NotificationRule.objects.create(user=ann, contact=ann.sms, delay_minutes=5)
    with time_machine.travel(T0, tick=False):
        open_incident(django_capture_on_commit_callbacks)
    assert sent_kinds() == ["ntfy"]
    assert tick(django_capture_on_commit_callbacks, T0 + timedelta(minutes=4, seconds=59)) == 0
    assert sent_kinds() == ["ntfy"]
    assert tick(django_capture_on_commit_callbacks, T0 + timedelta(minutes=5)) == 1
    assert sent_kinds() == ["ntfy", "sms"]
    assert tick(django_capture_on_commit_callbacks, T0 + timedelta(minutes=30)) == 0  # sent once
    assert [r["path"] for r in sink.received] == ["/", "/sms"]
    assert Notification.objects.get(kind="sms").delay_minutes == 5


def test_acknowledging_cancels_the_later_rules(ann, sink, django_capture_on_commit_callbacks):
    NotificationRule.objects.create(user=ann, contact=ann.push, delay_minutes=0)
    NotificationRule.objects.create(user=ann, contact=ann.sms, delay_minutes=5)
    with time_machine.travel(T0, tick=False):
        incident = open_incident(django_capture_on_commit_callbacks)
    with time_machine.travel(T0 + timedelta(minutes=3), tick=False), django_capture_on_commit_callbacks(execute=True):
        incident_services.do_change_status(incident, "acknowledged", actor=ann)
    assert tick(django_capture_on_commit_callbacks, T0 + timedelta(minutes=10)) == 0
    assert sent_kinds() == ["ntfy"]
    assert ScheduledNotification.objects.get().state == "cancelled"
    assert len(sink.received) == 1


def test_the_same_method_may_be_used_again_later(ann, sink, django_capture_on_commit_callbacks):
    NotificationRule.objects.create(user=ann, contact=ann.push, delay_minutes=0)
    NotificationRule.objects.create(user=ann, contact=ann.push, delay_minutes=2)
    with time_machine.travel(T0, tick=False):
        open_incident(django_capture_on_commit_callbacks)
    tick(django_capture_on_commit_callbacks, T0 + timedelta(minutes=2))
    assert sent_kinds() == ["ntfy", "ntfy"]
    assert len(sink.received) == 2


def test_without_rules_every_enabled_contact_method_is_used_at_once(ann, sink, django_capture_on_commit_callbacks):
    ContactMethod.objects.create(user=ann, kind="ntfy", config={"server": sink.base, "topic": "off"}, enabled=False)
    with time_machine.travel(T0, tick=False):
        open_incident(django_capture_on_commit_callbacks)
    assert sent_kinds() == ["ntfy", "sms"]
    assert not ScheduledNotification.objects.exists()
    assert len(sink.received) == 2


# --- API -------------------------------------------------------------------------------------------


def test_a_person_manages_their_own_contact_methods_and_rules(viewer_api, viewer):
    body = {"kind": "ntfy", "config": {"server": "https://ntfy.sh", "topic": "carol-pager"}}
    created = viewer_api.post("/api/v1/oncall/contact-methods", body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["user"] == "carol"
    rule = viewer_api.post("/api/v1/oncall/notification-rules", {"contact": created.json()["id"], "delay_minutes": 5},
                           format="json")  # fmt: skip
    assert rule.status_code == 201, rule.content
    assert rule.json() == {
        "id": rule.json()["id"],
        "user": "carol",
        "contact": created.json()["id"],
        "delay_minutes": 5,
    }
    assert [r["id"] for r in viewer_api.get("/api/v1/oncall/notification-rules").json()] == [rule.json()["id"]]


def test_a_person_cannot_see_or_use_someone_elses(viewer_api, admin_user):
    theirs = ContactMethod.objects.create(user=admin_user, kind="email", config={"address": "a@example.com"})
    assert viewer_api.get("/api/v1/oncall/contact-methods").json() == []
    assert viewer_api.get(f"/api/v1/oncall/contact-methods/{theirs.pk}").status_code == 404
    body = {"user": "alice", "kind": "email", "config": {"address": "x@example.com"}}
    assert viewer_api.post("/api/v1/oncall/contact-methods", body, format="json").status_code == 403
    response = viewer_api.post("/api/v1/oncall/notification-rules", {"contact": theirs.pk}, format="json")
    assert response.status_code == 400 and "contact" in response.json()["errors"]
    assert ContactMethod.objects.count() == 1 and not NotificationRule.objects.exists()


def test_an_admin_manages_anyones(api, viewer):
    body = {"user": "carol", "kind": "email", "config": {"address": "carol@example.com"}}
    created = api.post("/api/v1/oncall/contact-methods", body, format="json")
    assert created.status_code == 201 and created.json()["user"] == "carol"
    rule = api.post("/api/v1/oncall/notification-rules", {"user": "carol", "contact": created.json()["id"]},
                    format="json")  # fmt: skip
    assert rule.status_code == 201, rule.content
    assert [r["user"] for r in api.get("/api/v1/oncall/notification-rules?user=carol").json()] == ["carol"]


@pytest.mark.parametrize(
    ("delay", "field"), [(-1, "delay_minutes"), (1441, "delay_minutes"), ("soon", "delay_minutes")]
)
def test_a_bad_delay_gets_a_400_naming_it(viewer_api, viewer, delay, field):
    contact = ContactMethod.objects.create(user=viewer, kind="email", config={"address": "c@example.com"})
    response = viewer_api.post("/api/v1/oncall/notification-rules", {"contact": contact.pk, "delay_minutes": delay},
                               format="json")  # fmt: skip
    assert response.status_code == 400 and field in response.json()["errors"]
    assert not NotificationRule.objects.exists()


def test_the_same_rule_twice_gets_a_400(viewer_api, viewer):
    contact = ContactMethod.objects.create(user=viewer, kind="email", config={"address": "c@example.com"})
    body = {"contact": contact.pk, "delay_minutes": 5}
    assert viewer_api.post("/api/v1/oncall/notification-rules", body, format="json").status_code == 201
    response = viewer_api.post("/api/v1/oncall/notification-rules", body, format="json")
    assert response.status_code == 400 and "delay_minutes" in response.json()["errors"]


def test_the_escalation_tick_sends_the_due_rules(ann, sink, django_capture_on_commit_callbacks):
    from oncall.tasks import escalate_due

    NotificationRule.objects.create(user=ann, contact=ann.sms, delay_minutes=1)
    with time_machine.travel(T0, tick=False):
        open_incident(django_capture_on_commit_callbacks)
    assert sent_kinds() == []
    with time_machine.travel(T0 + timedelta(minutes=1), tick=False), django_capture_on_commit_callbacks(execute=True):
        escalate_due.delay()
    assert sent_kinds() == ["sms"]


def test_a_suppressed_incident_notifies_nobody_and_says_why(ann, sink, monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setattr(incident_services, "suppression_for", lambda incident, now=None: "in maintenance")
    NotificationRule.objects.create(user=ann, contact=ann.push, delay_minutes=0)
    NotificationRule.objects.create(user=ann, contact=ann.sms, delay_minutes=5)
    with time_machine.travel(T0, tick=False):
        incident = open_incident(django_capture_on_commit_callbacks)
    tick(django_capture_on_commit_callbacks, T0 + timedelta(minutes=5))
    assert Notification.objects.count() == 0 and sink.received == []
    # The escalation holds the page and says why, once; no rule fires later either.
    assert incident.timeline.filter(text="Nobody was paged: in maintenance.").count() == 1
