"""The Celery app, and every periodic schedule in one place.

Without REDIS_URL the broker is in-memory and `manage.py serve` runs a worker and beat inside the web
process (see opsassist/lib/embedded.py); with REDIS_URL they are separate processes (`make worker`,
`make beat`).
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsassist.settings")

app = Celery("opsassist")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Heartbeats for /health and /metrics (opsassist/lib/heartbeat.py): every worker writes one from a
# timer on its consumer loop, every HEALTH_HEARTBEAT_INTERVAL_SECONDS (5 s); beat writes one from its
# scheduler's tick at the same interval. A frozen process stops writing, so its age grows.
app.conf.beat_scheduler = "opsassist.lib.heartbeat:HeartbeatScheduler"
app.steps["consumer"].add("opsassist.lib.heartbeat:WorkerHeartbeat")


@app.on_after_finalize.connect
def setup_periodic_tasks(sender, **kwargs):
    """Every periodic job, with its interval and purpose."""
    from django.conf import settings

    # Every CORRELATION_INTERVAL_SECONDS (1 s), on its own "correlation" queue: open/attach incidents for
    # services whose error events crossed CORRELATION_THRESHOLD within CORRELATION_WINDOW_SECONDS. One pass
    # at a time (a pass that finds another running returns at once); a tick not picked up within two
    # intervals expires, so ticks never pile up behind a slow pass.
    sender.add_periodic_task(
        settings.CORRELATION_INTERVAL_SECONDS,
        sender.signature("incidents.correlate_events"),
        name="correlate events",
        expires=max(1.0, settings.CORRELATION_INTERVAL_SECONDS * 2),
    )

    # Every 5 s, on the "alerts" queue: the reaper of the alert inbox. Each Alertmanager request queues a
    # drain itself; this one applies alerts whose drain was lost (a worker died, the broker was down).
    sender.add_periodic_task(5.0, sender.signature("incidents.process_alert_inbox"), name="alert inbox", expires=10)

    # Every second: queue a check for each monitor whose interval has elapsed (each check its own task
    # on the "checks" queue, or "host.<name>" for monitors pinned to a host agent).
    sender.add_periodic_task(1.0, sender.signature("monitoring.run_due_checks"), name="run due checks", expires=5)
    # Every 15 s: hosts silent for HEARTBEAT_TIMEOUT_SECONDS open a critical incident.
    sender.add_periodic_task(15.0, sender.signature("monitoring.check_silent_hosts"), name="silent hosts", expires=30)
    # Hourly: drop raw check results older than 48 h (hourly rollups keep availability for 90 days).
    sender.add_periodic_task(3600.0, sender.signature("monitoring.prune_check_results"), name="prune checks")
    # Every 15 s: unacknowledged incidents whose escalation step wait (ESCALATION_TIMEOUT_MINUTES by
    # default) is over move to the next step, and personal notification rules whose delay is over are sent.
    sender.add_periodic_task(15.0, sender.signature("oncall.escalate_due"), name="escalate due", expires=30)
    # Every 15 s: remediation runs past their deadline are failed (on-call paged) or expired, verifications
    # whose task was lost resume; notifications stuck pending/sending are re-queued or failed.
    sender.add_periodic_task(15.0, sender.signature("remediation.reap_runs"), name="reap runs", expires=30)
    sender.add_periodic_task(15.0, sender.signature("oncall.reap_notifications"), name="reap notifications", expires=30)
    # Every 15 s: open incidents whose escalation never started (the start task was lost with the broker
    # or a dying worker) over a minute after they opened are paged now, once.
    sender.add_periodic_task(15.0, sender.signature("oncall.reap_escalations"), name="reap escalations", expires=30)
    # Every CALENDAR_REFRESH_MINUTES (15 min): fetch schedule calendars given by URL again and expand
    # every calendar's recurrences over the coming CALENDAR_HORIZON_DAYS.
    sender.add_periodic_task(
        settings.CALENDAR_REFRESH_MINUTES * 60.0,
        sender.signature("oncall.refresh_calendars"),
        name="refresh calendars",
        expires=settings.CALENDAR_REFRESH_MINUTES * 60,
    )
    # Hourly: delete notification action links expired more than a day ago.
    sender.add_periodic_task(3600.0, sender.signature("oncall.purge_action_links"), name="purge action links")
    # Every 15 s: incidents whose paging was held (maintenance window or silence ended, snooze ran out)
    # and that are still unresolved are paged now.
    sender.add_periodic_task(15.0, sender.signature("oncall.release_held"), name="release held", expires=30)
    # Every 15 s: flapping incidents healthy for FLAP_STABLE_SECONDS (300 s) resolve.
    sender.add_periodic_task(
        15.0, sender.signature("incidents.resolve_stable_flapping"), name="resolve stable flapping", expires=30
    )
    # Every 10 s, on the "correlation" queue (a backlog of analyses on the default queue would expire its
    # ticks): fold incident changes into the analytics rollup for at most ROLLUP_TICK_SECONDS (1 s).
    sender.add_periodic_task(
        10.0,
        sender.signature("incidents.catch_up_rollup", options={"queue": "correlation"}),
        name="catch up rollup",
        expires=20,
    )
    # Every 15 s: check-ins with no success within period + grace open an incident.
    sender.add_periodic_task(15.0, sender.signature("monitoring.check_late_checkins"), name="late checkins", expires=30)
