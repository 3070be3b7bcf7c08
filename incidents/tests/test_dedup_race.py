"""No duplicate incidents, ever: the database refuses them, and racing workers converge on one row."""

import threading
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from incidents import services
from incidents.choices import UNRESOLVED
from incidents.correlation import correlate
from incidents.models import Event, Incident

RACERS = 12


def race(target, n=RACERS):
    """Run target() in n threads released at the same instant; return results and errors."""
    barrier = threading.Barrier(n)
    results, errors = [], []

    def run():
        try:
            barrier.wait()
            results.append(target())
        except Exception as exc:  # collected and asserted on below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results, errors


@pytest.mark.django_db
def test_the_database_refuses_a_second_unresolved_incident():
    key = {"source": "health_check", "service": "db", "component": "db", "host": "", "source_key": ""}
    Incident.objects.create(title="a", status="open", **key)
    with pytest.raises(IntegrityError), transaction.atomic():
        Incident.objects.create(title="b", status="acknowledged", **key)
    # Resolved ones do not count.
    Incident.objects.create(title="c", status="resolved", **key)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_get_or_open_opens_one_incident():
    def open_it():
        incident, created = services.get_or_open_incident(
            source="health_check", service="postgres-test", component="postgres-test", title="down", severity="high"
        )
        return incident.pk, created

    results, errors = race(open_it)
    assert errors == []
    assert len(results) == RACERS
    assert len({pk for pk, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert Incident.objects.filter(status__in=UNRESOLVED).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_correlation_passes_open_one_incident():
    now = timezone.now()
    Event.objects.bulk_create(
        Event(service="orders", level="ERROR", message=f"e{i}", timestamp=now - timedelta(seconds=i)) for i in range(20)
    )
    results, errors = race(correlate, n=8)
    assert errors == []
    incident = Incident.objects.get()
    assert incident.event_count == 20
    assert sum(len(r.opened) for r in results) == 1
