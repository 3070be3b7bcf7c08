"""Check-ins: jobs that must run report success, start or failure to their secret ping URL.

A ping costs one indexed lookup and one UPDATE; the incident side runs only when the state flips
(up → down on a failure or lateness, down → up on the next success), claimed by a conditional UPDATE.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from incidents import services as incident_services
from incidents.choices import Severity, Source
from monitoring.models import CheckIn
from opsassist.lib.errors import ServiceError

PING_KINDS = ("success", "start", "fail")
# A job (or anyone holding the URL) pinging in a loop writes at most once per this many seconds per
# check-in; the state only changes on a failure, or on a success after one.
PING_COALESCE = timedelta(seconds=1)


def incident_key(checkin: CheckIn) -> dict:
    return {"source": Source.CHECKIN, "service": checkin.effective_service, "component": checkin.name}


def do_create(*, name: str, period_seconds: int, grace_seconds: int, service: str = "", now=None) -> CheckIn:
    now = now or timezone.now()
    taken = ServiceError(f"A check-in named {name!r} exists.", field="name")
    if CheckIn.objects.filter(name=name).exists():
        raise taken
    try:
        with transaction.atomic():
            return CheckIn.objects.create(
                name=name, service=service, period_seconds=period_seconds, grace_seconds=grace_seconds,
                token=secrets.token_urlsafe(32), due_at=now + timedelta(seconds=period_seconds + grace_seconds),
            )  # fmt: skip
    except IntegrityError:  # a concurrent create took the name
        raise taken from None


def do_rotate(checkin: CheckIn) -> CheckIn:
    """Give the check-in a new secret token: the old ping URL stops working at once."""
    checkin.token = secrets.token_urlsafe(32)
    checkin.save(update_fields=["token"])
    return checkin


def do_ping(token: str, kind: str, now: datetime | None = None) -> bool:
    """Record one ping; False when no check-in has this token."""
    now = now or timezone.now()
    checkin = CheckIn.objects.filter(token=token).first()
    if checkin is None:
        return False
    if _coalesced(checkin, kind, now):
        return True
    if kind == "start":
        CheckIn.objects.filter(pk=checkin.pk).update(last_start_at=now, last_ping_at=now)
    elif kind == "fail":
        title = f"Check-in {checkin.name} reported a failure"
        _mark_down(checkin, now, title, last_failure_at=now, last_ping_at=now)
    else:
        _mark_up(checkin, now)
    return True


def _coalesced(checkin: CheckIn, kind: str, now: datetime) -> bool:
    """A repeat of a ping that changes nothing, within PING_COALESCE of the last one: write nothing."""
    last = checkin.last_start_at if kind == "start" else checkin.last_ping_at
    if last is None or now - last >= PING_COALESCE:
        return False
    return kind == "start" or (kind == "success" and checkin.status == CheckIn.Status.UP)


def _mark_up(checkin: CheckIn, now: datetime) -> None:
    due = now + timedelta(seconds=checkin.period_seconds + checkin.grace_seconds)
    rows = CheckIn.objects.filter(pk=checkin.pk)
    with transaction.atomic():
        recovered = rows.filter(status=CheckIn.Status.DOWN).update(
            status=CheckIn.Status.UP, due_at=due, last_ping_at=now
        )
        if not recovered:
            rows.update(status=CheckIn.Status.UP, due_at=due, last_ping_at=now)
            return
        incident_services.resolve_unresolved(
            actor=f"checkin:{checkin.name}", notes=f"Auto-resolved: {checkin.name} checked in successfully.",
            **incident_key(checkin),
        )  # fmt: skip


def _mark_down(checkin: CheckIn, now: datetime, title: str, **fields) -> None:
    """Up/new → down (claimed), opening the incident; a failure ping while down is only recorded."""
    with transaction.atomic():
        rows = CheckIn.objects.filter(pk=checkin.pk)
        claimed = rows.filter(due_at=checkin.due_at).exclude(status=CheckIn.Status.DOWN)
        if not claimed.update(status=CheckIn.Status.DOWN, **fields):
            if fields:
                rows.update(**fields)
            return
        _open_incident(checkin, title, now)


def _open_incident(checkin: CheckIn, title: str, now: datetime) -> None:
    period = f"expected every {checkin.period_seconds} s, {checkin.grace_seconds} s grace"
    incident_services.get_or_open_incident(
        title=title, severity=Severity.HIGH, actor=f"checkin:{checkin.name}", now=now,
        description=f"Check-in {checkin.name} ({period}).", **incident_key(checkin),
    )  # fmt: skip


def do_find_late(now: datetime | None = None) -> list[int]:
    """Check-ins whose success is overdue go down and open their incident (periodic)."""
    now = now or timezone.now()
    late = []
    for checkin in CheckIn.objects.filter(due_at__lte=now).exclude(status=CheckIn.Status.DOWN).order_by("due_at")[:500]:
        title = f"Check-in {checkin.name} is late: no success within {checkin.period_seconds + checkin.grace_seconds} s"
        _mark_down(checkin, now, title)
        late.append(checkin.pk)
    return late
