from datetime import UTC, datetime

import pytest
import time_machine
from icalendar import Calendar

from oncall.models import Team
from oncall.tests.factories import team_with_rotation, user

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 1, 6, 12, 0, tzinfo=UTC)


def test_current_on_call(api):
    team_with_rotation()
    with time_machine.travel(T0, tick=False):
        response = api.get("/api/v1/oncall/current", {"team": "payments"})
    assert response.status_code == 200
    body = response.json()
    assert body["team"] == "payments" and body["schedule"] == "Primary"
    assert body["user"] == {"username": "ann", "email": "ann@example.com"}
    assert body["shift_start"] == "2026-01-05T09:00:00Z" and body["shift_end"] == "2026-01-12T09:00:00Z"


def test_current_by_service_name_too(api):
    team_with_rotation()
    with time_machine.travel(T0, tick=False):
        assert api.get("/api/v1/oncall/current", {"team": "checkout"}).json()["team"] == "payments"


def test_current_404_when_nobody_and_400_without_team(api):
    Team.objects.create(name="empty")
    assert api.get("/api/v1/oncall/current", {"team": "empty"}).status_code == 404
    assert api.get("/api/v1/oncall/current", {"team": "nope"}).status_code == 404
    response = api.get("/api/v1/oncall/current")
    assert response.status_code == 400 and "team" in response.json()["errors"]


def test_teams_schedules_and_policies_over_the_api(api):
    for name in ("ann", "ben"):
        user(name)
    team = api.post("/api/v1/oncall/teams", {"name": "db", "members": ["ann", "ben"], "services": ["postgres-test"]},
                    format="json")  # fmt: skip
    assert team.status_code == 201 and team.json()["services"] == ["postgres-test"]
    schedule = api.post("/api/v1/oncall/schedules", {
        "team": "db", "name": "Primary", "time_zone": "Europe/Berlin",
        "layers": [{"name": "Weekly", "start_date": "2026-01-05", "handoff_time": "10:00", "rotation_days": 7,
                    "users": ["ann", "ben"]}],
    }, format="json")  # fmt: skip
    assert schedule.status_code == 201, schedule.json()
    assert schedule.json()["layers"][0]["users"] == ["ann", "ben"]
    policy = api.post("/api/v1/oncall/policies", {"team": "db", "repeat_count": 1, "steps": [
        {"schedule": schedule.json()["id"], "wait_minutes": 5}, {"user": "ben"}]}, format="json")  # fmt: skip
    assert policy.status_code == 201, policy.json()
    bad = api.post("/api/v1/oncall/policies", {"team": "db", "steps": [{"wait_minutes": 5}]}, format="json")
    assert bad.status_code == 400


def test_bad_time_zone_and_duplicate_ownership_are_400(api):
    Team.objects.create(name="a")
    response = api.post(
        "/api/v1/oncall/schedules", {"team": "a", "name": "x", "time_zone": "Mars/Olympus"}, format="json"
    )
    assert response.status_code == 400 and "time_zone" in response.json()["errors"]
    api.post("/api/v1/oncall/teams", {"name": "b", "services": ["svc"]}, format="json")
    assert api.post("/api/v1/oncall/teams", {"name": "c", "services": ["svc"]}, format="json").status_code == 400


def test_shifts_and_ical_export(api):
    _, schedule, _ = team_with_rotation()
    with time_machine.travel(T0, tick=False):
        shifts = api.get(f"/api/v1/oncall/schedules/{schedule.pk}/shifts", {"count": 3}).json()
        ical = api.get(f"/api/v1/oncall/schedules/{schedule.pk}/ical")
    assert [s["user"] for s in shifts] == ["ann", "ben", "cid"]
    assert ical["Content-Type"].startswith("text/calendar")
    events = Calendar.from_ical(ical.content).walk("VEVENT")
    assert str(events[0]["SUMMARY"]).startswith("On call: ann")


def test_channel_secrets_are_redacted(api):
    config = {"url": "https://u:pw@hooks.example.com/x", "secret": "s3cret"}
    body = {"name": "hook", "kind": "webhook", "notify_on": ["new"], "config": config}
    response = api.post("/api/v1/oncall/channels", body, format="json")
    assert response.status_code == 201
    assert b"s3cret" not in response.content and b":pw@" not in response.content
    assert api.post("/api/v1/oncall/channels", {"name": "bad", "kind": "webhook", "config": {}},
                    format="json").status_code == 400  # fmt: skip


def test_responders_add_overrides_but_not_teams(responder_api, responder):
    _, schedule, _ = team_with_rotation()
    override = {"schedule": schedule.pk, "user": "bob", "start": "2026-01-07T00:00:00Z", "end": "2026-01-08T00:00:00Z"}
    assert responder_api.post("/api/v1/oncall/overrides", override, format="json").status_code == 201
    assert responder_api.post("/api/v1/oncall/teams", {"name": "x"}, format="json").status_code == 403
    override["end"] = "2026-01-06T00:00:00Z"
    assert responder_api.post("/api/v1/oncall/overrides", override, format="json").status_code == 400
