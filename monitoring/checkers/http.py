from __future__ import annotations

import time

from rest_framework import serializers

from monitoring.checkers.base import Checker, CheckerConfig, Outcome
from opsassist.lib import outbound
from opsassist.lib.kindconfig import StatusCodesField


class HttpConfig(CheckerConfig):
    expected_status = StatusCodesField(required=False, help_text="status code(s) that count as up")
    latency_warn_ms = serializers.FloatField(min_value=1, max_value=600_000, default=1000)
    latency_down_ms = serializers.FloatField(min_value=1, max_value=600_000, default=5000)

    def validate(self, attrs):
        warn, down = attrs.get("latency_warn_ms", 1000), attrs.get("latency_down_ms", 5000)
        if warn > down:
            raise serializers.ValidationError({"latency_warn_ms": ["Must not be above latency_down_ms."]})
        return attrs


class HttpChecker(Checker):
    """GET the target: the status must be one of `expected_status` (default any 2xx/3xx); latency above
    `latency_warn_ms` (1000) degrades to 50, above `latency_down_ms` (5000) is down."""

    Config = HttpConfig
    schemes = ("http", "https")
    key_metric = ("latency_ms", 1000)

    def check(self) -> Outcome:
        started = time.perf_counter()
        with outbound.http_client(timeout=self.timeout) as client:
            response = client.get(self.monitor.target)
        latency = round((time.perf_counter() - started) * 1000, 2)
        expected = self.conf.expected_status
        ok_status = response.status_code in expected if expected else response.status_code < 400
        if not ok_status or latency > self.conf.latency_down_ms:
            health = 0
        elif latency > self.conf.latency_warn_ms:
            health = 50
        else:
            health = 100
        return Outcome(
            health=health,
            metrics={"status_code": response.status_code, "latency_ms": latency},
            summary=f"HTTP {response.status_code} in {latency:.0f} ms",
        )
