"""The remediation loop: propose one allowed action → a human (or an admin's policy) approves → execute →
verify → resolve.

Each transition claims the run with a conditional update, so a task that runs twice acts once. Every
in-flight run carries a deadline; `do_reap_runs` (beat, every 15 s) fails, expires or resumes the runs a dead
worker or a lost task left behind. Verification is one short task per attempt, rescheduled with a countdown,
never a worker held in a sleep loop. No request ever calls the model: proposing reuses the incident's stored
analysis, or queues one and answers at once.
"""

from __future__ import annotations

import logging
import shlex
import time
from datetime import datetime, timedelta

from celery import current_app
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
from opsassist.lib.redact import log_remote_error, redact_url
from remediation import analysis, live
from remediation.actions import NONE, action_classes, allowed_actions, get_action
from remediation.actions.base import ActionError
from remediation.models import OUTPUT_LIMIT, ActionPolicy, RemediationRun

log = logging.getLogger(__name__)
Status = RemediationRun.Status
ACTOR = "remediation"
VERIFY_ATTEMPTS_KEPT = 20
QUEUE_SLACK_SECONDS = 60  # time for a queued task to be picked up before its run counts as lost


class Forbidden(ServiceError):
    status_code = 403


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


def _in(seconds: float, now: datetime | None = None) -> datetime:
    return (now or timezone.now()) + timedelta(seconds=seconds)


def _enqueue(task_name: str, *args, countdown: float = 0) -> None:
    """Queue by name after commit (the tasks module imports this one, so no import circle)."""
    signature = current_app.signature(task_name, args=args)
    transaction.on_commit(lambda: signature.apply_async(countdown=countdown))


def _user(actor):
    return None if actor is None or isinstance(actor, str) else actor


def policy_for(monitor, action: str) -> ActionPolicy | None:
    if monitor is None or not action:
        return None
    return ActionPolicy.objects.select_related("set_by").filter(monitor=monitor, action=action).first()


# --- Proposing ------------------------------------------------------------------------------------


def check_propose(incident: Incident) -> None:
    if incident.status not in UNRESOLVED:
        raise ServiceError(f"Incident #{incident.pk} is {incident.status}; nothing to remediate.")
    do_reap_runs(incident_id=incident.pk)  # a run past its deadline no longer blocks a new proposal
    if RemediationRun.objects.filter(incident=incident, status__in=RemediationRun.IN_FLIGHT).exists():
        raise Conflict("A remediation of this incident is already in flight.")


def do_propose(incident: Incident, *, actor) -> RemediationRun:
    """Propose one action (or `none`) from the incident's stored analysis. Without one yet: the built-in
    rules analyse at once; with Claude configured the run is created with an empty action and the analysis
    is queued (never a model call in the request); the action is filled in when it completes.
    409 while another run of this incident is in flight."""
    check_propose(incident)
    proposal = analysis.stored_proposal(incident)
    if proposal is None and not settings.ANTHROPIC_API_KEY:
        # The built-in rules are local and fast: analyse now and answer 201 with a real action, as the
        # contract says. Only a model call is worth queueing (202 until it answers).
        proposal = analysis.do_analyze(incident)
    pending = proposal is None
    ttl = (
        settings.CELERY_TASK_TIME_LIMIT + QUEUE_SLACK_SECONDS if pending else settings.REMEDIATION_PROPOSAL_TTL_SECONDS
    )
    try:
        with transaction.atomic():
            run = RemediationRun.objects.create(
                incident=incident, monitor=analysis.monitor_of(incident), proposed_by_user=_user(actor),
                deadline_at=_in(ttl),
            )  # fmt: skip
    except IntegrityError:
        raise Conflict("A remediation of this incident is already in flight.") from None
    if proposal is None:
        _record(run, actor, "Remediation requested; analysing the incident first.")
        _enqueue("remediation.propose_from_analysis", run.pk)
    else:
        do_settle_proposal(run, proposal, actor=actor)
    return run


def do_propose_from_analysis(run_id: int) -> RemediationRun | None:
    """The queued half of a proposal: analyse now, then fill the run's action in (once)."""
    run = RemediationRun.objects.select_related("incident", "monitor", "proposed_by_user").filter(pk=run_id).first()
    if run is None or run.status != Status.PROPOSED or run.action:
        return None
    proposal = analysis.do_analyze(run.incident)
    return do_settle_proposal(run, proposal, actor=run.proposed_by_user)


