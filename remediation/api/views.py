from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response
from rest_framework.views import APIView

from incidents.models import Incident
from remediation import services
from remediation.models import RemediationRun


class RemediationRunSerializer(serializers.ModelSerializer):
    decided_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    monitor = serializers.SlugRelatedField(slug_field="name", read_only=True)

    class Meta:
        model = RemediationRun
        fields = ["id", "incident", "monitor", "action", "rationale", "proposed_by", "model", "status", "decided_by",
                  "decided_at", "result", "verification", "error", "created_at", "updated_at"]  # fmt: skip
        read_only_fields = fields


class RejectSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=1000, default="")


class ApprovePermission(permissions.BasePermission):
    message = "You need the remediation.approve_remediationrun permission."

    def has_permission(self, request, view):
        return request.user.has_perm("remediation.approve_remediationrun")


class IncidentRemediationsView(APIView):
    """`POST /api/v1/incidents/{id}/remediations`: analyse and propose one allowed action (201).
    `GET` lists the incident's runs."""

    queryset = RemediationRun.objects.all()

    @extend_schema(request=None, responses={201: RemediationRunSerializer})
    def post(self, request, incident_id):
        incident = get_object_or_404(Incident, pk=incident_id)
        run = services.do_propose(incident, actor=request.user)
        run.refresh_from_db()
        return Response(RemediationRunSerializer(run).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: RemediationRunSerializer(many=True)})
    def get(self, request, incident_id):
        runs = RemediationRun.objects.filter(incident_id=incident_id).select_related("decided_by", "monitor")
        return Response(RemediationRunSerializer(runs, many=True).data)


class RemediationRunViewSet(mixins.RetrieveModelMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    queryset = RemediationRun.objects.select_related("decided_by", "monitor")
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
        run.refresh_from_db()
        return Response(RemediationRunSerializer(run).data)

    @extend_schema(request=RejectSerializer, responses={200: RemediationRunSerializer})
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        data = RejectSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = services.do_reject(self.get_object(), actor=request.user, reason=data.validated_data["reason"])
        return Response(RemediationRunSerializer(run).data)
