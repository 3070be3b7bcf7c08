from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from incidents.analytics import Window, analytics
from incidents.models import Incident

pytestmark = pytest.mark.django_db


def test_it_creates_history_once():
    call_command("seed_demo", days=14)
    count = Incident.objects.count()
    assert count > 10
    assert not Incident.objects.filter(status__in=["open", "acknowledged"]).exists()
    call_command("seed_demo", days=14)
    assert Incident.objects.count() == count


def test_the_history_feeds_analytics():
    call_command("seed_demo", days=14)
    now = timezone.now()
    result = analytics(Window(since=now - timedelta(days=30), until=now), now=now)
    assert result["mtta_seconds"]["median"] > 0
    assert all(0 <= s["availability_percent"] <= 100 for s in result["services"])
