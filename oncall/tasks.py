from celery import shared_task

from oncall import services


@shared_task(name="oncall.start_escalation", ignore_result=True, acks_late=True)
def start_escalation(incident_id: int) -> None:
    """A new incident: assign it, notify step 1 (idempotent: one Escalation per incident)."""
    services.do_start_escalation(incident_id)


@shared_task(name="oncall.escalate_due", ignore_result=True)
def escalate_due() -> None:
    """Periodic (beat, every 15 s): unacknowledged incidents whose step wait is over move on."""
    services.do_escalate_due()


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
        raise self.retry(countdown=min(300, 5 * 2**self.request.retries))
