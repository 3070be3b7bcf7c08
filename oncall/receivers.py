"""The incidents app's signals, turned into tasks (so paging never runs in the request that opened it)."""

import contextlib

from oncall import services, tasks
from opsassist.lib.errors import ServiceError


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


def on_logged_in(sender, request, user, **kwargs):
    # The login form carries the browser's zone: stored at once (only while the person has chosen none),
    # so the first page after logging in already shows their local times instead of reloading to get them.
    guess = request.POST.get("time_zone", "") if request is not None and request.method == "POST" else ""
    if guess:
        with contextlib.suppress(ServiceError):  # an unknown zone from a browser is no reason to refuse a login
            services.do_set_time_zone(user, guess, only_if_unset=True)
