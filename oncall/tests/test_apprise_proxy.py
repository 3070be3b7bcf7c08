"""Push, chat and SMS obey the outbound policy even with a proxy in the environment: apprise's requests
would send through HTTP_PROXY, where the policy sees only the proxy. A real local forward proxy records
whether it was used."""

from __future__ import annotations

import pytest

from oncall.tests.proxy_standin import forward_proxy
from oncall.tests.sink import http_sink
from oncall.transports import transport_for
from oncall.transports.base import TransportError

MESSAGE = {
    "headline": "New incident",
    "incident": {"id": 7, "title": "db down", "service": "db", "severity": "high", "priority": "P2", "status": "open"},
    "links": {"open": "https://ops.example.com/incidents/7/"},
}
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture
def sink():
    with http_sink() as server:
        yield server


def set_env_proxy(monkeypatch, url: str) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.setenv(name, url)


def send_ntfy(sink) -> None:
    transport_for("ntfy", {"server": sink.base, "topic": "ops"}).notify(MESSAGE)


def test_an_environment_proxy_is_ignored_and_the_page_goes_to_the_checked_server(sink, monkeypatch):
    with forward_proxy() as proxy:
        set_env_proxy(monkeypatch, proxy.url)
        send_ntfy(sink)
    assert proxy.used == [] and len(sink.received) == 1


def test_the_operator_may_send_through_the_environment_proxy(sink, monkeypatch, settings):
    settings.APPRISE_USE_ENV_PROXY = True
    with forward_proxy() as proxy:
        set_env_proxy(monkeypatch, proxy.url)
        send_ntfy(sink)
    assert proxy.used == [f"{sink.base}/"] and len(sink.received) == 1


def test_an_allowed_proxy_must_itself_pass_the_outbound_policy(sink, monkeypatch, settings):
    settings.APPRISE_USE_ENV_PROXY = True
    settings.OUTBOUND_DENY = [*settings.OUTBOUND_DENY, "127.0.0.2/32"]
    with forward_proxy(host="127.0.0.2") as proxy:
        set_env_proxy(monkeypatch, proxy.url)
        with pytest.raises(TransportError) as failure:
            send_ntfy(sink)
    assert failure.value.permanent and "127.0.0.2 is in OUTBOUND_DENY" in failure.value.message
    assert proxy.used == [] and sink.received == []


def test_other_requests_in_the_process_keep_their_proxy(monkeypatch):
    import requests

    with forward_proxy() as proxy, http_sink() as target:
        set_env_proxy(monkeypatch, proxy.url)
        assert requests.get(f"{target.base}/x", timeout=5).status_code == 200
    assert proxy.used == [f"{target.base}/x"]
