"""`POST /api/v1/events` on the event loop, with group commit, for PostgreSQL.

Ingestion is the hot path: during an alert storm every sender posts one event per request. Through
Django's ASGI handler a request costs several thread hops and a transaction of its own. This ASGI app sits
in front of Django and, for a JSON POST to /api/v1/events carrying `Authorization: Token|Bearer`, does
the same work without leaving the event loop:

- authentication and the permission check through the same Django code (auth backends, integration
  keys), run in a thread only on a cache miss. A decision is reused for at most AUTH_CACHE_SECONDS and
  only while its credential's row is unchanged: every request first reads that row (the token and its
  user's active flag and groups, or the integration key's id, kind and enabled flag) in one indexed
  query, so a deleted token or a rotated or disabled key is refused at once, in every process;
- the rate limit on the same counters as the DRF views (incidents.throttles);
- validation by the same `EventSerializer`, with the same 400 body naming every bad field;
- the insert through a psycopg async pool, where every event that arrived while the previous write was
  in flight goes into one multi-row INSERT and one commit (group commit): the answer (201 with the stored
  event, or `{"accepted": N}`) is sent only after that commit, so an acknowledged event is durable.

Anything else (another method or path, a session cookie, a browser's Origin, SQLite, OPSASSIST_FAST_INGEST=0)
goes to Django untouched. tests/test_fastingest.py checks both paths answer alike.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import math
import re
import time
from collections import Counter
from dataclasses import dataclass
from types import SimpleNamespace

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from incidents.api.serializers import MAX_BATCH, EventSerializer
from incidents.metrics import events_ingested_total
from incidents.models import Event
from incidents.throttles import acharge
from opsassist.lib import nul as strict_json
from opsassist.lib.exceptions import DATABASE_UNAVAILABLE, RETRY_AFTER_SECONDS, validation_body

logger = logging.getLogger(__name__)

PATH = re.compile(r"^/api/v1/events/?$")
AUTH_CACHE_SECONDS = 10.0
MAX_ROWS_PER_STATEMENT = 1000
# After the database failed, posts are refused (503) at once for this long before the next attempt, so
# that requests do not queue behind one pool timeout after another.
DOWN_RETRY_SECONDS = 1.0
HEADERS = [
    (b"content-type", b"application/json"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]
COLUMNS = ["service", "level", "message", "timestamp", "received_at", "host", "attributes"]


@dataclass(frozen=True)
class Caller:
    ident: str | None  # the rate-limit identity; None = not authenticated
    allowed: bool
    problem: str = ""  # the 401 detail when not authenticated


class Refused(Exception):
    def __init__(self, status: int, body: dict, headers: list | None = None):
        self.status, self.body, self.headers = status, body, headers or []


def enabled() -> bool:
    return settings.FAST_INGEST and connection.vendor == "postgresql"


class FastIngest:
    """ASGI middleware: takes the event posts it can serve, hands everything else to `app`."""

    def __init__(self, app):
        self.app = app
        self._callers: dict[bytes, tuple[float, Caller, tuple | None]] = {}
        self._lookups: dict[tuple, asyncio.Future] = {}
        self._writer: EventWriter | None = None

    async def __call__(self, scope, receive, send):
        if not (scope["type"] == "http" and scope["method"] == "POST" and PATH.match(scope["path"])):
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        authorization = headers.get(b"authorization", b"")
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if (
            not authorization.lower().startswith((b"token ", b"bearer "))
            or content_type != b"application/json"
            or b"origin" in headers  # browsers: CORS headers come from Django's middleware
            or not enabled()
        ):
            return await self.app(scope, receive, send)
        try:
            status, body, extra = await self._ingest(authorization, await _read_body(receive))
        except Refused as refused:
            status, body, extra = refused.status, refused.body, refused.headers
        except Exception as exc:
            if _database_unavailable(exc):
                logger.warning("event not stored: database unavailable (%s)", type(exc).__name__)
                status, body = 503, DATABASE_UNAVAILABLE
                extra = [(b"retry-after", str(RETRY_AFTER_SECONDS).encode())]
            else:
                logger.exception("event ingestion failed")
                status, body, extra = 500, {"detail": "Internal server error."}, []
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [*HEADERS, *extra, (b"content-length", str(len(payload)).encode())]})  # fmt: skip
        await send({"type": "http.response.body", "body": payload})

    async def _ingest(self, authorization: bytes, raw: bytes) -> tuple[int, dict, list]:
        caller = await self._caller(authorization)
        if caller.ident is None:
            raise Refused(401, {"detail": caller.problem}, [(b"www-authenticate", b"Token")])
        if not caller.allowed:
            raise Refused(403, {"detail": "You do not have permission to perform this action."})
        try:
            body = strict_json.loads(raw)
        except strict_json.InvalidJSON as exc:
            raise Refused(400, {"detail": str(exc)}) from None
        if isinstance(body, list):
            if not body:
                raise Refused(400, validation_body({"non_field_errors": ["The array is empty."]}))
            if len(body) > MAX_BATCH:
                message = f"At most {MAX_BATCH} events per request ({len(body)} sent)."
                raise Refused(400, validation_body({"non_field_errors": [message]}))
        elif not isinstance(body, dict):
            raise Refused(400, validation_body({"non_field_errors": ["Send an event object or an array of events."]}))
        wait = await acharge(caller.ident, len(body) if isinstance(body, list) else 1)
        if wait is not None:
            seconds = math.ceil(wait)
            detail = f"Request was throttled. Expected available in {seconds} second{'s' if seconds != 1 else ''}."
            raise Refused(429, {"detail": detail}, [(b"retry-after", str(seconds).encode())])
        items, errors = _validate(body if isinstance(body, list) else [body])
        if errors:
            raise Refused(400, validation_body(errors if isinstance(body, list) else errors[0]))
        now = timezone.now()
        events = [Event(**{"timestamp": now, **item, "received_at": now}) for item in items]
        ids = await self.writer().insert(events)
        for event, pk in zip(events, ids, strict=True):
            event.pk = pk
        for level, count in Counter(event.level for event in events).items():
            events_ingested_total.labels(level).inc(count)
        if isinstance(body, list):
            return 201, {"accepted": len(events)}, []
        return 201, _SERIALIZER.to_representation(events[0]), []

    async def _caller(self, authorization: bytes) -> Caller:
        # The credential's row is read before anything is reused or resolved: a decision resolved from
        # an older row is then never taken for a newer one.
        stamp = await self.writer().fetch_one(*credential_query(authorization))
        cached = self._callers.get(authorization)
        if cached is not None and cached[0] > time.monotonic() and cached[2] == stamp:
            return cached[1]
        # One lookup per credential (and row state) at a time: when an entry expires under load (or while
        # the database is down) the concurrent requests share it instead of queueing for the executor's threads.
        key = (authorization, stamp)
        lookup = self._lookups.get(key)
        if lookup is None:
            resolve = sync_to_async(_resolve_caller, thread_sensitive=False)
            lookup = asyncio.ensure_future(resolve(authorization.decode("latin-1")))
            self._lookups[key] = lookup
            lookup.add_done_callback(lambda _: self._lookups.pop(key, None))
        caller = await asyncio.shield(lookup)
        if len(self._callers) > 10_000:
            self._callers.clear()
        self._callers[authorization] = (time.monotonic() + AUTH_CACHE_SECONDS, caller, stamp)
        return caller

    def writer(self) -> EventWriter:
        if self._writer is None:
            self._writer = EventWriter()
        return self._writer

    async def close(self) -> None:
        if self._writer is not None:
            await self._writer.close()
            self._writer = None


# One serializer for the process: its fields are built once (building them is most of a serializer's cost).
# It is used only on the event loop's thread, one call at a time, and keeps no state between calls.
_SERIALIZER = EventSerializer()


def _validate(items: list) -> tuple[list[dict], list[dict | list] | None]:
    """Validate like `EventSerializer(data=items, many=True)`: the data, or one error dict per item."""
    validated: list[dict] = []
    errors: list[dict | list] = []  # a list for an item that is not an object at all (null)
    for item in items:
        try:
            validated.append(_SERIALIZER.run_validation(item))
            errors.append({})
        except ValidationError as exc:
            errors.append(exc.detail)
    return validated, errors if any(errors) else None


def credential_query(authorization: bytes) -> tuple[str, list]:
    """SQL reading the row(s) a cached decision about `authorization` depends on: one row or none."""
    from incidents.models import Integration

    parts = authorization.decode("latin-1").split()
    if len(parts) != 2 or "\x00" in parts[1]:
        return "SELECT NULL WHERE FALSE", []  # malformed: refused by the resolution, no row to watch
    scheme, key = parts[0].lower(), parts[1]
    if scheme == "bearer":
        return _integration_sql(), [Integration.hash_key(key)]
    return _token_sql(), [key]


@functools.cache
def _integration_sql() -> str:
    from incidents.models import Integration

    return f"SELECT id, kind, enabled FROM {Integration._meta.db_table} WHERE key_hash = %s"  # noqa: S608


@functools.cache
def _token_sql() -> str:
    """The token's user, its flags, groups and own permissions: what the permission check reads."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    user = get_user_model()
    groups = user.groups.through._meta.db_table
    perms = user.user_permissions.through._meta.db_table
    return (
        f"SELECT u.id, u.is_active, u.is_superuser, "  # noqa: S608 - names from the models
        f"ARRAY(SELECT group_id FROM {groups} WHERE user_id = u.id ORDER BY group_id), "
        f"ARRAY(SELECT permission_id FROM {perms} WHERE user_id = u.id ORDER BY permission_id) "
        f"FROM {Token._meta.db_table} t JOIN {user._meta.db_table} u ON u.id = t.user_id WHERE t.key = %s"
    )


