"""The pages, the API docs and the admin under the Content-Security-Policy, in real Chromium: nothing the
browser blocks, and the live stream connects. Skipped locally without Chromium; CI installs it."""

from __future__ import annotations

import pytest

from tests.browser.test_ui import browser, logged_in, server  # noqa: F401 - module fixtures

pytestmark = pytest.mark.server

PAGES = ["/", "/incidents/", "/monitors/", "/oncall/", "/oncall/setup/", "/profile/", "/docs", "/admin/",
         "/admin/auth/user/"]  # fmt: skip


def _watch(page) -> list[str]:
    """Collects CSP violations (the browser reports each as a console error) and script errors."""
    problems: list[str] = []
    # Chromium reports each blocked script, style or connection as a console error ("Refused to ...");
    # a missing /favicon.ico on the admin pages is not the policy's doing.
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" and "404" not in m.text else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return problems


def test_no_page_breaks_the_content_security_policy(browser, server):  # noqa: F811
    context, page = logged_in(browser, server)
    problems = _watch(page)
    for path in PAGES:
        page.goto(path)
        page.wait_for_load_state("networkidle")
        if path == "/docs":
            page.wait_for_selector(".swagger-ui .opblock", timeout=10000)
        assert problems == [], f"{path}: {problems}"
    context.close()


def test_the_dashboard_is_live_under_the_policy(browser, server):  # noqa: F811
    context, page = logged_in(browser, server)  # waits for #live-status.on: the WebSocket connected
    assert page.eval_on_selector("#live-status", "e => e.classList.contains('on')")
    context.close()


def test_the_login_page_is_clean_before_login(browser, server):  # noqa: F811
    base, _, _ = server
    context = browser.new_context(base_url=base)
    page = context.new_page()
    problems = _watch(page)
    page.goto("/accounts/login/")
    page.wait_for_load_state("networkidle")
    assert problems == []
    context.close()
