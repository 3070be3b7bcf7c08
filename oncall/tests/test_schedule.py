from datetime import UTC, date, datetime, time, timedelta

import pytest

from oncall.models import Layer, LayerMember, Override
from oncall.schedule import next_shifts, on_call_at
from oncall.tests.factories import team_with_rotation, user

pytestmark = pytest.mark.django_db


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def who(schedule, at):
    shift = on_call_at(schedule, at)
    return shift.user.username if shift else None


def test_weekly_rotation_hands_off_at_the_handoff_time():
    _, schedule, _ = team_with_rotation()  # starts Mon 2026-01-05 09:00 UTC: ann, ben, cid
    assert who(schedule, utc(2026, 1, 5, 8, 59)) is None  # before the first shift
    assert who(schedule, utc(2026, 1, 5, 9, 0)) == "ann"
    assert who(schedule, utc(2026, 1, 12, 8, 59, 59)) == "ann"
    assert who(schedule, utc(2026, 1, 12, 9, 0)) == "ben"
    assert who(schedule, utc(2026, 1, 19, 9, 0)) == "cid"
    assert who(schedule, utc(2026, 1, 26, 9, 0)) == "ann"  # wraps around
    shift = on_call_at(schedule, utc(2026, 1, 13))
    assert (shift.start, shift.end) == (utc(2026, 1, 12, 9), utc(2026, 1, 19, 9))


def test_an_override_wins_and_cuts_the_layer_shift_short():
    _, schedule, _ = team_with_rotation()
    Override.objects.create(schedule=schedule, user=user("dan"), start=utc(2026, 1, 7, 18), end=utc(2026, 1, 8, 6))
    assert who(schedule, utc(2026, 1, 7, 20)) == "dan"
    assert who(schedule, utc(2026, 1, 8, 6)) == "ann"
    before = on_call_at(schedule, utc(2026, 1, 7, 12))
    assert before.user.username == "ann" and before.end == utc(2026, 1, 7, 18)


def test_the_newest_override_wins_when_two_overlap():
    _, schedule, _ = team_with_rotation()
    Override.objects.create(schedule=schedule, user=user("dan"), start=utc(2026, 1, 7), end=utc(2026, 1, 9))
    Override.objects.create(schedule=schedule, user=user("eve"), start=utc(2026, 1, 8), end=utc(2026, 1, 8, 12))
    assert who(schedule, utc(2026, 1, 8, 6)) == "eve"
    assert who(schedule, utc(2026, 1, 8, 13)) == "dan"


def test_handoffs_stay_at_local_time_across_dst():
    # New York: DST starts Sun 2026-03-08 02:00 local. Daily 09:00 handoffs.
    _, schedule, _ = team_with_rotation(tz="America/New_York", start=date(2026, 3, 1), days=1, users=("ann", "ben"))
    saturday = on_call_at(schedule, utc(2026, 3, 7, 15))  # 10:00 EST
    assert saturday.start == utc(2026, 3, 7, 14)  # 09:00 EST = 14:00 UTC
    assert saturday.end == utc(2026, 3, 8, 13)  # 09:00 EDT = 13:00 UTC: a 23-hour shift
    assert saturday.end - saturday.start == timedelta(hours=23)
    sunday = on_call_at(schedule, utc(2026, 3, 8, 13))
    assert sunday.user != saturday.user and sunday.end - sunday.start == timedelta(hours=24)
    # ...and back in autumn: Sun 2026-11-01, a 25-hour shift.
    autumn = on_call_at(schedule, utc(2026, 10, 31, 14))
    assert autumn.end - autumn.start == timedelta(hours=25)


def test_a_higher_layer_covers_its_window():
    _, schedule, _ = team_with_rotation()
    weekend = Layer.objects.create(schedule=schedule, name="Weekend", order=1, start_date=date(2026, 1, 10),
                                   handoff_time=time(0, 0), rotation_days=7)  # fmt: skip
    LayerMember.objects.create(layer=weekend, user=user("wes"), position=0)
    assert who(schedule, utc(2026, 1, 9, 12)) == "ann"  # before the higher layer starts
    assert who(schedule, utc(2026, 1, 10, 12)) == "wes"


def test_next_shifts_merge_layers_and_overrides():
    _, schedule, _ = team_with_rotation()
    Override.objects.create(schedule=schedule, user=user("dan"), start=utc(2026, 1, 14), end=utc(2026, 1, 15))
    shifts = next_shifts(schedule, utc(2026, 1, 6), count=5)
    assert [s.user.username for s in shifts] == ["ann", "ben", "dan", "ben", "cid"]
    assert shifts[1].end == utc(2026, 1, 14) and shifts[3].start == utc(2026, 1, 15)
