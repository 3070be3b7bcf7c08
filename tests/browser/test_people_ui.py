"""People added in the browser, end to end in real Chromium against a live server: an admin adds a person
and gets their set-password link; the person opens it in a browser of their own, chooses a password, signs
in and meets their role's limits; deactivated, they are signed out at once."""

from __future__ import annotations

import uuid

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.test_csp import _watch
from tests.browser.test_ui import browser, screenshot  # noqa: F401 - module fixture
from tests.server import running_server

pytestmark = pytest.mark.server
PASSWORD = "c0rrect-h0rse-battery"
DECLARE_INCIDENT = """fetch('/api/v1/incidents', {method: 'POST', body: '{}', headers: {'Content-Type':
  'application/json', 'X-CSRFToken': document.cookie.match(/csrftoken=([^;]+)/)[1]}}).then(r => r.status)"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    var = tmp_path_factory.mktemp("people-ui")
    with running_server(var) as (base, token, _):
        yield base, token, (var / "admin-password").read_text().strip()


def _signed_in(browser, base: str, username: str, password: str, width=1280, height=900):  # noqa: F811
    context = browser.new_context(
        viewport={"width": width, "height": height}, base_url=base, timezone_id="Europe/Berlin"
    )
    page = context.new_page()
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/", wait_until="load")
    page.wait_for_selector("body[data-tz-chosen='1']")  # the zone came with the login: no reload is pending
    return context, page


def test_an_admin_adds_a_person_who_sets_a_password_and_signs_in_as_a_viewer(browser, server):  # noqa: F811
    base, _, admin_password = server
    name = f"dana-{uuid.uuid4().hex[:5]}"
    admin_context, admin = _signed_in(browser, base, "admin", admin_password)
    admin.click("#main-nav >> text=People")
    admin.wait_for_url(base + "/people/")
    form = admin.locator("#new-person")
    form.locator("[name=username]").fill("dana scully")  # bad input: the field is named, nothing stored
    form.locator("[name=role]").select_option("viewer")
    form.locator("[name=username]").evaluate("el => el.removeAttribute('pattern')")
    form.locator("button[type=submit]").click()
    expect(form.locator(".form-error")).to_contain_text("username")
    form.locator("[name=username]").fill(name)
    form.locator("[name=name]").fill("Dana Scully")
    form.locator("button[type=submit]").click()
    expect(admin.locator("#secret")).to_be_visible()
    link = admin.locator("#secret-value").input_value()
    assert link.startswith(base + "/accounts/reset/")
    admin.click("#copy-secret")
    expect(admin.locator("#copy-done")).to_be_visible()
    expect(admin.locator(f"#people tr[data-person='{name}']")).to_contain_text("viewer")
    screenshot(admin, "people.png")

    # The person, in a browser of their own: the link, a password, then signing in.
    own = browser.new_context(base_url=base)
    page = own.new_page()
    problems = _watch(page)  # the set-password page under the Content-Security-Policy
    page.goto(link)
    page.fill("#id_new_password1", PASSWORD)
    page.fill("#id_new_password2", PASSWORD)
    page.click("input[type=submit], button[type=submit]")
    page.wait_for_url("**/accounts/reset/done/")
    page.goto(link)  # used once: dead now
    expect(page.locator("body")).not_to_contain_text("New password confirmation")
    assert problems == []
    own.close()
    context, page = _signed_in(browser, base, name, PASSWORD)
    page.goto("/people/")
    expect(page.locator(f"#people tr[data-person='{name}']")).to_contain_text("you")
    assert page.locator("#new-person").count() == 0 and page.locator("[data-issue-token]").count() == 0
    page.goto("/oncall/setup/")
    assert page.locator("#new-team").count() == 0  # a viewer reads the set-up, changes nothing
    assert page.evaluate(DECLARE_INCIDENT) == 403  # nor declares an incident

    # Deactivated by the admin: signed out at once.
    admin.reload()
    row = admin.locator(f"#people tr[data-person='{name}']")
    admin.once("dialog", lambda dialog: dialog.accept())
    row.locator("button", has_text="Deactivate").click()
    expect(admin.locator(f"#people tr[data-person='{name}']")).to_contain_text("deactivated")
    page.goto("/people/")
    assert "/accounts/login/" in page.url
    context.close()
    admin_context.close()


def test_the_people_page_fits_a_phone(browser, server):  # noqa: F811
    base, token, admin_password = server
    person = {"username": f"ph-{uuid.uuid4().hex[:5]}", "role": "responder", "email": "ph@example.com"}
    added = httpx.post(base + "/api/v1/users", json=person, headers={"Authorization": f"Token {token}"})
    assert added.status_code == 201
    context, page = _signed_in(browser, base, "admin", admin_password, width=390, height=844)
    problems = _watch(page)  # nothing the Content-Security-Policy blocks, no script errors
    page.goto("/people/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 400
    row = page.locator(f"#people tr[data-person='{person['username']}']")
    expect(row.locator("button", has_text="Issue token")).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    row.locator("button", has_text="Issue token").click()
    expect(page.locator("#secret")).to_be_visible()
    key = page.locator("#secret-value").input_value()
    me = httpx.get(base + "/api/v1/me", headers={"Authorization": f"Token {key}"})
    assert me.json()["username"] == person["username"] and me.json()["role"] == "responder"
    assert page.evaluate("document.documentElement.scrollWidth") <= 400
    page.click("#copy-secret")
    expect(page.locator("#copy-done")).to_be_visible()
    assert problems == []
    screenshot(page, "people-phone.png")
    context.close()
