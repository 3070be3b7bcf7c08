"""Built-in roles, kept in step with the models after every migrate.

- viewer: reads everything.
- responder: viewer, plus works incidents (acknowledge, resolve, notes, manual incidents), runs checks
  and drills, proposes and approves remediations.
- agent: a host agent's account; sends heartbeats and events only.
- admin: the superuser created by `make up`; everything, including /admin/.
"""

from django.contrib.auth.models import Group, Permission

PROJECT_APPS = ("incidents", "monitoring", "oncall", "remediation")

RESPONDER_PERMISSIONS = {
    "incidents": [
        "add_incident",
        "change_incident",
        "add_note",
        "add_event",
        "add_alert",
        "add_maintenancewindow",
        "delete_maintenancewindow",
        "add_silence",
        "delete_silence",
    ],
    "monitoring": ["add_monitor", "change_monitor", "add_host", "change_host", "add_checkin", "delete_checkin"],
    "oncall": ["add_override", "change_override", "delete_override"],
    "remediation": ["add_remediationrun", "change_remediationrun", "approve_remediationrun"],
}


def ensure_roles(**kwargs) -> None:
    view = Permission.objects.filter(content_type__app_label__in=PROJECT_APPS, codename__startswith="view_")
    viewer, _ = Group.objects.get_or_create(name="viewer")
    viewer.permissions.set(view)
    responder, _ = Group.objects.get_or_create(name="responder")
    extra = Permission.objects.none()
    for app_label, codenames in RESPONDER_PERMISSIONS.items():
        extra |= Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames)
    responder.permissions.set(view | extra)
    # Host agents: send heartbeats and events, nothing else.
    agent, _ = Group.objects.get_or_create(name="agent")
    agent.permissions.set(
        Permission.objects.filter(
            content_type__app_label__in=["monitoring", "incidents"], codename__in=["add_host", "add_event"]
        )
    )