def do_settle_proposal(run: RemediationRun, proposal: dict, *, actor) -> RemediationRun | None:
    """Fill the action in (refusing one this monitor does not offer), then close a `none` proposal or let an
    admin's auto-approve policy decide."""
    action = proposal["action"]
    if action != NONE and action not in allowed_actions(run.monitor):
        proposal = {**proposal, "action": NONE, "rationale": f"Refused '{action}': not allowed here."}
    fields = {key: proposal[key] for key in ("action", "rationale", "proposed_by", "model")}
    fields["deadline_at"] = _in(settings.REMEDIATION_PROPOSAL_TTL_SECONDS)
    if not RemediationRun.objects.filter(pk=run.pk, status=Status.PROPOSED, action="").update(**fields):
        return None
    for name, value in fields.items():
        setattr(run, name, value)
    _record(run, run.proposed_by, f"Proposed {run.action} ({run.proposed_by}): {run.rationale}",
            requested_by=incident_services.actor_name(actor))  # fmt: skip
    if run.action == NONE:
        _claim(run, Status.PROPOSED, Status.REJECTED, error="nothing to run")
        _record(run, "system", "No action to run; the proposal is closed.")
        return run
    policy = policy_for(run.monitor, run.action)
    if policy is not None and policy.auto_approve:
        quiet = incident_services.suppression_for(run.incident)
        if quiet is None:
            do_auto_approve(run, policy)
        else:  # maintenance, a silence or a snooze: a person decides
            _record(run, "system", f"Not auto-approved: the incident is {quiet}.")
    return run


# --- Deciding -------------------------------------------------------------------------------------


def check_decision(run: RemediationRun, user) -> None:
    if not user.has_perm("remediation.approve_remediationrun"):
        raise Forbidden("You need the remediation.approve_remediationrun permission.")
    if run.status != Status.PROPOSED:
        raise Conflict(f"This run is {run.status}; only a proposed run can be approved or rejected.")


def check_approve(run: RemediationRun, user) -> None:
    check_decision(run, user)
    if not run.action:
        raise Conflict("The analysis behind this proposal is still running; approve it once its action is shown.")
    if settings.REMEDIATION_TWO_PERSON and run.proposed_by_user_id == user.pk:
        raise Forbidden("Two-person rule (REMEDIATION_TWO_PERSON): someone other than the proposer must approve.")


def do_approve(run: RemediationRun, *, actor) -> RemediationRun:
    """A human's approval: `actor` is the user who approves."""
    check_approve(run, actor)
    now = timezone.now()
    if not _claim(
        run, Status.PROPOSED, Status.APPROVED, decided_by=actor, decided_at=now, deadline_at=_approved_by(now)
    ):
        raise Conflict("This run was decided meanwhile.")
    _record(run, actor, f"Approved {run.action}.")
    _enqueue("remediation.execute_run", run.pk)
    return run


def do_auto_approve(run: RemediationRun, policy: ActionPolicy) -> bool:
    now = timezone.now()
    fields = {"decided_by_policy": policy, "decided_via": f"policy:{policy.pk}", "decided_at": now,
              "deadline_at": _approved_by(now)}  # fmt: skip
    if not _claim(run, Status.PROPOSED, Status.APPROVED, **fields):
        return False
    setter = policy.set_by_name or "an admin"
    _record(run, f"policy:{policy.pk}", f"Auto-approved {run.action} by policy {policy.pk} set by {setter}.",
            policy=policy.pk, set_by=setter)  # fmt: skip
    _enqueue("remediation.execute_run", run.pk)
    return True


def _approved_by(now: datetime) -> datetime:
    """An approved run must have started executing by then (or its task was lost)."""
    return _in(settings.CELERY_TASK_TIME_LIMIT + QUEUE_SLACK_SECONDS, now)


def do_reject(run: RemediationRun, *, actor, reason: str = "") -> RemediationRun:
    check_decision(run, actor)
    if not _claim(run, Status.PROPOSED, Status.REJECTED, decided_by=actor, decided_at=timezone.now(), error=reason):
        raise Conflict("This run was decided meanwhile.")
    _record(run, actor, f"Rejected {run.action or 'the pending proposal'}" + (f": {reason}" if reason else "."))
    return run


# --- Executing and verifying ------------------------------------------------------------------------


