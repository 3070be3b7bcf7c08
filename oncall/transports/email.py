"""Email through Django's SMTP backend, configured by EMAIL_URL or EMAIL_HOST (see settings)."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from rest_framework import serializers

from oncall.payload import email_body, email_subject
from oncall.transports.base import NotConfigured, Transport, TransportError
from opsassist.lib.kindconfig import KindConfig
from opsassist.lib.redact import log_remote_error, public_error

NOT_CONFIGURED = "email not configured: set EMAIL_URL or EMAIL_HOST"


class EmailConfig(KindConfig):
    address = serializers.EmailField(max_length=254)


class EmailTransport(Transport):
    """One message per notification to `config.address`; raises NotConfigured without SMTP settings."""

    Config = EmailConfig

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
        try:
            send_mail(email_subject(message), email_body(message), None, [address])
        except Exception as exc:
            log_remote_error(f"email to {address}", exc)
            raise TransportError(public_error(exc)) from None
