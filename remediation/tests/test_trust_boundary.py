"""Who may make what run: operator-configured commands, admin-only policies, the two-person rule, and the
audit every run carries."""

import sys

import pytest
import redis
from django.core.exceptions import ImproperlyConfigured

from incidents.models import Incident
from incidents.tests.factories import IncidentFactory
from monitoring import drills
from monitoring.services import do_run_check
from remediation import services
from remediation.actions import allowed_actions, get_action
from remediation.commands import load_commands
from remediation.models import OUTPUT_LIMIT, ActionPolicy, RemediationRun

pytestmark = pytest.mark.django_db

SMUGGLED = {"restart_command": "touch /tmp/opsassist-pwned", "auto_approve": ["restart_redis", "clear_redis_cache"],
            "allow_flushdb": True}  # fmt: skip


@pytest.fixture(autouse=True)
def quick_verify(settings):
    settings.REMEDIATION_VERIFY_SECONDS = 5
    settings.REMEDIATION_VERIFY_INTERVAL = 0.2
    settings.REMEDIATION_COMMANDS = {}


def drilled_incident(monitor, failure):
    from django.test import TestCase

    drills.do_start_drill(monitor, failure)
    with TestCase.captureOnCommitCallbacks(execute=True):
        do_run_check(monitor)
    return Incident.objects.get(source="health_check", component=monitor.name, status="open")


def test_a_responder_cannot_make_anything_run_unapproved(
    responder_api, redis_monitor, django_capture_on_commit_callbacks, tmp_path
):
    # Smuggled through the ORM: the API refuses these keys, and even present they must do nothing.
    redis_monitor.config = {**redis_monitor.config, **SMUGGLED, "restart_command": f"touch {tmp_path}/pwned"}
    redis_monitor.save()
    client = redis.Redis.from_url(redis_monitor.target)
    client.set("app:important", "keep me")
    try:
        assert "restart_redis" not in allowed_actions(redis_monitor)
        incident = drilled_incident(redis_monitor, "memory_pressure")
        with django_capture_on_commit_callbacks(execute=True):
            proposed = responder_api.post(f"/api/v1/incidents/{incident.pk}/remediations")
        assert proposed.status_code == 201
        run = responder_api.get(f"/api/v1/remediations/{proposed.json()['id']}").json()
        assert run["status"] == "proposed" and run["decided_by"] is None  # waiting for a human
        with django_capture_on_commit_callbacks(execute=True):
            responder_api.post(f"/api/v1/remediations/{run['id']}/approve")
        done = responder_api.get(f"/api/v1/remediations/{run['id']}").json()
    finally:
        drills.do_clear_drill(redis_monitor)
    assert done["decided_by"] == "bob" and done["proposed_by_user"] == "bob"
    assert done["status"] == "succeeded" and "flushdb" not in done["result"]
    assert client.get("app:important") == b"keep me"  # no FLUSHDB without an admin's policy
    assert not (tmp_path / "pwned").exists()
    ran = RemediationRun.objects.exclude(status__in=["proposed", "rejected"])
    assert not ran.filter(decided_by__isnull=True, decided_via="").exists()
    client.close()


def test_only_an_admin_can_set_an_auto_approve_policy(api, responder_api, viewer_api, pg_monitor):
    body = {"monitor": pg_monitor.name, "action": "kill_idle_connections", "auto_approve": True}
    assert responder_api.post("/api/v1/remediation/policies", body, format="json").status_code == 403
    assert viewer_api.post("/api/v1/remediation/policies", body, format="json").status_code == 403
    assert not ActionPolicy.objects.exists()
    created = api.post("/api/v1/remediation/policies", body, format="json")
    assert created.status_code == 201, created.content
    policy = created.json()
    assert policy["set_by"] == "alice" and policy["auto_approve"] and not policy["allow_flushdb"]
    url = f"/api/v1/remediation/policies/{policy['id']}"
    assert responder_api.patch(url, {"auto_approve": False}, format="json").status_code == 403
    assert responder_api.delete(url).status_code == 403
    assert [p["id"] for p in viewer_api.get(f"/api/v1/remediation/policies?monitor={pg_monitor.name}").json()] == [
        policy["id"]
    ]
    catalog = viewer_api.get(f"/api/v1/remediation/actions?monitor={pg_monitor.name}").json()
    kill = next(row for row in catalog if row["action"] == "kill_idle_connections")
    assert kill["policy"] == {"id": policy["id"], "auto_approve": True, "allow_flushdb": False, "set_by": "alice"}


