from django.urls import include, path

from opsassist import pages, views

urlpatterns = [
    path("", pages.dashboard, name="dashboard"),
    path("incidents/", pages.incident_list, name="incident-list"),
    path("incidents/<int:pk>/", pages.incident_detail, name="incident-detail"),
    path("monitors/", pages.monitors, name="monitors"),
    path("", include("oncall.urls")),
    path("settings/", views.settings_page, name="settings"),
]
