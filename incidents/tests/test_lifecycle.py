from datetime import timedelta

import pytest
from django.utils import timezone

from incidents import services
from incidents.choices import ALLOWED_MOVES, Status
from incidents.tests.factories import IncidentFactory
from opsassist.lib.errors import Conflict, ServiceError

pytestmark = pytest.mark.django_db

ALL = Status.values
REFUSED = [(a, b) for a in ALL for b in ALL if a != b and (a, b) not in ALLOWED_MOVES]


def incident_in(status):
    return IncidentFactory(status=status, detected_at=timezone.now() - timedelta(minutes=10))


@pytest.mark.parametrize(("old", "new"), sorted(ALLOWED_MOVES))
def test_every_allowed_move_works(old, new):
    incident = services.do_change_status(incident_in(old), new, actor="tester")
    assert incident.status == new
    entry = incident.timeline.get(kind="status_change")
    assert entry.data == {"from": old, "to": new} and entry.actor == "tester"


@pytest.mark.parametrize(("old", "new"), REFUSED)
def test_every_other_move_is_refused_naming_both_states(old, new):
    incident = incident_in(old)
    with pytest.raises(ServiceError) as refused:
        services.do_change_status(incident, new, actor=None)
    assert old in refused.value.message and new in refused.value.message
    incident.refresh_from_db()
    assert incident.status == old
    assert not incident.timeline.exists()


def test_closed_is_final():
    assert not [move for move in ALLOWED_MOVES if move[0] == "closed"]


def test_same_status_is_a_no_op():
    incident = incident_in("acknowledged")
    services.do_change_status(incident, "acknowledged", actor=None)
    assert not incident.timeline.exists()


@pytest.mark.parametrize("alias", ["investigating", "in_progress", "ACKNOWLEDGED"])
def test_aliases_mean_acknowledged(alias):
    assert services.do_change_status(incident_in("open"), alias, actor=None).status == "acknowledged"


def test_acknowledge_and_resolve_record_times():
    incident = incident_in("open")
    incident = services.do_change_status(incident, "acknowledged", actor=None)
    assert incident.acknowledged_at is not None
    assert 599 < incident.ack_seconds < 620
    incident = services.do_change_status(incident, "resolved", actor=None)
    assert 599 < incident.resolve_seconds < 620
    assert incident.resolved_at is not None
    incident = services.do_change_status(incident, "closed", actor=None)
    assert incident.closed_at is not None


def test_reopen_clears_the_resolution():
    incident = services.do_change_status(incident_in("open"), "resolved", actor=None)
    incident = services.do_change_status(incident, "open", actor=None)
    assert incident.resolved_at is None and incident.resolve_seconds is None


def test_unacknowledge_clears_the_acknowledgement():
    incident = services.do_change_status(incident_in("open"), "acknowledged", actor=None)
    incident = services.do_change_status(incident, "open", actor=None)
    assert incident.acknowledged_at is None and incident.ack_seconds is None


def test_reopen_conflicts_with_a_newer_incident_for_the_same_thing():
    key = {"source": "events", "service": "db", "source_key": ""}
    old = IncidentFactory(status="resolved", **key)
    IncidentFactory(status="open", **key)
    with pytest.raises(Conflict):
        services.do_change_status(old, "open", actor=None)


def test_auto_resolve_appends_notes_and_ignores_resolved():
    incident = incident_in("acknowledged")
    incident = services.do_resolve(incident, actor="monitor", notes="Recovered: health 100")
    assert incident.status == "resolved"
    assert "Recovered" in incident.resolution_notes
    assert services.do_resolve(incident, actor="monitor", notes="again").resolution_notes.count("again") == 0


def test_get_or_open_returns_the_unresolved_one():
    args = {"source": "health_check", "service": "db", "component": "db", "title": "down", "severity": "high"}
    first, created = services.get_or_open_incident(**args)
    again, created_again = services.get_or_open_incident(**args)
    assert created and not created_again and again.pk == first.pk
    services.do_change_status(first, "resolved", actor=None)
    third, created_third = services.get_or_open_incident(**args)
    assert created_third and third.pk != first.pk
