"""The incident list and page in real Chromium: declare, reassign (the new assignee is paged at a real local
webhook receiver), re-grade, bulk acknowledge, keyboard shortcuts, a postmortem edited, saved and exported,
and times labelled with the viewer's zone, at desktop and phone sizes."""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from oncall.tests.receiver import http_receiver
from tests.browser.test_oncall_ui import logged_in, server, wait_for  # noqa: F401 - module fixture
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


@contextmanager
def paged_at_a_receiver(server, username: str):  # noqa: F811
    """`username`'s contact method: a webhook to a real local receiver, removed afterwards."""
    base, token, _ = server
    headers = {"Authorization": f"Token {token}"}
    with http_receiver() as receiver:
        body = {"user": username, "kind": "webhook", "config": {"url": receiver.url}}
        created = httpx.post(base + "/api/v1/oncall/contacts", json=body, headers=headers)
        assert created.status_code == 201, created.text
        try:
            yield receiver
        finally:
            httpx.delete(f"{base}/api/v1/oncall/contacts/{created.json()['id']}", headers=headers)


def pages_for(receiver, incident_id: int, event: str) -> list[dict]:
    return [r["json"] for r in receiver.received
            if r["json"]["event"] == event and r["json"]["incident"]["id"] == incident_id]  # fmt: skip


def test_declare_reassign_and_regrade_on_the_incident_page(browser, server):  # noqa: F811
    base, token, _ = server
    context, page = logged_in(browser, server, zone="Asia/Tokyo")
    page.wait_for_selector("body[data-tz='Asia/Tokyo']")
    service = f"web-{uuid.uuid4().hex[:5]}"
    declare(page, service, "Checkout is slow")
    incident_id = int(page.locator("#incident").get_attribute("data-incident-id"))
    assert "Asia/Tokyo" in page.inner_text("time[data-field=detected_at]")  # labelled with the viewer's zone
    with paged_at_a_receiver(server, "ann") as receiver:
        page.select_option("#assignee", "ann")
        page.wait_for_selector("#incident strong[data-field=assigned_to]:has-text('ann')")
        paged = wait_for(lambda: pages_for(receiver, incident_id, "incident.reassigned"))
    assert paged[0]["incident"]["assigned_to"] == "ann" and len(paged) == 1
    expect(page.locator("#timeline")).to_contain_text("ann")
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
    incident = httpx.get(f"{base}/api/v1/incidents/{incident_id}", headers=headers).json()
    assert (incident["assigned_to"], incident["severity"], incident["status"]) == ("admin", "critical", "acknowledged")

    page.keyboard.press("r")  # resolve: the postmortem link appears
    page.wait_for_selector("#incident .status.status-resolved")
    page.click("#postmortem-link")
    write_save_and_export_the_postmortem(page, incident_id, "Checkout is slow")
    screenshot(page, "postmortem.png")
    saved = httpx.get(f"{base}/api/v1/incidents/{incident_id}/postmortem", headers=headers).json()
    assert saved["saved"] and saved["version"] == 1 and saved["updated_by"] == "admin"
    assert "We doubled the pool." in saved["markdown"] and "Connection pool too small" in saved["markdown"]
    page.goto(f"/incidents/{incident_id}/")
    expect(page.locator("#postmortem-link")).to_have_text("Postmortem (saved, version 1, admin)")
    page.wait_for_selector("#live-status.on")
    page.keyboard.press("/")  # search: the list opens with its folded filters unfolded and the box focused
    page.wait_for_url("**/incidents/#search")
    page.wait_for_function("document.activeElement && document.activeElement.name === 'q'")
    context.close()


def write_save_and_export_the_postmortem(page, incident_id: int, title: str) -> None:
    """Edit the draft, save it (who and when, in the viewer's zone), then download it as Markdown."""
    expect(page.locator("#postmortem-state")).to_contain_text("Not saved yet")
    page.fill("#markdown", page.input_value("#markdown") + "\nWe doubled the pool.\n")
    page.click("#save-postmortem")
    expect(page.locator("#postmortem-state")).to_contain_text("Saved version 1 by admin")
    zone = page.locator("body").get_attribute("data-tz")
    assert zone in page.inner_text("#postmortem-state time")  # labelled with the viewer's zone
    with page.expect_download() as download:
        page.click("#download-saved")
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert download.value.suggested_filename == f"postmortem-{incident_id}.md"
    assert text.startswith(f"# Postmortem: #{incident_id} {title}") and "We doubled the pool." in text


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


def test_a_phone_reassigns_bulk_acknowledges_and_saves_a_postmortem(browser, server):  # noqa: F811
    base, token, _ = server
    headers = {"Authorization": f"Token {token}"}
    service = f"phone-{uuid.uuid4().hex[:5]}"
    ids = []
    for n in range(2):
        body = {"title": f"Queue backlog {n}", "service": f"{service}-{n}", "severity": "medium"}
        created = httpx.post(base + "/api/v1/incidents", json=body, headers=headers)
        assert created.status_code == 201
        ids.append(created.json()["id"])
    context, page = logged_in(browser, server, width=390)
    page.goto(f"/incidents/?service_contains={service}")
    page.wait_for_selector("#live-status.on")
    assert page.locator("details.filters-box").get_attribute("open") is None  # filters folded away
    for incident_id in ids:  # no "select all" header on a phone: each card has its own box
        page.check(f"[data-select='{incident_id}']")
    page.click("button[data-bulk=acknowledged]")
    expect(page.locator("#incident-list .status-acknowledged")).to_have_count(2)
    zone = page.locator("body").get_attribute("data-tz")  # the profile's zone (first guessed from a browser)
    assert zone and zone in page.inner_text(f"tr[data-incident-id='{ids[0]}'] time")

    page.goto(f"/incidents/{ids[0]}/")
    page.wait_for_selector("#live-status.on")
    assert page.evaluate("document.documentElement.scrollWidth") <= 400
    with paged_at_a_receiver(server, "ben") as receiver:
        page.select_option("#assignee", "ben")
        paged = wait_for(lambda: pages_for(receiver, ids[0], "incident.reassigned"))
    assert paged[0]["incident"]["assigned_to"] == "ben"
    page.click("button[data-move=resolved]")
    page.wait_for_selector("#incident .status.status-resolved")
    page.click("#postmortem-link")
    write_save_and_export_the_postmortem(page, ids[0], "Queue backlog 0")
    assert page.evaluate("document.documentElement.scrollWidth") <= 400
    screenshot(page, "postmortem-phone.png")
    context.close()
