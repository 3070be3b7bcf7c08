"""Contact methods and notification rules on the profile (and an admin's page per person), and editing
overrides on the on-call page: secrets never rendered, who may see whose, times in the viewer's zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from oncall.models import ContactMethod, NotificationRule, Override, UserProfile
from oncall.tests.factories import team_with_rotation, user

pytestmark = pytest.mark.django_db
SLACK_URL = "https://hooks.slack.com/services/T000/B000/very-secret-token"


def person(name: str, role: str | None = None, superuser: bool = False):
    someone = user(name)
    if role:
        someone.groups.add(Group.objects.get(name=role))
    someone.is_superuser = superuser
    someone.save()
    return someone


@pytest.fixture
def ann_methods():
    ann = person("ann", "responder")
    push = ContactMethod.objects.create(user=ann, kind="ntfy", config={"topic": "ann-pager", "token": "tk_hidden"})
    chat = ContactMethod.objects.create(user=ann, kind="slack", config={"url": SLACK_URL})
    NotificationRule.objects.create(user=ann, contact=chat, delay_minutes=5)
    NotificationRule.objects.create(user=ann, contact=push, delay_minutes=0)
    return ann


def test_my_profile_lists_my_methods_with_secrets_masked(client, ann_methods):
    client.force_login(ann_methods)
    page = client.get("/profile/").content.decode()
    assert "ntfy:ntfy.sh/ann-pager" in page and "hooks.slack.com" in page
    assert "tk_hidden" not in page and "very-secret-token" not in page
    assert 'type="password"' in page and 'value="***"' in page  # sent back unchanged = kept
    assert 'value="https://hooks.slack.com/services/***"' in page
    assert 'data-kind="pushover"' in page and 'name="user_key"' in page  # a form per kind, from its Config
    assert "data-test-contact" in page


def test_rules_read_in_the_order_they_fire(client, ann_methods):
    client.force_login(ann_methods)
    page = client.get("/profile/").content.decode()
    assert page.index("Immediately</strong>") < page.index("After 5 min</strong>")


def test_a_viewer_manages_their_methods_but_gets_no_test_button(client):
    client.force_login(person("vera", "viewer"))
    ContactMethod.objects.create(user=user("vera"), kind="log")
    page = client.get("/profile/").content.decode()
    assert 'id="new-contact"' in page and "data-test-contact" not in page


def test_an_admin_manages_someone_elses_methods_from_their_page(client, ann_methods):
    team_with_rotation(users=("ann", "ben"))
    client.force_login(person("boss", superuser=True))
    assert 'href="/oncall/people/ann/"' in client.get("/oncall/setup/").content.decode()
    page = client.get("/oncall/people/ann/").content.decode()
    assert "ntfy:ntfy.sh/ann-pager" in page and "tk_hidden" not in page
    assert '<input type="hidden" name="user" value="ann">' in page
    assert client.get("/oncall/people/boss/").status_code == 302
    assert client.get("/oncall/people/nobody/").status_code == 404


def test_only_admins_open_someone_elses_page(client, ann_methods):
    client.force_login(person("rita", "responder"))
    assert client.get("/oncall/people/ann/").status_code == 403


def test_an_override_edit_form_shows_its_times_in_the_viewers_zone(client):
    _, schedule, _ = team_with_rotation()
    boss = person("boss", superuser=True)
    UserProfile.objects.create(user=boss, time_zone="Europe/Berlin")
    start = timezone.now().replace(minute=0, second=0, microsecond=0).astimezone(UTC) + timedelta(days=1)
    start = datetime(start.year, start.month, start.day, 8, 0, tzinfo=UTC)
    Override.objects.create(schedule=schedule, user=user("ben"), start=start, end=start + timedelta(hours=2))
    client.force_login(boss)
    page = client.get("/oncall/").content.decode()
    assert f'value="{start:%Y-%m-%d}T09:00"' in page and f'value="{start:%Y-%m-%d}T11:00"' in page
    assert "09:00 Europe/Berlin</time>" in page and 'data-method="PATCH" class="override-form"' in page


def test_a_viewer_gets_no_override_edit_form(client):
    _, schedule, _ = team_with_rotation()
    start = timezone.now() + timedelta(days=1)
    Override.objects.create(schedule=schedule, user=user("ben"), start=start, end=start + timedelta(hours=2))
    client.force_login(person("vera", "viewer"))
    page = client.get("/oncall/").content.decode()
    assert "override-form" not in page and "data-edit=" not in page


def test_the_profile_takes_as_many_queries_for_many_methods_as_for_one(client, django_assert_num_queries):
    ann = person("ann", "responder")
    client.force_login(ann)
    push = ContactMethod.objects.create(user=ann, kind="ntfy", config={"topic": "ann-0"})
    NotificationRule.objects.create(user=ann, contact=push)
    client.get("/profile/")  # the profile row exists from here on
    with CaptureQueriesContext(connection) as one:
        client.get("/profile/")
    for i in range(1, 6):
        more = ContactMethod.objects.create(user=ann, kind="ntfy", config={"topic": f"ann-{i}"})
        NotificationRule.objects.create(user=ann, contact=more, delay_minutes=i)
    with django_assert_num_queries(len(one.captured_queries)):
        client.get("/profile/")


def test_an_email_method_asks_for_an_address_and_refuses_a_bad_one(client):
    client.force_login(person("ann", "responder"))
    page = client.get("/profile/").content.decode()
    assert 'data-kind="email"' in page and 'name="address"' in page
    body = {"kind": "email", "config": {"address": "ann@example.com\nBcc: everyone@example.com"}}
    response = client.post("/api/v1/oncall/contact-methods", body, content_type="application/json")
    assert response.status_code == 400 and "config.address" in response.json()["errors"]
    assert not ContactMethod.objects.exists()
