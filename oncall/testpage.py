"""A test page through one contact method: a real delivery of a sample message, sent at once (the person
is waiting for it on their phone) and recorded in the delivery log like every other notification."""

from __future__ import annotations

import time
from datetime import timedelta

from django.core.cache import cache
from django.utils import timezone

from incidents.models import Incident
from incidents.payload import incident_shape
from oncall.models import ContactMethod, Notification
from oncall.payload import VERSION
from oncall.transports import transport_for
from oncall.transports.base import NotConfigured, TransportError
from opsassist.lib.errors import ServiceError
from opsassist.lib.publicurl import absolute_url
from opsassist.lib.redact import log_remote_error, public_error

TEST_EVENT = "test"
# One test per contact method in this window: a button held down must not flood someone's phone.
MIN_INTERVAL = timedelta(seconds=10)
# Kinds that keep per-incident state at the receiver (a Slack message updated in place) have no test page.
UNTESTABLE_KINDS = frozenset({"slack_app"})


class TooSoon(ServiceError):
    """A test of this contact method was sent less than MIN_INTERVAL ago."""

    status_code = 429


def sample_message(contact: ContactMethod, actor: str) -> dict:
    """The shape every transport renders (oncall.payload.message_for), about a sample incident #0."""
    incident = Incident(
        pk=0, title=f"Test page for {contact.user.username} from {actor}", service="opsassist",
        severity="low", status="open", detected_at=timezone.now(), updated_at=timezone.now(),
    )  # fmt: skip
    url = absolute_url("/profile/")
    return {
        "version": VERSION, "event": TEST_EVENT, "headline": "Test page (no action needed)",
        "recipient": contact.user.username, "incident": incident_shape(incident), "links": {"open": url}, "url": url,
    }  # fmt: skip


def check_send_test(contact: ContactMethod) -> None:
    if contact.kind in UNTESTABLE_KINDS:
        raise ServiceError(f"A {contact.kind} contact method cannot send a test page.", "kind")
    recent = Notification.objects.filter(
        contact=contact, event=TEST_EVENT, created_at__gt=timezone.now() - MIN_INTERVAL
    )
    # The cache claim is atomic (two clicks at once send one test); the log also covers a cache without
    # shared state (the embedded mode's per-process memory).
    claimed = cache.add(f"oncall:test-page:{contact.pk}", 1, timeout=MIN_INTERVAL.seconds)
    if recent.exists() or not claimed:
        raise TooSoon(f"A test was sent less than {MIN_INTERVAL.seconds} seconds ago; wait a moment.")


def do_send_test(contact: ContactMethod, actor: str) -> Notification:
    """Deliver the sample message once (no retries: the person sees the outcome now) and record it."""
    check_send_test(contact)
    transport = transport_for(contact.kind, contact.config)
    queued, started, status, error = timezone.now(), time.perf_counter(), Notification.Status.SENT, ""
    try:
        transport.notify(sample_message(contact, actor))
    except NotConfigured as exc:
        status, error = Notification.Status.SKIPPED, exc.message
    except TransportError as exc:
        status, error = Notification.Status.FAILED, exc.message
    except Exception as exc:  # a transport bug is a failed test, recorded, never a 500
        log_remote_error(f"test page through contact method {contact.pk}", exc)
        status, error = Notification.Status.FAILED, public_error(exc)
    return Notification.objects.create(
        incident=None, event=TEST_EVENT, kind=contact.kind, contact=contact, recipient=contact.user.username,
        target=(transport.describe() or contact.kind)[:500], status=status, attempts=1, error=error[:2000],
        duration_ms=round((time.perf_counter() - started) * 1000, 2), created_at=queued,
        sent_at=timezone.now() if status == Notification.Status.SENT else None,
    )  # fmt: skip
