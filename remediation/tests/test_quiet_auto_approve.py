"""Nothing auto-remediates while the incident's service is in maintenance: a person decides."""

from datetime import timedelta

import pytest
from django.utils import timezone

from incidents.models import Incident, MaintenanceWindow
from monitoring import drills
from monitoring.services import do_run_check
from remediation.models import ActionPolicy, RemediationRun

pytestmark = pytest.mark.django_db


def test_auto_approve_waits_for_a_person_during_maintenance(api, pg_monitor, django_capture_on_commit_callbacks):
    ActionPolicy.objects.create(
        monitor=pg_monitor, action="kill_idle_connections", auto_approve=True, set_by_name="alice"
    )
    now = timezone.now()
    MaintenanceWindow.objects.create(
        starts_at=now - timedelta(minutes=1), ends_at=now + timedelta(hours=1), services=[pg_monitor.effective_service]
    )
    try:
        drills.do_start_drill(pg_monitor, "idle_connections")
        do_run_check(pg_monitor)
        incident = Incident.objects.get(source="health_check", component=pg_monitor.name, status="open")
        assert incident.in_maintenance
        with django_capture_on_commit_callbacks(execute=True):
            api.post(f"/api/v1/incidents/{incident.pk}/remediations")
    finally:
        drills.do_clear_drill(pg_monitor)
    run = RemediationRun.objects.get()
    assert run.status == "proposed"
    assert incident.timeline.filter(text__startswith="Not auto-approved: the incident is in maintenance").exists()
