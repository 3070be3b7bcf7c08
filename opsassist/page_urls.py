from django.urls import path

from opsassist import pages, views

urlpatterns = [
    path("", pages.dashboard, name="dashboard"),
    path("incidents/", pages.incident_list, name="incident-list"),
    path("incidents/<int:pk>/", pages.incident_detail, name="incident-detail"),
    path("monitors/", pages.monitors, name="monitors"),
    path("oncall/", pages.oncall, name="oncall"),
    path("maintenance/", pages.maintenance, name="maintenance"),
    path("maintenance/<int:pk>/delete", pages.maintenance_delete, name="maintenance-delete"),
    path("settings/", views.settings_page, name="settings"),
]
