"""iCalendar feeds of shifts: one per schedule and one per person ("my shifts").

Calendar apps subscribe without a session, so each feed lives at a URL holding a random secret
(`Schedule.calendar_token`, `UserProfile.calendar_token`); rotating the secret retires the old URL at once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.db.models import Q

from oncall import ical
from oncall.models import Schedule
from oncall.schedule import Shift, next_shifts

if TYPE_CHECKING:
    from icalendar import Calendar, Event

PAST = timedelta(days=1)
HORIZON_DAYS = 90
MAX_SHIFTS = 60


def _calendar(name: str) -> Calendar:
    calendar = ical.icalendar().Calendar()
    calendar.add("prodid", "-//OpsAssist//On-call//EN")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", name)
    return calendar


def _event(schedule: Schedule, shift: Shift, now: datetime) -> Event:
    event = ical.icalendar().Event()
    event.add("uid", f"{schedule.pk}-{shift.start:%Y%m%dT%H%M%S}@opsassist")
    event.add("summary", f"On call: {shift.user.username} ({schedule.team.name} / {schedule.name})")
    event.add("dtstart", shift.start)
    event.add("dtend", shift.end)
    event.add("dtstamp", now)
    return event


def schedule_calendar(schedule: Schedule, now: datetime) -> bytes:
    calendar = _calendar(f"On call: {schedule}")
    for shift in next_shifts(schedule, now - PAST, count=MAX_SHIFTS, horizon_days=HORIZON_DAYS):
        calendar.add_component(_event(schedule, shift, now))
    return calendar.to_ical()


def user_shifts(user, since: datetime) -> list[tuple[Schedule, Shift]]:
    """Every shift `user` covers in any schedule (rotation layers or overrides), soonest first."""
    mine = Q(layers__members__user=user) | Q(overrides__user=user, overrides__end__gt=since)
    found = []
    for schedule in Schedule.objects.filter(mine).select_related("team").distinct():
        for shift in next_shifts(schedule, since, count=MAX_SHIFTS, horizon_days=HORIZON_DAYS):
            if shift.user.pk == user.pk:
                found.append((schedule, shift))
    return sorted(found, key=lambda pair: pair[1].start)


def user_calendar(user, now: datetime) -> bytes:
    calendar = _calendar(f"My on-call shifts ({user.username})")
    for schedule, shift in user_shifts(user, now - PAST):
        calendar.add_component(_event(schedule, shift, now))
    return calendar.to_ical()
