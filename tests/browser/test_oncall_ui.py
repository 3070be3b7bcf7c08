"""On-call set-up done in the browser, end to end in real Chromium against a live server: a team, a
schedule, an override ("cover me") and a policy made in the pages, then an incident pages the right person;
times labelled with the viewer's zone; the calendar feed fetched without a session."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from datetime import date, timedelta

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.test_ui import ROOT, browser, screenshot  # noqa: F401 - module fixture
from tests.server import running_server

pytestmark = pytest.mark.server
PEOPLE = ("ann", "ben")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    var = tmp_path_factory.mktemp("oncall-ui")
    with running_server(var) as (base, token, _):
        env = {**os.environ, "OPSASSIST_VAR_DIR": str(var)}
        env.pop("DATABASE_URL", None)
        script = "from django.contrib.auth.models import User\n" + "".join(
            f"User.objects.get_or_create(username={name!r}, defaults={{'email': '{name}@example.com'}})\n"
            for name in PEOPLE
        )
        subprocess.run([sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT, env=env, check=True,
                       capture_output=True, timeout=120)  # fmt: skip
        yield base, token, (var / "admin-password").read_text().strip()


def logged_in(browser, server, width=1280, zone="Europe/Berlin"):  # noqa: F811
    base, _, password = server
    context = browser.new_context(viewport={"width": width, "height": 900}, base_url=base, timezone_id=zone)
    page = context.new_page()
    page.goto("/accounts/login/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/")
    return context, page


def wait_for(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError("timed out")


def set_up_in_the_pages(page, team: str, service: str) -> None:
    page.goto("/oncall/setup/")
    form = page.locator("#new-team")
    form.locator("[name=name]").fill(team)
    form.locator("[name=members]").select_option(list(PEOPLE))
    form.locator("[name=services]").fill(service)
    form.locator("button[type=submit]").click()
    page.wait_for_selector(f"[data-team='{team}'] form")
    form = page.locator("#new-schedule")
    form.locator("[name=team]").select_option(team)
    assert form.locator("[name=time_zone]").input_value() == "Europe/Berlin"  # the browser's guess
    form.locator("[data-add-row=layers]").click()
    form.locator("[name=start_date]").fill((date.today() - timedelta(days=1)).isoformat())
    form.locator("[name=handoff_time]").fill("09:00")
    form.locator("[name=users]").fill(", ".join(PEOPLE))
    form.locator("button[type=submit]").click()
    page.wait_for_selector(f"[data-schedule] select[name=team] >> text={team}", state="attached")
    form = page.locator("#new-policy")
    form.locator("[name=team]").select_option(team)
    form.locator("[data-add-row=steps]").click()
    form.locator("[name=target]").select_option(label=f"{team} / Primary")
    form.locator("[name=wait_minutes]").fill("5")
    form.locator("button[type=submit]").click()
    page.wait_for_selector(f"[data-policy='{team}']")


def test_a_team_set_up_in_the_pages_pages_whoever_covers_the_shift(browser, server):  # noqa: F811
    base, token, _ = server
    team, service = f"pay-{uuid.uuid4().hex[:5]}", f"checkout-{uuid.uuid4().hex[:5]}"
    context, page = logged_in(browser, server)
    page.wait_for_selector("body[data-tz='Europe/Berlin']")  # guessed from the browser, saved
    set_up_in_the_pages(page, team, service)
    screenshot(page, "oncall-setup.png")
    form = page.locator("#new-team")  # bad input: a clear message naming the field, nothing stored
    form.locator("[name=name]").fill(team)
    form.locator("button[type=submit]").click()
    expect(form.locator(".form-error")).to_contain_text("name")

    page.goto("/oncall/")
    section = page.locator(f"section[data-team='{team}']")
    assert "09:00 Europe/Berlin" in section.inner_text()  # the hand-off in the schedule's zone
    assert "Times in Europe/Berlin" in page.inner_text("main")
    assert section.locator("[data-on-call]").inner_text() == "ann"
    # "Cover me" in two clicks: the form opens with the shift and a teammate chosen.
    section.locator("button[data-cover]").first.click()
    section.locator(".cover-form button[type=submit]").click()
    page.wait_for_selector(f"section[data-team='{team}'] table.overrides")
    assert page.locator(f"section[data-team='{team}'] [data-on-call]").inner_text() == "ben"
    screenshot(page, "oncall.png")

    headers = {"Authorization": f"Token {token}"}
    events = [{"service": service, "level": "ERROR", "message": f"Payment gateway timeout #{i}"} for i in range(5)]
    assert httpx.post(base + "/api/v1/events", json=events, headers=headers).status_code == 201

    def paged():
        incidents = httpx.get(base + "/api/v1/incidents", params={"service": service}, headers=headers).json()
        if not incidents:
            return None
        url = base + "/api/v1/notifications"
        sent = httpx.get(url, params={"incident": incidents[0]["id"]}, headers=headers).json()
        return [n["recipient"] for n in sent if n["recipient"]]

    assert wait_for(paged) == ["ben"]

    feed = section.locator(".feed-url").first.input_value()
    assert feed.startswith(base + "/calendar/schedules/")
    response = httpx.get(feed)  # no session, no token: calendar apps cannot log in
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/calendar")
    assert "On call: ben" in response.text and "On call: ann" in response.text
    context.close()


def test_the_oncall_pages_fit_a_phone(browser, server):  # noqa: F811
    context, page = logged_in(browser, server, width=390)
    for path in ("/oncall/", "/oncall/setup/", "/profile/"):
        page.goto(path)
        assert page.evaluate("document.documentElement.scrollWidth") <= 400, path
    page.goto("/oncall/")
    assert page.locator("#main-nav").is_hidden()
    page.click(".nav-toggle")
    assert page.locator("#main-nav").is_visible()
    screenshot(page, "oncall-phone.png")
    context.close()
