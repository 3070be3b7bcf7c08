"""Every operation that changes incidents. Views, tasks, admin actions and the other apps call these.

The one rule that matters most: an incident is opened only by `get_or_open_incident`, which relies on
the partial unique constraint `incidents_incident_one_unresolved`, so no interleaving of workers can
create two unresolved incidents for the same failing thing.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.dispatch import Signal
from django.utils import timezone

from incidents import live
from incidents.choices import (
    ALLOWED_MOVES,
    SEVERITY_RANK,
    UNRESOLVED,
    Severity,
    Source,
    Status,
    TimelineKind,
    normalize_severity,
    normalize_status,
)
from incidents.models import Incident, Note, StatusCount, TimelineEntry
from opsassist.lib.errors import Conflict, ServiceError

log = logging.getLogger(__name__)

SYSTEM = "system"

# Sent after the transaction that opened an incident commits: on-call assignment, AI analysis.
incident_opened = Signal()
# Sent after commit when an incident's status changed (kwargs: incident, old, new, actor).
incident_status_changed = Signal()
# Sent after commit when an incident is assigned to someone new (kwargs: incident, user, actor, entry_id).
incident_reassigned = Signal()
# Sent (synchronously) when someone asks for a fresh analysis; the analysing app answers.
analysis_requested = Signal()
# Sent after commit when a part of the system needs a human now (kwargs: incident, reason); the paging app
# pages the on-call. Lets remediation page without importing the paging app.
page_requested = Signal()


def actor_name(actor) -> str:
    """A user, a name ("rules", "ai", "monitor:db") or None (the system) as the timeline's actor."""
    if actor is None:
        return SYSTEM
    if isinstance(actor, str):
        return actor
    return getattr(actor, "username", None) or str(actor)


def record(incident: Incident, kind: str, actor, text: str, data: dict | None = None, at=None) -> TimelineEntry:
    """Append one audit step to the incident's timeline; open incident pages get it after commit."""
    entry = TimelineEntry.objects.create(
        incident=incident, kind=kind, actor=actor_name(actor), text=text, data=data or {}, at=at or timezone.now()
    )
    live.timeline_on_commit(entry)
    return entry


def _after_commit_signal(signal: Signal, **kwargs) -> None:
    def send():
        for receiver, result in signal.send_robust(sender=Incident, **kwargs):
            if isinstance(result, Exception):
                log.error("incident signal receiver %s failed: %r", receiver, result)

    transaction.on_commit(send)


def request_page(incident: Incident, reason: str) -> None:
    """Ask for the on-call to be paged about `incident` (after commit), whoever does the paging."""
    _after_commit_signal(page_requested, incident=incident, reason=reason)


# --- Opening ------------------------------------------------------------------------------------


def get_or_open_incident(
    *,
    source: str,
    service: str,
    title: str,
    severity: str,
    component: str = "",
    host: str = "",
    source_key: str = "",
    description: str = "",
    first_seen_at: datetime | None = None,
    actor=None,
    now: datetime | None = None,
) -> tuple[Incident, bool]:
    """The unresolved incident for this failing thing, opening one if there is none.

    Returns (incident, created). Safe under any concurrency: a losing concurrent insert hits the
    partial unique constraint, and we return the winner's row instead.
    """
    key = {"source": source, "service": service, "component": component, "host": host, "source_key": source_key}
    existing = Incident.objects.filter(status__in=UNRESOLVED, **key).first()
    if existing is not None:
        return existing, False
    now = now or timezone.now()
    try:
        with transaction.atomic():
            incident = Incident.objects.create(
                **key,
                title=title[:500],
                severity=severity,
                description=description,
                detected_at=now,
                first_seen_at=first_seen_at or now,
            )
            record(incident, TimelineKind.CREATED, actor, f"Incident opened from {source}: {incident.title}", at=now)
            StatusCount.objects.add(incident.status, incident.severity)
    except IntegrityError:
        existing = Incident.objects.filter(status__in=UNRESOLVED, **key).first()
        if existing is None:
            raise
        return existing, False
    live.broadcast_on_commit(incident.pk, created=True)
    _after_commit_signal(incident_opened, incident=incident)
    return incident, True


@dataclass(frozen=True)
class OpenSpec:
    """One failing thing to open an incident for, in `do_open_many`."""

    source: str
    service: str
    title: str
    severity: str
    component: str = ""
    host: str = ""
    source_key: str = ""
    description: str = ""
    first_seen_at: datetime | None = None


