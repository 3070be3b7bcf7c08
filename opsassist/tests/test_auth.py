import pytest

pytestmark = pytest.mark.django_db


def test_it_answers_401_without_credentials(anon_api):
    response = anon_api.get("/api/v1/me")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Token")


def test_it_answers_401_for_an_unknown_token(anon_api):
    anon_api.credentials(HTTP_AUTHORIZATION="Token nope")
    assert anon_api.get("/api/v1/me").status_code == 401


def test_it_accepts_a_token(api):
    response = api.get("/api/v1/me")
    assert response.status_code == 200
    assert response.json()["username"] == "alice"


def test_it_accepts_a_session(client, responder):
    client.force_login(responder)
    response = client.get("/api/v1/me")
    assert response.status_code == 200
    assert response.json()["groups"] == ["responder"]


def test_roles_exist_after_migrate():
    from django.contrib.auth.models import Group

    assert set(Group.objects.values_list("name", flat=True)) >= {"viewer", "responder"}


def test_pages_need_a_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_admin_needs_a_login(client):
    assert client.get("/admin/").status_code == 302
