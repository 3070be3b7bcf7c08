"""Ingestion rate limit: per integration key, else per user, counted in events (a batch of 1000 counts
1000). A fixed window kept in the cache with one atomic increment per request: Redis in service mode,
so every web worker shares the count; process memory in embedded mode. Over the limit: 429 with
Retry-After (DRF's Throttled)."""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.core.cache import caches
from rest_framework.throttling import SimpleRateThrottle

from incidents.auth import integration_of

logger = logging.getLogger(__name__)


class IngestThrottle(SimpleRateThrottle):
    scope = "ingest"
    cache_format = "throttle:ingest:%(ident)s:%(window)d"

    def __init__(self):
        self.cache = caches[settings.THROTTLE_CACHE]
        self.rate = settings.INGEST_RATE_LIMIT or None
        self.num_requests, self.duration = self.parse_rate(self.rate) if self.rate else (None, None)
        self.window_end = 0.0

    def get_rate(self):
        return settings.INGEST_RATE_LIMIT or None

    def get_ident(self, request):
        integration = integration_of(request)
        if integration is not None:
            return f"key{integration.pk}"
        if request.user and request.user.is_authenticated and request.user.pk is not None:
            return f"user{request.user.pk}"
        return "addr" + super().get_ident(request)

    def allow_request(self, request, view):
        if self.num_requests is None:
            return True
        now = time.time()
        window = int(now // self.duration)
        self.window_end = (window + 1) * self.duration
        key = self.cache_format % {"ident": self.get_ident(request), "window": window}
        cost = len(request.data) if isinstance(request.data, list) and request.data else 1
        try:
            count = self._count(key, cost)
        except Exception:
            logger.warning("rate limit not applied: cache unavailable", exc_info=True)
            return True
        return count <= self.num_requests

    def _count(self, key: str, cost: int) -> int:
        # add() is a no-op when the key exists; incr() is atomic in Redis (and under LocMem's lock).
        self.cache.add(key, 0, timeout=self.duration + 1)
        try:
            return self.cache.incr(key, cost)
        except ValueError:  # expired between add and incr
            self.cache.add(key, cost, timeout=self.duration + 1)
            return cost

    def wait(self):
        return max(1.0, self.window_end - time.time())
