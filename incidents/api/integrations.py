"""Alerts in from other tools: Alertmanager webhooks, PagerDuty Events API v2, a generic endpoint;
and the integrations (keys) that send them."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from incidents import alerts, inbox, tasks
from incidents.api.serializers import parse_ingest_time, parse_time
from incidents.auth import CanIngest, integration_for_key, integration_of
from incidents.choices import AlertStatus, normalize_severity
from incidents.models import Alert, Integration
from incidents.throttles import IngestThrottle

DEFAULT_SEVERITY = "high"


MAX_KEY = 255  # Incident.source_key, Alert.fingerprint and Alert.service are varchar(255)
TOO_LONG = f"Ensure this field has no more than {MAX_KEY} characters."


GO_ZERO_TIME = re.compile(r"0001-01-01T00:00:00(\.0+)?(Z|[+-]00:00)")


def _is_zero_time(text: str) -> bool:
    """Go's zero time (0001-01-01T00:00:00Z) exactly, which Alertmanager sends as a firing alert's endsAt."""
    return GO_ZERO_TIME.fullmatch(text) is not None


def incident_key(prefix: str, key: str) -> str:
    """`prefix:key` as an incident's source_key; a key too long for the column is kept by its hash."""
    full = f"{prefix}:{key}"
    return full if len(full) <= MAX_KEY else f"{prefix}:sha256:{hashlib.sha256(key.encode()).hexdigest()}"


def _service_label(labels: dict) -> tuple[str, str]:
    """(label name, value) of the label that names the service: `service`, else `job`."""
    for name in ("service", "job"):
        if labels.get(name):
            return name, labels[name]
    return "", ""


def _check_service_label(labels: dict) -> None:
    name, value = _service_label(labels)
    if len(value) > MAX_KEY:
        raise serializers.ValidationError({name: [TOO_LONG]})


def _actor(request) -> str:
    integration = integration_of(request)
    return f"integration:{integration.name}" if integration else request.user.username


# --- Alertmanager -----------------------------------------------------------------------------------


class AlertmanagerAlertSerializer(serializers.Serializer):
    """One alert. `startsAt` and `endsAt` come out as datetimes (UTC) or None ("not set")."""

    status = serializers.ChoiceField(choices=AlertStatus.values)
    labels = serializers.DictField(child=serializers.CharField(allow_blank=True))
    annotations = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False, default=dict)
    startsAt = serializers.CharField(required=False, allow_blank=True, default="")  # noqa: N815 - Alertmanager's names
    endsAt = serializers.CharField(required=False, allow_blank=True, default="")  # noqa: N815
    generatorURL = serializers.CharField(required=False, allow_blank=True, default="")  # noqa: N815
    fingerprint = serializers.CharField(required=False, allow_blank=True, default="", max_length=MAX_KEY)

    def validate_startsAt(self, value: str) -> datetime | None:  # noqa: N802 - DRF's validate_<field>
        # An alert firing for years (a watchdog) is normal: only the accepted range bounds it. The zero time
        # is no start: like any instant before 2000 it is refused, naming the field.
        return parse_ingest_time(value) if value else None

    def validate(self, attrs):
        with _errors_under("labels"):
            _check_service_label(attrs["labels"])
        with _errors_under("endsAt"):
            attrs["endsAt"] = _ends_at(attrs["status"], attrs["endsAt"])
        return attrs


@contextmanager
def _errors_under(name: str):
    """Validation errors raised inside, reported under the field `name`."""
    try:
        yield
    except serializers.ValidationError as exc:
        raise serializers.ValidationError({name: exc.detail}) from None


def _ends_at(alert_status: str, text: str) -> datetime | None:
    """When the alert ended. Only a resolved alert has ended: on a firing one Alertmanager sends the
    zero time or a time in the future (when it would expire unless renewed), both meaning "not ended"."""
    if not text or _is_zero_time(text):
        return None  # on a resolved alert: it ended when we heard of it (refusing would only make it re-send)
    if alert_status == AlertStatus.RESOLVED:
        return parse_ingest_time(text)
    try:
        parse_ingest_time(text)
    except serializers.ValidationError:
        when = parse_time(text)
        if when is None or not _after_now(when):
            raise
    return None


