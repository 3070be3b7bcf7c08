"""Checker plug-ins, one per monitor kind. A new kind is one module and one line here."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from monitoring.checkers.base import Checker
    from monitoring.models import Monitor

KINDS: dict[str, tuple[str, str]] = {
    "postgres": ("PostgreSQL", "monitoring.checkers.postgres.PostgresChecker"),
    "redis": ("Redis", "monitoring.checkers.redis.RedisChecker"),
    "http": ("HTTP", "monitoring.checkers.http.HttpChecker"),
    "tcp": ("TCP", "monitoring.checkers.tcp.TcpChecker"),
}
KIND_CHOICES = [(kind, label) for kind, (label, _) in KINDS.items()]

_loaded: dict[str, type[Checker]] = {}


def checker_class(kind: str) -> type[Checker]:
    if kind not in _loaded:
        module, _, name = KINDS[kind][1].rpartition(".")
        _loaded[kind] = getattr(import_module(module), name)
    return _loaded[kind]


def get_checker(monitor: Monitor) -> Checker:
    return checker_class(monitor.kind)(monitor)
