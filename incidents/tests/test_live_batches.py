"""Live updates of one transaction go out together: one message per incident with its final state,
whatever the number of changes, and queueing them stays cheap for a mass opening. In-memory layer."""

from __future__ import annotations

import asyncio
import time

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from incidents import live
from incidents.consumers import LIVE_GROUP
from incidents.models import Incident

pytestmark = pytest.mark.django_db


@pytest.fixture
def received(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(LIVE_GROUP, channel)

    def drain() -> list[tuple[str, int]]:
        """(type, incident id) of every incident message waiting, in order."""

        async def take():
            messages = []
            while True:
                try:
                    messages.append(await asyncio.wait_for(layer.receive(channel), 0.2))
                except TimeoutError:
                    return messages

        return [(m["type"], m["incident"]["id"]) for m in async_to_sync(take)() if "incident" in m]

    return drain


def incidents(n: int) -> list[int]:
    """Rows only: no follow-up (analysis, paging) adds messages of its own."""
    rows = [Incident(source="events", service=f"live-{i}", title="t", severity="high") for i in range(n)]
    return [incident.pk for incident in Incident.objects.bulk_create(rows)]


def test_a_transaction_sends_one_message_per_incident_with_created_winning(
    received, django_capture_on_commit_callbacks
):
    ids = incidents(3)
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        live.broadcast_on_commit(ids[0])
        for pk in ids:
            live.broadcast_on_commit(pk, created=True)
        live.broadcast_on_commit(ids[1])
    assert len(callbacks) == 3
    assert received() == [("incident.created", pk) for pk in ids]
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        live.broadcast_on_commit(ids[2])
        live.broadcast_on_commit(ids[2])
    assert received() == [("incident.updated", ids[2])]


def test_a_rolled_back_savepoint_sends_nothing_for_its_changes(received, django_capture_on_commit_callbacks):
    first, rolled_back, last = incidents(3)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        live.broadcast_on_commit(first)
        try:
            with transaction.atomic():
                live.broadcast_on_commit(rolled_back)
                raise RuntimeError("undo")
        except RuntimeError:
            pass
        live.broadcast_on_commit(last)
    assert sorted(received()) == [("incident.updated", first), ("incident.updated", last)]


def test_a_rolled_back_transaction_sends_nothing(received, django_capture_on_commit_callbacks):
    (pk,) = incidents(1)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        try:
            with transaction.atomic():
                live.broadcast_on_commit(pk)
                raise RuntimeError("undo")
        except RuntimeError:
            pass
    assert callbacks == [] and received() == []


def test_queueing_the_updates_of_a_mass_opening_takes_constant_time_each():
    started = time.perf_counter()
    with transaction.atomic():
        for pk in range(1, 20_001):
            live.broadcast_on_commit(pk, created=pk % 2 == 0)
        queued = len(transaction.get_connection().run_on_commit)
    # Looking for an earlier update of the same incident used to scan every callback: 20,000 took ~20 s.
    assert time.perf_counter() - started < 2
    assert queued >= 20_000
