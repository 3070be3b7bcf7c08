from __future__ import annotations

import redis
from rest_framework import serializers

from monitoring.checkers.base import Checker, CheckerConfig, Outcome
from opsassist.lib import outbound
from opsassist.lib.errors import ServiceError

HEALTHY_BELOW = 30.0  # percent of the limit (seed 001)
DOWN_ABOVE = 90.0
MIB = 1024 * 1024
# Far above any real Redis (its memory is the machine's): a larger limit is a typo or an attempt to never alert.
MAX_MEMORY_LIMIT = 1024**4  # 1 TiB
DRILL_KEY_TTL = 3600  # drill keys expire on their own after an hour, as a safety net
DRILL_CHUNK = 256 * 1024
DRILL_FILL = 0.92  # a drill fills to this fraction of the limit (above DOWN_ABOVE)
SCOPE_SAMPLE_KEYS = 10_000  # `memory_scope: database` sizes at most this many keys, then extrapolates


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


def memory_limit(info: dict, conf) -> int:
    """The monitor's `memory_limit_bytes`, else the server's maxmemory, else the machine's memory."""
    return int(conf.memory_limit_bytes or info.get("maxmemory") or info.get("total_system_memory") or 0)


def explicit_limit(info: dict, conf) -> int:
    """The monitor's `memory_limit_bytes`, else the server's maxmemory, else 0 (no limit anyone set)."""
    return int(conf.memory_limit_bytes or info.get("maxmemory") or 0)


def database_bytes(client: redis.Redis) -> int:
    """Memory of the keys in the client's own database (MEMORY USAGE per key); past SCOPE_SAMPLE_KEYS
    keys, the sampled average times the key count."""
    total = sized = 0
    keys: list = []
    for key in client.scan_iter(count=1000):
        keys.append(key)
        if len(keys) == 1000 or sized + len(keys) >= SCOPE_SAMPLE_KEYS:
            total, sized, keys = total + _sizes(client, keys), sized + len(keys), []
            if sized >= SCOPE_SAMPLE_KEYS:
                return int(total * client.dbsize() / sized)
    return total + _sizes(client, keys)


def _sizes(client: redis.Redis, keys: list) -> int:
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.memory_usage(key, samples=0)
    return sum(size or 0 for size in pipe.execute()) if keys else 0


def drill_prefix(monitor) -> str:
    return f"opsassist:drill:{monitor.name}:"


class RedisConfig(CheckerConfig):
    memory_limit_bytes = serializers.IntegerField(min_value=MIB, max_value=MAX_MEMORY_LIMIT, required=False)
    memory_scope = serializers.ChoiceField(choices=["server", "database"], default="server")
    # Read by the clear_redis_cache action: extra keys it deletes besides the drill's.
    cache_key_pattern = serializers.RegexField(
        r"^[^*?\[\]\\]", max_length=200, required=False,
        error_messages={"invalid": "Must start with a literal prefix (a bare wildcard would empty the database)."},
    )  # fmt: skip

    def validate(self, attrs):
        if attrs.get("memory_scope") == "database" and not attrs.get("memory_limit_bytes"):
            raise serializers.ValidationError(
                {"memory_limit_bytes": ["Required with memory_scope 'database' (a database has no maxmemory)."]}
            )
        return attrs


class RedisChecker(Checker):
    """Used memory against the monitor's memory limit.

    `memory_scope: server` (default) measures the whole server's `used_memory` (INFO memory), which is
    what maxmemory and the machine care about; `database` measures only the keys of the target's own
    database number, for a Redis shared with others. The limit is `memory_limit_bytes`, else the server's
    maxmemory, else (server scope only) the machine's memory.

    Drill `memory_pressure`: writes keys under `opsassist:drill:<monitor>:` into the monitor's own DB until
    used memory passes 90 % of an explicit limit, never more than DRILL_MAX_BYTES; clearing deletes them
    by prefix.
    """

    Config = RedisConfig
    schemes = ("redis", "rediss")
    key_metric = ("memory_percent", HEALTHY_BELOW)
    drill_failure = "memory_pressure"
    target_errors = (redis.RedisError, OSError)

    def check(self) -> Outcome:
        client = client_for(self.monitor.target, self.timeout)
        try:
            info = client.info("memory")
            used = self.used_bytes(client, info)
        finally:
            client.close()
        limit = memory_limit(info, self.conf)
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

    def used_bytes(self, client: redis.Redis, info: dict | None = None) -> int:
        if self.conf.memory_scope == "database":
            return database_bytes(client)
        return int((info or client.info("memory"))["used_memory"])

    def start_drill(self, max_bytes: int) -> dict:
        client = client_for(self.monitor.target, self.timeout)
        try:
            limit = explicit_limit(client.info("memory"), self.conf)
            if not limit:
                raise ServiceError(
                    f"{self.monitor.safe_target} has no maxmemory and the monitor no memory_limit_bytes: "
                    "set thresholds.memory_limit_bytes to drill it.",
                    field="thresholds.memory_limit_bytes",
                )
            written, index, capped = self._fill(client, int(limit * DRILL_FILL), max_bytes)
            used = self.used_bytes(client)
        finally:
            client.close()
        return {
            "keys_written": index, "bytes_written": written, "capped": capped,
            "memory_percent": round(100 * used / limit, 2),
        }  # fmt: skip

    def _fill(self, client: redis.Redis, target_bytes: int, max_bytes: int) -> tuple[int, int, bool]:
        """Write DRILL_CHUNK values until used memory reaches target_bytes, never past max_bytes.
        Returns (bytes written, keys written, whether max_bytes stopped it short)."""
        prefix, payload = drill_prefix(self.monitor), b"x" * DRILL_CHUNK
        written = index = 0
        while True:
            missing, room = target_bytes - self.used_bytes(client), (max_bytes - written) // DRILL_CHUNK
            if missing <= 0 or room <= 0:
                return written, index, missing > 0
            batch = min(16, room, -(-missing // DRILL_CHUNK))
            pipe = client.pipeline(transaction=False)
            for _ in range(batch):
                pipe.set(f"{prefix}{index}", payload, ex=DRILL_KEY_TTL)
                index += 1
            pipe.execute()
            written += batch * DRILL_CHUNK

    def clear_drill(self) -> dict:
        client = client_for(self.monitor.target, self.timeout)
        deleted = 0
        try:
            batch = []
            for key in client.scan_iter(match=drill_prefix(self.monitor) + "*", count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    deleted += client.unlink(*batch)
                    batch = []
            if batch:
                deleted += client.unlink(*batch)
        finally:
            client.close()
        return {"keys_deleted": deleted}
