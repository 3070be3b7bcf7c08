"""/metrics as Prometheus sees it: true counters, monitor health, remediation outcomes, delivery latency,
correlation lag and heartbeat ages."""

import itertools
import re
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from incidents import services
from incidents.tests.factories import EventFactory, IncidentFactory
from opsassist.lib import heartbeat

pytestmark = pytest.mark.django_db

SAMPLE = re.compile(r"^(\w+)(\{[^}]*\})? (\S+)$", re.M)


def scrape(client) -> dict[str, float]:
    text = client.get("/metrics").content.decode()
    return {name + (labels or ""): float(value) for name, labels, value in SAMPLE.findall(text)}


def series(samples: dict[str, float], name: str) -> dict[str, float]:
    return {key: value for key, value in samples.items() if key.startswith(name + "{")}


def test_no_incidents_total_series_decreases_across_open_ack_resolve_reopen(client):
    scrapes = [series(scrape(client), "incidents_total")]
    incident = services.create_manual_incident(title="db down", service="db", severity="critical", actor=None)
    scrapes.append(series(scrape(client), "incidents_total"))
    for status in ("acknowledged", "resolved", "open"):
        incident = services.do_change_status(incident, status, actor=None)
        scrapes.append(series(scrape(client), "incidents_total"))
    incident.delete()
    scrapes.append(series(scrape(client), "incidents_total"))

    for before, after in itertools.pairwise(scrapes):
        assert set(before) <= set(after)
        assert all(after[key] >= value for key, value in before.items()), (before, after)
    final = scrapes[-1]
    assert final['incidents_total{severity="critical",status="open"}'] == 2
    assert final['incidents_total{severity="critical",status="acknowledged"}'] == 1
    assert final['incidents_total{severity="critical",status="resolved"}'] == 1
    assert final['incidents_total{severity="critical",status="closed"}'] == 0


def test_the_status_counter_adds_up_when_its_row_does_not_exist_yet():
    from incidents.models import StatusCount

    StatusCount.objects.all().delete()
    StatusCount.objects.add("open", "low")
    StatusCount.objects.add("open", "low")
    assert StatusCount.objects.get(status="open", severity="low").count == 2


def test_open_incidents_is_a_gauge_of_unresolved_ones(client):
    IncidentFactory(severity="low", status="open")
    IncidentFactory(severity="low", status="acknowledged")
    IncidentFactory(severity="low", status="resolved")
    assert scrape(client)['open_incidents{severity="low"}'] == 2


def test_monitor_health_reports_each_checked_enabled_monitor(client):
    from monitoring.models import Monitor

    Monitor.objects.create(name="db", kind="postgres", target="postgres://x@127.0.0.1/x", status="down")
    Monitor.objects.create(name="web", kind="http", target="http://127.0.0.1:1/", status="healthy")
    Monitor.objects.create(name="new", kind="http", target="http://127.0.0.1:1/")
    Monitor.objects.create(name="off", kind="http", target="http://127.0.0.1:1/", status="down", enabled=False)
    health = series(scrape(client), "monitor_health")
    assert health == {
        'monitor_health{kind="postgres",monitor="db"}': 0.0,
        'monitor_health{kind="http",monitor="web"}': 1.0,
    }


def test_remediation_runs_are_counted_by_action_and_outcome(client):
    from remediation.models import RemediationRun

    for status in ("succeeded", "succeeded", "failed", "proposed"):
        RemediationRun.objects.create(incident=IncidentFactory(), action="restart_service", proposed_by="rules",
                                      status=status)  # fmt: skip
    runs = series(scrape(client), "remediation_runs_total")
    assert runs == {
        'remediation_runs_total{action="restart_service",outcome="failed"}': 1.0,
        'remediation_runs_total{action="restart_service",outcome="succeeded"}': 2.0,
    }


def test_delivery_latency_is_a_histogram_from_queued_to_sent(client, settings):
    from oncall.models import Notification

    settings.NOTIFICATION_LATENCY_BUCKETS = [1.0, 10.0]
    now = timezone.now()
    for i, seconds in enumerate((0.5, 4, 30)):
        Notification.objects.create(event="open", kind="webhook", target=f"t{i}", status="sent",
                                    created_at=now - timedelta(seconds=seconds), sent_at=now)  # fmt: skip
    Notification.objects.create(event="open", kind="webhook", target="pending", created_at=now - timedelta(hours=1))
    samples = scrape(client)
    assert samples['oncall_notification_latency_seconds_bucket{channel="webhook",le="1.0"}'] == 1
    assert samples['oncall_notification_latency_seconds_bucket{channel="webhook",le="10.0"}'] == 2
    assert samples['oncall_notification_latency_seconds_bucket{channel="webhook",le="+Inf"}'] == 3
    assert samples['oncall_notification_latency_seconds_count{channel="webhook"}'] == 3
    assert samples['oncall_notification_latency_seconds_sum{channel="webhook"}'] == pytest.approx(34.5, abs=0.01)


def test_correlation_lag_is_the_age_of_the_oldest_error_correlation_should_have_taken(client, settings):
    settings.CORRELATION_WINDOW_SECONDS, settings.CORRELATION_THRESHOLD = 300, 3
    assert scrape(client)["incidents_correlation_lag_seconds"] == 0
    now = timezone.now()
    EventFactory(service="lonely", level="ERROR", timestamp=now - timedelta(seconds=100))  # below the threshold
    EventFactory(service="noisy", level="INFO", timestamp=now - timedelta(seconds=120))
    assert scrape(client)["incidents_correlation_lag_seconds"] == 0
    for seconds in (40, 30, 20):
        EventFactory(service="burst", level="ERROR", timestamp=now - timedelta(seconds=seconds))
    EventFactory(service="burst", level="ERROR", timestamp=now - timedelta(seconds=900))  # outside the window
    assert scrape(client)["incidents_correlation_lag_seconds"] == pytest.approx(40, abs=5)
    # One error of a service with an unresolved events incident is due at once (it should be attached).
    IncidentFactory(service="attached", source="events", status="open")
    EventFactory(service="attached", level="CRITICAL", timestamp=now - timedelta(seconds=70))
    assert scrape(client)["incidents_correlation_lag_seconds"] == pytest.approx(70, abs=5)


def test_heartbeat_ages_are_exported_and_infinite_before_the_first(client):
    heartbeat.beat("worker", now=time.time() - 7)
    samples = scrape(client)
    assert samples['opsassist_heartbeat_age_seconds{role="worker"}'] == pytest.approx(7, abs=2)
    assert samples['opsassist_heartbeat_age_seconds{role="beat"}'] == float("inf")


def test_the_upgrade_fills_the_counters_from_the_stored_history():
    from importlib import import_module

    from django.apps import apps

    from incidents.models import StatusCount

    backfill = import_module("incidents.migrations.0004_status_counters").backfill
    incident = services.create_manual_incident(title="t", service="s", severity="high", actor=None)
    for status in ("acknowledged", "resolved", "open"):
        incident = services.do_change_status(incident, status, actor=None)
    IncidentFactory(severity="low", status="closed")  # written without a timeline, like the demo history
    live = {(c.status, c.severity): c.count for c in StatusCount.objects.all()}

    StatusCount.objects.all().delete()
    backfill(apps, None)

    filled = {(c.status, c.severity): c.count for c in StatusCount.objects.all()}
    assert filled == {**live, ("open", "low"): 1, ("closed", "low"): 1}
    assert filled[("open", "high")] == 2
