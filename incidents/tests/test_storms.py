"""Alert storms: many incidents within a minute page once, under one major incident that is
acknowledged and resolved as a whole."""

from datetime import timedelta

import pytest

from incidents.models import Incident
from incidents.tests.paging_helpers import T0, at, open_incident, pages, paging_team, texts

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(settings):
    team = paging_team(settings, services_=[f"svc-{n}" for n in range(20)])
    team.is_default = True  # the storm's service (alert-storm) has no owner: the default team is paged
    team.save()
    return team


def open_many(count, start, capture, first=0):
    with at(start, capture):
        return [open_incident(service=f"svc-{n}") for n in range(first, first + count)]


def test_twelve_incidents_in_a_minute_page_once_and_hang_under_one_major_incident(
    api, team, django_capture_on_commit_callbacks
):
    children = open_many(12, T0, django_capture_on_commit_callbacks)
    storm = Incident.objects.get(service="alert-storm")
    assert storm.source == "manual" and storm.title == "Alert storm: 12 incidents"
    assert pages() == 1
    assert pages() == storm.notifications.count()
    assert set(Incident.objects.filter(parent=storm).values_list("pk", flat=True)) == {c.pk for c in children}
    assert any(text.startswith("Nobody was paged: part of alert storm") for text in texts(children[0]))

    listed = api.get(f"/api/v1/incidents?parent_id={storm.pk}&limit=100").json()
    assert len(listed) == 12 and {item["parent_id"] for item in listed} == {storm.pk}
    detail = api.get(f"/api/v1/incidents/{storm.pk}").json()
    assert sorted(child["id"] for child in detail["children"]) == sorted(c.pk for c in children)
    assert api.get(f"/api/v1/incidents/{children[0].pk}").json()["parent_id"] == storm.pk

    with at(T0 + timedelta(minutes=2), django_capture_on_commit_callbacks):
        response = api.post(f"/api/v1/incidents/{storm.pk}/status", {"status": "acknowledged"}, format="json")
    assert response.status_code == 200
    assert set(Incident.objects.filter(parent=storm).values_list("status", flat=True)) == {"acknowledged"}
    with at(T0 + timedelta(minutes=3), django_capture_on_commit_callbacks):
        api.post(f"/api/v1/incidents/{storm.pk}/status", {"status": "resolved"}, format="json")
    assert set(Incident.objects.filter(parent=storm).values_list("status", flat=True)) == {"resolved"}
    assert pages() == 1


def test_an_incident_opened_while_the_storm_rages_joins_it_unpaged(team, django_capture_on_commit_callbacks):
    open_many(11, T0, django_capture_on_commit_callbacks)
    late = open_many(1, T0 + timedelta(seconds=50), django_capture_on_commit_callbacks, first=15)[0]
    storm = Incident.objects.get(service="alert-storm")
    assert Incident.objects.get(pk=late.pk).parent_id == storm.pk
    assert Incident.objects.get(pk=storm.pk).title == "Alert storm: 12 incidents"
    assert pages() == 1


def test_ten_incidents_are_no_storm(team, django_capture_on_commit_callbacks):
    open_many(10, T0, django_capture_on_commit_callbacks)
    assert not Incident.objects.filter(service="alert-storm").exists()
    assert pages() == 10


def test_once_the_storm_calms_new_incidents_page_on_their_own(team, django_capture_on_commit_callbacks):
    open_many(11, T0, django_capture_on_commit_callbacks)
    later = open_many(1, T0 + timedelta(minutes=5), django_capture_on_commit_callbacks, first=15)[0]
    assert Incident.objects.get(pk=later.pk).parent_id is None
    assert pages() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_openings_in_a_storm_make_one_major_incident():
    from incidents.tests.test_dedup_race import race

    counter = iter(range(100))

    def open_one():
        return open_incident(service=f"racer-{next(counter)}").pk

    results, errors = race(open_one, n=14)
    assert errors == [] and len(results) == 14
    storm = Incident.objects.get(service="alert-storm")
    assert storm.title.startswith("Alert storm:")
    # Every opening from the storm's start on hangs under it; none opened a second storm incident.
    assert Incident.objects.filter(parent=storm).count() >= 11
    assert Incident.objects.filter(source_key="alert-storm").count() == 1


def test_a_new_wave_under_an_unresolved_storm_incident_pages_it_again(team, django_capture_on_commit_callbacks):
    from oncall import services as oncall_services

    open_many(11, T0, django_capture_on_commit_callbacks)
    open_many(11, T0 + timedelta(minutes=10), django_capture_on_commit_callbacks, first=11)
    storm = Incident.objects.get(service="alert-storm")
    assert storm.children.count() == 22 and pages() == 1
    with at(T0 + timedelta(minutes=10, seconds=15), django_capture_on_commit_callbacks):
        assert oncall_services.do_release_held() == [storm.pk]
    assert pages() == 2


