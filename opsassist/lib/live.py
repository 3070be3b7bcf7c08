"""Push messages to WebSocket clients through the channel layer, from any thread or process."""

from __future__ import annotations

import asyncio
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

log = logging.getLogger(__name__)

_server_loop: asyncio.AbstractEventLoop | None = None


def set_server_loop(loop: asyncio.AbstractEventLoop | None) -> None:
    """Remember the ASGI server's event loop (called at lifespan start-up).

    The in-memory channel layer keeps asyncio queues owned by that loop; a Celery thread of the embedded
    worker must hand its sends to that loop rather than run them on a loop of its own.
    """
    global _server_loop
    _server_loop = loop


def group_send(group: str, message: dict) -> None:
    """Send `message` to `group`; never raises (a live update must not break the change that caused it)."""
    group_send_many(group, [message])


def group_send_many(group: str, messages: list[dict]) -> None:
    """Send each message to `group`, in order, with one hop into the event loop for them all."""
    layer = get_channel_layer()
    if layer is None or not messages:
        return

    async def send_all():
        for message in messages:
            await layer.group_send(group, message)

    try:
        loop = _server_loop
        if loop is not None and loop.is_running():
            if _running_loop() is loop:
                loop.create_task(send_all())
            else:
                future = asyncio.run_coroutine_threadsafe(send_all(), loop)
                future.add_done_callback(_log_failure)
            return
        async_to_sync(send_all)()
    except Exception:
        log.exception("live update to %s failed", group)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _log_failure(future) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("live update failed: %r", future.exception())
