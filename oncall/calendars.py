"""Schedules from calendars: an iCal URL or file (Grafana OnCall, PagerDuty and Google exports).

Each calendar's events are expanded (recurrences with RRULE, RDATE and EXDATE, by the maintained
`recurring-ical-events` library) into CalendarShift rows covering the next CALENDAR_HORIZON_DAYS, so that
finding who is on call is one indexed query. Calendars given by URL are fetched again every
CALENDAR_REFRESH_MINUTES through the outbound policy, at most CALENDAR_MAX_BYTES.

Who is on call for an event: each ATTENDEE's e-mail address, else the words of its SUMMARY (commas or
spaces apart), matched to an active user's e-mail address or username, case-insensitively. A leading
`[L<n>]` in the summary (Grafana OnCall's level) is the event's priority: the highest priority wins
where events overlap; an override calendar wins over every shift calendar.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import httpx
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from oncall import ical
from oncall.calendar_models import CalendarShift, CalendarSource
from opsassist.lib import outbound
from opsassist.lib.errors import ServiceError

if TYPE_CHECKING:
    import icalendar
    from django.contrib.auth.models import User

log = logging.getLogger(__name__)

OVERRIDE_PRIORITY = 1000
MAX_PRIORITY = 999  # levels above it would outrank override calendars
PRIORITY_PROPERTY = "X-OPSASSIST-PRIORITY"
NOT_BEFORE_PROPERTY = "X-OPSASSIST-NOT-BEFORE"  # occurrences starting earlier are dropped
LEVEL_RE = re.compile(r"^\s*\[L(\d{1,3})\]\s*", re.IGNORECASE)


@dataclass(frozen=True)
class Occurrence:
    start: datetime
    end: datetime
    people: tuple[str, ...]
    priority: int
    summary: str


# --- Reading a calendar ------------------------------------------------------------------------------


def parse_calendar(text: str, field: str = "ics") -> icalendar.Calendar:
    """The calendar in `text`; raises ServiceError naming `field` when it is not one or is too big."""
    if len(text.encode()) > settings.CALENDAR_MAX_BYTES:
        raise ServiceError(f"The calendar is larger than {settings.CALENDAR_MAX_BYTES} bytes.", field)
    try:
        calendar = ical.icalendar().Calendar.from_ical(text)
    except (ValueError, IndexError, KeyError) as exc:
        raise ServiceError(f"Not an iCalendar file: {exc}", field) from None
    if calendar.name != "VCALENDAR":
        raise ServiceError("Not an iCalendar file: it has no VCALENDAR.", field)
    return calendar


def _aware(value: date | datetime, tz: ZoneInfo) -> datetime:
    """A floating time or an all-day date is read in the schedule's zone."""
    if not isinstance(value, datetime):
        value = datetime.combine(value, time(0, 0))
    return value if value.tzinfo is not None else value.replace(tzinfo=tz)


def people_of(event) -> tuple[tuple[str, ...], int]:
    """(e-mail addresses or usernames, priority) named by an event."""
    summary = str(event.get("SUMMARY", ""))
    level = LEVEL_RE.match(summary)
    priority = max(-MAX_PRIORITY, min(MAX_PRIORITY, int(event.get(PRIORITY_PROPERTY, level.group(1) if level else 0))))
    attendees = event.get("ATTENDEE", [])
    attendees = attendees if isinstance(attendees, list) else [attendees]
    emails = [re.sub(r"^mailto:", "", str(a), flags=re.IGNORECASE).strip() for a in attendees]
    if any(emails):
        return tuple(e for e in emails if e), priority
    words = re.split(r"[,\s]+", LEVEL_RE.sub("", summary))
    return tuple(w for w in words if w), priority


def expand(calendar: icalendar.Calendar, since: datetime, until: datetime, tz: ZoneInfo) -> list[Occurrence]:
    """The events happening between `since` and `until`, recurrences expanded; at most
    CALENDAR_MAX_EVENTS (a rule repeating every minute must not fill the database)."""
    found: list[Occurrence] = []
    try:
        query = ical.recurring().of(calendar, skip_bad_series=True)
        for event in query.after(since):
            start = _aware(event["DTSTART"].dt, tz)
            if start >= until or len(found) >= settings.CALENDAR_MAX_EVENTS:
                break
            end = _aware(event["DTEND"].dt, tz) if "DTEND" in event else start + _duration(event)
            not_before = event.get(NOT_BEFORE_PROPERTY)
            if end <= start or (not_before and start < datetime.fromisoformat(str(not_before))):
                continue
            people, priority = people_of(event)
            summary = str(event.get("SUMMARY", ""))[:255]
            found.append(Occurrence(start, end, people, priority, summary))
    except (ValueError, TypeError, KeyError, ical.recurring().InvalidCalendar) as exc:
        raise ServiceError(f"The calendar's events cannot be read: {exc}", "ics") from None
    return found


def _duration(event) -> timedelta:
    if "DURATION" in event:
        return event["DURATION"].dt
    return timedelta(days=1) if not isinstance(event["DTSTART"].dt, datetime) else timedelta(0)


