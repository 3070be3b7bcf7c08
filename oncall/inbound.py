"""Grafana OnCall compatible inbound URLs: `POST /integrations/v1/<type>/<token>/`.

An Alertmanager or Grafana contact point that pointed at Grafana OnCall keeps working when only the host
name changes: the token in the path is an integration key (imported tokens are stored hashed like every
key), and the bodies are OnCall's formats. Alertmanager and Grafana Alerting go through the Alertmanager
intake; the generic `webhook` (and `formatted_webhook`) body becomes one alert.

As in Grafana OnCall, an integration routes by itself, not by the alert's labels: every alert's service
is the integration's service (when it has one), which names the team that owns it.
"""

from __future__ import annotations

import hashlib
import json

from django.urls import re_path
from rest_framework import authentication, exceptions, serializers
from rest_framework.response import Response

from incidents import alerts
from incidents.api.integrations import (
    DEFAULT_SEVERITY,
    AlertmanagerWebhookView,
    _actor,
    _AlertIngestView,
    incident_key,
)
from incidents.auth import IntegrationPrincipal, integration_for_key, integration_of
from incidents.choices import AlertStatus, normalize_severity

ALERTMANAGER_TYPES = ("alertmanager", "grafana_alerting")
WEBHOOK_TYPES = ("webhook", "formatted_webhook")
MAX_TEXT = 1024


class PathTokenAuthentication(authentication.BaseAuthentication):
    """The integration whose key is the `token` in the URL (OnCall senders send no auth header)."""

    def authenticate(self, request):
        token = request.parser_context["kwargs"].get("token", "")
        integration = integration_for_key(token) if token else None
        if integration is None:
            raise exceptions.AuthenticationFailed("Unknown or disabled integration token.")
        return IntegrationPrincipal(integration), integration

    def authenticate_header(self, request):
        return "Token"


class OnCallAlertmanagerView(AlertmanagerWebhookView):
    """Alertmanager (webhook v4) and Grafana Alerting (the same body plus extras, which are ignored)."""

    authentication_classes = [PathTokenAuthentication]

    def labelled_service(self, labels: dict) -> str:
        integration = integration_of(self.request)
        assert integration is not None  # PathTokenAuthentication lets only integrations in
        return "" if integration.service else super().labelled_service(labels)

    def post(self, request, **kwargs):
        return super().post(request)


class OnCallWebhookSerializer(serializers.Serializer):
    """OnCall's webhook body: any JSON object; these optional fields are read when present."""

    alert_uid = serializers.CharField(required=False, allow_blank=True, max_length=255)
    title = serializers.CharField(required=False, allow_blank=True, max_length=MAX_TEXT)
    message = serializers.CharField(required=False, allow_blank=True, max_length=10_000)
    state = serializers.CharField(required=False, allow_blank=True, max_length=50)
    severity = serializers.CharField(required=False, allow_blank=True, max_length=50)
    # OnCall took any string here: a Grafana behind a Docker or cluster name (http://grafana:3000/...) has no
    # top-level domain, so a strict URL check would drop real alerts. The link is only shown, never fetched.
    link_to_upstream_details = serializers.CharField(required=False, allow_blank=True, max_length=2000)

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["The body must be a JSON object."]})
        return {**super().to_internal_value(data), "payload": data}


class OnCallWebhookView(_AlertIngestView):
    """OnCall's generic webhook: `state: "ok"` resolves, anything else fires; `alert_uid` groups (else
    the whole body without `state`, as OnCall's default grouping does)."""

    authentication_classes = [PathTokenAuthentication]
    integration_kinds = {"generic", "alertmanager"}

    def post(self, request, **kwargs):
        data = OnCallWebhookSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        alert = self._alert(data.validated_data, integration_of(request))
        key = incident_key("webhook", alert.fingerprint)
        if alert.status == AlertStatus.FIRING:
            incident_id = alerts.do_fire(alert, incident_key=key, actor=_actor(request))[1].pk
        else:
            incident_id = alerts.do_resolve_alert(alert, actor=_actor(request)).incident_id
        return Response({"status": "success", "incident_id": incident_id})

    def _alert(self, body: dict, integration) -> alerts.AlertIn:
        payload = body["payload"]
        group = body.get("alert_uid") or json.dumps({k: v for k, v in payload.items() if k != "state"}, sort_keys=True)
        # Scoped to the integration: two senders' alert ids never merge.
        fingerprint = f"{integration.pk}:" + hashlib.sha256(group.encode()).hexdigest()[:40]
        message = body.get("message", "")
        summary = body.get("title") or message.split("\n", 1)[0][:200] or f"Alert from {integration.name}"
        return alerts.AlertIn(
            source="webhook", fingerprint=fingerprint,
            status=AlertStatus.RESOLVED if body.get("state", "").upper() == "OK" else AlertStatus.FIRING,
            service=integration.service or integration.name,
            severity=normalize_severity(body.get("severity", "")) or DEFAULT_SEVERITY,
            summary=summary, annotations={"description": message} if message else {},
            labels={"alert_uid": body["alert_uid"]} if body.get("alert_uid") else {},
            generator_url=_web_link(body.get("link_to_upstream_details", "")),
        )  # fmt: skip


def _web_link(text: str) -> str:
    """An http(s) link is kept as it came; anything else (javascript:, a bare word) is not a link to keep."""
    return text if text.lower().startswith(("http://", "https://")) else ""


def _path(types: tuple[str, ...]) -> str:
    return rf"^(?P<kind>{'|'.join(types)})/(?P<token>[^/]+)/?$"


urlpatterns = [
    re_path(_path(ALERTMANAGER_TYPES), OnCallAlertmanagerView.as_view(), name="oncall-alertmanager"),
    re_path(_path(WEBHOOK_TYPES), OnCallWebhookView.as_view(), name="oncall-webhook"),
]
