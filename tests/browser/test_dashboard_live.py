"""The dashboard's reliability table and charts follow incident changes without a reload, in real Chromium."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.browser.test_ui import browser, logged_in, server  # noqa: F401 - module fixtures

pytestmark = pytest.mark.server

TODAY_TOTAL = """() => {
  const chart = Chart.getChart("chart-per-day");
  const last = chart.data.labels.length - 1;
  return chart.data.datasets.reduce((sum, d) => sum + (d.data[last] || 0), 0);
}"""


def test_the_reliability_table_and_chart_update_live(browser, server):  # noqa: F811
    base, token, _ = server
    context, page = logged_in(browser, server)
    before = page.evaluate(TODAY_TOTAL)
    service = f"ledger-{uuid.uuid4().hex[:5]}"
    headers = {"Authorization": f"Token {token}"}
    created = httpx.post(base + "/api/v1/incidents", headers=headers,
                         json={"title": "Ledger writes fail", "service": service, "severity": "critical"})  # fmt: skip
    assert created.status_code == 201
    row = page.wait_for_selector(f"#reliability tr[data-service='{service}']", timeout=8000)
    assert row.inner_text().split("\t")[-1].strip() == "1"  # Incidents (30 d)
    page.wait_for_function(f"() => ({TODAY_TOTAL})() === {before + 1}", timeout=8000)
    # Resolved: the service stays (it was down), and the page was never reloaded.
    page.evaluate("window.__same_page = true")
    httpx.patch(base + f"/api/v1/incidents/{created.json()['id']}/status", headers=headers, json={"status": "resolved"})
    page.wait_for_function("window.__same_page === true")
    assert page.locator(f"#reliability tr[data-service='{service}']").count() == 1
    context.close()
