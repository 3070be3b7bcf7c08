"""A deactivated person is never on call: their rotation turn is a gap and their overrides stop counting,
so the page goes to whoever else covers (or the fallback), never to an account nobody reads."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from oncall.models import Override
from oncall.schedule import on_call_at
from oncall.tests.factories import team_with_rotation, user

pytestmark = pytest.mark.django_db
ANNS_WEEK = datetime(2026, 1, 6, 12, 0, tzinfo=UTC)  # the rotation starts 2026-01-05 09:00 with ann


def test_a_deactivated_persons_turn_is_a_gap():
    _, schedule, _ = team_with_rotation()
    assert on_call_at(schedule, ANNS_WEEK).user.username == "ann"
    ann = schedule.layers.get().members.get(user__username="ann").user
    ann.is_active = False
    ann.save(update_fields=["is_active"])
    assert on_call_at(schedule, ANNS_WEEK) is None


def test_a_deactivated_persons_override_no_longer_covers():
    _, schedule, _ = team_with_rotation()
    dan = user("dan")
    Override.objects.create(schedule=schedule, user=dan, start=datetime(2026, 1, 6, tzinfo=UTC),
                            end=datetime(2026, 1, 7, tzinfo=UTC))  # fmt: skip
    assert on_call_at(schedule, ANNS_WEEK).user.username == "dan"
    dan.is_active = False
    dan.save(update_fields=["is_active"])
    shift = on_call_at(schedule, ANNS_WEEK)
    assert shift.user.username == "ann" and shift.source.startswith("layer")
