"""Staying quiet when it should: maintenance windows and silences, and how they match an incident.

Matchers follow Alertmanager: a value matches exactly, or, written `=~<regex>`, when the RE2 regex
matches the whole value. RE2 runs in linear time, so no matcher can make the server spin.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import re2
from django.conf import settings

from incidents.choices import Severity, Source, normalize_severity
from incidents.models import Alert, Incident, MaintenanceWindow, Silence
from opsassist.lib.errors import ServiceError

MATCHER_FIELDS = ("service", "source", "severity")
REGEX_PREFIX = "=~"
MAX_VALUE = 255
MAX_LABELS = 20
MAX_SERVICES = 100
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False


# --- Checking what users send ---------------------------------------------------------------------


def _check_value(name: str, value) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_VALUE:
        raise ServiceError(f"Must be a non-empty string of at most {MAX_VALUE} characters.", field=name)
    if value.startswith(REGEX_PREFIX):
        try:
            re2.compile(value[len(REGEX_PREFIX) :], options=_RE2_OPTIONS)
        except Exception:  # re2.error: the message quotes the pattern, nothing more useful
            raise ServiceError(f"Not a valid regular expression: {value[2:]!r}.", field=name) from None
    return value


def check_matchers(matchers) -> dict:
    """The matchers, validated; ServiceError names the field (`matchers.service`, `matchers.labels.env`)."""
    if not isinstance(matchers, dict) or not matchers:
        raise ServiceError("Give at least one of service, source, severity, labels.", field="matchers")
    unknown = set(matchers) - {*MATCHER_FIELDS, "labels"}
    if unknown:
        raise ServiceError(f"Unknown matcher(s): {', '.join(sorted(map(str, unknown)))}.", field="matchers")
    clean: dict[str, str | dict[str, str]] = {
        name: _check_value(f"matchers.{name}", matchers[name]) for name in MATCHER_FIELDS if name in matchers
    }
    # An exact value no incident can have would silence nothing: severity takes what incidents accept
    # (P1..P4, error/warning/info) stored as they store it; source is one of the sources.
    severity = clean.get("severity")
    if isinstance(severity, str) and not severity.startswith(REGEX_PREFIX):
        if (canonical := normalize_severity(severity)) is None:
            raise ServiceError(f"Not a severity: use one of {', '.join(Severity.values)}, P1-P4, error, warning or "
                               "info (or a =~regex).", field="matchers.severity")  # fmt: skip
        clean["severity"] = canonical
    source = clean.get("source")
    if isinstance(source, str) and not source.startswith(REGEX_PREFIX) and source not in Source.values:
        raise ServiceError(f"Not a source: use one of {', '.join(Source.values)} (or a =~regex).",
                           field="matchers.source")  # fmt: skip
    if "labels" in matchers:
        labels = matchers["labels"]
        if not isinstance(labels, dict) or not labels or len(labels) > MAX_LABELS:
            raise ServiceError(f"Give 1 to {MAX_LABELS} labels as an object.", field="matchers.labels")
        for key in labels:
            if not isinstance(key, str) or not key or len(key) > MAX_VALUE:
                raise ServiceError("Label names are non-empty strings.", field="matchers.labels")
        clean["labels"] = {key: _check_value(f"matchers.labels.{key}", value) for key, value in labels.items()}
    return clean


def check_period(starts_at: datetime, ends_at: datetime, now: datetime) -> None:
    """ends after starts, does not end in the past, lasts at most NOISE_MAX_DAYS."""
    if ends_at <= starts_at:
        raise ServiceError("Must be after starts_at.", field="ends_at")
    if ends_at <= now:
        raise ServiceError("Must be in the future.", field="ends_at")
    if ends_at - starts_at > timedelta(days=settings.NOISE_MAX_DAYS):
        raise ServiceError(f"A period lasts at most {settings.NOISE_MAX_DAYS} days.", field="ends_at")
    if starts_at > now + timedelta(days=365):
        raise ServiceError("Must be within a year from now.", field="starts_at")


def check_services(services) -> list[str]:
    if not isinstance(services, list) or not services or len(services) > MAX_SERVICES:
        raise ServiceError(f"Give 1 to {MAX_SERVICES} service names.", field="services")
    for name in services:
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_VALUE:
            raise ServiceError(f"Service names are non-empty strings of at most {MAX_VALUE} characters.",
                               field="services")  # fmt: skip
    return sorted(set(services))


# --- Matching -------------------------------------------------------------------------------------


def value_matches(pattern: str, value: str) -> bool:
    if pattern.startswith(REGEX_PREFIX):
        return re2.fullmatch(pattern[len(REGEX_PREFIX) :], value or "", options=_RE2_OPTIONS) is not None
    return pattern == value


def matches(matchers: dict, facts: dict, labels: dict) -> bool:
    """Every matcher holds for the incident's facts (service, source, severity) and labels."""
    for name in MATCHER_FIELDS:
        if name in matchers and not value_matches(matchers[name], str(facts.get(name, ""))):
            return False
    for key, pattern in (matchers.get("labels") or {}).items():
        if key not in labels or not value_matches(pattern, str(labels[key])):
            return False
    return True


