"""Integration keys: `Authorization: Bearer <key>` (or PagerDuty's `routing_key`) for ingestion only."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from rest_framework import authentication, exceptions, permissions

from incidents.models import Integration

LAST_USED_EVERY = timedelta(seconds=60)


class IntegrationPrincipal:
    """Stands in for request.user when an integration key authenticated: it holds no permission."""

    is_authenticated = True
    is_active = True
    is_staff = is_superuser = False
    is_anonymous = False

    def __init__(self, integration: Integration):
        self.integration = integration
        self.username = f"integration:{integration.name}"
        self.pk = None

    def has_perm(self, perm, obj=None) -> bool:
        return False

    def has_perms(self, perms, obj=None) -> bool:
        return False

    def get_all_permissions(self, obj=None):
        return set()

    def __str__(self) -> str:
        return self.username


def integration_for_key(key: str) -> Integration | None:
    integration = Integration.objects.filter(key_hash=Integration.hash_key(key), enabled=True).first()
    now = timezone.now()
    # At most once a minute: every request of a busy sender writing the same row serialized them on its lock.
    if integration is not None and (
        integration.last_used_at is None or now - integration.last_used_at > LAST_USED_EVERY
    ):
        Integration.objects.filter(pk=integration.pk).update(last_used_at=now)
    return integration


class IntegrationKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != b"bearer":
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Invalid Bearer header: give exactly one key.")
        integration = integration_for_key(header[1].decode("latin-1"))
        if integration is None:
            raise exceptions.AuthenticationFailed("Unknown or disabled integration key.")
        return IntegrationPrincipal(integration), integration

    def authenticate_header(self, request):
        return "Token"


def integration_of(request) -> Integration | None:
    return request.auth if isinstance(request.auth, Integration) else None


class CanIngest(permissions.BasePermission):
    """An integration key, or a user who may add the view's model (events, alerts)."""

    def has_permission(self, request, view):
        if integration_of(request) is not None:
            kinds = getattr(view, "integration_kinds", None)
            return kinds is None or request.auth.kind in kinds
        user = request.user
        if not (user and user.is_authenticated):
            return False
        return user.has_perm(view.ingest_permission)
