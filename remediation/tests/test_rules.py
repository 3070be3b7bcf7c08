"""The built-in rules on seed 003's six scenarios and seed 001's two monitors."""

import pytest

from remediation.rules import Signal, triage

SCENARIOS = [
    ("order-service", "Database connection timeout: failed to connect to PostgreSQL", "CRITICAL", "database_issue"),
    ("api-gateway", "Connection refused: upstream service unavailable", "ERROR", "network_issue"),
    ("worker-service", "Out of memory: Java heap space exceeded", "ERROR", "memory_issue"),
    ("auth-service", "JWT token expired: authentication failed", "ERROR", "auth_issue"),
    ("public-api", "Rate limit exceeded: 429 Too Many Requests", "ERROR", "rate_limit"),
    ("storage-node", "Disk space critical: no space left on device", "CRITICAL", "disk_issue"),
]


@pytest.mark.parametrize(("service", "message", "level", "category"), SCENARIOS)
def test_seed_003_scenarios(service, message, level, category):
    result = triage(service, f"{service}: {message}", [message] * 5, [], [level] * 5)
    assert result.category == category
    assert result.recommended_actions
    assert service in result.summary


def test_priorities():
    assert triage("s", "x", ["Out of memory"], [], ["ERROR"]).suggested_priority == "P1"
    assert triage("s", "x", ["JWT token expired"], [], ["ERROR"]).suggested_priority == "P2"
    assert triage("s", "x", ["Rate limit exceeded: 429"], [], ["ERROR"]).suggested_priority == "P3"
    assert triage("s", "x", ["boom"], [], ["FATAL"]).suggested_priority == "P1"


def test_seed_001_postgres_idle_connections():
    result = triage("postgres-test", "postgres-test unhealthy: 12 idle connections - Health: 50%", [],
                    [Signal("database_issue", "12 idle connections (healthy: at most 8)")], [])  # fmt: skip
    assert result.category == "database_issue"
    assert "12 idle connections" in result.summary


def test_seed_001_redis_memory():
    result = triage("redis-test", "redis-test unhealthy: memory 96% of limit - Health: 0%", [],
                    [Signal("memory_issue", "Redis memory at 96.0% of its limit", critical=True)], [])  # fmt: skip
    assert result.category == "memory_issue" and result.suggested_priority == "P1"
