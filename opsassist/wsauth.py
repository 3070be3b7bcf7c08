"""WebSocket authentication: the browser's session, or `Authorization: Token <key>` for scripts; and the
Origin check that keeps other sites off the live stream."""

from urllib.parse import urlparse

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.security.websocket import OriginValidator, WebsocketDenier
from django.conf import settings
from django.contrib.auth.models import AnonymousUser


@database_sync_to_async
def _user_for_token(key: str):
    from rest_framework.authtoken.models import Token

    token = Token.objects.select_related("user").filter(key=key).first()
    if token is None or not token.user.is_active:
        return AnonymousUser()
    return token.user


class _TokenAuthMiddleware:
    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        user = scope.get("user")
        if user is None or not user.is_authenticated:
            header = dict(scope.get("headers", [])).get(b"authorization", b"").decode("latin-1")
            kind, _, key = header.partition(" ")
            if kind.lower() == "token" and key:
                scope = {**scope, "user": await _user_for_token(key.strip())}
        return await self.inner(scope, receive, send)


def TokenOrSessionAuthMiddleware(inner):  # noqa: N802 - reads like the Channels stacks it wraps
    return AuthMiddlewareStack(_TokenAuthMiddleware(inner))


def _header(scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value
    return None


class PublicOriginValidator(OriginValidator):
    """Lets a WebSocket through only from a page of OPSASSIST_URL (settings.WEBSOCKET_ALLOWED_ORIGINS), so
    another site a logged-in user visits cannot open the live stream with the user's cookie.

    Browsers always send Origin on a WebSocket. A connection without one is not a browser: it is let through
    only when it authenticates with `Authorization: Token`, never on a session cookie alone. The allowed
    list is read per connection, so it follows the settings."""

    def __init__(self, application):
        super().__init__(application, allowed_origins=[])

    async def __call__(self, scope, receive, send):
        if self.accepts(scope):
            return await self.application(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)

    def accepts(self, scope) -> bool:
        origin = _header(scope, b"origin")
        if origin is None:
            kind, _, key = (_header(scope, b"authorization") or b"").decode("latin-1").partition(" ")
            return kind.lower() == "token" and bool(key.strip())
        parsed = urlparse(origin.decode("latin-1"))
        return any(self.match_allowed_origin(parsed, pattern) for pattern in settings.WEBSOCKET_ALLOWED_ORIGINS)
