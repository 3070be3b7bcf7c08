"""Secrets (monitor passwords, tokens in URLs, webhook secrets, integration keys, API tokens) never
appear in logs, API output or the incident timeline, even when the checks and deliveries that use
them fail."""

from __future__ import annotations

import json
import logging

import pytest

from incidents.models import TimelineEntry
from oncall.models import Channel, EscalationPolicy, EscalationStep, Notification
from oncall.tests.factories import team_with_rotation

pytestmark = pytest.mark.django_db

SECRETS = ["PgS3cretPw", "R3disS3cret", "HttpT0kenQ", "SlackT0kenPath", "WebhookSigningS3cret"]


def test_secrets_stay_out_of_logs_api_and_timeline(api, caplog, settings, django_capture_on_commit_callbacks):
    caplog.set_level(logging.DEBUG)
    settings.HTTP_CLIENT_TIMEOUT = 1
    monitors = {
        "db-secret": ("postgres", "postgres://app:PgS3cretPw@127.0.0.1:1/app"),
        "cache-secret": ("redis", "redis://:R3disS3cret@127.0.0.1:1/0"),
        "api-secret": ("http", "http://127.0.0.1:1/health?token=HttpT0kenQ"),
    }
    team, schedule, _ = team_with_rotation(name="ops", services=(*monitors, "am-svc"))
    policy = EscalationPolicy.objects.create(team=team, repeat_count=0)
    EscalationStep.objects.create(policy=policy, position=0, schedule=schedule)
    Channel.objects.create(name="slack", team=team, kind="slack", notify_on=["new"],
                           config={"url": "http://127.0.0.1:1/services/T0/B0/SlackT0kenPath"})  # fmt: skip
    Channel.objects.create(name="hook", team=team, kind="webhook", notify_on=["new"],
                           config={"url": "http://127.0.0.1:1/hook", "secret": "WebhookSigningS3cret"})  # fmt: skip
    key = api.post("/api/v1/integrations", {"name": "am", "kind": "generic"}, format="json").json()["key"]
    secrets = [*SECRETS, key, api._credentials["HTTP_AUTHORIZATION"].split()[1]]

    with django_capture_on_commit_callbacks(execute=True):
        for name, (kind, target) in monitors.items():
            body = {"name": name, "kind": kind, "target": target, "timeout_seconds": 1}
            assert api.post("/api/v1/monitors", body, format="json").status_code == 201
            assert api.post(f"/api/v1/monitors/{name}/check").status_code == 200
        alert = {"service": "am-svc", "severity": "high", "summary": "down", "dedup_key": "k1"}
        response = api.post("/api/v1/alerts", alert, format="json", HTTP_AUTHORIZATION=f"Bearer {key}")
        assert response.status_code in (200, 201, 202)
    assert Notification.objects.filter(kind__in=["slack", "webhook"]).exists()  # attempted, and failed

    paths = ["/api/v1/monitors", "/api/v1/monitors/db-secret", "/api/v1/monitors/db-secret/results",
             "/api/v1/monitors/api-secret/results", "/api/v1/oncall/channels", "/api/v1/notifications",
             "/api/v1/integrations", "/api/v1/events", "/metrics"]  # fmt: skip
    paths += [f"/api/v1/incidents/{i['id']}" for i in api.get("/api/v1/incidents").json()]
    outputs = [api.get(path).content.decode() for path in paths]
    timeline = [json.dumps([e.text, e.data]) for e in TimelineEntry.objects.all()]
    notifications = [json.dumps([n.target, n.error]) for n in Notification.objects.all()]
    logs = [record.getMessage() + " " + str(getattr(record, "exc_text", "") or "") for record in caplog.records]
    assert len(paths) > 12 and timeline and logs
    assert any("/services/***" in n for n in notifications)  # where it went, without the token
    assert any("token=***" in o for o in outputs)

    for secret in secrets:
        for where, texts in [("API", outputs), ("timeline", timeline), ("notifications", notifications),
                             ("logs", logs)]:  # fmt: skip
            leaks = [t for t in texts if secret in t]
            assert not leaks, f"{secret!r} leaked into the {where}: {leaks[0][:300]}"
