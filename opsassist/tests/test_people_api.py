"""`/api/v1/users` and `/api/v1/me/token`: people added, changed and deactivated by admins, read by everyone
who reads; the set-password link; the last active admin always stays."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from oncall.models import Team, UserProfile
from oncall.tests.test_email import smtp_server  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db
User = get_user_model()


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.EMAIL_CONFIGURED = False


def _token_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def _add(api, **fields):
    return api.post("/api/v1/users", {"username": "dana", "email": "dana@example.com", "name": "Dana Scully",
                                      "role": "responder", **fields}, format="json")  # fmt: skip


def test_it_lists_people_with_role_teams_and_zone_to_a_viewer(viewer_api, admin_user, responder):
    Team.objects.create(name="payments").members.add(responder)
    UserProfile.objects.create(user=responder, time_zone="Europe/Berlin")
    response = viewer_api.get("/api/v1/users")
    assert response.status_code == 200
    by_name = {p["username"]: p for p in response.json()}
    assert by_name["bob"] == {"username": "bob", "email": "bob@example.com", "name": "", "role": "responder",
                              "is_active": True, "time_zone": "Europe/Berlin", "teams": ["payments"],
                              "last_login": None}  # fmt: skip
    assert by_name["alice"]["role"] == "admin" and by_name["carol"]["role"] == "viewer"
    assert viewer_api.get("/api/v1/users/bob").json()["teams"] == ["payments"]


def test_the_list_reads_in_a_fixed_number_of_queries(viewer_api, django_user_model, django_assert_max_num_queries):
    for n in range(10):
        Team.objects.create(name=f"t{n}").members.add(django_user_model.objects.create_user(username=f"p{n}"))
    with django_assert_max_num_queries(9):
        assert len(viewer_api.get("/api/v1/users").json()) == 11


def test_only_admins_add_people(responder_api, viewer_api, outsider_api):
    for client in (responder_api, viewer_api, outsider_api):
        assert _add(client).status_code == 403
    assert not User.objects.filter(username="dana").exists()


def test_an_admin_adds_a_person_who_gets_a_one_time_set_password_link(api, settings):
    response = _add(api)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["role"] == "responder" and body["name"] == "Dana Scully" and body["emailed"] is False
    assert body["set_password_url"].startswith(settings.OPSASSIST_URL + "/accounts/reset/")
    dana = User.objects.get(username="dana")
    assert not dana.has_usable_password() and dana.has_perm("incidents.change_incident")
    assert "set_password_url" not in api.get("/api/v1/users/dana").json()

    browser = Client()
    path = urlsplit(body["set_password_url"]).path
    form = browser.get(path, follow=True)
    assert form.context["validlink"] is True
    done = browser.post(form.redirect_chain[-1][0], {"new_password1": "tr0ub4dor&3x", "new_password2": "tr0ub4dor&3x"})
    assert done.status_code == 302 and done["Location"].endswith("/accounts/reset/done/")
    assert browser.login(username="dana", password="tr0ub4dor&3x")
    # Used once: the same link is dead now.
    assert Client().get(path, follow=True).context["validlink"] is False


def test_the_set_password_link_expires(api, settings):
    settings.PASSWORD_RESET_TIMEOUT = 3600
    path = urlsplit(_add(api).json()["set_password_url"]).path
    with time_machine.travel(timedelta(hours=2)):
        assert Client().get(path, follow=True).context["validlink"] is False


def test_with_email_configured_the_link_is_mailed_too(api, settings, smtp_server):  # noqa: F811
    controller, inbox = smtp_server
    settings.EMAIL_CONFIGURED = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    body = _add(api).json()
    assert body["emailed"] is True
    [envelope] = inbox.envelopes
    assert envelope.rcpt_tos == ["dana@example.com"]
    assert body["set_password_url"] in envelope.content.decode()


def test_a_mail_server_that_is_down_still_adds_the_person(api, settings):
    from tests.server import free_port

    settings.EMAIL_CONFIGURED = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    response = _add(api)
    assert response.status_code == 201 and response.json()["emailed"] is False
    assert response.json()["set_password_url"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"username": "dana scully"}, "username"),
        ({"username": ""}, "username"),
        ({"username": "x" * 151}, "username"),
        ({"username": "ALICE"}, "username"),  # alice exists: no look-alike in another case
        ({"email": "not-an-address"}, "email"),
        ({"email": "BOB@example.com"}, "email"),
        ({"role": "root"}, "role"),
        ({"name": "n" * 151}, "name"),
        ({"password": "chosen-by-admin"}, "password"),
        ({"is_superuser": True}, "is_superuser"),
    ],
)
def test_bad_input_names_the_field_and_stores_nothing(api, responder, fields, field):
    before = User.objects.count()
    response = _add(api, **fields)
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"], response.json()
    assert User.objects.count() == before


def test_a_person_without_a_role_is_refused(api):
    response = api.post("/api/v1/users", {"username": "dana"}, format="json")
    assert response.status_code == 400 and "role" in response.json()["errors"]


def test_an_admin_changes_role_email_name_and_reactivates(api, viewer):
    response = api.patch("/api/v1/users/carol", {"role": "responder", "email": "c@example.org", "name": "Carol D"},
                         format="json")  # fmt: skip
    assert response.status_code == 200, response.content
    assert response.json()["role"] == "responder"
    viewer = User.objects.get(pk=viewer.pk)
    assert viewer.has_perm("incidents.change_incident") and viewer.email == "c@example.org"
    assert list(viewer.groups.values_list("name", flat=True)) == ["responder"]
    assert api.patch("/api/v1/users/carol", {"role": "admin"}, format="json").json()["role"] == "admin"
    assert User.objects.get(pk=viewer.pk).is_superuser
    assert api.patch("/api/v1/users/carol", {"role": "none"}, format="json").json()["role"] == "none"
    assert not User.objects.get(pk=viewer.pk).get_all_permissions()
    assert api.delete("/api/v1/users/carol").status_code == 204
    assert api.patch("/api/v1/users/carol", {"is_active": True}, format="json").json()["is_active"] is True


def test_a_change_cannot_rename_or_set_a_password(api, viewer):
    response = api.patch("/api/v1/users/carol", {"username": "eve", "password": "x"}, format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"username", "password"}
    assert User.objects.filter(username="carol").exists()


def test_responders_cannot_change_or_deactivate_anyone(responder_api, viewer):
    assert responder_api.patch("/api/v1/users/carol", {"role": "admin"}, format="json").status_code == 403
    assert responder_api.delete("/api/v1/users/carol").status_code == 403
    assert responder_api.patch("/api/v1/users/bob", {"role": "admin"}, format="json").status_code == 403
    assert User.objects.get(username="carol").is_active


def test_the_last_active_admin_can_be_neither_demoted_nor_deactivated(api, admin_user):
    response = api.patch("/api/v1/users/alice", {"role": "responder"}, format="json")
    assert response.status_code == 409 and "role" in response.json()["errors"]
    response = api.patch("/api/v1/users/alice", {"is_active": False}, format="json")
    assert response.status_code == 409 and "is_active" in response.json()["errors"]
    response = api.delete("/api/v1/users/alice")
    assert response.status_code == 409 and "is_active" in response.json()["errors"]
    admin_user.refresh_from_db()
    assert admin_user.is_superuser and admin_user.is_active


def test_with_a_second_admin_one_may_step_down(api, admin_user, django_user_model):
    django_user_model.objects.create_user(username="root2", is_superuser=True, is_staff=True)
    assert api.patch("/api/v1/users/alice", {"role": "viewer"}, format="json").status_code == 200
    # alice is no admin any more: her own token no longer changes people
    assert api.patch("/api/v1/users/root2", {"role": "viewer"}, format="json").status_code == 403


def test_an_inactive_admin_does_not_count(api, django_user_model):
    django_user_model.objects.create_user(username="gone", is_superuser=True, is_active=False)
    assert api.delete("/api/v1/users/alice").status_code == 409


def test_deactivating_revokes_token_and_sessions_at_once_and_keeps_history(api, responder, responder_api):
    from incidents.tests.factories import IncidentFactory

    incident = IncidentFactory(assigned_to=responder)
    browser = Client()
    browser.force_login(responder)
    assert browser.get("/incidents/").status_code == 200
    assert responder_api.get("/api/v1/incidents").status_code == 200

    assert api.delete("/api/v1/users/bob").status_code == 204

    assert responder_api.get("/api/v1/incidents").status_code == 401
    assert not Token.objects.filter(user=responder).exists()
    assert browser.get("/incidents/").status_code == 302
    assert not [s for s in Session.objects.all() if s.get_decoded().get("_auth_user_id") == str(responder.pk)]
    incident.refresh_from_db()
    assert incident.assigned_to == responder
    assert api.get("/api/v1/users/bob").json()["is_active"] is False
    # Reactivated: the old sessions stay dead; a new token has to be issued.
    assert api.patch("/api/v1/users/bob", {"is_active": True}, format="json").status_code == 200
    assert browser.get("/incidents/").status_code == 302
    assert responder_api.get("/api/v1/incidents").status_code == 401


def test_an_admin_issues_a_token_shown_once(api, responder, responder_api):
    response = api.post("/api/v1/users/bob/token")
    assert response.status_code == 201
    key = response.json()["token"]
    assert responder_api.get("/api/v1/me").status_code == 401  # the previous token stopped working
    assert _token_client(key).get("/api/v1/me").json()["username"] == "bob"
    assert "token" not in api.get("/api/v1/users/bob").json()


def test_no_token_for_a_deactivated_person(api, responder):
    api.delete("/api/v1/users/bob")
    response = api.post("/api/v1/users/bob/token")
    assert response.status_code == 409 and "username" in response.json()["errors"]
    assert not Token.objects.filter(user=responder).exists()


def test_everyone_rotates_their_own_token(viewer_api, outsider_api):
    response = viewer_api.post("/api/v1/me/token")
    assert response.status_code == 201
    assert viewer_api.get("/api/v1/me").status_code == 401
    fresh = _token_client(response.json()["token"])
    assert fresh.get("/api/v1/me").json()["role"] == "viewer"
    assert outsider_api.post("/api/v1/me/token").status_code == 201


def test_unknown_people_are_404(api):
    assert api.get("/api/v1/users/nobody").status_code == 404
    assert api.patch("/api/v1/users/nobody", {"role": "viewer"}, format="json").status_code == 404
    assert api.delete("/api/v1/users/nobody").status_code == 404


def test_an_admin_gets_a_fresh_set_password_link(api, responder, responder_api):
    response = api.post("/api/v1/users/bob/password-link")
    assert response.status_code == 201
    form = Client().get(urlsplit(response.json()["set_password_url"]).path, follow=True)
    assert form.context["validlink"] is True
    assert responder_api.post("/api/v1/users/carol/password-link").status_code == 403
    api.delete("/api/v1/users/bob")
    assert api.post("/api/v1/users/bob/password-link").status_code == 409


def test_a_deactivated_persons_set_password_link_is_dead(api):
    path = urlsplit(_add(api).json()["set_password_url"]).path
    api.delete("/api/v1/users/dana")
    assert Client().get(path, follow=True).context["validlink"] is False
    api.patch("/api/v1/users/dana", {"is_active": True}, format="json")
    assert Client().get(path, follow=True).context["validlink"] is True


async def _live_stream_closes(key: str, change) -> bool:
    """Opens /ws/incidents/ with a token, runs `change` (sync, in a thread) and says whether the server
    closed the stream."""
    from asgiref.testing import ApplicationCommunicator
    from channels.db import database_sync_to_async

    from opsassist.asgi import application

    scope = {"type": "websocket", "path": "/ws/incidents/", "query_string": b"", "subprotocols": [],
             "headers": [(b"authorization", f"Token {key}".encode())], "client": ("127.0.0.1", 5000),
             "server": ("testserver", 80)}  # fmt: skip
    communicator = ApplicationCommunicator(application, scope)
    await communicator.send_input({"type": "websocket.connect"})
    assert (await communicator.receive_output(timeout=5))["type"] == "websocket.accept"
    await database_sync_to_async(change)()
    answer = await communicator.receive_output(timeout=5)
    await communicator.send_input({"type": "websocket.disconnect", "code": 1000})
    await communicator.wait(timeout=5)
    return answer["type"] == "websocket.close"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("change", [{"is_active": False}, {"role": "none"}])
def test_a_deactivated_or_demoted_persons_live_stream_closes_at_once(responder, change):
    import asyncio

    from opsassist import people

    key = Token.objects.create(user=responder).key
    assert asyncio.run(_live_stream_closes(key, lambda: people.do_change(responder, **change))) is True


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_admins_demoting_each_other_at_once_leave_one_admin(django_user_model):
    import threading

    from django.db import connection

    from opsassist import people
    from opsassist.lib.errors import Conflict

    admins = [django_user_model.objects.create_user(username=f"root{n}", is_superuser=True) for n in range(2)]
    barrier, outcomes = threading.Barrier(2), []

    def demote(user):
        try:
            barrier.wait()
            people.do_change(user, role="viewer")
            outcomes.append("demoted")
        except Conflict as exc:
            outcomes.append(exc.field)
        finally:
            connection.close()

    threads = [threading.Thread(target=demote, args=(user,)) for user in admins]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["demoted", "role"]
    assert django_user_model.objects.filter(is_superuser=True, is_active=True).count() == 1


def test_the_openapi_schema_documents_people(client):
    paths = client.get("/api/schema", {"format": "json"}, HTTP_ACCEPT="application/json").json()["paths"]
    assert set(paths["/api/v1/users/"]) >= {"get", "post"}
    assert set(paths["/api/v1/users/{username}/"]) >= {"get", "patch", "delete"}
    assert "put" not in paths["/api/v1/users/{username}/"]
    assert "post" in paths["/api/v1/users/{username}/token/"] and "post" in paths["/api/v1/me/token/"]
    created = paths["/api/v1/users/"]["post"]["responses"]["201"]["content"]["application/json"]["schema"]
    assert created["$ref"].endswith("/NewPerson")
