"""Revoking a credential closes the live WebSocket that used it at once (4401 gone, 4403 no longer allowed),
on the in-process channel layer (embedded) and on Redis (service mode, every process)."""

import asyncio

import pytest
from asgiref.testing import ApplicationCommunicator
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import Token

from incidents import consumers

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(params=["memory", "redis"])
def layer(request, settings):
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",
                                               "CONFIG": {"hosts": [url], "prefix": "opsassist:test"}}}  # fmt: skip
    else:
        settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    return request.param


def _revoke_token(user):
    Token.objects.filter(user=user).delete()


def _deactivate(user):
    user.is_active = False
    user.save()


def _remove_groups(user):
    user.groups.clear()


async def _revoked_closes(headers, revoke) -> int:
    """Connect, receive one live message, revoke; the close code the connection then gets."""
    from opsassist.asgi import application

    scope = {"type": "websocket", "path": "/ws/incidents/", "query_string": b"", "headers": headers,
             "subprotocols": [], "client": ("127.0.0.1", 5000), "server": ("testserver", 80)}  # fmt: skip
    communicator = ApplicationCommunicator(application, scope)
    await communicator.send_input({"type": "websocket.connect"})
    assert (await communicator.receive_output(timeout=5))["type"] == "websocket.accept"
    layer = get_channel_layer()
    message = {"type": "monitor.updated", "monitor": {"name": "db"}}
    await layer.group_send(consumers.LIVE_GROUP, message)
    assert (await communicator.receive_output(timeout=5))["type"] == "websocket.send"
    await database_sync_to_async(revoke)()
    await layer.group_send(consumers.LIVE_GROUP, message)
    answer = await communicator.receive_output(timeout=5)
    assert answer["type"] == "websocket.close", answer  # the message after the revocation is not forwarded
    await communicator.send_input({"type": "websocket.disconnect", "code": answer["code"]})
    await communicator.wait(timeout=5)
    return answer["code"]


def _token_headers(user) -> list[tuple[bytes, bytes]]:
    token, _ = Token.objects.get_or_create(user=user)
    return [(b"authorization", f"Token {token.key}".encode())]


@pytest.mark.parametrize(("revoke", "code"), [(_revoke_token, 4401), (_deactivate, 4401), (_remove_groups, 4403)])
def test_revoking_closes_an_open_websocket(layer, viewer, revoke, code):
    assert asyncio.run(_revoked_closes(_token_headers(viewer), lambda: revoke(viewer))) == code


def test_logging_out_closes_the_browser_sessions_websocket(layer, client, viewer, settings):
    client.force_login(viewer)
    headers = [(b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()),
               (b"origin", settings.WEBSOCKET_ALLOWED_ORIGINS[0].encode())]  # fmt: skip
    assert asyncio.run(_revoked_closes(headers, client.logout)) == 4401


def test_a_change_made_without_signals_is_caught_by_the_periodic_recheck(viewer, settings, monkeypatch):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    monkeypatch.setattr(consumers, "RECHECK_SECONDS", 0.0)

    def behind_djangos_back():
        Group.objects.get(name="viewer").user_set.through.objects.filter(user=viewer).delete()

    assert asyncio.run(_revoked_closes(_token_headers(viewer), behind_djangos_back)) == 4403
