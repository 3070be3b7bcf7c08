"""Built-in triage rules: deterministic keyword and metric facts, no network. The default without a key."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# (category, keywords) in priority order: the first category with a hit wins.
CATEGORY_RULES: list[tuple[str, tuple[str, ...]]] = [
    ("database_issue", ("database", "postgres", "postgresql", "mysql", "sql", "connection pool", "idle connection",
                        "deadlock", "replication")),
    ("memory_issue", ("out of memory", "oom", "heap", "memory", "oomkilled")),
    ("disk_issue", ("disk", "no space left", "inode", "filesystem", "volume full")),
    ("auth_issue", ("jwt", "token expired", "authentication", "unauthorized", "401", "forbidden", "login", "oauth")),
    ("rate_limit", ("rate limit", "429", "too many requests", "throttl", "quota")),
    ("network_issue", ("timeout", "timed out", "connection refused", "upstream", "dns", "unreachable", "econnreset",
                       "502", "503", "504", "network")),
    ("performance_issue", ("latency", "slow", "p99", "p95", "cpu", "saturat", "queue depth")),
]  # fmt: skip

ACTIONS_BY_CATEGORY = {
    "database_issue": [
        "Check connection counts and idle sessions in pg_stat_activity",
        "Look for long-running queries and locks; terminate idle sessions if the pool is exhausted",
        "Review the application's connection pool settings (max size, idle timeout)",
    ],
    "memory_issue": [
        "Check memory usage and the biggest consumers (keys, caches, heap)",
        "Free memory: clear caches or evict keys that can be rebuilt",
        "Raise the memory limit or scale out if usage is legitimate growth",
    ],
    "disk_issue": [
        "Find what fills the disk (du -xh / | sort -h | tail)",
        "Rotate or delete old logs and temporary files",
        "Extend the volume and add disk-usage alerts at 80 %",
    ],
    "auth_issue": [
        "Check the identity provider and token signing keys",
        "Verify clock skew between services (token expiry)",
        "Look for a recent deploy that changed auth configuration",
    ],
    "rate_limit": [
        "Identify the clients hitting the limit",
        "Back off or batch the callers; raise the limit if the traffic is legitimate",
    ],
    "network_issue": [
        "Check the upstream service's health and recent deploys",
        "Verify DNS, load balancer targets and network policies",
        "Review timeouts and retries between the services",
    ],
    "performance_issue": [
        "Compare latency and CPU with the last deploy",
        "Profile the slowest endpoints and queries",
        "Scale out if the load is legitimate",
    ],
    "unknown": [
        "Read the latest events and alerts of the service",
        "Check recent deploys and configuration changes",
    ],
}

P1_WORDS = ("fatal", "outage", "down", "oom", "out of memory", "no space left", "data loss", "critical")


@dataclass
class Signal:
    """A fact from the incident's monitor, declared by the action that fixes it (see Action.fixes_metric):
    the category it points at, how it reads, and whether its value alone makes the incident a P1."""

    category: str
    fact: str
    critical: bool = False


@dataclass
class Triage:
    category: str
    summary: str
    recommended_actions: list[str]
    suggested_priority: str  # P1..P3
    facts: list[str] = field(default_factory=list)


def categorize(text: str) -> str:
    lowered = text.lower()
    for category, words in CATEGORY_RULES:
        if any(re.search(r"(?<![a-z])" + re.escape(w), lowered) for w in words):
            return category
    return "unknown"


def triage(service: str, title: str, messages: list[str], signals: list[Signal], levels: list[str]) -> Triage:
    """Deterministic triage over what the incident carries: its title, its events' or alerts' texts,
    and the signals of its monitor's metrics (which name no monitor kind here)."""
    text = " ".join([title, *messages[:50]])
    category = signals[0].category if signals else categorize(text)
    facts = [signal.fact for signal in signals]
    lowered = text.lower()
    if any(level in ("FATAL", "CRITICAL") for level in levels) or any(w in lowered for w in P1_WORDS):
        priority = "P1"
    elif category in ("rate_limit", "performance_issue", "unknown"):
        priority = "P3"
    else:
        priority = "P2"
    if any(signal.critical for signal in signals):
        priority = "P1"
    label = category.replace("_issue", "").replace("_", " ")
    sample = messages[0][:160] if messages else title[:160]
    summary = f"{service}: {label} problem" + (f" — {facts[0]}" if facts else f' — e.g. "{sample}"')
    return Triage(category, summary + ".", ACTIONS_BY_CATEGORY[category], priority, facts)