def users_by_name(names: set[str]) -> dict[str, User]:
    """Active users whose e-mail address or username is one of `names` (lower-cased keys)."""
    wanted = {n.lower() for n in names}
    if not wanted:
        return {}
    users = (
        get_user_model()
        .objects.filter(is_active=True)
        .annotate(email_l=Lower("email"), username_l=Lower("username"))
        .filter(Q(email_l__in=wanted) | Q(username_l__in=wanted))
    )
    found: dict[str, User] = {}
    for user in users.order_by("id"):
        found.setdefault(user.username_l, user)
        if user.email_l:
            found.setdefault(user.email_l, user)
    return found


# --- Expanding into shifts ---------------------------------------------------------------------------


def do_expand_source(source: CalendarSource, now: datetime | None = None) -> int:
    """Replace the source's shifts with its events from a day ago to CALENDAR_HORIZON_DAYS ahead; the
    number of shifts. Raises ServiceError (nothing changed) when the calendar cannot be read."""
    now = now or timezone.now()
    tz = ZoneInfo(source.schedule.time_zone)
    occurrences = expand(parse_calendar(source.ics), now - timedelta(days=1),
                         now + timedelta(days=settings.CALENDAR_HORIZON_DAYS), tz)  # fmt: skip
    users = users_by_name({p for o in occurrences for p in o.people})
    bonus = OVERRIDE_PRIORITY if source.role == CalendarSource.Role.OVERRIDES else 0
    rows: list[CalendarShift] = []
    unmatched: set[str] = set()
    for occurrence in occurrences:
        matched = [users[p.lower()] for p in occurrence.people if p.lower() in users]
        unmatched.update(p for p in occurrence.people if p.lower() not in users)
        for user in dict.fromkeys(matched):
            rows.append(CalendarShift(source=source, schedule_id=source.schedule_id, user=user,
                                      start=occurrence.start, end=occurrence.end, summary=occurrence.summary,
                                      priority=occurrence.priority + bonus))  # fmt: skip
    with transaction.atomic():
        CalendarShift.objects.filter(source=source).delete()
        CalendarShift.objects.bulk_create(rows)
        CalendarSource.objects.filter(pk=source.pk).update(
            expanded_at=now, unmatched=sorted(unmatched)[:100], last_error=""
        )
    return len(rows)


def fetch_calendar(url: str) -> str:
    """The calendar at `url`, through the outbound policy; raises ServiceError naming `url`."""
    check_calendar_url(url)
    limit = settings.CALENDAR_MAX_BYTES
    try:
        with (
            outbound.http_client(timeout=settings.CALENDAR_FETCH_TIMEOUT_SECONDS) as client,
            client.stream("GET", url, headers={"Accept": "text/calendar"}) as response,
        ):
            if response.status_code != 200:
                raise ServiceError(f"Fetching the calendar answered HTTP {response.status_code}.", "url")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > limit:
                    raise ServiceError(f"The calendar is larger than {limit} bytes.", "url")
    except outbound.OutboundRefused as exc:
        raise ServiceError(exc.message, "url") from None
    except httpx.HTTPError as exc:
        raise ServiceError(f"Fetching the calendar failed: {type(exc).__name__}", "url") from None
    return body.decode("utf-8", errors="replace")


def check_calendar_url(url: str) -> str:
    """The URL to fetch (webcal:// is https://); raises ServiceError naming `url`."""
    if url.lower().startswith("webcal://"):
        url = "https://" + url[len("webcal://") :]
    if not url.lower().startswith(("http://", "https://")):
        raise ServiceError("A calendar URL starts with https://, http:// or webcal://.", "url")
    try:
        outbound.check_url(url)
    except outbound.OutboundRefused as exc:
        raise ServiceError(exc.message, "url") from None
    return url


def do_add_calendar(schedule, *, role: str = CalendarSource.Role.PRIMARY, url: str = "", ics: str = "",
                    now: datetime | None = None) -> CalendarSource:  # fmt: skip
    """A calendar for `schedule`, from a URL (fetched now) or a file; expanded at once. Raises
    ServiceError naming `url` or `ics`, and then nothing is stored."""
    if bool(url) == bool(ics):
        raise ServiceError("Give either a calendar URL or a calendar file.", "url")
    if url:
        url = check_calendar_url(url)
        ics = fetch_calendar(url)
    parse_calendar(ics)
    with transaction.atomic():
        source = CalendarSource.objects.create(schedule=schedule, role=role, url=url, ics=ics,
                                               fetched_at=timezone.now() if url else None)  # fmt: skip
        do_expand_source(source, now)
    return source


def do_refresh_source(source_id: int, now: datetime | None = None) -> None:
    """Fetch a URL calendar again (keeping the last good copy when that fails) and expand it."""
    source = CalendarSource.objects.select_related("schedule").filter(pk=source_id).first()
    if source is None:
        return
    try:
        if source.url:
            source.ics = fetch_calendar(source.url)
            CalendarSource.objects.filter(pk=source.pk).update(ics=source.ics, fetched_at=timezone.now())
        do_expand_source(source, now)
    except ServiceError as exc:
        log.warning("calendar %s: %s", source.pk, exc.message)
        CalendarSource.objects.filter(pk=source.pk).update(last_error=exc.message[:2000])


def calendar_shift_at(schedule, at: datetime) -> CalendarShift | None:
    """The calendar event covering `at` with the highest priority (then the latest start)."""
    return (
        CalendarShift.objects.filter(schedule=schedule, start__lte=at, end__gt=at)
        .select_related("user")
        .order_by("-priority", "-start", "id")
        .first()
    )
