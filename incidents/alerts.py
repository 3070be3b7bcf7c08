"""Alerts from other tools become incidents here, through services' openers and do_recover only.

An alert is kept by (source, fingerprint): Alertmanager's fingerprint, or a PagerDuty / generic
`dedup_key`. Repeated notifications are idempotent: only a change of an alert's state writes a timeline
entry. An incident resolves itself when every alert linked to it has resolved.

Alertmanager's alerts are queued: the webhook stores a whole group in the inbox (`do_queue`) and answers,
and `do_drain` applies the inbox in batches (see incidents/inbox.py). PagerDuty, the generic endpoint and
OnCall's webhook apply one alert at a time (`do_fire`, `do_resolve_alert`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from incidents import live, services
from incidents.choices import UNRESOLVED, AlertStatus, Source, Status, TimelineKind
from incidents.models import Alert, Incident


@dataclass
class AlertIn:
    """One alert as any sender describes it, normalized."""

    source: str
    fingerprint: str
    status: str
    service: str
    severity: str
    summary: str
    labels: dict = field(default_factory=dict)
    annotations: dict = field(default_factory=dict)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    generator_url: str = ""
    component: str = ""
    host: str = ""
    incident_service: str = ""  # the incident's service when it differs (an Alertmanager group's)


def to_json(alert: AlertIn) -> dict:
    """The alert as JSON (for the inbox); `from_json` reads it back."""
    data = dict(vars(alert))  # not asdict(): it deep-copies every label, and the answer waits for this
    for name in ("starts_at", "ends_at"):
        data[name] = data[name].isoformat() if data[name] is not None else None
    return data


def from_json(data: dict) -> AlertIn:
    alert = AlertIn(**data)
    for name in ("starts_at", "ends_at"):
        if (value := getattr(alert, name)) is not None:
            setattr(alert, name, datetime.fromisoformat(value))
    return alert


ALERT_FIELDS = (
    "status",
    "service",
    "severity",
    "summary",
    "labels",
    "annotations",
    "starts_at",
    "ends_at",
    "generator_url",
)


def fields(alert: AlertIn) -> dict:
    """The Alert row's ALERT_FIELDS for this alert."""
    return {
        "status": alert.status, "service": alert.service, "severity": alert.severity,
        "summary": alert.summary[:1024], "labels": alert.labels, "annotations": alert.annotations,
        "starts_at": alert.starts_at, "ends_at": alert.ends_at, "generator_url": alert.generator_url[:2000],
    }  # fmt: skip


def do_fire(alert: AlertIn, *, incident_key: str, actor) -> tuple[Alert, Incident]:
    """A firing alert opens or joins the unresolved incident of `incident_key` (the source_key)."""
    with transaction.atomic():
        row, created = Alert.objects.select_for_update().get_or_create(
            source=alert.source, fingerprint=alert.fingerprint, defaults=fields(alert)
        )
        current = row.incident if row.incident is not None and row.incident.status in UNRESOLVED else None
        newly_firing = created or row.status != AlertStatus.FIRING or current is None
        for name, value in fields(alert).items():
            setattr(row, name, value)
        if current is None:
            current, _ = services.get_or_open_incident(
                source=Source.ALERT, service=alert.incident_service or alert.service, component=alert.component,
                host=alert.host,
                source_key=incident_key, title=alert.summary, severity=alert.severity,
                description=describe(alert), actor=actor, labels=alert.labels,
            )  # fmt: skip
            row.incident = current
        elif newly_firing:
            services.do_note_failing(current)  # a flapping incident's stable period starts again
        row.save()
        if newly_firing:
            services.record(current, TimelineKind.ALERT, actor, f"Alert firing: {alert.summary}",
                            {"fingerprint": alert.fingerprint, "labels": alert.labels})  # fmt: skip
            services.do_raise_severity(current, alert.severity, actor=actor, reason=f"alert {alert.summary}")
        _recount(current)
    return row, current


def do_resolve_alert(alert: AlertIn, *, actor) -> Alert:
    """Mark the alert resolved; resolve its incident when no alert of it still fires."""
    with transaction.atomic():
        row, created = Alert.objects.select_for_update().get_or_create(
            source=alert.source, fingerprint=alert.fingerprint, defaults=fields(alert)
        )
        if not created and row.status == AlertStatus.RESOLVED:
            return row
        row.status = AlertStatus.RESOLVED
        row.ends_at = alert.ends_at or timezone.now()
        row.save(update_fields=["status", "ends_at", "updated_at"])
        incident = row.incident
        if incident is not None and incident.status in UNRESOLVED:
            services.record(incident, TimelineKind.ALERT, actor, f"Alert resolved: {row.summary}",
                            {"fingerprint": row.fingerprint})  # fmt: skip
            if not incident.alerts.filter(status=AlertStatus.FIRING).exists():
                services.do_recover(
                    incident, actor=actor, notes="Auto-resolved: every alert of this incident resolved."
                )
    return row


def do_acknowledge_alert(source: str, fingerprint: str, *, actor) -> Incident | None:
    row = Alert.objects.filter(source=source, fingerprint=fingerprint).select_related("incident").first()
    if row is None or row.incident is None or row.incident.status != Status.OPEN:
        return row.incident if row else None
    return services.do_change_status(row.incident, Status.ACKNOWLEDGED, actor=actor)


def _recount(incident: Incident) -> None:
    counts = Alert.objects.filter(incident=incident).aggregate(n=Count("id"))
    Incident.objects.filter(pk=incident.pk).update(alert_count=counts["n"])
    live.broadcast_on_commit(incident.pk)


def describe(alert: AlertIn) -> str:
    details = alert.annotations.get("description") or ""
    labels = ", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items()))
    return "\n".join(filter(None, [details, f"Labels: {labels}" if labels else "", alert.generator_url]))
