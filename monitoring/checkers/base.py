from __future__ import annotations

import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from rest_framework import serializers

from opsassist.lib.kindconfig import KindConfig
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


class CheckerConfig(KindConfig):
    """Thresholds every kind has; each checker's Config extends it."""

    failures_before_incident = serializers.IntegerField(min_value=1, max_value=100, default=1)


class Checker:
    """Built from its monitor; `check()` returns an Outcome or raises CheckError.

    `run()` wraps it with timing, and turns every failure into health 0 with the error text, so one
    broken target never breaks the loop that checks the others.

    A kind declares here everything the rest of the product needs to know about it: its thresholds
    (`Config`), the URL schemes of its target, and its failure drill, if it has one.
    """

    Config: type[KindConfig] = CheckerConfig
    #: Target URL schemes this kind accepts; the first is the one shown in errors.
    schemes: tuple[str, ...] = ()
    needs_port = False
    #: The metric a remediation must bring back under its threshold (name, threshold), if any.
    key_metric: tuple[str, float] | None = None
    #: The `failure` a drill of this kind simulates (None: no drill); see start_drill/clear_drill.
    drill_failure: str | None = None
    #: Errors that mean the target failed (unreachable, refused, denied), not that OpsAssist did.
    target_errors: tuple[type[Exception], ...] = (OSError,)

    def __init__(self, monitor):
        self.monitor = monitor
        self.conf = self.Config.read(monitor.config)
        self.timeout = float(monitor.timeout_seconds or 3.0)

    @classmethod
    def target_problem(cls, target: str, kind: str) -> str | None:
        """Why `target` cannot be this kind's target, or None."""
        try:
            parts = urlsplit(target)
            port = parts.port
        except ValueError:
            return "Not a valid URL."
        if parts.scheme not in cls.schemes:
            return f"A {kind} monitor's target starts with {' or '.join(f'{s}://' for s in cls.schemes)}."
        if not parts.hostname or (cls.needs_port and not port):
            return "The target needs a host" + (" and port." if cls.needs_port else ".")
        return None

    def start_drill(self, max_bytes: int) -> dict:
        """Make the target really unhealthy (writing at most `max_bytes`); returns facts to show."""
        raise NotImplementedError

    def clear_drill(self) -> dict:
        """Undo every drill on this monitor, from any process; returns facts to show."""
        raise NotImplementedError

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
