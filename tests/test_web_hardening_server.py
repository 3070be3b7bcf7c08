"""Web hardening on a real server (`make up`, uvicorn): Host validation, the WebSocket handshake's Origin
check, and which client address failed logins count against, with and without a proxy in front."""

from __future__ import annotations

import httpx
import pytest
import websockets.exceptions
import websockets.sync.client

from tests.server import running_server

pytestmark = pytest.mark.server


def _ws_status(base: str, origin: str | None, token: str | None = None) -> int:
    """101 when the live stream opens, else the status the handshake was refused with."""
    headers = {"Authorization": f"Token {token}"} if token else {}
    try:
        with websockets.sync.client.connect(
            base.replace("http://", "ws://") + "/ws/incidents/", origin=origin, additional_headers=headers,
            open_timeout=10,
        ):  # fmt: skip
            return 101
    except websockets.exceptions.InvalidStatus as exc:
        return exc.response.status_code


def _login(base: str, password: str, **headers) -> int:
    with httpx.Client(base_url=base, headers=headers) as client:
        client.get("/accounts/login/")
        data = {"username": "admin", "password": password, "csrfmiddlewaretoken": client.cookies["csrftoken"]}
        return client.post("/accounts/login/", data=data).status_code


def test_a_real_server_refuses_foreign_hosts_and_origins(tmp_path):
    with running_server(tmp_path, env={"LOGIN_FAILURE_LIMIT": "3"}) as (base, token, _):
        assert httpx.get(base + "/accounts/login/", headers={"Host": "evil.example"}).status_code == 400
        evil = {"Host": "evil.example"}
        assert httpx.post(base + "/accounts/password_reset/", data={"email": "a@b.c"}, headers=evil).status_code == 400
        assert httpx.get(base + "/health/live", headers={"Host": "localhost"}).status_code == 200

        assert _ws_status(base, origin=base, token=token) == 101
        assert _ws_status(base, origin=base.replace("127.0.0.1", "localhost"), token=token) == 101
        assert _ws_status(base, origin="http://evil.example", token=token) == 403
        assert _ws_status(base, origin=None, token=token) == 101  # a script with its token
        assert _ws_status(base, origin=None) == 403

        # Not behind a proxy: X-Forwarded-For is ignored, so changing it does not escape the lockout.
        password = (tmp_path / "admin-password").read_text().strip()
        for i in range(3):
            _login(base, "wrong", **{"X-Forwarded-For": f"192.0.2.{i}"})
        assert _login(base, password, **{"X-Forwarded-For": "192.0.2.99"}) == 429


def test_behind_a_proxy_the_forwarded_client_address_counts(tmp_path):
    env = {"LOGIN_FAILURE_LIMIT": "3", "OPSASSIST_BEHIND_PROXY": "True", "FORWARDED_ALLOW_IPS": "127.0.0.1"}
    with running_server(tmp_path, env=env) as (base, _, _):
        password = (tmp_path / "admin-password").read_text().strip()
        for _ in range(3):
            _login(base, "wrong", **{"X-Forwarded-For": "192.0.2.1"})
        assert _login(base, password, **{"X-Forwarded-For": "192.0.2.1"}) == 429
        # Another client behind the same proxy is another address: not locked out.
        assert _login(base, password, **{"X-Forwarded-For": "192.0.2.2"}) == 302
