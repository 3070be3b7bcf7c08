"""`manage.py import_oncall` against a stand-in for Grafana OnCall's public API on loopback."""

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from incidents.models import Incident, Integration
from oncall.calendar_models import CalendarShift, CalendarSource, ExternalRef
from oncall.models import (
    ContactMethod,
    EscalationPolicy,
    EscalationStep,
    Notification,
    Override,
    Schedule,
    ServiceOwnership,
    Team,
)
from oncall.schedule import on_call_at
from oncall.tests import oncall_api
from oncall.tests.factories import user
from oncall.tests.standin import get_server

pytestmark = pytest.mark.django_db

KEY = "c2f4a1b3d5e6f7089a1b2c3d4e5f6a7b"
NOW = datetime(2026, 1, 13, 10, 0, tzinfo=UTC)  # week 2 of the rotation: ben's turn
MODELS = (Team, Schedule, CalendarSource, CalendarShift, Override, EscalationPolicy, EscalationStep, Integration,
          ServiceOwnership, ContactMethod, ExternalRef)  # fmt: skip


@pytest.fixture
def oncall():
    with get_server() as server:
        server.key = KEY
        server.data = oncall_api.resources(server.base)
        oncall_api.publish(server, server.data)
        yield server


@pytest.fixture
def people():
    return user("ann"), user("ben")  # ann@example.com, ben@example.com; ghost@elsewhere.example is not here


def run(server, *extra) -> str:
    out = StringIO()
    with time_machine.travel(NOW, tick=False):
        call_command("import_oncall", "--url", server.base, "--token", KEY, *extra, stdout=out)
    return out.getvalue()


def counts() -> dict:
    return {model.__name__: model.objects.count() for model in MODELS}


def who(schedule_name, at):
    shift = on_call_at(Schedule.objects.get(name=schedule_name), at)
    return shift.user.username if shift else None


def test_a_dry_run_prints_the_mapping_and_what_cannot_be_mapped_and_changes_nothing(oncall, people):
    before = counts()
    out = run(oncall, "--dry-run")
    assert counts() == before
    assert "Dry run: nothing was changed." in out
    assert "user 'ann@example.com' → user ann" in out
    assert "user 'ghost': no active user with e-mail ghost@elsewhere.example here" in out
    assert "integration 'Zabbix': type 'zabbix' has no compatible URL here" in out
    assert f"calendar {oncall.base}/cal.ics would be fetched" in out
    assert not any(r["path"] == "/cal.ics" for r in oncall.requests)


def test_it_reads_every_page_with_the_raw_key_in_the_authorization_header(oncall, people):
    run(oncall)
    paths = {r["path"] for r in oncall.requests if r["path"].startswith("/api/")}
    assert {"/api/v1/users/", "/api/v1/users/?page=2", "/api/v1/escalation_policies/?page=8"} <= paths
    assert {r["headers"]["Authorization"] for r in oncall.requests if r["path"].startswith("/api/")} == {KEY}
    assert Team.objects.get(name="payments-team").members.count() == 2


def test_every_escalation_step_type_is_mapped_or_reported_as_skipped(oncall, people):
    out = run(oncall)
    policy = EscalationPolicy.objects.get(team__name="payments-team")
    steps = list(policy.steps.order_by("position"))
    assert steps[0].schedule.name == "Payments primary" and steps[0].wait_minutes == 15
    # notify_persons (ann, ben; ghost is not here), next-each-time (first person), team members (ann, ben)
    assert [s.user.username for s in steps[1:]] == ["ann", "ben", "ann", "ann", "ben"]
    assert policy.repeat_count == 5
    for why in ("Slack user groups", "outgoing webhooks", "cannot resolve", "Slack channels",
                "conditional steps", "Grafana Incident", "round robin"):  # fmt: skip
        assert why in out
    assert out.count("conditional steps") == 2
    night = EscalationPolicy.objects.get(team__name="payments-team-night-chain")
    assert [s.user.username for s in night.steps.all()] == ["ben"]
    assert "a wait before anyone is notified is dropped" in out


def test_the_three_schedule_types_and_an_override_are_imported(oncall, people):
    out = run(oncall)
    # web: a weekly rotation of ann, ben and ghost, handing over Mondays 09:00 Berlin
    # (shifts are expanded from a day ago on, so the first week is already past)
    assert who("Payments primary", NOW) == "ben"
    assert who("Payments primary", datetime(2026, 1, 19, 7, 59, tzinfo=UTC)) == "ben"
    assert who("Payments primary", datetime(2026, 1, 20, 12, tzinfo=UTC)) is None  # ghost's week
    assert who("Payments primary", datetime(2026, 1, 21, 10, tzinfo=UTC)) == "ann"  # the override, Berlin time
    assert who("Payments primary", datetime(2026, 1, 27, 12, tzinfo=UTC)) == "ann"
    assert "user UHNAGCMJRKT9Z is not here" in out
    # calendar: weekends for ann, one day for ben at a higher level
    assert who("Weekends", datetime(2026, 1, 17, 12, tzinfo=UTC)) == "ann"
    assert who("Weekends", datetime(2026, 1, 19, 12, tzinfo=UTC)) is None
    assert who("Weekends", datetime(2026, 3, 1, 12, tzinfo=UTC)) == "ben"
    # iCal: fetched from its URL
    assert who("Legacy iCal", NOW) == "ann"
    assert Schedule.objects.get(name="Legacy iCal").team.name == "oncall-no-team"


