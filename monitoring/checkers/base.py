from __future__ import annotations

import time
from dataclasses import dataclass, field


class CheckError(Exception):
    """The target could not be checked (unreachable, refused, timed out). Health 0."""


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
        """Error text with the target's password scrubbed out."""
        from monitoring.models import redact_url

        text = f"{type(exc).__name__}: {exc}".strip()
        target = self.monitor.target
        if target and target in text:
            text = text.replace(target, redact_url(target))
        from urllib.parse import urlsplit

        password = urlsplit(target).password if "://" in target else None
        if password:
            text = text.replace(password, "***")
        return text[:1000]
