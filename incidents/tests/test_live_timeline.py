"""Every timeline entry reaches open incident pages live (`timeline.added` after commit), notifications
written by the delivery worker included. Uses channels' in-memory layer."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from incidents import services
from incidents.choices import TimelineKind
from incidents.consumers import LIVE_GROUP
from oncall.models import ContactMethod
from oncall.services import _notify_user
from oncall.tests.factories import user

pytestmark = pytest.mark.django_db


@pytest.fixture
def listener(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(LIVE_GROUP, channel)

    def receive_until(text: str) -> list[dict]:
        """Every message up to the timeline entry with `text` (fails after 2 s without it)."""

        async def take():
            messages = []
            while not messages or messages[-1].get("entry", {}).get("text") != text:
                messages.append(await asyncio.wait_for(layer.receive(channel), 2))
            return messages

        return async_to_sync(take)()

    return receive_until


def opened():
    incident, _ = services.get_or_open_incident(source="events", service="x", title="t", severity="high")
    return incident


def test_a_timeline_entry_is_pushed_after_commit(listener, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        incident = opened()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.record(incident, TimelineKind.ESCALATION, "oncall", "Step 1/1: notified ann")
    assert len(callbacks) == 1
    added = [m for m in listener("Step 1/1: notified ann") if m["type"] == "timeline.added"]
    assert added[0]["entry"]["text"] == "Incident opened from events: t"
    assert added[-1]["incident_id"] == incident.pk
    assert set(added[-1]["entry"]) == {"at", "kind", "actor", "text", "data"}


def test_a_rolled_back_entry_is_never_pushed(listener, django_capture_on_commit_callbacks):
    incident = opened()
    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(RuntimeError):
        _record_then_fail(incident)
    assert callbacks == []


def _record_then_fail(incident):
    with transaction.atomic():
        services.record(incident, TimelineKind.NOTE, "ann", "never happened")
        raise RuntimeError


def test_a_notification_sent_by_the_worker_reaches_the_page(listener, django_capture_on_commit_callbacks):
    incident = opened()
    ann = user("ann")
    ContactMethod.objects.create(user=ann, kind="log")
    with django_capture_on_commit_callbacks(execute=True):
        _notify_user(incident, "new", None, ann)
    message = listener("Notified ann via log (new).")[-1]
    assert message["type"] == "timeline.added" and message["incident_id"] == incident.pk
    assert message["entry"]["kind"] == "notification"
    assert message["entry"]["text"] == "Notified ann via log (new)."
