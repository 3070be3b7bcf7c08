from celery import shared_task

from incidents import correlation


@shared_task(name="incidents.correlate_events", ignore_result=True)
def correlate_events() -> None:
    """Periodic (beat), on the "correlation" queue: one correlation pass. A pass that finds another one
    running returns at once (see correlation.pass_lease), so a slow pass never has passes queue behind it."""
    correlation.correlate()
