from celery import shared_task
from django.utils import timezone

from monitoring import checkins, heartbeats, services
from monitoring.models import Monitor


@shared_task(name="monitoring.run_due_checks", ignore_result=True)
def run_due_checks() -> None:
    """Periodic (beat, every second): queue a check for every monitor that is due."""
    for monitor in services.claim_due():
        run_check.apply_async(args=[monitor.pk], queue=monitor.queue, expires=max(5, monitor.interval_seconds * 2))


@shared_task(name="monitoring.run_check", ignore_result=True)
def run_check(monitor_id: int) -> None:
    """One check; its own task, so a slow target never delays the others."""
    monitor = Monitor.objects.filter(pk=monitor_id, enabled=True).first()
    if monitor is not None:
        services.do_run_check(monitor)


@shared_task(name="monitoring.check_silent_hosts", ignore_result=True)
def check_silent_hosts() -> None:
    heartbeats.do_check_silent_hosts(timezone.now())


@shared_task(name="monitoring.prune_check_results", ignore_result=True)
def prune_check_results() -> None:
    services.prune_results()


@shared_task(name="monitoring.check_late_checkins", ignore_result=True)
def check_late_checkins() -> None:
    """Periodic (beat, every 15 s): check-ins with no success within period + grace open an incident."""
    checkins.do_find_late()
