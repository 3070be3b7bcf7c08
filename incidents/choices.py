"""Vocabulary shared by the API, the models and the other apps (see the contract's "Vocabulary")."""

from django.db import models


class Severity(models.TextChoices):
    CRITICAL = "critical", "Critical"
    HIGH = "high", "High"
    MEDIUM = "medium", "Medium"
    LOW = "low", "Low"


PRIORITY_BY_SEVERITY = {"critical": "P1", "high": "P2", "medium": "P3", "low": "P4"}
SEVERITY_RANK = {"critical": 4, "high": 3, "medium": 2, "low": 1}

# Words other tools use for severity (PagerDuty, Alertmanager) and P1..P4.
SEVERITY_ALIASES = {
    **{s.value: s.value for s in Severity},
    **{p.lower(): s for s, p in PRIORITY_BY_SEVERITY.items()},
    "error": "high",
    "warning": "medium",
    "warn": "medium",
    "info": "low",
    "informational": "low",
}


def normalize_severity(value: str) -> str | None:
    """The canonical severity for any accepted spelling, or None."""
    return SEVERITY_ALIASES.get(str(value).strip().lower())


class Status(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"


UNRESOLVED = (Status.OPEN, Status.ACKNOWLEDGED)
STATUS_ALIASES = {**{s.value: s.value for s in Status}, "investigating": "acknowledged", "in_progress": "acknowledged"}

# The lifecycle: every allowed move. Setting the same status again is a no-op, not a move.
ALLOWED_MOVES = {
    (Status.OPEN, Status.ACKNOWLEDGED),
    (Status.ACKNOWLEDGED, Status.RESOLVED),
    (Status.RESOLVED, Status.CLOSED),
    (Status.OPEN, Status.RESOLVED),
    (Status.RESOLVED, Status.OPEN),
    (Status.ACKNOWLEDGED, Status.OPEN),
}


def normalize_status(value: str) -> str | None:
    return STATUS_ALIASES.get(str(value).strip().lower())


class Source(models.TextChoices):
    EVENTS = "events", "Error events"
    ALERT = "alert", "Alert"
    HEALTH_CHECK = "health_check", "Health check"
    HEARTBEAT = "heartbeat", "Host heartbeat"
    MANUAL = "manual", "Manual"
    CHECKIN = "checkin", "Check-in"


class Level(models.TextChoices):
    DEBUG = "DEBUG", "Debug"
    INFO = "INFO", "Info"
    WARNING = "WARNING", "Warning"
    ERROR = "ERROR", "Error"
    CRITICAL = "CRITICAL", "Critical"
    FATAL = "FATAL", "Fatal"


ERROR_LEVELS = (Level.ERROR, Level.CRITICAL, Level.FATAL)
SEVERITY_BY_LEVEL = {"ERROR": Severity.HIGH, "CRITICAL": Severity.CRITICAL, "FATAL": Severity.CRITICAL}


class Category(models.TextChoices):
    DATABASE = "database_issue", "Database"
    NETWORK = "network_issue", "Network"
    PERFORMANCE = "performance_issue", "Performance"
    MEMORY = "memory_issue", "Memory"
    AUTH = "auth_issue", "Authentication"
    DISK = "disk_issue", "Disk"
    RATE_LIMIT = "rate_limit", "Rate limiting"
    UNKNOWN = "unknown", "Unknown"


class TimelineKind(models.TextChoices):
    CREATED = "created", "Created"
    STATUS = "status_change", "Status change"
    ASSIGNMENT = "assignment", "Assignment"
    NOTE = "note", "Note"
    UPDATE = "update", "Field change"
    NOTIFICATION = "notification", "Notification"
    ESCALATION = "escalation", "Escalation"
    ANALYSIS = "analysis", "Analysis"
    REMEDIATION = "remediation", "Remediation"
    ALERT = "alert", "Alert"
    CHECK = "check", "Health check"


class AlertStatus(models.TextChoices):
    FIRING = "firing", "Firing"
    RESOLVED = "resolved", "Resolved"
