"""Action links in notifications: a GET only shows what will happen; the POST does it once, as the
recipient, without a login. Expired, reused, forged and other-incident links change nothing."""

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.test import Client

from incidents import services as incident_services
from incidents.models import Incident
from incidents.tests.test_dedup_race import race
from oncall import links
from oncall.models import ActionLink, Channel, ContactMethod, Notification
from oncall.tests.factories import team_with_rotation, user
from oncall.tests.receiver import http_receiver
from oncall.tests.test_email import smtp_server  # noqa: F401 - a real SMTP server fixture

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 1, 6, 12, 0, tzinfo=UTC)  # ann is on call (week of 2026-01-05)


@pytest.fixture
def frozen():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def paged(frozen, django_capture_on_commit_callbacks):
    """ann (a responder) is on call for checkout and paged by webhook; yields (receiver, open incident)."""
    team_with_rotation(services=("checkout", "billing"))
    ann = user("ann")
    ann.groups.add(Group.objects.get(name="responder"))
    with http_receiver() as receiver:
        ContactMethod.objects.create(user=ann, kind="webhook", config={"url": receiver.url})
        yield receiver, lambda service="checkout": open_incident(django_capture_on_commit_callbacks, service)


def open_incident(capture, service: str) -> Incident:
    with capture(execute=True):
        incident, _ = incident_services.get_or_open_incident(
            source="events", service=service, title=f"{service} errors", severity="high"
        )
    return Incident.objects.get(pk=incident.pk)


def path_of(url: str) -> str:
    return urlsplit(url).path


def links_sent(receiver, index: int = -1) -> dict:
    return receiver.received[index]["json"]["links"]


def confirm(path: str, **data):
    """A fresh browser: GET the page, then POST its form with a valid CSRF token (taken from the login
    page when the link's page has no form), so only the link itself can be refused."""
    browser = Client(enforce_csrf_checks=True)
    browser.get("/accounts/login/")
    page = browser.get(path)
    token = browser.cookies["csrftoken"].value
    return page, browser.post(path, {"csrfmiddlewaretoken": token, **data})


def status_of(incident: Incident) -> str:
    return Incident.objects.get(pk=incident.pk).status


def test_a_notification_carries_absolute_links_for_its_recipient(paged, settings):
    receiver, open_ = paged
    incident = open_()
    assert len(receiver.received) == 1
    links = links_sent(receiver)
    assert set(links) == {"open", "acknowledge", "resolve", "snooze"}
    assert all(url.startswith(settings.OPSASSIST_URL + "/") for url in links.values())
    assert path_of(links["open"]) == f"/incidents/{incident.pk}/"
    assert set(ActionLink.objects.values_list("recipient", flat=True)) == {"ann"}
    token = path_of(links["acknowledge"]).split("/")[2]
    assert not ActionLink.objects.filter(token_hash=token).exists()  # only the hash is stored


def test_the_acknowledge_link_confirms_then_acknowledges_as_the_recipient(paged):
    receiver, open_ = paged
    incident = open_()
    page, done = confirm(path_of(links_sent(receiver)["acknowledge"]))
    assert page.status_code == 200
    text = page.content.decode()
    assert "checkout errors" in text and "checkout" in text and "Acknowledge" in text
    assert 'name="csrfmiddlewaretoken"' in text and "<script>" not in text
    assert page["Referrer-Policy"] == "same-origin" and "no-store" in page["Cache-Control"]
    assert done.status_code == 200 and "acknowledged" in done.content.decode()
    assert status_of(incident) == "acknowledged"
    entry = incident.timeline.filter(kind="status_change").get()
    assert (entry.actor, entry.text) == ("ann", "Status open → acknowledged: via link")
    assert Notification.objects.count() == 1  # the acknowledgement pages nobody


def test_a_get_alone_changes_nothing(paged):
    receiver, open_ = paged
    incident = open_()
    for _ in range(3):  # link previews and mail scanners
        assert Client().get(path_of(links_sent(receiver)["resolve"])).status_code == 200
    assert status_of(incident) == "open"
    assert not ActionLink.objects.filter(used_at__isnull=False).exists()


def test_a_reused_link_changes_nothing(paged):
    receiver, open_ = paged
    incident = open_()
    path = path_of(links_sent(receiver)["acknowledge"])
    _, done = confirm(path)
    assert done.status_code == 200
    incident_services.do_change_status(incident, "open", actor="bob")
    again = Client(enforce_csrf_checks=True)
    assert again.get(path).status_code == 410
    assert Client().post(path).status_code == 410
    assert status_of(incident) == "open"
    assert incident.timeline.filter(kind="status_change").count() == 2  # the link's ack and bob's reopen


def test_an_expired_link_changes_nothing(paged, frozen, settings):
    receiver, open_ = paged
    incident = open_()
    path = path_of(links_sent(receiver)["acknowledge"])
    frozen.shift(timedelta(seconds=settings.ACTION_LINK_TTL_SECONDS))
    page, done = confirm(path)
    assert page.status_code == 410 and "expired" in page.content.decode()
    assert done.status_code == 410
    assert status_of(incident) == "open"
    assert not ActionLink.objects.filter(used_at__isnull=False).exists()


def test_a_forged_link_changes_nothing(paged):
    receiver, open_ = paged
    incident = open_()
    real = path_of(links_sent(receiver)["resolve"])
    token = real.split("/")[2]
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    for forged in (f"/a/{incident.pk}-{'x' * 43}/", f"/a/{flipped}/", "/a/../", f"/a/{incident.pk}/"):
        page, done = confirm(forged)
        assert page.status_code == 404 and done.status_code == 404, forged
    assert status_of(incident) == "open"


