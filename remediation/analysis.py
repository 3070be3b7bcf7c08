"""Analysis of an incident: Claude when ANTHROPIC_API_KEY is set, else (and on any failure) the rules."""

from __future__ import annotations

import logging
import time

from django.conf import settings

from incidents import services as incident_services
from incidents.choices import TimelineKind
from incidents.models import Incident
from monitoring.models import Monitor
from remediation import ai, rules
from remediation.actions import allowed_actions

log = logging.getLogger(__name__)

SEVERITY_BY_PRIORITY = {"P1": "critical", "P2": "high", "P3": "medium"}


def monitor_of(incident: Incident) -> Monitor | None:
    if incident.source != "health_check":
        return None
    return Monitor.objects.filter(name=incident.component).first()


def context_of(incident: Incident, monitor: Monitor | None) -> dict:
    """What the model (or the rules) may look at. Event and alert texts are data, never instructions."""
    events = list(incident.events.order_by("-timestamp").values("level", "message", "host", "timestamp")[:20])
    alerts = list(incident.alerts.values("summary", "severity", "status", "labels")[:20])
    return {
        "title": incident.title, "service": incident.service, "component": incident.component,
        "host": incident.host, "source": incident.source, "severity": incident.severity,
        "event_count": incident.event_count, "events": events, "alerts": alerts,
        "monitor": {"kind": monitor.kind, "health": monitor.health, "status": monitor.status,
                    "metrics": monitor.metrics, "last_error": monitor.last_error} if monitor else None,
    }  # fmt: skip


def rules_triage(incident: Incident, context: dict, monitor: Monitor | None) -> rules.Triage:
    messages = [e["message"] for e in context["events"]] + [a["summary"] for a in context["alerts"]]
    if monitor and monitor.last_error:
        messages.append(monitor.last_error)
    return rules.triage(incident.service, incident.title, messages, monitor.metrics if monitor else {},
                        [e["level"] for e in context["events"]], monitor.kind if monitor else "")  # fmt: skip


def rules_action(triage: rules.Triage, monitor: Monitor | None, allowed: list[str]) -> tuple[str, str]:
    """The rules' remediation choice: the first allowed action that matches the metric facts."""
    if monitor is None or not allowed:
        return "none", "No automated action exists for this incident; follow the recommended actions."
    metrics = monitor.metrics or {}
    if "kill_idle_connections" in allowed and metrics.get("idle_connections", 0) > 8:
        return "kill_idle_connections", (f"{metrics['idle_connections']} idle connections exceed the healthy "
                                         "maximum of 8; terminating idle sessions frees the pool.")  # fmt: skip
    if "clear_redis_cache" in allowed and metrics.get("memory_percent", 0) > 30:
        return "clear_redis_cache", (f"Memory is at {metrics['memory_percent']}% of the limit; clearing the "
                                     "cache keys frees memory without a restart.")  # fmt: skip
    return "none", "The metrics do not point at an allowed action; a human should look first."


def do_analyze(incident: Incident) -> dict:
    """Analyse, store category/summary/actions/suggested severity, and return the proposal
    {"action", "rationale", "proposed_by", "model"} for a remediation run."""
    monitor = monitor_of(incident)
    allowed = allowed_actions(monitor)
    context = context_of(incident, monitor)
    if settings.ANTHROPIC_API_KEY:
        try:
            result = ai.analyze(context, allowed)
        except ai.AIError as exc:
            verb = "gave an answer we refused" if exc.rejected else "failed"
            incident_services.record(incident, TimelineKind.ANALYSIS, "ai",
                                     f"Claude analysis {verb} ({exc}); the built-in rules decided instead.",
                                     {"error": str(exc), "rejected": exc.rejected})  # fmt: skip
        else:
            incident_services.do_record_analysis(
                incident, category=result.category, summary=result.summary,
                recommended_actions=result.recommended_actions,
                suggested_severity=SEVERITY_BY_PRIORITY[result.suggested_priority], actor="ai",
                data={"model": result.model, "latency_ms": result.latency_ms, "input_tokens": result.input_tokens,
                      "output_tokens": result.output_tokens, "priority": result.suggested_priority},
            )  # fmt: skip
            return {"action": result.action, "rationale": result.rationale, "proposed_by": "ai", "model": result.model}
    started = time.perf_counter()
    triage = rules_triage(incident, context, monitor)
    action, rationale = rules_action(triage, monitor, allowed)
    incident_services.do_record_analysis(
        incident, category=triage.category, summary=triage.summary, recommended_actions=triage.recommended_actions,
        suggested_severity=SEVERITY_BY_PRIORITY[triage.suggested_priority], actor="rules",
        data={"model": "rules", "latency_ms": round((time.perf_counter() - started) * 1000, 2),
              "priority": triage.suggested_priority, "facts": triage.facts},
    )  # fmt: skip
    return {"action": action, "rationale": rationale, "proposed_by": "rules", "model": "rules"}
