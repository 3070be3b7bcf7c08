"""`POST /api/v1/events` on the event loop, with group commit, for PostgreSQL.

Ingestion is the hot path: during an alert storm every sender posts one event per request. Through
Django's ASGI handler a request costs several thread hops and a transaction of its own. This ASGI app sits
in front of Django and, for a JSON POST to /api/v1/events carrying `Authorization: Token|Bearer`, does
the same work without leaving the event loop:

- authentication and the permission check through the same Django code (auth backends, integration
  keys), run in a thread only on a cache miss. A decision is reused for at most AUTH_CACHE_SECONDS and
  only while its credential's row is unchanged (the token and its user's active flag, groups and own
  permissions, or the integration key's id, kind and enabled flag), so a deleted token or a rotated or
  disabled key stores nothing more once the change is committed, in every process: a single event's
  INSERT reads that row itself and stores nothing if it changed (the request is then decided again:
  401 or 403 if revoked), at no extra round trip; a batch has the row read before its COPY, by a read
  that starts after the request arrived and that requests arriving together share
  (opsassist.lib.grouped). (In the moment between a revocation and the next write with that credential,
  a request refused for its body or by the rate limit is answered 400 or 429 rather than 401.)
- the rate limit on the same counters as the DRF views (incidents.throttles);
- the body rules, validation, rows, metrics and 201 body of the one event intake (incidents.intake),
  with the same 400 body naming every bad field;
- the write through a psycopg async pool, where everything that arrived while the writes in flight (one
  round of single events, up to BATCH_ROUNDS of batches) were running is written together (group
  commit): single events in one INSERT (one prepared statement, one round trip, no BEGIN/COMMIT needed
  for one statement), batches with COPY in one transaction; a pooled connection is checked only after
  sitting idle. The
  answer (201 with the stored event, or `{"accepted": N}`) is sent only after that commit, so an
  acknowledged event is durable.

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
from typing import NamedTuple

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
# Write rounds in flight at once, for single events and for batches. Single events: one, so that whatever
# arrives while a round is written waits for the next and rounds under load carry many events
# (bench/peer.py: with 4 rounds in flight, rounds of ~2 events cost PostgreSQL 170 us of CPU per event and
# the process 210 us; with 1, 95 us and 155 us, and 40 % more events per second at the same p99); an idle
# server still writes a lone event at once. Batches are large already: their COPYs overlap instead
# (bench/ingest.py: 51-54 % of the COPY ceiling with 4 in flight, 48 % with 1).
SINGLE_ROUNDS = 1
BATCH_ROUNDS = 4
# A single event whose credential changed under it is decided again at most this many times.
STALE_RETRIES = 3
# A pooled connection idle for longer than this is checked (one round trip) before it is used again.
IDLE_CHECK_SECONDS = 1.0
# After the database failed, posts are refused (503) at once for this long before the next attempt, so
# that requests do not queue behind one pool timeout after another.
DOWN_RETRY_SECONDS = 1.0
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
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


class Check(NamedTuple):
    """A credential and the row its cached decision was made from (stamp_sql's text)."""

    kind: str
    key: str
    stamp: str


Write = tuple[list[tuple], bool, Check | None]  # rows, whether their ids are wanted, the credential check


class StaleCredential(Exception):
    """The credential's row changed after its decision was cached: nothing was stored; decide again."""


class Refused(Exception):
    def __init__(self, status: int, body: dict, headers: list | None = None):
        self.status, self.body, self.headers = status, body, headers or []


def enabled() -> bool:
    return settings.FAST_INGEST and _on_postgresql()


@functools.cache
def _on_postgresql() -> bool:
    return connection.vendor == "postgresql"  # the engine is fixed for the process's life


class FastIngest:
    """ASGI middleware: takes the event posts it can serve, hands everything else to `app`."""

    def __init__(self, app):
        self.app = app
        self._callers: dict[bytes, tuple[float, Caller, str | None]] = {}
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
        payload = _ENCODER.encode(body).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [*HEADERS, *extra, (b"content-length", str(len(payload)).encode())]})  # fmt: skip
        await send({"type": "http.response.body", "body": payload})

    async def _ingest(self, authorization: bytes, raw: bytes) -> tuple[int, dict, list]:
        # A single event may rely on a cached decision: its INSERT itself checks the credential's row
        # (StaleCredential when it changed). A batch (COPY) reads the row first.
        single = raw.lstrip()[:1] != b"["
        caller, stamp = await self._admitted(authorization, trust_cache=single)
        try:
            body = strict_json.loads(raw)
        except strict_json.InvalidJSON as exc:  # worded as the DRF view words it (nul.JSONParser)
            raise Refused(400, exc.as_body()) from None
        try:
            events = intake.check_shape(body)
        except ValidationError as exc:
            raise Refused(400, validation_body(exc.detail)) from None
        wait = await acharge(caller.ident or "", len(events))
        if wait is not None:
            seconds = math.ceil(wait)
            detail = f"Request was throttled. Expected available in {seconds} second{'s' if seconds != 1 else ''}."
            raise Refused(429, {"detail": detail}, [(b"retry-after", str(seconds).encode())])
        try:
            rows = intake.build_rows(intake.validate(body), timezone.now())
        except ValidationError as exc:
            raise Refused(400, validation_body(exc.detail)) from None
        ids = await self._write(authorization, rows, not isinstance(body, list), stamp)
        intake.count(rows)
        if ids is None:
            return 201, {"accepted": len(rows)}, []
        # No time zone is ever activated on this path: times show in the default one, as in Django's.
        return 201, intake.render(rows[0], ids[0], timezone.get_default_timezone()), []

    async def _write(self, authorization: bytes, rows: list[tuple], single: bool, stamp: str | None):
        credential = credential_of(authorization)
        for _ in range(STALE_RETRIES):
            check = Check(*credential, stamp) if single and credential and stamp is not None else None
            try:
                return await self.writer().write(rows, returning=single, check=check)
            except StaleCredential:
                _, stamp = await self._admitted(authorization, trust_cache=False)  # 401/403 if revoked
        logger.warning("event not stored: its credential kept changing")
        raise Refused(503, DATABASE_UNAVAILABLE, [(b"retry-after", str(RETRY_AFTER_SECONDS).encode())])

    async def _admitted(self, authorization: bytes, trust_cache: bool) -> tuple[Caller, str | None]:
        """The caller and its credential's row, or Refused (401, 403)."""
        caller, stamp = await self._caller(authorization, trust_cache)
        if caller.ident is None:
            raise Refused(401, {"detail": caller.problem}, [(b"www-authenticate", b"Token")])
        if not caller.allowed:
            raise Refused(403, {"detail": "You do not have permission to perform this action."})
        return caller, stamp

    async def _caller(self, authorization: bytes, trust_cache: bool) -> tuple[Caller, str | None]:
        cached = self._callers.get(authorization)
        if trust_cache and cached is not None and cached[0] > time.monotonic() and cached[1].allowed:
            return cached[1], cached[2]
        # The credential's row is read before anything is reused or resolved: a decision resolved from
        # an older row is then never taken for a newer one.
        stamp = await self.writer().credential_row(authorization)
        cached = self._callers.get(authorization)
        if cached is not None and cached[0] > time.monotonic() and cached[2] == stamp:
            return cached[1], stamp
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
        return caller, stamp

    def writer(self) -> EventWriter:
        if self._writer is None:
            self._writer = EventWriter()
        return self._writer

    async def close(self) -> None:
        self._lookups.clear()  # they belong to this event loop
        if self._writer is not None:
            await self._writer.close()
            self._writer = None


