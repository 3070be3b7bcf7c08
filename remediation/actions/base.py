from __future__ import annotations

import shlex
import subprocess


class ActionError(Exception):
    """The action could not run (its result is recorded on the run). Its text is ours or the operator's
    own command's, never a remote target's."""

    public_message = True


class Action:
    """Built from its monitor. `offered()` is the precondition; `execute(dry_run)` does it (or says what it
    would do) and returns facts for the audit trail; verification is the monitor's fresh health check plus
    the checker's key metric back under its threshold."""

    label = ""
    risk = "low"

    def __init__(self, monitor):
        self.monitor = monitor
        self.config = monitor.config or {}

    @classmethod
    def offered(cls, monitor) -> bool:
        return True

    def execute(self, dry_run: bool = False) -> dict:
        raise NotImplementedError


class RestartCommand(Action):
    """Runs the monitor's configured `restart_command` (offered only when one is configured)."""

    risk = "high"

    @classmethod
    def offered(cls, monitor) -> bool:
        return bool((monitor.config or {}).get("restart_command"))

    def execute(self, dry_run: bool = False) -> dict:
        command = shlex.split(self.config["restart_command"])
        if dry_run:
            return {"would_run": command}
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ActionError(f"{type(exc).__name__}: {exc}") from None
        if done.returncode != 0:
            raise ActionError(f"exit {done.returncode}: {done.stderr[-300:]}")
        return {"ran": command, "stdout": done.stdout[-500:]}
