import re
from datetime import timedelta

import pytest
from django.utils import timezone

from incidents import services
from incidents.tests.factories import IncidentFactory

pytestmark = pytest.mark.django_db


def sample(text: str, name: str, **labels) -> float:
    label_text = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    match = re.search(rf"^{re.escape(name)}\{{{re.escape(label_text)}\}} (\S+)$", text, re.M)
    assert match, f"{name}{{{label_text}}} not in metrics"
    return float(match.group(1))


def test_incident_metrics_come_from_the_database(client):
    incident = IncidentFactory(severity="critical", detected_at=timezone.now() - timedelta(seconds=45))
    IncidentFactory(severity="critical", status="acknowledged")
    IncidentFactory(severity="low", status="resolved")
    services.do_change_status(incident, "acknowledged", actor=None)
    services.do_change_status(incident, "resolved", actor=None)

    text = client.get("/metrics").content.decode()
    assert sample(text, "incidents_total", status="resolved", severity="critical") == 1
    assert sample(text, "incidents_total", status="acknowledged", severity="critical") == 1
    assert sample(text, "open_incidents", severity="critical") == 1
    assert sample(text, "open_incidents", severity="low") == 0
    # acknowledged after ~45 s: not in the 30 s bucket, in the 60 s one
    assert sample(text, "incident_mtta_seconds_bucket", severity="critical", le="30.0") == 0
    assert sample(text, "incident_mtta_seconds_bucket", severity="critical", le="60.0") == 1
    assert sample(text, "incident_mtta_seconds_bucket", severity="critical", le="+Inf") == 1
    assert sample(text, "incident_mttr_seconds_bucket", severity="critical", le="300.0") == 1
    assert sample(text, "incident_mtta_seconds_count", severity="critical") == 1


def test_buckets_come_from_settings(client, settings):
    settings.MTTA_BUCKETS = [5.0, 10.0]
    text = client.get("/metrics").content.decode()
    assert sample(text, "incident_mtta_seconds_bucket", severity="high", le="10.0") == 0
    assert 'incident_mtta_seconds_bucket{le="30.0"' not in text


def test_ingestion_is_counted(api, client):
    before = client.get("/metrics").content.decode()
    base = sample(before, "events_ingested_total", level="FATAL") if 'level="FATAL"' in before else 0
    api.post("/api/v1/events", [{"service": "s", "level": "fatal", "message": "m"}] * 3, format="json")
    after = client.get("/metrics").content.decode()
    assert sample(after, "events_ingested_total", level="FATAL") == base + 3
