"""A monitor created in the browser, then checked: real Chromium against a live server."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.test_oncall_ui import logged_in, server  # noqa: F401 - module fixture
from tests.browser.test_ui import browser, screenshot  # noqa: F401 - module fixture

pytestmark = pytest.mark.server


def test_a_monitor_created_in_the_page_is_checked(browser, server):  # noqa: F811
    base, _, _ = server
    name = f"site-{uuid.uuid4().hex[:5]}"
    context, page = logged_in(browser, server)
    page.goto("/monitors/")
    if not page.locator("#new-monitor summary").count():  # a busy test machine: one more try, then say what came
        page.reload()
    assert page.locator("#new-monitor summary").count(), page.content()[:2000]
    page.click("#new-monitor summary")
    form = page.locator("#monitor-create")
    form.locator("[name=name]").fill(name)
    form.locator("[name=kind]").select_option("http")
    assert form.locator("fieldset[data-kind=redis]").is_hidden()
    form.locator("[name=target]").fill(base + "/health/live")
    form.locator("[name=interval_seconds]").fill("2")
    form.locator("fieldset[data-kind=http] [name=latency_warn_ms]").fill("800")
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"**/monitors/{name}/")
    page.wait_for_selector("#live-status.on")
    page.click("#check-now")
    expect(page.locator("#monitor-status")).to_have_text("healthy", timeout=15000)
    expect(page.locator("#last-checked")).to_contain_text("Europe/Berlin")
    assert page.input_value("fieldset[data-kind=http] [name=latency_warn_ms]") == "800.0"
    page.wait_for_timeout(300)
    screenshot(page, "monitor.png")
    context.close()
