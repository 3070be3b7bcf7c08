from django.urls import re_path

from incidents.api import integrations, views
from opsassist.lib.routers import OptionalSlashRouter

app_name = "incidents-api"

router = OptionalSlashRouter()
router.register("incidents", views.IncidentViewSet, basename="incident")
router.register("events", views.EventViewSet, basename="event")
router.register("integrations", integrations.IntegrationViewSet, basename="integration")

urlpatterns = [
    re_path(r"^integrations/alertmanager/?$", integrations.AlertmanagerWebhookView.as_view(), name="alertmanager"),
    re_path(r"^integrations/pagerduty/?$", integrations.PagerDutyEventsView.as_view(), name="pagerduty"),
    re_path(r"^alerts/?$", integrations.GenericAlertView.as_view(), name="alerts"),
    *router.urls,
]
