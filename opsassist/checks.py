"""Deployment checks (`manage.py check --deploy`) for settings that make the web hardening moot."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def check_web_hardening(app_configs, **kwargs) -> list[Warning]:
    warnings = []
    if "*" in settings.ALLOWED_HOSTS:
        warnings.append(
            Warning(
                "ALLOWED_HOSTS contains '*': any Host header is accepted.",
                hint="Set OPSASSIST_URL to the public address; add only the extra names you need.",
                id="opsassist.W001",
            )
        )
    if settings.OPSASSIST_URL.startswith("https://") and not settings.OPSASSIST_BEHIND_PROXY:
        warnings.append(
            Warning(
                "OPSASSIST_URL is https but OPSASSIST_BEHIND_PROXY is False: OpsAssist sees the TLS proxy's "
                "plain HTTP, so it never sends HSTS and ignores X-Forwarded-For and X-Forwarded-Proto.",
                hint="Set OPSASSIST_BEHIND_PROXY=True (and FORWARDED_ALLOW_IPS to the proxy's address).",
                id="opsassist.W002",
            )
        )
    return warnings
