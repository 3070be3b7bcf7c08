"""Incident and event endpoints. Each handler validates, calls one service, and answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.db.models import Prefetch
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from incidents import analytics, intake, services
from incidents.api.filters import EventFilterSet, IncidentFilterSet
from incidents.api.pagination import EventPagination
from incidents.api.serializers import (
    EARLIEST,
    EventSerializer,
    IncidentCreateSerializer,
    IncidentDetailSerializer,
    IncidentSerializer,
    IncidentUpdateSerializer,
    NoteSerializer,
    SnoozeSerializer,
    StatusSerializer,
)
from incidents.auth import CanIngest
from incidents.models import Event, Incident, Note, TimelineEntry
from incidents.throttles import IngestThrottle

DEFAULT_WINDOW = timedelta(days=30)
LATEST_WINDOW_END = datetime(3000, 1, 1, tzinfo=UTC)


class IncidentViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    """Incidents, newest first. Manual create, PATCH edits, status moves, notes and analytics."""

    queryset = Incident.objects.select_related("assigned_to")
    serializer_class = IncidentSerializer
    lookup_value_regex = r"\d+"
    filterset_class = IncidentFilterSet
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action == "retrieve":
            queryset = queryset.prefetch_related(
                "alerts",
                Prefetch("notes", queryset=Note.objects.select_related("author")),
                Prefetch("timeline", queryset=TimelineEntry.objects.order_by("at", "id")),
                Prefetch("children", queryset=Incident.objects.order_by("id")),
            )
        return queryset

    def get_serializer_class(self):
        return IncidentDetailSerializer if self.action == "retrieve" else IncidentSerializer

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "now": timezone.now()}

    def _detail(self, incident: Incident, code=status.HTTP_200_OK) -> Response:
        incident = self.get_queryset().get(pk=incident.pk)
        return Response(IncidentSerializer(incident, context=self.get_serializer_context()).data, status=code)

    @extend_schema(request=IncidentCreateSerializer, responses={201: IncidentSerializer})
    def create(self, request, *args, **kwargs):
        data = IncidentCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        incident = services.create_manual_incident(actor=request.user, **data.validated_data)
        return self._detail(incident, status.HTTP_201_CREATED)

    @extend_schema(request=IncidentUpdateSerializer, responses={200: IncidentSerializer})
    def partial_update(self, request, *args, **kwargs):
        data = IncidentUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        incident = services.do_update_incident(self.get_object(), data.validated_data, actor=request.user)
        return self._detail(incident)

    @extend_schema(request=StatusSerializer, responses={200: IncidentSerializer})
    @action(detail=True, methods=["patch", "post"], url_path="status")
    def set_status(self, request, pk=None):
        data = StatusSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        incident = services.do_change_status(self.get_object(), data.validated_data["status"], actor=request.user)
        return self._detail(incident)

    @extend_schema(request=SnoozeSerializer, responses={200: IncidentSerializer})
    @action(detail=True, methods=["post"])
    def snooze(self, request, pk=None):
        """No escalation or notification for `minutes` (1-1440); pages again then if still unresolved."""
        data = SnoozeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        incident = services.do_snooze(self.get_object(), data.validated_data["minutes"], actor=request.user)
        return self._detail(incident)

    @extend_schema(methods=["post"], request=NoteSerializer, responses={201: NoteSerializer})
    @extend_schema(methods=["get"], responses={200: NoteSerializer(many=True)})
    @action(detail=True, methods=["get", "post"])
    def notes(self, request, pk=None):
        incident = self.get_object()
        if request.method == "GET":
            notes = incident.notes.select_related("author")
            return Response(NoteSerializer(notes, many=True).data)
        data = NoteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        note = services.do_add_note(incident, data.validated_data["text"], author=request.user)
        return Response(NoteSerializer(note).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: IncidentSerializer})
    @action(detail=True, methods=["post"])
    def analyze(self, request, pk=None):
        """Run the analysis again (Claude when configured, else the built-in rules)."""
        incident = self.get_object()
        services.do_request_analysis(incident)
        return self._detail(incident)

    @extend_schema(
        parameters=[
            OpenApiParameter("since", str, description="ISO 8601; default 30 days before `until`"),
            OpenApiParameter("until", str, description="ISO 8601; default now"),
            OpenApiParameter("service_limit", int, description="per-service rows, worst first (default 100, max 1000)"),
            OpenApiParameter("service_offset", int, description="rows to skip (`services_total` has them all)"),
        ],
        responses={200: OpenApiResponse(description="Counts, MTTA/MTTR (mean, median), per-service availability")},
    )
    @action(detail=False, methods=["get"], filterset_class=None, pagination_class=None)
    def analytics(self, request):
        now = timezone.now()
        params = _WindowParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        page = {"limit": data.pop("service_limit"), "offset": data.pop("service_offset")}
        if not params.validated_data:
            return HttpResponse(analytics.current_json(**page), content_type="application/json")
        until = params.validated_data.get("until") or now
        window = analytics.Window(since=params.validated_data.get("since") or until - DEFAULT_WINDOW, until=until)
        if window.since >= window.until:
            raise ValidationError({"since": ["must be before until"]})
        return Response(analytics.analytics(window, now, **page))


class _WindowParams(serializers.Serializer):
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
    service_limit = serializers.IntegerField(
        required=False, default=analytics.SERVICES_PAGE, min_value=1, max_value=analytics.SERVICES_PAGE_MAX
    )
    service_offset = serializers.IntegerField(required=False, default=0, min_value=0, max_value=10_000_000)

    def validate(self, attrs):
        # No incident predates EARLIEST; and a window's arithmetic must stay inside datetime's range.
        for name in ("since", "until"):
            if name in attrs and not EARLIEST <= attrs[name] < LATEST_WINDOW_END:
                raise ValidationError({name: ["Must lie between 2000-01-01 and 3000-01-01."]})
        return attrs


class EventViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """`POST` one event (201, the stored event) or an array of up to 1000 (201 `{"accepted": N}`);
    all-or-nothing. `GET` lists stored events, newest first."""

    queryset = Event.objects.all()
    serializer_class = EventSerializer
    filterset_class = EventFilterSet
    pagination_class = EventPagination
    ingest_permission = "incidents.add_event"
    integration_kinds = {"generic"}

    def get_permissions(self):
        # Posting events is ingestion: integration keys may do it; reading needs the view permission.
        return [CanIngest()] if self.action == "create" else super().get_permissions()

    def get_throttles(self):
        return [IngestThrottle()] if self.action == "create" else super().get_throttles()

    @extend_schema(
        request=EventSerializer,
        responses={
            201: EventSerializer,
            400: OpenApiResponse(description="Every bad field named; nothing stored"),
        },
        description='Also accepts a JSON array of up to 1000 events; then answers `{"accepted": N}`.',
    )
    def create(self, request, *args, **kwargs):
        body = request.data
        intake.check_shape(body)
        rows = intake.build_rows(intake.validate(body), timezone.now())
        ids = intake.store(rows, returning=not isinstance(body, list))  # committed when it returns
        intake.count(rows)
        if ids is None:
            return Response({"accepted": len(rows)}, status=status.HTTP_201_CREATED)
        return Response(intake.render(rows[0], ids[0]), status=status.HTTP_201_CREATED)
