"""The maintenance page: list, schedule ahead with the form, delete; no inline script under the CSP."""

import re
from datetime import timedelta

import pytest
from django.test import Client

from incidents.models import MaintenanceWindow
from incidents.tests.paging_helpers import T0, at

pytestmark = pytest.mark.django_db
URL = "/maintenance/"


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_responder_schedules_a_window_ahead_and_sees_it_listed(responder):
    client = logged_in(responder)
    with at(T0):
        form = {"starts_at": "2026-01-07T22:00", "ends_at": "2026-01-08T01:00", "services": "checkout, payments-db"}
        response = client.post(URL, {**form, "comment": "Postgres 17 upgrade"})
        assert response.status_code == 302
        page = client.get(URL)
    window = MaintenanceWindow.objects.get()
    assert window.services == ["checkout", "payments-db"] and window.created_by == "bob"
    assert window.starts_at == T0.replace(day=7, hour=22)
    html = page.content.decode()
    assert "Postgres 17 upgrade" in html and "scheduled" in html
    assert 'href="/maintenance/"' in html  # linked from the navigation


def test_a_bad_window_shows_the_error_next_to_the_field_and_stores_nothing(responder):
    with at(T0):
        response = logged_in(responder).post(
            URL, {"starts_at": "2026-01-07T22:00", "ends_at": "2026-01-07T21:00", "services": "checkout"}
        )
    assert response.status_code == 400
    assert "Must be after starts_at." in response.content.decode()
    assert not MaintenanceWindow.objects.exists()


def test_a_responder_ends_a_window_early(responder):
    window = MaintenanceWindow.objects.create(starts_at=T0, ends_at=T0 + timedelta(hours=1), services=["checkout"])
    with at(T0 + timedelta(minutes=5)):
        assert logged_in(responder).post(f"/maintenance/{window.pk}/delete").status_code == 302
    assert not MaintenanceWindow.objects.exists()


def test_a_viewer_sees_windows_but_cannot_schedule_or_delete(viewer):
    window = MaintenanceWindow.objects.create(starts_at=T0, ends_at=T0 + timedelta(hours=1), services=["checkout"])
    client = logged_in(viewer)
    with at(T0):
        page = client.get(URL)
        assert page.status_code == 200 and "Schedule a window" not in page.content.decode()
        assert client.post(URL, {"starts_at": "2026-01-07T22:00", "ends_at": "2026-01-08T01:00",
                                 "services": "checkout"}).status_code == 403  # fmt: skip
        assert client.post(f"/maintenance/{window.pk}/delete").status_code == 403
    assert MaintenanceWindow.objects.count() == 1


def test_the_page_has_no_inline_script(responder):
    with at(T0):
        html = logged_in(responder).get(URL).content.decode()
    assert all("src=" in tag for tag in re.findall(r"<script[^>]*>", html))
    assert " on" not in "".join(re.findall(r"<[^>]+ on[a-z]+=", html))


def test_anonymous_visitors_are_sent_to_log_in():
    response = Client().get(URL)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
