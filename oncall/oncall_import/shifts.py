"""Grafana OnCall on-call shifts (`single_event`, `recurrent_event`, `rolling_users`) as iCalendar events.

OnCall builds its own schedules from iCalendar rules; the same rules here feed a calendar source, so
recurrences are expanded by the same library as any calendar. A rotation of N user groups becomes one
recurring event per group, repeating every N periods and starting one period after the previous group's.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.relativedelta import relativedelta

from oncall import ical
from oncall.calendars import NOT_BEFORE_PROPERTY, PRIORITY_PROPERTY

if TYPE_CHECKING:
    import icalendar

FREQUENCIES = {"hourly": "HOURLY", "daily": "DAILY", "weekly": "WEEKLY", "monthly": "MONTHLY"}
PERIODS = {"hourly": "hours", "daily": "days", "weekly": "weeks", "monthly": "months"}
WEEKDAYS = {"MO", "TU", "WE", "TH", "FR", "SA", "SU"}


def zone(name: str | None, default: str = "UTC") -> ZoneInfo:
    try:
        return ZoneInfo(name or default)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_time(text, tz: ZoneInfo) -> datetime | None:
    """OnCall's shift times are wall-clock times in the shift's zone (UTC when it has none)."""
    if not isinstance(text, str) or not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=tz)


def _int(value, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else default


def _rule(shift: dict, tz: ZoneInfo, interval: int) -> dict | None:
    """The RRULE of a recurring shift, `interval` periods apart."""
    frequency = FREQUENCIES.get(shift.get("frequency") or "")
    if frequency is None:
        return None
    rule: dict = {"freq": frequency, "interval": interval}
    by_day = [d for d in shift.get("by_day") or [] if d in WEEKDAYS]
    if by_day:
        rule["byday"] = by_day
    for name in ("by_month", "by_monthday"):
        values = [v for v in shift.get(name) or [] if isinstance(v, int) and not isinstance(v, bool)]
        if values:
            rule[name.replace("_", "")] = values
    if shift.get("week_start") in WEEKDAYS:
        rule["wkst"] = shift["week_start"]
    until = local_time(shift.get("until"), tz)
    if until is not None:
        rule["until"] = until.astimezone(UTC)
    return rule


def _event(uid: str, start: datetime, duration: timedelta, emails: list[str], level: int, name: str,
           rule: dict | None, not_before: datetime | None) -> icalendar.Event:  # fmt: skip
    event = ical.icalendar().Event()
    event.add("uid", uid)
    event.add("dtstart", start)
    event.add("dtend", start + duration)
    event.add("summary", f"[L{level}] {name}")
    for email in emails:
        event.add("attendee", f"mailto:{email}")
    event.add(PRIORITY_PROPERTY, str(level))
    if rule:
        event.add("rrule", rule)
    if not_before is not None:
        event.add(NOT_BEFORE_PROPERTY, not_before.astimezone(UTC).isoformat())
    return event


def shift_events(
    shift: dict, emails_of: dict[object, str], default_zone: str
) -> tuple[list[icalendar.Event], list[str]]:
    """(events, notes on what could not be carried over exactly) for one OnCall shift. `emails_of` maps
    OnCall user ids to the e-mail addresses of the matching users here."""
    tz = zone(shift.get("time_zone"), default_zone)
    start = local_time(shift.get("start"), tz)
    duration = timedelta(seconds=_int(shift.get("duration"), 0))
    kind, name = shift.get("type"), shift.get("name") or shift.get("id", "")
    if start is None or not duration:
        return [], ["it has no valid start or duration"]
    level = level if isinstance(level := shift.get("level"), int) else 0
    not_before = local_time(shift.get("rotation_start"), tz)
    not_before = not_before if not_before and not_before > start else None
    interval = _int(shift.get("interval"), 1)
    if kind == "single_event":
        emails = [emails_of[u] for u in shift.get("users") or [] if u in emails_of]
        return [_event(f"{shift['id']}@oncall", start, duration, emails, level, name, None, None)], []
    if kind == "recurrent_event":
        rule = _rule(shift, tz, interval)
        if rule is None:
            return [], [f"unknown frequency {shift.get('frequency')!r}"]
        emails = [emails_of[u] for u in shift.get("users") or [] if u in emails_of]
        return [_event(f"{shift['id']}@oncall", start, duration, emails, level, name, rule, not_before)], []
    if kind == "rolling_users":
        return _rotation(shift, start, duration, tz, emails_of, level, name, interval, not_before)
    return [], [f"shift type {kind!r} is not a rotation"]


def _rotation(shift, start, duration, tz, emails_of, level, name, interval, not_before):
    groups = [g for g in shift.get("rolling_users") or [] if isinstance(g, list)]
    rule = _rule(shift, tz, interval * max(len(groups), 1))
    if rule is None or not groups:
        return [], [f"a rotation needs a frequency and users (frequency {shift.get('frequency')!r})"]
    notes = []
    if shift.get("by_day") and shift.get("frequency") != "weekly":
        notes.append("a rotation on chosen days hands over every period here, not every chosen day")
    first = _int(shift.get("start_rotation_from_user_index"), 0) % len(groups)
    period = PERIODS[shift["frequency"]]
    events = []
    for index, group in enumerate(groups):
        slot = (index - first) % len(groups)
        begins = (start.replace(tzinfo=None) + relativedelta(**{period: slot * interval})).replace(tzinfo=tz)
        emails = [emails_of[u] for u in group if u in emails_of]
        events.append(_event(f"{shift['id']}-{index}@oncall", begins, duration, emails, level, name, rule, not_before))
    return events, notes


def calendar_of(events: list[icalendar.Event]) -> str:
    calendar = ical.icalendar().Calendar()
    calendar.add("prodid", "-//OpsAssist//Grafana OnCall import//EN")
    calendar.add("version", "2.0")
    for event in events:
        calendar.add_component(event)
    return calendar.to_ical().decode()
