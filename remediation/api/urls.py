from django.urls import re_path

from opsassist.lib.routers import OptionalSlashRouter
from remediation.api import views

app_name = "remediation-api"

router = OptionalSlashRouter()
router.register("remediations", views.RemediationRunViewSet, basename="remediation")

urlpatterns = [
    re_path(r"^incidents/(?P<incident_id>\d+)/remediations/?$", views.IncidentRemediationsView.as_view(),
            name="incident-remediations"),
    *router.urls,
]  # fmt: skip
