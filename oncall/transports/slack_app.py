from django.conf import settings
from rest_framework import serializers

from oncall.transports.base import NotConfigured, Transport, TransportError
from opsassist.lib.kindconfig import KindConfig

# Events that only change an incident already announced: its message is updated in place when the status
# changes (oncall.services.do_on_status_change), so they post only where nothing was posted yet.
UPDATE_EVENTS = ("acknowledge", "resolve")


class SlackAppConfig(KindConfig):
    channel = serializers.RegexField(
        r"^[A-Z0-9]{2,30}$", max_length=30,
        help_text="Slack channel ID (C0123456789) or member ID (U0123456789), not a name",
        error_messages={"invalid": "Enter a Slack channel ID such as C0123456789 or a member ID such as U0123456789."},
    )  # fmt: skip


class SlackAppTransport(Transport):
    """A Slack channel through the OpsAssist Slack app (SLACK_BOT_TOKEN): one message per incident with
    Acknowledge / Resolve buttons, updated in place as the incident changes."""

    Config = SlackAppConfig

    @classmethod
    def problem(cls) -> str:
        return "" if settings.SLACK_BOT_TOKEN else "SLACK_BOT_TOKEN is not set on this server."

    def describe(self) -> str:
        return f"slack:{self.conf.channel or '?'}"

    def notify(self, message: dict) -> None:
        from oncall import slack
        from oncall.models import SlackMessage

        if not settings.SLACK_BOT_TOKEN:
            raise NotConfigured("SLACK_BOT_TOKEN is not set on this server.")
        if not self.conf.channel:
            raise TransportError("no valid Slack channel ID configured", permanent=True)
        incident = message["incident"]
        posted = SlackMessage.objects.filter(incident_id=incident["id"], slack_channel=self.conf.channel).exists()
        if posted and message["event"] in UPDATE_EVENTS:
            return
        try:
            slack.do_post_or_update(self.conf.channel, incident, message["headline"])
        except slack.SlackUnavailable as exc:
            raise TransportError(exc.message, permanent=exc.permanent) from None