def _after_now(when: datetime) -> bool:
    try:
        return (when if timezone.is_aware(when) else when.replace(tzinfo=UTC)).astimezone(UTC) > timezone.now()
    except OverflowError:  # past year 9999 once in UTC
        return True


class AlertmanagerWebhookSerializer(serializers.Serializer):
    """Alertmanager's webhook body (version 4); unknown fields are ignored."""

    version = serializers.CharField(required=False, default="4")
    groupKey = serializers.CharField(required=False, allow_blank=True, default="")  # noqa: N815
    status = serializers.ChoiceField(choices=AlertStatus.values, required=False)
    commonLabels = serializers.DictField(  # noqa: N815
        child=serializers.CharField(allow_blank=True), required=False, default=dict
    )
    alerts = AlertmanagerAlertSerializer(many=True, allow_empty=False)

    def validate_commonLabels(self, value: dict) -> dict:  # noqa: N802 - DRF's validate_<field>
        _check_service_label(value)
        return value


class _AlertIngestView(APIView):
    """Alert ingestion: integration keys of `integration_kinds`, or users who may add alerts; rate limited."""

    permission_classes = [CanIngest]
    throttle_classes = [IngestThrottle]
    ingest_permission = "incidents.add_alert"


class AlertmanagerWebhookView(_AlertIngestView):
    """`POST /api/v1/integrations/alertmanager`: each alert kept by fingerprint; firing alerts open or
    join an incident (per Alertmanager group by default, or per alert); resolved ones resolve it."""

    integration_kinds = {"alertmanager", "generic"}

    @extend_schema(request=AlertmanagerWebhookSerializer, responses={200: dict})
    def post(self, request):
        """Validate the whole group (400 naming the field, nothing stored), store it and answer at once;
        the alerts are applied in batches right after (incidents/inbox.py)."""
        data = AlertmanagerWebhookSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        body = data.validated_data
        integration = integration_of(request)
        per_alert = integration is not None and integration.grouping == Integration.Grouping.ALERT
        fallback = (integration.service if integration else "") or "alertmanager"
        group_service = self.labelled_service(body["commonLabels"])
        batch = []
        for item in body["alerts"]:
            alert = self._alert(item, fallback)
            if not per_alert and body["groupKey"]:
                alert.incident_service = group_service or alert.service
                key = "am:" + hashlib.sha256(body["groupKey"].encode()).hexdigest()[:40]
            else:
                key = incident_key("am", alert.fingerprint)
            batch.append((alert, key))
        accepted = inbox.do_queue(batch, actor=_actor(request))
        tasks.queue_alert_drain()
        return Response({"status": "success", "accepted": accepted})

    def labelled_service(self, labels: dict) -> str:
        """The service a label names (`service`, else `job`); "" to use the integration's."""
        return _service_label(labels)[1]

    def _alert(self, item: dict, fallback_service: str) -> alerts.AlertIn:
        labels, annotations = item["labels"], item["annotations"]
        fingerprint = (
            item["fingerprint"] or hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]
        )
        summary = annotations.get("summary") or annotations.get("description") or labels.get("alertname") or fingerprint
        return alerts.AlertIn(
            source="alertmanager", fingerprint=fingerprint, status=item["status"],
            service=self.labelled_service(labels) or fallback_service,
            severity=normalize_severity(labels.get("severity", "")) or DEFAULT_SEVERITY, summary=summary,
            labels=labels, annotations=annotations, starts_at=item["startsAt"], ends_at=item["endsAt"],
            generator_url=item["generatorURL"],
        )  # fmt: skip


# --- PagerDuty Events API v2 --------------------------------------------------------------------------

PD_SEVERITIES = {"critical": "critical", "error": "high", "warning": "medium", "info": "low"}
PD_ACTIONS = ("trigger", "acknowledge", "resolve")


def pagerduty_errors(body) -> list[str]:
    """PagerDuty's validation: a list of messages naming each bad field."""
    if not isinstance(body, dict):
        return ["Event object must be a JSON object."]
    errors = []
    if not isinstance(body.get("routing_key"), str) or not body.get("routing_key"):
        errors.append("'routing_key' is missing or blank.")
    action_name = body.get("event_action")
    if action_name not in PD_ACTIONS:
        errors.append("'event_action' must be one of trigger, acknowledge, resolve.")
    dedup_key = body.get("dedup_key")
    if dedup_key is not None and (not isinstance(dedup_key, str) or len(dedup_key) > 255):
        errors.append("'dedup_key' must be a string of at most 255 characters.")
    if action_name in ("acknowledge", "resolve") and not dedup_key:
        errors.append(f"'dedup_key' is required to {action_name}.")
    if action_name == "trigger":
        payload = body.get("payload")
        errors += (
            _pd_payload_errors(payload) if isinstance(payload, dict) else ["'payload' is missing or not an object."]
        )
    return errors


