from __future__ import annotations

from monitoring.checkers.redis import client_for
from monitoring.drills import drill_prefix
from remediation.actions.base import Action, RestartCommand


class ClearRedisCache(Action):
    """Deletes keys under the drill prefix and the monitor's `cache_key_pattern` (if set), in the
    monitor's own DB. FLUSHDB only when an admin's policy for this monitor and action allows it."""

    name = "clear_redis_cache"
    label = "Clear the cache"
    fixes_metric = "memory_percent"
    category = "memory_issue"
    fact = "Redis memory at {value}% of its limit (healthy: under {threshold}%)"
    critical_above = 90
    options = ("allow_flushdb",)

    def patterns(self) -> list[str]:
        patterns = [drill_prefix(self.monitor) + "*"]
        if self.config.get("cache_key_pattern"):
            patterns.append(self.config["cache_key_pattern"])
        return patterns

    @property
    def flushdb_allowed(self) -> bool:
        return bool(self.policy is not None and self.policy.allow_flushdb)

    def execute(self, dry_run: bool = False) -> dict:
        client = client_for(self.monitor.target, self.monitor.timeout_seconds)
        try:
            if self.flushdb_allowed:
                if dry_run:
                    return {"would_flushdb": True, "keys": client.dbsize()}
                keys = client.dbsize()
                client.flushdb()
                return {"flushdb": True, "deleted": keys, "policy": self.policy.pk}
            deleted = 0
            for pattern in self.patterns():
                batch = []
                for key in client.scan_iter(match=pattern, count=1000):
                    batch.append(key)
                    if len(batch) >= 1000:
                        deleted += len(batch) if dry_run else client.unlink(*batch)
                        batch = []
                if batch:
                    deleted += len(batch) if dry_run else client.unlink(*batch)
            return {"would_delete" if dry_run else "deleted": deleted, "patterns": self.patterns()}
        finally:
            client.close()


class RestartRedis(RestartCommand):
    name = "restart_redis"
    label = "Restart Redis (configured command)"
    category = "memory_issue"
