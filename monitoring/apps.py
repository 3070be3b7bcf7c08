from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"

    def ready(self):
        from incidents.analytics import EXTRA_SECTIONS
        from monitoring.queries import monitor_availability

        EXTRA_SECTIONS["monitors"] = monitor_availability
