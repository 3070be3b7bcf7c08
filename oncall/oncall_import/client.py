"""Grafana OnCall's public API, read-only: every page of a list (`count` / `next` / `results`).

The API URL passes the outbound policy, on write and at connect time (opsassist.lib.outbound's client).
A `next` link must stay on the same scheme, host and port as the URL given, so that a hostile server
cannot send the key elsewhere; pages and their size are capped.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import httpx

from opsassist.lib import outbound
from opsassist.lib.errors import ServiceError

MAX_PAGES = 1000
MAX_PAGE_BYTES = 20 * 1024 * 1024
TIMEOUT_SECONDS = 30
RESOURCES = (
    "users", "teams", "schedules", "on_call_shifts", "escalation_chains", "escalation_policies", "integrations",
    "routes", "personal_notification_rules",
)  # fmt: skip


class OnCallAPIError(ServiceError):
    """Reading OnCall's API failed; the message says which request and why (never the key)."""


def api_base(url: str) -> str:
    """`https://host/oncall` or `https://host/oncall/api/v1/` → `https://host/oncall/api/v1`."""
    url = url.strip().rstrip("/")
    if not url.lower().startswith(("http://", "https://")) or not urlsplit(url).hostname:
        raise OnCallAPIError("The OnCall API URL must start with https:// or http:// and name a host.", "url")
    return url if url.endswith("/api/v1") else url + "/api/v1"


def _origin(url: str) -> tuple:
    parts = urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port


class OnCallClient:
    def __init__(self, url: str, token: str):
        if not token:
            raise OnCallAPIError("An OnCall API key is required.", "token")
        self.base = api_base(url)
        try:
            outbound.check_url(self.base)
        except outbound.OutboundRefused as exc:
            raise OnCallAPIError(exc.message, "url") from None
        headers = {"Authorization": token, "Accept": "application/json", "User-Agent": "OpsAssist-import"}
        self.http = outbound.http_client(timeout=TIMEOUT_SECONDS, headers=headers)

    def close(self) -> None:
        self.http.close()

    def list_all(self, resource: str) -> list[dict]:
        """Every item of `/api/v1/<resource>/`, following `next` page after page."""
        url: str | None = f"{self.base}/{resource}/"
        seen: set[str] = set()
        items: list[dict] = []
        while url:
            if url in seen or len(seen) >= MAX_PAGES:
                raise OnCallAPIError(f"{resource}: the pages do not end (page {len(seen) + 1}).", "url")
            if _origin(url) != _origin(self.base):
                raise OnCallAPIError(f"{resource}: a 'next' link leads to another server; refused.", "url")
            seen.add(url)
            page = self._get(url, resource)
            if not isinstance(page, dict) or not isinstance(page.get("results"), list):
                raise OnCallAPIError(f"{resource}: the answer is not a page of results.", "url")
            items.extend(item for item in page["results"] if isinstance(item, dict) and isinstance(item.get("id"), str))
            url = page.get("next") if isinstance(page.get("next"), str) else None
        return items

    def _get(self, url: str, resource: str):
        try:
            with self.http.stream("GET", url) as response:
                if response.status_code in (401, 403):
                    raise OnCallAPIError(f"{resource}: OnCall refused the key (HTTP {response.status_code}).", "token")
                if response.status_code != 200:
                    raise OnCallAPIError(f"{resource}: OnCall answered HTTP {response.status_code}.", "url")
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_PAGE_BYTES:
                        raise OnCallAPIError(f"{resource}: a page is larger than {MAX_PAGE_BYTES} bytes.", "url")
        except outbound.OutboundRefused as exc:
            raise OnCallAPIError(exc.message, "url") from None
        except httpx.HTTPError as exc:
            raise OnCallAPIError(f"{resource}: cannot reach OnCall ({type(exc).__name__}).", "url") from None
        try:
            return json.loads(body)
        except ValueError:
            raise OnCallAPIError(f"{resource}: the answer is not JSON.", "url") from None

    def fetch_all(self) -> dict[str, list[dict]]:
        return {resource: self.list_all(resource) for resource in RESOURCES}
