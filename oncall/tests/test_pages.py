"""The on-call pages: who may see and change what, times in the viewer's zone, the calendar feeds."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest
from django.contrib.auth.models import Group

from oncall.models import Override, Schedule, UserProfile
from oncall.schedule import next_shifts
from oncall.tests.factories import team_with_rotation, user

pytestmark = pytest.mark.django_db


def member_of(role: str, name: str):
    person = user(name)
    person.groups.add(Group.objects.get(name=role))
    return person


@pytest.fixture
def as_viewer(client):
    client.force_login(member_of("viewer", "vera"))
    return client


@pytest.fixture
def as_responder(client):
    client.force_login(member_of("responder", "rita"))
    return client


def test_a_viewer_sees_no_edit_controls_on_the_setup_page(as_viewer):
    team_with_rotation()
    page = as_viewer.get("/oncall/setup/").content.decode()
    assert "payments" in page and "ann → ben → cid" in page
    assert "data-api=" not in page and "data-api-delete" not in page


def test_a_viewer_gets_403_when_posting_a_team_schedule_override_or_policy(as_viewer):
    _, schedule, _ = team_with_rotation()
    assert as_viewer.post("/api/v1/oncall/teams", {"name": "x"}, content_type="application/json").status_code == 403
    body = {"team": "payments", "name": "Other", "time_zone": "UTC"}
    assert as_viewer.post("/api/v1/oncall/schedules", body, content_type="application/json").status_code == 403
    body = {"schedule": schedule.pk, "user": "ann", "start": "2026-01-06T00:00Z", "end": "2026-01-07T00:00Z"}
    assert as_viewer.post("/api/v1/oncall/overrides", body, content_type="application/json").status_code == 403
    body = {"team": "payments", "steps": [{"user": "ann"}]}
    assert as_viewer.post("/api/v1/oncall/policies", body, content_type="application/json").status_code == 403
    assert as_viewer.post(f"/oncall/schedules/{schedule.pk}/calendar/rotate").status_code == 403
    assert Override.objects.count() == 0


def test_a_responder_may_cover_a_shift_but_not_edit_the_team(as_responder):
    team_with_rotation()
    page = as_responder.get("/oncall/").content.decode()
    assert "data-cover" in page and "cover-form" in page
    setup = as_responder.get("/oncall/setup/").content.decode()
    assert "data-api=" not in setup


def test_the_oncall_page_shows_a_berlin_handoff_at_nine_for_a_berlin_viewer(client):
    team_with_rotation(tz="Europe/Berlin", start=date(2026, 1, 5), handoff=time(9, 0))
    admin = user("boss")
    admin.is_superuser = True
    admin.save()
    UserProfile.objects.create(user=admin, time_zone="Europe/Berlin")
    client.force_login(admin)
    page = client.get("/oncall/").content.decode()
    assert "09:00 Europe/Berlin" in page  # the layer's hand-off, in the schedule's zone
    assert 'Times in <strong class="tz-label">Europe/Berlin</strong>' in page
    assert " 09:00</time>" in page and " 08:00</time>" not in page


def test_the_api_keeps_answering_in_utc_for_a_viewer_with_a_zone(client):
    _, schedule, _ = team_with_rotation()
    admin = user("boss")
    admin.is_superuser = True
    admin.save()
    UserProfile.objects.create(user=admin, time_zone="Asia/Tokyo")
    client.force_login(admin)
    Override.objects.create(schedule=schedule, user=admin, start=datetime(2026, 2, 1, tzinfo=UTC),
                            end=datetime(2026, 2, 2, tzinfo=UTC))  # fmt: skip
    data = client.get(f"/api/v1/oncall/overrides?schedule={schedule.pk}").json()
    assert data[0]["start"].endswith("Z")


def test_a_calendar_feed_answers_without_a_session_and_dies_when_rotated(client):
    _, schedule, _ = team_with_rotation()
    url = f"/calendar/schedules/{schedule.calendar_token}.ics"
    client.logout()
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/calendar")
    assert b"BEGIN:VCALENDAR" in response.content and b"On call: ann" in response.content
    assert client.get("/calendar/schedules/" + "x" * 43 + ".ics").status_code == 404
    admin = user("boss")
    admin.is_superuser = True
    admin.save()
    client.force_login(admin)
    assert client.post(f"/oncall/schedules/{schedule.pk}/calendar/rotate").status_code == 302
    client.logout()
    assert client.get(url).status_code == 404
    schedule.refresh_from_db()
    assert client.get(f"/calendar/schedules/{schedule.calendar_token}.ics").status_code == 200


def test_my_shifts_feed_lists_only_my_shifts_and_rotates(client):
    team_with_rotation()
    ann = user("ann")
    client.force_login(ann)
    response = client.get("/profile/")
    page = response.content.decode()
    assert {shift.user.username for _, shift in response.context["shifts"]} == {"ann"}
    token = UserProfile.objects.get(user=ann).calendar_token
    assert f"/calendar/people/{token}.ics" in page
    client.logout()
    body = client.get(f"/calendar/people/{token}.ics").content
    assert b"On call: ann" in body and b"On call: ben" not in body
    client.force_login(ann)
    client.post("/profile/calendar/rotate")
    client.logout()
    assert client.get(f"/calendar/people/{token}.ics").status_code == 404


def test_a_browser_guess_sets_the_zone_only_while_none_is_chosen(client):
    person = user("ann")
    client.force_login(person)
    assert client.post("/profile/time-zone-guess", {"time_zone": "Europe/Berlin"}).json() == {
        "time_zone": "Europe/Berlin"
    }
    assert client.post("/profile/", {"time_zone": "America/New_York"}).status_code == 302
    client.post("/profile/time-zone-guess", {"time_zone": "Europe/Berlin"})
    assert UserProfile.objects.get(user=person).time_zone == "America/New_York"


def test_logging_in_stores_the_browsers_zone_so_the_first_page_needs_no_reload(client):
    person = user("ann")
    person.set_password("pw-ann-12345")
    person.save()
    form = {"username": "ann", "password": "pw-ann-12345", "time_zone": "Asia/Tokyo"}
    assert client.post("/accounts/login/", form).status_code == 302
    assert UserProfile.objects.get(user=person).time_zone == "Asia/Tokyo"
    assert 'data-tz-chosen="1"' in client.get("/").content.decode()
    client.logout()
    form["time_zone"] = "Europe/Berlin"  # a chosen zone is never overwritten by a later guess
    assert client.post("/accounts/login/", form).status_code == 302
    assert UserProfile.objects.get(user=person).time_zone == "Asia/Tokyo"


def test_a_bad_zone_in_the_login_form_does_not_refuse_the_login(client):
    person = user("ben")
    person.set_password("pw-ben-12345")
    person.save()
    form = {"username": "ben", "password": "pw-ben-12345", "time_zone": "../../etc/passwd"}
    assert client.post("/accounts/login/", form).status_code == 302
    assert not UserProfile.objects.filter(user=person).exclude(time_zone="").exists()


def test_an_unknown_time_zone_is_refused_naming_the_field(client):
    person = user("ann")
    client.force_login(person)
    response = client.post("/profile/", {"time_zone": "Mars/Olympus"})
    assert response.status_code == 400 and "time_zone" in response.content.decode()
    assert client.post("/profile/time-zone-guess", {"time_zone": "../etc"}).status_code == 400
    assert UserProfile.objects.get(user=person).time_zone == ""


def test_next_shifts_of_a_schedule_with_nobody_on_call_takes_a_few_queries(django_assert_max_num_queries):
    team, _, _ = team_with_rotation()
    empty = Schedule.objects.create(team=team, name="Empty")
    with django_assert_max_num_queries(3):
        assert next_shifts(empty, datetime(2026, 1, 1, tzinfo=UTC)) == []


def test_next_shifts_jumps_to_a_future_first_shift_and_overrides(django_assert_max_num_queries):
    _, schedule, _ = team_with_rotation(start=date(2026, 3, 2))
    Override.objects.create(schedule=schedule, user=user("dan"), start=datetime(2026, 2, 1, 7, tzinfo=UTC),
                            end=datetime(2026, 2, 1, 8, tzinfo=UTC))  # fmt: skip
    with django_assert_max_num_queries(5):
        shifts = next_shifts(schedule, datetime(2026, 1, 1, tzinfo=UTC), count=3, horizon_days=90)
    assert [(s.user.username, s.start) for s in shifts] == [
        ("dan", datetime(2026, 2, 1, 7, tzinfo=UTC)),
        ("ann", datetime(2026, 3, 2, 9, tzinfo=UTC)),
        ("ben", datetime(2026, 3, 9, 9, tzinfo=UTC)),
    ]