# --- Mass openings (correlation's bulk path) ------------------------------------------------------


def open_in_bulk(count, capture, first=0, when=T0):
    from incidents import services

    specs = [
        services.OpenSpec(source="events", service=f"svc-{n}", title=f"svc-{n}: boom", severity="high")
        for n in range(first, first + count)
    ]
    with at(when, capture):
        return services.do_open_many(specs, actor="correlation")


@pytest.fixture
def tasks_run():
    """The names of the Celery tasks run (inline here), in order."""
    from celery.signals import task_prerun

    names = []

    def seen(sender, **kwargs):
        names.append(sender.name)

    task_prerun.connect(seen, weak=False)
    yield names
    task_prerun.disconnect(seen)


def test_a_mass_opening_pages_once_with_one_paging_task_per_batch(
    team, settings, monkeypatch, tasks_run, django_capture_on_commit_callbacks
):
    from incidents import services

    monkeypatch.setattr(services, "BULK_CHUNK", 8)
    opened = open_in_bulk(20, django_capture_on_commit_callbacks)
    storm = Incident.objects.get(service="alert-storm")
    assert pages() == 1 and storm.notifications.count() == 1
    assert tasks_run.count("oncall.start_escalations") == 3  # 20 incidents in batches of 8
    assert tasks_run.count("remediation.analyze_incidents") == 3
    assert tasks_run.count("oncall.start_escalation") == 1  # the storm's major incident, opened on its own
    children = Incident.objects.filter(parent=storm)
    assert children.count() == 20 and set(children.values_list("paging_held", flat=True)) == {True}
    for child in opened:
        assert (
            texts(child).count(f"Nobody was paged: part of alert storm #{storm.pk}, which is paged for the group.") == 1
        )
        assert child.timeline.filter(kind="analysis").count() == 1


def test_a_second_delivery_of_a_paging_batch_holds_nobody_twice(team, django_capture_on_commit_callbacks):
    from oncall import services as oncall_services

    opened = open_in_bulk(12, django_capture_on_commit_callbacks)
    with at(T0, django_capture_on_commit_callbacks):
        oncall_services.do_start_escalations([incident.pk for incident in opened])
    held = [text for incident in opened for text in texts(incident) if text.startswith("Nobody was paged")]
    assert len(held) == 12 and pages() == 1


def test_a_mass_opening_below_the_storm_threshold_pages_each_incident(
    team, tasks_run, django_capture_on_commit_callbacks
):
    opened = open_in_bulk(5, django_capture_on_commit_callbacks)
    assert not Incident.objects.filter(service="alert-storm").exists()
    assert pages() == 5 and tasks_run.count("oncall.start_escalations") == 1
    assert {incident.escalation.team_id for incident in Incident.objects.filter(pk__in=[i.pk for i in opened])} == {
        team.pk
    }


def test_a_whole_batch_opened_while_a_storm_rages_joins_it_unpaged(team, django_capture_on_commit_callbacks):
    open_many(11, T0, django_capture_on_commit_callbacks)
    late = open_in_bulk(5, django_capture_on_commit_callbacks, first=12, when=T0 + timedelta(seconds=30))
    storm = Incident.objects.get(service="alert-storm")
    assert set(Incident.objects.filter(pk__in=[i.pk for i in late]).values_list("parent_id", flat=True)) == {storm.pk}
    assert Incident.objects.get(pk=storm.pk).title == "Alert storm: 16 incidents"
    assert pages() == 1


def test_a_batch_that_makes_a_storm_opens_under_it_with_the_incidents_before_it(
    team, django_capture_on_commit_callbacks
):
    early = open_many(3, T0, django_capture_on_commit_callbacks)
    batch = open_in_bulk(10, django_capture_on_commit_callbacks, first=5, when=T0 + timedelta(seconds=10))
    storm = Incident.objects.get(service="alert-storm")
    assert {i.parent_id for i in batch} == {storm.pk}  # as returned, and as stored:
    children = set(Incident.objects.filter(parent=storm).values_list("pk", flat=True))
    assert children == {i.pk for i in early + batch}
    assert storm.title == "Alert storm: 13 incidents"
    assert "13 incident(s) joined the storm (13 in all)." in texts(storm)
    assert pages() == 3 + 1  # the early ones were paged before the storm began; then the storm, once


def test_a_batch_that_outlasts_its_time_budget_goes_on_in_new_tasks(
    team, settings, tasks_run, django_capture_on_commit_callbacks
):
    settings.CELERY_TASK_SOFT_TIME_LIMIT = 0  # every batch task spends its budget on its first incident
    opened = open_in_bulk(4, django_capture_on_commit_callbacks)
    assert tasks_run.count("oncall.start_escalations") == 4 and pages() == 4
    assert tasks_run.count("remediation.analyze_incidents") == 4
    assert Incident.objects.filter(pk__in=[i.pk for i in opened], category="").count() == 0
