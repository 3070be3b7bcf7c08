"""The people page (`/people/`): who may sign in and in which role. Everyone who reads sees it; admins add
people, change roles, deactivate, reactivate and issue tokens through `/api/v1/users` from the page."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET

from opsassist import people


@login_required
@require_GET
def people_page(request):
    viewer = request.user
    if not (viewer.is_superuser or viewer.has_perm("oncall.view_team")):
        raise PermissionDenied
    everyone = get_user_model().objects.prefetch_related("groups", "teams").order_by("-is_active", "username")
    rows = [{"user": user, "role": people.role_of(user), "teams": sorted(t.name for t in user.teams.all())}
            for user in everyone]  # fmt: skip
    return render(request, "opsassist/people.html", {
        "rows": rows, "roles": people.ROLES, "can_change": viewer.is_superuser, "back": _back(request),
    })  # fmt: skip


def _back(request) -> str:
    """`?next=/oncall/setup/`: where "Back" returns after adding someone (this site's own pages only)."""
    target = request.GET.get("next", "")
    local = target.startswith("/") and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()})
    return target if local else ""
