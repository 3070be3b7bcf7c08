from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from monitoring import pings
from opsassist import accounts, api, metrics, views
from opsassist.lib.routers import OptionalSlashRouter

people_router = OptionalSlashRouter()
people_router.register("users", api.PersonViewSet, basename="user")

api_v1: list[URLPattern | URLResolver] = [
    re_path(r"^me/?$", api.me, name="me"),
    re_path(r"^me/token/?$", api.my_token, name="me-token"),
    *people_router.urls,
    path("", include("incidents.api.urls")),
    path("", include("monitoring.api.urls")),
    path("", include("oncall.api.urls")),
    path("", include("remediation.api.urls")),
]

urlpatterns = [
    path("health", views.health, name="health"),
    path("health/ready", views.ready, name="health-ready"),
    path("health/live", views.live, name="health-live"),
    path("metrics", metrics.metrics, name="prometheus-metrics"),
    path("api/schema", SpectacularAPIView.as_view(), name="schema"),
    # Split: the start-up script is served by the view itself, not inline, so /docs works under the CSP.
    path("docs", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="docs"),
    path("api/v1/", include((api_v1, "api"))),
    path("integrations/v1/", include("oncall.inbound")),  # Grafana OnCall compatible alert URLs
    # Check-in pings: the token in the path is the only credential (no login, no CSRF).
    re_path(r"^ping/(?P<token>[A-Za-z0-9_-]{20,64})/?$", pings.ping, name="checkin-ping"),
    re_path(r"^ping/(?P<token>[A-Za-z0-9_-]{20,64})/(?P<kind>start|fail)/?$", pings.ping, name="checkin-ping-kind"),
    path("admin/", admin.site.urls),
    # Reset mails link to OPSASSIST_URL, never to the Host the request named.
    path("accounts/password_reset/", accounts.PasswordResetView.as_view(), name="password_reset"),
    path(
        "accounts/reset/<uidb64>/<token>/", accounts.PasswordResetConfirmView.as_view(), name="password_reset_confirm"
    ),
    path("accounts/", include("django.contrib.auth.urls")),
    # Action links in notifications and Slack's button clicks: no login session, their own proof.
    path("", include("oncall.urls")),
    path("", include("opsassist.page_urls")),
]

# Errors on API paths answer JSON like the API itself; pages keep Django's HTML.
handler400 = "opsassist.lib.exceptions.bad_request"
handler403 = "opsassist.lib.exceptions.permission_denied"
handler404 = "opsassist.lib.exceptions.page_not_found"
handler500 = "opsassist.lib.exceptions.server_error"
