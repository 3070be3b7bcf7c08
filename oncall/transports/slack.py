import json

from oncall.transports.base import HttpTransport

EMOJI = {"critical": ":red_circle:", "high": ":large_orange_circle:", "medium": ":large_yellow_circle:",
         "low": ":large_green_circle:"}  # fmt: skip


class SlackTransport(HttpTransport):
    """A Slack (or Mattermost, Rocket.Chat) incoming webhook: `{"text": ...}`."""

    def notify(self, message: dict) -> None:
        incident = message["incident"]
        text = (
            f"{EMOJI.get(incident['severity'], '')} *{message['headline']}*\n"
            f"#{incident['id']} {incident['title']} — {incident['service']} "
            f"({incident['priority']}, {incident['status']})"
        )
        if message.get("url"):
            text += f"\n<{message['url']}|Open in OpsAssist>"
        self.post(self.url(), json.dumps({"text": text}).encode(), {"Content-Type": "application/json"})
