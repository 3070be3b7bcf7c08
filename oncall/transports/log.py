import logging

from oncall.transports.base import Transport
from opsassist.lib.kindconfig import KindConfig

log = logging.getLogger("opsassist.notifications")


class LogTransport(Transport):
    """Writes the notification to the log (useful for trying things out, and as a fallback)."""

    Config = KindConfig  # no settings

    def describe(self) -> str:
        return "log"

    def notify(self, message: dict) -> None:
        log.warning("%s: #%s %s", message["headline"], message["incident"]["id"], message["incident"]["title"],
                    extra={"recipient": message.get("recipient", "")})  # fmt: skip
