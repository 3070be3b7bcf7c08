"""Notification transports, one per kind. A new kind is one module and one line here."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from oncall.transports.base import Transport

TRANSPORTS: dict[str, tuple[str, str]] = {
    "webhook": ("Webhook (JSON, HMAC-signed)", "oncall.transports.webhook.WebhookTransport"),
    "slack": ("Slack-compatible incoming webhook", "oncall.transports.slack.SlackTransport"),
    "slack_app": ("Slack app (buttons, updated in place)", "oncall.transports.slack_app.SlackAppTransport"),
    "email": ("Email", "oncall.transports.email.EmailTransport"),
    "log": ("Log", "oncall.transports.log.LogTransport"),
    # Through apprise (oncall/transports/apprise.py): typed fields, the apprise URL is built server-side.
    "ntfy": ("ntfy push", "oncall.transports.apprise.NtfyTransport"),
    "gotify": ("Gotify push", "oncall.transports.apprise.GotifyTransport"),
    "pushover": ("Pushover", "oncall.transports.apprise.PushoverTransport"),
    "telegram": ("Telegram", "oncall.transports.apprise.TelegramTransport"),
    "discord": ("Discord webhook", "oncall.transports.apprise.DiscordTransport"),
    "msteams": ("Microsoft Teams (Workflows webhook)", "oncall.transports.apprise.TeamsTransport"),
    "matrix": ("Matrix room", "oncall.transports.apprise.MatrixTransport"),
    "sms": ("SMS through an HTTP gateway", "oncall.transports.apprise.SmsGatewayTransport"),
}
KIND_CHOICES = [(kind, label) for kind, (label, _) in TRANSPORTS.items()]

_loaded: dict[str, type[Transport]] = {}


def transport_class(kind: str) -> type[Transport]:
    if kind not in _loaded:
        module, _, name = TRANSPORTS[kind][1].rpartition(".")
        _loaded[kind] = getattr(import_module(module), name)
    return _loaded[kind]


def transport_for(kind: str, config: dict) -> Transport:
    return transport_class(kind)(config or {})
