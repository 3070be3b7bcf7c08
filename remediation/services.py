"""The remediation loop: propose one allowed action → a human approves → execute → verify → resolve.

Each transition claims the run with a conditional update, so a task that runs twice acts once.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from incidents import services as incident_services
from incidents.choices import UNRESOLVED, TimelineKind
from incidents.models import Incident
from monitoring.checkers import get_checker
from monitoring.models import HEALTHY_FLOOR
from monitoring.services import do_run_check
from opsassist.lib.errors import Conflict, ServiceError
from opsassist.lib.redact import log_remote_error, public_error
from remediation import analysis, live
from remediation.actions import NONE, allowed_actions, get_action
from remediation.actions.base import ActionError
from remediation.models import RemediationRun

log = logging.getLogger(__name__)
Status = RemediationRun.Status


def _record(run: RemediationRun, actor, text: str, **data) -> None:
    incident_services.record(run.incident, TimelineKind.REMEDIATION, actor, text,
                             {"run": run.pk, "action": run.action, "status": run.status, **data})  # fmt: skip
    live.broadcast_run_on_commit(run.pk)


def _claim(run: RemediationRun, old: str, new: str, **fields) -> bool:
    updated = RemediationRun.objects.filter(pk=run.pk, status=old).update(
        status=new, updated_at=timezone.now(), **fields
    )
    if updated:
        run.status = new
        for name, value in fields.items():
            setattr(run, name, value)
    return bool(updated)


def do_propose(incident: Incident, *, actor) -> RemediationRun:
    """Analyse and propose one action (or `none`). 409 while another run of this incident is in flight."""
    if incident.status not in UNRESOLVED:
        raise ServiceError(f"Incident #{incident.pk} is {incident.status}; nothing to remediate.")
    if RemediationRun.objects.filter(incident=incident, status__in=RemediationRun.IN_FLIGHT).exists():
        raise Conflict("A remediation of this incident is already in flight.")
    proposal = analysis.do_analyze(incident)
    monitor = analysis.monitor_of(incident)
    if proposal["action"] != NONE and proposal["action"] not in allowed_actions(monitor):
        proposal = {**proposal, "action": NONE, "rationale": f"Refused '{proposal['action']}': not allowed here."}
    try:
        with transaction.atomic():
            run = RemediationRun.objects.create(incident=incident, monitor=monitor, **proposal)
    except IntegrityError:
        raise Conflict("A remediation of this incident is already in flight.") from None
    _record(run, proposal["proposed_by"], f"Proposed {run.action} ({run.proposed_by}): {run.rationale}",
            requested_by=incident_services.actor_name(actor))  # fmt: skip
    if run.action == NONE:
        _claim(run, Status.PROPOSED, Status.REJECTED, error="nothing to run")
        _record(run, "system", "No action to run; the proposal is closed.")
    elif monitor and run.action in (monitor.config or {}).get("auto_approve", []):
        quiet = incident_services.suppression_for(incident)
        if quiet is None:
            do_approve(run, actor="auto-approve")
        else:  # maintenance, a silence or a snooze: a person decides
            _record(run, "system", f"Not auto-approved: the incident is {quiet}.")
    return run


def check_decision(run: RemediationRun, user) -> None:
    if user is not None and not isinstance(user, str) and not user.has_perm("remediation.approve_remediationrun"):
        raise ServiceError("You need the remediation.approve_remediationrun permission.")
    if run.status != Status.PROPOSED:
        raise Conflict(f"This run is {run.status}; only a proposed run can be approved or rejected.")


def do_approve(run: RemediationRun, *, actor) -> RemediationRun:
    check_decision(run, actor)
    user = None if isinstance(actor, str) else actor
    if not _claim(run, Status.PROPOSED, Status.APPROVED, decided_by=user, decided_at=timezone.now()):
        raise Conflict("This run was decided meanwhile.")
    _record(run, actor, f"Approved {run.action}.")
    from remediation.tasks import execute_run

    transaction.on_commit(lambda: execute_run.delay(run.pk))
    return run


def do_reject(run: RemediationRun, *, actor, reason: str = "") -> RemediationRun:
    check_decision(run, actor)
    if not _claim(run, Status.PROPOSED, Status.REJECTED, decided_by=actor, decided_at=timezone.now(), error=reason):
        raise Conflict("This run was decided meanwhile.")
    _record(run, actor, f"Rejected {run.action}" + (f": {reason}" if reason else "."))
    return run


def do_execute(run_id: int) -> RemediationRun | None:
    """Run an approved action, then verify it with fresh health checks."""
    run = RemediationRun.objects.select_related("incident", "monitor").filter(pk=run_id).first()
    if run is None or not _claim(run, Status.APPROVED, Status.EXECUTING):
        return None
    _record(run, "remediation", f"Executing {run.action} on {run.monitor.name if run.monitor else '?'}.")
    try:
        result = get_action(run.monitor, run.action).execute()
    except (ActionError, KeyError, Exception) as exc:
        log_remote_error(f"remediation {run.action} (run {run.pk})", exc, run.monitor.target if run.monitor else "")
        return _fail(run, Status.EXECUTING, public_error(exc), {})
    _claim(run, Status.EXECUTING, Status.VERIFYING, result=result)
    _record(run, "remediation", f"{run.action} done ({_facts(result)}); verifying with fresh health checks.")
    return _verify(run)


def _verify(run: RemediationRun) -> RemediationRun:
    monitor = run.monitor
    checker = get_checker(monitor)
    metric, threshold = checker.key_metric or (None, None)
    deadline = time.monotonic() + settings.REMEDIATION_VERIFY_SECONDS
    attempts = []
    while True:
        outcome = checker.run()
        value = outcome.metrics.get(metric) if metric else None
        ok = outcome.health >= HEALTHY_FLOOR and (value is None or value <= threshold)
        attempts.append({"health": outcome.health, metric or "metric": value, "error": outcome.error})
        if ok or time.monotonic() >= deadline:
            break
        time.sleep(settings.REMEDIATION_VERIFY_INTERVAL)
    verification = {"passed": ok, "attempts": attempts, "metric": metric, "threshold": threshold}
    if not ok:
        return _fail(
            run, Status.VERIFYING, f"verification failed: health {outcome.health}%, {metric} {value}", verification
        )
    _claim(run, Status.VERIFYING, Status.SUCCEEDED, verification=verification)
    notes = (
        f"Resolved by remediation {run.action} (run {run.pk}), verified: health {outcome.health}%, {metric} {value}."
    )
    _record(run, "remediation", f"Verified: health {outcome.health}%, {metric} {value} (≤ {threshold}).")
    incident_services.do_resolve(run.incident, actor="remediation", notes=notes)
    do_run_check(monitor)  # store the fresh state on the monitor and broadcast it
    return run


def _fail(run: RemediationRun, old: str, error: str, verification: dict) -> RemediationRun:
    _claim(run, old, Status.FAILED, error=error, verification=verification)
    _record(run, "remediation", f"Remediation {run.action} failed: {error}. The incident stays open.")
    from django.apps import apps

    if apps.is_installed("oncall"):
        from oncall.services import do_page_on_call

        do_page_on_call(run.incident, f"Remediation {run.action} failed: {error}")
    return run


def _facts(result: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in result.items() if not isinstance(v, (list, dict))) or "ok"
