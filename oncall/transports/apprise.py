"""Push, chat and SMS through apprise (https://github.com/caronc/apprise), one kind per service.

A user fills typed fields (an ntfy server and topic, a Pushover user key and token); the apprise URL is
built here, server-side, so nobody ever types a raw apprise URL (whose schemes include `file://`,
`windows://` and a hundred more). Only the schemes in `ALLOWED_SCHEMES` are ever handed to apprise.

Outbound policy: every URL a user gives passes the write-time check (the channel and contact
serializers). At send time apprise connects through `requests`/urllib3; while a delivery runs, each new
connection of that thread is made by `_checked_connection`, which resolves the host, checks every address
and connects to exactly a checked one, so a name that re-resolves into the deny list (DNS rebinding) and a
redirect to a denied address are refused too.

Proxies: apprise's plugins call `requests.post()`, whose session reads HTTP_PROXY/HTTPS_PROXY/ALL_PROXY
from the environment for every request and redirect; through a proxy the check above sees only the proxy,
and the proxy resolves and reaches the destination itself. So while a delivery runs, requests' adapter
sends without those proxies (`_send_without_proxy`): straight to the checked address, as the httpx clients
do (`outbound.http_client`, trust_env=False). `APPRISE_USE_ENV_PROXY=True` (an operator's choice, for
networks whose only way out is a proxy) keeps the environment's proxy; the proxy's own address must then
pass the policy, and the proxy has to restrict destinations (docs/security.md).
"""

from __future__ import annotations

import functools
import importlib
import logging
import re
import threading
from contextlib import contextmanager
from urllib.parse import parse_qsl, quote, urlsplit

import requests.adapters
import urllib3.util.connection as urllib3_connection
from django.conf import settings
from rest_framework import serializers

from oncall.payload import chat_text, title_text
from oncall.transports.base import Transport, TransportError, mask_webhook_url
from opsassist.lib import outbound
from opsassist.lib.kindconfig import KindConfig, SecretField, SecretUrlField
from opsassist.lib.redact import log_remote_error

ALLOWED_SCHEMES = frozenset(
    {"ntfy", "ntfys", "gotify", "gotifys", "pover", "tgram", "discord", "workflows", "matrix", "matrixs",
     "json", "jsons"}
)  # fmt: skip
HTTP_STATUS_IN_LOG = re.compile(r"error=(\d{3})")


@functools.cache
def _apprise():
    """apprise and its asset, loaded on the first delivery: its hundred plugins cost a web process ~15 MB
    that only the workers (and a "send test") need. The asset keeps nothing on disk and loads no plugins
    from paths."""
    module = importlib.import_module("apprise")
    return module, module.AppriseAsset(storage_mode="memory", plugin_paths=[])


_guard = threading.local()
_plain_create_connection = urllib3_connection.create_connection


def _checked_connection(address, timeout=urllib3_connection._DEFAULT_TIMEOUT, source_address=None, socket_options=None):
    """urllib3's create_connection; inside `guarded_connections()`, only to checked addresses."""
    if not getattr(_guard, "active", False):
        return _plain_create_connection(address, timeout, source_address, socket_options)
    host, port = address
    error: OSError = OSError(f"{host} resolved to no address")
    for checked in outbound.checked_addresses(host, port):  # raises OutboundRefused
        try:
            return _plain_create_connection((checked, port), timeout, source_address, socket_options)
        except OSError as exc:
            error = exc
    raise error


urllib3_connection.create_connection = _checked_connection
_plain_send = requests.adapters.HTTPAdapter.send


