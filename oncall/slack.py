"""Slack as a first-class channel, through a Slack app (slack_sdk): messages with Acknowledge / Resolve
buttons (Block Kit), updated in place when the incident changes, and the interactivity endpoint that turns
a button click into an acknowledgement by the OpsAssist user with the clicker's email address.

The bot token and signing secret are the operator's (settings), never an API user's; the Web API base URL
(`SLACK_API_URL`) passes the outbound policy before every call.
"""

from __future__ import annotations

import functools
import importlib
import json
import logging
from collections.abc import Iterable, Mapping
from types import SimpleNamespace
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from incidents import services as incident_services
from incidents.choices import Status
from incidents.models import Incident
from incidents.payload import incident_shape
from oncall.links import CHANGE_PERMISSION
from oncall.models import SlackMessage
from oncall.transports.slack import escape
from opsassist.lib import outbound
from opsassist.lib.errors import ServiceError
from opsassist.lib.publicurl import absolute_url

if TYPE_CHECKING:
    from slack_sdk import WebClient

log = logging.getLogger(__name__)

EMOJI = {"critical": ":red_circle:", "high": ":large_orange_circle:", "medium": ":large_yellow_circle:",
         "low": ":large_green_circle:"}  # fmt: skip
BUTTON_MOVES = {"acknowledge": Status.ACKNOWLEDGED, "resolve": Status.RESOLVED}
# Slack API errors that no retry can fix (the channel or the app's token needs an operator).
PERMANENT_ERRORS = {"channel_not_found", "not_in_channel", "is_archived", "invalid_auth", "not_authed",
                    "account_inactive", "token_revoked", "missing_scope", "no_permission", "invalid_blocks",
                    "restricted_action", "msg_too_long"}  # fmt: skip


