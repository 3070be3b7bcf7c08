"""Every operation that changes incidents. Views, tasks, admin actions and the other apps call these.

The one rule that matters most: an incident is opened only by `get_or_open_incident`, which relies on
the partial unique constraint `incidents_incident_one_unresolved`, so no interleaving of workers can
create two unresolved incidents for the same failing thing.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.dispatch import Signal
from django.utils import timezone

from incidents import bulk, live, noise
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
# Sent after the transaction that opened incidents in bulk (`do_open_many`) commits, once per at most
# BULK_CHUNK of them (kwargs: incidents, a list) instead of `incident_opened` for each: receivers queue
# one task per batch, so a mass outage does not queue thousands of tasks. Whoever receives
# `incident_opened` receives this too.
incidents_opened = Signal()
# Sent after commit when an incident's status changed (kwargs: incident, old, new, actor).
incident_status_changed = Signal()
# Sent after commit when an incident is assigned to someone new (kwargs: incident, user, actor, entry_id).
incident_reassigned = Signal()
# Sent (synchronously) when someone asks for a fresh analysis; the analysing app answers.
analysis_requested = Signal()
# Sent after commit when a part of the system needs a human now (kwargs: incident, reason); the paging app
# pages the on-call. Lets remediation page without importing the paging app.
page_requested = Signal()
# Sent after commit when an incident was snoozed (kwargs: incident, until, actor).
incident_snoozed = Signal()

# The one unresolved major incident of an alert storm: (manual, STORM_SERVICE, "", "", STORM_KEY), so
# the partial unique constraint keeps concurrent openers to one storm incident.
STORM_KEY = "alert-storm"


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
    labels: dict | None = None,
) -> tuple[Incident, bool]:
    """The unresolved incident for this failing thing, opening one if there is none.

    Returns (incident, created). Safe under any concurrency: a losing concurrent insert hits the
    partial unique constraint, and we return the winner's row instead. A thing that recovered less than
    FLAP_WINDOW_SECONDS ago gets its incident back (reopened, not paged again) instead of a new one.
    `labels` (an alert's) are what silences match besides service, source and severity.
    """
    key = {"source": source, "service": service, "component": component, "host": host, "source_key": source_key}
    existing = Incident.objects.filter(status__in=UNRESOLVED, **key).first()
    now = now or timezone.now()
    if existing is not None:
        do_note_failing(existing)
        return existing, False
    reopened = _reopen_recovered(key, actor, now)
    if reopened is not None:
        return reopened, False
    flags = noise.flags_on_open(service=service, source=source, severity=severity, labels=labels or {}, now=now)
    try:
        with transaction.atomic():
            incident = Incident.objects.create(
                **key,
                **flags,
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
    do_after_open(incident, flags, now)
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
    event_count: int = 0  # the events the caller links to it in the same transaction


# Rows per INSERT / IN list: well under SQLite's and psycopg's parameter limits.
BULK_CHUNK = 500
# Rows per set-based INSERT (PostgreSQL): each statement stays well inside the correlation pass's
# statement_timeout however large the outage, or a timed-out pass would be retried forever.
BULK_INSERT = 2000


def _parts(items: list, size: int) -> list[list]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def do_open_many(specs: list[OpenSpec], *, actor, now: datetime | None = None) -> list[Incident]:
    """Bulk `get_or_open_incident`: open an incident for every spec whose failing thing has none unresolved.

    One INSERT ... ON CONFLICT DO NOTHING per BULK_INSERT rows on PostgreSQL (per BULK_CHUNK elsewhere):
    the partial unique constraint `incidents_incident_one_unresolved` stays the guarantee, so a spec whose
    thing already has (or concurrently gets) an unresolved incident is skipped, never duplicated. Then
    their timeline entries the same way, and after commit their live updates (one query per chunk) and
    one `incidents_opened` per chunk.
    Returns only the incidents this call opened.
    """
    if not specs:
        return []
    now = now or timezone.now()
    # The active maintenance windows and silences are read once, not per incident: a mass outage opens fast.
    quiet = noise.ActiveNoise(now)
    rows = [_new_incident(spec, now, _open_flags(quiet, spec)) for spec in specs]
    with transaction.atomic():
        storm, adopted = _storm_for_batch(len(rows), now)
        opened = _insert_incidents(rows, now, parent=storm)
        _insert_created_entries(opened, actor, now)
        StatusCount.objects.add_many([(incident.status, incident.severity) for incident in opened])
        _after_open_many(opened, now)
        if storm is not None:
            _announce_joined(storm, adopted + [incident.pk for incident in opened], now)
    _after_commit_opened(opened)
    return opened


def _open_flags(quiet: noise.ActiveNoise, spec: OpenSpec) -> dict:
    return quiet.flags(service=spec.service, source=spec.source, severity=spec.severity, labels={})


def _after_open_many(opened: list[Incident], now: datetime) -> None:
    """`do_after_open` for a batch: flags noted per incident (the storm was joined at the INSERT)."""
    for incident in opened:
        if incident.in_maintenance or incident.silenced:
            _note_flags(incident, {"in_maintenance": incident.in_maintenance, "silenced": incident.silenced}, now)


def _new_incident(spec: OpenSpec, now: datetime, flags: dict) -> Incident:
    # Checked here: SQLite's INSERT OR IGNORE would silently skip a row that fails the check constraint.
    if spec.severity not in Severity.values:
        raise ServiceError(f"'{spec.severity}' is not a valid severity.", field="severity")
    return Incident(
        source=spec.source, service=spec.service, component=spec.component, host=spec.host,
        source_key=spec.source_key, title=spec.title[:500], severity=spec.severity, description=spec.description,
        detected_at=now, first_seen_at=spec.first_seen_at or now, event_count=spec.event_count, **flags,
    )  # fmt: skip


# What differs between the incidents of one bulk opening; every other column is a new incident's default.
_VARYING = ("uuid", "source", "service", "component", "host", "source_key", "title", "severity", "description",
            "first_seen_at", "event_count", "in_maintenance", "silenced")  # fmt: skip


def _insert_incidents(rows: list[Incident], now: datetime, parent: Incident | None) -> list[Incident]:
    """The rows that went in (the others' failing things have an unresolved incident), with their ids,
    under the storm's major incident `parent` if there is one (set here: not rewritten afterwards).

    PostgreSQL: set-based statements, rows in the order of the constraint's key, so two concurrent
    openings of overlapping sets wait for each other in one order, never in a cycle."""
    for row in rows:
        row.parent_id = parent.pk if parent is not None else None
    if connection.vendor != "postgresql":
        Incident.objects.bulk_create(rows, batch_size=BULK_CHUNK, ignore_conflicts=True)
        return _reread(rows)
    rows = sorted(rows, key=lambda r: (r.source, r.service, r.component, r.host, r.source_key))
    ids: dict[uuid.UUID, int] = {}
    for part in _parts(rows, BULK_INSERT):
        columns = {name: [getattr(row, name) for row in part] for name in _VARYING}
        constants = {"detected_at": now, "parent_id": parent.pk if parent is not None else None}
        returned = bulk.insert_many(
            Incident, columns, constants=constants, ignore_conflicts=True, returning=("uuid", "id")
        )
        ids.update(returned)
    kept = [row for row in rows if row.uuid in ids]
    for row in kept:
        row.pk, row.detected_at = ids[row.uuid], now
        row._state.adding, row._state.db = False, connection.alias
    return sorted(kept, key=lambda row: row.pk)


def _insert_created_entries(opened: list[Incident], actor, now: datetime) -> None:
    if connection.vendor != "postgresql":
        entries = [_created_entry(incident, actor, now) for incident in opened]
        TimelineEntry.objects.bulk_create(entries, batch_size=BULK_CHUNK)
        return
    constants = {"kind": TimelineKind.CREATED, "actor": actor_name(actor), "at": now}
    for part in _parts(opened, BULK_INSERT):
        columns = {"incident_id": [i.pk for i in part], "text": [_created_text(i) for i in part]}
        bulk.insert_many(TimelineEntry, columns, constants=constants)


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


def _created_text(incident: Incident) -> str:
    return f"Incident opened from {incident.source}: {incident.title}"


def _created_entry(incident: Incident, actor, now: datetime) -> TimelineEntry:
    kind, text = TimelineKind.CREATED, _created_text(incident)
    return TimelineEntry(incident=incident, kind=kind, actor=actor_name(actor), text=text, at=now)


def _after_commit_opened(opened: list[Incident]) -> None:
    """What `get_or_open_incident` queues per incident, batched: the live updates of the transaction go
    out together, then one `incidents_opened` per chunk."""
    for incident in opened:
        live.broadcast_on_commit(incident.pk, created=True)

    def send_signals():
        for chunk in _parts(opened, BULK_CHUNK):
            for receiver, result in incidents_opened.send_robust(sender=Incident, incidents=chunk):
                if isinstance(result, Exception):
                    log.error("incident signal receiver %s failed: %r", receiver, result)

    # As in get_or_open_incident: browsers hear of the incident before its follow-ups can update it.
    transaction.on_commit(send_signals)


def do_after_open(incident: Incident, flags: dict, now: datetime) -> None:
    """Every path that opens incidents (one at a time or in bulk) calls this for each new incident, before
    `incident_opened` is sent: the timeline notes maintenance or silence (`flags` from
    `noise.flags_on_open`, stored on the row at creation), and the incident may join an alert storm, which
    paging must see."""
    _note_flags(incident, flags, now)
    _join_storm([incident], now)


def _note_flags(incident: Incident, flags: dict, now: datetime) -> None:
    if flags["in_maintenance"]:
        record(incident, TimelineKind.UPDATE, SYSTEM, f"Opened during maintenance of {incident.service}.", at=now)
    if flags["silenced"]:
        record(incident, TimelineKind.UPDATE, SYSTEM, "Opened while a matching silence is active.", at=now)


def find_unresolved(
    *, source: str, service: str, component: str = "", host: str = "", source_key: str = ""
) -> Incident | None:
    """The unresolved incident of this failing thing, if any (never opens one)."""
    key = {"source": source, "service": service, "component": component, "host": host, "source_key": source_key}
    return Incident.objects.filter(status__in=UNRESOLVED, **key).first()


def resolve_unresolved(*, actor, notes: str, **key) -> Incident | None:
    """Automatic recovery: recover this failing thing's unresolved incident, if there is one."""
    incident = find_unresolved(**key)
    if incident is None:
        return None
    return do_recover(incident, actor=actor, notes=notes)


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
        _cascade_to_children(incident, new, actor, now)
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


# --- Staying quiet: the one paging decision, snooze, flapping, storms -------------------------------


def suppression_for(incident: Incident, now: datetime | None = None, *, storm: bool = True) -> str | None:
    """Why this incident must not page now (storm child, snoozed, maintenance, silenced), or None.

    Every path that notifies about an incident asks this first, and so does auto-remediation. `storm=False`
    for what a person asked for (a reassignment): a storm holds only the automatic per-incident pages."""
    now = now or timezone.now()
    if storm and incident.parent_id is not None:
        return _storm_reason(incident.parent_id)
    if incident.snoozed_until is not None and incident.snoozed_until > now:
        return f"snoozed until {incident.snoozed_until:%Y-%m-%d %H:%M} UTC"
    return noise.why_quiet(incident, now)


def _storm_reason(parent_id: int) -> str:
    return f"part of alert storm #{parent_id}, which is paged for the group"


def do_hold_paging(incident: Incident, reason: str) -> bool:
    """Paging code found `reason` to stay quiet: mark the incident held (the release task pages it once
    the hold lifts) and say why in the timeline, once per hold."""
    held = Incident.objects.filter(pk=incident.pk, paging_held=False).update(paging_held=True)
    if held:
        record(incident, TimelineKind.ESCALATION, "oncall", f"Nobody was paged: {reason}.")
        live.broadcast_on_commit(incident.pk)
    incident.paging_held = True
    return bool(held)


def do_hold_storm_children(incident_ids: list[int], *, actor) -> set[int]:
    """The storm children among these incidents, for paging code that handles a batch: `do_hold_paging`
    for the open ones in bulk (their storm is paged for the group, and nothing else about them needs
    checking), once per hold; one UPDATE, one INSERT of timeline entries and one live batch per chunk.
    Returns the ids of every storm child among them (held now or already, or no longer open)."""
    children: set[int] = set()
    for chunk in _parts(incident_ids, BULK_CHUNK):
        parents = dict(Incident.objects.filter(pk__in=chunk, parent__isnull=False).values_list("pk", "parent_id"))
        children.update(parents)
        with transaction.atomic():
            due = Incident.objects.select_for_update().filter(pk__in=parents, status=Status.OPEN, paging_held=False)
            held = sorted(due.values_list("pk", flat=True))
            Incident.objects.filter(pk__in=held).update(paging_held=True)
            entries = TimelineEntry.objects.bulk_create(
                TimelineEntry(incident_id=pk, kind=TimelineKind.ESCALATION, actor=actor_name(actor),
                              text=f"Nobody was paged: {_storm_reason(parents[pk])}.")
                for pk in held
            )  # fmt: skip
            live.timeline_many_on_commit(entries)
            for pk in held:
                live.broadcast_on_commit(pk)
    return children


def claim_released(incident: Incident) -> bool:
    """The release task takes one held incident whose hold lifted (claimed: a second pass skips it)."""
    return bool(Incident.objects.filter(pk=incident.pk, paging_held=True).update(paging_held=False))


SNOOZE_MAX_MINUTES = 1440


def check_snooze(incident: Incident, minutes) -> int:
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= SNOOZE_MAX_MINUTES:
        raise ServiceError(f"Give a whole number of minutes from 1 to {SNOOZE_MAX_MINUTES}.", field="minutes")
    if incident.status not in UNRESOLVED:
        raise Conflict(f"Incident #{incident.pk} is {incident.status}; only an unresolved one can be snoozed.")
    return minutes


def do_snooze(incident: Incident, minutes: int, *, actor, now: datetime | None = None) -> Incident:
    """No escalation or notification for `minutes`; then, if still unresolved, it pages again."""
    minutes = check_snooze(incident, minutes)
    now = now or timezone.now()
    until = now + timedelta(minutes=minutes)
    with transaction.atomic():
        incident = Incident.objects.select_for_update().get(pk=incident.pk)
        check_snooze(incident, minutes)
        incident.snoozed_until, incident.paging_held = until, True
        incident.save(update_fields=["snoozed_until", "paging_held", "updated_at"])
        record(incident, TimelineKind.UPDATE, actor,
               f"Snoozed for {minutes} min, until {until:%Y-%m-%d %H:%M} UTC; pages again then if unresolved.",
               {"snoozed_until": until.isoformat()}, at=now)  # fmt: skip
    live.broadcast_on_commit(incident.pk)
    _after_commit_signal(incident_snoozed, incident=incident, until=until, actor=actor_name(actor))
    return incident


def do_note_failing(incident: Incident) -> None:
    """The failing thing of an unresolved incident fails again: a flapping incident's stable period restarts."""
    if incident.recovered_at is not None:
        Incident.objects.filter(pk=incident.pk).update(recovered_at=None)
        incident.recovered_at = None


def do_recover(incident: Incident, *, actor, notes: str, now: datetime | None = None) -> Incident:
    """The failing thing is healthy again. Resolve the incident, unless this is its FLAP_THRESHOLD-th
    recovery within FLAP_WINDOW_SECONDS (or it already flaps): then it stays open, marked flapping, until
    `do_resolve_stable` sees FLAP_STABLE_SECONDS of health."""
    now = now or timezone.now()
    with transaction.atomic():
        incident = Incident.objects.select_for_update().get(pk=incident.pk)
        if incident.status not in UNRESOLVED or incident.recovered_at is not None:
            return incident  # resolved, or flapping and already healthy: its stable period runs on
        record(incident, TimelineKind.UPDATE, actor, "Recovered.", {"recovered": True}, at=now)
        since = now - timedelta(seconds=settings.FLAP_WINDOW_SECONDS)
        flaps = incident.timeline.filter(data__recovered=True, at__gte=since).count()
        incident.recovered_at = now
        if not incident.flapping and flaps < settings.FLAP_THRESHOLD:
            incident.save(update_fields=["recovered_at", "updated_at"])
            return do_resolve(incident, actor=actor, notes=notes, now=now)
        if not incident.flapping:
            record(incident, TimelineKind.UPDATE, actor,
                   f"Flapping: recovered {flaps} times within {settings.FLAP_WINDOW_SECONDS} s; stays open until "
                   f"healthy for {settings.FLAP_STABLE_SECONDS} s.", at=now)  # fmt: skip
        incident.flapping = True
        incident.save(update_fields=["recovered_at", "flapping", "updated_at"])
    live.broadcast_on_commit(incident.pk)
    return incident


def _reopen_recovered(key: dict, actor, now: datetime) -> Incident | None:
    """The incident of this failing thing if it recovered by itself within FLAP_WINDOW_SECONDS, reopened
    (a reopening pages nobody: the thing is flapping, and its first page already went out)."""
    since = now - timedelta(seconds=settings.FLAP_WINDOW_SECONDS)
    recent = Incident.objects.filter(status=Status.RESOLVED, recovered_at__gte=since, **key)
    incident = recent.order_by("-recovered_at").first()
    if incident is None or incident.recovered_at is None:
        return None
    seconds = round((now - incident.recovered_at).total_seconds())
    try:
        incident = do_change_status(incident, Status.OPEN, actor=actor, note=f"failing again {seconds} s after "
                                    "recovering", now=now)  # fmt: skip
    except ServiceError:  # a concurrent opener won: use theirs
        return Incident.objects.filter(status__in=UNRESOLVED, **key).first()
    do_note_failing(incident)
    return incident


def do_resolve_stable(now: datetime | None = None) -> list[int]:
    """Resolve flapping incidents that have stayed healthy for FLAP_STABLE_SECONDS (periodic)."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.FLAP_STABLE_SECONDS)
    due = Incident.objects.filter(flapping=True, recovered_at__lte=cutoff, status__in=UNRESOLVED)
    resolved = []
    for incident in due.order_by("recovered_at")[:500]:
        notes = f"Auto-resolved: stable for {settings.FLAP_STABLE_SECONDS} s after flapping."
        if do_resolve(incident, actor=SYSTEM, notes=notes, now=now).status == Status.RESOLVED:
            resolved.append(incident.pk)
    return resolved


def is_storm_parent(incident: Incident) -> bool:
    return incident.source == Source.MANUAL and incident.source_key == STORM_KEY


def _storm_parent() -> Incident | None:
    return Incident.objects.filter(
        status__in=UNRESOLVED, source=Source.MANUAL, service=settings.STORM_SERVICE, component="", host="",
        source_key=STORM_KEY,
    ).first()  # fmt: skip


def _join_storm(opened: list[Incident], now: datetime) -> None:
    """More than STORM_THRESHOLD incidents opened within STORM_WINDOW_SECONDS: they hang under one major
    incident, paged once for the group. A storm lasts while incidents keep joining within the window.
    `opened`: the incident just opened, or a bulk opening's whole batch (all join a raging storm)."""
    opened = [incident for incident in opened if not is_storm_parent(incident)]
    if not opened:
        return
    parent, adopted = _storm_for_batch(0, now)
    if parent is None:
        return
    joining = [incident.pk for incident in opened if incident.pk not in adopted]
    _adopt(parent, joining, now)
    _announce_joined(parent, adopted + joining, now)
    for incident in opened:
        incident.parent_id = parent.pk


def _storm_for_batch(coming: int, now: datetime) -> tuple[Incident | None, list[int]]:
    """The storm that incidents opened now join: the raging one, or a new one when more than
    STORM_THRESHOLD opened within the window, counting `coming` about to open (a bulk opening decides
    before its INSERT, so its rows go in with their parent; should some of them turn out to have an
    unresolved incident already, the storm may group a few fewer than the threshold). Returns (the storm's
    major incident or None, the ids of the earlier incidents it adopted, to announce with the others)."""
    since = now - timedelta(seconds=settings.STORM_WINDOW_SECONDS)
    parent = _storm_parent()
    if parent is not None and (parent.detected_at >= since or parent.children.filter(detected_at__gte=since).exists()):
        return parent, []
    recent = Incident.objects.filter(detected_at__gte=since).exclude(source=Source.MANUAL, source_key=STORM_KEY)
    count = recent.count() + coming
    if count <= settings.STORM_THRESHOLD:
        return None, []
    parent, _ = get_or_open_incident(
        source=Source.MANUAL, service=settings.STORM_SERVICE, source_key=STORM_KEY, severity=Severity.CRITICAL,
        title=f"Alert storm: {count} incidents", actor=SYSTEM, now=now,
        description=f"More than {settings.STORM_THRESHOLD} incidents opened within "
        f"{settings.STORM_WINDOW_SECONDS} s; they are grouped here and paged once.",
    )  # fmt: skip
    if parent.detected_at < since:  # an old storm incident nobody resolved: this new wave pages again
        Incident.objects.filter(pk=parent.pk).update(paging_held=True)
        record(parent, TimelineKind.UPDATE, SYSTEM, "A new wave of incidents joined this storm.", at=now)
    orphans = recent.filter(status__in=UNRESOLVED, parent__isnull=True).exclude(pk=parent.pk)
    adopted = list(orphans.values_list("pk", flat=True))
    _adopt(parent, adopted, now)
    return parent, adopted


def _adopt(parent: Incident, ids: list[int], now: datetime) -> None:
    """Hang these incidents (those without a parent) under the storm's major incident."""
    for part in _parts(ids, BULK_CHUNK):
        Incident.objects.filter(pk__in=part, parent__isnull=True).update(parent=parent, updated_at=now)


def _announce_joined(parent: Incident, ids: list[int], now: datetime) -> None:
    """The storm's title counts its children; its timeline and live pages hear who joined."""
    if not ids:
        return
    total = parent.children.count()
    Incident.objects.filter(pk=parent.pk).update(title=f"Alert storm: {total} incidents", updated_at=now)
    record(parent, TimelineKind.UPDATE, SYSTEM, f"{len(ids)} incident(s) joined the storm ({total} in all).",
           {"children": ids[:100]}, at=now)  # fmt: skip
    for pk in ids:
        live.broadcast_on_commit(pk)
    live.broadcast_on_commit(parent.pk)


def _cascade_to_children(incident: Incident, new: str, actor, now: datetime) -> None:
    """Acknowledging or resolving a storm's major incident does the same to its unresolved children."""
    if new not in (Status.ACKNOWLEDGED, Status.RESOLVED) or not is_storm_parent(incident):
        return
    for child in Incident.objects.filter(parent=incident, status__in=UNRESOLVED).order_by("id"):
        if new == Status.ACKNOWLEDGED and child.status != Status.OPEN:
            continue
        do_change_status(child, new, actor=actor, note=f"with alert storm #{incident.pk}", now=now)
