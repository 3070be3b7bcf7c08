"""The alert inbox: Alertmanager's alerts are stored on arrival and applied in batches.

The webhook validates the whole group, stores it as one `AlertInbox` row (`do_queue`) and answers
at once, as Grafana OnCall does: Alertmanager waits for the answer before it sends the group's next
notification, and retries a slow receiver. `do_drain` (the `incidents.process_alert_inbox` task, queued by
each request and run by beat every few seconds as a reaper) applies the inbox in id order, up to
about INBOX_BATCH alerts per transaction, and deletes what it applied in that same transaction:

- nothing is lost: a processor that dies mid-batch rolls back, and its rows wait for the next drain;
- nothing is applied twice: the rows go with the effects they caused, in one commit;
- order holds: one drain at a time (a lease), rows in id order, and an alert met twice in a batch is
  applied in steps, so a group's firing and then resolved notification apply in that order
  (Alertmanager sends a group's notifications one after another);
- one incident per failing thing: incidents open through `services.do_open_many` (one INSERT ... ON
  CONFLICT DO NOTHING) or `services.get_or_open_incident`, so the partial unique index
  `incidents_incident_one_unresolved` stays the guarantee against every other opener;
- noise rules hold: while a maintenance window or silence is active, or an alert's incident recovered
  within FLAP_WINDOW_SECONDS, that incident opens through `get_or_open_incident` (silences matched on the
  alert's labels, flapping incidents reopened); resolutions go through `services.do_recover`.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import NamedTuple

from django.conf import settings
from django.db import OperationalError, transaction
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from incidents import inbox_writes as writes
from incidents import live, noise, services
from incidents.alerts import AlertIn, describe, fields, from_json, to_json
from incidents.choices import SEVERITY_RANK, UNRESOLVED, AlertStatus, Source, Status, TimelineKind
from incidents.models import Alert, AlertInbox, Incident, TimelineEntry
from opsassist.lib import lease

log = logging.getLogger(__name__)

# Alerts applied per transaction: big enough to amortize the round trips, small enough to keep each
# transaction short (locks held, work redone after a crash).
INBOX_BATCH = 1000
# A drain stops after this long and queues the next one, so one task never holds a worker for minutes.
DRAIN_SECONDS = 30.0
# One drain at a time: a PostgreSQL advisory lock per batch transaction, else a cache lease.
# Timeline entries pushed live per incident and batch: a group of hundreds of alerts would otherwise
# make as many channel-layer sends (several Redis round trips each) as it has alerts.
LIVE_ENTRIES = 10
LOCK_ID = zlib.crc32(b"opsassist.alert-inbox")
LEASE_KEY = "alerts:inbox-lease"
LEASE_SECONDS = 120

# (service, component, host, source_key) of an alert incident: what the partial unique index keys on.
Thing = tuple[str, str, str, str]
Item = tuple[AlertIn, str, str]  # (alert, incident key, actor)


def do_queue(batch: list[tuple[AlertIn, str]], *, actor) -> int:
    """Store one request's (alert, incident key) pairs in the inbox, all or nothing (then queue a drain:
    `tasks.queue_alert_drain`)."""
    alerts = [[to_json(alert), key] for alert, key in batch]
    AlertInbox.objects.create(actor=services.actor_name(actor), size=len(alerts), alerts=alerts)
    return len(alerts)


def do_drain(seconds: float = DRAIN_SECONDS) -> bool:
    """Apply the inbox batch by batch, while no other drain runs. True when it stopped on its time
    bound with alerts left (the caller queues the next drain).

    A batch that fails is applied again one request at a time; a request that fails on its own is set
    aside (`failed_at`, `error`, logged), so that one bad request never holds up the others. A database that is
    down or timing out is no bad alert: that error goes up, and the next drain starts over."""
    deadline = time.monotonic() + seconds
    one_by_one = 0  # requests left to apply one at a time after a failed batch
    while time.monotonic() < deadline:
        try:
            applied = _drain_batch(1 if one_by_one else INBOX_BATCH)
        except OperationalError:
            raise
        except Exception as exc:
            if one_by_one:
                _set_aside(exc)
            else:
                log.exception("alert inbox batch failed; applying it one request at a time")
                one_by_one = INBOX_BATCH + 1
            continue
        if applied is None:
            return False
        one_by_one = max(0, one_by_one - 1)
    return True


def _drain_batch(size: int) -> int | None:
    """Apply and delete the oldest rows, about `size` alerts (one row at least); None when there are none
    or another drain runs."""
    with live.batched(), _lease() as held:
        pending = AlertInbox.objects.filter(failed_at__isnull=True).order_by("id")
        ids: list[int] = []
        total = 0
        for pk, count in pending.values_list("id", "size")[:size] if held else []:
            if ids and total + count > size:
                break
            ids.append(pk)
            total += count
        if not ids:
            return None
        apply_rows(list(AlertInbox.objects.filter(id__in=ids).order_by("id")))
        AlertInbox.objects.filter(id__in=ids).delete()
    return total


def _set_aside(exc: Exception) -> None:
    row = AlertInbox.objects.filter(failed_at__isnull=True).order_by("id").first()
    if row is None:
        return
    AlertInbox.objects.filter(pk=row.pk).update(failed_at=timezone.now(), error=repr(exc)[:10_000])
    log.error("alert request set aside: it fails to apply", extra={"inbox_id": row.pk}, exc_info=exc)


def _lease():
    """A transaction, yielding whether this drain may apply a batch (no other drain is applying one)."""
    return lease.exclusive(LOCK_ID, LEASE_KEY, LEASE_SECONDS)


def apply_rows(rows: list[AlertInbox]) -> None:
    """Apply inbox rows in order: in steps where one alert appears more than once."""
    items = [(from_json(alert), key, row.actor) for row in rows for alert, key in row.alerts]
    for step in _steps(items):
        _Step(step, timezone.now()).apply()


def _steps(items: list[Item]) -> Iterator[list[Item]]:
    """Split `items` so each alert appears at most once per step; an alert's k-th item is in step k."""
    steps: list[list[Item]] = []
    seen: dict[tuple[str, str], int] = defaultdict(int)
    for item in items:
        key = (item[0].source, item[0].fingerprint)
        if seen[key] == len(steps):
            steps.append([])
        steps[seen[key]].append(item)
        seen[key] += 1
    yield from steps


