import logging

from celery import shared_task

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
    """Incidents opened in bulk: each analysed, in one task for the batch."""
    for incident in Incident.objects.filter(pk__in=incident_ids).order_by("id"):
        try:
            analysis.do_analyze(incident)
        except Exception:  # one incident's failure must not leave the rest of the batch unanalysed
            log.exception("analysing incident %s failed", incident.pk)


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