def _pd_payload_errors(payload: dict) -> list[str]:
    errors = []
    for name in ("summary", "source"):
        if not isinstance(payload.get(name), str) or not payload[name].strip():
            errors.append(f"'payload.{name}' is missing or blank.")
    if isinstance(payload.get("summary"), str) and len(payload["summary"]) > 1024:
        errors.append("'payload.summary' is longer than 1024 characters.")
    if payload.get("severity") not in PD_SEVERITIES:
        errors.append("'payload.severity' must be one of critical, error, warning, info.")
    for name in ("source", "component", "group", "class"):
        value = payload.get(name)
        if name != "source" and value is not None and not isinstance(value, str):
            errors.append(f"'payload.{name}' must be a string.")
        elif isinstance(value, str) and len(value) > MAX_KEY:
            errors.append(f"'payload.{name}' is longer than {MAX_KEY} characters.")
    if payload.get("timestamp") not in (None, ""):
        try:
            parse_ingest_time(payload["timestamp"])
        except serializers.ValidationError as exc:
            errors.append(f"'payload.timestamp': {' '.join(str(m) for m in exc.detail)}")
    return errors


def _pd_invalid(errors: list[str], code=status.HTTP_400_BAD_REQUEST) -> Response:
    return Response({"status": "invalid event", "message": "Event object is invalid", "errors": errors,
                     "detail": " ".join(errors)}, status=code)  # fmt: skip


class PagerDutyEventsView(APIView):
    """`POST /api/v1/integrations/pagerduty`: PagerDuty Events API v2. A valid integration key in
    `routing_key` authenticates the call (PagerDuty senders send no auth header)."""

    permission_classes = [permissions.AllowAny]  # authorization below: routing_key, a key, or a user
    throttle_classes = [IngestThrottle]

    @extend_schema(request=dict, responses={202: dict, 400: dict})
    def post(self, request):
        body = request.data
        errors = pagerduty_errors(body)
        integration = self._authorize(request, body)
        if integration is False:
            # A signed-in user without the permission is forbidden; anyone else lacks a valid key.
            code = status.HTTP_403_FORBIDDEN if request.user.is_authenticated else status.HTTP_401_UNAUTHORIZED
            return Response({"status": "unauthorized", "message": "Invalid routing key",
                             "errors": ["'routing_key' is not a valid integration key."],
                             "detail": "Invalid routing key."}, status=code)  # fmt: skip
        if errors:
            return _pd_invalid(errors)
        dedup_key = body.get("dedup_key") or uuid.uuid4().hex
        actor = f"integration:{integration.name}" if integration else request.user.username
        action_name = body["event_action"]
        if action_name == "trigger":
            alert = self._alert(body, dedup_key, integration)
            alerts.do_fire(alert, incident_key=incident_key("pd", dedup_key), actor=actor)
        elif action_name == "acknowledge":
            alerts.do_acknowledge_alert("pagerduty", dedup_key, actor=actor)
        else:
            known = Alert.objects.filter(source="pagerduty", fingerprint=dedup_key).first()
            if known is not None:
                alerts.do_resolve_alert(self._known(known), actor=actor)
        return Response({"status": "success", "message": "Event processed", "dedup_key": dedup_key},
                        status=status.HTTP_202_ACCEPTED)  # fmt: skip

    def _authorize(self, request, body):
        """The integration, None for a user allowed to ingest, or False when nothing authorizes."""
        if integration_of(request) is not None:
            return request.auth
        if request.user and request.user.is_authenticated and request.user.has_perm("incidents.add_alert"):
            return None
        key = body.get("routing_key") if isinstance(body, dict) else None
        integration = integration_for_key(key) if isinstance(key, str) and key else None
        if integration is None or integration.kind not in ("pagerduty", "generic"):
            return False
        return integration

    def _alert(self, body: dict, dedup_key: str, integration) -> alerts.AlertIn:
        payload = body["payload"]
        service = (integration.service if integration else "") or payload.get("group") or payload["source"]
        details = payload.get("custom_details")
        return alerts.AlertIn(
            source="pagerduty", fingerprint=dedup_key, status=AlertStatus.FIRING, service=service,
            severity=PD_SEVERITIES[payload["severity"]], summary=payload["summary"],
            labels={k: str(payload[k]) for k in ("source", "component", "group", "class") if payload.get(k)},
            annotations={"custom_details": json.dumps(details)} if details is not None else {},
            starts_at=parse_ingest_time(payload["timestamp"]) if payload.get("timestamp") else None,
            host=payload["source"], component=payload.get("component") or "",
        )  # fmt: skip

    @staticmethod
    def _known(row: Alert) -> alerts.AlertIn:
        return alerts.AlertIn(source=row.source, fingerprint=row.fingerprint, status=AlertStatus.RESOLVED,
                              service=row.service, severity=row.severity, summary=row.summary)  # fmt: skip


