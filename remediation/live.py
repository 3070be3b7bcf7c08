"""Remediation progress rides on the incident's live updates (the incident page shows the run)."""

from incidents.live import broadcast_on_commit
from remediation.models import RemediationRun


def broadcast_run_on_commit(run_id: int) -> None:
    incident_id = RemediationRun.objects.filter(pk=run_id).values_list("incident_id", flat=True).first()
    if incident_id:
        broadcast_on_commit(incident_id)
