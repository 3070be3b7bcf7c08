import hashlib
import hmac
import json
import time

from oncall.payload import webhook_body
from oncall.transports.base import HttpConfig, HttpTransport
from opsassist.lib.kindconfig import SecretField


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=` HMAC of "<timestamp>.<body>" with the channel's secret (verify both; reject old stamps)."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class WebhookConfig(HttpConfig):
    secret = SecretField(max_length=500, required=False, allow_blank=True)


class WebhookTransport(HttpTransport):
    """POSTs the versioned webhook body (oncall.payload.webhook_body) as JSON; with a `secret`, adds
    X-OpsAssist-Timestamp and X-OpsAssist-Signature."""

    Config = WebhookConfig

    def notify(self, message: dict) -> None:
        body = json.dumps(webhook_body(message), default=str, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "OpsAssist"}
        secret = self.conf.secret
        if secret:
            timestamp = str(int(time.time()))
            headers["X-OpsAssist-Timestamp"] = timestamp
            headers["X-OpsAssist-Signature"] = sign(secret, timestamp, body)
        self.post(self.url(), body, headers)
