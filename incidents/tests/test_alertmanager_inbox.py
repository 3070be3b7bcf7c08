"""Alertmanager's queued intake: the webhook stores the group and answers, the drain applies it in batches."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from incidents import inbox, noise, services, tasks
from incidents.alerts import AlertIn
from incidents.models import Alert, AlertInbox, Incident
from incidents.tests.integrations_helpers import integration_client

pytestmark = pytest.mark.django_db

URL = "/api/v1/integrations/alertmanager"


def group(count: int, status: str = "firing", prefix: str = "fp", group_key: str = "", **labels) -> dict:
    return {
        "version": "4", "groupKey": group_key, "status": status, "commonLabels": {},
        "alerts": [
            {"status": status, "labels": {"alertname": f"Down{i}", "service": f"svc-{prefix}-{i}", **labels},
             "annotations": {"summary": f"svc {i} down"}, "fingerprint": f"{prefix}-{i}",
             "startsAt": (timezone.now() - timedelta(minutes=1)).isoformat()}
            for i in range(count)
        ],
    }  # fmt: skip


@pytest.fixture
def am():
    client, _, _ = integration_client("alertmanager", service="infra", grouping="alert")
    return client


@pytest.fixture
def held(monkeypatch):
    """Requests store their alerts, but no drain runs until the test calls inbox.do_drain()."""
    monkeypatch.setattr(tasks, "queue_alert_drain", lambda: None)


def test_it_answers_before_applying_and_the_drain_applies_the_group(am, held):
    response = am.post(URL, group(100), format="json")
    assert response.status_code == 200 and response.json() == {"status": "success", "accepted": 100}
    assert AlertInbox.objects.get().size == 100 and not Alert.objects.exists()
    assert inbox.do_drain() is False
    assert Incident.objects.filter(source="alert", status="open").count() == 100
    assert set(Incident.objects.filter(source="alert").values_list("alert_count", flat=True)) == {1}
    assert Alert.objects.count() == 100 and not AlertInbox.objects.exists()


def test_firing_then_resolved_in_one_batch_apply_in_order(am, held):
    am.post(URL, group(3), format="json")
    am.post(URL, group(3, status="resolved"), format="json")
    inbox.do_drain()
    assert set(Incident.objects.values_list("status", flat=True)) == {"resolved"}
    assert set(Alert.objects.values_list("status", flat=True)) == {"resolved"}


def test_resolved_then_firing_again_leaves_it_firing(am, held):
    am.post(URL, group(1), format="json")
    am.post(URL, group(1, status="resolved"), format="json")
    am.post(URL, group(1), format="json")
    inbox.do_drain()
    incident = Incident.objects.get()  # reopened within the flap window, not a second incident
    assert incident.status == "open" and Alert.objects.get().status == "firing"


def test_a_group_key_joins_every_alert_to_one_incident(held):
    client, _, _ = integration_client("alertmanager", service="infra")
    for count, prefix in ((50, "fp"), (10, "more")):
        body = group(count, prefix=prefix, group_key='{}:{alertname="x"}')
        body["commonLabels"] = {"service": "grouped"}
        client.post(URL, body, format="json")
    inbox.do_drain()
    incident = Incident.objects.get(source="alert")
    assert incident.alert_count == 60 and incident.timeline.filter(kind="alert").count() == 60


def test_an_unresolved_incident_of_the_same_thing_is_joined_not_duplicated(am, held):
    body = group(1)
    existing, _ = services.get_or_open_incident(source="alert", service="svc-fp-0", source_key="am:fp-0",
                                                title="already open", severity="low")  # fmt: skip
    am.post(URL, body, format="json")
    am.post(URL, body, format="json")  # a repeat changes nothing
    inbox.do_drain()
    assert list(Incident.objects.values_list("pk", flat=True)) == [existing.pk]
    existing.refresh_from_db()
    assert existing.alert_count == 1 and existing.severity == "high"  # raised by the alert
    assert existing.timeline.filter(kind="alert").count() == 1


def test_silences_match_the_alert_labels_and_maintenance_holds(am, held):
    now = timezone.now()
    noise.do_create_silence(matchers={"labels": {"team": "db"}}, ends_at=now + timedelta(hours=1), comment="",
                            actor="t", now=now)  # fmt: skip
    noise.do_create_window(starts_at=now - timedelta(minutes=1), ends_at=now + timedelta(hours=1),
                           services=["svc-maint-0"], comment="", actor="t", now=now)  # fmt: skip
    am.post(URL, group(2, prefix="quiet", team="db"), format="json")
    am.post(URL, group(1, prefix="maint"), format="json")
    am.post(URL, group(1, prefix="loud"), format="json")
    inbox.do_drain()
    assert set(Incident.objects.filter(service__startswith="svc-quiet").values_list("silenced", flat=True)) == {True}
    assert Incident.objects.get(service="svc-maint-0").in_maintenance
    loud = Incident.objects.get(service="svc-loud-0")
    assert not loud.silenced and not loud.in_maintenance


def test_a_worker_dying_mid_batch_loses_nothing(am, held, monkeypatch):
    am.post(URL, group(20), format="json")
    real_apply = inbox._Step.apply

    def die(step):
        real_apply(step)  # everything written...
        raise SystemExit("worker killed")  # ...then the process goes away before the commit

    monkeypatch.setattr(inbox._Step, "apply", die)
    with pytest.raises(SystemExit):
        inbox.do_drain()
    assert AlertInbox.objects.get().size == 20 and not Alert.objects.exists() and not Incident.objects.exists()
    monkeypatch.setattr(inbox._Step, "apply", real_apply)
    tasks.process_alert_inbox()  # the next drain (the reaper)
    assert Incident.objects.filter(source="alert").count() == 20 and not AlertInbox.objects.exists()


def test_a_request_that_cannot_be_applied_is_set_aside_and_the_rest_go_through(am, held, monkeypatch):
    for request in range(5):
        am.post(URL, group(2, prefix=f"r{request}"), format="json")
    real = inbox.from_json

    def broken(data):
        if data["fingerprint"] == "r2-1":
            raise ValueError("bad row")
        return real(data)

    monkeypatch.setattr(inbox, "from_json", broken)
    inbox.do_drain()
    assert Incident.objects.filter(source="alert").count() == 8
    aside = AlertInbox.objects.get()
    assert aside.alerts[1][0]["fingerprint"] == "r2-1" and aside.failed_at is not None and "bad row" in aside.error


def test_a_bad_alert_rejects_the_whole_group_and_queues_nothing(am, held):
    body = group(100)
    body["alerts"][57]["labels"]["service"] = "x" * 256
    response = am.post(URL, body, format="json")
    assert response.status_code == 400 and "alerts[57].labels.service" in response.json()["errors"]
    assert not AlertInbox.objects.exists()


def test_the_task_drains_what_is_queued():
    inbox.do_queue([(AlertIn(source="alertmanager", fingerprint="x", status="firing", service="s",
                             severity="high", summary="s down"), "am:x")], actor="t")  # fmt: skip
    tasks.process_alert_inbox()
    assert Incident.objects.get().source_key == "am:x"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_drains_and_openers_make_one_incident_per_thing():
    alerts = [AlertIn(source="alertmanager", fingerprint=f"c{i}", status="firing", service=f"race-{i % 20}",
                      severity="high", summary="down") for i in range(200)]  # fmt: skip
    inbox.do_queue([(alert, f"am:race-{i % 20}") for i, alert in enumerate(alerts)], actor="t")
    errors = []

    def run(work):
        try:
            work()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    def open_directly():
        for i in range(20):
            services.get_or_open_incident(source="alert", service=f"race-{i}", source_key=f"am:race-{i}",
                                          title="direct", severity="low")  # fmt: skip

    threads = [threading.Thread(target=run, args=(work,)) for work in (inbox.do_drain, inbox.do_drain, open_directly)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    inbox.do_drain()
    assert not errors
    assert Incident.objects.filter(source="alert", status="open").exclude(source_key="alert-storm").count() == 20
    assert Alert.objects.filter(incident__isnull=False).count() == 200 and not AlertInbox.objects.exists()


def test_the_oncall_compatible_url_queues_through_the_same_inbox(held):
    _, integration, key = integration_client("alertmanager", service="payments")
    response = APIClient().post(f"/integrations/v1/alertmanager/{key}/", group(3), format="json")
    assert response.status_code == 200 and response.json()["accepted"] == 3
    assert AlertInbox.objects.get().actor == f"integration:{integration.name}"
    inbox.do_drain()
    assert set(Incident.objects.filter(source="alert").values_list("service", flat=True)) == {"payments"}


def test_requests_queue_one_drain_until_it_starts(am, monkeypatch):
    """A storm of webhook requests queues one drain, not one per request; a request arriving after that drain
    started (it may have read the inbox already) queues the next one, and so does a broker that refused."""
    queued = []
    monkeypatch.setattr(tasks.process_alert_inbox, "delay", lambda: queued.append(1))
    for i in range(3):
        assert am.post(URL, group(2, prefix=f"a{i}"), format="json").status_code == 200
    assert len(queued) == 1 and AlertInbox.objects.count() == 3
    tasks.process_alert_inbox()  # the queued drain runs and applies them all
    assert not AlertInbox.objects.exists() and Alert.objects.count() == 6
    am.post(URL, group(2, prefix="b"), format="json")
    assert len(queued) == 2

    def refused():
        raise ConnectionError("broker down")

    tasks.process_alert_inbox()
    monkeypatch.setattr(tasks.process_alert_inbox, "delay", refused)
    am.post(URL, group(2, prefix="c"), format="json")  # stored; the reaper will drain it
    monkeypatch.setattr(tasks.process_alert_inbox, "delay", lambda: queued.append(1))
    am.post(URL, group(2, prefix="d"), format="json")
    assert len(queued) == 3  # the refused one left no mark behind