def test_a_policy_names_an_action_the_monitor_offers(api, pg_monitor):
    bad_action = api.post("/api/v1/remediation/policies", {"monitor": pg_monitor.name, "action": "rm_rf"},
                          format="json")  # fmt: skip
    assert bad_action.status_code == 400 and "action" in bad_action.json()["errors"]
    flush_on_postgres = api.post(
        "/api/v1/remediation/policies",
        {"monitor": pg_monitor.name, "action": "kill_idle_connections", "allow_flushdb": True},
        format="json",
    )
    assert flush_on_postgres.status_code == 400 and "allow_flushdb" in flush_on_postgres.json()["errors"]
    body = {"monitor": pg_monitor.name, "action": "kill_idle_connections"}
    assert api.post("/api/v1/remediation/policies", body, format="json").status_code == 201
    again = api.post("/api/v1/remediation/policies", body, format="json")
    assert again.status_code == 400 and "action" in again.json()["errors"]
    assert ActionPolicy.objects.count() == 1


def test_two_person_rule_refuses_self_approval(settings, responder, responder_api, api):
    settings.REMEDIATION_TWO_PERSON = True
    run = RemediationRun.objects.create(incident=IncidentFactory(), action="kill_idle_connections",
                                        proposed_by="rules", proposed_by_user=responder)  # fmt: skip
    refused = responder_api.post(f"/api/v1/remediations/{run.pk}/approve")
    assert refused.status_code == 403 and "Two-person rule" in refused.json()["detail"]
    assert RemediationRun.objects.get(pk=run.pk).status == "proposed"
    approved = api.post(f"/api/v1/remediations/{run.pk}/approve")
    assert approved.status_code == 200 and approved.json()["decided_by"] == "alice"


def test_without_the_two_person_rule_the_proposer_may_approve(responder, responder_api):
    run = RemediationRun.objects.create(incident=IncidentFactory(), action="kill_idle_connections",
                                        proposed_by="rules", proposed_by_user=responder)  # fmt: skip
    assert responder_api.post(f"/api/v1/remediations/{run.pk}/approve").status_code == 200


def test_flushdb_needs_an_admin_policy(redis_monitor, admin_user):
    redis_monitor.config = {**redis_monitor.config, "allow_flushdb": True}  # ignored: not a policy
    redis_monitor.save()
    client = redis.Redis.from_url(redis_monitor.target)
    client.set("app:important", "keep me")
    result = get_action(redis_monitor, "clear_redis_cache").execute()
    assert "flushdb" not in result and client.get("app:important") == b"keep me"
    policy = ActionPolicy.objects.create(monitor=redis_monitor, action="clear_redis_cache", allow_flushdb=True,
                                         set_by=admin_user, set_by_name="alice")  # fmt: skip
    result = get_action(redis_monitor, "clear_redis_cache", services.policy_for(redis_monitor, "clear_redis_cache"))
    assert result.execute()["flushdb"] is True and client.get("app:important") is None
    assert policy.pk
    client.close()


def test_restart_commands_come_only_from_operator_configuration(settings, redis_monitor, viewer_api):
    redis_monitor.config = {**redis_monitor.config, "restart_command": "touch /tmp/opsassist-pwned"}
    redis_monitor.save()
    assert "restart_redis" not in allowed_actions(redis_monitor)
    settings.REMEDIATION_COMMANDS = load_commands(
        f'{{"restart_redis": {{"*": ["false"], "{redis_monitor.name}": ["{sys.executable}", "-c", "print(42)"]}}}}'
    )
    assert "restart_redis" in allowed_actions(redis_monitor)
    facts = get_action(redis_monitor, "restart_redis").execute()
    assert facts["argv"] == [sys.executable, "-c", "print(42)"] and facts["exit_status"] == 0
    assert facts["output"].strip() == "42"
    catalog = viewer_api.get("/api/v1/remediation/actions").json()
    restart = next(row for row in catalog if row["action"] == "restart_redis")
    assert restart["offered"] and restart["runs"] == f"{sys.executable} -c 'print(42)'"


