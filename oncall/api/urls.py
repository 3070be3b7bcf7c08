from django.urls import re_path

from oncall.api import views
from oncall.api.calendars import CalendarSourceViewSet
from opsassist.lib.routers import OptionalSlashRouter

app_name = "oncall-api"

router = OptionalSlashRouter()
router.register("oncall/teams", views.TeamViewSet, basename="team")
router.register("oncall/schedules", views.ScheduleViewSet, basename="schedule")
router.register("oncall/calendars", CalendarSourceViewSet, basename="calendar")
router.register("oncall/overrides", views.OverrideViewSet, basename="override")
router.register("oncall/policies", views.EscalationPolicyViewSet, basename="policy")
router.register("oncall/channels", views.ChannelViewSet, basename="channel")
router.register("oncall/contacts", views.ContactMethodViewSet, basename="contact")
router.register("oncall/contact-methods", views.OwnContactMethodViewSet, basename="contact-method")
router.register("oncall/notification-rules", views.NotificationRuleViewSet, basename="notification-rule")
router.register("notifications", views.NotificationViewSet, basename="notification")

urlpatterns = [re_path(r"^oncall/current/?$", views.CurrentOnCallView.as_view(), name="current"), *router.urls]