# --- Generic ------------------------------------------------------------------------------------------


class GenericAlertSerializer(serializers.Serializer):
    dedup_key = serializers.CharField(max_length=255, required=False)
    service = serializers.CharField(max_length=255)
    severity = serializers.CharField()
    summary = serializers.CharField(max_length=1024)
    status = serializers.ChoiceField(choices=AlertStatus.values, default=AlertStatus.FIRING)
    labels = serializers.DictField(required=False, default=dict)
    annotations = serializers.DictField(required=False, default=dict)

    def validate_severity(self, value):
        severity = normalize_severity(value)
        if severity is None:
            raise serializers.ValidationError(f"'{value}' is not a valid severity.")
        return severity


class GenericAlertView(_AlertIngestView):
    """`POST /api/v1/alerts`: `status: firing` opens or joins the incident of `dedup_key`; `resolved`
    resolves it. The same dedup_key never opens a second unresolved incident."""

    integration_kinds = {"generic", "pagerduty"}

    @extend_schema(request=GenericAlertSerializer, responses={202: dict})
    def post(self, request):
        data = GenericAlertSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        body = data.validated_data
        dedup_key = body.get("dedup_key") or uuid.uuid4().hex
        alert = alerts.AlertIn(
            source="generic", fingerprint=dedup_key, status=body["status"], service=body["service"],
            severity=body["severity"], summary=body["summary"], labels=body["labels"], annotations=body["annotations"],
        )  # fmt: skip
        if alert.status == AlertStatus.FIRING:
            incident_id = alerts.do_fire(alert, incident_key=incident_key("generic", dedup_key), actor=_actor(request))[
                1
            ].pk
        else:
            incident_id = alerts.do_resolve_alert(alert, actor=_actor(request)).incident_id
        return Response({"status": "success", "dedup_key": dedup_key, "incident_id": incident_id},
                        status=status.HTTP_202_ACCEPTED)  # fmt: skip


# --- Integrations (keys) ------------------------------------------------------------------------------


class IntegrationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Integration
        fields = ["id", "name", "kind", "service", "team", "grouping", "enabled", "key_prefix", "created_at",
                  "last_used_at"]  # fmt: skip
        read_only_fields = ["id", "key_prefix", "created_at", "last_used_at"]


class IntegrationViewSet(viewsets.ModelViewSet):
    """Integrations and their ingestion keys. The key is in the answer to create and rotate, only."""

    queryset = Integration.objects.all()
    serializer_class = IntegrationSerializer
    lookup_value_regex = r"\d+"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    pagination_class = None

    def perform_create(self, serializer):
        integration = Integration(**serializer.validated_data)
        self._key = integration.set_new_key()
        integration.save()
        serializer.instance = integration

    def create(self, request, *args, **kwargs):
        response = super().create(request, *args, **kwargs)
        response.data["key"] = self._key
        return response

    @extend_schema(request=None, responses={200: IntegrationSerializer})
    @action(detail=True, methods=["post"])
    def rotate(self, request, pk=None):
        integration = self.get_object()
        key = integration.set_new_key()
        integration.save(update_fields=["key_prefix", "key_hash"])
        return Response({**IntegrationSerializer(integration).data, "key": key})
