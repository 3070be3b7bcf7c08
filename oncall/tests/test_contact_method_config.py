"""A contact method's config is a channel's: secret URLs shown masked, an email address checked on save."""

import pytest

from oncall.models import ContactMethod

pytestmark = pytest.mark.django_db
URL = "/api/v1/oncall/contact-methods"
SECRET_URL = "https://hooks.example.com/services/T000/B000/XXXXSECRET"


@pytest.mark.parametrize("kind", ["webhook", "slack"])
def test_a_webhook_url_is_shown_masked(responder_api, api, kind):
    response = responder_api.post(URL, {"kind": kind, "config": {"url": SECRET_URL}}, format="json")
    assert response.status_code == 201, response.content
    for client, url in ((responder_api, URL), (api, "/api/v1/oncall/contacts")):
        listed = client.get(url)
        assert listed.status_code == 200 and "XXXXSECRET" not in listed.content.decode()
    assert "XXXXSECRET" not in response.content.decode()
    assert ContactMethod.objects.get().config["url"] == SECRET_URL


@pytest.mark.parametrize("address", ["not-an-address", "a@", "", 3, "a@b@c.example"])
def test_a_bad_email_address_is_refused_naming_it(responder_api, address):
    response = responder_api.post(URL, {"kind": "email", "config": {"address": address}}, format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()["errors"]) == ["config.address"]
    assert not ContactMethod.objects.exists()


def test_a_good_email_address_is_stored(responder_api):
    response = responder_api.post(URL, {"kind": "email", "config": {"address": "bob@example.com"}}, format="json")
    assert response.status_code == 201 and response.json()["config"] == {"address": "bob@example.com"}
