"""The incidents app's signals, turned into tasks (so paging never runs in the request that opened it)."""

from oncall import tasks


def on_incident_opened(sender, incident, **kwargs):
    tasks.start_escalation.delay(incident.pk)


def on_status_changed(sender, incident, old, new, actor, **kwargs):
    tasks.status_changed.delay(incident.pk, new, actor)


def on_page_requested(sender, incident, reason, **kwargs):
    tasks.page_on_call.delay(incident.pk, reason)
