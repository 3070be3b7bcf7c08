"""Notification transports, one per kind. A new kind is one module and one line here."""

from __future__ import annotations

from importlib import import_module

TRANSPORTS: dict[str, tuple[str, str]] = {
    "webhook": ("Webhook (JSON, HMAC-signed)", "oncall.transports.webhook.WebhookTransport"),
    "slack": ("Slack-compatible incoming webhook", "oncall.transports.slack.SlackTransport"),
    "slack_app": ("Slack app (buttons, updated in place)", "oncall.transports.slack_app.SlackAppTransport"),
    "email": ("Email", "oncall.transports.email.EmailTransport"),
    "log": ("Log", "oncall.transports.log.LogTransport"),
}
KIND_CHOICES = [(kind, label) for kind, (label, _) in TRANSPORTS.items()]

_loaded: dict[str, type] = {}


def transport_class(kind: str) -> type:
    if kind not in _loaded:
        module, _, name = TRANSPORTS[kind][1].rpartition(".")
        _loaded[kind] = getattr(import_module(module), name)
    return _loaded[kind]


def transport_for(kind: str, config: dict):
    return transport_class(kind)(config or {})
