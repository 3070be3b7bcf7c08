"""The daily rollup behind analytics gives exactly what a from-scratch computation over the incidents gives,
on every engine, whatever path changed the incidents and however far the catch-up got."""

import random
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from incidents import analytics, rollup
from incidents.models import Incident, ServiceDay, ServiceDayChange
from incidents.tests.factories import IncidentFactory

pytestmark = pytest.mark.django_db


def _history(now, services=6, per_service=12, seed=15):
    """Overlapping, long, short, ongoing, future-resolved and zero-length incidents over ~40 days."""
    rng = random.Random(seed)
    for s in range(services):
        for _ in range(per_service):
            detected = now - timedelta(seconds=rng.randint(0, 40 * 86400))
            length = rng.choice([0, 30, 600, 5000, 86400, 3 * 86400 + 17])
            resolved = detected + timedelta(seconds=length) if rng.random() > 0.1 else None
            status = "resolved" if resolved else "open"
            IncidentFactory(service=f"svc-{s}", detected_at=detected, resolved_at=resolved, status=status,
                            source_key=f"k-{s}-{rng.random()}")  # fmt: skip
    # Long ones reaching into every window's first hours: the edges must look back far enough.
    long_ago = now - timedelta(days=52)
    IncidentFactory(service="svc-0", detected_at=long_ago, resolved_at=now - timedelta(days=29, hours=20),
                    status="resolved", source_key="long-0")  # fmt: skip
    IncidentFactory(service="svc-long", detected_at=now - timedelta(days=9), resolved_at=now - timedelta(hours=2),
                    status="resolved", source_key="long-1")  # fmt: skip


def _windows(now):
    midnight = datetime.combine(now.astimezone(UTC).date(), datetime.min.time(), tzinfo=UTC)
    return [
        analytics.Window.default(now),
        analytics.Window(since=now - timedelta(days=7), until=now),
        analytics.Window(since=now - timedelta(hours=24), until=now),
        analytics.Window(since=midnight - timedelta(days=20), until=midnight - timedelta(days=3)),  # aligned
        analytics.Window(since=now - timedelta(days=45, hours=5), until=now - timedelta(days=2, minutes=7)),
    ]


def _assert_exact(now):
    for window in _windows(now):
        counts, downtime = analytics.reliability_inputs(window, now)
        raw_counts, raw_downtime = analytics.raw_inputs(window, now)
        assert counts == raw_counts, window
        assert set(downtime) == set(raw_downtime), window
        for service, seconds in raw_downtime.items():
            assert downtime[service] == pytest.approx(seconds, abs=1e-3), (window, service)


def _change_some(now):
    """Changes through the ORM, a queryset update and raw SQL: the triggers see every one."""
    incidents = list(Incident.objects.order_by("id"))
    first, second, third, fourth = incidents[0], incidents[1], incidents[2], incidents[3]
    first.resolved_at = now - timedelta(minutes=3)
    first.status = "resolved"
    first.save()
    Incident.objects.filter(pk=second.pk).update(resolved_at=None, status="open", source_key="reopened")
    Incident.objects.filter(pk=third.pk).update(detected_at=now - timedelta(days=33, hours=2))
    fourth.delete()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE incidents_incident SET service = %s WHERE id = %s", ["svc-moved", incidents[4].pk])


def test_it_matches_the_from_scratch_computation_after_a_catch_up():
    now = timezone.now()
    _history(now)
    while rollup.catch_up():
        pass
    assert ServiceDay.objects.exists() and not ServiceDayChange.objects.exists()
    _assert_exact(now)
    _change_some(now)
    while rollup.catch_up():
        pass
    _assert_exact(now)


def test_it_is_exact_while_changes_are_still_pending(monkeypatch):
    now = timezone.now()
    _history(now)
    while rollup.catch_up():
        pass
    _change_some(now)
    # Reads fold at most one batch in; what is left is computed from the incidents.
    monkeypatch.setattr(rollup, "READ_BATCH", 1)
    _assert_exact(now)
    assert ServiceDayChange.objects.exists()


def test_it_falls_back_to_the_incidents_when_too_much_is_pending(monkeypatch):
    now = timezone.now()
    _history(now)
    monkeypatch.setattr(rollup, "RAW_SERVICES_LIMIT", 2)
    monkeypatch.setattr(rollup, "READ_BATCH", 0)
    _assert_exact(now)


def test_the_triggers_record_day_changes_and_ignore_other_updates():
    incident = IncidentFactory(detected_at=timezone.now() - timedelta(days=2))
    assert ServiceDayChange.objects.filter(service="checkout").count() == 1
    ServiceDayChange.objects.all().delete()
    Incident.objects.filter(pk=incident.pk).update(event_count=7, title="renamed")
    assert not ServiceDayChange.objects.exists()
    Incident.objects.filter(pk=incident.pk).update(resolved_at=timezone.now())
    spans = list(ServiceDayChange.objects.values_list("since", "until"))
    assert len(spans) == 2  # the old span and the new one
    assert spans[1][1] > spans[0][1]


def test_a_rollup_day_holds_merged_resolved_downtime_within_the_day():
    day = (timezone.now() - timedelta(days=5)).astimezone(UTC).date()
    start = rollup.day_start(day)
    # [22:00 the day before, 01:00] and [00:30, 02:00] overlap: 2 h on this day; [23:00, 01:00 next day]: 1 h.
    IncidentFactory(detected_at=start - timedelta(hours=2), resolved_at=start + timedelta(hours=1), status="resolved")
    IncidentFactory(
        detected_at=start + timedelta(minutes=30), resolved_at=start + timedelta(hours=2), status="resolved"
    )
    IncidentFactory(detected_at=start + timedelta(hours=23), resolved_at=start + timedelta(hours=25), status="resolved")
    while rollup.catch_up():
        pass
    row = ServiceDay.objects.get(service="checkout", day=day)
    assert row.incidents == 2 and row.downtime_seconds == pytest.approx(3 * 3600)
    assert ServiceDay.objects.get(service="checkout", day=day - timedelta(days=1)).downtime_seconds == 7200


def test_the_endpoint_pages_services_worst_first(api):
    now = timezone.now()
    for n, service in enumerate(["a", "b", "c"]):
        IncidentFactory(service=service, detected_at=now - timedelta(hours=5), status="resolved",
                        resolved_at=now - timedelta(hours=5) + timedelta(minutes=10 * (n + 1)))  # fmt: skip
    body = api.get("/api/v1/incidents/analytics", {"service_limit": 2}).json()
    assert [row["service"] for row in body["services"]] == ["c", "b"]
    assert body["services_total"] == 3 and body["by_service"] == {"a": 1, "b": 1, "c": 1}
    body = api.get("/api/v1/incidents/analytics", {"service_limit": 2, "service_offset": 2}).json()
    assert [row["service"] for row in body["services"]] == ["a"]


@pytest.mark.parametrize("params", [{"service_limit": 0}, {"service_limit": 5000}, {"service_offset": -1},
                                    {"service_limit": "many"}])  # fmt: skip
def test_the_endpoint_names_bad_paging(api, params):
    response = api.get("/api/v1/incidents/analytics", params)
    assert response.status_code == 400
    assert set(params) <= set(response.json()["errors"])
