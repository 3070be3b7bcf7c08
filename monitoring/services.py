"""Running checks and turning their results into incidents (through incidents.services only)."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from incidents import services as incident_services
from incidents.choices import Severity, Source, TimelineKind
from monitoring import live
from monitoring.checkers import get_checker
from monitoring.checkers.base import Outcome
from monitoring.models import HEALTHY_FLOOR, CheckResult, Monitor, MonitorRollup

log = logging.getLogger(__name__)


def incident_key(monitor: Monitor) -> dict:
    return {"source": Source.HEALTH_CHECK, "service": monitor.effective_service, "component": monitor.name}


def do_run_check(monitor: Monitor, now=None) -> CheckResult:
    """Check the target now, store the result, update the monitor and its incident."""
    outcome = get_checker(monitor).run()
    now = now or timezone.now()
    with transaction.atomic():
        result = CheckResult.objects.create(
            monitor=monitor, at=now, health=outcome.health, status=outcome.status, metrics=outcome.metrics,
            latency_ms=outcome.latency_ms, error=outcome.error,
        )  # fmt: skip
        Monitor.objects.filter(pk=monitor.pk).update(
            health=outcome.health, status=outcome.status, metrics=outcome.metrics, last_error=outcome.error,
            last_checked_at=now,
        )  # fmt: skip
        _count_in_rollup(monitor, outcome, now)
        monitor.health, monitor.status, monitor.metrics, monitor.last_error, monitor.last_checked_at = (
            outcome.health, outcome.status, outcome.metrics, outcome.error, now,
        )  # fmt: skip
    try:
        apply_to_incidents(monitor, outcome)
    except Exception:
        # The check result is stored whatever happens to the incident side; the next check retries it.
        log.exception("applying check of %s to incidents failed", monitor.name)
    live.broadcast_monitor_on_commit(monitor.pk)
    return result


def _count_in_rollup(monitor: Monitor, outcome: Outcome, now) -> None:
    hour = now.replace(minute=0, second=0, microsecond=0)
    healthy = int(outcome.health >= HEALTHY_FLOOR)
    updated = MonitorRollup.objects.filter(monitor=monitor, hour=hour).update(
        checks=F("checks") + 1, healthy=F("healthy") + healthy, health_sum=F("health_sum") + outcome.health
    )
    if not updated:
        MonitorRollup.objects.get_or_create(
            monitor=monitor, hour=hour, defaults={"checks": 1, "healthy": healthy, "health_sum": outcome.health}
        )


def apply_to_incidents(monitor: Monitor, outcome: Outcome) -> None:
    """Unhealthy: open (or keep) the monitor's one incident. Healthy: resolve it with a note."""
    key = incident_key(monitor)
    actor = f"monitor:{monitor.name}"
    facts = ", ".join(f"{k} {v}" for k, v in outcome.metrics.items())
    if outcome.health >= HEALTHY_FLOOR:
        incident_services.resolve_unresolved(
            actor=actor,
            notes=f"Auto-resolved: {monitor.name} healthy again (health {outcome.health}%; {facts}).",
            **key,
        )
        return
    if not _failed_long_enough(monitor):
        return
    severity = Severity.CRITICAL if outcome.health == 0 else Severity.HIGH
    detail = outcome.error or outcome.summary
    incident, created = incident_services.get_or_open_incident(
        title=f"{monitor.name} unhealthy: {detail[:200]} - Health: {outcome.health}%",
        severity=severity,
        description=f"{monitor.get_kind_display()} monitor {monitor.name} ({monitor.safe_target}) reports "
        f"health {outcome.health}% ({facts or outcome.error}).",
        actor=actor,
        **key,
    )
    if created:
        incident_services.record(
            incident, TimelineKind.CHECK, actor, f"Health {outcome.health}%: {detail}",
            {"health": outcome.health, "metrics": outcome.metrics, "error": outcome.error},
        )  # fmt: skip
    else:
        incident_services.do_raise_severity(incident, severity, actor=actor, reason=f"health {outcome.health}%")


def _failed_long_enough(monitor: Monitor) -> bool:
    """`failures_before_incident` (default 1) consecutive unhealthy checks open the incident, so a target
    that blips once (or a server checking itself while it starts) does not page anyone."""
    needed = monitor.conf.failures_before_incident
    if needed <= 1:
        return True
    recent = list(
        CheckResult.objects.filter(monitor=monitor).order_by("-at", "-id").values_list("health", flat=True)[:needed]
    )
    return len(recent) == needed and all(health < HEALTHY_FLOOR for health in recent)


def claim_due(now=None) -> list[Monitor]:
    """Monitors due for a check, each claimed by moving its next_check_at forward (so two schedulers or
    an overlapping pass never check the same monitor twice)."""
    now = now or timezone.now()
    claimed = []
    for monitor in Monitor.objects.filter(enabled=True, next_check_at__lte=now):
        next_at = now + timedelta(seconds=monitor.interval_seconds)
        won = Monitor.objects.filter(pk=monitor.pk, next_check_at=monitor.next_check_at).update(next_check_at=next_at)
        if won:
            claimed.append(monitor)
    return claimed


def prune_results(now=None, keep_hours: int = 48, keep_rollup_days: int = 90) -> tuple[int, int]:
    now = now or timezone.now()
    raw, _ = CheckResult.objects.filter(at__lt=now - timedelta(hours=keep_hours)).delete()
    rollups, _ = MonitorRollup.objects.filter(hour__lt=now - timedelta(days=keep_rollup_days)).delete()
    return raw, rollups
