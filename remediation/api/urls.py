from django.urls import re_path

from opsassist.lib.routers import OptionalSlashRouter
from remediation.api import views

app_name = "remediation-api"

router = OptionalSlashRouter()
router.register("remediations", views.RemediationRunViewSet, basename="remediation")
router.register("remediation/policies", views.ActionPolicyViewSet, basename="remediation-policy")

urlpatterns = [
    re_path(r"^incidents/(?P<incident_id>\d+)/remediations/?$", views.IncidentRemediationsView.as_view(),
            name="incident-remediations"),
    re_path(r"^incidents/(?P<incident_id>\d+)/postmortem/?$", views.IncidentPostmortemView.as_view(),
            name="incident-postmortem"),
    re_path(r"^remediation/actions/?$", views.ActionCatalogView.as_view(), name="remediation-actions"),
    *router.urls,
]  # fmt: skip
