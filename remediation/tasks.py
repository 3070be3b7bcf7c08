from celery import shared_task

from remediation import analysis, services


@shared_task(name="remediation.analyze_incident", ignore_result=True)
def analyze_incident(incident_id: int) -> None:
    """Every new incident is analysed (Claude or rules), off the request path."""
    from incidents.models import Incident

    incident = Incident.objects.filter(pk=incident_id).first()
    if incident is not None:
        analysis.do_analyze(incident)


@shared_task(name="remediation.execute_run", ignore_result=True, acks_late=True)
def execute_run(run_id: int) -> None:
    """Execute an approved run and verify it (claimed: a second delivery does nothing)."""
    services.do_execute(run_id)
