from celery import shared_task

from incidents import correlation, services


@shared_task(name="incidents.correlate_events", ignore_result=True)
def correlate_events() -> None:
    """Periodic (beat): one correlation pass. Idempotent, so an overlapping or repeated run is harmless."""
    correlation.correlate()


@shared_task(name="incidents.resolve_stable_flapping", ignore_result=True)
def resolve_stable_flapping() -> None:
    """Periodic (beat, every 15 s): flapping incidents healthy for FLAP_STABLE_SECONDS resolve."""
    services.do_resolve_stable()
