"""Small project-level API views."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.response import Response


@extend_schema(
    responses=inline_serializer(
        "Me",
        {
            "username": serializers.CharField(),
            "email": serializers.CharField(),
            "is_staff": serializers.BooleanField(),
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
            "groups": sorted(user.groups.values_list("name", flat=True)),
            "permissions": sorted(user.get_all_permissions()),
        }
    )