def do_execute(run_id: int) -> RemediationRun | None:
    """Run an approved action, record exactly what ran, then queue its first verification."""
    run = RemediationRun.objects.select_related("incident", "monitor").filter(pk=run_id).first()
    if run is None or run.monitor is None:
        return _fail(run, Status.APPROVED, "its monitor was deleted") if run else None
    deadline = _in(settings.CELERY_TASK_TIME_LIMIT + 30)
    target = redact_url(run.monitor.target)
    if not _claim(run, Status.APPROVED, Status.EXECUTING, deadline_at=deadline, target=target):
        return None
    _record(run, ACTOR, f"Executing {run.action} on {run.monitor.name}.")
    started = time.perf_counter()
    try:
        result = get_action(run.monitor, run.action, policy_for(run.monitor, run.action)).execute()
    except ActionError as exc:
        _store_audit(run, exc.facts, started)
        return _fail(run, Status.EXECUTING, str(exc)[:1000])
    except Exception as exc:  # an unreachable target, a refused action: the run fails, the loop goes on
        log_remote_error(f"remediation {run.action} (run {run.pk})", exc, run.monitor.target)
        # The target's own text (a role name, a server message) goes to the admin-only output; everyone
        # sees the error class.
        _store_audit(run, {"output": f"{type(exc).__name__}: {exc}"}, started)
        return _fail(run, Status.EXECUTING, f"{type(exc).__name__} (the details are in the run's output)")
    result = _store_audit(run, result, started)
    verify_until = _in(settings.REMEDIATION_VERIFY_SECONDS)
    if not _claim(run, Status.EXECUTING, Status.VERIFYING, result=result, verify_until=verify_until,
                  verify_attempts=0, deadline_at=verify_until + timedelta(seconds=_verify_grace())):  # fmt: skip
        return run  # the reaper failed it meanwhile
    _record(run, ACTOR, f"{run.action} done ({_facts(result)}); verifying with fresh health checks.")
    _enqueue("remediation.verify_run", run.pk, 0)
    return run


def _store_audit(run: RemediationRun, facts: dict, started: float) -> dict:
    """Move argv, exit status and output out of the action's facts onto the run's audit columns."""
    facts = dict(facts)
    audit = {
        "argv": facts.pop("argv", []),
        "exit_status": facts.pop("exit_status", None),
        "output": _scrub(run, str(facts.pop("output", "")))[-OUTPUT_LIMIT:],
        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
    }
    RemediationRun.objects.filter(pk=run.pk).update(**audit)
    for name, value in audit.items():
        setattr(run, name, value)
    return facts


def _scrub(run: RemediationRun, text: str) -> str:
    """Text with the monitor's target (which may hold a password) replaced by its redacted form."""
    target = run.monitor.target if run.monitor else ""
    return text.replace(target, redact_url(target)) if target else text


def _verify_grace() -> float:
    """How long past its last planned attempt a verifying run may take before it counts as lost."""
    return settings.REMEDIATION_VERIFY_INTERVAL + settings.CELERY_TASK_TIME_LIMIT


def do_verify(run_id: int, attempt: int) -> RemediationRun | None:
    """One verification attempt (claimed by its number, so a redelivered task does nothing): a fresh
    health check; success resolves the incident, a miss schedules the next attempt, the last miss fails."""
    run = RemediationRun.objects.select_related("incident", "monitor").filter(pk=run_id).first()
    claimed = RemediationRun.objects.filter(pk=run_id, status=Status.VERIFYING, verify_attempts=attempt).update(
        verify_attempts=attempt + 1, updated_at=timezone.now()
    )
    if run is None or not claimed:
        return None
    if run.monitor is None:
        return _fail(run, Status.VERIFYING, "its monitor was deleted")
    checker = get_checker(run.monitor)
    metric, threshold = checker.key_metric or (None, None)
    outcome = checker.run()
    value = outcome.metrics.get(metric) if metric else None
    ok = outcome.health >= HEALTHY_FLOOR and (value is None or value <= threshold)
    attempts = [*(run.verification.get("attempts") or [])[-(VERIFY_ATTEMPTS_KEPT - 1) :],
                {"health": outcome.health, metric or "metric": value, "error": outcome.error}]  # fmt: skip
    verification = {"passed": ok, "attempts": attempts, "metric": metric, "threshold": threshold}
    if ok:
        return _succeed(run, verification, outcome.health, metric, value, threshold)
    if run.verify_until is None or timezone.now() >= run.verify_until:
        error = f"verification failed: health {outcome.health}%, {metric} {value}"
        return _fail(run, Status.VERIFYING, error, verification=verification)
    RemediationRun.objects.filter(pk=run.pk, status=Status.VERIFYING).update(verification=verification)
    _enqueue("remediation.verify_run", run.pk, attempt + 1, countdown=settings.REMEDIATION_VERIFY_INTERVAL)
    return run


def _succeed(run, verification, health, metric, value, threshold) -> RemediationRun | None:
    if not _claim(run, Status.VERIFYING, Status.SUCCEEDED, verification=verification, deadline_at=None):
        return None
    notes = f"Resolved by remediation {run.action} (run {run.pk}), verified: health {health}%, {metric} {value}."
    _record(run, ACTOR, f"Verified: health {health}%, {metric} {value} (≤ {threshold}).")
    incident_services.do_resolve(run.incident, actor=ACTOR, notes=notes)
    do_run_check(run.monitor)  # store the fresh state on the monitor and broadcast it
    return run


