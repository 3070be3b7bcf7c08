from django.urls import re_path

from incidents.api import integrations, noise, views
from opsassist.lib.routers import OptionalSlashRouter

app_name = "incidents-api"

router = OptionalSlashRouter()
router.register("incidents", views.IncidentViewSet, basename="incident")
router.register("events", views.EventViewSet, basename="event")
router.register("integrations", integrations.IntegrationViewSet, basename="integration")
router.register("maintenance", noise.MaintenanceWindowViewSet, basename="maintenance")
router.register("silences", noise.SilenceViewSet, basename="silence")

urlpatterns = [
    re_path(r"^integrations/alertmanager/?$", integrations.AlertmanagerWebhookView.as_view(), name="alertmanager"),
    re_path(r"^integrations/pagerduty/?$", integrations.PagerDutyEventsView.as_view(), name="pagerduty"),
    re_path(r"^alerts/?$", integrations.GenericAlertView.as_view(), name="alerts"),
    *router.urls,
]