# Rows per INSERT / IN list: well under SQLite's and psycopg's parameter limits.
BULK_CHUNK = 500


def do_open_many(specs: list[OpenSpec], *, actor, now: datetime | None = None) -> list[Incident]:
    """Bulk `get_or_open_incident`: open an incident for every spec whose failing thing has none unresolved.

    One INSERT ... ON CONFLICT DO NOTHING per chunk: the partial unique constraint
    `incidents_incident_one_unresolved` stays the guarantee, so a spec whose thing already has (or
    concurrently gets) an unresolved incident is skipped, never duplicated. The rows that really went in
    are re-read by their fresh uuids. Then their timeline entries in bulk, and after commit one
    `incident_opened` per incident (no query each) and their live updates in batches.
    Returns only the incidents this call opened.
    """
    if not specs:
        return []
    now = now or timezone.now()
    rows = [_new_incident(spec, now) for spec in specs]
    with transaction.atomic():
        Incident.objects.bulk_create(rows, batch_size=BULK_CHUNK, ignore_conflicts=True)
        opened = _reread(rows)
        TimelineEntry.objects.bulk_create(
            [_created_entry(incident, actor, now) for incident in opened], batch_size=BULK_CHUNK
        )
    _after_commit_opened(opened)
    return opened


def _new_incident(spec: OpenSpec, now: datetime) -> Incident:
    # Checked here: SQLite's INSERT OR IGNORE would silently skip a row that fails the check constraint.
    if spec.severity not in Severity.values:
        raise ServiceError(f"'{spec.severity}' is not a valid severity.", field="severity")
    return Incident(
        source=spec.source, service=spec.service, component=spec.component, host=spec.host,
        source_key=spec.source_key, title=spec.title[:500], severity=spec.severity, description=spec.description,
        detected_at=now, first_seen_at=spec.first_seen_at or now,
    )  # fmt: skip


def _reread(rows: list[Incident]) -> list[Incident]:
    """The rows of `rows` that the INSERT kept (a skipped one's uuid is in no row), with their ids."""
    by_uuid = {row.uuid: row for row in rows}
    kept: list[Incident] = []
    uuids = list(by_uuid)
    for start in range(0, len(uuids), BULK_CHUNK):
        chunk = Incident.objects.filter(uuid__in=uuids[start : start + BULK_CHUNK]).order_by()
        for uuid_, pk in chunk.values_list("uuid", "id"):
            row = by_uuid[uuid_]
            row.pk, row._state.adding, row._state.db = pk, False, chunk.db
            kept.append(row)
    return sorted(kept, key=lambda row: row.pk)


def _created_entry(incident: Incident, actor, now: datetime) -> TimelineEntry:
    text = f"Incident opened from {incident.source}: {incident.title}"
    return TimelineEntry(incident=incident, kind=TimelineKind.CREATED, actor=actor_name(actor), text=text, at=now)


def _after_commit_opened(opened: list[Incident]) -> None:
    """What `get_or_open_incident` queues per incident, as two callbacks for the whole batch."""
    ids = [incident.pk for incident in opened]

    def send_signals():
        for incident in opened:
            for receiver, result in incident_opened.send_robust(sender=Incident, incident=incident):
                if isinstance(result, Exception):
                    log.error("incident signal receiver %s failed: %r", receiver, result)

    def broadcast():
        for start in range(0, len(ids), BULK_CHUNK):
            live.broadcast_many(ids[start : start + BULK_CHUNK], created=True)

    # As in get_or_open_incident: browsers hear of the incident before its follow-ups can update it.
    transaction.on_commit(broadcast, robust=True)
    transaction.on_commit(send_signals)


def find_unresolved(
    *, source: str, service: str, component: str = "", host: str = "", source_key: str = ""
) -> Incident | None:
    """The unresolved incident of this failing thing, if any (never opens one)."""
    key = {"source": source, "service": service, "component": component, "host": host, "source_key": source_key}
    return Incident.objects.filter(status__in=UNRESOLVED, **key).first()


def resolve_unresolved(*, actor, notes: str, **key) -> Incident | None:
    """Automatic recovery: resolve this failing thing's unresolved incident, if there is one."""
    incident = find_unresolved(**key)
    if incident is None:
        return None
    return do_resolve(incident, actor=actor, notes=notes)


