"""The incidents app's signals, turned into tasks (so paging never runs in the request that opened it)."""

from oncall import services, tasks


def on_incident_opened(sender, incident, **kwargs):
    tasks.start_escalation.delay(incident.pk)


def on_incidents_opened(sender, incidents, **kwargs):
    tasks.start_escalations.delay([incident.pk for incident in incidents])


def on_status_changed(sender, incident, old, new, actor, **kwargs):
    tasks.status_changed.delay(incident.pk, new, actor)


def on_page_requested(sender, incident, reason, **kwargs):
    tasks.page_on_call.delay(incident.pk, reason)


def on_reassigned(sender, incident, user, actor, entry_id, **kwargs):
    # The escalation assigns its own on-call and pages them itself; taking an incident yourself pages nobody.
    if actor not in (services.ACTOR, user.username):
        tasks.page_reassigned.delay(incident.pk, user.pk, actor, entry_id)