def _thing(alert: AlertIn, key: str) -> Thing:
    return (alert.incident_service or alert.service, alert.component, alert.host, key)


def _of(incident: Incident) -> Thing:
    return (incident.service, incident.component, incident.host, incident.source_key)


class _Known(NamedTuple):
    """What a step reads of an alert row it already has (no labels: decoding them costs more than the rest)."""

    status: str
    incident_id: int | None
    summary: str


class _Step:
    """One step of a batch: each alert at most once. Reads what it needs in a few queries, then writes
    alert rows, timeline entries and counts in bulk; per-incident work only where an incident changes
    state (severity raised, resolved)."""

    def __init__(self, items: list[Item], now: datetime):
        self.items, self.now = items, now
        self.known = self._known_alerts()
        self.incidents = Incident.objects.in_bulk({row.incident_id for row in self.known.values() if row.incident_id})
        self.rows: list[dict] = []  # alert rows written whole: new ones, and known ones firing again
        self.ended: list[tuple[str, str, datetime]] = []  # known alerts now resolved: (source, fingerprint, ends_at)
        self.entries: list[TimelineEntry] = []
        self.touched: set[int] = set()

    def _known_alerts(self) -> dict[tuple[str, str], _Known]:
        by_source: dict[str, list[str]] = defaultdict(list)
        for alert, _, _ in self.items:
            by_source[alert.source].append(alert.fingerprint)
        known = {}
        for source, fingerprints in by_source.items():
            for start in range(0, len(fingerprints), services.BULK_CHUNK):
                rows = Alert.objects.filter(
                    source=source, fingerprint__in=fingerprints[start : start + services.BULK_CHUNK]
                )
                for fingerprint, status, incident_id, summary in rows.values_list(
                    "fingerprint", "status", "incident_id", "summary"
                ):
                    known[(source, fingerprint)] = _Known(status, incident_id, summary)
        return known

    def apply(self) -> None:
        firing = [item for item in self.items if item[0].status == AlertStatus.FIRING]
        resolved = [item for item in self.items if item[0].status != AlertStatus.FIRING]
        self._fire(firing)
        recovering = self._resolve(resolved)
        writes.upsert_alerts(self.rows, self.now)
        writes.end_alerts(self.ended, self.now)
        self._record()
        self._recover(recovering)
        self._recount()

    # --- firing ---

    def _fire(self, items: list[Item]) -> None:
        needed: dict[Thing, Item] = {}
        for alert, key, actor in items:
            if self._current(alert) is None:
                needed.setdefault(_thing(alert, key), (alert, key, actor))
        opened = _incidents_for(needed, self.now)
        raise_to: dict[int, tuple[str, str, str]] = {}
        failing_again: set[int] = set()
        for alert, key, actor in items:
            row = self.known.get((alert.source, alert.fingerprint))
            current = self._current(alert)
            newly_firing = row is None or row.status != AlertStatus.FIRING or current is None
            incident = current or opened[_thing(alert, key)]
            self.incidents[incident.pk] = incident
            self.touched.add(incident.pk)
            self.rows.append({"source": alert.source, "fingerprint": alert.fingerprint, **fields(alert),
                              "incident_id": incident.pk})  # fmt: skip
            if newly_firing:
                failing_again.add(incident.pk)
                self._entry(incident, actor, f"Alert firing: {alert.summary}",
                            {"fingerprint": alert.fingerprint, "labels": alert.labels})  # fmt: skip
                if SEVERITY_RANK[alert.severity] > SEVERITY_RANK[raise_to.get(incident.pk, (incident.severity,))[0]]:
                    raise_to[incident.pk] = (alert.severity, actor, alert.summary)
        # A flapping incident's stable period starts again (services.do_note_failing, for the batch).
        Incident.objects.filter(pk__in=failing_again, recovered_at__isnull=False).update(recovered_at=None)
        for pk, (severity, actor, summary) in raise_to.items():
            incident = self.incidents[pk]
            services.do_raise_severity(incident, severity, actor=actor, reason=f"alert {summary}")

    def _current(self, alert: AlertIn) -> Incident | None:
        """The unresolved incident this alert already belongs to."""
        row = self.known.get((alert.source, alert.fingerprint))
        incident = self.incidents.get(row.incident_id) if row is not None and row.incident_id else None
        return incident if incident is not None and incident.status in UNRESOLVED else None

    # --- resolved ---

    def _resolve(self, items: list[Item]) -> dict[int, str]:
        """Mark alerts resolved; the unresolved incidents that may now recover, with who resolved them."""
        recovering: dict[int, str] = {}
        for alert, _, actor in items:
            row = self.known.get((alert.source, alert.fingerprint))
            ends_at = alert.ends_at or self.now
            if row is None:  # never seen firing: kept, linked to nothing
                self.rows.append({"source": alert.source, "fingerprint": alert.fingerprint, **fields(alert),
                                  "status": AlertStatus.RESOLVED, "ends_at": ends_at, "incident_id": None})  # fmt: skip
                continue
            if row.status == AlertStatus.RESOLVED:
                continue
            self.ended.append((alert.source, alert.fingerprint, ends_at))
            incident = self._current(alert)
            if incident is not None:
                self._entry(incident, actor, f"Alert resolved: {row.summary}", {"fingerprint": alert.fingerprint})
                recovering.setdefault(incident.pk, actor)
        return recovering

    def _recover(self, recovering: dict[int, str]) -> None:
        still_firing = set(
            Alert.objects.filter(incident_id__in=recovering, status=AlertStatus.FIRING)
            .values_list("incident_id", flat=True)
            .distinct()
        )
        for pk, actor in recovering.items():
            if pk not in still_firing:
                notes = "Auto-resolved: every alert of this incident resolved."
                services.do_recover(self.incidents[pk], actor=actor, notes=notes, now=self.now)

    # --- bulk writes ---

    def _entry(self, incident: Incident, actor: str, text: str, data: dict) -> None:
        self.entries.append(TimelineEntry(incident=incident, kind=TimelineKind.ALERT, actor=actor, text=text,
                                          data=data, at=self.now))  # fmt: skip

    def _record(self) -> None:
        """Timeline entries: the first LIVE_ENTRIES per incident through the ORM (their ids go out live),
        the rest in one bulk INSERT; the page shows them on its next load, and incident.updated goes out."""
        pushed: Counter[int] = Counter()
        live_ones: list[TimelineEntry] = []
        rest: list[TimelineEntry] = []
        for entry in self.entries:
            pushed[entry.incident_id] += 1
            (live_ones if pushed[entry.incident_id] <= LIVE_ENTRIES else rest).append(entry)
        TimelineEntry.objects.bulk_create(live_ones, batch_size=services.BULK_CHUNK)
        for entry in live_ones:
            live.timeline_on_commit(entry)
        writes.insert_entries(rest)

    def _recount(self) -> None:
        """alert_count of every incident an alert joined, in one UPDATE per chunk; live updates after commit."""
        ids = sorted(self.touched)
        counts = Alert.objects.filter(incident=OuterRef("pk")).order_by().values("incident").annotate(n=Count("id"))
        for start in range(0, len(ids), services.BULK_CHUNK):
            chunk = ids[start : start + services.BULK_CHUNK]
            Incident.objects.filter(pk__in=chunk).update(
                alert_count=Coalesce(Subquery(counts.values("n"), output_field=IntegerField()), 0)
            )
        transaction.on_commit(lambda: live.broadcast_many(ids), robust=True)


