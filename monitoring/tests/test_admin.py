import pytest

from monitoring.models import Monitor

pytestmark = pytest.mark.django_db


def test_the_admin_never_shows_the_password_and_keeps_it(client, admin_user):
    client.force_login(admin_user)
    monitor = Monitor.objects.create(name="db", kind="postgres", target="postgres://app:hunter2@db:5432/x")
    page = client.get(f"/admin/monitoring/monitor/{monitor.pk}/change/")
    assert page.status_code == 200 and b"hunter2" not in page.content
    data = {"name": "db", "kind": "postgres", "target": monitor.safe_target, "service": "", "team": "",
            "interval_seconds": 10, "timeout_seconds": 3, "config": "{}", "enabled": "on", "pinned_host": "",
            "status": "unknown", "next_check_at_0": "2026-01-01", "next_check_at_1": "00:00:00"}  # fmt: skip
    response = client.post(f"/admin/monitoring/monitor/{monitor.pk}/change/", data)
    assert response.status_code == 302, response.content[:2000]
    monitor.refresh_from_db()
    assert monitor.target == "postgres://app:hunter2@db:5432/x"
    assert monitor.interval_seconds == 10


def test_the_admin_form_checks_thresholds_like_the_api(client, admin_user):
    client.force_login(admin_user)
    monitor = Monitor.objects.create(name="cache", kind="redis", target="redis://cache:6379/0")
    data = {"name": "cache", "kind": "redis", "target": monitor.target, "service": "", "team": "",
            "interval_seconds": 5, "timeout_seconds": 3, "config": '{"allow_flushdb": true}', "enabled": "on",
            "pinned_host": "", "status": "unknown", "next_check_at_0": "2026-01-01",
            "next_check_at_1": "00:00:00"}  # fmt: skip
    response = client.post(f"/admin/monitoring/monitor/{monitor.pk}/change/", data)
    assert response.status_code == 200 and b"allow_flushdb: unknown key" in response.content
    monitor.refresh_from_db()
    assert monitor.config == {}
