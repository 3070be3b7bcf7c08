"""Email through Django's SMTP backend, configured by EMAIL_URL or EMAIL_HOST (see settings)."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email

from oncall.transports.base import NotConfigured, Transport, TransportError
from opsassist.lib.redact import log_remote_error, public_error

NOT_CONFIGURED = "email not configured: set EMAIL_URL or EMAIL_HOST"


class EmailTransport(Transport):
    """One message per notification to `config.address`; raises NotConfigured without SMTP settings."""

    @classmethod
    def problem(cls) -> str:
        return "" if settings.EMAIL_CONFIGURED else NOT_CONFIGURED

    def describe(self) -> str:
        return self.config.get("address", "")

    def notify(self, message: dict) -> None:
        if not settings.EMAIL_CONFIGURED:
            raise NotConfigured(NOT_CONFIGURED)
        address = str(self.config.get("address", ""))
        try:
            validate_email(address)
        except ValidationError:
            raise TransportError("no valid email address", permanent=True) from None
        incident = message["incident"]
        subject = " ".join(f"[OpsAssist {incident['priority']}] {incident['title'][:150]}".split())
        try:
            send_mail(subject, _body(message), None, [address])
        except Exception as exc:
            log_remote_error(f"email to {address}", exc)
            raise TransportError(public_error(exc)) from None


def _body(message: dict) -> str:
    incident = message["incident"]
    return (
        f"{message['headline']}\n\n#{incident['id']} {incident['title']}\nService: {incident['service']}\n"
        f"Severity: {incident['severity']} ({incident['priority']})\nStatus: {incident['status']}\n"
        f"{message.get('url', '')}"
    ) + _links(message.get("links") or {})


def _links(links: dict) -> str:
    """The action links, one a line (each works once, without logging in)."""
    labels = {"acknowledge": "Acknowledge", "resolve": "Resolve", "snooze": "Snooze"}
    lines = [f"{label}: {links[key]}" for key, label in labels.items() if links.get(key)]
    return "\n\n" + "\n".join(lines) if lines else ""
