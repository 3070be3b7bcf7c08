"""Register demo monitors (run by `make up`): the local PostgreSQL and Redis when reachable, and an
HTTP monitor of OpsAssist itself. Existing monitors are left as they are.

The PostgreSQL and Redis demo monitors are drill targets (`drills_allowed`). The Redis one measures only
its own database number (`memory_scope: database`) against a 64 MiB budget, so other users of a shared
Redis never make it look full, and its drill writes about 59 MiB into that database only."""

import os

import psycopg
import redis
from django.conf import settings
from django.core.management.base import BaseCommand

from monitoring.models import Monitor

DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/15"
DEMO_REDIS_BUDGET = 64 * 1024 * 1024


class Command(BaseCommand):
    help = "Register demo monitors for the local PostgreSQL, Redis and OpsAssist itself."

    def handle(self, *args, **options):
        pg = os.environ.get("OPSASSIST_DEMO_POSTGRES_URL", DEFAULT_PG)
        rd = os.environ.get("OPSASSIST_DEMO_REDIS_URL", DEFAULT_REDIS)
        self._add("postgres-test", "postgres", pg, self._postgres_ok(pg), {}, drills=True)
        redis_config = {"memory_scope": "database", "memory_limit_bytes": DEMO_REDIS_BUDGET}
        self._add("redis-test", "redis", rd, self._redis_ok(rd), redis_config, drills=True)
        self_url = f"http://127.0.0.1:{settings.OPSASSIST_PORT}/health/live"
        # Checking itself, the first check may run before the server listens: two failures open an incident.
        self._add("opsassist", "http", self_url, True, {"failures_before_incident": 2}, interval=30)

    def _add(self, name, kind, target, reachable, config, interval=5, drills=False):
        if Monitor.objects.filter(name=name).exists():
            return
        if not reachable:
            self.stdout.write(f"Demo monitor {name}: {kind} target not reachable, skipped.")
            return
        Monitor.objects.create(
            name=name, kind=kind, target=target, config=config, interval_seconds=interval, drills_allowed=drills
        )
        self.stdout.write(f"Demo monitor {name} registered ({kind}).")

    def _postgres_ok(self, url) -> bool:
        try:
            with psycopg.connect(url, connect_timeout=2):
                return True
        except Exception:
            return False

    def _redis_ok(self, url) -> bool:
        try:
            client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
            try:
                return bool(client.ping())
            finally:
                client.close()
        except Exception:
            return False
