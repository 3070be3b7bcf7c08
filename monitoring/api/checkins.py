"""Check-ins: `POST /api/v1/checkins` → 201 with the secret `ping_url`; list, read, delete by name;
`POST /api/v1/checkins/{name}/rotate` → a new `ping_url` (the old one stops working).

The ping URL is the credential that resolves and opens the check-in's incidents: only callers who may
change check-ins see it; anyone else gets it with the token masked."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from monitoring import checkins
from monitoring.models import MAX_CHECKIN_SECONDS, CheckIn
from opsassist.lib.kindconfig import MASK
from opsassist.lib.publicurl import absolute_url

# Who may see (and so use) a ping URL: whoever may create check-ins.
SEE_PING_URL = "monitoring.add_checkin"


class CheckInSerializer(serializers.ModelSerializer):
    name = serializers.SlugField(max_length=100)
    period_seconds = serializers.IntegerField(min_value=60, max_value=MAX_CHECKIN_SECONDS)
    grace_seconds = serializers.IntegerField(min_value=0, max_value=MAX_CHECKIN_SECONDS)
    service = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    ping_url = serializers.SerializerMethodField(
        help_text=f"GET or POST it; add /start or /fail. Shown as /ping/{MASK} to callers who may not change check-ins"
    )

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
        request = self.context.get("request")
        if request is None or not request.user.has_perm(SEE_PING_URL):
            return absolute_url(f"/ping/{MASK}")
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

    @extend_schema(request=None, responses={200: CheckInSerializer})
    @action(detail=True, methods=["post"])
    def rotate(self, request, name=None):
        """A new secret ping URL; the old one answers 404 from now on. Jobs must be given the new one."""
        checkin = checkins.do_rotate(self.get_object())
        return Response(self.get_serializer(checkin).data)
