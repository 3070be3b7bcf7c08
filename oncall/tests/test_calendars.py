"""Schedules from calendars: recurrences expanded, people matched, refreshed through the outbound policy."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine

from oncall.calendar_models import CalendarShift, CalendarSource
from oncall.calendars import do_add_calendar, do_refresh_source
from oncall.models import Schedule, Team
from oncall.schedule import on_call_at
from oncall.tests.factories import user
from oncall.tests.standin import get_server
from opsassist.lib.errors import ServiceError

pytestmark = pytest.mark.django_db

WEEKLY = (Path(__file__).parent / "data" / "weekly.ics").read_text()
NOW = datetime(2026, 1, 4, 12, 0, tzinfo=UTC)


@pytest.fixture
def schedule():
    team = Team.objects.create(name="payments")
    return Schedule.objects.create(team=team, name="From calendar", time_zone="Europe/Berlin")


class CalendarHost:
    """A calendar served at `url` by a real local server; set `body` and `status` to change it."""

    def __init__(self, server):
        self.server, self.url, self.status = server, server.base + "/team.ics", 200

    @property
    def body(self):
        return self.server.pages["/team.ics"][1]

    @body.setter
    def body(self, text):
        self.server.pages["/team.ics"] = (self.status, text)

    def __setattr__(self, name, value):
        super().__setattr__(name, value)
        if name == "status" and "/team.ics" in self.server.pages:
            self.server.pages["/team.ics"] = (value, self.server.pages["/team.ics"][1])


@pytest.fixture
def calendar_server():
    with get_server() as server:
        yield CalendarHost(server)


def who(schedule, *args):
    shift = on_call_at(schedule, datetime(*args, tzinfo=UTC))
    return shift.user.username if shift else None


def test_it_expands_an_rrule_and_skips_the_exdate(schedule):
    user("ann"), user("ben")
    do_add_calendar(schedule, ics=WEEKLY, now=NOW)
    assert who(schedule, 2026, 1, 6, 12) == "ann"  # matched by attendee e-mail, case-insensitively
    assert who(schedule, 2026, 1, 13, 12) == "ben"  # matched by the summary's username
    assert who(schedule, 2026, 1, 20, 12) == "ann"  # the rule repeats every two weeks
    assert who(schedule, 2026, 2, 3, 12) is None  # EXDATE: that week's event does not happen
    assert who(schedule, 2026, 2, 17, 12) == "ann"


def test_it_hands_off_at_the_events_local_time(schedule):
    user("ann"), user("ben")
    do_add_calendar(schedule, ics=WEEKLY, now=NOW)
    assert who(schedule, 2026, 1, 12, 7, 59) == "ann"  # 08:59 in Berlin
    assert who(schedule, 2026, 1, 12, 8, 0) == "ben"  # 09:00 in Berlin


def test_it_reports_people_who_match_no_user(schedule):
    user("ann"), user("ben")
    source = do_add_calendar(schedule, ics=WEEKLY, now=NOW)
    source.refresh_from_db()
    assert source.unmatched == ["stranger@elsewhere.example"]


def test_an_override_calendar_wins_over_the_shifts(schedule):
    user("ann"), user("ben"), user("cid")
    do_add_calendar(schedule, ics=WEEKLY, now=NOW)
    override = WEEKLY.replace("SUMMARY:[L1] ben", "SUMMARY:cid").replace("weekly-ben", "ovr")
    do_add_calendar(schedule, ics=override, role=CalendarSource.Role.OVERRIDES, now=NOW)
    assert who(schedule, 2026, 1, 13, 12) == "cid"


def test_a_file_that_is_no_calendar_is_refused_naming_the_field(schedule):
    with pytest.raises(ServiceError) as error:
        do_add_calendar(schedule, ics="hello", now=NOW)
    assert error.value.field == "ics"
    assert not CalendarSource.objects.exists()


def test_a_rule_repeating_every_minute_is_capped(schedule, settings):
    user("ann")
    settings.CALENDAR_MAX_EVENTS = 50
    storm = WEEKLY.replace("RRULE:FREQ=WEEKLY;INTERVAL=2", "RRULE:FREQ=MINUTELY").replace(
        "DTEND;TZID=Europe/Berlin:20260112T090000", "DTEND;TZID=Europe/Berlin:20260105T090100"
    )
    do_add_calendar(schedule, ics=storm, now=NOW)
    assert CalendarShift.objects.count() <= 50


def test_a_calendar_url_into_the_deny_list_is_refused(schedule):
    with pytest.raises(ServiceError) as error:
        do_add_calendar(schedule, url="http://169.254.169.254/latest/cal.ics", now=NOW)
    assert error.value.field == "url"


def test_it_fetches_a_calendar_url_and_refreshes_it(schedule, calendar_server):
    user("ann"), user("ben")
    calendar_server.body = WEEKLY
    source = do_add_calendar(schedule, url=calendar_server.url, now=NOW)
    assert who(schedule, 2026, 1, 6, 12) == "ann"
    calendar_server.body = WEEKLY.replace("ANN@example.com", "ben@example.com")
    do_refresh_source(source.pk, now=NOW)
    assert who(schedule, 2026, 1, 6, 12) == "ben"


def test_a_failed_refresh_keeps_the_last_good_calendar(schedule, calendar_server):
    user("ann")
    calendar_server.body = WEEKLY
    source = do_add_calendar(schedule, url=calendar_server.url, now=NOW)
    calendar_server.status = 500
    do_refresh_source(source.pk, now=NOW)
    source.refresh_from_db()
    assert "HTTP 500" in source.last_error
    assert who(schedule, 2026, 1, 6, 12) == "ann"


def test_a_calendar_larger_than_the_cap_is_refused(schedule, calendar_server, settings):
    settings.CALENDAR_MAX_BYTES = 1000
    calendar_server.body = WEEKLY + " " * 2000
    with pytest.raises(ServiceError) as error:
        do_add_calendar(schedule, url=calendar_server.url, now=NOW)
    assert "larger than" in error.value.message


def test_an_admin_creates_a_schedule_calendar_from_an_uploaded_file(api, schedule):
    from django.core.files.uploadedfile import SimpleUploadedFile

    user("ann")
    upload = SimpleUploadedFile("team.ics", WEEKLY.encode(), content_type="text/calendar")
    response = api.post("/api/v1/oncall/calendars/", {"schedule": schedule.pk, "file": upload}, format="multipart")
    assert response.status_code == 201, response.content
    assert response.json()["shifts"] > 0


def test_a_bad_calendar_through_the_api_is_a_400_naming_the_field(api, schedule):
    response = api.post("/api/v1/oncall/calendars/", {"schedule": schedule.pk, "ics": "nope"}, format="json")
    assert response.status_code == 400
    assert "ics" in response.json()["errors"]
    assert not CalendarSource.objects.exists()


def test_the_api_shows_only_the_host_of_a_calendar_url(api, schedule, calendar_server):
    calendar_server.body = WEEKLY
    body = {"schedule": schedule.pk, "url": calendar_server.url + "?key=s3cret"}
    response = api.post("/api/v1/oncall/calendars/", body, format="json")
    assert response.status_code == 201, response.content
    assert "s3cret" not in response.content.decode()
    assert response.json()["url_host"] == "127.0.0.1"


def test_a_responder_cannot_add_a_calendar(responder_api, schedule):
    response = responder_api.post("/api/v1/oncall/calendars/", {"schedule": schedule.pk, "ics": WEEKLY}, format="json")
    assert response.status_code == 403


def test_the_periodic_task_refreshes_every_calendar(schedule, calendar_server):
    from oncall.tasks import refresh_calendars

    user("ann"), user("ben")
    calendar_server.body = WEEKLY
    do_add_calendar(schedule, url=calendar_server.url, now=NOW)
    calendar_server.body = WEEKLY.replace("ANN@example.com", "ben@example.com")
    with time_machine.travel(NOW, tick=False):
        refresh_calendars.delay()
    assert who(schedule, 2026, 1, 6, 12) == "ben"


def test_the_admin_lists_calendars_and_imported_rows(client, admin_user, schedule):
    do_add_calendar(schedule, ics=WEEKLY, now=NOW)
    client.force_login(admin_user)
    source = CalendarSource.objects.get()
    for path in ("/admin/oncall/calendarsource/", f"/admin/oncall/calendarsource/{source.pk}/change/",
                 "/admin/oncall/externalref/"):  # fmt: skip
        assert client.get(path).status_code == 200, path