def test_integrations_routes_and_notification_rules_are_imported(oncall, people):
    out = run(oncall)
    prometheus = Integration.objects.get(name="Prometheus")
    assert prometheus.key_hash == Integration.hash_key(oncall_api.PROMETHEUS_TOKEN)
    assert oncall_api.PROMETHEUS_TOKEN not in str(Integration.objects.values())
    assert ServiceOwnership.objects.get(service="prometheus").team.name == "payments-team"
    assert ServiceOwnership.objects.get(service="grafana").team.name == "payments-team-night-chain"
    assert "routing on the alert's content is not carried over" in out
    assert "'Scripts': no escalation chain" in out
    assert ContactMethod.objects.get(user__username="ann").config == {"address": "ann@example.com"}
    assert "SMS is not a transport here" in out


def test_importing_again_updates_instead_of_duplicating(oncall, people):
    run(oncall)
    first = counts()
    rotation = oncall.data["on_call_shifts"][0]
    rotation["rolling_users"] = [[oncall_api.BEN], [oncall_api.ANN]]
    oncall.data["schedules"][0]["name"] = "Payments main"
    oncall_api.publish(oncall, oncall.data)
    run(oncall)
    assert counts() | {"CalendarShift": 0} == first | {"CalendarShift": 0}  # shifts follow the new rotation
    assert who("Payments main", NOW) == "ann"


def test_a_next_link_to_another_server_is_refused(oncall, people):
    page = oncall.pages["/api/v1/users/"][1]
    page["next"] = "http://127.0.0.2:9/api/v1/users/?page=2"
    with pytest.raises(CommandError, match="another server"):
        run(oncall)
    assert counts() == dict.fromkeys(counts(), 0)


def test_a_wrong_key_fails_clearly(oncall):
    with pytest.raises(CommandError, match="refused the key"), time_machine.travel(NOW, tick=False):
        call_command("import_oncall", "--url", oncall.base, "--token", "wrong", stdout=StringIO())


def test_an_api_url_in_the_deny_list_is_refused():
    with pytest.raises(CommandError, match="--url"):
        call_command("import_oncall", "--url", "http://169.254.169.254/", "--token", KEY, stdout=StringIO())


def test_imported_alertmanager_url_pages_the_person_on_call_in_the_imported_rotation(
    oncall, people, django_capture_on_commit_callbacks
):
    run(oncall)
    body = {"version": "4", "groupKey": '{}:{alertname="Down"}', "status": "firing", "receiver": "oncall",
            "commonLabels": {"alertname": "Down", "job": "api"},
            "alerts": [{"status": "firing", "labels": {"alertname": "Down", "job": "api", "severity": "critical"},
                        "annotations": {"summary": "API down"}, "startsAt": "2026-01-13T09:59:00Z",
                        "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "f1"}]}  # fmt: skip
    with time_machine.travel(NOW, tick=False), django_capture_on_commit_callbacks(execute=True):
        response = APIClient().post(f"/integrations/v1/alertmanager/{oncall_api.PROMETHEUS_TOKEN}/", body,
                                    format="json")  # fmt: skip
    assert response.status_code == 200, response.content
    incident = Incident.objects.get()
    assert incident.service == "prometheus"
    assert incident.escalation.team.name == "payments-team"
    assert incident.assigned_to.username == "ben"
    assert Notification.objects.filter(incident=incident, recipient="ben").count() == 1
    assert not Notification.objects.filter(incident=incident, recipient="ann").exists()
    with time_machine.travel(NOW + timedelta(minutes=16), tick=False), django_capture_on_commit_callbacks(execute=True):
        from oncall.services import do_escalate_due

        do_escalate_due()
    # step 2 of the imported chain: notify_persons → ann (by her imported e-mail rule)
    assert Notification.objects.filter(incident=incident, recipient="ann", kind="email").count() == 1


def test_a_service_another_team_owns_is_left_to_it(oncall, people):
    other = Team.objects.create(name="web")
    ServiceOwnership.objects.create(service="prometheus", team=other)
    out = run(oncall)
    assert ServiceOwnership.objects.get(service="prometheus").team == other
    assert "service prometheus already belongs to team web" in out


def test_an_existing_teams_own_policy_is_reported_when_replaced(oncall, people):
    team = Team.objects.create(name="payments-team")
    policy = EscalationPolicy.objects.create(team=team)
    EscalationStep.objects.create(policy=policy, position=0, user=people[0])
    out = run(oncall, "--dry-run")
    assert "team payments-team had a policy of its own: its 1 steps are replaced" in out
    assert policy.steps.count() == 1  # a dry run


def test_answers_of_an_unexpected_shape_fail_clearly_and_import_nothing(oncall, people):
    oncall.data["on_call_shifts"][0]["rolling_users"] = [[{"not": "an id"}]]
    oncall_api.publish(oncall, oncall.data)
    with pytest.raises(CommandError, match="unexpected shape"):
        run(oncall)
    assert counts() == dict.fromkeys(counts(), 0)
