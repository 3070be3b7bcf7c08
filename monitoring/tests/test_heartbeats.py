from datetime import timedelta

import pytest
from django.utils import timezone

from incidents.models import Incident
from monitoring.heartbeats import do_check_silent_hosts, do_heartbeat
from monitoring.models import Host

pytestmark = pytest.mark.django_db

URL = "/api/v1/heartbeats"


def beat(api, status, component="ffmpeg", host="capture-1"):
    return api.post(URL, {"host": host, "components": [{"name": component, "status": status}],
                          "metrics": {"cpu_percent": 12.5}}, format="json")  # fmt: skip


def incident(component="ffmpeg", host="capture-1"):
    return Incident.objects.get(source="heartbeat", host=host, component=component)


def test_stuck_opens_high_stopped_raises_to_critical_active_resolves(api):
    assert beat(api, "active").status_code == 200
    assert not Incident.objects.exists()
    beat(api, "stuck")
    assert incident().severity == "high" and incident().service == "capture-1"
    beat(api, "stuck")
    beat(api, "stopped")
    assert Incident.objects.count() == 1
    assert incident().severity == "critical"
    beat(api, "active")
    assert incident().status == "resolved"
    assert "active again" in incident().resolution_notes


def test_stopped_opens_critical(api):
    beat(api, "stopped", component="monitor")
    assert incident("monitor").severity == "critical"


def test_components_and_hosts_are_independent(api):
    beat(api, "stuck", component="ffmpeg")
    beat(api, "stuck", component="monitor")
    beat(api, "stuck", component="ffmpeg", host="capture-2")
    assert Incident.objects.count() == 3
    beat(api, "active", component="ffmpeg")
    assert incident("monitor").status == "open"
    assert incident("ffmpeg", "capture-2").status == "open"


def test_a_silent_host_opens_a_critical_incident_and_recovers(settings):
    settings.HEARTBEAT_TIMEOUT_SECONDS = 180
    now = timezone.now()
    do_heartbeat("edge-1", [], {}, now=now - timedelta(seconds=200))
    do_heartbeat("edge-2", [], {}, now=now - timedelta(seconds=100))
    assert do_check_silent_hosts(now) == ["edge-1"]
    assert do_check_silent_hosts(now) == []  # once
    silent = Incident.objects.get(host="edge-1")
    assert silent.severity == "critical" and silent.source == "heartbeat"
    assert Host.objects.get(name="edge-1").silent
    do_heartbeat("edge-1", [], {}, now=now)
    silent.refresh_from_db()
    assert silent.status == "resolved"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"components": []}, "host"),
        ({"host": "h", "components": [{"name": "x", "status": "sleepy"}]}, "components[0].status"),
        ({"host": "h", "components": [{"status": "active"}]}, "components[0].name"),
        ({"host": "h"}, "components"),
    ],
)
def test_bad_heartbeats_name_the_field(api, payload, field):
    response = api.post(URL, payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_agents_can_send_heartbeats_but_not_read_incidents(django_user_model):
    from django.contrib.auth.models import Group
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    user = django_user_model.objects.create_user("agent-1")
    user.groups.add(Group.objects.get(name="agent"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    assert beat(client, "active").status_code == 200
    assert client.get("/api/v1/incidents").status_code == 403
