"""The people page: everyone who reads sees who is who (times in their zone, zone named); only admins get
the forms."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from oncall.models import Team, UserProfile

pytestmark = pytest.mark.django_db


def test_a_viewer_reads_people_without_forms(client, viewer, responder, admin_user):
    Team.objects.create(name="payments").members.add(responder)
    responder.last_login = datetime(2026, 1, 15, 8, 0, tzinfo=UTC)
    responder.save()
    UserProfile.objects.create(user=viewer, time_zone="Europe/Berlin")
    client.force_login(viewer)
    html = client.get("/people/").content.decode()
    assert 'href="/people/"' in html  # the top navigation links it
    assert "Last seen (Europe/Berlin)" in html and "Thu 15 Jan 2026 09:00 Europe/Berlin" in html
    assert 'data-person="bob"' in html and "payments" in html
    assert "data-api" not in html and "Add a person" not in html and "data-issue-token" not in html
    assert "data-my-token" in html  # everyone may rotate their own token


def test_an_admin_gets_the_forms(client, admin_user, responder):
    client.force_login(admin_user)
    html = client.get("/people/").content.decode()
    assert 'id="new-person"' in html and 'data-api="/api/v1/users/bob"' in html
    assert 'data-issue-token="bob"' in html and 'data-password-link="bob"' in html


def test_people_without_a_role_and_anonymous_visitors_are_kept_out(client, outsider):
    assert client.get("/people/").status_code == 302
    client.force_login(outsider)
    assert client.get("/people/").status_code == 403


def test_back_links_only_to_this_sites_own_pages(client, admin_user):
    client.force_login(admin_user)
    html = client.get("/people/?next=/oncall/setup/").content.decode()
    assert 'href="/oncall/setup/" id="go-back"' in html
    for elsewhere in ("https://evil.example/", "//evil.example/", "javascript:alert(1)"):
        assert 'id="go-back"' not in client.get("/people/", {"next": elsewhere}).content.decode()