def _fail(run: RemediationRun, old: str, error: str, verification: dict | None = None) -> RemediationRun | None:
    """Fail the run (if it is still `old`), say why in the timeline and page the on-call."""
    fields: dict[str, object] = {"error": error, "deadline_at": None}
    if verification is not None:
        fields["verification"] = verification
    if not _claim(run, old, Status.FAILED, **fields):
        return None
    _record(run, ACTOR, f"Remediation {run.action} failed: {error}. The incident stays open.")
    incident_services.request_page(run.incident, f"Remediation {run.action} failed: {error}")
    return run


def _facts(result: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in result.items() if not isinstance(v, (list, dict))) or "ok"


# --- Work in flight: the reaper ---------------------------------------------------------------------

LOST: dict[str, str] = {
    Status.APPROVED: "no worker started it before its deadline",
    Status.EXECUTING: "its worker stopped before the action finished (deadline passed)",
    Status.VERIFYING: "its verification did not finish before its deadline (the worker stopped)",
}


def do_reap_runs(now: datetime | None = None, incident_id: int | None = None) -> dict[str, list[int]]:
    """Runs past their deadline: an undecided proposal expires; an approved, executing or verifying run
    fails (timeline says why, the on-call is paged). A verifying run whose next attempt is overdue but
    whose deadline is not reached is resumed (its task was lost)."""
    now = now or timezone.now()
    runs = RemediationRun.objects.select_related("incident", "monitor").filter(status__in=RemediationRun.IN_FLIGHT)
    if incident_id is not None:
        runs = runs.filter(incident_id=incident_id)
    done: dict[str, list[int]] = {"expired": [], "failed": [], "resumed": []}
    for run in runs.filter(deadline_at__lte=now):
        if run.status == Status.PROPOSED:
            if _expire(run):
                done["expired"].append(run.pk)
        elif _fail(run, run.status, LOST[run.status]):
            done["failed"].append(run.pk)
    stalled = now - timedelta(seconds=_verify_grace() / 2)
    for run in runs.filter(status=Status.VERIFYING, deadline_at__gt=now, updated_at__lt=stalled):
        _enqueue("remediation.verify_run", run.pk, run.verify_attempts)
        done["resumed"].append(run.pk)
    return done


def _expire(run: RemediationRun) -> bool:
    why = "its analysis did not finish" if not run.action else "nobody decided"
    if not _claim(run, Status.PROPOSED, Status.REJECTED, decided_via="expired", decided_at=timezone.now(),
                  deadline_at=None, error=f"expired: {why} in time"):  # fmt: skip
        return False
    _record(run, ACTOR, f"Proposal {run.action or '(pending)'} expired: {why} in time; a new proposal is accepted.")
    return True


# --- Policies (admin only: the API checks remediation.manage_actionpolicy) ----------------------------


def do_save_policy(policy: ActionPolicy | None, data: dict, *, actor) -> ActionPolicy:
    """Create or change a policy; `set_by` becomes the admin who wrote it (the timeline of every run it
    approves names them)."""
    policy = policy or ActionPolicy()
    for name, value in data.items():
        setattr(policy, name, value)
    policy.set_by, policy.set_by_name = actor, incident_services.actor_name(actor)
    try:
        with transaction.atomic():
            policy.save()
    except IntegrityError:
        raise ServiceError(f"{policy.monitor.name} already has a policy for {policy.action}.", "action") from None
    log.info("remediation policy %s saved by %s: %s on %s auto_approve=%s allow_flushdb=%s", policy.pk,
             policy.set_by_name, policy.action, policy.monitor.name,
             policy.auto_approve, policy.allow_flushdb)  # fmt: skip
    return policy


def do_delete_policy(policy: ActionPolicy, *, actor) -> None:
    log.info("remediation policy %s (%s on %s) deleted by %s", policy.pk, policy.action, policy.monitor.name,
             incident_services.actor_name(actor))  # fmt: skip
    policy.delete()


def action_catalog(monitors: list) -> list[dict]:
    """Per monitor and action: offered or not, the operator's command (read-only), the admin's policy."""
    policies = {(p.monitor_id, p.action): p for p in ActionPolicy.objects.filter(monitor__in=monitors)}
    rows = []
    for monitor in monitors:
        for cls in action_classes(monitor.kind):
            policy = policies.get((monitor.pk, cls.name))
            command = cls.command(monitor)
            rows.append({
                "monitor": monitor.name, "kind": monitor.kind, "action": cls.name, "label": cls.label,
                "risk": cls.risk, "offered": cls.offered(monitor), "command": command,
                "runs": " ".join(shlex.quote(arg) for arg in command) if command else None,
                "policy": None if policy is None else {
                    "id": policy.pk, "auto_approve": policy.auto_approve, "allow_flushdb": policy.allow_flushdb,
                    "set_by": policy.set_by_name},
            })  # fmt: skip
    return rows
