from incidents.api import views
from opsassist.lib.routers import OptionalSlashRouter

app_name = "incidents-api"

router = OptionalSlashRouter()
router.register("incidents", views.IncidentViewSet, basename="incident")
router.register("events", views.EventViewSet, basename="event")

urlpatterns = router.urls
