"""Ingestion rate limit: per integration key, else per user, counted in events (a batch of 1000 counts
1000). A fixed window kept in the cache with one atomic increment per request: Redis in service mode,
so every web worker shares the count; process memory in embedded mode. Over the limit: 429 with
Retry-After. When the cache is unreachable the limit is not applied: events are never refused for it.

`IngestThrottle` serves the DRF views; `acharge` the event-loop ingestion path (incidents.fastingest),
on the same counters: the charges that arrive while one round trip to Redis is in flight share the next."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import weakref
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.throttling import SimpleRateThrottle

from incidents.auth import integration_of
from opsassist.lib.grouped import Grouped

if TYPE_CHECKING:
    import redis.asyncio

logger = logging.getLogger(__name__)
_DURATIONS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def limit() -> tuple[int, int] | None:
    """(events, window seconds) from INGEST_RATE_LIMIT ("6000/min"), or None when it is off."""
    rate = settings.INGEST_RATE_LIMIT
    if not rate:
        return None
    count, period = rate.split("/")
    return int(count), _DURATIONS[period[0]]


def _window(ident: str, duration: int) -> tuple[str, float]:
    window = int(time.time() // duration)
    return f"throttle:ingest:{ident}:{window}", (window + 1) * duration


def _charge(cache, key: str, cost: int, duration: int) -> int:
    # add() is a no-op when the key exists; incr() is atomic in Redis (and under LocMem's lock).
    cache.add(key, 0, timeout=duration + 1)
    try:
        return cache.incr(key, cost)
    except ValueError:  # expired between add and incr
        cache.add(key, cost, timeout=duration + 1)
        return cost


class IngestThrottle(SimpleRateThrottle):
    scope = "ingest"

    def __init__(self):
        self.window_end = 0.0

    def get_ident(self, request):
        integration = integration_of(request)
        if integration is not None:
            return f"key{integration.pk}"
        if request.user and request.user.is_authenticated and request.user.pk is not None:
            return f"user{request.user.pk}"
        return "addr" + super().get_ident(request)

    def allow_request(self, request, view):
        rate = limit()
        if rate is None:
            return True
        allowed, duration = rate
        key, self.window_end = _window(self.get_ident(request), duration)
        cost = len(request.data) if isinstance(request.data, list) and request.data else 1
        try:
            count = _charge(caches[settings.THROTTLE_CACHE], key, cost, duration)
        except Exception:
            logger.warning("rate limit not applied: cache unavailable", exc_info=True)
            return True
        return count <= allowed

    def wait(self):
        return max(1.0, self.window_end - time.time())


# Per event loop (forgotten with it) and Redis location.
_charges: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Grouped[tuple[str, int, int], int]]]
_charges = weakref.WeakKeyDictionary()


async def acharge(ident: str, cost: int) -> float | None:
    """Charge `cost` events to `ident` without blocking the event loop; seconds to wait when over the
    limit, else None."""
    rate = limit()
    if rate is None:
        return None
    allowed, duration = rate
    key, window_end = _window(ident, duration)
    cache = caches[settings.THROTTLE_CACHE]
    try:
        if isinstance(cache, RedisCache):
            count = await _redis_charge(cache, cache.make_and_validate_key(key), cost, duration)
        else:  # process memory: a dict under a lock, nothing to wait for
            count = _charge(cache, key, cost, duration)
    except Exception:
        logger.warning("rate limit not applied: cache unavailable", exc_info=True)
        return None
    return None if count <= allowed else max(1.0, window_end - time.time())


async def _redis_charge(cache: RedisCache, key: str, cost: int, duration: int) -> int:
    import redis.asyncio

    location = cache._servers[0]  # type: ignore[attr-defined]  # set by RedisCache.__init__; not in the stubs
    per_location = _charges.setdefault(asyncio.get_running_loop(), {})  # a client belongs to one event loop
    grouped = per_location.get(location)
    if grouped is None:
        client = redis.asyncio.Redis.from_url(location, socket_timeout=1)
        grouped = per_location[location] = Grouped(functools.partial(_charge_round, client))
    return await grouped((key, cost, duration))


async def _charge_round(client: redis.asyncio.Redis, charges: list[tuple[str, int, int]]) -> list[int]:
    """The charges that arrived during the previous round, in one round trip: one increment per key by
    the sum of its costs. Each charge gets the count it would have had alone, in arrival order."""
    totals: dict[str, int] = {}
    durations: dict[str, int] = {}
    for key, cost, duration in charges:
        totals[key] = totals.get(key, 0) + cost
        durations[key] = duration
    # The same key and integer encoding as Django's RedisCache add() + incr().
    async with client.pipeline(transaction=False) as pipe:
        for key, total in totals.items():
            pipe.set(key, 0, ex=durations[key] + 1, nx=True)
            pipe.incrby(key, total)
        replies = await pipe.execute()
    counts = {key: count - totals[key] for key, count in zip(totals, replies[1::2], strict=True)}
    results = []
    for key, cost, _ in charges:
        counts[key] += cost
        results.append(counts[key])
    return results
