import json

from oncall.transports.base import HttpTransport

EMOJI = {"critical": ":red_circle:", "high": ":large_orange_circle:", "medium": ":large_yellow_circle:",
         "low": ":large_green_circle:"}  # fmt: skip


LINK_LABELS = {"acknowledge": "Acknowledge", "resolve": "Resolve", "snooze": "Snooze"}


def escape(text: str) -> str:
    """Slack mrkdwn escaping: an incident title must not ping <!channel> or smuggle a link."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class SlackTransport(HttpTransport):
    """A Slack (or Mattermost, Rocket.Chat) incoming webhook: `{"text": ...}`."""

    def notify(self, message: dict) -> None:
        incident = message["incident"]
        text = (
            f"{EMOJI.get(incident['severity'], '')} *{message['headline']}*\n"
            f"#{incident['id']} {escape(incident['title'])} — {escape(incident['service'])} "
            f"({incident['priority']}, {incident['status']})"
        )
        if message.get("url"):
            text += f"\n<{message['url']}|Open in OpsAssist>"
        links = message.get("links") or {}
        actions = [f"<{links[key]}|{label}>" for key, label in LINK_LABELS.items() if links.get(key)]
        if actions:
            text += " · " + " · ".join(actions)
        self.post(self.url(), json.dumps({"text": text}).encode(), {"Content-Type": "application/json"})
