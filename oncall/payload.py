"""Everything that leaves the system about an incident: the webhook body, chat text, email subject and
body. Built from `incidents.payload` (never from the REST serializers), versioned: see docs/paging.md.

A transport gets one *message* (`message_for`) and renders it with the function for its medium.
"""

from __future__ import annotations

from incidents.models import Incident
from incidents.payload import incident_shape
from oncall.links import action_links

VERSION = 1

# Notification event → the public event name of the webhook body.
EVENTS = {
    "new": "incident.opened",
    "escalation": "incident.escalated",
    "acknowledge": "incident.acknowledged",
    "resolve": "incident.resolved",
    "reassign": "incident.reassigned",
    "snooze": "incident.snoozed",
}
HEADLINES = {
    "new": "New incident",
    "escalation": "Escalated incident",
    "acknowledge": "Incident acknowledged",
    "resolve": "Incident resolved",
    "reassign": "Incident reassigned to you",
    "snooze": "Incident snoozed",
}


def message_for(incident: Incident, event: str, recipient: str = "", link_recipient=None) -> dict:
    """The one message every transport renders: version, public event, incident shape, links (acting as
    `link_recipient`: a User or Channel; else as `recipient`)."""
    links = action_links(incident, recipient if link_recipient is None else link_recipient)
    return {
        "version": VERSION,
        "event": EVENTS.get(event, f"incident.{event}"),
        "headline": HEADLINES.get(event, event),
        "recipient": recipient,
        "incident": incident_shape(incident),
        "links": links,
        "url": links.get("open", ""),
    }


def webhook_body(message: dict) -> dict:
    """The versioned webhook body (signed by the webhook transport); a test message may carry fewer keys."""
    return {key: message[key] for key in ("version", "event", "incident", "links") if key in message}


def one_line(text: str, limit: int = 150) -> str:
    """No line breaks or runs of spaces (a title must not forge extra header or chat lines)."""
    return " ".join(str(text).split())[:limit]


def title_text(message: dict) -> str:
    incident = message["incident"]
    return one_line(f"[{incident['priority']}] #{incident['id']} {incident['title']}")


def chat_text(message: dict) -> str:
    """Plain text for push, chat and SMS: headline, what, where, and the links."""
    incident = message["incident"]
    lines = [
        f"{message['headline']}: #{incident['id']} {one_line(incident['title'], 300)}",
        f"{incident['service']} · {incident['severity']} ({incident['priority']}) · {incident['status']}",
    ]
    lines += [f"{action.capitalize()}: {url}" for action, url in message["links"].items()]
    return "\n".join(lines)


def email_subject(message: dict) -> str:
    incident = message["incident"]
    return one_line(f"[OpsAssist {incident['priority']}] {incident['title']}")


def email_body(message: dict) -> str:
    incident = message["incident"]
    lines = [
        message["headline"], "", f"#{incident['id']} {incident['title']}", f"Service: {incident['service']}",
        f"Severity: {incident['severity']} ({incident['priority']})", f"Status: {incident['status']}", "",
    ]  # fmt: skip
    lines += [f"{action.capitalize()}: {url}" for action, url in message["links"].items()]
    return "\n".join(lines)
