"""Channel configs are declared by their transport: validated, shown masked, and masked means unchanged."""

import pytest

from oncall.models import Channel, ContactMethod
from oncall.tests.receiver import http_receiver
from oncall.transports import transport_for
from oncall.transports.webhook import sign

pytestmark = pytest.mark.django_db

URL = "/api/v1/oncall/channels"
SECRET_URL = "https://hooks.example.com/services/T000/B000/tokenpart?key=abc"


def webhook(api, **config):
    return api.post(URL, {"name": "ops", "kind": "webhook", "config": config}, format="json")


@pytest.mark.parametrize("config", [[{"url": SECRET_URL}], ["url", SECRET_URL], "url=x", 3])
def test_a_channel_config_sent_as_a_list_is_a_400(api, config):
    response = api.post(URL, {"name": "ops", "kind": "webhook", "config": config}, format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["config"]
    assert not Channel.objects.exists()


@pytest.mark.parametrize(
    ("kind", "config", "field"),
    [
        ("webhook", {}, "config.url"),
        ("webhook", {"url": "ftp://example.com/x"}, "config.url"),
        ("slack", {"url": "not a url"}, "config.url"),
        ("webhook", {"url": SECRET_URL, "headers": {"X": "1"}}, "config.headers"),
        ("log", {"level": "debug"}, "config.level"),
        ("webhook", {"url": SECRET_URL, "secret": ["a"]}, "config.secret"),
    ],
)
def test_a_bad_channel_config_is_refused_naming_the_key(api, kind, config, field):
    response = api.post(URL, {"name": "ops", "kind": kind, "config": config}, format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]
    assert not Channel.objects.exists()


def test_unknown_keys_are_refused_as_unknown(api):
    response = webhook(api, url=SECRET_URL, restart_command="id")
    assert response.json()["errors"] == {"config.restart_command": ["unknown key"]}


def test_patching_with_masked_values_keeps_the_secret(api, django_capture_on_commit_callbacks):
    with http_receiver() as receiver:
        real_url = receiver.url + "/T000/tokenpart?key=abc"
        created = webhook(api, url=real_url, secret="s3cret-value")
        assert created.status_code == 201
        shown = api.get(f"{URL}/{created.json()['id']}").json()
        assert shown["config"]["secret"] == "***"
        assert "tokenpart" not in shown["config"]["url"] and "abc" not in shown["config"]["url"]

        shown["name"] = "ops-renamed"
        response = api.patch(f"{URL}/{shown['id']}", shown, format="json")
        assert response.status_code == 200, response.content
        channel = Channel.objects.get()
        assert channel.name == "ops-renamed"
        assert channel.config == {"url": real_url, "secret": "s3cret-value"}

        # What is stored is what is used: a real delivery, signed with the real secret.
        transport_for(channel.kind, channel.config).notify({"event": "test"})
        request = receiver.received[0]
        headers = {k.lower(): v for k, v in request["headers"].items()}
        expected = sign("s3cret-value", headers["x-opsassist-timestamp"], request["raw"])
        assert headers["x-opsassist-signature"] == expected


def test_a_new_secret_replaces_the_old_one_and_a_half_masked_value_is_refused(api):
    created = webhook(api, url=SECRET_URL, secret="old").json()
    response = api.patch(f"{URL}/{created['id']}", {"config": {**created["config"], "secret": "new"}}, format="json")
    assert response.status_code == 200
    assert Channel.objects.get().config == {"url": SECRET_URL, "secret": "new"}

    edited = created["config"]["url"].replace("hooks.example.com", "hooks.example.org")
    response = api.patch(f"{URL}/{created['id']}", {"config": {"url": edited, "secret": "***"}}, format="json")
    assert response.status_code == 400 and list(response.json()["errors"]) == ["config.url"]
    assert Channel.objects.get().config == {"url": SECRET_URL, "secret": "new"}


def test_patching_enabled_alone_works(api):
    created = webhook(api, url=SECRET_URL, secret="s").json()
    response = api.patch(f"{URL}/{created['id']}", {"enabled": False}, format="json")
    assert response.status_code == 200 and response.json()["enabled"] is False
    assert Channel.objects.get().config == {"url": SECRET_URL, "secret": "s"}


def test_a_contact_method_config_is_checked_the_same_way(api, admin_user):
    body = {"user": admin_user.username, "kind": "slack", "config": [SECRET_URL]}
    assert api.post("/api/v1/oncall/contacts", body, format="json").status_code == 400
    body["config"] = {"url": SECRET_URL}
    response = api.post("/api/v1/oncall/contacts", body, format="json")
    assert response.status_code == 201 and "tokenpart" not in response.json()["config"]["url"]
    assert ContactMethod.objects.get().config == {"url": SECRET_URL}


def test_a_transport_reads_its_config_typed_with_defaults():
    from oncall.transports import transport_class

    assert transport_class("log").Config.validate_input({}) == {}
    hook = transport_for("webhook", {"url": SECRET_URL})
    assert hook.conf.url == SECRET_URL and hook.conf.secret is None
    assert "tokenpart" not in hook.describe()
