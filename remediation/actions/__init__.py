"""Remediation actions per monitor kind. A new action is one class and one line here."""

from __future__ import annotations

from importlib import import_module

ACTIONS: dict[str, dict[str, str]] = {
    "postgres": {
        "kill_idle_connections": "remediation.actions.postgres.KillIdleConnections",
        "restart_postgres": "remediation.actions.postgres.RestartPostgres",
    },
    "redis": {
        "clear_redis_cache": "remediation.actions.redis.ClearRedisCache",
        "restart_redis": "remediation.actions.redis.RestartRedis",
    },
}
NONE = "none"


def action_class(kind: str, name: str):
    module, _, cls = ACTIONS[kind][name].rpartition(".")
    return getattr(import_module(module), cls)


def allowed_actions(monitor) -> list[str]:
    """The actions this monitor offers: its kind's actions whose preconditions hold."""
    if monitor is None:
        return []
    return [name for name in ACTIONS.get(monitor.kind, {}) if action_class(monitor.kind, name).offered(monitor)]


def get_action(monitor, name: str):
    if name not in allowed_actions(monitor):
        raise KeyError(name)
    return action_class(monitor.kind, name)(monitor)
