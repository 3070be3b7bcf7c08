"""The incident page links to what is behind the incident: its monitor's page, the host's incidents, its
events and alerts, and its postmortem once resolved or saved; the list filters by host."""

from __future__ import annotations

import pytest

from incidents.tests.factories import IncidentFactory
from monitoring.models import Monitor
from remediation.postmortem import do_save_postmortem

pytestmark = pytest.mark.django_db


def test_the_page_links_the_monitor_page_and_the_hosts_incidents(client, viewer):
    Monitor.objects.create(name="db-main", kind="postgres", target="postgres://h/db")
    incident = IncidentFactory(source="health_check", service="db-main", component="db-main", host="db-1")
    client.force_login(viewer)
    page = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert 'href="/monitors/db-main/" id="monitor-link"' in page
    assert 'href="/incidents/?host=db-1" id="host-link"' in page
    assert 'id="signals-link"' in page and 'id="postmortem-link" hidden' in page


def test_the_list_filters_by_host(client, viewer):
    IncidentFactory(host="db-1", title="On db-1")
    IncidentFactory(host="db-2", title="On db-2")
    client.force_login(viewer)
    response = client.get("/incidents/?host=db-1")
    assert [row["title"] for row in response.context["incidents"]] == ["On db-1"]
    assert 'name="host" value="db-1"' in response.content.decode()


def test_a_saved_postmortem_stays_linked_after_a_reopen(client, viewer, responder):
    incident = IncidentFactory(status="resolved")
    do_save_postmortem(incident, "# Ours\n", responder)
    incident.status = "open"
    incident.save(update_fields=["status"])
    client.force_login(viewer)
    page = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert 'id="postmortem-link" data-saved="1">Postmortem (saved, version 1, bob)' in page
    assert client.get(f"/incidents/{incident.pk}/postmortem").context["markdown"] == "# Ours\n"


def test_mine_and_the_assignee_filter_list_only_that_persons_incidents(client, viewer, responder):
    IncidentFactory(title="Carol's", assigned_to=viewer)
    IncidentFactory(title="Bob's", assigned_to=responder)
    IncidentFactory(title="Nobody's")
    client.force_login(viewer)
    page = client.get("/incidents/")
    assert 'href="?assigned_to=carol">Mine</a>' in page.content.decode()
    mine = client.get("/incidents/?assigned_to=carol").context["incidents"]
    assert [row["title"] for row in mine] == ["Carol's"]
    bobs = client.get("/incidents/?assigned_to=bob").context["incidents"]
    assert [row["title"] for row in bobs] == ["Bob's"]
