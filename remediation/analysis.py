"""Analysis of an incident: Claude when ANTHROPIC_API_KEY is set, else (and on any failure) the rules."""

from __future__ import annotations

import logging
import time

from django.conf import settings

from incidents import services as incident_services
from incidents.choices import TimelineKind
from incidents.models import Incident
from monitoring.checkers import get_checker
from monitoring.models import Monitor
from remediation import ai, rules
from remediation.actions import NONE, action_class, action_classes, allowed_actions

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


def signals_of(monitor: Monitor | None) -> list[rules.Signal]:
    """The monitor's metric facts, as its kind's actions declare them (fixes_metric, category, fact)."""
    if monitor is None:
        return []
    metrics = monitor.metrics or {}
    signals = []
    for cls in action_classes(monitor.kind):
        if cls.fixes_metric is None:
            continue
        value = metrics.get(cls.fixes_metric, "?")
        threshold = threshold_for(monitor, cls.fixes_metric)
        critical = isinstance(value, (int, float)) and cls.critical_above is not None and value > cls.critical_above
        fact = cls.fact.format(metric=cls.fixes_metric, value=value, threshold=f"{threshold:g}" if threshold else "?")
        signals.append(rules.Signal(cls.category, fact, critical))
    return signals


def threshold_for(monitor: Monitor, metric: str) -> float | None:
    """The checker's healthy maximum for this metric (its key metric), if it declares one."""
    key = get_checker(monitor).key_metric
    return key[1] if key and key[0] == metric else None


def rules_triage(incident: Incident, context: dict, monitor: Monitor | None) -> rules.Triage:
    messages = [e["message"] for e in context["events"]] + [a["summary"] for a in context["alerts"]]
    if monitor and monitor.last_error:
        messages.append(monitor.last_error)
    return rules.triage(incident.service, incident.title, messages, signals_of(monitor),
                        [e["level"] for e in context["events"]])  # fmt: skip


def rules_action(monitor: Monitor | None, allowed: list[str]) -> tuple[str, str]:
    """The rules' remediation choice: the first allowed action whose metric is over its threshold."""
    if monitor is None or not allowed:
        return NONE, "No automated action exists for this incident; follow the recommended actions."
    metrics = monitor.metrics or {}
    for name in allowed:
        cls = action_class(monitor.kind, name)
        value = metrics.get(cls.fixes_metric) if cls.fixes_metric else None
        threshold = threshold_for(monitor, cls.fixes_metric) if cls.fixes_metric else None
        if isinstance(value, (int, float)) and threshold is not None and value > threshold:
            fact = cls.fact.format(metric=cls.fixes_metric, value=value, threshold=f"{threshold:g}")
            return name, f"{fact[:1].upper()}{fact[1:]}: over the threshold; {cls.label.lower()} brings it back."
    return NONE, "The metrics do not point at an allowed action; a human should look first."


def do_analyze(incident: Incident) -> dict:
    """Analyse, store category/summary/actions/suggested severity and the proposal in the analysis' timeline
    entry (`data.proposal`, which a remediation proposal reuses), and return the proposal
    {"action", "rationale", "proposed_by", "model"}."""
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
            proposal = {"action": result.action, "rationale": result.rationale, "proposed_by": "ai",
                        "model": result.model}  # fmt: skip
            incident_services.do_record_analysis(
                incident, category=result.category, summary=result.summary,
                recommended_actions=result.recommended_actions,
                suggested_severity=SEVERITY_BY_PRIORITY[result.suggested_priority], actor="ai",
                data={"model": result.model, "latency_ms": result.latency_ms, "input_tokens": result.input_tokens,
                      "output_tokens": result.output_tokens, "priority": result.suggested_priority,
                      "proposal": proposal},
            )  # fmt: skip
            return proposal
    started = time.perf_counter()
    triage = rules_triage(incident, context, monitor)
    action, rationale = rules_action(monitor, allowed)
    proposal = {"action": action, "rationale": rationale, "proposed_by": "rules", "model": "rules"}
    incident_services.do_record_analysis(
        incident, category=triage.category, summary=triage.summary, recommended_actions=triage.recommended_actions,
        suggested_severity=SEVERITY_BY_PRIORITY[triage.suggested_priority], actor="rules",
        data={"model": "rules", "latency_ms": round((time.perf_counter() - started) * 1000, 2),
              "priority": triage.suggested_priority, "facts": triage.facts, "proposal": proposal},
    )  # fmt: skip
    return proposal


def stored_proposal(incident: Incident) -> dict | None:
    """The proposal of the incident's latest stored analysis, or None when it has not been analysed yet."""
    entry = (
        incident.timeline.filter(kind=TimelineKind.ANALYSIS, data__has_key="proposal").order_by("-at", "-id").first()
    )
    proposal = entry.data.get("proposal") if entry else None
    if not isinstance(proposal, dict) or not isinstance(proposal.get("action"), str):
        return None
    return {key: str(proposal.get(key, "")) for key in ("action", "rationale", "proposed_by", "model")}
