"""Regenerate the pictures in docs/screenshots: a fresh embedded install (SQLite, no Redis) with four weeks
of demo history, an on-call team, open and resolved incidents, then every page the team works in, taken
in Debian's Chromium at desktop size (1280 wide) and phone size (390x844).

    .venv/bin/python scripts/screenshots.py                 # writes docs/screenshots/<page>[-phone].png
    .venv/bin/python scripts/screenshots.py --out /tmp/shots

Needs Chromium (`make test-deps`). Nothing is left running: the server is stopped with Ctrl-C at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.server import STRIPPED, running_server  # noqa: E402

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
ZONE = "Europe/Berlin"
PEOPLE = {"ann": "responder", "ben": "responder", "carol": "viewer"}
# Who is who in the pictures; the passwords never leave the throwaway install.
CREATE_PEOPLE = """
from django.contrib.auth.models import Group, User
for name, role in {people}.items():
    user, _ = User.objects.get_or_create(username=name, defaults={{"email": name + "@example.com"}})
    user.groups.add(Group.objects.get(name=role))
"""


def manage(var: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in STRIPPED}
    env["OPSASSIST_VAR_DIR"] = str(var)
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


class Api:
    def __init__(self, base: str, token: str):
        self.client = httpx.Client(base_url=base + "/api/v1", headers={"Authorization": f"Token {token}"}, timeout=30)

    def call(self, method: str, path: str, body=None, ok=(200, 201, 202, 204)):
        response = self.client.request(method, path, json=body)
        if response.status_code not in ok:
            raise SystemExit(f"{method} {path} -> {response.status_code}: {response.text[:500]}")
        return response.json() if response.content else None

    def wait_for_incident(self, service: str, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.call("GET", f"/incidents?service={service}&status=open")
            if found:
                return found[0]
            time.sleep(0.5)
        raise SystemExit(f"no incident for {service} within {timeout:.0f} s")


def set_the_scene(api: Api, var: Path) -> dict[str, int]:
    """An on-call team for checkout, two open incidents (one acknowledged) and one resolved with a root cause."""
    manage(var, "seed_demo")
    manage(var, "shell", "-c", CREATE_PEOPLE.format(people=json.dumps(PEOPLE)))
    api.call("POST", "/oncall/teams", {"name": "payments", "members": ["ann", "ben"], "services": ["checkout"]})
    api.call("POST", "/oncall/schedules", {
        "team": "payments", "name": "Primary", "time_zone": ZONE,
        "layers": [{"name": "Weekly", "start_date": "2026-01-05", "handoff_time": "09:00", "rotation_days": 7,
                    "users": ["ann", "ben"]}],
    })  # fmt: skip
    ids = {}
    for service, message in [
        ("checkout", "Database connection timeout: failed to connect to PostgreSQL"),
        ("catalog", "p99 latency 4.2s over SLO of 800ms"),
        ("billing", "Upstream request timeout: connection refused"),
    ]:
        events = [{"service": service, "level": "ERROR", "message": f"{message} #{i}"} for i in range(5)]
        api.call("POST", "/events", events)
        ids[service] = api.wait_for_incident(service)["id"]
    api.call("PATCH", f"/incidents/{ids['catalog']}/status", {"status": "acknowledged"})
    api.call("PATCH", f"/incidents/{ids['billing']}", {
        "status": "resolved", "root_cause": "Connection pool exhausted after a deploy",
        "resolution_notes": "Pool size raised from 10 to 40", "note": "Deploy rolled forward with the fix",
    })  # fmt: skip
    return ids


def pages(api: Api, ids: dict[str, int]) -> list[tuple[str, str]]:
    monitors = api.call("GET", "/monitors")
    shown = [
        ("dashboard", "/"),
        ("incidents", "/incidents/"),
        ("incident-page", f"/incidents/{ids['checkout']}/"),
        ("monitors", "/monitors/"),
        ("oncall", "/oncall/"),
        ("oncall-setup", "/oncall/setup/"),
        ("profile", "/profile/"),
        ("postmortem", f"/incidents/{ids['billing']}/postmortem"),
        ("maintenance", "/maintenance/"),
        ("people", "/people/"),
    ]
    if monitors:
        shown.insert(4, ("monitor", f"/monitors/{monitors[0]['name']}/"))
    return shown


def shoot(base: str, password: str, shown: list[tuple[str, str]], out: Path) -> list[str]:
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if not executable:
        raise SystemExit("Chromium not found: make test-deps")
    written = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox", "--disable-gpu"])
        for suffix, viewport, mobile in [("", DESKTOP, False), ("-phone", PHONE, True)]:
            context = browser.new_context(viewport=viewport, base_url=base, timezone_id=ZONE, is_mobile=mobile,
                                          has_touch=mobile)  # fmt: skip
            page = context.new_page()
            page.goto("/accounts/login/")
            page.fill("#id_username", "admin")
            page.fill("#id_password", password)
            page.click("button[type=submit]")
            page.wait_for_url(base + "/")
            for name, path in shown:
                response = page.goto(path)  # None when the page is already there (the dashboard after login)
                if response is not None and response.status != 200:
                    print(f"  skipped {path}: {response.status}")
                    continue
                page.wait_for_load_state("networkidle")
                page.wait_for_timeout(400)  # charts and live status settle
                target = out / f"{name}{suffix}.png"
                page.screenshot(path=str(target), full_page=not mobile)
                written.append(target.name)
            context.close()
        browser.close()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="opsassist-shots-") as tmp:
        var = Path(tmp)
        with running_server(var) as (base, token, _):
            api = Api(base, token)
            ids = set_the_scene(api, var)
            written = shoot(base, (var / "admin-password").read_text().strip(), pages(api, ids), args.out)
    print(f"wrote {len(written)} pictures to {args.out}: {', '.join(written)}")


if __name__ == "__main__":
    main()
