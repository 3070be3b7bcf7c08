"""On-call set-up done in the browser, end to end in real Chromium against a live server, at desktop and
phone sizes: a team, a schedule, an override ("cover me") and a policy made in the pages, a contact method
(ntfy, to a local stand-in) tested and given a rule, then an incident pages the right person there; the
override edited (a refused value named next to its field); times labelled with the viewer's zone; the
calendar feed fetched without a session."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import expect

from oncall.tests.sink import http_sink
from tests.browser.test_ui import ROOT, browser, screenshot  # noqa: F401 - module fixture
from tests.server import running_server

pytestmark = pytest.mark.server
PEOPLE = ("ann", "ben")
SIZES = {"desktop": (1280, 900), "phone": (390, 844)}
BERLIN = ZoneInfo("Europe/Berlin")


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


def logged_in(browser, server, width=1280, zone="Europe/Berlin", height=900):  # noqa: F811
    base, _, password = server
    context = browser.new_context(viewport={"width": width, "height": height}, base_url=base, timezone_id=zone)
    page = context.new_page()
    page.goto("/accounts/login/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/")
    # Until a zone is chosen, the first page stores the browser's and reloads itself: wait for that, or the
    # caller's next navigation races the reload.
    page.wait_for_selector("body[data-tz-chosen='1']")
    page.wait_for_load_state("load")
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
    with page.expect_navigation():  # each save reloads the page
        form.locator("button[type=submit]").click()
    page.wait_for_selector(f"[data-team='{team}'] form")
    form = page.locator("#new-schedule")
    form.locator("[name=team]").select_option(team)
    assert form.locator("[name=time_zone]").input_value() == "Europe/Berlin"  # the browser's guess
    form.locator("[data-add-row=layers]").click()
    form.locator("[name=start_date]").fill((date.today() - timedelta(days=1)).isoformat())
    form.locator("[name=handoff_time]").fill("09:00")
    form.locator("[name=users]").fill(", ".join(PEOPLE))
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    page.wait_for_selector(f"[data-schedule] select[name=team] >> text={team}", state="attached")
    form = page.locator("#new-policy")
    form.locator("[name=team]").select_option(team)
    form.locator("[data-add-row=steps]").click()
    form.locator("[name=target]").select_option(label=f"{team} / Primary")
    form.locator("[name=wait_minutes]").fill("5")
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    page.wait_for_selector(f"[data-policy='{team}']")


def edit_the_setup(page, team: str, service: str) -> None:
    """What was created is edited in place: the team gets a second service, the policy a longer wait."""
    form = page.locator(f"[data-team='{team}'] form")
    form.locator("[name=services]").fill(f"{service}, {service}-api")
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    form = page.locator(f"[data-policy='{team}'] form")
    form.locator("[name=wait_minutes]").fill("10")
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    expect(page.locator(f"[data-team='{team}'] [name=services]")).to_have_value(f"{service}, {service}-api")
    expect(page.locator(f"[data-policy='{team}'] [name=wait_minutes]")).to_have_value("10")


def add_ntfy_method_for(page, team: str, person: str, sink, topic: str) -> None:
    """As an admin, from the team on the set-up page: a refused topic is named at its field; then a test
    page arrives at the stand-in, and a rule sends to it at once."""
    page.goto("/oncall/setup/")
    page.locator(f"[data-team='{team}'] .member-paging a", has_text=person).click()
    page.wait_for_url(f"**/oncall/people/{person}/")
    form = page.locator("#new-contact")
    form.locator("[name=kind]").select_option("ntfy")
    settings = form.locator("fieldset[data-kind=ntfy]")
    settings.locator("[name=server]").fill(sink.base)
    settings.locator("[name=topic]").fill("not a topic!")
    form.locator("button[type=submit]").click()
    expect(settings.locator("[name=topic] + .field-error")).to_be_visible()
    settings.locator("[name=topic]").fill(topic)
    with page.expect_navigation():  # saved: the page reloads with it
        form.locator("button[type=submit]").click()
    method = page.locator("[data-contact]", has_text=topic)
    method.locator("[data-test-contact]").click()
    expect(method.locator(".test-result")).to_contain_text("Test page sent")
    assert wait_for(lambda: [r for r in sink.received if r["body"]["topic"] == topic])
    rule = page.locator("#new-rule")
    rule.locator("[name=contact]").select_option(method.get_attribute("data-contact"))
    rule.locator("[name=delay_minutes]").fill("0")
    with page.expect_navigation():
        rule.locator("button[type=submit]").click()
    expect(page.locator(".rule > p", has_text=topic)).to_contain_text("Immediately")


def edit_the_override(page, section) -> tuple[str, str]:
    """The override's end moved a day earlier in its form; an end before the start is refused first."""
    section.locator("table.overrides tr[data-override] button[data-edit]").first.click()
    form = section.locator("form.override-form").first
    start, end = form.locator("[name=start]").input_value(), form.locator("[name=end]").input_value()
    form.locator("[name=end]").fill(start)
    form.locator("button[type=submit]").click()
    expect(form.locator("[name=end] + .field-error")).to_contain_text("after start")
    new_end = (datetime.fromisoformat(end) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    form.locator("[name=end]").fill(new_end)
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    return section.get_attribute("data-team"), new_end


@pytest.mark.parametrize("size", list(SIZES))
def test_a_team_set_up_in_the_pages_pages_whoever_covers_the_shift(browser, server, size):  # noqa: F811
    base, token, _ = server
    headers = {"Authorization": f"Token {token}"}
    suffix = uuid.uuid4().hex[:5]
    team, service = f"pay-{suffix}", f"checkout-{suffix}"
    context, page = logged_in(browser, server, *SIZES[size][:1], height=SIZES[size][1])
    assert page.locator("body[data-tz='Europe/Berlin']").count()  # guessed from the browser, saved
    set_up_in_the_pages(page, team, service)
    if size == "desktop":
        screenshot(page, "oncall-setup.png")
    form = page.locator("#new-team")  # bad input: a clear message naming the field, nothing stored
    form.locator("[name=name]").fill(team)
    form.locator("button[type=submit]").click()
    expect(form.locator(".form-error")).to_contain_text("name")
    expect(form.locator("[name=name] + .field-error")).to_be_visible()
    edit_the_setup(page, team, service)

    with http_sink() as sink:
        add_ntfy_method_for(page, team, "ben", sink, topic=f"ben-{suffix}")
        page.goto("/oncall/")
        section = page.locator(f"section[data-team='{team}']")
        assert "09:00 Europe/Berlin" in section.inner_text()  # the hand-off in the schedule's zone
        assert "Times in Europe/Berlin" in page.inner_text("main")
        assert section.locator("[data-on-call]").inner_text() == "ann"
        # "Cover me" in two clicks: the form opens with the shift and a teammate chosen.
        section.locator("button[data-cover]").first.click()
        with page.expect_navigation():
            section.locator(".cover-form button[type=submit]").click()
        page.wait_for_selector(f"section[data-team='{team}'] table.overrides")
        assert page.locator(f"section[data-team='{team}'] [data-on-call]").inner_text() == "ben"
        assert "Europe/Berlin" in section.locator("table.overrides tr[data-override]").first.inner_text()
        if size == "desktop":
            screenshot(page, "oncall.png")

        events = [{"service": service, "level": "ERROR", "message": f"Payment gateway timeout #{i}"} for i in range(5)]
        assert httpx.post(base + "/api/v1/events", json=events, headers=headers).status_code == 201

        def paged():
            incidents = httpx.get(base + "/api/v1/incidents", params={"service": service}, headers=headers).json()
            if not incidents:
                return None
            url = base + "/api/v1/notifications"
            sent = httpx.get(url, params={"incident": incidents[0]["id"]}, headers=headers).json()
            return {n["recipient"] for n in sent if n["recipient"]}

        assert wait_for(paged) == {"ben"}
        assert wait_for(lambda: [r for r in sink.received if service in r["body"].get("message", "")])

    _, new_end = edit_the_override(page, section)
    schedule = section.locator("[data-schedule]").first.get_attribute("data-schedule")
    saved = httpx.get(base + "/api/v1/oncall/overrides", params={"schedule": schedule}, headers=headers).json()
    wall = datetime.fromisoformat(new_end).replace(tzinfo=BERLIN)
    assert [datetime.fromisoformat(o["end"].replace("Z", "+00:00")) for o in saved] == [wall.astimezone(UTC)]

    feed = section.locator(".feed-url").first.input_value()
    assert feed.startswith(base + "/calendar/schedules/")
    response = httpx.get(feed)  # no session, no token: calendar apps cannot log in
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/calendar")
    assert "On call: ben" in response.text and "On call: ann" in response.text
    context.close()


def test_the_oncall_pages_fit_a_phone(browser, server):  # noqa: F811
    context, page = logged_in(browser, server, width=390, height=844)
    for path in ("/oncall/", "/oncall/setup/", "/profile/", "/oncall/people/ben/"):
        page.goto(path)
        assert page.evaluate("document.documentElement.scrollWidth") <= 400, path
        if path == "/oncall/setup/":
            screenshot(page, "oncall-setup-phone.png")
    screenshot(page, "oncall-person-phone.png")  # a teammate's contact methods and rules
    methods = page.locator("[data-contact]").count()
    if methods:  # delete one (after the confirmation): it goes with its rules
        page.once("dialog", lambda dialog: dialog.accept())
        with page.expect_navigation():
            page.locator("[data-contact] button[data-api-delete]").first.click()
        assert page.locator("[data-contact]").count() == methods - 1
    page.goto("/oncall/")
    if page.locator("table.shifts").count():  # shifts as cards: no header row, each time labelled with the zone
        assert page.locator("table.shifts thead").first.is_hidden()
        assert "Europe/Berlin" in page.locator("table.shifts tbody tr").first.inner_text()
    page.goto("/oncall/")
    assert page.locator("#main-nav").is_hidden()
    page.click(".nav-toggle")
    assert page.locator("#main-nav").is_visible()
    screenshot(page, "oncall-phone.png")
    context.close()
