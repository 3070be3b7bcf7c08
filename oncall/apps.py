from django.apps import AppConfig


class OncallConfig(AppConfig):
    name = "oncall"
    verbose_name = "On-call"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        from incidents.services import (
            incident_opened,
            incident_reassigned,
            incident_status_changed,
            incidents_opened,
            page_requested,
        )
        from oncall import receivers

        incident_opened.connect(receivers.on_incident_opened, dispatch_uid="oncall.opened")
        incidents_opened.connect(receivers.on_incidents_opened, dispatch_uid="oncall.opened-many")
        incident_status_changed.connect(receivers.on_status_changed, dispatch_uid="oncall.status")
        page_requested.connect(receivers.on_page_requested, dispatch_uid="oncall.page")
        incident_reassigned.connect(receivers.on_reassigned, dispatch_uid="oncall.reassigned")
        user_logged_in.connect(receivers.on_logged_in, dispatch_uid="oncall.logged_in")
