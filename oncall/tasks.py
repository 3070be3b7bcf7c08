from celery import shared_task
from django.conf import settings

from oncall import calendars, links, services
from oncall.calendar_models import CalendarSource


@shared_task(name="oncall.start_escalation", ignore_result=True, acks_late=True)
def start_escalation(incident_id: int) -> None:
    """A new incident: assign it, notify step 1 (idempotent: one Escalation per incident)."""
    services.do_start_escalation(incident_id)


@shared_task(name="oncall.start_escalations", ignore_result=True, acks_late=True)
def start_escalations(incident_ids: list[int]) -> None:
    """Incidents opened in bulk: `start_escalation` for each, storm children held together. What is left
    when half the task's time limit is spent goes on in a new task."""
    left = services.do_start_escalations(incident_ids, seconds=settings.CELERY_TASK_SOFT_TIME_LIMIT / 2)
    if left:
        start_escalations.delay(left)


@shared_task(name="oncall.escalate_due", ignore_result=True)
def escalate_due() -> None:
    """Periodic (beat, every 15 s): unacknowledged incidents whose step wait is over move on, and
    personal notification rules whose delay is over are sent."""
    services.do_escalate_due()
    services.do_send_due_rules()


@shared_task(name="oncall.page_on_call", ignore_result=True, acks_late=True)
def page_on_call(incident_id: int, reason: str) -> None:
    """Another part of the system needs a human now (e.g. a remediation failed)."""
    services.do_page_on_call_by_id(incident_id, reason)


@shared_task(name="oncall.release_held", ignore_result=True)
def release_held() -> None:
    """Periodic (beat, every 15 s): page what maintenance, a silence or a snooze held back, once it ends."""
    services.do_release_held()


@shared_task(name="oncall.status_changed", ignore_result=True)
def status_changed(incident_id: int, new: str, actor: str) -> None:
    services.do_on_status_change(incident_id, new, actor)


@shared_task(bind=True, name="oncall.deliver", ignore_result=True, max_retries=services.MAX_ATTEMPTS - 1)
def deliver(self, notification_id: int) -> None:
    """One notification; retried with exponential back-off (5 s, 10 s, 20 s, ... up to 5 min).

    Run eagerly (tests, scripts), the attempts happen inline, without the waits."""
    if self.request.is_eager:
        for attempt in range(services.MAX_ATTEMPTS):
            if services.do_deliver(notification_id, final_attempt=attempt == services.MAX_ATTEMPTS - 1) != "retry":
                return
        return
    final = self.request.retries >= self.max_retries
    if services.do_deliver(notification_id, final_attempt=final) == "retry":
        raise self.retry(countdown=services.retry_countdown(self.request.retries + 1))


@shared_task(name="oncall.reap_notifications", ignore_result=True)
def reap_notifications() -> None:
    """Periodic (beat, every 15 s): deliveries stuck pending/sending past their deadline are re-queued or failed."""
    services.do_reap_notifications()


@shared_task(name="oncall.refresh_calendars", ignore_result=True)
def refresh_calendars() -> None:
    """Periodic (beat, every CALENDAR_REFRESH_MINUTES): fetch calendar URLs again and expand every
    calendar over the coming days; one task per calendar so a slow one delays no other."""
    for source_id in CalendarSource.objects.values_list("id", flat=True):
        refresh_calendar.delay(source_id)


@shared_task(name="oncall.refresh_calendar", ignore_result=True)
def refresh_calendar(source_id: int) -> None:
    calendars.do_refresh_source(source_id)


@shared_task(name="oncall.purge_action_links", ignore_result=True)
def purge_action_links() -> None:
    """Periodic (beat, hourly): delete action links expired more than a day ago."""
    links.do_purge_expired()


@shared_task(name="oncall.page_reassigned", ignore_result=True, acks_late=True)
def page_reassigned(incident_id: int, user_id: int, actor: str, entry_id: int) -> None:
    """Someone reassigned an incident: page the new assignee (once per reassignment)."""
    services.do_page_reassigned(incident_id, user_id, actor, entry_id)


@shared_task(name="oncall.reap_escalations", ignore_result=True)
def reap_escalations() -> None:
    """Periodic (beat, every 15 s): open incidents whose escalation start task was lost are paged now."""
    services.do_reap_escalations()
