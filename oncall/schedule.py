"""Who is on call: a pure function of a schedule's layers and overrides at an instant.

Handoffs happen at the layer's local wall-clock time in the schedule's time zone, so a 09:00 handoff
stays at 09:00 across DST changes (that shift is then 23 or 25 hours long).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from django.contrib.auth.models import User

from oncall.calendars import calendar_shift_at
from oncall.models import Layer, Override, Schedule


@dataclass(frozen=True)
class Shift:
    user: User
    start: datetime
    end: datetime
    source: str  # "layer:<name>" or "override"


def layer_shift(layer: Layer, users: list, at: datetime, tz: ZoneInfo) -> Shift | None:
    if not users:
        return None
    local = at.astimezone(tz)
    day = local.date()
    if local.time().replace(tzinfo=None) < layer.handoff_time:
        day -= timedelta(days=1)
    days = (day - layer.start_date).days
    if days < 0:
        return None
    index = days // layer.rotation_days
    first_day = layer.start_date + timedelta(days=index * layer.rotation_days)
    start = datetime.combine(first_day, layer.handoff_time, tzinfo=tz)
    end = datetime.combine(first_day + timedelta(days=layer.rotation_days), layer.handoff_time, tzinfo=tz)
    return Shift(users[index % len(users)], start.astimezone(UTC), end.astimezone(UTC), f"layer:{layer.name}")


def _layers(schedule: Schedule) -> list[tuple[Layer, list]]:
    layers = schedule.layers.prefetch_related("members__user").order_by("-order", "id")
    return [(layer, layer.users) for layer in layers]


def on_call_at(schedule: Schedule, at: datetime, layers: list | None = None) -> Shift | None:
    """The shift covering `at`: an override first (the newest wins), then a calendar event, else the
    highest layer with someone."""
    override = (
        Override.objects.filter(schedule=schedule, start__lte=at, end__gt=at)
        .select_related("user")
        .order_by("-created_at", "-id")
        .first()
    )
    if override is not None:
        return Shift(override.user, override.start, override.end, "override")
    event = calendar_shift_at(schedule, at)  # calendar-fed schedules (iCal, Grafana OnCall imports)
    if event is not None:
        return Shift(event.user, event.start, event.end, "calendar")
    tz = ZoneInfo(schedule.time_zone)
    for layer, users in layers if layers is not None else _layers(schedule):
        shift = layer_shift(layer, users, at, tz)
        if shift is not None:
            # Overrides inside the layer's shift split it: it resumes after the last one that ended and
            # stops where the next one starts.
            windows = Override.objects.filter(schedule=schedule, end__gt=shift.start, start__lt=shift.end)
            last_end = windows.filter(end__lte=at).order_by("-end").values_list("end", flat=True).first()
            next_start = windows.filter(start__gt=at).order_by("start").values_list("start", flat=True).first()
            return Shift(shift.user, max(shift.start, last_end or shift.start), next_start or shift.end, shift.source)
    return None


def next_shifts(schedule: Schedule, since: datetime, count: int = 10, horizon_days: int = 60) -> list[Shift]:
    """The coming shifts (the current one first), merging layers and overrides."""
    layers = _layers(schedule)
    shifts: list[Shift] = []
    at, until = since, since + timedelta(days=horizon_days)
    while len(shifts) < count and at < until:
        shift = on_call_at(schedule, at, layers)
        if shift is None:
            at += timedelta(hours=1)
            continue
        if not shifts or shifts[-1] != shift:
            shifts.append(shift)
        at = max(shift.end, at + timedelta(seconds=1))
    return shifts
