"""Host agents' heartbeats: component incidents per (host, component), and silent hosts."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from incidents import services as incident_services
from incidents.choices import Severity, Source
from monitoring.models import Host

SEVERITY_BY_STATUS = {"stuck": Severity.HIGH, "stopped": Severity.CRITICAL}
HOST_COMPONENT = "heartbeat"  # the component of a silent host's incident


def _key(host: str, component: str) -> dict:
    return {"source": Source.HEARTBEAT, "service": host, "component": component, "host": host}


def do_heartbeat(host: str, components: list[dict], metrics: dict | None, now: datetime | None = None) -> dict:
    """Record a heartbeat; open/raise/resolve component incidents; a silent host that speaks recovers."""
    now = now or timezone.now()
    with transaction.atomic():
        record, _ = Host.objects.select_for_update().get_or_create(name=host, defaults={"last_seen_at": now})
        was_silent = record.silent
        record.last_seen_at = now
        record.silent = False
        record.metrics = metrics or {}
        record.components = {c["name"]: {"status": c["status"], "detail": c.get("detail", "")} for c in components}
        record.save()
    opened = []
    if was_silent:
        incident_services.resolve_unresolved(
            actor=f"agent:{host}", notes=f"Auto-resolved: {host} sends heartbeats again.", **_key(host, HOST_COMPONENT)
        )
    for component in components:
        incident = _apply_component(host, component)
        if incident is not None:
            opened.append(incident.pk)
    return {"host": host, "components": len(components), "open_incident_ids": opened}


def _apply_component(host: str, component: dict):
    name, status, detail = component["name"], component["status"], component.get("detail") or ""
    actor = f"agent:{host}"
    if status == "active":
        incident_services.resolve_unresolved(
            actor=actor, notes=f"Auto-resolved: {name} on {host} is active again.", **_key(host, name)
        )
        return None
    severity = SEVERITY_BY_STATUS[status]
    incident, created = incident_services.get_or_open_incident(
        title=f"{name} {status} on {host}" + (f": {detail[:200]}" if detail else ""),
        severity=severity,
        description=f"The host agent on {host} reports {name} as {status}. {detail}".strip(),
        actor=actor,
        **_key(host, name),
    )
    if not created:
        incident_services.do_raise_severity(incident, severity, actor=actor, reason=f"{name} now {status}")
    return incident


def do_check_silent_hosts(now: datetime) -> list[str]:
    """Hosts silent for HEARTBEAT_TIMEOUT_SECONDS: mark them and open a critical incident each."""
    cutoff = now - timedelta(seconds=settings.HEARTBEAT_TIMEOUT_SECONDS)
    newly_silent = []
    for host in Host.objects.filter(silent=False, last_seen_at__lt=cutoff):
        if not Host.objects.filter(pk=host.pk, silent=False).update(silent=True):
            continue  # another pass claimed it
        silence = int((now - host.last_seen_at).total_seconds())
        incident_services.get_or_open_incident(
            title=f"{host.name} is silent: no heartbeat for {silence} s",
            severity=Severity.CRITICAL,
            description=f"The host agent on {host.name} last reported at {host.last_seen_at:%Y-%m-%d %H:%M:%S} UTC.",
            actor="heartbeat-watch",
            **_key(host.name, HOST_COMPONENT),
        )
        newly_silent.append(host.name)
    return newly_silent
