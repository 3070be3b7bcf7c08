from django.urls import path

from monitoring import views as monitoring_views
from opsassist import pages, people_pages, views
from remediation import views as remediation_views

urlpatterns = [
    path("", pages.dashboard, name="dashboard"),
    path("dashboard/live", pages.dashboard_live, name="dashboard-live"),
    path("incidents/", pages.incident_list, name="incident-list"),
    path("incidents/<int:pk>/", pages.incident_detail, name="incident-detail"),
    path("incidents/<int:pk>/postmortem", remediation_views.postmortem, name="incident-postmortem"),
    path("monitors/", pages.monitors, name="monitors"),
    path("maintenance/", pages.maintenance, name="maintenance"),
    path("maintenance/<int:pk>/delete", pages.maintenance_delete, name="maintenance-delete"),
    path("monitors/<slug:name>/", monitoring_views.monitor_detail, name="monitor-detail"),
    path("settings/", views.settings_page, name="settings"),
    path("people/", people_pages.people_page, name="people"),
]
