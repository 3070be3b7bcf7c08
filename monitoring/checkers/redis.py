from __future__ import annotations

import redis

from monitoring.checkers.base import Checker, Outcome
from opsassist.lib import outbound

HEALTHY_BELOW = 30.0  # percent of the limit (seed 001)
DOWN_ABOVE = 90.0


def health_for_memory(percent: float) -> int:
    """< 30 % -> 100, > 90 % -> 0, linear in between (so the incident opens above ~48 %)."""
    if percent <= HEALTHY_BELOW:
        return 100
    if percent >= DOWN_ABOVE:
        return 0
    return round(100 * (DOWN_ABOVE - percent) / (DOWN_ABOVE - HEALTHY_BELOW))


def client_for(target: str, timeout: float) -> redis.Redis:
    """A client whose every connection goes through the outbound policy."""
    return outbound.redis_client(target, socket_timeout=timeout, socket_connect_timeout=timeout)


def memory_limit(info: dict, config: dict) -> int:
    """The monitor's `memory_limit_bytes`, else the server's maxmemory, else the machine's memory."""
    return int(config.get("memory_limit_bytes") or info.get("maxmemory") or info.get("total_system_memory") or 0)


class RedisChecker(Checker):
    """`INFO memory` used memory against the monitor's memory limit."""

    key_metric = ("memory_percent", HEALTHY_BELOW)

    def check(self) -> Outcome:
        client = client_for(self.monitor.target, self.timeout)
        try:
            info = client.info("memory")
        finally:
            client.close()
        used = int(info["used_memory"])
        limit = memory_limit(info, self.config)
        percent = round(100.0 * used / limit, 2) if limit else 0.0
        return Outcome(
            health=health_for_memory(percent),
            metrics={
                "memory_percent": percent,
                "used_memory": used,
                "memory_limit": limit,
                "memory_threshold_percent": HEALTHY_BELOW,
            },
            summary=f"memory {percent:.0f}% of limit",
        )
