"""Nothing stays in flight forever: deadlines, the reaper, rescheduled verification, and proposals that never
call the model inside the request."""

import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from incidents.models import Incident
from incidents.tests.factories import IncidentFactory
from oncall.tests.factories import team_with_rotation
from remediation import ai, services
from remediation.analysis import do_analyze
from remediation.models import RemediationRun
from remediation.tests.test_ai import GOOD, tool_message

pytestmark = pytest.mark.django_db

Status = RemediationRun.Status


def analysed_incident(**kwargs) -> Incident:
    incident = IncidentFactory(**kwargs)
    do_analyze(incident)  # what the opening analysis stores
    return incident


def stranded(incident, status, **fields) -> RemediationRun:
    """A run as a worker killed mid-way leaves it: in flight, its deadline passed."""
    return RemediationRun.objects.create(
        incident=incident, action="kill_idle_connections", proposed_by="rules", status=status,
        deadline_at=timezone.now() - timedelta(seconds=1), **fields,
    )  # fmt: skip


@pytest.mark.parametrize("status", [Status.APPROVED, Status.EXECUTING, Status.VERIFYING])
def test_a_run_whose_worker_died_is_reaped_and_a_new_proposal_is_accepted(
    status, api, admin_user, django_capture_on_commit_callbacks
):
    team_with_rotation(name="payments", services=("checkout",))
    incident = analysed_incident(service="checkout")
    run = stranded(incident, status, decided_by=admin_user, verify_until=timezone.now() - timedelta(seconds=60))
    RemediationRun.objects.filter(pk=run.pk).update(deadline_at=timezone.now() + timedelta(minutes=1))
    assert api.post(f"/api/v1/incidents/{incident.pk}/remediations").status_code == 409  # before its deadline

    with django_capture_on_commit_callbacks(execute=True):  # the page is requested after commit
        reaped = services.do_reap_runs(now=timezone.now() + timedelta(minutes=2))

    assert run.pk in reaped["failed"]
    run.refresh_from_db()
    assert run.status == "failed" and run.error == services.LOST[status] and run.deadline_at is None
    texts = list(incident.timeline.values_list("text", flat=True))
    assert any(f"failed: {services.LOST[status]}" in text for text in texts)
    assert any("paging" in text for text in texts)  # the on-call is paged through the existing path
    proposed = api.post(f"/api/v1/incidents/{incident.pk}/remediations")
    assert proposed.status_code == 201 and proposed.json()["status"] in ("proposed", "rejected")


def test_a_proposal_past_its_deadline_no_longer_blocks_a_new_one(api):
    incident = analysed_incident()
    old = stranded(incident, Status.PROPOSED)
    proposed = api.post(f"/api/v1/incidents/{incident.pk}/remediations")  # expires it on the way
    assert proposed.status_code == 201
    old.refresh_from_db()
    assert old.status == "rejected" and old.decided_via == "expired"
    assert api.get(f"/api/v1/remediations/{old.pk}").json()["decided_by"] == "expired"


def test_a_reaper_pass_changes_nothing_before_the_deadline(admin_user):
    incident = analysed_incident()
    run = stranded(incident, Status.EXECUTING, decided_by=admin_user)
    RemediationRun.objects.filter(pk=run.pk).update(deadline_at=timezone.now() + timedelta(minutes=1))
    assert services.do_reap_runs() == {"expired": [], "failed": [], "resumed": []}
    assert RemediationRun.objects.get(pk=run.pk).status == "executing"


def test_a_verification_whose_task_was_lost_resumes(
    pg_monitor, admin_user, settings, django_capture_on_commit_callbacks
):
    incident = analysed_incident(source="health_check", component=pg_monitor.name)
    now = timezone.now()
    run = RemediationRun.objects.create(
        incident=incident, monitor=pg_monitor, action="kill_idle_connections", status=Status.VERIFYING,
        decided_by=admin_user, verify_attempts=2, verify_until=now + timedelta(seconds=30),
        deadline_at=now + timedelta(minutes=5),
    )  # fmt: skip
    stalled = now - timedelta(seconds=services._verify_grace())
    RemediationRun.objects.filter(pk=run.pk).update(updated_at=stalled)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.do_reap_runs()["resumed"] == [run.pk]
    run.refresh_from_db()
    assert run.status == "succeeded" and run.verify_attempts == 3  # the pg target is healthy: attempt 3 passed
    assert Incident.objects.get(pk=incident.pk).status == "resolved"


