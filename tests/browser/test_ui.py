"""The product as a person uses it: real headless Chromium (Debian's) driven by Playwright against a
live `make up` server. Skipped locally without Chromium; CI installs it."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import httpx
import pytest

from conftest import TEST_POSTGRES_URL, _reachable, need
from tests.server import running_server, scratch_database

pytestmark = pytest.mark.server
ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]  # fmt: skip


@pytest.fixture(scope="module")
def browser():
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    need("Chromium (apt-get install chromium)", executable is not None)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    var = tmp_path_factory.mktemp("ui")
    with running_server(var) as (base, token, _):
        yield base, token, (var / "admin-password").read_text().strip()


def screenshot(page, name: str) -> None:
    folder = Path(os.environ.get("OPSASSIST_SCREENSHOTS", "") or (ROOT / "var" / "screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / name), full_page=True)


def logged_in(browser, server, width=1280):
    base, _, password = server
    context = browser.new_context(viewport={"width": width, "height": 900}, base_url=base)
    page = context.new_page()
    page.goto("/")
    assert "/accounts/login/" in page.url
    page.fill("#id_username", "admin")
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/")
    page.wait_for_selector("#live-status.on")
    return context, page


def burst(server, service: str) -> None:
    base, token, _ = server
    events = [{"service": service, "level": "ERROR", "message": f"Database connection timeout #{i}"} for i in range(5)]
    response = httpx.post(base + "/api/v1/events", json=events, headers={"Authorization": f"Token {token}"})
    assert response.status_code == 201


def test_a_new_incident_appears_on_the_open_dashboard(browser, server):
    context, page = logged_in(browser, server)
    service = f"orders-{uuid.uuid4().hex[:5]}"
    burst(server, service)
    row = page.wait_for_selector(f"#active-incidents tr:has-text('{service}')", timeout=5000)
    assert "open" in row.inner_text()
    page.wait_for_timeout(300)
    screenshot(page, "dashboard.png")
    context.close()


def test_acknowledge_on_the_incident_page_updates_a_second_page(browser, server):
    context, page = logged_in(browser, server)
    service = f"auth-{uuid.uuid4().hex[:5]}"
    burst(server, service)
    link = page.wait_for_selector(f"#active-incidents tr:has-text('{service}') a", timeout=5000)
    href = link.get_attribute("href")
    incident_page = context.new_page()
    incident_page.goto(href)
    incident_page.wait_for_selector("#live-status.on")
    watcher = context.new_page()
    watcher.goto("/incidents/")
    watcher.wait_for_selector("#live-status.on")
    incident_page.click("button[data-move=acknowledged]")
    incident_page.wait_for_selector("#incident .status.status-acknowledged")
    watcher.wait_for_selector(f"#incident-list tr:has-text('{service}') .status-acknowledged", timeout=5000)
    page.wait_for_selector(f"#active-incidents tr:has-text('{service}') .status-acknowledged", timeout=5000)
    context.close()


def test_the_remediation_flow_on_a_drill(browser, server):
    need("PostgreSQL", _reachable(TEST_POSTGRES_URL, 5432))
    base, token, _ = server
    headers = {"Authorization": f"Token {token}"}
    with scratch_database(TEST_POSTGRES_URL, "opsassist_ui") as target:
        monitor = {"name": "ui-db", "kind": "postgres", "target": target, "interval_seconds": 2, "drills_allowed": True}
        assert httpx.post(base + "/api/v1/monitors", json=monitor, headers=headers).status_code == 201
        context, page = logged_in(browser, server)
        page.goto("/monitors/")
        page.click("[data-monitor=ui-db] button[data-drill]")
        link = page.wait_for_selector("[data-monitor=ui-db] a[href^='/incidents/']", timeout=8000)
        link.click()
        page.wait_for_selector("#live-status.on")
        page.click("#start-remediation")
        page.wait_for_selector("#remediation-runs button[data-approve]", timeout=8000)
        assert "kill_idle_connections" in page.inner_text("#remediation-runs")
        page.click("#remediation-runs button[data-approve]")
        page.wait_for_selector("#remediation-runs .status-succeeded", timeout=15000)
        page.wait_for_selector("#incident .status.status-resolved", timeout=5000)
        page.wait_for_timeout(300)
        screenshot(page, "incident.png")
        httpx.post(base + "/api/v1/monitors/ui-db/simulate/clear", headers=headers)
        httpx.delete(base + "/api/v1/monitors/ui-db", headers=headers)
        context.close()


def test_pages_work_at_phone_width(browser, server):
    context, page = logged_in(browser, server, width=390)
    for path in ("/", "/incidents/", "/monitors/", "/oncall/"):
        page.goto(path)
        assert page.evaluate("document.documentElement.scrollWidth") <= 400, path
    context.close()
