from datetime import timedelta

import pytest
from django.utils import timezone

from monitoring import tasks
from monitoring.models import CheckResult, Monitor, MonitorRollup
from monitoring.queries import availability
from monitoring.services import claim_due, prune_results

pytestmark = pytest.mark.django_db


def test_due_monitors_are_claimed_once_per_interval():
    now = timezone.now()
    a = Monitor.objects.create(name="a", kind="tcp", target="tcp://127.0.0.1:1", interval_seconds=5, next_check_at=now)
    Monitor.objects.create(name="off", kind="tcp", target="tcp://127.0.0.1:1", enabled=False, next_check_at=now)
    assert [m.name for m in claim_due(now)] == ["a"]
    assert claim_due(now + timedelta(seconds=1)) == []
    a.refresh_from_db()
    assert a.next_check_at == now + timedelta(seconds=5)
    assert [m.name for m in claim_due(now + timedelta(seconds=5))] == ["a"]


def test_the_periodic_task_runs_due_checks():
    Monitor.objects.create(name="dead", kind="tcp", target="tcp://127.0.0.1:1", timeout_seconds=0.5)
    tasks.run_due_checks()  # eager in tests: the check runs inline
    assert CheckResult.objects.filter(monitor__name="dead", health=0).count() == 1


def test_pinned_monitors_go_to_their_host_queue():
    assert Monitor(name="x", pinned_host="web-1").queue == "host.web-1"
    assert Monitor(name="y").queue == "checks"


def test_availability_from_rollups_and_pruning():
    monitor = Monitor.objects.create(name="m", kind="tcp", target="tcp://h:1")
    now = timezone.now()
    hour = now.replace(minute=0, second=0, microsecond=0)
    MonitorRollup.objects.create(monitor=monitor, hour=hour, checks=10, healthy=9, health_sum=900)
    MonitorRollup.objects.create(monitor=monitor, hour=hour - timedelta(days=3), checks=10, healthy=0, health_sum=0)
    result = availability([monitor.pk], now)[monitor.pk]
    assert result == {"24h": 90.0, "7d": 45.0, "30d": 45.0}
    CheckResult.objects.create(monitor=monitor, at=now - timedelta(hours=49), health=100, status="healthy")
    CheckResult.objects.create(monitor=monitor, at=now, health=100, status="healthy")
    MonitorRollup.objects.create(monitor=monitor, hour=hour - timedelta(days=91), checks=1, healthy=1, health_sum=1)
    assert prune_results(now) == (1, 1)


def test_analytics_include_monitor_availability(api):
    monitor = Monitor.objects.create(name="m", kind="tcp", target="tcp://h:1")
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    MonitorRollup.objects.create(monitor=monitor, hour=hour, checks=1000, healthy=995, health_sum=0)
    body = api.get("/api/v1/incidents/analytics").json()
    assert body["monitors"] == [
        {"name": "m", "service": "m", "availability_percent": {"24h": 99.5, "7d": 99.5, "30d": 99.5},
         "sla_status": {"24h": "good", "7d": "good", "30d": "good"}}
    ]  # fmt: skip


def test_failures_before_incident_waits_for_consecutive_failures():
    from incidents.models import Incident
    from monitoring.services import do_run_check

    monitor = Monitor.objects.create(name="blip", kind="tcp", target="tcp://127.0.0.1:1", timeout_seconds=0.5,
                                     config={"failures_before_incident": 2})  # fmt: skip
    do_run_check(monitor)
    assert not Incident.objects.exists()
    do_run_check(monitor)
    assert Incident.objects.filter(component="blip").count() == 1
