"""A paged person acknowledges from the notification itself: the acknowledge link, opened in a fresh browser
with no session, asks for confirmation and acknowledges; a dashboard open elsewhere shows it live.
Real Chromium against a live `make up` server; the notification reaches a real local webhook receiver."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from oncall.tests.receiver import http_receiver
from tests.browser.test_ui import browser, burst, logged_in, screenshot  # noqa: F401 - the browser fixture
from tests.server import running_server

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    var = tmp_path_factory.mktemp("links")
    with running_server(var) as (base, token, _):
        yield base, token, (var / "admin-password").read_text().strip()


def page_admin_for(server, service: str, receiver_url: str) -> None:
    """admin is on call for `service` and paged by webhook to the receiver."""
    base, token, _ = server
    headers = {"Authorization": f"Token {token}"}
    team = f"team-{service}"
    calls = [
        ("oncall/teams", {"name": team, "members": ["admin"], "services": [service]}),
        ("oncall/schedules", {"team": team, "name": "Primary",
                              "layers": [{"start_date": "2026-01-01", "users": ["admin"]}]}),
        ("oncall/contacts", {"user": "admin", "kind": "webhook", "config": {"url": receiver_url}}),
    ]  # fmt: skip
    for path, body in calls:
        response = httpx.post(f"{base}/api/v1/{path}", json=body, headers=headers)
        assert response.status_code == 201, response.text


def wait_for_links(receiver, timeout: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for received in receiver.received:
            if (received["json"] or {}).get("links", {}).get("acknowledge"):
                return received["json"]["links"]
        time.sleep(0.2)
    raise AssertionError(f"no notification with links arrived: {receiver.received}")


def test_an_acknowledge_link_works_in_a_fresh_browser_and_the_dashboard_shows_it(browser, server):  # noqa: F811
    service = f"shop-{uuid.uuid4().hex[:5]}"
    with http_receiver() as receiver:
        page_admin_for(server, service, receiver.url)
        dashboard_context, dashboard = logged_in(browser, server)
        burst(server, service)
        dashboard.wait_for_selector(f"#active-incidents tr:has-text('{service}')", timeout=8000)
        links = wait_for_links(receiver)

    fresh = browser.new_context(viewport={"width": 800, "height": 700})
    page = fresh.new_page()
    page.goto(links["acknowledge"])
    assert "/accounts/login/" not in page.url
    page.wait_for_selector("#confirm-action")
    assert service in page.inner_text("main") and "open" in page.inner_text("#incident-status")
    screenshot(page, "action-link-confirm.png")
    page.click("#confirm-action")
    page.wait_for_selector("#incident-status.status-acknowledged")
    assert "acknowledged" in page.inner_text(".action-message")
    screenshot(page, "action-link-done.png")

    dashboard.wait_for_selector(f"#active-incidents tr:has-text('{service}') .status-acknowledged", timeout=8000)

    page.goto(links["snooze"])
    assert page.input_value("#minutes") == "30"
    screenshot(page, "action-link-snooze.png")

    page.goto(links["acknowledge"])  # the same link again: used up, nothing to click
    assert page.locator("#confirm-action").count() == 0
    assert "already been used" in page.inner_text("main")
    fresh.close()
    dashboard_context.close()