def test_a_redelivered_verification_attempt_does_nothing(pg_monitor, admin_user):
    incident = analysed_incident(source="health_check", component=pg_monitor.name)
    run = RemediationRun.objects.create(
        incident=incident, monitor=pg_monitor, action="kill_idle_connections", status=Status.VERIFYING,
        decided_by=admin_user, verify_attempts=3, verify_until=timezone.now() + timedelta(seconds=30),
    )  # fmt: skip
    assert services.do_verify(run.pk, 2) is None  # attempt 2 ran already
    assert RemediationRun.objects.get(pk=run.pk).verify_attempts == 3


def test_verification_is_rescheduled_tasks_not_a_sleeping_worker(pg_monitor, admin_user, settings, monkeypatch):
    settings.REMEDIATION_VERIFY_INTERVAL = 7
    queued = []
    monkeypatch.setattr(services, "_enqueue", lambda name, *args, countdown=0: queued.append((name, args, countdown)))
    incident = analysed_incident(source="health_check", component=pg_monitor.name)
    run = RemediationRun.objects.create(
        incident=incident, monitor=pg_monitor, action="kill_idle_connections", status=Status.VERIFYING,
        decided_by=admin_user, verify_until=timezone.now() + timedelta(seconds=30),
    )  # fmt: skip
    from monitoring import drills

    drills.do_start_drill(pg_monitor, "idle_connections")  # 12 idle sessions: still unhealthy
    try:
        services.do_verify(run.pk, 0)
    finally:
        drills.do_clear_drill(pg_monitor)
    assert queued == [("remediation.verify_run", (run.pk, 1), 7)]
    assert RemediationRun.objects.get(pk=run.pk).status == "verifying"


@pytest.fixture
def counting_claude(settings):
    import httpx2 as httpx

    settings.ANTHROPIC_API_KEY = "sk-ant-test"
    settings.ANTHROPIC_MAX_RETRIES = 0
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(200, json=tool_message({**GOOD, "remediation_action": "none"}))

    ai.set_transport(httpx.MockTransport(handler))
    yield calls
    ai.set_transport(None)


def test_proposing_reuses_the_stored_analysis(api, counting_claude):
    incident = analysed_incident()
    assert len(counting_claude) == 1  # the opening analysis
    proposed = api.post(f"/api/v1/incidents/{incident.pk}/remediations")
    assert proposed.status_code == 201 and proposed.json()["proposed_by"] == "ai"
    assert len(counting_claude) == 1  # no second model call


def test_proposing_before_any_analysis_queues_one_and_answers_at_once(
    api, counting_claude, django_capture_on_commit_callbacks
):
    incident = IncidentFactory()
    with django_capture_on_commit_callbacks() as queued:
        answer = api.post(f"/api/v1/incidents/{incident.pk}/remediations")
    assert answer.status_code == 202 and answer.json()["action"] == "" and answer.json()["status"] == "proposed"
    assert counting_claude == []  # the model was not called inside the request
    assert api.post(f"/api/v1/remediations/{answer.json()['id']}/approve").status_code == 409  # nothing to approve
    for callback in queued:
        callback()
    run = RemediationRun.objects.get(pk=answer.json()["id"])
    assert len(counting_claude) == 1 and run.action == "none" and run.status == "rejected"
    assert json.loads(counting_claude[0].content)["tools"][0]["name"] == "record_triage"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"CELERY_VISIBILITY_TIMEOUT": "400"}, "CELERY_VISIBILITY_TIMEOUT"),
        ({"CELERY_TASK_TIME_LIMIT": "60", "REMEDIATION_COMMAND_TIMEOUT_SECONDS": "120"}, "COMMAND_TIMEOUT"),
        ({"REMEDIATION_COMMANDS": '{"restart_redis": "systemctl restart redis"}'}, "REMEDIATION_COMMANDS"),
    ],
)
def test_settings_that_would_strand_or_endanger_work_stop_the_start(env, named, tmp_path):
    import os
    import subprocess
    import sys

    full_env = {**os.environ, "OPSASSIST_VAR_DIR": str(tmp_path), **env}
    full_env.pop("DJANGO_SETTINGS_MODULE", None)
    done = subprocess.run([sys.executable, "-c", "import opsassist.settings"], env=full_env, capture_output=True,
                          text=True, timeout=60, cwd=Path(__file__).resolve().parents[2])  # fmt: skip
    assert done.returncode != 0 and "ImproperlyConfigured" in done.stderr and named in done.stderr