def _resolve_caller(authorization: str) -> Caller:
    """The DRF authentication classes themselves decide, on a thread, with their own DB connection."""
    from django.db import close_old_connections
    from django.http import HttpRequest
    from rest_framework import exceptions
    from rest_framework.authentication import TokenAuthentication
    from rest_framework.request import Request

    from incidents.api.views import EventViewSet
    from incidents.auth import CanIngest, IntegrationKeyAuthentication
    from incidents.throttles import IngestThrottle

    http_request = HttpRequest()  # all the authentication classes read is the header
    http_request.META["HTTP_AUTHORIZATION"] = authorization
    request = Request(http_request)

    try:
        for authentication in (TokenAuthentication(), IntegrationKeyAuthentication()):
            try:
                found = authentication.authenticate(request)
            except exceptions.AuthenticationFailed as exc:
                return Caller(None, False, str(exc.detail))
            if found is None:
                continue
            # The event view's own permission and rate-limit identity decide, as for a DRF request.
            caller = SimpleNamespace(user=found[0], auth=found[1])
            return Caller(IngestThrottle().get_ident(caller), CanIngest().has_permission(caller, EventViewSet))
        return Caller(None, False, "Authentication credentials were not provided.")
    finally:
        connection.close()
        close_old_connections()


class EventWriter:
    """One writer per process: inserts what is queued, in one statement and one commit per round."""

    def __init__(self):
        self._queue: list[tuple[list[Event], asyncio.Future]] = []
        self._wakeup = asyncio.Event()
        self._down: tuple[float, Exception] | None = None  # (retry after, error) once the database failed
        self._pool = None
        self._task = asyncio.get_running_loop().create_task(self._run())
        table = Event._meta.db_table
        columns = ", ".join(Event._meta.get_field(name).column for name in COLUMNS)
        self._sql_head = f"INSERT INTO {table} ({columns}) VALUES "  # noqa: S608 - names from the model
        self._row = "(" + ", ".join(["%s"] * len(COLUMNS)) + ")"

    async def fetch_one(self, sql: str, params: list) -> tuple | None:
        """One row of a read on the ingestion pool (without a thread hop), or None."""
        if self._down is not None and time.monotonic() < self._down[0]:
            raise self._down[1]
        pool = await self._open_pool()
        async with pool.connection() as conn:
            cursor = await conn.execute(sql, params)
            row = await cursor.fetchone()
        if row is None:
            return None
        return tuple(tuple(value) if isinstance(value, list) else value for value in row)  # hashable

    async def insert(self, events: list[Event]) -> list[int]:
        future = asyncio.get_running_loop().create_future()
        self._queue.append((events, future))
        self._wakeup.set()
        return await future

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            batch, self._queue = self._queue, []
            if not batch:
                continue
            if self._down is not None and time.monotonic() < self._down[0]:
                _settle(batch, error=self._down[1])  # the database just failed: answer 503 at once
                continue
            try:
                ids = await self._write([event for events, _ in batch for event in events])
            except Exception as exc:  # answered below, request by request
                if _database_unavailable(exc):
                    self._down = (time.monotonic() + DOWN_RETRY_SECONDS, exc)
                if len(batch) > 1 and not _database_unavailable(exc):
                    await self._write_one_by_one(batch)  # one bad request must not fail the others
                else:
                    _settle(batch, error=exc)
                continue
            start = 0
            for events, future in batch:
                _settle([(events, future)], ids=ids[start : start + len(events)])
                start += len(events)

    async def _write_one_by_one(self, batch) -> None:
        for events, future in batch:
            try:
                _settle([(events, future)], ids=await self._write(events))
            except Exception as exc:
                _settle([(events, future)], error=exc)

    async def _write(self, events: list[Event]) -> list[int]:
        from psycopg.types.json import Jsonb

        pool = await self._open_pool()
        ids: list[int] = []
        async with pool.connection() as conn, conn.transaction():
            for start in range(0, len(events), MAX_ROWS_PER_STATEMENT):
                chunk = events[start : start + MAX_ROWS_PER_STATEMENT]
                params = []
                for e in chunk:
                    params += [e.service, e.level, e.message, e.timestamp, e.received_at, e.host, Jsonb(e.attributes)]
                sql = self._sql_head + ", ".join([self._row] * len(chunk)) + " RETURNING id"
                cursor = await conn.execute(sql, params)
                ids += [row[0] for row in await cursor.fetchall()]
        return ids

    async def _open_pool(self):
        if self._pool is None:
            from psycopg_pool import AsyncConnectionPool

            database = connection.settings_dict
            options = database.get("OPTIONS", {})
            pool_options = options.get("pool", {}) if isinstance(options.get("pool"), dict) else {}
            kwargs = {
                "dbname": database["NAME"], "user": database.get("USER") or None,
                "password": database.get("PASSWORD") or None, "host": database.get("HOST") or None,
                "port": database.get("PORT") or None, "connect_timeout": options.get("connect_timeout", 5),
                "application_name": options.get("application_name", "opsassist"),
            }  # fmt: skip
            pool = AsyncConnectionPool(
                kwargs={k: v for k, v in kwargs.items() if v is not None},
                min_size=1,
                max_size=2,
                timeout=pool_options.get("timeout", 3.0),
                check=AsyncConnectionPool.check_connection,
                configure=_autocommit,
                open=False,
                name="opsassist-ingest",
            )
            await pool.open()
            self._pool = pool
        return self._pool

    async def close(self) -> None:
        self._task.cancel()
        if self._pool is not None:
            await self._pool.close()


async def _autocommit(conn) -> None:
    """A credential read is one round trip; writes open their transaction explicitly (conn.transaction())."""
    await conn.set_autocommit(True)


def _settle(batch, ids=None, error=None) -> None:
    for _, future in batch:
        if future.done():  # the client went away
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(ids)


async def _read_body(receive) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Refused(400, {"detail": "The client went away."})
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            raise Refused(413, {"detail": f"Request body over {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."})
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def _database_unavailable(exc: Exception) -> bool:
    import psycopg
    from django.db import InterfaceError, OperationalError
    from psycopg_pool import PoolTimeout

    return isinstance(exc, (psycopg.OperationalError, PoolTimeout, OperationalError, InterfaceError))
