"""Pages show times in the viewer's zone (their profile's, else UTC), always with the zone named.

The API keeps answering in UTC whoever asks: only page requests switch the current time zone."""

from __future__ import annotations

import zoneinfo

from django.utils import timezone

from oncall.models import UserProfile


def viewer_time_zone(user) -> str:
    """The zone chosen in the user's profile, "" when none is chosen yet."""
    if not getattr(user, "is_authenticated", False):
        return ""
    return UserProfile.objects.filter(user=user).values_list("time_zone", flat=True).first() or ""


class ViewerTimeZoneMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/api/"):
            return self.get_response(request)
        chosen = viewer_time_zone(getattr(request, "user", None))
        request.viewer_time_zone_chosen = bool(chosen)
        try:
            timezone.activate(zoneinfo.ZoneInfo(chosen or "UTC"))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            timezone.activate(zoneinfo.ZoneInfo("UTC"))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
