"""`POST /api/v1/oncall/contact-methods/{id}/test`: a real test page through a person's contact method,
received by a local stand-in and recorded in the delivery log."""

from __future__ import annotations

import pytest

from oncall import testpage
from oncall.models import ContactMethod, Notification
from oncall.tests.factories import user
from oncall.tests.receiver import http_receiver
from oncall.tests.sink import http_sink

pytestmark = pytest.mark.django_db


@pytest.fixture
def sink():
    with http_sink() as server:
        yield server


def ntfy(owner, sink) -> ContactMethod:
    return ContactMethod.objects.create(user=owner, kind="ntfy", config={"server": sink.base, "topic": "pager"})


def test_it_sends_a_real_test_page_and_records_it(responder_api, responder, sink):
    contact = ntfy(responder, sink)
    response = responder_api.post(f"/api/v1/oncall/contact-methods/{contact.pk}/test")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "sent" and response.json()["incident"] is None
    (received,) = sink.received
    assert received["body"]["topic"] == "pager" and "Test page" in received["body"]["message"]
    row = Notification.objects.get(contact=contact)
    assert (row.event, row.recipient, row.attempts) == ("test", "bob", 1)


def test_a_failed_test_is_recorded_with_the_error_class(responder_api, responder):
    with http_receiver(status=500) as receiver:
        contact = ContactMethod.objects.create(user=responder, kind="webhook", config={"url": receiver.url})
        response = responder_api.post(f"/api/v1/oncall/contact-methods/{contact.pk}/test")
        assert receiver.received[0]["json"]["event"] == "test"
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["error"]) == ("failed", "HTTP 500")


def test_a_second_test_within_seconds_is_refused(responder_api, responder, sink):
    contact = ntfy(responder, sink)
    assert responder_api.post(f"/api/v1/oncall/contact-methods/{contact.pk}/test").status_code == 200
    response = responder_api.post(f"/api/v1/oncall/contact-methods/{contact.pk}/test")
    assert response.status_code == 429 and "wait" in response.json()["detail"]
    assert len(sink.received) == 1


def test_responders_test_only_their_own_and_admins_anyones(responder_api, api, sink):
    theirs = ntfy(user("ann"), sink)
    assert responder_api.post(f"/api/v1/oncall/contact-methods/{theirs.pk}/test").status_code == 404
    assert api.post(f"/api/v1/oncall/contact-methods/{theirs.pk}/test").json()["status"] == "sent"


def test_a_viewer_may_not_send_test_pages(viewer_api, viewer, sink):
    contact = ntfy(viewer, sink)
    assert viewer_api.post(f"/api/v1/oncall/contact-methods/{contact.pk}/test").status_code == 403
    assert sink.received == [] and not Notification.objects.exists()


def test_a_slack_app_method_has_no_test_page(responder_api, responder):
    contact = ContactMethod.objects.create(user=responder, kind="slack_app", config={"channel": "C0123456"})
    response = responder_api.post(f"/api/v1/oncall/contact-methods/{contact.pk}/test")
    assert response.status_code == 400 and "kind" in response.json()["errors"]


def test_a_test_in_flight_refuses_a_second_before_anything_is_logged(responder_api, responder, sink):
    contact = ntfy(responder, sink)
    testpage.check_send_test(contact)  # the first click's claim; its delivery is still under way
    response = responder_api.post(f"/api/v1/oncall/contact-methods/{contact.pk}/test")
    assert response.status_code == 429 and sink.received == []