def credential_of(authorization: bytes) -> tuple[str, str] | None:
    """(kind, lookup key) of the row a decision about `authorization` depends on; None when malformed
    (refused by the resolution, no row to watch)."""
    from incidents.models import Integration

    parts = authorization.decode("latin-1").split()
    if len(parts) != 2 or "\x00" in parts[1]:
        return None
    scheme, key = parts[0].lower(), parts[1]
    if scheme == "bearer":
        return "integration", Integration.hash_key(key)
    return "token", key


@functools.cache
def stamp_sql(kind: str, key: str) -> str:
    """An SQL expression: the credential row (`kind`, `key` are SQL expressions) as text, or NULL. For a
    token: its user, the user's flags, groups and own permissions (what the permission check reads);
    for an integration key: its id, kind and enabled flag."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from incidents.models import Integration

    user = get_user_model()
    groups = user.groups.through._meta.db_table
    perms = user.user_permissions.through._meta.db_table
    token = (
        f"SELECT ROW(u.id, u.is_active, u.is_superuser, "  # noqa: S608 - names from the models
        f"ARRAY(SELECT group_id FROM {groups} WHERE user_id = u.id ORDER BY group_id), "
        f"ARRAY(SELECT permission_id FROM {perms} WHERE user_id = u.id ORDER BY permission_id))::text "
        f"FROM {Token._meta.db_table} t JOIN {user._meta.db_table} u ON u.id = t.user_id WHERE t.key = {key}"
    )
    integration = f"SELECT ROW(id, kind, enabled)::text FROM {Integration._meta.db_table} WHERE key_hash = {key}"  # noqa: S608
    return f"CASE {kind} WHEN 'token' THEN ({token}) WHEN 'integration' THEN ({integration}) END"


@functools.cache
def _stamps_sql() -> str:
    return (
        f"SELECT {stamp_sql('c.kind', 'c.key')} "  # noqa: S608
        "FROM unnest(%b::text[], %b::text[]) WITH ORDINALITY AS c(kind, key, n) ORDER BY c.n"
    )


@functools.cache
def _checked_insert_sql() -> str:
    """The intake's INSERT, which stores nothing unless every credential of the round still has the row
    its decision was made from, read by the same statement (one round trip, one snapshot)."""
    unchanged = (
        f"(SELECT coalesce(bool_and({stamp_sql('c.kind', 'c.key')} IS NOT DISTINCT FROM c.stamp), true) "  # noqa: S608
        "FROM unnest(%b::text[], %b::text[], %b::text[]) AS c(kind, key, stamp))"
    )
    return intake.insert_sql(where=unchanged)


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
        self._opening: asyncio.Future | None = None
        self._singles: Grouped[Write, list[int] | None] = Grouped(self._write_round, SINGLE_ROUNDS)
        self._batches: Grouped[Write, list[int] | None] = Grouped(self._write_round, BATCH_ROUNDS)
        self._reads: Grouped[bytes, str | None] = Grouped(self._read_round)
        self._used: dict[int, float] = {}  # id(connection) -> when it was last returned to the pool

    async def write(self, rows: list[tuple], *, returning: bool, check: Check | None = None) -> list[int] | None:
        """Store `rows` (the ids when `returning`), committed when this returns. With `check` (single
        events only): stored only if the credential row is still `check.stamp` when they are written,
        else StaleCredential."""
        return await (self._singles if returning else self._batches)((rows, returning, check))

    async def credential_row(self, authorization: bytes) -> str | None:
        """The row a decision about `authorization` depends on, read after this call began, or None."""
        return await self._reads(authorization)

    def _check_down(self) -> None:
        if self._down is not None and time.monotonic() < self._down[0]:
            raise self._down[1]  # the database just failed: answer 503 at once

    async def _read_round(self, authorizations: list[bytes]) -> list[str | None]:
        self._check_down()
        try:
            return await self._read(authorizations)
        except Exception as exc:
            if _database_unavailable(exc):  # like a failed write: the next requests get their 503 at once
                self._down = (time.monotonic() + DOWN_RETRY_SECONDS, exc)
            raise

    async def _read(self, authorizations: list[bytes]) -> list[str | None]:
        credentials = {a: c for a in dict.fromkeys(authorizations) if (c := credential_of(a)) is not None}
        stamps: dict[bytes, str | None] = dict.fromkeys(authorizations)
        if credentials:
            pool = await self._open_pool()
            async with pool.connection() as conn:
                kinds, keys = zip(*credentials.values(), strict=True)
                cursor = await conn.execute(_stamps_sql(), [list(kinds), list(keys)], prepare=True)
                stamps.update(zip(credentials, [row[0] for row in await cursor.fetchall()], strict=True))
        return [stamps[authorization] for authorization in authorizations]

    async def _write_round(self, batch: list[Write]) -> list:
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

    async def _write_alone(self, request: Write) -> list[int] | Exception | None:
        try:
            return (await self._write([request]))[0]
        except Exception as exc:
            return exc

    async def _write(self, batch: list[Write]) -> list[list[int] | Exception | None]:
        """Single events in one INSERT, batches in one COPY; a transaction only when there are both."""
        singles = [row for rows, returning, _ in batch if returning for row in rows]
        copied = [row for rows, returning, _ in batch if not returning for row in rows]
        checks = list(dict.fromkeys(check for _, returning, check in batch if returning and check is not None))
        pool = await self._open_pool()
        async with pool.connection() as conn, conn.transaction() if singles and copied else _no_transaction():
            if copied:
                await _copy(conn, copied)
            ids = await _insert(conn, singles, checks) if singles else []
        stale = len(ids) != len(singles)  # a credential changed: no single event of the round was stored
        results: list[list[int] | Exception | None] = []
        for rows, returning, _ in batch:
            if not returning:
                results.append(None)
            elif stale:
                results.append(StaleCredential())
            else:
                results.append(ids[: len(rows)])
                ids = ids[len(rows) :]
        return results

    async def _open_pool(self):
        if self._pool is None:
            # The first rounds of singles, batches and reads may all start at once: one of them opens the
            # pool, the others wait for it (two pools would leave one open and unclosed).
            if self._opening is None:
                self._opening = asyncio.ensure_future(self._new_pool())
            await asyncio.shield(self._opening)
        return self._pool

    async def _new_pool(self) -> None:
        try:
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
                max_size=SINGLE_ROUNDS + BATCH_ROUNDS + 1,  # the writes, and the credential reads
                timeout=pool_options.get("timeout", 3.0),
                check=self._check_idle,
                configure=_autocommit,
                reset=self._returned,
                open=False,
                name="opsassist-ingest",
            )
            await pool.open()
            self._pool = pool
        finally:
            self._opening = None

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
        await self._singles.close()
        await self._batches.close()
        await self._reads.close()
        if self._pool is not None:
            await self._pool.close()


@contextlib.asynccontextmanager
async def _no_transaction():
    yield


async def _copy(conn, rows: list[tuple]) -> None:
    async with conn.cursor() as cursor, cursor.copy(intake.copy_sql()) as copy:
        copy.set_types(intake.copy_types())
        for row in rows:
            await copy.write_row(row)


async def _insert(conn, rows: list[tuple], checks: list[Check]) -> list[int]:
    kinds, keys, stamps = (list(column) for column in zip(*checks, strict=True)) if checks else ([], [], [])
    params = [*intake.insert_params(rows), kinds, keys, stamps]
    cursor = await conn.execute(_checked_insert_sql(), params, prepare=True)
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