def _incidents_for(needed: dict[Thing, Item], now: datetime) -> dict[Thing, Incident]:
    """The unresolved incident of each failing thing, opening the missing ones in bulk."""
    found = _unresolved(list(needed))
    missing = [thing for thing in needed if thing not in found]
    if not missing:
        return found
    careful = _recently_recovered(missing, now) if not noise.anything_active(now) else set(missing)
    for thing in careful:  # reopened (flapping) or matched against silences by label: one at a time
        alert, key, actor = needed[thing]
        found[thing] = services.get_or_open_incident(**_open_args(alert, key), actor=actor, labels=alert.labels,
                                                     now=now)[0]  # fmt: skip
    bulk = [thing for thing in missing if thing not in careful]
    if bulk:
        specs = [services.OpenSpec(**_open_args(*needed[thing][:2])) for thing in bulk]
        for incident in services.do_open_many(specs, actor=needed[bulk[0]][2], now=now):
            found[_of(incident)] = incident
        lost = [thing for thing in bulk if thing not in found]  # a concurrent opener won: use theirs
        found.update(_unresolved(lost))
    return found


def _open_args(alert: AlertIn, key: str) -> dict:
    return {"source": Source.ALERT, "service": alert.incident_service or alert.service,
            "component": alert.component, "host": alert.host, "source_key": key, "title": alert.summary,
            "severity": alert.severity, "description": describe(alert)}  # fmt: skip


