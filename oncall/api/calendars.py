"""`/api/v1/oncall/calendars`: schedules fed by an iCal URL or an uploaded .ics file."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import parsers, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from oncall.calendar_models import CalendarSource
from oncall.calendars import do_add_calendar, do_refresh_source
from oncall.models import Schedule
from opsassist.lib.nul import JSONParser


class CalendarSourceSerializer(serializers.ModelSerializer):
    """Give `url` (https://, http:// or webcal://; fetched now and every CALENDAR_REFRESH_MINUTES) or a
    calendar: `file` (multipart upload) or `ics` (its text). The URL may carry a secret (private
    calendar addresses do), so only its host is shown."""

    schedule = serializers.PrimaryKeyRelatedField(queryset=Schedule.objects.all())
    url = serializers.CharField(write_only=True, required=False, allow_blank=True, max_length=2000)
    file = serializers.FileField(write_only=True, required=False)
    ics = serializers.CharField(write_only=True, required=False, allow_blank=True, trim_whitespace=False)
    url_host = serializers.SerializerMethodField()
    shifts = serializers.IntegerField(source="shifts.count", read_only=True)

    class Meta:
        model = CalendarSource
        fields = ["id", "schedule", "role", "url", "file", "ics", "url_host", "fetched_at", "expanded_at",
                  "last_error", "unmatched", "shifts"]  # fmt: skip
        read_only_fields = ["fetched_at", "expanded_at", "last_error", "unmatched"]

    def get_url_host(self, source: CalendarSource) -> str:
        return urlsplit(source.url).hostname or "" if source.url else ""

    def validate_file(self, upload) -> str:
        if upload.size > settings.CALENDAR_MAX_BYTES:
            raise serializers.ValidationError(f"The calendar is larger than {settings.CALENDAR_MAX_BYTES} bytes.")
        return upload.read().decode("utf-8", errors="replace")

    def create(self, validated_data):
        ics = validated_data.get("file") or validated_data.get("ics") or ""
        return do_add_calendar(validated_data["schedule"], role=validated_data.get("role", "primary"),
                               url=validated_data.get("url", ""), ics=ics)  # fmt: skip


class CalendarSourceViewSet(viewsets.ModelViewSet):
    queryset = CalendarSource.objects.select_related("schedule").order_by("id")
    serializer_class = CalendarSourceSerializer
    parser_classes = [JSONParser, parsers.MultiPartParser]
    http_method_names = ["get", "post", "delete", "head", "options"]
    pagination_class = None

    @extend_schema(request=None, responses={200: CalendarSourceSerializer})
    @action(detail=True, methods=["post"])
    def refresh(self, request, pk=None):
        """Fetch the URL again now and expand the calendar; `last_error` says what failed."""
        source = self.get_object()
        do_refresh_source(source.pk)
        source.refresh_from_db()
        return Response(CalendarSourceSerializer(source).data, status=status.HTTP_200_OK)
