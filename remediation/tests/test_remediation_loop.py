"""Seed 001's loop against the real PostgreSQL and Redis: drill → incident → propose → approve →
execute → verify → resolved."""

import pytest

from incidents.models import Incident
from incidents.tests.factories import IncidentFactory
from monitoring import drills
from monitoring.services import do_run_check
from remediation.models import ActionPolicy, RemediationRun

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def quick_verify(settings):
    settings.REMEDIATION_VERIFY_SECONDS = 5
    settings.REMEDIATION_VERIFY_INTERVAL = 0.2


def drilled_incident(monitor, failure):
    """A drill's incident, with the analysis its opening queued already stored (as a worker would)."""
    from django.test import TestCase

    drills.do_start_drill(monitor, failure)
    with TestCase.captureOnCommitCallbacks(execute=True):
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


def test_an_incident_without_a_monitor_gets_none(api, django_capture_on_commit_callbacks):
    incident = IncidentFactory(source="events", source_key="", title="orders: JWT token expired")
    with django_capture_on_commit_callbacks(execute=True):
        answer = api.post(f"/api/v1/incidents/{incident.pk}/remediations")
    assert answer.status_code == 201 and answer.json()["action"] == "none"  # the rules analysed it at once
    run = api.get(f"/api/v1/remediations/{answer.json()['id']}").json()
    assert run["action"] == "none" and run["status"] == "rejected"
    assert Incident.objects.get(pk=incident.pk).category == "auth_issue"


def test_an_admins_policy_auto_approves_and_the_timeline_names_it(
    api, admin_user, pg_monitor, django_capture_on_commit_callbacks
):
    policy = ActionPolicy.objects.create(monitor=pg_monitor, action="kill_idle_connections", auto_approve=True,
                                         set_by=admin_user, set_by_name="alice")  # fmt: skip
    try:
        incident = drilled_incident(pg_monitor, "idle_connections")
        with django_capture_on_commit_callbacks(execute=True):
            run = api.post(f"/api/v1/incidents/{incident.pk}/remediations").json()
    finally:
        drills.do_clear_drill(pg_monitor)
    done = api.get(f"/api/v1/remediations/{run['id']}").json()
    assert done["status"] == "succeeded" and done["decided_by"] == f"policy:{policy.pk}"
    assert done["proposed_by_user"] == "alice" and done["target"].startswith("postgres")
    assert incident.timeline.filter(text__contains=f"Auto-approved kill_idle_connections by policy {policy.pk} "
                                    "set by alice").exists()  # fmt: skip


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
