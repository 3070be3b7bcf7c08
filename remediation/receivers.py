from remediation import analysis, tasks


def on_incident_opened(sender, incident, **kwargs):
    tasks.analyze_incident.delay(incident.pk)


def on_incidents_opened(sender, incidents, **kwargs):
    tasks.analyze_incidents.delay([incident.pk for incident in incidents])


def on_analysis_requested(sender, incident, **kwargs):
    """`POST /incidents/{id}/analyze`: run it now and answer with the result."""
    return analysis.do_analyze(incident)
