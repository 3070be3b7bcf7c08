from celery import shared_task

from incidents import correlation


@shared_task(name="incidents.correlate_events", ignore_result=True)
def correlate_events() -> None:
    """Periodic (beat): one correlation pass. Idempotent, so an overlapping or repeated run is harmless."""
    correlation.correlate()
