"""Broadcast incident changes to `/ws/incidents/` after the change commits, once per transaction."""

from __future__ import annotations

import threading
from contextlib import contextmanager

from django.db import transaction

from incidents import payload
from incidents.consumers import LIVE_GROUP
from opsassist.lib.live import group_send_many

# Incidents per query when live messages are built (an IN list well under every engine's parameter limit).
CHUNK = 500

_batch = threading.local()


class _Batch:
    """The live updates one transaction queued, by incident."""

    def __init__(self, updates: list[_Broadcast] | None = None):
        self.updates: dict[int, _Broadcast] = {}
        self.sent = False
        for update in updates or []:
            self.updates[update.incident_id] = update
            update.batch = self


class _Broadcast:
    """One incident's live update, run on commit. The first update of a transaction to run sends the whole
    transaction's batch (a query per CHUNK incidents and one channel-layer hop); the others find it sent."""

    def __init__(self, incident_id: int, created: bool, batch: _Batch):
        self.incident_id = incident_id
        self.created = created
        self.batch = batch
        batch.updates[incident_id] = self

    def __call__(self) -> None:
        if self.batch.sent:
            return
        self.batch.sent = True
        updates = list(self.batch.updates.values())
        pending = getattr(_batch, "pending", None)
        if pending is not None:  # inside batched(): sent together at its end
            for update in updates:
                pending[update.incident_id] = pending.get(update.incident_id, False) or update.created
            return
        broadcast_many([u.incident_id for u in updates if u.created], created=True)
        broadcast_many([u.incident_id for u in updates if not u.created])


@contextmanager
def batched():
    """Collect the live updates of the changes committed inside, and send them together at the end
    (several transactions in a row make one query per CHUNK incidents and one channel-layer hop)."""
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
    send one message with the final state; the updates of one transaction go out together. A rolled-back
    transaction sends nothing. Constant time per call, so a transaction may queue thousands.
    """
    connection = transaction.get_connection()
    if not connection.in_atomic_block:  # autocommit: on_commit runs it now
        transaction.on_commit(_Broadcast(incident_id, created, _Batch()), robust=True)
        return
    batch = _open_batch(connection)
    update = batch.updates.get(incident_id)
    if update is not None:
        update.created = update.created or created
        return
    transaction.on_commit(_Broadcast(incident_id, created, batch), robust=True)


def _open_batch(connection) -> _Batch:
    """The batch of the transaction in progress. Kept beside Django's list of commit callbacks, which a
    commit, a rollback or a savepoint rollback replaces by a new list: then the batch is rebuilt from the
    updates still in it and not sent yet. (An update dropped by a savepoint rollback after the last call
    stays in the batch: at worst an incident's current state is sent once more.)"""
    hooks = connection.run_on_commit
    kept = getattr(connection, "_live_batch", None)
    if kept is None or kept[0] is not hooks or kept[1].sent:
        waiting = [func for _, func, _ in hooks if isinstance(func, _Broadcast) and not func.batch.sent]
        kept = (hooks, _Batch(waiting))
        connection._live_batch = kept
    return kept[1]


def broadcast(incident_id: int, created: bool = False) -> None:
    broadcast_many([incident_id], created=created)


def broadcast_many(incident_ids: list[int], created: bool = False) -> None:
    """One query per CHUNK incidents, then one message each, all in one channel-layer hop."""
    from incidents.models import Incident

    if not incident_ids:
        return
    kind = "incident.created" if created else "incident.updated"
    messages = []
    for start in range(0, len(incident_ids), CHUNK):
        chunk = incident_ids[start : start + CHUNK]
        incidents = Incident.objects.select_related("assigned_to").filter(pk__in=chunk).order_by("id")
        # Built once per batch from the outward payload module, not the REST serializer.
        messages += [payload.live_incident_message(kind, i) for i in incidents]
    group_send_many(LIVE_GROUP, messages)


def timeline_on_commit(entry) -> None:
    """Push a new timeline entry to open incident pages when its transaction commits (nothing if it
    rolls back). Notifications and escalation steps are written by workers: without this, they would
    appear only with the next unrelated update."""
    timeline_many_on_commit([entry])


def timeline_many_on_commit(entries: list) -> None:
    """`timeline_on_commit` for entries written in bulk: one callback, one channel-layer hop."""
    if not entries:
        return
    messages = [payload.live_timeline_message(entry) for entry in entries]
    transaction.on_commit(lambda: _send_timeline(messages), robust=True)


def _send_timeline(messages: list[dict]) -> None:
    timeline = getattr(_batch, "timeline", None)
    if timeline is not None:  # inside batched(): sent together at its end
        timeline.extend(messages)
        return
    group_send_many(LIVE_GROUP, messages)
