"""Nobody is silently unpaged: the fallback team, else the admins; reassigning pages the new assignee."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from incidents import services as incident_services
from incidents.models import Incident
from oncall.models import EscalationPolicy, EscalationStep, Notification
from oncall.tests.factories import team_with_rotation, user

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 1, 6, 12, 0, tzinfo=UTC)  # ann is on call (week of 2026-01-05)


def open_incident(capture, service="orphan"):
    with time_machine.travel(T0, tick=False), capture(execute=True):
        incident, _ = incident_services.get_or_open_incident(
            source="events", service=service, title=f"{service} errors", severity="high"
        )
    return Incident.objects.get(pk=incident.pk)


def texts(incident):
    return [e.text for e in incident.timeline.order_by("at", "id")]


def test_an_unowned_service_pages_the_fallback_team_and_says_why(settings, django_capture_on_commit_callbacks):
    settings.ONCALL_FALLBACK_TEAM = "ops"
    team_with_rotation(name="ops", services=())
    incident = open_incident(django_capture_on_commit_callbacks)
    assert list(Notification.objects.values_list("recipient", "event")) == [("ann", "new")]
    assert "No team owns service orphan; paging the fallback team ops (ONCALL_FALLBACK_TEAM)." in texts(incident)
    assert incident.assigned_to.username == "ann"


def test_without_a_fallback_team_the_active_admins_are_paged(settings, admin_user, django_capture_on_commit_callbacks):
    settings.ONCALL_FALLBACK_TEAM = ""
    user("zed").__class__.objects.filter(username="zed").update(is_superuser=True)
    user("gone").__class__.objects.filter(username="gone").update(is_superuser=True, is_active=False)
    user("plain")
    incident = open_incident(django_capture_on_commit_callbacks)
    assert sorted(Notification.objects.values_list("recipient", flat=True)) == ["alice", "zed"]
    assert ("No team owns service orphan and ONCALL_FALLBACK_TEAM is not set; paging the admins: alice, zed."
            in texts(incident))  # fmt: skip


def test_a_fallback_name_that_matches_no_team_pages_the_admins(
    settings, admin_user, django_capture_on_commit_callbacks
):
    settings.ONCALL_FALLBACK_TEAM = "no-such-team"
    open_incident(django_capture_on_commit_callbacks)
    assert list(Notification.objects.values_list("recipient", flat=True)) == ["alice"]


def test_a_team_without_schedule_or_policy_pages_the_admins(settings, admin_user, django_capture_on_commit_callbacks):
    from oncall.models import ServiceOwnership, Team

    ServiceOwnership.objects.create(service="orphan", team=Team.objects.create(name="empty"))
    incident = open_incident(django_capture_on_commit_callbacks)
    assert list(Notification.objects.values_list("recipient", flat=True)) == ["alice"]
    assert "Team empty has no schedule or escalation policy; paging the admins: alice." in texts(incident)


def test_reassigning_pages_the_new_assignee_once(api, django_capture_on_commit_callbacks):
    team, schedule, _ = team_with_rotation()
    policy = EscalationPolicy.objects.create(team=team)
    EscalationStep.objects.create(policy=policy, position=0, schedule=schedule, wait_minutes=60)
    incident = open_incident(django_capture_on_commit_callbacks, service="checkout")
    assert list(Notification.objects.values_list("recipient", "event")) == [("ann", "new")]  # no reassign page
    with django_capture_on_commit_callbacks(execute=True):
        response = api.patch(f"/api/v1/incidents/{incident.pk}", {"assigned_to": "ben"}, format="json")
    assert response.status_code == 200, response.content
    with django_capture_on_commit_callbacks(execute=True):  # the same assignee again: no change, no page
        api.patch(f"/api/v1/incidents/{incident.pk}", {"assigned_to": "ben"}, format="json")
    reassigned = Notification.objects.filter(event="reassign")
    assert list(reassigned.values_list("recipient", "status")) == [("ben", "sent")]
    assert "Reassigned by alice; paging ben." in texts(incident)


def test_reassigning_back_pages_again_and_a_resolved_incident_pages_nobody(api, django_capture_on_commit_callbacks):
    team_with_rotation()
    incident = open_incident(django_capture_on_commit_callbacks, service="checkout")
    for name in ("ben", "ann", "ben"):
        with django_capture_on_commit_callbacks(execute=True):
            api.patch(f"/api/v1/incidents/{incident.pk}", {"assigned_to": name}, format="json")
    assert list(Notification.objects.filter(event="reassign").order_by("id").values_list("recipient", flat=True)) == [
        "ben", "ann", "ben",
    ]  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        api.patch(f"/api/v1/incidents/{incident.pk}", {"status": "resolved"}, format="json")
    with django_capture_on_commit_callbacks(execute=True):
        api.patch(f"/api/v1/incidents/{incident.pk}", {"assigned_to": "cid"}, format="json")
    assert Notification.objects.filter(event="reassign").count() == 3


def test_taking_an_incident_yourself_pages_nobody(responder_api, django_capture_on_commit_callbacks):
    team_with_rotation()
    incident = open_incident(django_capture_on_commit_callbacks, service="checkout")
    with django_capture_on_commit_callbacks(execute=True):
        response = responder_api.patch(f"/api/v1/incidents/{incident.pk}", {"assigned_to": "bob"}, format="json")
    assert response.status_code == 200, response.content
    assert not Notification.objects.filter(event="reassign").exists()


def test_the_dashboard_warns_about_services_no_team_owns(client, admin_user, settings):
    settings.ONCALL_FALLBACK_TEAM = ""
    team_with_rotation()
    for service in ("checkout", "orphan", "lonely"):
        incident_services.get_or_open_incident(source="events", service=service, title="x", severity="low")
    client.force_login(admin_user)
    page = client.get("/").content.decode()
    assert "No team owns 2 services with recent incidents:" in page
    assert "lonely, orphan." in page and "page the admins" in page


def test_reassigning_a_storm_child_pages_the_new_assignee(api, django_capture_on_commit_callbacks):
    """A storm holds the automatic per-incident pages, not what a person asks for."""
    team_with_rotation()
    storm = open_incident(django_capture_on_commit_callbacks, service="alert-storm")
    child = open_incident(django_capture_on_commit_callbacks, service="checkout")
    Incident.objects.filter(pk=child.pk).update(parent=storm)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.patch(f"/api/v1/incidents/{child.pk}", {"assigned_to": "ben"}, format="json")
    assert response.status_code == 200, response.content
    assert list(Notification.objects.filter(event="reassign").values_list("recipient", "status")) == [("ben", "sent")]
    assert not any(text.startswith("Not notifying ben") for text in texts(child))
