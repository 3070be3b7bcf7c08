from __future__ import annotations

import time

from monitoring.checkers.base import Checker, Outcome
from opsassist.lib import outbound


class HttpChecker(Checker):
    """GET the target: the status must be `expected_status` (default any 2xx/3xx); latency above
    `latency_warn_ms` (1000) degrades to 50, above `latency_down_ms` (5000) is down."""

    key_metric = ("latency_ms", 1000)

    def check(self) -> Outcome:
        started = time.perf_counter()
        with outbound.http_client(timeout=self.timeout) as client:
            response = client.get(self.monitor.target)
        latency = round((time.perf_counter() - started) * 1000, 2)
        expected = self.config.get("expected_status")
        ok_status = response.status_code == int(expected) if expected else response.status_code < 400
        warn = float(self.config.get("latency_warn_ms", 1000))
        down = float(self.config.get("latency_down_ms", 5000))
        if not ok_status or latency > down:
            health = 0
        elif latency > warn:
            health = 50
        else:
            health = 100
        return Outcome(
            health=health,
            metrics={"status_code": response.status_code, "latency_ms": latency},
            summary=f"HTTP {response.status_code} in {latency:.0f} ms",
        )
