from django.apps import AppConfig


class RemediationConfig(AppConfig):
    name = "remediation"

    def ready(self):
        from incidents.services import analysis_requested, incident_opened
        from remediation import receivers

        incident_opened.connect(receivers.on_incident_opened, dispatch_uid="remediation.opened")
        analysis_requested.connect(receivers.on_analysis_requested, dispatch_uid="remediation.analyze")
