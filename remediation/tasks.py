import logging
import time

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from incidents.models import Incident
from remediation import analysis, services

log = logging.getLogger(__name__)


@shared_task(name="remediation.analyze_incident", ignore_result=True)
def analyze_incident(incident_id: int) -> None:
    """Every new incident is analysed (Claude or rules), off the request path."""
    incident = Incident.objects.filter(pk=incident_id).first()
    if incident is not None:
        analysis.do_analyze(incident)


@shared_task(name="remediation.analyze_incidents", ignore_result=True)
def analyze_incidents(incident_ids: list[int]) -> None:
    """Incidents opened in bulk: each analysed, in one task for the batch. What is left when half the
    task's time limit is spent (Claude answers in seconds each) goes on in a new task."""
    deadline = time.monotonic() + settings.CELERY_TASK_SOFT_TIME_LIMIT / 2
    for index, incident_id in enumerate(incident_ids):
        if index and time.monotonic() > deadline:  # at least one each time: the batch always moves on
            analyze_incidents.delay(incident_ids[index:])
            return
        incident = Incident.objects.filter(pk=incident_id).first()
        try:
            if incident is not None:
                analysis.do_analyze(incident)
        except SoftTimeLimitExceeded:
            raise
        except Exception:  # one incident's failure must not leave the rest of the batch unanalysed
            log.exception("analysing incident %s failed", incident_id)


@shared_task(name="remediation.propose_from_analysis", ignore_result=True)
def propose_from_analysis(run_id: int) -> None:
    """A proposal made before the incident had an analysis: analyse, then fill its action in (once)."""
    services.do_propose_from_analysis(run_id)


@shared_task(name="remediation.execute_run", ignore_result=True)
def execute_run(run_id: int) -> None:
    """Execute an approved run (claimed: a second delivery does nothing), then queue its verification."""
    services.do_execute(run_id)


@shared_task(name="remediation.verify_run", ignore_result=True)
def verify_run(run_id: int, attempt: int) -> None:
    """One verification attempt; the next is its own task with a countdown, so no worker waits."""
    services.do_verify(run_id, attempt)


@shared_task(name="remediation.reap_runs", ignore_result=True)
def reap_runs() -> None:
    """Periodic (beat, every 15 s): runs past their deadline are failed or expired; lost verifications resume."""
    services.do_reap_runs()