def do_raise_severity(incident: Incident, severity: str, *, actor, reason: str) -> Incident:
    """Raise (never lower) an incident's severity as its failure worsens."""
    if SEVERITY_RANK[severity] <= SEVERITY_RANK[incident.severity]:
        return incident
    with transaction.atomic():
        old = incident.severity
        Incident.objects.filter(pk=incident.pk).update(severity=severity, updated_at=timezone.now())
        record(incident, TimelineKind.UPDATE, actor, f"Severity {old} → {severity}: {reason}")
    live.broadcast_on_commit(incident.pk)
    incident.severity = severity
    return incident


def create_manual_incident(*, title: str, service: str, severity: str, actor, **fields) -> Incident:
    """A responder-declared incident; each one stands alone (its own source key)."""
    incident, _ = get_or_open_incident(
        source=Source.MANUAL,
        service=service,
        title=title,
        severity=severity,
        source_key=str(uuid.uuid4()),
        actor=actor,
        **fields,
    )
    return incident


# --- Lifecycle ----------------------------------------------------------------------------------


def check_status_move(old: str, new: str) -> None:
    if old != new and (old, new) not in ALLOWED_MOVES:
        raise ServiceError(f"Cannot move an incident from '{old}' to '{new}'.", field="status")


def _apply_status(incident: Incident, new: str, now: datetime) -> None:
    old = incident.status
    incident.status = new
    if new == Status.ACKNOWLEDGED:
        incident.acknowledged_at = incident.acknowledged_at or now
        incident.ack_seconds = (incident.acknowledged_at - incident.detected_at).total_seconds()
    elif new == Status.RESOLVED:
        incident.resolved_at = now
        incident.resolve_seconds = (now - incident.detected_at).total_seconds()
    elif new == Status.CLOSED:
        incident.closed_at = now
    elif new == Status.OPEN and old == Status.RESOLVED:
        incident.resolved_at = incident.resolve_seconds = None
    elif new == Status.OPEN and old == Status.ACKNOWLEDGED:
        incident.acknowledged_at = incident.ack_seconds = None


def do_change_status(incident: Incident, status: str, *, actor, note: str = "", now=None) -> Incident:
    """Move an incident along the lifecycle. Same status: no-op. Refused move: ServiceError (400).

    Reopening when the same failing thing already has a newer unresolved incident: Conflict (409).
    """
    new = normalize_status(status)
    if new is None:
        raise ServiceError(f"'{status}' is not a valid status.", field="status")
    now = now or timezone.now()
    with transaction.atomic():
        incident = Incident.objects.select_for_update().get(pk=incident.pk)
        old = incident.status
        if old == new:
            return incident
        check_status_move(old, new)
        _apply_status(incident, new, now)
        try:
            with transaction.atomic():
                incident.save()
        except IntegrityError:
            raise Conflict(
                f"Cannot reopen: incident for {incident.service} already has a newer unresolved incident.",
                field="status",
            ) from None
        text = f"Status {old} → {new}" + (f": {note}" if note else "")
        record(incident, TimelineKind.STATUS, actor, text, {"from": old, "to": new}, at=now)
        StatusCount.objects.add(new, incident.severity)
    live.broadcast_on_commit(incident.pk)
    _after_commit_signal(incident_status_changed, incident=incident, old=old, new=new, actor=actor_name(actor))
    return incident


def do_resolve(incident: Incident, *, actor, notes: str = "", now=None) -> Incident:
    """Resolve an unresolved incident (automatic recovery, verified remediation); appends resolution notes."""
    now = now or timezone.now()
    with transaction.atomic():
        incident = Incident.objects.select_for_update().get(pk=incident.pk)
        if incident.status not in UNRESOLVED:
            return incident
        if notes:
            incident.resolution_notes = "\n".join(filter(None, [incident.resolution_notes, notes]))
            incident.save(update_fields=["resolution_notes", "updated_at"])
        return do_change_status(incident, Status.RESOLVED, actor=actor, note=notes, now=now)


# --- Edits, notes, assignment -------------------------------------------------------------------

EDITABLE_TEXT = ("title", "description", "root_cause", "resolution_notes")


def do_add_note(incident: Incident, text: str, *, author) -> Note:
    with transaction.atomic():
        note = Note.objects.create(incident=incident, text=text, author=author if author is not None else None)
        record(incident, TimelineKind.NOTE, author, text)
        Incident.objects.filter(pk=incident.pk).update(updated_at=timezone.now())
    live.broadcast_on_commit(incident.pk)
    return note


