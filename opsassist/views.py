"""Operational endpoints: health, readiness and liveness (no auth)."""

from __future__ import annotations

import time

import psutil
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from opsassist.lib import heartbeat


def check_database() -> dict:
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"latency_ms": round((time.monotonic() - started) * 1000, 2), "engine": connection.vendor}


def check_broker() -> dict:
    if settings.EMBEDDED:
        return {"kind": "in-process"}
    import redis

    started = time.monotonic()
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    finally:
        client.close()
    return {"kind": "redis", "latency_ms": round((time.monotonic() - started) * 1000, 2)}


def check_memory() -> dict:
    percent = psutil.virtual_memory().percent
    if percent >= settings.HEALTH_MEMORY_THRESHOLD:
        raise RuntimeError(f"memory {percent:.1f}% >= {settings.HEALTH_MEMORY_THRESHOLD}%")
    return {"percent": percent, "threshold": settings.HEALTH_MEMORY_THRESHOLD}


def check_disk() -> dict:
    percent = psutil.disk_usage(str(settings.VAR_DIR)).percent
    if percent >= settings.HEALTH_DISK_THRESHOLD:
        raise RuntimeError(f"disk {percent:.1f}% >= {settings.HEALTH_DISK_THRESHOLD}%")
    return {"percent": percent, "threshold": settings.HEALTH_DISK_THRESHOLD}


def check_worker() -> dict:
    return heartbeat.check_age("worker")


def check_beat() -> dict:
    return heartbeat.check_age("beat")


CHECKS = {
    "database": check_database,
    "broker": check_broker,
    "worker": check_worker,
    "beat": check_beat,
    "memory": check_memory,
    "disk": check_disk,
}


def run_checks(names) -> JsonResponse:
    results, failed = {}, []
    for name in names:
        try:
            results[name] = {"status": "ok", **CHECKS[name]()}
        except Exception as exc:  # a failing check is reported, never raised
            results[name] = {"status": "fail", "error": str(exc)[:300]}
            failed.append(name)
    body = {
        "status": "unhealthy" if failed else "healthy",
        "failed": failed,
        "checks": results,
        "service": settings.SERVICE_NAME,
        "version": settings.APP_VERSION,
        "environment": settings.ENVIRONMENT,
    }
    return JsonResponse(body, status=503 if failed else 200)


@never_cache
@require_GET
def health(request):
    return run_checks(CHECKS)


@never_cache
@require_GET
def ready(request):
    return run_checks(["database", "broker", "worker", "beat"])


@never_cache
@require_GET
def live(request):
    return JsonResponse({"status": "alive"})
