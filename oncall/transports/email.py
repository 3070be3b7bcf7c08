from django.core.mail import send_mail

from oncall.transports.base import Transport, TransportError
from opsassist.lib.redact import log_remote_error, public_error


class EmailTransport(Transport):
    """Django's email backend (console by default; set EMAIL_BACKEND/EMAIL_HOST for SMTP)."""

    def describe(self) -> str:
        return self.config.get("address", "")

    def notify(self, message: dict) -> None:
        address = self.config.get("address")
        if not address or "@" not in address:
            raise TransportError("no valid email address", permanent=True)
        incident = message["incident"]
        body = f"{message['headline']}\n\n#{incident['id']} {incident['title']}\nService: {incident['service']}\n" \
               f"Severity: {incident['severity']} ({incident['priority']})\nStatus: {incident['status']}\n" \
               f"{message.get('url', '')}"  # fmt: skip
        try:
            send_mail(f"[OpsAssist {incident['priority']}] {incident['title'][:150]}", body, None, [address])
        except Exception as exc:
            log_remote_error(f"email to {address}", exc)
            raise TransportError(public_error(exc)) from None
