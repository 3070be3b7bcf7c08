"""API permissions: a logged-in user, plus Django model permissions (view included) on the queryset."""

from rest_framework import permissions


class ModelPermissions(permissions.DjangoModelPermissions):
    """401 without a user; 403 without the model permission the method needs.

    Unlike DRF's default, reading needs the `view` permission too, so a user with no role sees nothing.
    Views without a queryset (health, analytics) only require authentication.
    """

    perms_map = {
        **permissions.DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }

    def has_permission(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return False
        if getattr(request.user, "integration", None) is not None:
            return False  # integration keys only ingest (their endpoints use CanIngest)
        if getattr(view, "queryset", None) is None and not hasattr(view, "get_queryset"):
            return True
        return super().has_permission(request, view)
