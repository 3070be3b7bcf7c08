from __future__ import annotations

import time
from urllib.parse import urlsplit

from rest_framework import serializers

from monitoring.checkers.base import Checker, CheckerConfig, CheckError, Outcome
from opsassist.lib import outbound


class TcpConfig(CheckerConfig):
    connect_warn_ms = serializers.FloatField(min_value=1, max_value=600_000, default=500)


class TcpChecker(Checker):
    """Connect to tcp://host:port; connect time above `connect_warn_ms` (500) degrades to 50."""

    Config = TcpConfig
    schemes = ("tcp",)
    needs_port = True
    key_metric = ("connect_ms", 500)

    def check(self) -> Outcome:
        parts = urlsplit(self.monitor.target)
        if not parts.hostname or not parts.port:
            raise CheckError("target must be tcp://host:port")
        started = time.perf_counter()
        with outbound.connect_tcp(parts.hostname, parts.port, timeout=self.timeout):
            connect_ms = round((time.perf_counter() - started) * 1000, 2)
        health = 50 if connect_ms > self.conf.connect_warn_ms else 100
        return Outcome(health=health, metrics={"connect_ms": connect_ms}, summary=f"connected in {connect_ms:.0f} ms")
