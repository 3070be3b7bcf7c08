"""Account pages that differ from Django's stock ones."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import views as auth_views


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset form, but the mailed link always points at OPSASSIST_URL: the stock view builds it
    from the request's Host header, which whoever asks for the reset chooses."""

    @property
    def domain_override(self) -> str:
        return urlsplit(settings.OPSASSIST_URL).netloc

    @property
    def use_https(self) -> bool:
        return settings.OPSASSIST_URL.startswith("https://")
