"""The incident list and page in real Chromium: declare, reassign, re-grade, bulk acknowledge, keyboard
shortcuts and times labelled with the viewer's zone, at desktop and phone sizes."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.test_oncall_ui import logged_in, server  # noqa: F401 - module fixture
from tests.browser.test_ui import browser, screenshot  # noqa: F401 - module fixture

pytestmark = pytest.mark.server


def declare(page, service: str, title: str) -> None:
    page.goto("/incidents/")
    page.click("#declare summary")
    form = page.locator("#declare-form")
    form.locator("[name=title]").fill(title)
    form.locator("[name=service]").fill(service)
    form.locator("[name=severity]").select_option("medium")
    form.locator("button[type=submit]").click()
    page.wait_for_url("**/incidents/*/")
    page.wait_for_selector("#live-status.on")


def test_declare_reassign_and_regrade_on_the_incident_page(browser, server):  # noqa: F811
    base, token, _ = server
    context, page = logged_in(browser, server, zone="Asia/Tokyo")
    page.wait_for_selector("body[data-tz='Asia/Tokyo']")
    service = f"web-{uuid.uuid4().hex[:5]}"
    declare(page, service, "Checkout is slow")
    assert "Asia/Tokyo" in page.inner_text("time[data-field=detected_at]")  # labelled with the viewer's zone
    page.select_option("#assignee", "ann")
    page.wait_for_selector("#incident strong[data-field=assigned_to]:has-text('ann')")
    page.select_option("#severity", "critical")
    page.wait_for_selector("#incident .sev.sev-critical")
    page.click("#assign-me")
    page.wait_for_selector("#incident strong[data-field=assigned_to]:has-text('admin')")
    page.fill("#root-cause", "Connection pool too small")
    page.click("#rca-form button[type=submit]")
    page.wait_for_load_state("load")
    page.wait_for_selector("#live-status.on")
    assert page.input_value("#root-cause") == "Connection pool too small"
    page.keyboard.press("a")  # acknowledge
    page.wait_for_selector("#incident .status.status-acknowledged")
    page.keyboard.press("?")
    assert page.locator("#shortcuts").is_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#timeline li").first).to_contain_text("acknowledged", ignore_case=True)  # newest first
    screenshot(page, "incident-page.png")
    headers = {"Authorization": f"Token {token}"}
    incident = httpx.get(base + "/api/v1/incidents", params={"service": service}, headers=headers).json()[0]
    assert (incident["assigned_to"], incident["severity"], incident["status"]) == ("admin", "critical", "acknowledged")

    page.keyboard.press("r")  # resolve: the postmortem link appears
    page.wait_for_selector("#incident .status.status-resolved")
    page.click("#postmortem-link")
    page.fill("#markdown", page.input_value("#markdown") + "\nWe doubled the pool.\n")
    screenshot(page, "postmortem.png")
    with page.expect_download() as download:
        page.click("button[value=download]")
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert text.startswith(f"# Postmortem: #{incident['id']} Checkout is slow") and "We doubled the pool." in text
    assert "Connection pool too small" in text
    context.close()


def test_bulk_acknowledge_from_the_list(browser, server):  # noqa: F811
    base, token, _ = server
    headers = {"Authorization": f"Token {token}"}
    service = f"bulk-{uuid.uuid4().hex[:5]}"
    for n in range(3):
        body = {"title": f"Disk full {n}", "service": f"{service}-{n}", "severity": "low"}
        assert httpx.post(base + "/api/v1/incidents", json=body, headers=headers).status_code == 201
    context, page = logged_in(browser, server)
    page.goto(f"/incidents/?service_contains={service}")
    page.wait_for_selector("#live-status.on")
    assert page.locator("#incident-list tbody tr").count() == 3
    page.check("#select-all")
    page.click("button[data-bulk=acknowledged]")
    expect(page.locator("#incident-list .status-acknowledged")).to_have_count(3)
    screenshot(page, "incidents.png")
    context.close()
    context, page = logged_in(browser, server, width=390)
    page.goto(f"/incidents/?service_contains={service}")
    assert page.evaluate("document.documentElement.scrollWidth") <= 400
    assert page.locator("#incident-list tbody tr .status").first.is_visible()  # status visible on a phone
    screenshot(page, "incidents-phone.png")
    context.close()
