"""One at a time across processes: a transaction that knows whether it holds a named lease.

PostgreSQL: a transaction-level advisory lock, released by commit, rollback or a dead connection (and,
when asked, a statement_timeout for the transaction's statements). Elsewhere: a cache lease (Redis SET NX
with an expiry in service mode, in-process in the embedded mode), released at the end or by its expiry."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.cache import cache
from django.db import connection, transaction


@contextmanager
def exclusive(lock_id: int, key: str, seconds: float, *, statement_timeout: float | None = None) -> Iterator[bool]:
    """A transaction, yielding whether this caller holds the lease (`lock_id` on PostgreSQL, the cache
    `key` for at most `seconds` elsewhere); a caller that does not hold it should do nothing."""
    if connection.vendor == "postgresql":
        with transaction.atomic(), connection.cursor() as cursor:
            if statement_timeout is None:
                cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [lock_id])
            else:  # one round trip: the lock, and the time bound of this transaction's statements
                cursor.execute(
                    "SELECT pg_try_advisory_xact_lock(%s), set_config('statement_timeout', %s, true)",
                    [lock_id, str(int(statement_timeout * 1000))],
                )
            yield cursor.fetchone()[0]
        return
    token = uuid.uuid4().hex
    held = cache.add(key, token, timeout=max(1, int(seconds)))
    try:
        with transaction.atomic():
            yield held
    finally:
        if held and cache.get(key) == token:
            cache.delete(key)