def test_a_run_records_exactly_what_ran_and_its_bounded_output(
    settings, redis_monitor, api, viewer_api, admin_user, django_capture_on_commit_callbacks
):
    program = "import sys; print('x' * 10000); print('password=' + sys.argv[1]); sys.exit(3)"
    settings.REMEDIATION_COMMANDS = {"restart_redis": {"*": [sys.executable, "-c", program, "hunter2"]}}
    run = RemediationRun.objects.create(incident=IncidentFactory(), monitor=redis_monitor, action="restart_redis",
                                        proposed_by="ai", proposed_by_user=admin_user)  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        assert api.post(f"/api/v1/remediations/{run.pk}/approve").status_code == 200
    seen_by_admin = api.get(f"/api/v1/remediations/{run.pk}").json()
    assert seen_by_admin["status"] == "failed" and seen_by_admin["error"] == "exit status 3"
    assert seen_by_admin["argv"][:2] == [sys.executable, "-c"] and seen_by_admin["exit_status"] == 3
    assert len(seen_by_admin["output"].encode()) <= OUTPUT_LIMIT and "password=hunter2" in seen_by_admin["output"]
    assert seen_by_admin["duration_ms"] > 0 and seen_by_admin["target"].startswith("redis://")
    assert seen_by_admin["decided_by"] == "alice" and seen_by_admin["proposed_by_user"] == "alice"
    assert viewer_api.get(f"/api/v1/remediations/{run.pk}").json()["output"] is None  # the target's own text


def test_a_command_that_hangs_is_killed_with_its_children(settings, redis_monitor):
    from remediation.actions.base import ActionError

    settings.REMEDIATION_COMMAND_TIMEOUT_SECONDS = 1
    settings.REMEDIATION_COMMANDS = {"restart_redis": {"*": ["sh", "-c", "sleep 30 & sleep 30"]}}
    with pytest.raises(ActionError, match="timed out") as caught:
        get_action(redis_monitor, "restart_redis").execute()
    assert caught.value.facts["exit_status"] is not None


@pytest.mark.parametrize(
    "raw",
    ['["systemctl"]', '{"restart_redis": "systemctl restart redis"}', '{"restart_redis": []}',
     '{"restart_redis": {"*": [1, 2]}}', '{"Restart Redis!": ["x"]}', "{not json"],
)  # fmt: skip
def test_a_badly_shaped_command_configuration_stops_the_start(raw):
    with pytest.raises(ImproperlyConfigured):
        load_commands(raw)


def test_commands_may_come_from_a_toml_file(tmp_path):
    path = tmp_path / "commands.toml"
    path.write_text('restart_redis = ["systemctl", "restart", "redis"]\n\n'
                    '[restart_postgres]\n"*" = ["systemctl", "restart", "postgresql"]\n'
                    '"orders-db" = ["sudo", "/usr/local/bin/restart-orders-db"]\n')  # fmt: skip
    commands = load_commands(path=str(path))
    assert commands["restart_redis"] == {"*": ["systemctl", "restart", "redis"]}
    assert commands["restart_postgres"]["orders-db"] == ["sudo", "/usr/local/bin/restart-orders-db"]


def test_a_command_for_an_action_that_runs_none_stops_the_start(settings):
    from remediation.apps import check_registry_and_commands

    settings.REMEDIATION_COMMANDS = {"kill_idle_connections": {"*": ["true"]}}
    with pytest.raises(ImproperlyConfigured, match="kill_idle_connections"):
        check_registry_and_commands()


def test_a_targets_own_error_text_reaches_admins_only(api, viewer_api, admin_user, postgres_url):
    from monitoring.models import Monitor

    target = postgres_url.rsplit("/", 1)[0] + "/no_such_database_here"
    monitor = Monitor.objects.create(name="gone-db", kind="postgres", target=target)
    run = RemediationRun.objects.create(incident=IncidentFactory(), monitor=monitor, action="kill_idle_connections",
                                        proposed_by="rules", status="approved", decided_by=admin_user)  # fmt: skip
    services.do_execute(run.pk)
    seen_by_viewer = viewer_api.get(f"/api/v1/remediations/{run.pk}").json()
    assert seen_by_viewer["status"] == "failed" and seen_by_viewer["output"] is None
    assert "no_such_database_here" not in seen_by_viewer["error"] and "Error" in seen_by_viewer["error"]
    assert "no_such_database_here" in api.get(f"/api/v1/remediations/{run.pk}").json()["output"]