def _send_without_proxy(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
    """requests' HTTPAdapter.send; inside `guarded_connections()`, with no proxy unless APPRISE_USE_ENV_PROXY
    (requests has filled `proxies` from the environment by now, for the first request and each redirect)."""
    if getattr(_guard, "active", False) and not settings.APPRISE_USE_ENV_PROXY:
        proxies = None
    return _plain_send(self, request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies)


requests.adapters.HTTPAdapter.send = _send_without_proxy  # type: ignore[method-assign]


@contextmanager
def guarded_connections():
    """Every connection urllib3 opens in this thread meanwhile passes the outbound policy."""
    _guard.active = True
    try:
        yield
    finally:
        _guard.active = False


def server_url(**kwargs) -> serializers.URLField:
    """The http(s) base URL of a self-hosted service (no credentials, query or fragment)."""
    return serializers.URLField(max_length=500, validators=[_plain_server], **kwargs)


def _plain_server(value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https"):
        raise serializers.ValidationError("Enter an http:// or https:// URL.")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise serializers.ValidationError("Give only scheme, host, port and path (no credentials or query).")


def _server(url: str) -> tuple[bool, str, int | None, str]:
    """(secure, host, port, path without trailing slash) of a server URL."""
    parts = urlsplit(url)
    return parts.scheme == "https", parts.hostname or "", parts.port, parts.path.rstrip("/")


def _netloc(host: str, port: int | None) -> str:
    host = f"[{host}]" if ":" in host else host
    return host + (f":{port}" if port else "")


def _q(value: str) -> str:
    return quote(str(value), safe="")


class AppriseTransport(Transport):
    """One notification through apprise: `apprise_url()` builds the URL from the typed config."""

    label = "apprise"

    def apprise_url(self) -> str:
        raise NotImplementedError

    def user_host(self) -> tuple[str, int | None] | None:
        """The host the user chose (checked at send time); None for a service at a fixed address."""
        return None

    def describe(self) -> str:
        return self.label

    def notify(self, message: dict) -> None:
        url = self._with_timeouts(self.apprise_url())
        if url.split("://", 1)[0] not in ALLOWED_SCHEMES:
            raise TransportError("scheme not allowed", permanent=True)
        self._check_destination()
        apprise, asset = _apprise()
        plugin = apprise.Apprise.instantiate(url, asset=asset, suppress_exceptions=True)
        if plugin is None:
            raise TransportError("invalid settings", permanent=True)
        with apprise.LogCapture(level=logging.INFO) as captured, guarded_connections():
            try:
                # TEXT: apprise escapes it for services that render HTML or Markdown (titles come from alerts).
                ok = plugin.notify(
                    body=chat_text(message), title=title_text(message), body_format=apprise.NotifyFormat.TEXT
                )
            except outbound.OutboundRefused as exc:  # a redirect or a re-resolved name
                raise TransportError(exc.message, permanent=True) from None
        if not ok:
            raise self._failure(captured.getvalue())

    def _with_timeouts(self, url: str) -> str:
        timeout = settings.HTTP_CLIENT_TIMEOUT
        return f"{url}{'&' if '?' in url else '?'}cto={timeout}&rto={timeout}"

    def _check_destination(self) -> None:
        where = self.user_host()
        if where is None:
            return
        try:
            outbound.checked_addresses(*where)
        except outbound.OutboundRefused as exc:
            raise TransportError(exc.message, permanent=True) from None
        except OSError:
            raise TransportError("name does not resolve") from None

    def _failure(self, log_text: str) -> TransportError:
        """The error class for the delivery log (an HTTP status, or "not delivered"); apprise's own log,
        which may quote the receiver, goes to the server log only."""
        log_remote_error(f"delivery to {self.describe()}", log_text or "apprise reported failure")
        status = HTTP_STATUS_IN_LOG.search(log_text)
        if status:
            code = int(status.group(1))
            return TransportError(f"HTTP {code}", permanent=400 <= code < 500 and code not in (408, 429))
        if "connection" in log_text.lower() or "timeout" in log_text.lower():
            return TransportError("connection error")
        return TransportError("not delivered")


# --- Kinds --------------------------------------------------------------------------------------------


class NtfyConfig(KindConfig):
    server = server_url(default="https://ntfy.sh")
    topic = serializers.RegexField(r"^[A-Za-z0-9_-]{1,64}$", max_length=64)
    token = SecretField(max_length=200, required=False, allow_blank=True)


class NtfyTransport(AppriseTransport):
    """ntfy (ntfy.sh or self-hosted): a push to every phone subscribed to the topic."""

    Config = NtfyConfig
    label = "ntfy"

    def apprise_url(self) -> str:
        secure, host, port, _ = _server(self.conf.server)
        url = f"{'ntfys' if secure else 'ntfy'}://{_netloc(host, port)}/{_q(self.conf.topic)}?image=no"
        return url + (f"&auth=token&token={_q(self.conf.token)}" if self.conf.token else "")

    def user_host(self):
        _, host, port, _ = _server(self.conf.server)
        return host, port

    def describe(self) -> str:
        return f"ntfy:{urlsplit(self.conf.server).netloc}/{self.conf.topic}"


class GotifyConfig(KindConfig):
    server = server_url()
    token = SecretField(max_length=200)


class GotifyTransport(AppriseTransport):
    """Gotify (self-hosted push): the application token of the user's Gotify app."""

    Config = GotifyConfig
    label = "gotify"

    def apprise_url(self) -> str:
        secure, host, port, path = _server(self.conf.server)
        return f"{'gotifys' if secure else 'gotify'}://{_netloc(host, port)}{path}/{_q(self.conf.token)}"

    def user_host(self):
        _, host, port, _ = _server(self.conf.server)
        return host, port

    def describe(self) -> str:
        return f"gotify:{urlsplit(self.conf.server).netloc}"


class PushoverConfig(KindConfig):
    user_key = SecretField(max_length=30, min_length=30)
    token = SecretField(max_length=30, min_length=30)

    def validate(self, attrs):
        for key in ("user_key", "token"):
            if key in attrs and not re.fullmatch(r"[A-Za-z0-9]{30}", attrs[key]):
                raise serializers.ValidationError({key: ["30 letters and digits."]})
        return attrs


class PushoverTransport(AppriseTransport):
    """Pushover: the user's key and an application token (api.pushover.net)."""

    Config = PushoverConfig
    label = "pushover"

    def apprise_url(self) -> str:
        return f"pover://{_q(self.conf.user_key)}@{_q(self.conf.token)}"


class TelegramConfig(KindConfig):
    bot_token = SecretField(max_length=100)
    chat_id = serializers.RegexField(r"^(-?\d{1,20}|@[A-Za-z0-9_]{5,32})$", max_length=40)

    def validate(self, attrs):
        if "bot_token" in attrs and not re.fullmatch(r"\d{1,20}:[A-Za-z0-9_-]{20,80}", attrs["bot_token"]):
            raise serializers.ValidationError({"bot_token": ["A bot token from @BotFather (123456:ABC...)."]})
        return attrs


class TelegramTransport(AppriseTransport):
    """Telegram: a bot writes to the user's chat (api.telegram.org)."""

    Config = TelegramConfig
    label = "telegram"

    def apprise_url(self) -> str:
        return f"tgram://{self.conf.bot_token}/{_q(self.conf.chat_id)}"

    def describe(self) -> str:
        return f"telegram:{self.conf.chat_id}"


DISCORD_WEBHOOK = re.compile(
    r"^https://(?:discord\.com|discordapp\.com)/api/webhooks/(\d{10,30})/([A-Za-z0-9_-]{20,100})/?$"
)


class DiscordConfig(KindConfig):
    webhook_url = SecretUrlField(mask=mask_webhook_url)

    def validate(self, attrs):
        if "webhook_url" in attrs and not DISCORD_WEBHOOK.match(attrs["webhook_url"]):
            raise serializers.ValidationError(
                {"webhook_url": ["A Discord webhook URL (https://discord.com/api/webhooks/...)."]}
            )
        return attrs


class DiscordTransport(AppriseTransport):
    """Discord: a channel's webhook URL."""

    Config = DiscordConfig
    label = "discord"

    def apprise_url(self) -> str:
        found = DISCORD_WEBHOOK.match(self.conf.webhook_url or "")
        if found is None:
            raise TransportError("no valid webhook_url configured", permanent=True)
        return f"discord://{found.group(1)}/{found.group(2)}?image=no&avatar=no"


TEAMS_WORKFLOW = re.compile(
    r"^https://(?P<host>[A-Za-z0-9_.-]+)(?::(?P<port>\d{1,5}))?(?:/powerautomate/automations/direct(?:/cu/\d+)?)?"
    r"/workflows/(?P<workflow>[A-Za-z0-9_-]+)/triggers/manual/paths/invoke/?\?(?P<query>[^#]+)$"
)


class TeamsConfig(KindConfig):
    workflow_url = SecretUrlField(mask=mask_webhook_url)

    def validate(self, attrs):
        if "workflow_url" in attrs and not TEAMS_WORKFLOW.match(attrs["workflow_url"]):
            raise serializers.ValidationError(
                {
                    "workflow_url": [
                        "The HTTP POST URL of a Teams 'post to a channel when a webhook request is received' workflow."
                    ]
                }
            )
        return attrs


class TeamsTransport(AppriseTransport):
    """Microsoft Teams: a Power Automate / Workflows webhook (Office 365 connectors are retired)."""

    Config = TeamsConfig
    label = "msteams"

    def apprise_url(self) -> str:
        found = TEAMS_WORKFLOW.match(self.conf.workflow_url or "")
        if found is None:
            raise TransportError("no valid workflow_url configured", permanent=True)
        query = dict(pair.split("=", 1) for pair in found.group("query").split("&") if "=" in pair)
        signature = query.get("sig", "")
        netloc = _netloc(found.group("host"), int(found.group("port")) if found.group("port") else None)
        return f"workflows://{netloc}/{_q(found.group('workflow'))}/{_q(signature)}?image=no"

    def user_host(self):
        found = TEAMS_WORKFLOW.match(self.conf.workflow_url or "")
        return (found.group("host"), int(found.group("port") or 443)) if found else None

    def describe(self) -> str:
        return f"msteams:{mask_webhook_url(self.conf.workflow_url or '')}"


class MatrixConfig(KindConfig):
    server = server_url()
    access_token = SecretField(max_length=500)
    room = serializers.RegexField(r"^[!#][^\s:/?]{1,200}:[A-Za-z0-9.:\[\]-]{1,255}$", max_length=460)


class MatrixTransport(AppriseTransport):
    """Matrix: a bot account's access token posts into a room (`!id:server` or `#alias:server`)."""

    Config = MatrixConfig
    label = "matrix"

    def apprise_url(self) -> str:
        secure, host, port, _ = _server(self.conf.server)
        return (f"{'matrixs' if secure else 'matrix'}://{_q(self.conf.access_token)}@{_netloc(host, port)}/"
                f"{_q(self.conf.room)}?mode=off&discovery=no&image=no")  # fmt: skip

    def user_host(self):
        _, host, port, _ = _server(self.conf.server)
        return host, port

    def describe(self) -> str:
        return f"matrix:{self.conf.room}"


class SmsGatewayConfig(KindConfig):
    gateway_url = SecretUrlField(mask=mask_webhook_url)
    to = serializers.RegexField(r"^\+?[0-9]{6,15}$", max_length=16)
    auth_header = SecretField(max_length=500, required=False, allow_blank=True)

    def validate_auth_header(self, value: str) -> str:
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise serializers.ValidationError("No control characters (a header value is one line).")
        return value


class SmsGatewayTransport(AppriseTransport):
    """SMS through an HTTP gateway (an SMS gateway app on a phone, a provider's JSON endpoint): apprise's
    JSON form, `{"title", "message", "type", "to"}` POSTed to `gateway_url`."""

    Config = SmsGatewayConfig
    label = "sms"

    def apprise_url(self) -> str:
        parts = urlsplit(self.conf.gateway_url or "")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise TransportError("no valid gateway_url configured", permanent=True)
        scheme = "jsons" if parts.scheme == "https" else "json"
        userinfo = f"{_q(parts.username)}:{_q(parts.password or '')}@" if parts.username else ""
        url = f"{scheme}://{userinfo}{_netloc(parts.hostname, parts.port)}{quote(parts.path or '/')}"
        url += f"?method=POST&:to={_q(self.conf.to)}"
        if parts.query:
            url += "&" + "&".join(f"-{_q(k)}={_q(v)}" for k, v in _pairs(parts.query))
        if self.conf.auth_header:
            url += f"&+Authorization={_q(self.conf.auth_header)}"
        return url

    def user_host(self):
        parts = urlsplit(self.conf.gateway_url or "")
        return (parts.hostname, parts.port) if parts.hostname else None

    def describe(self) -> str:
        return f"sms:{self.conf.to[:4]}***{self.conf.to[-2:]} via {mask_webhook_url(self.conf.gateway_url or '')}"


def _pairs(query: str) -> list[tuple[str, str]]:
    return parse_qsl(query, keep_blank_values=True)
