"""Live incident and monitor updates for logged-in browsers (and token-authenticated scripts).

Revoking a credential closes the connections that used it, in every process: deleting a token,
deactivating a user, changing groups or permissions, or logging out broadcasts `auth.recheck` over the
channel layer; each connection then checks its own credential again and closes with 4401 (the credential
is gone) or 4403 (it may no longer view incidents). As a safety net for changes made behind Django's back
(SQL, a lost broadcast), a connection also re-checks before forwarding once RECHECK_SECONDS have passed."""

import time

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.contrib import auth
from django.contrib.auth.models import AnonymousUser, Group
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save
from rest_framework.authtoken.models import Token

from opsassist.lib.live import group_send

# Every change to an incident or monitor is sent to this one group (see incidents.live).
LIVE_GROUP = "opsassist.live"
RECHECK_SECONDS = 5.0
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403


def person_group(user_id: int) -> str:
    """Each connection of one person: an `access.revoked` message to it closes them all (deactivated,
    role changed), and whoever reconnects is authorized afresh."""
    return f"opsassist.person.{user_id}"


class IncidentsConsumer(AsyncJsonWebsocketConsumer):
    """`/ws/incidents/`: refuses anonymous connections and users who may not view incidents; relays
    `incident.*`, `timeline.added` and `monitor.*` events while the credential it opened with is valid."""

    checked_at = 0.0

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not await _may_view(user):
            await self.close()
            return
        self.checked_at = time.monotonic()
        await self.channel_layer.group_add(LIVE_GROUP, self.channel_name)
        await self.channel_layer.group_add(person_group(user.pk), self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        await self.channel_layer.group_discard(LIVE_GROUP, self.channel_name)
        user = self.scope.get("user")
        if user is not None and user.is_authenticated:
            await self.channel_layer.group_discard(person_group(user.pk), self.channel_name)

    async def receive_json(self, content, **kwargs):
        if content.get("type") == "ping" and await self._still_allowed():
            await self.send_json({"type": "pong"})

    async def forward(self, message: dict) -> None:
        if await self._still_allowed():
            await self.send_json(message)

    async def _still_allowed(self, *, now: bool = False) -> bool:
        """False (and the connection closed) once the credential is revoked; re-checked at most every
        RECHECK_SECONDS unless `now`."""
        if not now and time.monotonic() - self.checked_at < RECHECK_SECONDS:
            return True
        code = await _refusal(self.scope)
        self.checked_at = time.monotonic()
        if code is None:
            return True
        await self.channel_layer.group_discard(LIVE_GROUP, self.channel_name)
        await self.close(code=code)
        return False

    async def auth_recheck(self, event):
        await self._still_allowed(now=True)

    async def incident_created(self, event):
        await self.forward({"type": "incident.created", "incident": event["incident"]})

    async def incident_updated(self, event):
        await self.forward({"type": "incident.updated", "incident": event["incident"]})

    async def timeline_added(self, event):
        await self.forward({"type": "timeline.added", "incident_id": event["incident_id"], "entry": event["entry"]})

    async def access_revoked(self, event):
        await self.close(code=4403)

    async def monitor_updated(self, event):
        await self.forward({"type": "monitor.updated", "monitor": event["monitor"]})


@database_sync_to_async
def _may_view(user) -> bool:
    return user.has_perm("incidents.view_incident")


@database_sync_to_async
def _refusal(scope) -> int | None:
    """The close code for a connection whose credential no longer lets it view incidents, else None."""
    user = _current_user(scope)
    if not user.is_authenticated or user.pk != scope["user"].pk:
        return CLOSE_UNAUTHENTICATED
    return None if user.has_perm("incidents.view_incident") else CLOSE_FORBIDDEN


def _current_user(scope):
    """The user the connection's credential names now, read afresh: its session (a new store, so a
    logout elsewhere counts), else its `Authorization: Token`."""
    session = scope.get("session")
    if session is not None and session.session_key:
        from importlib import import_module

        from django.conf import settings

        store = import_module(settings.SESSION_ENGINE).SessionStore(session.session_key)
        user = auth.get_user(_Request(store))
        if user.is_authenticated:
            return user
    header = dict(scope.get("headers", [])).get(b"authorization", b"").decode("latin-1")
    kind, _, key = header.partition(" ")
    if kind.lower() == "token" and key.strip():
        token = Token.objects.select_related("user").filter(key=key.strip()).first()
        if token is not None and token.user.is_active:
            return token.user
    return AnonymousUser()


class _Request:
    """What django.contrib.auth.get_user reads of a request."""

    def __init__(self, session):
        self.session = session


# --- Revocation broadcast ----------------------------------------------------------------------------


def broadcast_recheck() -> None:
    """Ask every live connection, in every process, to check its credential again (after the commit).
    If the layer is down, connections still re-check within RECHECK_SECONDS."""
    transaction.on_commit(lambda: group_send(LIVE_GROUP, {"type": "auth.recheck"}))


def _on_token_deleted(sender, **kwargs):
    broadcast_recheck()


def _on_user_saved(sender, instance, created, update_fields=None, **kwargs):
    if not created and (update_fields is None or {"is_active", "password"} & set(update_fields)):
        broadcast_recheck()


def _on_permissions_changed(sender, action, **kwargs):
    if action in ("post_remove", "post_clear", "post_add"):
        broadcast_recheck()


def _on_logged_out(sender, **kwargs):
    broadcast_recheck()


def connect_signals() -> None:
    """Called from the app's ready(): every process that can revoke a credential broadcasts it."""
    user_model = auth.get_user_model()
    post_delete.connect(_on_token_deleted, sender=Token, dispatch_uid="live-token-deleted")
    post_save.connect(_on_user_saved, sender=user_model, dispatch_uid="live-user-saved")
    post_delete.connect(_on_token_deleted, sender=user_model, dispatch_uid="live-user-deleted")
    post_delete.connect(_on_token_deleted, sender=Group, dispatch_uid="live-group-deleted")
    for through, uid in ((user_model.groups.through, "groups"), (user_model.user_permissions.through, "perms"),
                         (Group.permissions.through, "group-perms")):  # fmt: skip
        m2m_changed.connect(_on_permissions_changed, sender=through, dispatch_uid=f"live-{uid}")
    user_logged_out.connect(_on_logged_out, dispatch_uid="live-logged-out")
