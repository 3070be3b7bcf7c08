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


def _overrides(schedule: Schedule, since: datetime, until: datetime) -> list[Override]:
    """Overrides touching [since, until), newest first (the newest wins where two overlap)."""
    # A deactivated person covers nothing: their overrides no longer count.
    window = Override.objects.filter(schedule=schedule, end__gt=since, start__lt=until, user__is_active=True)
    return list(window.select_related("user").order_by("-created_at", "-id"))


def _span(layers: list) -> timedelta:
    """How far from an instant an override can still cut the layer shift covering it."""
    return timedelta(days=max((layer.rotation_days for layer, _ in layers), default=1) + 1)


def _resolve(at: datetime, layers: list, overrides: list[Override], tz: ZoneInfo) -> Shift | None:
    """Who covers `at`, from layers and already loaded overrides (no queries)."""
    for override in overrides:
        if override.start <= at < override.end:
            return Shift(override.user, override.start, override.end, "override")
    for layer, users in layers:
        shift = layer_shift(layer, users, at, tz)
        # A deactivated person's turn is a gap: a lower layer, the next schedule or the fallback pages instead.
        if shift is not None and shift.user.is_active:
            # Overrides inside the layer's shift split it: it resumes after the last one that ended and
            # stops where the next one starts.
            inside = [o for o in overrides if o.end > shift.start and o.start < shift.end]
            last_end = max((o.end for o in inside if o.end <= at), default=shift.start)
            next_start = min((o.start for o in inside if o.start > at), default=shift.end)
            return Shift(shift.user, max(shift.start, last_end), next_start, shift.source)
    return None


def on_call_at(schedule: Schedule, at: datetime, layers: list | None = None) -> Shift | None:
    """The shift covering `at`: an override first (the newest wins), then a calendar event (iCal-fed and
    Grafana OnCall imported schedules), else the highest layer with someone."""
    layers = layers if layers is not None else _layers(schedule)
    span = _span(layers)
    overrides = _overrides(schedule, at - span, at + span)
    for override in overrides:
        if override.start <= at < override.end:
            return Shift(override.user, override.start, override.end, "override")
    event = calendar_shift_at(schedule, at)
    if event is not None:
        return Shift(event.user, event.start, event.end, "calendar")
    return _resolve(at, layers, overrides, ZoneInfo(schedule.time_zone))


def _next_change(at: datetime, layers: list, overrides: list[Override], tz: ZoneInfo) -> datetime | None:
    """When nobody covers `at`: the next instant someone may (a layer's first shift or an override)."""
    starts = [o.start for o in overrides if o.start > at]
    for layer, users in layers:
        first = datetime.combine(layer.start_date, layer.handoff_time, tzinfo=tz).astimezone(UTC)
        if users and first > at:
            starts.append(first)
    return min(starts, default=None)


def next_shifts(schedule: Schedule, since: datetime, count: int = 10, horizon_days: int = 60) -> list[Shift]:
    """The coming shifts (the current one first), merging layers and overrides.

    Two queries whatever the horizon: the layers and the overrides are loaded once, then the walk jumps
    from one hand-off (or override edge) to the next."""
    layers = _layers(schedule)
    until = since + timedelta(days=horizon_days)
    span = _span(layers)
    overrides = _overrides(schedule, since - span, until + span)
    tz = ZoneInfo(schedule.time_zone)
    shifts: list[Shift] = []
    at = since
    while len(shifts) < count and at < until:
        shift = _resolve(at, layers, overrides, tz)
        if shift is None:
            at = _next_change(at, layers, overrides, tz) or until
            continue
        if not shifts or shifts[-1] != shift:
            shifts.append(shift)
        at = max(shift.end, at + timedelta(seconds=1))
    return shifts
