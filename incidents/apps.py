from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "incidents"

    def ready(self):
        from incidents import consumers

        consumers.connect_signals()  # revoking a credential closes the live connections using it
