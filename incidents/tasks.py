import contextlib
import logging
import time

from celery import shared_task
from django.conf import settings
from django.core.cache import cache

from incidents import correlation, inbox, rollup, services

log = logging.getLogger(__name__)


@shared_task(name="incidents.correlate_events", ignore_result=True)
def correlate_events() -> None:
    """Periodic (beat), on the "correlation" queue: one correlation pass. A pass that finds another one
    running returns at once (see correlation.pass_lease), so a slow pass never has passes queue behind it."""
    correlation.correlate()


@shared_task(name="incidents.resolve_stable_flapping", ignore_result=True)
def resolve_stable_flapping() -> None:
    """Periodic (beat, every 15 s): flapping incidents healthy for FLAP_STABLE_SECONDS resolve."""
    services.do_resolve_stable()


@shared_task(name="incidents.process_alert_inbox", ignore_result=True)
def process_alert_inbox() -> None:
    """On the "alerts" queue: apply the queued Alertmanager alerts (incidents/inbox.py). Queued by each
    webhook request, and by beat every ALERT_INBOX_REAP_SECONDS as the reaper of alerts whose drain was
    lost (a worker that died, a broker that was down). A drain that finds another running returns at once."""
    with contextlib.suppress(Exception):  # a cache that is down: requests queue a drain each
        cache.delete(DRAIN_QUEUED_KEY)  # from here on, rows stored later need a drain of their own
    if inbox.do_drain():
        queue_alert_drain()


# Set while a drain is queued and has not started: rows stored meanwhile are read by that drain (it reads the
# inbox after it started), so a request that finds the mark queues nothing. During a storm that saves the
# broker and the worker a task per request. The mark lapses after DRAIN_QUEUED_SECONDS in case the task was
# lost; beat's reaper drains every ALERT_INBOX_REAP_SECONDS all the same.
DRAIN_QUEUED_KEY = "alerts:drain-queued"
DRAIN_QUEUED_SECONDS = 5


def queue_alert_drain() -> None:
    """Queue a drain of the alert inbox, after the alerts were stored (outside any transaction), unless one
    is queued and has not started yet."""
    try:
        if not cache.add(DRAIN_QUEUED_KEY, 1, timeout=DRAIN_QUEUED_SECONDS):
            return
    except Exception:  # the cache is down: queue one anyway
        log.warning("cache unavailable: queueing an alert inbox drain for this request")
    try:
        process_alert_inbox.delay()
    except Exception:  # the broker is down: the alerts are stored, and beat's reaper drains them
        with contextlib.suppress(Exception):
            cache.delete(DRAIN_QUEUED_KEY)
        log.exception("could not queue an alert inbox drain")


@shared_task(name="incidents.catch_up_rollup", ignore_result=True)
def catch_up_rollup() -> None:
    """Periodic (beat, every 10 s, on the "correlation" queue): fold pending incident changes into the
    analytics rollup, batch by batch for at most ROLLUP_TICK_SECONDS, so correlation passes are never held
    up for long (incidents/rollup.py; analytics is exact meanwhile)."""
    deadline = time.monotonic() + settings.ROLLUP_TICK_SECONDS
    while rollup.catch_up() and time.monotonic() < deadline:
        pass
