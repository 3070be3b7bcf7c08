import json
from pathlib import Path

from rest_framework.test import APIClient

from incidents.models import Integration

PAYLOADS = Path(__file__).parent / "payloads"


def payload(name: str) -> dict:
    return json.loads((PAYLOADS / name).read_text())


def integration_client(kind: str, **fields) -> tuple[APIClient, Integration, str]:
    integration = Integration(name=f"{kind}-{Integration.objects.count()}", kind=kind, **fields)
    key = integration.set_new_key()
    integration.save()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client, integration, key
