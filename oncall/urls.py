from django.urls import path, re_path

from oncall import link_views, views

FEED_PART = r"(?P<token>[A-Za-z0-9_-]{20,64})"

urlpatterns = [
    path("oncall/", views.oncall, name="oncall"),
    path("oncall/setup/", views.setup, name="oncall-setup"),
    path("oncall/schedules/<int:pk>/calendar/rotate", views.rotate_schedule_feed, name="oncall-rotate-feed"),
    path("profile/", views.profile, name="profile"),
    path("oncall/people/<str:username>/", views.person, name="oncall-person"),
    path("profile/time-zone-guess", views.guess_time_zone, name="profile-guess-time-zone"),
    path("profile/calendar/rotate", views.rotate_my_feed, name="profile-rotate-feed"),
    re_path(rf"^calendar/schedules/{FEED_PART}\.ics$", views.schedule_feed, name="oncall-schedule-feed"),
    re_path(rf"^calendar/people/{FEED_PART}\.ics$", views.user_feed, name="oncall-user-feed"),
    path("a/<str:token>/", link_views.action_link, name="action-link"),
    path("integrations/slack/interactive", link_views.slack_interactive, name="slack-interactive"),
]
