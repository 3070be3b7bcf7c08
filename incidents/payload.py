"""The outward shape of an incident and of a timeline entry: what receivers and live pages get.

Built here, field by field, and not by the REST serializers, so a change to the API never silently
changes what a webhook receiver or a WebSocket client gets. Extending these shapes is fine; renaming or
removing a key is a new payload version (see docs/paging.md).
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.utils import timezone

from incidents.models import Incident, TimelineEntry

# Optional incident flags, included when the model has them (maintenance, silences, flapping, storms).
OPTIONAL_FLAGS = ("in_maintenance", "silenced", "flapping", "snoozed_until", "parent_id")


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a `Z`, the way the API writes datetimes."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def incident_shape(incident: Incident, now: datetime | None = None) -> dict:
    """The incident's list fields (the same keys as the API's incident list)."""
    shape = {
        "id": incident.pk, "uuid": str(incident.uuid), "title": incident.title,
        "description": incident.description, "service": incident.service, "component": incident.component,
        "host": incident.host, "source": incident.source, "source_key": incident.source_key,
        "severity": incident.severity, "priority": incident.priority, "status": incident.status,
        "category": incident.category, "summary": incident.summary,
        "recommended_actions": [str(a) for a in incident.recommended_actions or []],
        "suggested_severity": incident.suggested_severity, "root_cause": incident.root_cause,
        "resolution_notes": incident.resolution_notes, "event_count": incident.event_count,
        "alert_count": incident.alert_count,
        "assigned_to": incident.assigned_to.username if incident.assigned_to else None,
        "detected_at": iso(incident.detected_at), "acknowledged_at": iso(incident.acknowledged_at),
        "resolved_at": iso(incident.resolved_at), "closed_at": iso(incident.closed_at),
        "updated_at": iso(incident.updated_at),
        "time_to_acknowledge_seconds": incident.ack_seconds, "time_to_resolve_seconds": incident.resolve_seconds,
        "duration_seconds": round(incident.duration_seconds(now or timezone.now()), 3),
    }  # fmt: skip
    for flag in OPTIONAL_FLAGS:
        if hasattr(incident, flag):
            value = incident.snoozed_until_now(now) if flag == "snoozed_until" else getattr(incident, flag)
            shape[flag] = iso(value) if isinstance(value, datetime) else value
    return shape


def timeline_shape(entry: TimelineEntry) -> dict:
    """One timeline entry, as the incident page lists it."""
    return {"at": iso(entry.at), "kind": entry.kind, "actor": entry.actor, "text": entry.text, "data": entry.data}


def live_incident_message(kind: str, incident: Incident) -> dict:
    """`incident.created` / `incident.updated` for `/ws/incidents/`."""
    return {"type": kind, "incident": incident_shape(incident)}


def live_timeline_message(entry: TimelineEntry) -> dict:
    """`timeline.added` for `/ws/incidents/`: one new line on an incident's timeline."""
    return {"type": "timeline.added", "incident_id": entry.incident_id, "entry": timeline_shape(entry)}
