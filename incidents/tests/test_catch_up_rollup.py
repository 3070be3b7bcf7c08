from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from incidents import tasks
from incidents.models import ServiceDay, ServiceDayChange
from incidents.tests.factories import IncidentFactory

pytestmark = pytest.mark.django_db


def test_the_command_folds_every_pending_change_in(capsys):
    for n in range(3):
        IncidentFactory(service=f"svc-{n}", detected_at=timezone.now() - timedelta(days=n))
    call_command("catch_up_rollup")
    assert not ServiceDayChange.objects.exists() and ServiceDay.objects.count() == 3
    assert "3 changes folded" in capsys.readouterr().out


def test_the_periodic_task_stops_at_its_time_budget(settings):
    settings.ROLLUP_TICK_SECONDS = 0
    for n in range(3):
        IncidentFactory(service=f"svc-{n}")
    ServiceDayChange.objects.bulk_create(ServiceDayChange(service="x", since=timezone.now(), until=timezone.now())
                                         for _ in range(2500))  # fmt: skip
    tasks.catch_up_rollup()
    assert ServiceDayChange.objects.count() == 3 + 2500 - 2000  # one batch, then out of time