def do_assign(incident: Incident, user, *, actor) -> Incident:
    """Assign (or unassign with None); a timeline entry names both."""
    with transaction.atomic():
        incident = Incident.objects.select_for_update().get(pk=incident.pk)
        if incident.assigned_to_id == (user.pk if user else None):
            return incident
        incident.assigned_to = user
        incident.save(update_fields=["assigned_to", "updated_at"])
        text = f"Assigned to {user.username}" if user else "Unassigned"
        entry = record(incident, TimelineKind.ASSIGNMENT, actor, text, {"to": user.username if user else None})
    live.broadcast_on_commit(incident.pk)
    if user is not None:
        _after_commit_signal(incident_reassigned, incident=incident, user=user, actor=actor_name(actor),
                             entry_id=entry.pk)  # fmt: skip
    return incident


def check_update(changes: dict) -> dict:
    """Validate a PATCH; returns normalized changes. ServiceError names the first bad field."""
    clean = dict(changes)
    if "severity" in clean:
        severity = normalize_severity(clean["severity"])
        if severity is None:
            raise ServiceError(f"'{clean['severity']}' is not a valid severity.", field="severity")
        clean["severity"] = severity
    if clean.get("assigned_to"):
        user = get_user_model().objects.filter(username=clean["assigned_to"], is_active=True).first()
        if user is None:
            raise ServiceError(f"No active user '{clean['assigned_to']}'.", field="assigned_to")
        clean["assigned_to"] = user
    return clean


def do_update_incident(incident: Incident, changes: dict, *, actor) -> Incident:
    """Apply a validated PATCH atomically: fields, severity, assignment, note and status."""
    changes = check_update(changes)
    with transaction.atomic():
        incident = Incident.objects.select_for_update().get(pk=incident.pk)
        changed = []
        for field in (*EDITABLE_TEXT, "severity"):
            if field in changes and getattr(incident, field) != changes[field]:
                old = getattr(incident, field)
                setattr(incident, field, changes[field])
                changed.append(field)
                if field == "severity":
                    record(incident, TimelineKind.UPDATE, actor, f"Severity {old} → {changes[field]}")
        if changed:
            incident.save(update_fields=[*changed, "updated_at"])
            text_fields = [f for f in changed if f != "severity"]
            if text_fields:
                record(incident, TimelineKind.UPDATE, actor, f"Updated {', '.join(text_fields)}")
        if "assigned_to" in changes:
            incident = do_assign(incident, changes["assigned_to"] or None, actor=actor)
        if changes.get("note"):
            do_add_note(incident, changes["note"], author=actor)
        if changes.get("status"):
            incident = do_change_status(incident, changes["status"], actor=actor)
    live.broadcast_on_commit(incident.pk)
    return Incident.objects.select_related("assigned_to").get(pk=incident.pk)


def do_record_analysis(
    incident: Incident,
    *,
    category: str,
    summary: str,
    recommended_actions: list[str],
    suggested_severity: str,
    actor,
    data: dict,
) -> Incident:
    """Store an analysis (from Claude or the rules) and its audit entry (model, latency, tokens)."""
    with transaction.atomic():
        Incident.objects.filter(pk=incident.pk).update(
            category=category, summary=summary, recommended_actions=recommended_actions,
            suggested_severity=suggested_severity, updated_at=timezone.now(),
        )  # fmt: skip
        text = f"Analysis ({actor_name(actor)}): {category}, suggested {suggested_severity}. {summary}"
        record(incident, TimelineKind.ANALYSIS, actor, text, data)
    live.broadcast_on_commit(incident.pk)
    return incident


def do_request_analysis(incident: Incident) -> bool:
    """Run the analysis now (POST /incidents/{id}/analyze). False when no analyser is installed."""
    results = analysis_requested.send_robust(sender=Incident, incident=incident)
    for receiver, result in results:
        if isinstance(result, Exception):
            log.error("analysis receiver %s failed: %r", receiver, result)
            raise ServiceError("The analysis failed; see the logs.")
    return bool(results)


# --- Snooze -------------------------------------------------------------------------------------


def do_snooze(incident: Incident, minutes: int, actor) -> Incident:
    """Snooze an unresolved incident for `minutes` (recorded on the timeline). Resolved: ServiceError."""
    if incident.status not in UNRESOLVED:
        raise ServiceError(f"Cannot snooze a {incident.status} incident.", field="status")
    with transaction.atomic():
        record(incident, TimelineKind.UPDATE, actor, f"Snoozed for {minutes} min", {"snooze_minutes": minutes})
        Incident.objects.filter(pk=incident.pk).update(updated_at=timezone.now())
    live.broadcast_on_commit(incident.pk)
    return incident
