from django.apps import AppConfig
from django.db.models.signals import post_migrate


class OpsAssistConfig(AppConfig):
    name = "opsassist"
    verbose_name = "OpsAssist"

    def ready(self):
        from opsassist import checks  # noqa: F401 - registers the deployment checks
        from opsassist.roles import ensure_roles

        # Sent once per app; the last call sees every app's permissions. Cheap and idempotent.
        post_migrate.connect(ensure_roles, dispatch_uid="opsassist.ensure_roles")