def active_window(service: str, now: datetime) -> MaintenanceWindow | None:
    """A maintenance window covering `service` now (windows are few: filtered in Python, portable)."""
    for window in MaintenanceWindow.objects.filter(starts_at__lte=now, ends_at__gt=now).order_by("-ends_at"):
        if service in window.services:
            return window
    return None


def active_silence(facts: dict, labels: dict, now: datetime) -> Silence | None:
    for silence in Silence.objects.filter(starts_at__lte=now, ends_at__gt=now).order_by("-ends_at"):
        if matches(silence.matchers, facts, labels):
            return silence
    return None


def incident_labels(incident: Incident) -> dict:
    """The labels of an incident's alerts, merged (an incident without alerts has none)."""
    labels: dict = {}
    for row in Alert.objects.filter(incident=incident).values_list("labels", flat=True):
        labels.update(row or {})
    return labels


def anything_active(now: datetime) -> bool:
    """Whether any maintenance window or silence is active now (two indexed EXISTS)."""
    return (
        MaintenanceWindow.objects.filter(starts_at__lte=now, ends_at__gt=now).exists()
        or Silence.objects.filter(starts_at__lte=now, ends_at__gt=now).exists()
    )


class ActiveNoise:
    """The maintenance windows and silences active at one moment, read once: a mass opening asks each of
    its thousands of incidents' flags of it, with no query each."""

    def __init__(self, now: datetime):
        self.windows = list(MaintenanceWindow.objects.filter(starts_at__lte=now, ends_at__gt=now))
        self.silences = list(Silence.objects.filter(starts_at__lte=now, ends_at__gt=now))

    def flags(self, *, service: str, source: str, severity: str, labels: dict) -> dict:
        """`flags_on_open` for one incident."""
        facts = {"service": service, "source": source, "severity": severity}
        return {
            "in_maintenance": any(service in window.services for window in self.windows),
            "silenced": any(matches(silence.matchers, facts, labels) for silence in self.silences),
        }


def flags_on_open(*, service: str, source: str, severity: str, labels: dict, now: datetime) -> dict:
    """`in_maintenance` / `silenced` for an incident about to open."""
    return ActiveNoise(now).flags(service=service, source=source, severity=severity, labels=labels)


def why_quiet(incident: Incident, now: datetime) -> str | None:
    """Maintenance or silence that still holds this incident's paging, as a reason."""
    if incident.in_maintenance and (window := active_window(incident.service, now)) is not None:
        return f"in maintenance until {window.ends_at:%Y-%m-%d %H:%M} UTC"
    if incident.silenced:
        facts = {"service": incident.service, "source": incident.source, "severity": incident.severity}
        silence = active_silence(facts, incident_labels(incident), now)
        if silence is not None:
            return f"silenced until {silence.ends_at:%Y-%m-%d %H:%M} UTC ({silence.comment or 'no comment'})"
    return None


# --- Creating and ending ----------------------------------------------------------------------------


def _actor(actor) -> str:
    return actor if isinstance(actor, str) else (getattr(actor, "username", "") or "")


def do_create_window(*, starts_at, ends_at, services, comment: str, actor, now: datetime) -> MaintenanceWindow:
    """Schedule a maintenance window (ServiceError names the bad field; nothing stored then)."""
    check_period(starts_at, ends_at, now)
    services = check_services(services)
    return MaintenanceWindow.objects.create(
        starts_at=starts_at, ends_at=ends_at, services=services, comment=comment, created_by=_actor(actor)
    )


def do_create_silence(*, matchers, ends_at, comment: str, actor, now: datetime, starts_at=None) -> Silence:
    """A silence from now (or `starts_at`) until `ends_at`; its creator is recorded."""
    starts_at = starts_at or now
    check_period(starts_at, ends_at, now)
    matchers = check_matchers(matchers)
    return Silence.objects.create(
        matchers=matchers, starts_at=starts_at, ends_at=ends_at, comment=comment, created_by=_actor(actor)
    )
