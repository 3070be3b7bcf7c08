"""Failure drills (OPSASSIST_SIMULATION=1): make a real target really unhealthy, then undo it.

Each checker declares its drill (`drill_failure`, `start_drill`, `clear_drill`); this module holds the
rules every drill obeys:

- drills run only on monitors an admin marked `drills_allowed`;
- a drill writes at most DRILL_MAX_BYTES, whatever limit the target has;
- a drill never changes a server setting;
- a target that cannot be reached (or refuses) is a clear 409 naming it, never a server error.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.utils import timezone

from monitoring.checkers import checker_class, get_checker
from monitoring.checkers.redis import drill_prefix
from monitoring.models import Monitor
from opsassist.lib.errors import ServiceError

__all__ = ["check_drill", "do_clear_drill", "do_start_drill", "drill_prefix"]

log = logging.getLogger(__name__)


class TargetUnreachable(ServiceError):
    """The target is down or refuses: the drill cannot run now (409, naming the target; no 5xx, since
    OpsAssist itself is fine)."""

    status_code = 409


def check_drill(monitor: Monitor, failure: str | None = None) -> None:
    """Refuse a drill (start, or clear when `failure` is None) this monitor may not have."""
    if not settings.OPSASSIST_SIMULATION:
        raise ServiceError("Failure simulation is disabled; start OpsAssist with OPSASSIST_SIMULATION=1.")
    expected = checker_class(monitor.kind).drill_failure
    if expected is None:
        raise ServiceError(f"{monitor.kind} monitors have no failure drill.", field="failure")
    if failure is not None and failure != expected:
        raise ServiceError(f"A {monitor.kind} monitor's drill is '{expected}', not '{failure}'.", field="failure")
    if failure is not None and not monitor.drills_allowed:
        raise ServiceError(
            f"Monitor {monitor.name} is not a drill target: an admin must set drills_allowed.", field="drills_allowed"
        )


def do_start_drill(monitor: Monitor, failure: str) -> dict:
    check_drill(monitor, failure)
    result = _against_target(monitor, lambda checker: checker.start_drill(settings.DRILL_MAX_BYTES))
    log.info("drill started", extra={"monitor": monitor.name, "failure": failure})
    _check_soon(monitor)
    return {"monitor": monitor.name, "failure": failure, **result}


def do_clear_drill(monitor: Monitor) -> dict:
    """Clearing is allowed whatever drills_allowed says now, so a drill never outlives its permission."""
    check_drill(monitor)
    result = _against_target(monitor, lambda checker: checker.clear_drill())
    _check_soon(monitor)
    return {"monitor": monitor.name, "cleared": True, **result}


def _against_target(monitor: Monitor, step) -> dict:
    checker = get_checker(monitor)
    try:
        return step(checker)
    except checker.target_errors as exc:
        # The error class only: a server's own text can leak what it holds (roles, paths).
        log.warning("drill on %s failed: %s", monitor.name, type(exc).__name__)
        raise TargetUnreachable(
            f"Could not use {monitor.safe_target} ({type(exc).__name__}).",
            field="target",
        ) from None


def _check_soon(monitor: Monitor) -> None:
    Monitor.objects.filter(pk=monitor.pk).update(next_check_at=timezone.now())
