"""Restart commands are operator configuration, never API input.

`REMEDIATION_COMMANDS` (JSON in the environment) or `REMEDIATION_COMMANDS_FILE` (a .json or .toml file)
maps an action name to an argv list, optionally per monitor name with "*" as the default:

    {"restart_redis": ["systemctl", "restart", "redis"],
     "restart_postgres": {"*": ["systemctl", "restart", "postgresql"],
                          "orders-db": ["sudo", "/usr/local/bin/restart-orders-db"]}}

An argv list runs without a shell. This module only imports the standard library and Django's
ImproperlyConfigured, so settings.py can validate the shape at start-up.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

ANY_MONITOR = "*"
OUTPUT_LIMIT = 4096  # bytes of a command's output kept on its run (the tail)
ACTION_NAME = re.compile(r"^[a-z][a-z0-9_]{0,49}$")
MAX_ARGS = 64
MAX_ARG_LENGTH = 4096


def load_commands(raw: str = "", path: str = "") -> dict[str, dict[str, list[str]]]:
    """Parse and validate; raises ImproperlyConfigured naming the bad entry. Both empty → no commands."""
    if raw and path:
        raise ImproperlyConfigured("Set REMEDIATION_COMMANDS or REMEDIATION_COMMANDS_FILE, not both.")
    if path:
        data = _read_file(Path(path))
    elif raw:
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise ImproperlyConfigured(f"REMEDIATION_COMMANDS is not valid JSON: {exc}") from None
    else:
        return {}
    return normalize(data)


def _read_file(path: Path) -> object:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ImproperlyConfigured(f"REMEDIATION_COMMANDS_FILE {path}: {exc.strerror}") from None
    try:
        return tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except ValueError as exc:
        raise ImproperlyConfigured(f"REMEDIATION_COMMANDS_FILE {path}: {exc}") from None


def normalize(data: object) -> dict[str, dict[str, list[str]]]:
    """{action: argv | {monitor name or "*": argv}} → {action: {monitor name or "*": argv}}."""
    if not isinstance(data, dict):
        raise ImproperlyConfigured("REMEDIATION_COMMANDS must map action names to argv lists.")
    commands = {}
    for action, value in data.items():
        if not isinstance(action, str) or not ACTION_NAME.match(action):
            raise ImproperlyConfigured(f"REMEDIATION_COMMANDS: {action!r} is not an action name.")
        per_monitor = value if isinstance(value, dict) else {ANY_MONITOR: value}
        if not per_monitor:
            raise ImproperlyConfigured(f"REMEDIATION_COMMANDS[{action}] is empty.")
        commands[action] = {str(monitor): _argv(f"{action}.{monitor}", argv) for monitor, argv in per_monitor.items()}
    return commands


def _argv(where: str, argv: object) -> list[str]:
    if not isinstance(argv, list) or not argv or len(argv) > MAX_ARGS:
        raise ImproperlyConfigured(f"REMEDIATION_COMMANDS[{where}] must be a list of 1 to {MAX_ARGS} strings.")
    for arg in argv:
        if not isinstance(arg, str) or "\x00" in arg or len(arg) > MAX_ARG_LENGTH:
            raise ImproperlyConfigured(f"REMEDIATION_COMMANDS[{where}]: {arg!r} is not a plain string argument.")
    if not argv[0].strip():
        raise ImproperlyConfigured(f"REMEDIATION_COMMANDS[{where}]: the program name is empty.")
    return list(argv)


def command_for(commands: dict, action: str, monitor_name: str) -> list[str] | None:
    """The argv configured for this action on this monitor (its own entry, else "*"), or None."""
    per_monitor = commands.get(action) or {}
    return per_monitor.get(monitor_name) or per_monitor.get(ANY_MONITOR)
