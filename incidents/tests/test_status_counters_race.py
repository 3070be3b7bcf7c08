"""incidents_total's counters stay exact when many workers move incidents at the same instant."""

import pytest

from incidents import services
from incidents.models import StatusCount
from incidents.tests.test_dedup_race import RACERS, race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_racing_openings_and_acknowledgements_are_each_counted_once(settings):
    settings.STORM_THRESHOLD = 1000  # so many at once would be an alert storm, whose major incident counts too
    StatusCount.objects.all().delete()  # the first increments race to create the row too

    def open_and_ack():
        incident = services.create_manual_incident(title="t", service="s", severity="medium", actor=None)
        services.do_change_status(incident, "acknowledged", actor=None)

    _, errors = race(open_and_ack)
    assert errors == []
    counts = {(c.status, c.severity): c.count for c in StatusCount.objects.all()}
    assert counts == {("open", "medium"): RACERS, ("acknowledged", "medium"): RACERS}
