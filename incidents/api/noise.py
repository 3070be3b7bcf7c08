"""Maintenance windows and silences: schedule, list, delete. Held incidents page when they end
(the release task), so deleting one is how to end it early."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

from incidents import noise
from incidents.models import MaintenanceWindow, Silence


class MaintenanceWindowSerializer(serializers.ModelSerializer):
    # Shapes only; the bounds (ends after starts, at most NOISE_MAX_DAYS, services) are noise.check_*.
    services = serializers.ListField(child=serializers.CharField(max_length=255), max_length=noise.MAX_SERVICES)
    comment = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")
    active = serializers.SerializerMethodField()

    class Meta:
        model = MaintenanceWindow
        fields = ["id", "starts_at", "ends_at", "services", "comment", "created_by", "created_at", "active"]
        read_only_fields = ["id", "created_by", "created_at", "active"]

    def get_active(self, window: MaintenanceWindow) -> bool:
        return window.starts_at <= self.context["now"] < window.ends_at


class SilenceSerializer(serializers.ModelSerializer):
    matchers = serializers.JSONField()
    starts_at = serializers.DateTimeField(required=False)
    comment = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")
    active = serializers.SerializerMethodField()

    class Meta:
        model = Silence
        fields = ["id", "matchers", "starts_at", "ends_at", "comment", "created_by", "created_at", "active"]
        read_only_fields = ["id", "created_by", "created_at", "active"]

    def get_active(self, silence: Silence) -> bool:
        return silence.starts_at <= self.context["now"] < silence.ends_at


class _NoiseViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin,
                    viewsets.GenericViewSet):  # fmt: skip
    lookup_value_regex = r"\d+"
    http_method_names = ["get", "post", "delete", "head", "options"]

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "now": timezone.now()}

    def _created(self, row) -> Response:
        return Response(self.get_serializer(row).data, status=status.HTTP_201_CREATED)


class MaintenanceWindowViewSet(_NoiseViewSet):
    """Maintenance windows, latest start first: the services' new incidents are recorded, not paged."""

    queryset = MaintenanceWindow.objects.all()
    serializer_class = MaintenanceWindowSerializer

    @extend_schema(request=MaintenanceWindowSerializer, responses={201: MaintenanceWindowSerializer})
    def create(self, request, *args, **kwargs):
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        window = noise.do_create_window(
            starts_at=fields["starts_at"], ends_at=fields["ends_at"], services=fields["services"],
            comment=fields["comment"], actor=request.user, now=timezone.now(),
        )  # fmt: skip
        return self._created(window)


class SilenceViewSet(_NoiseViewSet):
    """Silences, newest first: matching new incidents are recorded with `silenced`, not paged."""

    queryset = Silence.objects.all()
    serializer_class = SilenceSerializer

    @extend_schema(request=SilenceSerializer, responses={201: SilenceSerializer})
    def create(self, request, *args, **kwargs):
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        silence = noise.do_create_silence(
            matchers=fields["matchers"], starts_at=fields.get("starts_at"), ends_at=fields["ends_at"],
            comment=fields["comment"], actor=request.user, now=timezone.now(),
        )  # fmt: skip
        return self._created(silence)
