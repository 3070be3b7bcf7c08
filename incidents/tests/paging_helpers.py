"""What the noise tests share: a team that pages ann (through the log transport: every page is a
Notification row), a frozen clock, and the on-commit work run as a worker would."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import time_machine

from incidents import services
from incidents.models import Incident
from oncall.models import Notification
from oncall.tests.factories import team_with_rotation

T0 = datetime(2026, 1, 6, 12, 0, tzinfo=UTC)  # ann is on call (week of 2026-01-05)


def paging_team(settings, services_=("checkout",)):
    settings.ESCALATION_TIMEOUT_MINUTES = 5
    team, _, _ = team_with_rotation(services=services_)
    return team


@contextlib.contextmanager
def at(when, capture=None):
    """Run the block at `when` (clock frozen), then its on-commit work (tasks run eagerly) when given
    pytest-django's `django_capture_on_commit_callbacks`."""
    with time_machine.travel(when, tick=False), capture(execute=True) if capture else contextlib.nullcontext():
        yield


def open_incident(service="checkout", component="", source="events", **fields) -> Incident:
    incident, _ = services.get_or_open_incident(
        source=source, service=service, component=component, title=f"{service} failing", severity="high", **fields
    )
    return incident


def pages() -> int:
    """Notifications sent so far (every page, whatever transport)."""
    return Notification.objects.count()


def texts(incident: Incident) -> list[str]:
    return [entry.text for entry in incident.timeline.order_by("at", "id")]
