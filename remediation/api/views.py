from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response
from rest_framework.views import APIView

from incidents.models import Incident
from monitoring.models import Monitor
from opsassist.lib.permissions import ModelPermissions
from remediation import postmortem, services
from remediation.api.serializers import (
    ActionCatalogRowSerializer,
    ActionPolicySerializer,
    PostmortemInputSerializer,
    PostmortemSerializer,
    RejectSerializer,
    RemediationRunSerializer,
)
from remediation.models import ActionPolicy, RemediationRun


class ApprovePermission(permissions.BasePermission):
    message = "You need the remediation.approve_remediationrun permission."

    def has_permission(self, request, view):
        return request.user.has_perm("remediation.approve_remediationrun")


class PolicyPermissions(ModelPermissions):
    """Everyone who may view reads policies; writing needs `remediation.manage_actionpolicy` (admins)."""

    perms_map = {
        **ModelPermissions.perms_map,
        **{method: ["remediation.manage_actionpolicy"] for method in ("POST", "PUT", "PATCH", "DELETE")},
    }


def _runs():
    return RemediationRun.objects.select_related("decided_by", "monitor", "proposed_by_user")


class IncidentRemediationsView(APIView):
    """`POST /api/v1/incidents/{id}/remediations`: propose one allowed action from the incident's stored
    analysis (201); without one yet, the analysis is queued and the run answered at once with an empty
    action (202). `GET` lists the incident's runs."""

    queryset = RemediationRun.objects.all()

    @extend_schema(request=None, responses={201: RemediationRunSerializer, 202: RemediationRunSerializer})
    def post(self, request, incident_id):
        incident = get_object_or_404(Incident, pk=incident_id)
        run = services.do_propose(incident, actor=request.user)
        run = _runs().get(pk=run.pk)
        code = status.HTTP_202_ACCEPTED if not run.action else status.HTTP_201_CREATED
        return Response(RemediationRunSerializer(run, context={"request": request}).data, status=code)

    @extend_schema(responses={200: RemediationRunSerializer(many=True)})
    def get(self, request, incident_id):
        runs = _runs().filter(incident_id=incident_id)
        return Response(RemediationRunSerializer(runs, many=True, context={"request": request}).data)


class RemediationRunViewSet(mixins.RetrieveModelMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    queryset = _runs()
    serializer_class = RemediationRunSerializer
    lookup_value_regex = r"\d+"
    filterset_fields = ["incident", "status"]

    def get_permissions(self):
        if self.action in ("approve", "reject"):
            return [permissions.IsAuthenticated(), ApprovePermission()]
        return super().get_permissions()

    @extend_schema(request=None, responses={200: RemediationRunSerializer})
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        run = services.do_approve(self.get_object(), actor=request.user)
        return Response(self.get_serializer(_runs().get(pk=run.pk)).data)

    @extend_schema(request=RejectSerializer, responses={200: RemediationRunSerializer})
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        data = RejectSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = services.do_reject(self.get_object(), actor=request.user, reason=data.validated_data["reason"])
        return Response(self.get_serializer(_runs().get(pk=run.pk)).data)


class ActionPolicyViewSet(viewsets.ModelViewSet):
    """`/api/v1/remediation/policies`: auto-approval and destructive options per monitor and action.
    Readers see them; only admins write them. `?monitor=<name>` filters."""

    queryset = ActionPolicy.objects.select_related("monitor")
    serializer_class = ActionPolicySerializer
    permission_classes = [PolicyPermissions]
    filterset_fields = ["action"]
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        name = self.request.query_params.get("monitor")
        return self.queryset.filter(monitor__name=name) if name else self.queryset

    def perform_destroy(self, instance):
        services.do_delete_policy(instance, actor=self.request.user)


class ActionCatalogView(APIView):
    """`GET /api/v1/remediation/actions`: every monitor's actions, whether each is offered, the command a
    restart runs (operator configuration, read-only) and the admin's policy for it. `?monitor=<name>`."""

    queryset = ActionPolicy.objects.all()

    @extend_schema(
        parameters=[OpenApiParameter("monitor", str)], responses={200: ActionCatalogRowSerializer(many=True)}
    )
    def get(self, request):
        monitors = Monitor.objects.order_by("name")
        if request.query_params.get("monitor"):
            monitors = monitors.filter(name=request.query_params["monitor"])
        return Response(services.action_catalog(list(monitors)))


class IncidentPostmortemView(APIView):
    """`GET /api/v1/incidents/{id}/postmortem`: the saved postmortem, else the draft of a resolved incident
    (`saved` false); 409 while unresolved with none saved. `PUT` `{"markdown", "version"?}` saves it
    (201 the first time, then 200); needs the permission to change incidents."""

    queryset = Incident.objects.all()  # viewers read (view_incident), responders write (change_incident)

    @extend_schema(responses={200: PostmortemSerializer})
    def get(self, request, incident_id):
        incident = get_object_or_404(Incident.objects.select_related("assigned_to"), pk=incident_id)
        data = postmortem.as_data(incident, postmortem.saved(incident), timezone.get_current_timezone())
        return Response(PostmortemSerializer(data).data)

    @extend_schema(request=PostmortemInputSerializer, responses={200: PostmortemSerializer, 201: PostmortemSerializer})
    def put(self, request, incident_id):
        incident = get_object_or_404(Incident, pk=incident_id)
        body = PostmortemInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        _, created = postmortem.do_save_postmortem(
            incident, body.validated_data["markdown"], request.user, body.validated_data.get("version")
        )
        data = postmortem.as_data(incident, postmortem.saved(incident), timezone.get_current_timezone())
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(PostmortemSerializer(data).data, status=code)
