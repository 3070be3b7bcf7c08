"""Signed, expiring action links that notifications carry: open, acknowledge, resolve, snooze.

A link acts on one incident as one recipient (the paged user, or a team channel) without a login session.
Its token is random (256 bits) and only its SHA-256 is stored, so a copy of the database yields no working
link. The incident's id leads the token, so a token moved onto another incident's link is unknown. A GET
shows a confirmation page (mail scanners and chat previews fetch links; they must change nothing); the
page's POST claims the link by a conditional UPDATE of `used_at`, so each link changes things at most once.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from incidents import services as incident_services
from incidents.choices import Status
from incidents.models import Incident
from oncall.models import ActionLink, Channel
from opsassist.lib.publicurl import absolute_url

if TYPE_CHECKING:
    from django.contrib.auth.models import User

SNOOZE_MINUTES = (15, 30, 60, 120, 240)
DEFAULT_SNOOZE_MINUTES = 30
CHANGE_PERMISSION = "incidents.change_incident"


class LinkRefused(Exception):
    """The link cannot act: `status` is the page's HTTP status, `message` is safe to show anyone."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _recipient(recipient) -> tuple[User | None, str]:
    """(user or None, the actor's name) for a User, a username, a Channel or "channel:<name>"."""
    if isinstance(recipient, Channel):
        return None, f"channel:{recipient.name}"
    if isinstance(recipient, get_user_model()):
        return recipient, recipient.username
    if isinstance(recipient, str) and recipient.startswith("channel:"):
        return None, recipient
    if isinstance(recipient, str) and recipient:
        user = get_user_model().objects.filter(username=recipient, is_active=True).first()
        if user is not None:
            return user, user.username
    return None, ""


def action_links(incident: Incident, recipient) -> dict[str, str]:
    """Absolute URLs {"open", "acknowledge", "resolve", "snooze"} for this incident and recipient (a User,
    a username, a Channel or "channel:<name>"). With no known recipient, only "open" (which needs a login)."""
    links = {"open": absolute_url(reverse("incident-detail", args=[incident.pk]))}
    user, label = _recipient(recipient)
    if not label:
        return links
    now = timezone.now()
    expires_at = now + timedelta(seconds=settings.ACTION_LINK_TTL_SECONDS)
    rows = []
    for action in ActionLink.Action.values:
        token = f"{incident.pk}-{secrets.token_urlsafe(32)}"
        rows.append(ActionLink(incident=incident, action=action, user=user, recipient=label,
                               token_hash=hash_token(token), created_at=now, expires_at=expires_at))  # fmt: skip
        links[action] = absolute_url(reverse("action-link", args=[token]))
    ActionLink.objects.bulk_create(rows)
    return links


def check_link(token: str, now: datetime | None = None) -> ActionLink:
    """The link this token names, if it may act now. Raises LinkRefused (404 unknown or forged, 410 used or
    expired, 403 when its user may no longer change incidents)."""
    now = now or timezone.now()
    link = ActionLink.objects.select_related("incident", "user").filter(token_hash=hash_token(token)).first()
    if link is None or token.partition("-")[0] != str(link.incident_id):
        raise LinkRefused(404, "This link is not valid.")
    if link.used_at is not None:
        raise LinkRefused(410, "This link has already been used.")
    if link.expires_at <= now:
        raise LinkRefused(410, "This link has expired.")
    if link.user is not None and not (link.user.is_active and link.user.has_perm(CHANGE_PERMISSION)):
        raise LinkRefused(403, f"{link.user.username} may not change incidents any more.")
    return link


def check_minutes(raw) -> int:
    """The snooze length chosen on the page; LinkRefused(400) naming `minutes` otherwise."""
    try:
        minutes = int(raw) if raw not in (None, "") else DEFAULT_SNOOZE_MINUTES
    except (TypeError, ValueError):
        minutes = -1
    if minutes not in SNOOZE_MINUTES:
        raise LinkRefused(400, f"minutes: choose one of {', '.join(map(str, SNOOZE_MINUTES))}.")
    return minutes


def do_use_link(link: ActionLink, minutes: int = DEFAULT_SNOOZE_MINUTES, now: datetime | None = None) -> Incident:
    """Claim the link (once) and act on its incident as its recipient. A refused move (e.g. acknowledging a
    closed incident) raises ServiceError and leaves the link unused; a lost claim raises LinkRefused(410)."""
    now = now or timezone.now()
    actor = link.user or link.recipient
    with transaction.atomic():
        claimed = ActionLink.objects.filter(pk=link.pk, used_at__isnull=True, expires_at__gt=now).update(used_at=now)
        if not claimed:
            raise LinkRefused(410, "This link has already been used.")
        incident = link.incident
        if link.action == ActionLink.Action.ACKNOWLEDGE:
            return incident_services.do_change_status(incident, Status.ACKNOWLEDGED, actor=actor, note="via link")
        if link.action == ActionLink.Action.RESOLVE:
            return incident_services.do_change_status(incident, Status.RESOLVED, actor=actor, note="via link")
        return incident_services.do_snooze(incident, minutes, actor=actor)


def do_purge_expired(now: datetime | None = None) -> int:
    """Delete links expired a day ago or more (their rows only serve the "expired" answer until then)."""
    cutoff = (now or timezone.now()) - timedelta(days=1)
    deleted, _ = ActionLink.objects.filter(expires_at__lt=cutoff).delete()
    return deleted
