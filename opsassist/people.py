"""People: who may sign in to OpsAssist and in which role.

A role is what roles.py defines: the viewer, responder and agent groups, or admin (a superuser). A new
person gets no password: they choose one through a one-time set-password link (Django's password-reset
token, so it stops working once used and after PASSWORD_RESET_TIMEOUT). Nobody is ever deleted, because
incidents, notes and timelines name them: removing a person deactivates them and revokes their access.
There is always at least one active admin.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urljoin

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.tokens import default_token_generator
from django.contrib.sessions.models import Session
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from rest_framework.authtoken.models import Token

from incidents.consumers import person_group
from opsassist.lib import live
from opsassist.lib.errors import Conflict, ServiceError

logger = logging.getLogger(__name__)

ADMIN, NONE = "admin", "none"
GROUP_ROLES = ("viewer", "responder", "agent")  # the groups roles.py keeps in step with the models
ROLES = ("viewer", "responder", "agent", ADMIN, NONE)


def role_of(user) -> str:
    """The person's role; one group is expected, the most capable wins when an admin gave several."""
    if user.is_superuser:
        return ADMIN
    names = {group.name for group in user.groups.all()}  # prefetched by list views
    for role in ("responder", "viewer", "agent"):
        if role in names:
            return role
    return NONE


def set_password_link(user) -> str:
    """A one-time link to choose a password, under OPSASSIST_URL (never the Host a request named)."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    path = reverse("password_reset_confirm", kwargs={"uidb64": uid, "token": default_token_generator.make_token(user)})
    return urljoin(settings.OPSASSIST_URL + "/", path.lstrip("/"))


def check_new_person(username: str, email: str) -> None:
    """Raises ServiceError naming the field when the username or email is already someone's (any case:
    "Alice" next to "alice" invites mistakes, and imports and Slack match people by email)."""
    people = get_user_model().objects
    if people.filter(username__iexact=username).exists():
        raise ServiceError(f"username: '{username}' is already taken.", field="username")
    check_email_free(email)


def check_email_free(email: str, exclude_pk: int | None = None) -> None:
    others = get_user_model().objects.filter(email__iexact=email)
    if exclude_pk is not None:
        others = others.exclude(pk=exclude_pk)
    if email and others.exists():
        raise ServiceError(f"email: {email} is already used by another person.", field="email")


def do_create(*, username: str, email: str, name: str, role: str) -> tuple[Any, str, bool]:
    """Creates the person (no usable password yet) → (user, set-password link, whether it was e-mailed)."""
    check_new_person(username, email)
    with transaction.atomic():
        user = get_user_model().objects.create_user(username=username, email=email, first_name=name)
        _apply_role(user, role)
        user.save()
    link = set_password_link(user)
    return user, link, send_invitation(user, link)


def send_invitation(user, link: str) -> bool:
    """Mails the set-password link when e-mail is configured; a failure is logged, the admin still has the
    link to hand over."""
    if not (settings.EMAIL_CONFIGURED and user.email):
        return False
    context = {"user": user, "link": link, "url": settings.OPSASSIST_URL,
               "hours": settings.PASSWORD_RESET_TIMEOUT // 3600}  # fmt: skip
    try:
        send_mail("Your OpsAssist account", render_to_string("opsassist/invitation_email.txt", context),
                  None, [user.email])  # fmt: skip
    except Exception:  # SMTP down or refusing: not a reason to lose the new person
        logger.warning("invitation mail to %s failed", user.username, exc_info=True)
        return False
    return True


def _apply_role(user, role: str) -> None:
    user.is_superuser = user.is_staff = role == ADMIN
    groups = Group.objects.filter(name__in=GROUP_ROLES)
    user.groups.remove(*groups)
    if role in GROUP_ROLES:
        user.groups.add(Group.objects.get(name=role))


def _losing_admin(role: str | None, is_active: bool | None) -> bool:
    return (role is not None and role != ADMIN) or is_active is False


def _lock_active_admins() -> list[int]:
    """Locks the active admins' rows, in id order, so that two admins demoting each other at once cannot
    both succeed (the second waits, then sees one admin left) and cannot deadlock either."""
    admins = get_user_model().objects.select_for_update().filter(is_superuser=True, is_active=True).order_by("pk")
    return list(admins.values_list("pk", flat=True))


def _check_keeps_an_admin(user, admins: list[int], *, role: str | None, is_active: bool | None) -> None:
    """Refuses (409, naming the field) to demote or deactivate the last active admin."""
    if _losing_admin(role, is_active) and user.is_superuser and user.is_active and admins == [user.pk]:
        field = "role" if role is not None and role != ADMIN else "is_active"
        raise Conflict(f"{field}: {user.username} is the last active admin; make someone else admin first.", field)


def do_change(user, *, role=None, email=None, name=None, is_active=None):
    """Changes any of role, email, name and active → the person as stored. Deactivating revokes their access
    at once; deactivating or a new role also closes their open live streams (they reconnect as who they are
    now)."""
    if email is not None:
        check_email_free(email, exclude_pk=user.pk)
    with transaction.atomic():
        admins = _lock_active_admins() if _losing_admin(role, is_active) else []
        user = get_user_model().objects.select_for_update().get(pk=user.pk)  # read under the lock, not before
        _check_keeps_an_admin(user, admins, role=role, is_active=is_active)
        if role is not None:
            _apply_role(user, role)
        if email is not None:
            user.email = email
        if name is not None:
            user.first_name, user.last_name = name, ""
        deactivating = is_active is False and user.is_active
        if is_active is not None:
            user.is_active = is_active
        user.save()
        if deactivating:
            revoke_access(user)
        if deactivating or role is not None:
            transaction.on_commit(lambda: live.group_send(person_group(user.pk), {"type": "access.revoked"}))
    return user


def do_deactivate(user) -> None:
    do_change(user, is_active=False)


def revoke_access(user) -> None:
    """Drops the person's API token and every session they are signed in with."""
    Token.objects.filter(user=user).delete()
    # Sessions are stored signed, not indexed by user: read the live ones (a small team has few).
    stale = [s.pk for s in Session.objects.filter(expire_date__gt=timezone.now())
             if s.get_decoded().get("_auth_user_id") == str(user.pk)]  # fmt: skip
    Session.objects.filter(pk__in=stale).delete()


def do_password_link(user) -> str:
    """A fresh set-password link for an active person (an earlier unused one keeps working until it expires
    or a password is set)."""
    _check_active(user)
    return set_password_link(user)


def _check_active(user) -> None:
    if not user.is_active:
        raise Conflict(f"username: {user.username} is deactivated; reactivate them first.", "username")


def do_issue_token(user) -> str:
    """A new API token for the person (their previous one stops working); the key is shown only now."""
    _check_active(user)
    with transaction.atomic():
        Token.objects.filter(user=user).delete()
        return Token.objects.create(user=user).key
