"""The public base URL (OPSASSIST_URL): parsed once at start-up, and absolute links built from it.

Links are never built from the request's Host header: a forged Host would otherwise put an attacker's
address into a mail or notification.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured


def parse_public_url(value: str) -> str:
    """`scheme://host[:port]` without a trailing slash; anything else stops start-up with the reason."""
    raw = value.strip().rstrip("/")
    try:
        parts = urlsplit(raw)
        port = parts.port  # raises ValueError for a port out of range or not a number
    except ValueError as exc:
        raise ImproperlyConfigured(f"OPSASSIST_URL is not a URL ({exc}): {value!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ImproperlyConfigured(f"OPSASSIST_URL must be http(s)://host[:port], got {value!r}")
    if parts.username is not None or parts.password is not None:
        raise ImproperlyConfigured("OPSASSIST_URL must not carry a user name or password")
    if parts.path or parts.query or parts.fragment:
        # Pages and API are served from the root; a path prefix would give links that do not resolve.
        raise ImproperlyConfigured(f"OPSASSIST_URL must have no path, query or fragment, got {value!r}")
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")


def absolute_url(path: str) -> str:
    """`path` (starting with "/") under OPSASSIST_URL, for mails, notifications and action links."""
    from django.conf import settings

    if not path.startswith("/"):
        raise ValueError(f"absolute_url needs a path starting with '/', got {path!r}")
    return settings.OPSASSIST_URL + path
