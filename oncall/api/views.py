from __future__ import annotations

from collections.abc import Sequence

from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, permissions, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.views import APIView

from oncall import services, testpage
from oncall.api.serializers import (
    ChannelSerializer,
    ContactMethodSerializer,
    EscalationPolicySerializer,
    NotificationRuleSerializer,
    NotificationSerializer,
    OverrideSerializer,
    OwnContactMethodSerializer,
    ScheduleSerializer,
    ShiftSerializer,
    TeamSerializer,
)
from oncall.calendar import schedule_calendar
from oncall.models import (
    Channel,
    ContactMethod,
    EscalationPolicy,
    Notification,
    NotificationRule,
    Override,
    Schedule,
    Team,
)
from oncall.schedule import next_shifts


class CurrentOnCallView(APIView):
    """`GET /api/v1/oncall/current?team=<team>`: who is on call now; 404 when nobody is."""

    queryset = Team.objects.all()

    @extend_schema(parameters=[OpenApiParameter("team", str, required=True)], responses={200: dict, 404: dict})
    def get(self, request):
        name = request.query_params.get("team")
        if not name:
            raise ValidationError({"team": ["This query parameter is required."]})
        team = Team.objects.filter(name=name).first() or services.team_for_service(name)
        found = services.on_call_for_team(team) if team else None
        if found is None:
            raise NotFound(f"Nobody is on call for '{name}'.")
        shift, schedule = found
        return Response({
            "team": team.name,
            "user": {"username": shift.user.username, "email": shift.user.email},
            "shift_start": shift.start, "shift_end": shift.end, "schedule": schedule.name, "source": shift.source,
        })  # fmt: skip


class TeamViewSet(viewsets.ModelViewSet):
    queryset = Team.objects.prefetch_related("members", "services")
    serializer_class = TeamSerializer
    lookup_field = "name"
    lookup_value_regex = r"[-a-zA-Z0-9_]+"
    pagination_class = None


class _CountParams(serializers.Serializer):
    count = serializers.IntegerField(min_value=1, max_value=100, default=10)


class ScheduleViewSet(viewsets.ModelViewSet):
    queryset = Schedule.objects.select_related("team").prefetch_related("layers__members__user")
    serializer_class = ScheduleSerializer
    lookup_value_regex = r"\d+"
    pagination_class = None

    @extend_schema(parameters=[_CountParams], responses={200: ShiftSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def shifts(self, request, pk=None):
        params = _CountParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        count = params.validated_data["count"]
        return Response(ShiftSerializer(next_shifts(self.get_object(), timezone.now(), count), many=True).data)

    @extend_schema(responses={(200, "text/calendar"): serializers.CharField()})
    @action(detail=True, methods=["get"])
    def ical(self, request, pk=None):
        schedule = self.get_object()
        body = schedule_calendar(schedule, timezone.now())
        response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="oncall-{schedule.pk}.ics"'
        return response


class OverrideViewSet(viewsets.ModelViewSet):
    queryset = Override.objects.select_related("user")
    serializer_class = OverrideSerializer
    lookup_value_regex = r"\d+"
    filterset_fields = ["schedule"]


class EscalationPolicyViewSet(viewsets.ModelViewSet):
    queryset = EscalationPolicy.objects.select_related("team").prefetch_related("steps__user")
    serializer_class = EscalationPolicySerializer
    lookup_value_regex = r"\d+"
    pagination_class = None


class ChannelViewSet(viewsets.ModelViewSet):
    queryset = Channel.objects.select_related("team")
    serializer_class = ChannelSerializer
    lookup_value_regex = r"\d+"
    pagination_class = None


class ContactMethodViewSet(viewsets.ModelViewSet):
    queryset = ContactMethod.objects.select_related("user")
    serializer_class = ContactMethodSerializer
    lookup_value_regex = r"\d+"
    pagination_class = None


class IsTeamMember(permissions.BasePermission):
    """A logged-in person who may view incidents (not an integration key or a host agent)."""

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated) or getattr(user, "integration", None) is not None:
            return False
        return user.has_perm("incidents.view_incident")


class OwnRowsMixin:
    """Each person sees and changes their own rows; admins everyone's (`?user=<username>` filters)."""

    permission_classes: Sequence[
        type[permissions.BasePermission] | permissions.OperandHolder | permissions.SingleOperandHolder
    ] = [IsTeamMember]
    lookup_value_regex = r"\d+"
    pagination_class: type[BasePagination] | None = None

    def get_queryset(self):
        queryset = super().get_queryset()
        user = self.request.user
        if not user.is_superuser:
            return queryset.filter(user=user)
        wanted = self.request.query_params.get("user")
        return queryset.filter(user__username=wanted) if wanted else queryset


class OwnContactMethodViewSet(OwnRowsMixin, viewsets.ModelViewSet):
    """`/api/v1/oncall/contact-methods`: how I am paged (ntfy, Pushover, SMS, email, ...)."""

    queryset = ContactMethod.objects.select_related("user")
    serializer_class = OwnContactMethodSerializer

    @extend_schema(request=None, responses={200: NotificationSerializer, 400: dict, 403: dict, 429: dict})
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        """Send a real test page through this contact method now: 200 with its delivery log row, whose
        `status` says how it went (`sent`, `failed` with the error class, `skipped`). Responders test their
        own methods, admins anyone's; one test per method per 10 seconds (429)."""
        if not request.user.has_perm("incidents.change_incident"):
            raise PermissionDenied("Only responders and admins send test pages.")
        notification = testpage.do_send_test(self.get_object(), request.user.username)
        return Response(NotificationSerializer(notification).data)


class NotificationRuleViewSet(OwnRowsMixin, viewsets.ModelViewSet):
    """`/api/v1/oncall/notification-rules`: when each of my contact methods is used after I am paged."""

    queryset = NotificationRule.objects.select_related("user", "contact")
    serializer_class = NotificationRuleSerializer

    def perform_create(self, serializer):
        self._save(serializer)

    def perform_update(self, serializer):
        self._save(serializer)

    def _save(self, serializer):
        """A concurrent identical rule loses on the constraint: 400, like the check before it."""
        try:
            with transaction.atomic():
                serializer.save()
        except IntegrityError:
            raise ValidationError(
                {"delay_minutes": ["This contact method already has a rule at this delay."]}
            ) from None


class NotificationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The delivery log: every notification and its outcome."""

    queryset = Notification.objects.all()
    serializer_class = NotificationSerializer
    filterset_fields = ["incident", "status", "kind", "event"]
