from __future__ import annotations

from monitoring.checkers.redis import client_for
from monitoring.drills import drill_prefix
from remediation.actions.base import Action, RestartCommand


class ClearRedisCache(Action):
    """Deletes keys under the drill prefix and the monitor's `cache_key_pattern` (if set), in the
    monitor's own DB. FLUSHDB only when the monitor sets `allow_flushdb: true`."""

    label = "Clear the cache"

    def patterns(self) -> list[str]:
        patterns = [drill_prefix(self.monitor) + "*"]
        if self.config.get("cache_key_pattern"):
            patterns.append(self.config["cache_key_pattern"])
        return patterns

    def execute(self, dry_run: bool = False) -> dict:
        client = client_for(self.monitor.target, self.monitor.timeout_seconds)
        try:
            if self.config.get("allow_flushdb"):
                if dry_run:
                    return {"would_flushdb": True, "keys": client.dbsize()}
                keys = client.dbsize()
                client.flushdb()
                return {"flushdb": True, "deleted": keys}
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
    label = "Restart Redis (configured command)"
