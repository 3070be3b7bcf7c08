"""`POST /api/v1/events` on the event loop, with group commit, for PostgreSQL.

Ingestion is the hot path: during an alert storm every sender posts one event per request. Through
Django's ASGI handler a request costs several thread hops and a transaction of its own. This ASGI app sits
in front of Django and, for a JSON POST to /api/v1/events carrying `Authorization: Token|Bearer`, does
the same work without leaving the event loop:

- authentication and the permission check through the same Django code (auth backends, integration
  keys), run in a thread only on a cache miss. A decision is reused for at most AUTH_CACHE_SECONDS and
  only while its credential's row is unchanged: every request has that row (the token and its user's
  active flag and groups, or the integration key's id, kind and enabled flag) read by an indexed query
  that starts after the request arrived, so a deleted token or a rotated or disabled key is refused at
  once, in every process. Requests with the same credential that arrive while one read is in flight
  share the next read (opsassist.lib.grouped);
- the rate limit on the same counters as the DRF views (incidents.throttles);
- the body rules, validation, rows, metrics and 201 body of the one event intake (incidents.intake),
  with the same 400 body naming every bad field;
- the write through a psycopg async pool, where everything that arrived while the previous write was in
  flight is written together (group commit): single events in one INSERT (one prepared statement, one
  round trip, no BEGIN/COMMIT needed for one statement), batches with COPY, in one transaction when both
  are present. The answer (201 with the stored event, or `{"accepted": N}`) is sent only after that
  commit, so an acknowledged event is durable.

Anything else (another method or path, a session cookie, a browser's Origin, SQLite, OPSASSIST_FAST_INGEST=0)
goes to Django untouched. tests/test_fastingest.py checks both paths answer alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import math
import re
import time
from dataclasses import dataclass
from types import SimpleNamespace

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from incidents import intake
from incidents.throttles import acharge
from opsassist.lib import nul as strict_json
from opsassist.lib.exceptions import DATABASE_UNAVAILABLE, RETRY_AFTER_SECONDS, validation_body
from opsassist.lib.grouped import Grouped

logger = logging.getLogger(__name__)

PATH = re.compile(r"^/api/v1/events/?$")
AUTH_CACHE_SECONDS = 10.0
# A pooled connection idle for longer than this is checked (one round trip) before it is used again.
IDLE_CHECK_SECONDS = 1.0
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
        try:
            events = intake.check_shape(body)
        except ValidationError as exc:
            raise Refused(400, validation_body(exc.detail)) from None
        wait = await acharge(caller.ident, len(events))
        if wait is not None:
            seconds = math.ceil(wait)
            detail = f"Request was throttled. Expected available in {seconds} second{'s' if seconds != 1 else ''}."
            raise Refused(429, {"detail": detail}, [(b"retry-after", str(seconds).encode())])
        try:
            rows = intake.build_rows(intake.validate(body), timezone.now())
        except ValidationError as exc:
            raise Refused(400, validation_body(exc.detail)) from None
        single = not isinstance(body, list)
        ids = await self.writer().write(rows, returning=single)
        intake.count(rows)
        if ids is None:
            return 201, {"accepted": len(rows)}, []
        return 201, intake.render(rows[0], ids[0]), []

    async def _caller(self, authorization: bytes) -> Caller:
        # The credential's row is read before anything is reused or resolved: a decision resolved from
        # an older row is then never taken for a newer one.
        stamp = await self.writer().credential_row(authorization)
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
    """One writer per process: writes what is queued in one round (group commit), and reads credential
    rows the same way."""

    def __init__(self):
        self._down: tuple[float, Exception] | None = None  # (retry after, error) once the database failed
        self._pool = None
        self._writes: Grouped[tuple[list[tuple], bool], list[int] | None] = Grouped(self._write_round)
        self._reads: Grouped[bytes, tuple | None] = Grouped(self._read_round)
        self._used: dict[int, float] = {}  # id(connection) -> when it was last returned to the pool

    async def write(self, rows: list[tuple], *, returning: bool) -> list[int] | None:
        """Store `rows` (the ids when `returning`), committed when this returns."""
        return await self._writes((rows, returning))

    async def credential_row(self, authorization: bytes) -> tuple | None:
        """The row a decision about `authorization` depends on, read after this call began, or None."""
        return await self._reads(authorization)

    def _check_down(self) -> None:
        if self._down is not None and time.monotonic() < self._down[0]:
            raise self._down[1]  # the database just failed: answer 503 at once

    async def _read_round(self, authorizations: list[bytes]) -> list[tuple | None]:
        self._check_down()
        rows: dict[bytes, tuple | None] = {}
        pool = await self._open_pool()
        async with pool.connection() as conn:
            for authorization in dict.fromkeys(authorizations):
                cursor = await conn.execute(*credential_query(authorization))
                row = await cursor.fetchone()
                rows[authorization] = None if row is None else _hashable(row)
        return [rows[authorization] for authorization in authorizations]

    async def _write_round(self, batch: list[tuple[list[tuple], bool]]) -> list:
        self._check_down()
        try:
            return await self._write(batch)
        except Exception as exc:
            if _database_unavailable(exc):
                self._down = (time.monotonic() + DOWN_RETRY_SECONDS, exc)
                raise
            if len(batch) == 1:
                raise
        return [await self._write_alone(request) for request in batch]  # one bad request must not fail the others

    async def _write_alone(self, request: tuple[list[tuple], bool]) -> list[int] | Exception | None:
        try:
            return (await self._write([request]))[0]
        except Exception as exc:
            return exc

    async def _write(self, batch: list[tuple[list[tuple], bool]]) -> list[list[int] | None]:
        """Single events in one INSERT, batches in one COPY; a transaction only when there are both."""
        singles = [row for rows, returning in batch if returning for row in rows]
        copied = [row for rows, returning in batch if not returning for row in rows]
        pool = await self._open_pool()
        async with pool.connection() as conn, conn.transaction() if singles and copied else _no_transaction():
            if copied:
                await _copy(conn, copied)
            ids = await _insert(conn, singles) if singles else []
        results: list[list[int] | None] = []
        for rows, returning in batch:
            results.append(ids[: len(rows)] if returning else None)
            ids = ids[len(rows) :] if returning else ids
        return results

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
                check=self._check_idle,
                configure=_autocommit,
                reset=self._returned,
                open=False,
                name="opsassist-ingest",
            )
            await pool.open()
            self._pool = pool
        return self._pool

    async def _check_idle(self, conn) -> None:
        """Check a connection that sat idle (a database restart may have closed it); one in use moments
        ago is known to work, and checking it would cost every write a round trip."""
        from psycopg_pool import AsyncConnectionPool

        if time.monotonic() - self._used.get(id(conn), 0.0) > IDLE_CHECK_SECONDS:
            await AsyncConnectionPool.check_connection(conn)

    async def _returned(self, conn) -> None:
        if len(self._used) > 100:  # connections come and go: forget the closed ones now and then
            self._used.clear()
        self._used[id(conn)] = time.monotonic()

    async def close(self) -> None:
        await self._writes.close()
        await self._reads.close()
        if self._pool is not None:
            await self._pool.close()


def _hashable(row: tuple) -> tuple:
    return tuple(tuple(value) if isinstance(value, list) else value for value in row)


@contextlib.asynccontextmanager
async def _no_transaction():
    yield


async def _copy(conn, rows: list[tuple]) -> None:
    async with conn.cursor() as cursor, cursor.copy(intake.copy_sql()) as copy:
        copy.set_types(intake.copy_types())
        for row in rows:
            await copy.write_row(row)


async def _insert(conn, rows: list[tuple]) -> list[int]:
    cursor = await conn.execute(intake.insert_sql(), intake.insert_params(rows), prepare=True)
    return [row[0] for row in await cursor.fetchall()]


async def _autocommit(conn) -> None:
    """One statement is its own transaction; several open one explicitly (conn.transaction())."""
    await conn.set_autocommit(True)


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
