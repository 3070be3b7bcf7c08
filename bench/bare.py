"""The single-event ceiling of bench/peer.py: a bare ASGI app doing one INSERT per request.

    BARE_DATABASE_URL=postgres://... uvicorn bench.bare:app --workers N

`POST /events` with an event's JSON stores it in `bare_event` (a copy of incidents_event, indexes
included, made by bench/peer.py) with one INSERT on a psycopg async pool in autocommit (one round trip)
and answers 201 with the body and its id. No authentication, validation or rate limit: only what any
web app has to do to store a posted event, on the same cores, database and load generator as OpsAssist.
"""

from __future__ import annotations

import json
import os

from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

SQL = (
    "INSERT INTO bare_event (service, level, message, timestamp, received_at, host, attributes) "
    "VALUES (%s, %s, %s, now(), now(), %s, %s) RETURNING id"
)
_pool: AsyncConnectionPool | None = None


async def _autocommit(conn) -> None:
    await conn.set_autocommit(True)


async def _lifespan(receive, send) -> None:
    global _pool
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            _pool = AsyncConnectionPool(os.environ["BARE_DATABASE_URL"], min_size=4, max_size=16,
                                        configure=_autocommit, open=False)  # fmt: skip
            await _pool.open(wait=True)
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if _pool is not None:
                await _pool.close()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _answer(send, status: int, body: dict) -> None:
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


async def app(scope, receive, send) -> None:
    if scope["type"] == "lifespan":
        return await _lifespan(receive, send)
    if scope["method"] != "POST":
        return await _answer(send, 200, {"status": "ok"})
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    event = json.loads(b"".join(chunks))
    assert _pool is not None
    async with _pool.connection() as conn:
        cursor = await conn.execute(SQL, [event["service"], event["level"], event["message"], event.get("host", ""),
                                          Jsonb(event.get("attributes", {}))])  # fmt: skip
        row = await cursor.fetchone()
    return await _answer(send, 201, {"id": row[0] if row else None, **event})
