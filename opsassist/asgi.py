"""ASGI entry point: HTTP through Django, WebSockets through Channels, plus lifespan for start-up hooks."""

import asyncio
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsassist.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from incidents.fastingest import FastIngest  # noqa: E402
from opsassist.lib import embedded, live  # noqa: E402
from opsassist.routing import websocket_urlpatterns  # noqa: E402
from opsassist.wsauth import PublicOriginValidator, TokenOrSessionAuthMiddleware  # noqa: E402


async def lifespan(scope, receive, send):
    """Record the server's loop so worker threads reach the in-memory channel layer through it, then
    start the embedded worker and beat (embedded mode only); stop them at shutdown."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            live.set_server_loop(asyncio.get_running_loop())
            embedded.start()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await http_app.close()
            await asyncio.get_running_loop().run_in_executor(None, embedded.stop)
            live.set_server_loop(None)
            await send({"type": "lifespan.shutdown.complete"})
            return


# Event posts are served on the event loop when they can be (see incidents.fastingest); the rest by Django.
http_app = FastIngest(django_asgi_app)

application = ProtocolTypeRouter(
    {
        "http": http_app,
        # Origin first: a page of another site is refused before any cookie is looked at.
        "websocket": PublicOriginValidator(TokenOrSessionAuthMiddleware(URLRouter(websocket_urlpatterns))),
        "lifespan": lifespan,
    }
)
