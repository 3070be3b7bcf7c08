from django.urls import path

from oncall import views

urlpatterns = [
    path("a/<str:token>/", views.action_link, name="action-link"),
    path("integrations/slack/interactive", views.slack_interactive, name="slack-interactive"),
]