def test_a_link_for_another_incident_changes_nothing(paged):
    receiver, open_ = paged
    checkout = open_("checkout")
    billing = open_("billing")
    assert len(receiver.received) == 2
    billing_token = path_of(links_sent(receiver, 1)["resolve"]).split("/")[2]
    moved = f"/a/{checkout.pk}-{billing_token.partition('-')[2]}/"
    page, done = confirm(moved)
    assert page.status_code == 404 and done.status_code == 404
    assert (status_of(checkout), status_of(billing)) == ("open", "open")


def test_a_post_without_the_csrf_token_changes_nothing(paged):
    receiver, open_ = paged
    incident = open_()
    response = Client(enforce_csrf_checks=True).post(path_of(links_sent(receiver)["acknowledge"]))
    assert response.status_code == 403
    assert status_of(incident) == "open"


def test_the_snooze_link_takes_its_minutes_from_the_page(paged):
    receiver, open_ = paged
    incident = open_()
    path = path_of(links_sent(receiver)["snooze"])
    page, refused = confirm(path, minutes="7")
    assert '<option value="30" selected>' in page.content.decode()
    assert refused.status_code == 400 and "minutes" in refused.content.decode()
    _, done = confirm(path, minutes="60")
    assert done.status_code == 200
    entry = incident.timeline.filter(kind="update").get()
    assert entry.actor == "ann" and entry.text.startswith("Snoozed for 60 min")


def test_a_link_of_a_user_who_lost_the_right_changes_nothing(paged):
    receiver, open_ = paged
    incident = open_()
    user("ann").groups.clear()
    page, done = confirm(path_of(links_sent(receiver)["acknowledge"]))
    assert page.status_code == 403 and done.status_code == 403
    assert status_of(incident) == "open"


def test_a_refused_move_leaves_the_link_unused(paged):
    receiver, open_ = paged
    incident = open_()
    incident_services.do_change_status(incident, "resolved", actor="bob")
    incident_services.do_change_status(incident, "closed", actor="bob")
    path = path_of(links_sent(receiver)["acknowledge"])
    _, done = confirm(path)
    assert done.status_code == 409 and "closed" in done.content.decode()
    assert status_of(incident) == "closed"
    assert not ActionLink.objects.filter(used_at__isnull=False).exists()


def test_a_team_chat_message_carries_links_that_act_as_the_channel(frozen, django_capture_on_commit_callbacks):
    team, _, _ = team_with_rotation()
    with http_receiver() as chat:
        Channel.objects.create(name="ops-chat", team=team, kind="slack", config={"url": chat.url}, notify_on=["new"])
        incident = open_incident(django_capture_on_commit_callbacks, "checkout")
        texts = [r["json"]["text"] for r in chat.received]
    assert len(texts) == 1
    assert "|Acknowledge>" in texts[0] and "|Snooze>" in texts[0]
    ack = next(part for part in texts[0].split("<") if part.endswith("|Acknowledge> · "))
    _, done = confirm(path_of(ack.partition("|")[0]))
    assert done.status_code == 200
    entry = Incident.objects.get(pk=incident.pk).timeline.filter(kind="status_change").get()
    assert entry.actor == "channel:ops-chat"


def test_an_email_page_carries_the_links(
    frozen,
    settings,
    smtp_server,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    controller, inbox = smtp_server
    settings.EMAIL_CONFIGURED = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    team_with_rotation()
    ContactMethod.objects.create(user=user("ann"), kind="email", config={"address": "ann@example.com"})
    open_incident(django_capture_on_commit_callbacks, "checkout")
    [envelope] = inbox.envelopes
    content = envelope.content.decode()
    for label in ("Acknowledge", "Resolve", "Snooze"):
        assert f"{label}: {settings.OPSASSIST_URL}/a/" in content


def test_expired_links_are_deleted_a_day_after_they_expire(paged, frozen, settings):
    _, open_ = paged
    open_()
    assert ActionLink.objects.count() == 3
    frozen.shift(timedelta(seconds=settings.ACTION_LINK_TTL_SECONDS) + timedelta(hours=23))
    assert links.do_purge_expired() == 0
    frozen.shift(timedelta(hours=2))
    assert links.do_purge_expired() == 3


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_posts_of_one_link_act_once():
    team_with_rotation()
    ann = user("ann")
    ann.groups.add(Group.objects.get(name="responder"))
    incident, _ = incident_services.get_or_open_incident(
        source="events", service="billing", title="billing errors", severity="high"
    )
    token = path_of(links.action_links(incident, ann)["acknowledge"]).split("/")[2]

    def use():
        return links.do_use_link(links.check_link(token)).status

    results, errors = race(use, 8)
    assert results == ["acknowledged"]
    assert len(errors) == 7 and all(isinstance(e, links.LinkRefused) and e.status == 410 for e in errors)
    assert incident.timeline.filter(kind="status_change").count() == 1


def test_an_admin_can_revoke_the_links_of_a_leaked_message(paged, admin_user):
    receiver, open_ = paged
    incident = open_()
    browser = Client()
    browser.force_login(admin_user)
    ids = [str(pk) for pk in ActionLink.objects.values_list("pk", flat=True)]
    response = browser.post("/admin/oncall/actionlink/", {"action": "revoke", "_selected_action": ids})
    assert response.status_code == 302
    page, done = confirm(path_of(links_sent(receiver)["acknowledge"]))
    assert page.status_code == 410 and done.status_code == 410
    assert status_of(incident) == "open"
