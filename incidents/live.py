"""Broadcast incident changes to `/ws/incidents/` after the change commits, once per transaction."""

from __future__ import annotations

import threading
from contextlib import contextmanager

from django.db import transaction

from incidents import payload
from incidents.consumers import LIVE_GROUP
from opsassist.lib.live import group_send_many

_batch = threading.local()


class _Broadcast:
    def __init__(self, incident_id: int, created: bool):
        self.incident_id = incident_id
        self.created = created

    def __call__(self) -> None:
        pending = getattr(_batch, "pending", None)
        if pending is not None:  # inside batched(): sent together at its end
            pending[self.incident_id] = pending.get(self.incident_id, False) or self.created
            return
        broadcast(self.incident_id, self.created)


@contextmanager
def batched():
    """Collect the live updates of the changes committed inside, and send them together at the end
    (a correlation pass that opens many incidents makes one query and one channel-layer hop)."""
    _batch.pending, _batch.timeline = {}, []
    try:
        yield
    finally:
        pending, _batch.pending = _batch.pending, None
        timeline, _batch.timeline = _batch.timeline, None
        broadcast_many([pk for pk, created in pending.items() if created], created=True)
        broadcast_many([pk for pk, created in pending.items() if not created])
        group_send_many(LIVE_GROUP, timeline)


def broadcast_on_commit(incident_id: int, created: bool = False) -> None:
    """Queue one live update for this incident when the transaction commits.

    Several changes to one incident in one transaction (a PATCH that assigns, notes and acknowledges)
    send one message with the final state. A rolled-back transaction sends nothing.
    """
    connection = transaction.get_connection()
    for entry in connection.run_on_commit:
        func = entry[1]
        if isinstance(func, _Broadcast) and func.incident_id == incident_id:
            func.created = func.created or created
            return
    transaction.on_commit(_Broadcast(incident_id, created), robust=True)


def broadcast(incident_id: int, created: bool = False) -> None:
    broadcast_many([incident_id], created=created)


def broadcast_many(incident_ids: list[int], created: bool = False) -> None:
    """One query for all the incidents, then one message each."""
    from incidents.models import Incident

    if not incident_ids:
        return
    kind = "incident.created" if created else "incident.updated"
    incidents = Incident.objects.select_related("assigned_to").filter(pk__in=incident_ids).order_by("id")
    # Built once per batch from the outward payload module, not the REST serializer.
    group_send_many(LIVE_GROUP, [payload.live_incident_message(kind, i) for i in incidents])


def timeline_on_commit(entry) -> None:
    """Push a new timeline entry to open incident pages when its transaction commits (nothing if it
    rolls back). Notifications and escalation steps are written by workers: without this, they would
    appear only with the next unrelated update."""
    message = payload.live_timeline_message(entry)
    transaction.on_commit(lambda: _send_timeline(message), robust=True)


def _send_timeline(message: dict) -> None:
    timeline = getattr(_batch, "timeline", None)
    if timeline is not None:  # inside batched(): sent together at its end
        timeline.append(message)
        return
    group_send_many(LIVE_GROUP, [message])
