"""Project-level API views: who am I, my token, and people (`/api/v1/users`)."""

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema, extend_schema_view, inline_serializer
from rest_framework import mixins, permissions, serializers, viewsets
from rest_framework.decorators import action, api_view
from rest_framework.response import Response

from opsassist import people
from opsassist.serializers import (
    NewPersonSerializer,
    PasswordLinkSerializer,
    PersonChangeSerializer,
    PersonCreateSerializer,
    PersonSerializer,
    TokenSerializer,
)


@extend_schema(
    responses=inline_serializer(
        "Me",
        {
            "username": serializers.CharField(),
            "email": serializers.CharField(),
            "is_staff": serializers.BooleanField(),
            "role": serializers.ChoiceField(choices=people.ROLES),
            "groups": serializers.ListField(child=serializers.CharField()),
            "permissions": serializers.ListField(child=serializers.CharField()),
        },
    )
)
@api_view(["GET"])
def me(request):
    """The authenticated user: who the token belongs to and what it may do."""
    user = request.user
    return Response(
        {
            "username": user.username,
            "email": user.email,
            "is_staff": user.is_staff,
            "role": people.role_of(user),
            "groups": sorted(user.groups.values_list("name", flat=True)),
            "permissions": sorted(user.get_all_permissions()),
        }
    )


@extend_schema(request=None, responses=TokenSerializer)
@api_view(["POST"])
def my_token(request):
    """A new API token for the caller; their previous one stops working. The key is shown only now."""
    user = request.user
    return Response({"username": user.username, "token": people.do_issue_token(user)}, status=201)


class IsAdminToChange(permissions.BasePermission):
    """Everyone who reads on-call data reads people (teams list them); only admins change them."""

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated) or getattr(user, "integration", None) is not None:
            return False
        if request.method in permissions.SAFE_METHODS:
            return user.is_superuser or user.has_perm("oncall.view_team")
        return user.is_superuser


@extend_schema_view(
    list=extend_schema(summary="People, by username"),
    create=extend_schema(request=PersonCreateSerializer, responses={201: NewPersonSerializer}),
    partial_update=extend_schema(request=PersonChangeSerializer, responses=PersonSerializer),
    destroy=extend_schema(summary="Deactivate (people are never deleted: incidents name them)",
                          responses={204: None, 409: dict}),
)  # fmt: skip
class PersonViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """`/api/v1/users`: everyone who reads may list people; admins add, change, deactivate and issue tokens."""

    queryset = (
        get_user_model().objects.select_related("profile").prefetch_related("groups", "teams").order_by("username")
    )
    serializer_class = PersonSerializer
    permission_classes = [IsAdminToChange]
    lookup_field = "username"
    lookup_value_regex = r"[\w.@+-]+"

    def create(self, request):
        data = _valid(PersonCreateSerializer, request.data)
        user, link, emailed = people.do_create(**data)
        shown = PersonSerializer(self.get_queryset().get(pk=user.pk)).data
        return Response({**shown, "set_password_url": link, "emailed": emailed}, status=201)

    def partial_update(self, request, username=None):
        user = people.do_change(self.get_object(), **_valid(PersonChangeSerializer, request.data))
        return Response(PersonSerializer(self.get_queryset().get(pk=user.pk)).data)

    def destroy(self, request, username=None):
        people.do_deactivate(self.get_object())
        return Response(status=204)

    @extend_schema(request=None, responses={201: TokenSerializer})
    @action(detail=True, methods=["post"])
    def token(self, request, username=None):
        user = self.get_object()
        return Response({"username": user.username, "token": people.do_issue_token(user)}, status=201)

    @extend_schema(request=None, responses={201: PasswordLinkSerializer})
    @action(detail=True, methods=["post"], url_path="password-link")
    def password_link(self, request, username=None):
        """A fresh one-time set-password link (the first expired or got lost); shown only now."""
        user = self.get_object()
        return Response({"username": user.username, "set_password_url": people.do_password_link(user)}, status=201)


def _valid(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)