def _unresolved(things: list[Thing]) -> dict[Thing, Incident]:
    found = {}
    keys = sorted({thing[3] for thing in things})
    for start in range(0, len(keys), services.BULK_CHUNK):
        rows = Incident.objects.filter(
            source=Source.ALERT, status__in=UNRESOLVED, source_key__in=keys[start : start + services.BULK_CHUNK]
        )
        found.update({_of(incident): incident for incident in rows})
    wanted = set(things)
    return {thing: incident for thing, incident in found.items() if thing in wanted}


def _recently_recovered(things: list[Thing], now: datetime) -> set[Thing]:
    """The things whose incident recovered by itself within FLAP_WINDOW_SECONDS (to be reopened)."""
    since = now - timedelta(seconds=settings.FLAP_WINDOW_SECONDS)
    keys = sorted({thing[3] for thing in things})
    wanted, recent = set(things), set[Thing]()
    for start in range(0, len(keys), services.BULK_CHUNK):
        rows = Incident.objects.filter(
            source=Source.ALERT, status=Status.RESOLVED, recovered_at__gte=since,
            source_key__in=keys[start : start + services.BULK_CHUNK],
        ).only("service", "component", "host", "source_key")  # fmt: skip
        recent.update(_of(incident) for incident in rows)
    return recent & wanted
