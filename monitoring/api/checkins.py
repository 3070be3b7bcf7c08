"""Check-ins: `POST /api/v1/checkins` → 201 with the secret `ping_url`; list, read, delete by name."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

from monitoring import checkins
from monitoring.models import MAX_CHECKIN_SECONDS, CheckIn
from opsassist.lib.publicurl import absolute_url


class CheckInSerializer(serializers.ModelSerializer):
    name = serializers.SlugField(max_length=100)
    period_seconds = serializers.IntegerField(min_value=60, max_value=MAX_CHECKIN_SECONDS)
    grace_seconds = serializers.IntegerField(min_value=0, max_value=MAX_CHECKIN_SECONDS)
    service = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    ping_url = serializers.SerializerMethodField(help_text="GET or POST it; add /start or /fail")

    class Meta:
        model = CheckIn
        fields = [
            "name", "service", "period_seconds", "grace_seconds", "ping_url", "status", "due_at", "last_ping_at",
            "last_start_at", "last_failure_at", "created_at",
        ]  # fmt: skip
        read_only_fields = ["ping_url", "status", "due_at", "last_ping_at", "last_start_at", "last_failure_at",
                            "created_at"]  # fmt: skip
        # Uniqueness is checked by the service (409-free: 400 naming `name`), not by a DRF validator.
        extra_kwargs: dict[str, dict] = {"name": {"validators": []}}

    def get_ping_url(self, checkin: CheckIn) -> str:
        return absolute_url(checkin.ping_path)


class CheckInViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin,
                     viewsets.GenericViewSet):  # fmt: skip
    """Jobs that must run, addressed by name."""

    queryset = CheckIn.objects.all()
    serializer_class = CheckInSerializer
    lookup_field = "name"
    lookup_value_regex = r"[-a-zA-Z0-9_]+"
    http_method_names = ["get", "post", "delete", "head", "options"]

    @extend_schema(request=CheckInSerializer, responses={201: CheckInSerializer})
    def create(self, request, *args, **kwargs):
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        checkin = checkins.do_create(**data.validated_data)
        return Response(self.get_serializer(checkin).data, status=status.HTTP_201_CREATED)
