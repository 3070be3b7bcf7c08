from __future__ import annotations

import httpx
from django.conf import settings

from opsassist.lib import outbound
from opsassist.lib.kindconfig import FreeConfig, KindConfig, SecretUrlField
from opsassist.lib.redact import log_remote_error, public_error, redact_url


def mask_webhook_url(url: str) -> str:
    """Webhook URLs carry their token in the path (Slack) or query: show only the host and first segment."""
    return redact_url(url, keep_path=False)[:500]


class TransportError(Exception):
    """Delivery failed. `permanent` failures (bad address, 4xx) are not retried and disable a channel."""

    def __init__(self, message: str, permanent: bool = False):
        super().__init__(message)
        self.message = message
        self.permanent = permanent


class NotConfigured(TransportError):
    """This server has no settings for the transport (e.g. no SMTP): the notification is recorded as
    skipped with this message, never retried, and the channel stays enabled."""

    def __init__(self, message: str):
        super().__init__(message, permanent=True)


class Transport:
    """Built from its config; `notify(message)` delivers or raises TransportError.

    A kind declares its settings as `Config` (a KindConfig: fields, ranges, defaults, secrets); they are
    validated on write and read here as `self.conf`. A kind that declares none accepts any object.
    """

    Config: type[KindConfig] = FreeConfig

    def __init__(self, config: dict):
        self.config = config
        self.conf = self.Config.read(config)

    @classmethod
    def problem(cls) -> str:
        """Why this kind cannot deliver on this server (shown on channels), or "" when it can."""
        return ""

    def describe(self) -> str:
        """Where this goes, without secrets (stored on the Notification row)."""
        raise NotImplementedError

    def notify(self, message: dict) -> None:
        raise NotImplementedError


class HttpConfig(KindConfig):
    url = SecretUrlField(mask=mask_webhook_url)


class HttpTransport(Transport):
    """POST JSON with a timeout; 4xx is permanent, 5xx, network errors and redirects are worth a retry.
    Redirects are never followed (the target was checked, its redirect was not), so a 3xx is not delivery."""

    Config: type[KindConfig] = HttpConfig

    def url(self) -> str:
        if not self.conf.url:
            raise TransportError("no valid url configured", permanent=True)
        return self.conf.url

    def post(self, url: str, content: bytes, headers: dict) -> None:
        """Only the error's class or the status is kept on the row (every role reads it); the receiver's
        own text goes to the server log."""
        try:
            with outbound.http_client(timeout=settings.HTTP_CLIENT_TIMEOUT) as client:
                response = client.post(url, content=content, headers=headers)
        except outbound.OutboundRefused as exc:
            raise TransportError(public_error(exc), permanent=True) from None
        except httpx.HTTPError as exc:
            log_remote_error(f"delivery to {self.describe()}", exc, url)
            raise TransportError(public_error(exc)) from None
        if 300 <= response.status_code < 400:
            location = redact_url(response.headers.get("location", ""), keep_path=False)
            log_remote_error(f"delivery to {self.describe()}", f"HTTP {response.status_code} to {location}", url)
            raise TransportError(f"answered {response.status_code} redirect, not followed")
        if response.status_code >= 400:
            body = f"HTTP {response.status_code}: {response.text[:500]}"
            log_remote_error(f"delivery to {self.describe()}", body, url)
            raise TransportError(
                f"HTTP {response.status_code}",
                permanent=400 <= response.status_code < 500 and response.status_code not in (408, 429),
            )

    def describe(self) -> str:
        return mask_webhook_url(self.conf.url or "")
