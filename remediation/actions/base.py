"""The action plug-in base: built from its monitor (and the admin's policy for it, if any)."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile

from django.conf import settings

from remediation.commands import OUTPUT_LIMIT, command_for


class ActionError(Exception):
    """The action could not run. `facts` (argv, exit status, output) still go on the run. Its message is ours
    or the operator's own command's, never a remote target's."""

    public_message = True

    def __init__(self, message: str, facts: dict | None = None):
        super().__init__(message)
        self.facts = facts or {}


class Action:
    """`offered(monitor)` is the precondition; `execute(dry_run)` does it (or says what it would do) and
    returns facts for the audit trail. Verification is the monitor's fresh health check plus the checker's
    key metric back under its threshold.

    What the built-in rules need is declared here, so the rules and the analysis name no monitor kind:
    `fixes_metric` (the metric this action brings down; the rules propose it when that metric is over the
    checker's threshold), `category` (the incident category such a problem belongs to), `fact` (how the
    metric reads in a triage summary) and `critical_above` (the value that makes it a P1).
    """

    name = ""
    label = ""
    risk = "low"
    fixes_metric: str | None = None
    category = "unknown"
    fact = "{metric} at {value} (healthy: at most {threshold})"
    critical_above: float | None = None
    #: Destructive options an admin's ActionPolicy may switch on for this action.
    options: tuple[str, ...] = ()

    def __init__(self, monitor, policy=None):
        self.monitor = monitor
        self.config = monitor.config or {}
        self.policy = policy

    @classmethod
    def offered(cls, monitor) -> bool:
        return True

    @classmethod
    def command(cls, monitor) -> list[str] | None:
        """The operator-configured argv this action runs on this monitor (restart actions only)."""
        return None

    def execute(self, dry_run: bool = False) -> dict:
        raise NotImplementedError


class RestartCommand(Action):
    """Runs the argv the operator configured in REMEDIATION_COMMANDS for this action (and monitor).
    Offered only when one is configured; nothing a monitor or an API user sets is ever run."""

    risk = "high"
    category = "unknown"

    @classmethod
    def command(cls, monitor) -> list[str] | None:
        return command_for(settings.REMEDIATION_COMMANDS, cls.name, monitor.name)

    @classmethod
    def offered(cls, monitor) -> bool:
        return cls.command(monitor) is not None

    def execute(self, dry_run: bool = False) -> dict:
        argv = self.command(self.monitor)
        if argv is None:
            raise ActionError(f"no command is configured for {self.name}")
        if dry_run:
            return {"would_run": argv}
        exit_status, output, timed_out = run_argv(argv, settings.REMEDIATION_COMMAND_TIMEOUT_SECONDS)
        facts = {"argv": argv, "exit_status": exit_status, "output": output}
        if timed_out:
            raise ActionError(f"timed out after {settings.REMEDIATION_COMMAND_TIMEOUT_SECONDS} s", facts)
        if exit_status != 0:
            raise ActionError(f"exit status {exit_status}", facts)
        return facts


def run_argv(argv: list[str], timeout: float) -> tuple[int | None, str, bool]:
    """Run argv without a shell, in its own session (a timeout kills its children too), with stdin closed,
    a minimal environment (the service's secrets stay out) and stdout+stderr spooled to a temporary file,
    so memory stays bounded however much it prints. Returns (exit status, last OUTPUT_LIMIT bytes, timed out).
    """
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "LANG": "C.UTF-8"}
    with tempfile.TemporaryFile() as spool:
        try:
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=spool, stderr=subprocess.STDOUT,
                                       env=env, cwd="/", start_new_session=True)  # fmt: skip
        except OSError as exc:
            raise ActionError(f"{type(exc).__name__}: {exc.strerror or exc}", {"argv": argv}) from None
        timed_out = False
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:  # also when the task's soft time limit interrupts the wait: never leave the command behind
            if process.returncode is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        return process.returncode, _tail(spool), timed_out


def _tail(spool) -> str:
    size = spool.seek(0, os.SEEK_END)
    spool.seek(max(0, size - OUTPUT_LIMIT))
    return spool.read().decode("utf-8", "replace")
