"""Remediation actions per monitor kind. A new action is one class and one line here; a new kind is one
module of actions and one entry here."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from remediation.actions.base import Action

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


def action_class(kind: str, name: str) -> type[Action]:
    module, _, cls = ACTIONS[kind][name].rpartition(".")
    return getattr(import_module(module), cls)


def action_classes(kind: str) -> list[type[Action]]:
    return [action_class(kind, name) for name in ACTIONS.get(kind, {})]


def all_action_names() -> set[str]:
    return {name for actions in ACTIONS.values() for name in actions}


def allowed_actions(monitor) -> list[str]:
    """The actions this monitor offers: its kind's actions whose preconditions hold."""
    if monitor is None:
        return []
    return [cls.name for cls in action_classes(monitor.kind) if cls.offered(monitor)]


def get_action(monitor, name: str, policy=None) -> Action:
    """The action, built for this monitor (and the admin's policy for it); KeyError if it isn't offered."""
    if name not in allowed_actions(monitor):
        raise KeyError(name)
    return action_class(monitor.kind, name)(monitor, policy)