class SlackRefused(Exception):
    """An interactivity request we do not act on: `status` is the HTTP answer."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class SlackUnavailable(Exception):
    """A Web API call failed; `permanent` when retrying cannot help."""

    def __init__(self, message: str, permanent: bool = False):
        super().__init__(message)
        self.message = message
        self.permanent = permanent


# --- Web API ----------------------------------------------------------------------------------------


@functools.cache
def sdk() -> SimpleNamespace:
    """slack_sdk's modules, imported on first use: a process that never talks to Slack (most web workers;
    every one of a team without a Slack app) does not carry their ~2 MB."""
    return SimpleNamespace(
        web=importlib.import_module("slack_sdk"),
        errors=importlib.import_module("slack_sdk.errors"),
        blocks=importlib.import_module("slack_sdk.models.blocks"),
        signature=importlib.import_module("slack_sdk.signature"),
    )


def client() -> WebClient:
    """A Web API client for the configured app. Raises SlackUnavailable (permanent) without a bot token or
    when SLACK_API_URL is refused by the outbound policy."""
    if not settings.SLACK_BOT_TOKEN:
        raise SlackUnavailable("SLACK_BOT_TOKEN is not set", permanent=True)
    try:
        outbound.check_url(settings.SLACK_API_URL)
    except outbound.OutboundRefused as exc:
        raise SlackUnavailable(f"SLACK_API_URL refused: {exc.message}", permanent=True) from None
    timeout = max(1, round(settings.HTTP_CLIENT_TIMEOUT))
    return sdk().web.WebClient(token=settings.SLACK_BOT_TOKEN, base_url=settings.SLACK_API_URL, timeout=timeout)


def call(method: str, **kwargs) -> dict:
    """One Web API call (`chat.postMessage`, ...); its JSON answer. Raises SlackUnavailable."""
    try:
        return getattr(client(), method.replace(".", "_"))(**kwargs).data
    except sdk().errors.SlackApiError as exc:
        error = str(exc.response.get("error", "")) or f"HTTP {exc.response.status_code}"
        raise SlackUnavailable(f"Slack {method}: {error}", permanent=error in PERMANENT_ERRORS) from None
    except (sdk().errors.SlackClientError, OSError) as exc:
        log.warning("Slack %s failed: %r", method, exc)
        raise SlackUnavailable(f"Slack {method}: {type(exc).__name__}") from None


# --- Messages ----------------------------------------------------------------------------------------


def blocks_for(incident: Mapping, headline: str) -> list[dict]:
    """The message: headline, the incident linked to its page, its state, and the buttons that still apply."""
    url = absolute_url(f"/incidents/{incident['id']}/")
    text = (
        f"{EMOJI.get(incident['severity'], '')} *{escape(headline)}*\n"
        f"*<{url}|#{incident['id']} {escape(incident['title'])}>*\n"
        f"{escape(incident['service'])} · {incident['priority']} · *{incident['status']}*"
    )
    slack = sdk().blocks
    blocks = [slack.SectionBlock(text=slack.MarkdownTextObject(text=text[:3000]))]
    buttons = []
    if incident["status"] == Status.OPEN:
        buttons.append(slack.ButtonElement(text="Acknowledge", action_id="acknowledge", value=str(incident["id"]),
                                     style="primary"))  # fmt: skip
    if incident["status"] in (Status.OPEN, Status.ACKNOWLEDGED):
        buttons.append(
            slack.ButtonElement(text="Resolve", action_id="resolve", value=str(incident["id"]), style="danger")
        )
    if buttons:
        blocks.append(slack.ActionsBlock(block_id="incident_actions", elements=buttons))
    if incident.get("assigned_to"):
        assigned = slack.MarkdownTextObject(text=f"Assigned to {escape(incident['assigned_to'])}")
        blocks.append(slack.ContextBlock(elements=[assigned]))
    return [block.to_dict() for block in blocks]


def fallback_text(incident: Mapping, headline: str) -> str:
    """The notification text phones show (Slack requires it next to blocks)."""
    return f"{headline}: #{incident['id']} {incident['title'][:150]} ({incident['status']})"


def do_post_or_update(slack_channel: str, incident: Mapping, headline: str) -> str:
    """Post the incident's message in the channel, or update the one posted before. Returns "posted" or
    "updated". Raises SlackUnavailable."""
    blocks, text = blocks_for(incident, headline), fallback_text(incident, headline)
    existing = SlackMessage.objects.filter(incident_id=incident["id"], slack_channel=slack_channel).first()
    if existing is not None:
        try:
            call("chat.update", channel=existing.channel_id, ts=existing.ts, blocks=blocks, text=text)
        except SlackUnavailable as exc:  # kept on the row; the next change updates it again
            SlackMessage.objects.filter(pk=existing.pk).update(error=exc.message[:2000])
            raise
        SlackMessage.objects.filter(pk=existing.pk).update(updated_at=timezone.now(), error="")
        return "updated"
    answer = call("chat.postMessage", channel=slack_channel, blocks=blocks, text=text)
    posted = {"channel_id": str(answer.get("channel") or slack_channel)[:64], "ts": str(answer.get("ts", ""))[:32]}
    SlackMessage.objects.get_or_create(incident_id=incident["id"], slack_channel=slack_channel, defaults=posted)
    return "posted"


def do_update_messages(incident: Incident, headline: str, skip: Iterable[str] = ()) -> int:
    """Update every Slack message about the incident to its current state, but those in the `skip` channels
    (a notification about this change updates them already); returns how many were updated. A failure is
    kept on the message row (`error`) and skipped: the next change updates it again."""
    data = incident_shape(incident)
    updated = 0
    for message in SlackMessage.objects.filter(incident=incident).exclude(slack_channel__in=list(skip)):
        try:
            call("chat.update", channel=message.channel_id, ts=message.ts, blocks=blocks_for(data, headline),
                 text=fallback_text(data, headline))  # fmt: skip
        except SlackUnavailable as exc:
            log.warning("updating the Slack message of incident %s failed: %s", incident.pk, exc.message)
            SlackMessage.objects.filter(pk=message.pk).update(error=exc.message[:2000])
            continue
        SlackMessage.objects.filter(pk=message.pk).update(updated_at=timezone.now(), error="")
        updated += 1
    return updated


# --- Interactivity -------------------------------------------------------------------------------------


def check_signed(body: bytes, headers: Mapping[str, str]) -> None:
    """Slack's signature (v0 HMAC of timestamp and body with the signing secret) and a timestamp within
    5 minutes, or SlackRefused."""
    if not settings.SLACK_SIGNING_SECRET:
        raise SlackRefused(404, "Slack interactivity is not configured (SLACK_SIGNING_SECRET).")
    timestamp = str(headers.get("X-Slack-Request-Timestamp", ""))
    if not timestamp.isdigit() or len(timestamp) > 12:
        raise SlackRefused(401, "X-Slack-Request-Timestamp is missing or not a number.")
    try:
        valid = (
            sdk()
            .signature.SignatureVerifier(settings.SLACK_SIGNING_SECRET)
            .is_valid(body=body, timestamp=timestamp, signature=headers.get("X-Slack-Signature"))
        )
    except UnicodeDecodeError:
        valid = False
    if not valid:
        raise SlackRefused(401, "Invalid Slack signature or stale timestamp.")


def parse_action(body: bytes) -> dict | None:
    """The clicked button of a block_actions payload as {action, incident_id, channel, ts, user}, or None
    for other interactions. Raises SlackRefused(400) for a malformed payload."""
    try:
        payload = json.loads(parse_qs(body.decode())["payload"][0])
        if payload.get("type") != "block_actions":
            return None
        action = payload["actions"][0]
        container = payload.get("container") or {}
        return {
            "action": str(action["action_id"]),
            "incident_id": int(action["value"]),
            "channel": str((payload.get("channel") or {}).get("id") or container.get("channel_id", "")),
            "ts": str(container.get("message_ts") or (payload.get("message") or {}).get("ts", "")),
            "user": str(payload["user"]["id"]),
        }
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        raise SlackRefused(400, "payload: not a Slack interaction.") from None


def user_for(slack_user_id: str):
    """The active OpsAssist user whose email is the Slack user's (exactly one), else None."""
    answer = call("users.info", user=slack_user_id)
    email = str(((answer.get("user") or {}).get("profile") or {}).get("email") or "").strip()
    if not email:
        return None
    users = list(get_user_model().objects.filter(email__iexact=email, is_active=True)[:2])
    return users[0] if len(users) == 1 else None


