"""Seed 001's loop against the real PostgreSQL and Redis: drill → incident → propose → approve →
execute → verify → resolved."""

import pytest

from incidents.models import Incident
from incidents.tests.factories import IncidentFactory
from monitoring import drills
from monitoring.services import do_run_check
from remediation.models import RemediationRun

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def quick_verify(settings):
    settings.REMEDIATION_VERIFY_SECONDS = 5
    settings.REMEDIATION_VERIFY_INTERVAL = 0.2


def drilled_incident(monitor, failure):
    drills.do_start_drill(monitor, failure)
    do_run_check(monitor)
    return Incident.objects.get(source="health_check", component=monitor.name, status="open")


def test_postgres_kill_idle_connections_end_to_end(api, pg_monitor, django_capture_on_commit_callbacks):
    try:
        incident = drilled_incident(pg_monitor, "idle_connections")
        proposed = api.post(f"/api/v1/incidents/{incident.pk}/remediations")
        assert proposed.status_code == 201
        run = proposed.json()
        assert run["action"] == "kill_idle_connections" and run["proposed_by"] == "rules"
        assert run["status"] == "proposed" and "12 idle" in run["rationale"]
        with django_capture_on_commit_callbacks(execute=True):
            approved = api.post(f"/api/v1/remediations/{run['id']}/approve")
        assert approved.status_code == 200
        done = api.get(f"/api/v1/remediations/{run['id']}").json()
        assert done["status"] == "succeeded", done
        assert done["result"]["terminated"] == 12 and done["verification"]["passed"]
        assert done["decided_by"] == "alice"
    finally:
        drills.do_clear_drill(pg_monitor)
    incident.refresh_from_db()
    assert incident.status == "resolved"
    assert "kill_idle_connections" in incident.resolution_notes
    steps = [e.text.split(" ")[0] for e in incident.timeline.filter(kind="remediation")]
    assert steps == ["Proposed", "Approved", "Executing", "kill_idle_connections", "Verified:"]


def test_redis_clear_cache_end_to_end(api, redis_monitor, django_capture_on_commit_callbacks):
    try:
        incident = drilled_incident(redis_monitor, "memory_pressure")
        run = api.post(f"/api/v1/incidents/{incident.pk}/remediations").json()
        assert run["action"] == "clear_redis_cache"
        with django_capture_on_commit_callbacks(execute=True):
            api.post(f"/api/v1/remediations/{run['id']}/approve")
        assert RemediationRun.objects.get().status == "succeeded"
    finally:
        drills.do_clear_drill(redis_monitor)
    assert Incident.objects.get(pk=incident.pk).status == "resolved"


def test_kill_never_touches_opsassist_or_other_databases(pg_monitor, pg_target, postgres_url):
    import psycopg

    from remediation.actions import get_action

    own = psycopg.connect(pg_target, application_name="opsassist")
    other_db = psycopg.connect(postgres_url, application_name="someone-else")
    victim = psycopg.connect(pg_target, application_name="app")
    try:
        result = get_action(pg_monitor, "kill_idle_connections").execute()
        assert result["terminated"] == 1
        assert own.execute("SELECT 1").fetchone() == (1,)
        assert other_db.execute("SELECT 1").fetchone() == (1,)
    finally:
        for conn in (own, other_db, victim):
            conn.close()


def test_dry_run_changes_nothing(pg_monitor):
    from remediation.actions import get_action

    drills.do_start_drill(pg_monitor, "idle_connections")
    try:
        assert get_action(pg_monitor, "kill_idle_connections").execute(dry_run=True)["would_terminate"] == 12
        assert do_run_check(pg_monitor).metrics["idle_connections"] == 12
    finally:
        drills.do_clear_drill(pg_monitor)


def test_reject_keeps_the_run_and_a_second_proposal_waits(api, pg_monitor):
    try:
        incident = drilled_incident(pg_monitor, "idle_connections")
        run = api.post(f"/api/v1/incidents/{incident.pk}/remediations").json()
        assert api.post(f"/api/v1/incidents/{incident.pk}/remediations").status_code == 409
        rejected = api.post(f"/api/v1/remediations/{run['id']}/reject", {"reason": "not now"}, format="json")
        assert rejected.json()["status"] == "rejected"
        assert api.post(f"/api/v1/remediations/{run['id']}/approve").status_code == 409
        assert api.post(f"/api/v1/incidents/{incident.pk}/remediations").status_code == 201
    finally:
        drills.do_clear_drill(pg_monitor)
    assert RemediationRun.objects.count() == 2


def test_approving_needs_the_permission(viewer_api, outsider_api, responder_api, api):
    from django.contrib.auth.models import Permission

    incident = IncidentFactory()
    run = RemediationRun.objects.create(incident=incident, action="kill_idle_connections", proposed_by="rules")
    assert viewer_api.post(f"/api/v1/remediations/{run.pk}/approve").status_code == 403
    assert outsider_api.post(f"/api/v1/remediations/{run.pk}/reject").status_code == 403
    assert Permission.objects.filter(codename="approve_remediationrun").exists()
    assert responder_api.post(f"/api/v1/remediations/{run.pk}/reject").status_code == 200


def test_an_incident_without_a_monitor_gets_none(api):
    incident = IncidentFactory(source="events", source_key="", title="orders: JWT token expired")
    run = api.post(f"/api/v1/incidents/{incident.pk}/remediations").json()
    assert run["action"] == "none" and run["status"] == "rejected"
    assert Incident.objects.get(pk=incident.pk).category == "auth_issue"


def test_auto_approve_runs_a_low_risk_action_without_a_human(api, pg_monitor, django_capture_on_commit_callbacks):
    pg_monitor.config = {"auto_approve": ["kill_idle_connections"]}
    pg_monitor.save()
    try:
        incident = drilled_incident(pg_monitor, "idle_connections")
        with django_capture_on_commit_callbacks(execute=True):
            api.post(f"/api/v1/incidents/{incident.pk}/remediations")
    finally:
        drills.do_clear_drill(pg_monitor)
    assert RemediationRun.objects.get().status == "succeeded"


def test_a_failed_verification_keeps_the_incident_open(api, pg_monitor, django_capture_on_commit_callbacks, settings):
    settings.REMEDIATION_VERIFY_SECONDS = 0.5
    try:
        incident = drilled_incident(pg_monitor, "idle_connections")
        run = api.post(f"/api/v1/incidents/{incident.pk}/remediations").json()
        drills.do_start_drill(pg_monitor, "idle_connections")  # more idle sessions than the kill will see
        RemediationRun.objects.filter(pk=run["id"]).update(action="kill_idle_connections")
        pg_monitor.config = {"idle_floor_seconds": 3600}  # the kill finds nothing old enough
        pg_monitor.save()
        with django_capture_on_commit_callbacks(execute=True):
            api.post(f"/api/v1/remediations/{run['id']}/approve")
        failed = RemediationRun.objects.get()
        assert failed.status == "failed" and "verification failed" in failed.error
        assert Incident.objects.get(pk=incident.pk).status == "open"
    finally:
        drills.do_clear_drill(pg_monitor)
