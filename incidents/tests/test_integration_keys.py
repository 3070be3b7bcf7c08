import pytest
from rest_framework.test import APIClient

from incidents.models import Integration

pytestmark = pytest.mark.django_db

URL = "/api/v1/integrations"


def test_the_key_is_shown_once_and_stored_hashed(api):
    response = api.post(URL, {"name": "prometheus", "kind": "alertmanager", "service": "infra"}, format="json")
    assert response.status_code == 201
    key = response.json()["key"]
    integration = Integration.objects.get()
    assert key not in str(integration.__dict__)
    assert integration.key_hash == Integration.hash_key(key)
    assert "key" not in api.get(f"{URL}/{integration.pk}").json()
    assert api.get(URL).json()[0]["key_prefix"] == key[:10]


def test_rotate_replaces_the_key(api):
    key = api.post(URL, {"name": "pd", "kind": "pagerduty"}, format="json").json()["key"]
    integration = Integration.objects.get()
    new_key = api.post(f"{URL}/{integration.pk}/rotate").json()["key"]
    assert new_key != key
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert client.post("/api/v1/alerts", {}, format="json").status_code == 401
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {new_key}")
    assert client.post("/api/v1/alerts", {}, format="json").status_code == 400  # authenticated, bad body


def test_only_admins_manage_integrations(responder_api):
    assert responder_api.post(URL, {"name": "x", "kind": "generic"}, format="json").status_code == 403


def test_a_key_cannot_manage_integrations(api):
    key = api.post(URL, {"name": "g", "kind": "generic"}, format="json").json()["key"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert client.get(URL).status_code == 403
    assert client.post(URL, {"name": "h", "kind": "generic"}, format="json").status_code == 403
