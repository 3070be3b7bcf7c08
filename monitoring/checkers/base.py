from __future__ import annotations

import time
from dataclasses import dataclass, field

from opsassist.lib.redact import log_remote_error, public_error


class CheckError(Exception):
    """The target could not be checked (unreachable, refused, timed out). Health 0. Its text is ours."""

    public_message = True


@dataclass
class Outcome:
    health: int
    metrics: dict = field(default_factory=dict)
    error: str = ""
    latency_ms: float | None = None
    summary: str = ""

    @property
    def status(self) -> str:
        if self.health == 0:
            return "down"
        return "healthy" if self.health >= 70 else "degraded"


class Checker:
    """Built from its monitor; `check()` returns an Outcome or raises CheckError.

    `run()` wraps it with timing, and turns every failure into health 0 with the error text, so one
    broken target never breaks the loop that checks the others.
    """

    #: The metric a remediation must bring back under its threshold (name, threshold), if any.
    key_metric: tuple[str, float] | None = None

    def __init__(self, monitor):
        self.monitor = monitor
        self.config = monitor.config or {}
        self.timeout = float(monitor.timeout_seconds or 3.0)

    def check(self) -> Outcome:
        raise NotImplementedError

    def run(self) -> Outcome:
        started = time.perf_counter()
        try:
            outcome = self.check()
        except Exception as exc:
            outcome = Outcome(health=0, error=self.describe_error(exc), summary="unreachable")
        outcome.latency_ms = round((time.perf_counter() - started) * 1000, 2)
        return outcome

    def describe_error(self, exc: Exception) -> str:
        """What every role may read: the error's class, never the target's own text (a database's "role
        does not exist" is an oracle). The full text, scrubbed, goes to the server log."""
        log_remote_error(f"check of {self.monitor.name}", exc, self.monitor.target)
        return public_error(exc)