def do_handle_interaction(body: bytes, headers: Mapping[str, str]) -> dict:
    """A verified button click: acknowledge or resolve the incident as the clicker's OpsAssist user.
    Only buttons on messages OpsAssist posted count. The answer is always `{}` (Slack shows nothing); a
    refusal is told to the clicker alone (an ephemeral message)."""
    check_signed(body, headers)
    action = parse_action(body)
    if action is None or action["action"] not in BUTTON_MOVES:
        return {}
    message = (
        SlackMessage.objects.select_related("incident")
        .filter(incident_id=action["incident_id"], channel_id=action["channel"], ts=action["ts"])
        .first()
    )
    if message is None:
        raise SlackRefused(404, "Not a message OpsAssist posted.")
    try:
        problem = _act(message.incident, action)
    except SlackUnavailable as exc:
        problem = f"OpsAssist could not ask Slack who you are ({exc.message}); nothing changed."
    if problem:
        _tell(action, problem)
    return {}


def _act(incident: Incident, action: dict) -> str:
    """Do the click; "" on success, else why nothing changed."""
    user = user_for(action["user"])
    if user is None:
        return "No OpsAssist user has your Slack account's email address; nothing changed."
    if not user.has_perm(CHANGE_PERMISSION):
        return f"{user.username} may not change incidents; nothing changed."
    try:
        incident_services.do_change_status(incident, BUTTON_MOVES[action["action"]], actor=user, note="via Slack")
    except ServiceError as exc:
        return f"{exc.message} Nothing changed."
    return ""


def _tell(action: dict, text: str) -> None:
    try:
        call("chat.postEphemeral", channel=action["channel"], user=action["user"], text=text)
    except SlackUnavailable as exc:
        log.warning("telling a Slack user why their click did nothing failed: %s", exc.message)
