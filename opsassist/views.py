"""Operational endpoints: health, readiness and liveness (no auth), and the admins' settings page."""

from __future__ import annotations

import time

import psutil
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from opsassist.lib import heartbeat
from opsassist.lib.urls import display_url


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
    if settings.CELERY_TASK_ALWAYS_EAGER:  # tasks run inside the caller: there is no worker to wait for
        return {"kind": "eager"}
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


# --- The settings page (admins only): what this server runs with, never a secret's value -----------


def _set(value) -> str:
    return "set" if value else "not set"


def _age(age: float | None) -> str:
    if age is None:
        return "no heartbeat yet"
    late = " (silent: past HEALTH_HEARTBEAT_MAX_AGE_SECONDS)" if age > settings.HEALTH_HEARTBEAT_MAX_AGE_SECONDS else ""
    return f"{age:.1f} s ago{late}"


def about() -> list[tuple[str, list[tuple[str, str]]]]:
    """The settings page's sections as (title, [(label, value)]); secrets only as "set"/"not set"."""
    ages = heartbeat.ages()
    email = (
        f"{settings.EMAIL_HOST}:{settings.EMAIL_PORT}"
        + (" STARTTLS" if settings.EMAIL_USE_TLS else "")
        + (" TLS" if settings.EMAIL_USE_SSL else "")
        if settings.EMAIL_CONFIGURED
        else "not configured: set EMAIL_URL or EMAIL_HOST"
    )
    return [
        ("Server", [
            ("Version", settings.APP_VERSION),
            ("Environment", settings.ENVIRONMENT),
            ("Mode", "embedded (one process)" if settings.EMBEDDED else "service (web, worker, beat)"),
            ("Database", connection.vendor),
            ("Broker", "in-process (memory)" if settings.EMBEDDED else f"Redis {display_url(settings.REDIS_URL)}"),
            ("Worker heartbeat", _age(ages["worker"])),
            ("Beat heartbeat", _age(ages["beat"])),
        ]),
        ("Claude", [
            ("ANTHROPIC_API_KEY", _set(settings.ANTHROPIC_API_KEY)),
            ("ANTHROPIC_BASE_URL", display_url(settings.ANTHROPIC_BASE_URL) or "not set (Anthropic's API)"),
            ("ANTHROPIC_MODEL", settings.ANTHROPIC_MODEL),
            ("ANTHROPIC_TIMEOUT_SECONDS", f"{settings.ANTHROPIC_TIMEOUT_SECONDS:g}"),
            ("ANTHROPIC_MAX_RETRIES", str(settings.ANTHROPIC_MAX_RETRIES)),
        ]),
        ("Email", [
            ("SMTP", email),
            ("EMAIL_HOST_PASSWORD", _set(settings.EMAIL_HOST_PASSWORD)),
            ("DEFAULT_FROM_EMAIL", settings.DEFAULT_FROM_EMAIL),
        ]),
    ]  # fmt: skip


@login_required
@never_cache
@require_GET
def settings_page(request):
    if not request.user.is_staff:
        raise PermissionDenied
    return render(request, "opsassist/settings.html", {"sections": about()})
