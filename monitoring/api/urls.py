from django.urls import re_path

from monitoring.api import checkins, views
from opsassist.lib.routers import OptionalSlashRouter

app_name = "monitoring-api"

router = OptionalSlashRouter()
router.register("monitors", views.MonitorViewSet, basename="monitor")
router.register("hosts", views.HostViewSet, basename="host")
router.register("checkins", checkins.CheckInViewSet, basename="checkin")

urlpatterns = [re_path(r"^heartbeats/?$", views.HeartbeatView.as_view(), name="heartbeats"), *router.urls]
