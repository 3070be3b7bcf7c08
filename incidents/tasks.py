import logging
import time

from celery import shared_task
from django.conf import settings

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
    if inbox.do_drain():
        queue_alert_drain()


def queue_alert_drain() -> None:
    """Queue a drain of the alert inbox, after the alerts were stored (outside any transaction)."""
    try:
        process_alert_inbox.delay()
    except Exception:  # the broker is down: the alerts are stored, and beat's reaper drains them
        log.exception("could not queue an alert inbox drain")


@shared_task(name="incidents.catch_up_rollup", ignore_result=True)
def catch_up_rollup() -> None:
    """Periodic (beat, every 10 s, on the "correlation" queue): fold pending incident changes into the
    analytics rollup, batch by batch for at most ROLLUP_TICK_SECONDS, so correlation passes are never held
    up for long (incidents/rollup.py; analytics is exact meanwhile)."""
    deadline = time.monotonic() + settings.ROLLUP_TICK_SECONDS
    while rollup.catch_up() and time.monotonic() < deadline:
        pass
