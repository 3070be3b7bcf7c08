from __future__ import annotations

import httpx
from django.conf import settings

from opsassist.lib.kindconfig import FreeConfig, KindConfig, SecretUrlField


def mask_webhook_url(url: str) -> str:
    """Webhook URLs carry their token in the path (Slack) or query: show only the host and first segment."""
    from monitoring.models import redact_url

    return redact_url(url, keep_path=False)[:500]


class TransportError(Exception):
    """Delivery failed. `permanent` failures (bad address, 4xx) are not retried and disable a channel."""

    def __init__(self, message: str, permanent: bool = False):
        super().__init__(message)
        self.message = message
        self.permanent = permanent


class Transport:
    """Built from its config; `notify(message)` delivers or raises TransportError.

    A kind declares its settings as `Config` (a KindConfig: fields, ranges, defaults, secrets); they are
    validated on write and read here as `self.conf`. A kind that declares none accepts any object.
    """

    Config: type[KindConfig] = FreeConfig

    def __init__(self, config: dict):
        self.config = config
        self.conf = self.Config.read(config)

    def describe(self) -> str:
        """Where this goes, without secrets (stored on the Notification row)."""
        raise NotImplementedError

    def notify(self, message: dict) -> None:
        raise NotImplementedError


class HttpConfig(KindConfig):
    url = SecretUrlField(mask=mask_webhook_url)


class HttpTransport(Transport):
    """POST JSON with a timeout; 4xx is permanent, 5xx and network errors are worth a retry."""

    Config: type[KindConfig] = HttpConfig

    def url(self) -> str:
        if not self.conf.url:
            raise TransportError("no valid url configured", permanent=True)
        return self.conf.url

    def post(self, url: str, content: bytes, headers: dict) -> None:
        try:
            response = httpx.post(url, content=content, headers=headers, timeout=settings.HTTP_CLIENT_TIMEOUT)
        except httpx.HTTPError as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from None
        if response.status_code >= 400:
            raise TransportError(
                f"HTTP {response.status_code}: {response.text[:200]}",
                permanent=400 <= response.status_code < 500 and response.status_code not in (408, 429),
            )

    def describe(self) -> str:
        return mask_webhook_url(self.conf.url or "")
