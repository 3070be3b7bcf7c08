from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured


class RemediationConfig(AppConfig):
    name = "remediation"

    def ready(self):
        from incidents.services import analysis_requested, incident_opened, incidents_opened
        from remediation import receivers

        incident_opened.connect(receivers.on_incident_opened, dispatch_uid="remediation.opened")
        incidents_opened.connect(receivers.on_incidents_opened, dispatch_uid="remediation.opened-many")
        analysis_requested.connect(receivers.on_analysis_requested, dispatch_uid="remediation.analyze")
        check_registry_and_commands()


def check_registry_and_commands() -> None:
    """At start-up: every registry name matches its class, and REMEDIATION_COMMANDS names only actions
    that run a command (a typo would otherwise silently offer nothing)."""
    from django.conf import settings

    from remediation.actions import ACTIONS, action_class
    from remediation.actions.base import RestartCommand

    runs_commands = set()
    for kind, actions in ACTIONS.items():
        for name in actions:
            cls = action_class(kind, name)
            if cls.name != name:
                raise ImproperlyConfigured(f"remediation action {ACTIONS[kind][name]} is registered as {name}")
            if issubclass(cls, RestartCommand):
                runs_commands.add(name)
    unknown = set(settings.REMEDIATION_COMMANDS) - runs_commands
    if unknown:
        raise ImproperlyConfigured(
            f"REMEDIATION_COMMANDS names {', '.join(sorted(unknown))}; commands exist only for "
            f"{', '.join(sorted(runs_commands))}."
        )
