from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from monitoring import drills, heartbeats, queries, services
from monitoring.api.serializers import (
    CheckResultSerializer,
    DrillSerializer,
    HeartbeatSerializer,
    HostSerializer,
    MonitorSerializer,
    MonitorWriteSerializer,
)
from monitoring.models import Host, Monitor


class MonitorViewSet(viewsets.ModelViewSet):
    """Health-check monitors, addressed by name."""

    queryset = Monitor.objects.all()
    serializer_class = MonitorSerializer
    lookup_field = "name"
    lookup_value_regex = r"[-a-zA-Z0-9_]+"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    pagination_class = None

    def list(self, request, *args, **kwargs):
        monitors = list(self.filter_queryset(self.get_queryset()))
        context = {
            **self.get_serializer_context(),
            "open_incidents": queries.open_incident_ids(monitors),
            "availability": queries.availability([m.pk for m in monitors]),
        }
        return Response(MonitorSerializer(monitors, many=True, context=context).data)

    @extend_schema(request=MonitorWriteSerializer, responses={201: MonitorSerializer})
    def create(self, request, *args, **kwargs):
        data = MonitorWriteSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        monitor = data.save()
        return Response(MonitorSerializer(monitor).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=MonitorWriteSerializer, responses={200: MonitorSerializer})
    def partial_update(self, request, *args, **kwargs):
        data = MonitorWriteSerializer(self.get_object(), data=request.data, partial=True, context={"request": request})
        data.is_valid(raise_exception=True)
        return Response(MonitorSerializer(data.save()).data)

    @extend_schema(request=None, responses={200: CheckResultSerializer})
    @action(detail=True, methods=["post"])
    def check(self, request, name=None):
        result = services.do_run_check(self.get_object())
        return Response({"monitor": name, **CheckResultSerializer(result).data})

    @extend_schema(responses={200: CheckResultSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def results(self, request, name=None):
        results = self.get_object().results.all()[:500]
        return Response(CheckResultSerializer(results, many=True).data)

    @extend_schema(request=DrillSerializer, responses={200: dict})
    @action(detail=True, methods=["post"])
    def simulate(self, request, name=None):
        data = DrillSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(drills.do_start_drill(self.get_object(), data.validated_data["failure"]))

    @extend_schema(request=None, responses={200: dict})
    @action(detail=True, methods=["post"], url_path="simulate/clear")
    def simulate_clear(self, request, name=None):
        return Response(drills.do_clear_drill(self.get_object()))


class HeartbeatView(APIView):
    """`POST /api/v1/heartbeats` from host agents."""

    queryset = Host.objects.all()  # permissions: monitoring.add_host

    @extend_schema(request=HeartbeatSerializer, responses={200: dict})
    def post(self, request):
        data = HeartbeatSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = heartbeats.do_heartbeat(
            data.validated_data["host"], data.validated_data["components"], data.validated_data.get("metrics")
        )
        return Response(result)


class HostViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = Host.objects.all()
    serializer_class = HostSerializer
    lookup_field = "name"
    lookup_value_regex = r"[^/]+"
