"""The outbound policy (where monitors and notifications may connect), error text every role may read,
and secrets in outbound URLs kept out of logs and output."""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from incidents import services as incident_services
from monitoring.models import CheckResult, Monitor
from oncall.models import Channel, Notification
from oncall.tests.factories import team_with_rotation
from opsassist.lib import outbound
from opsassist.lib.redact import redact_url
from tests.server import serving

pytestmark = pytest.mark.django_db

METADATA_TARGETS = [
    ("http", "http://169.254.169.254/latest/meta-data/iam/security-credentials/"),
    ("http", "http://metadata.google.internal/computeMetadata/v1/"),
    ("http", "http://METADATA.google.internal./computeMetadata/v1/"),
    ("http", "http://[::ffff:169.254.169.254]/"),
    ("http", "http://[::ffff:a9fe:a9fe]/"),
    ("http", "http://2852039166/"),
    ("http", "http://0xa9fea9fe/"),
    ("http", "http://0251.0376.0251.0376/"),
    ("http", "http://169.254.43518/"),
    ("http", "http://[64:ff9b::a9fe:a9fe]/"),
    ("http", "http://[fd00:ec2::254]/"),
    ("tcp", "tcp://169.254.169.254:80"),
    ("tcp", "tcp://[fe80::1]:22"),
    ("tcp", "tcp://0.0.0.0:22"),
    ("redis", "redis://metadata:6379/0"),
    ("postgres", "postgres://app:pw@169.254.169.254:5432/app"),
    ("postgres", "postgres://app:pw@db.example/app?host=169.254.169.254"),
    ("postgres", "postgres://app:pw@db.example/app?hostaddr=169.254.169.254"),
]


class Receiver(ThreadingHTTPServer):
    """A real local HTTP server answering every request with `status` and `body`, counting requests."""

    daemon_threads = True
    status, body, requests = 200, b"ok", 0


class Handler(BaseHTTPRequestHandler):
    def _answer(self):
        self.server.requests += 1
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(self.server.status)
        self.send_header("Content-Length", str(len(self.server.body)))
        self.end_headers()
        self.wfile.write(self.server.body)

    def do_GET(self):
        self._answer()

    def do_POST(self):
        self._answer()

    def log_message(self, *args):
        pass


@contextmanager
def receiver(status: int = 200, body: bytes = b"ok"):
    server = Receiver(("127.0.0.1", 0), Handler)
    server.status, server.body = status, body
    with serving(server):
        yield server


@contextmanager
def resolver(monkeypatch, answers: dict[str, str]):
    """Makes names resolve (in the outbound module only) to the addresses in `answers`, which the test
    may change later; other names resolve for real."""
    real = outbound.resolve
    monkeypatch.setattr(
        outbound, "resolve", lambda host, port: [answers[host]] if host in answers else real(host, port)
    )
    yield answers


@pytest.fixture
def deny_loopback(settings):
    settings.OUTBOUND_DENY = [*settings.OUTBOUND_DENY, "127.0.0.0/8", "::1/128"]


@pytest.mark.parametrize("client", ["api", "responder_api"])
@pytest.mark.parametrize(("kind", "target"), METADATA_TARGETS)
def test_a_monitor_on_the_metadata_address_is_refused(request, client, kind, target):
    api = request.getfixturevalue(client)
    response = api.post("/api/v1/monitors", {"name": "meta", "kind": kind, "target": target}, format="json")
    assert response.status_code == 400, response.content
    assert "target" in response.json()["errors"]
    assert not Monitor.objects.exists()


def test_a_monitor_on_a_local_service_is_still_allowed(responder_api):
    body = {"name": "local", "kind": "tcp", "target": "tcp://127.0.0.1:5432"}
    assert responder_api.post("/api/v1/monitors", body, format="json").status_code == 201


@pytest.mark.parametrize(
    "host",
    ["169.254.169.254", "2852039166", "0xA9FEA9FE", "0251.0376.0251.0376", "169.254.43518", "::ffff:169.254.169.254",
     "[::ffff:a9fe:a9fe]", "::169.254.169.254", "64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::1", "fe80::1%eth0", "0",
     "0.0.0.0", "::", "metadata.google.internal", "x.metadata.google.internal", "Metadata.Goog.",  # noqa: S104
     "instance-data"],
)  # fmt: skip
def test_every_spelling_of_a_denied_destination_is_recognised(host):
    with pytest.raises(outbound.OutboundRefused):
        outbound.check_name(host)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "10.1.2.3", "db.internal.example", "metadata-service"])
def test_ordinary_destinations_pass(host):
    outbound.check_name(host)


def test_outbound_allow_refuses_anything_outside(api, settings):
    settings.OUTBOUND_ALLOW = ["10.0.0.0/8"]
    outside = {"name": "outside", "kind": "tcp", "target": "tcp://127.0.0.1:5432"}
    response = api.post("/api/v1/monitors", outside, format="json")
    assert response.status_code == 400 and "OUTBOUND_ALLOW" in response.json()["errors"]["target"][0]
    mapped = {"name": "mapped", "kind": "http", "target": "http://[::ffff:7f00:1]/"}
    assert api.post("/api/v1/monitors", mapped, format="json").status_code == 400
    inside = {"name": "inside", "kind": "http", "target": "http://10.1.2.3/health"}
    assert api.post("/api/v1/monitors", inside, format="json").status_code == 201
    inside_mapped = {"name": "inside-mapped", "kind": "http", "target": "http://[::ffff:10.1.2.3]/health"}
    assert api.post("/api/v1/monitors", inside_mapped, format="json").status_code == 201

    # A monitor stored before the allow list was set is refused when it connects.
    with receiver() as server:
        Monitor.objects.create(name="older", kind="http", target=f"http://127.0.0.1:{server.server_port}/")
        result = api.post("/api/v1/monitors/older/check").json()
        assert server.requests == 0
    assert result["health"] == 0 and result["error"].startswith("OutboundRefused")


def test_a_name_that_resolves_into_the_deny_list_is_refused_at_connect_time(api, monkeypatch):
    with receiver() as server, resolver(monkeypatch, {"status.example": "93.184.216.34"}) as answers:
        target = f"http://status.example:{server.server_port}/health"
        body = {"name": "rebind", "kind": "http", "target": target}
        assert api.post("/api/v1/monitors", body, format="json").status_code == 201  # public when written

        answers["status.example"] = "169.254.169.254"  # the name now points at the metadata service
        refused = api.post("/api/v1/monitors/rebind/check").json()
        assert refused["health"] == 0 and refused["error"] == "OutboundRefused: 169.254.169.254 is in OUTBOUND_DENY."

        answers["status.example"] = "127.0.0.1"  # the connection goes to the address just checked
        assert api.post("/api/v1/monitors/rebind/check").json()["health"] == 100
        assert server.requests == 1
    assert not api.get("/api/v1/monitors/rebind").json()["last_error"]


def test_every_kind_checks_the_resolved_address_at_connect_time(api, deny_loopback, monkeypatch):
    with receiver() as server, resolver(monkeypatch, {"svc.example": "127.0.0.1"}):
        targets = {
            "http": f"http://svc.example:{server.server_port}/",
            "tcp": f"tcp://svc.example:{server.server_port}",
            "redis": "redis://svc.example:6379/8",
            "postgres": "postgres://postgres@svc.example:5432/postgres",
        }
        for kind, target in targets.items():
            Monitor.objects.create(name=f"m-{kind}", kind=kind, target=target, timeout_seconds=2)
            result = api.post(f"/api/v1/monitors/m-{kind}/check").json()
            assert result["error"] == "OutboundRefused: 127.0.0.1 is in OUTBOUND_DENY.", kind
        assert server.requests == 0


def test_redirects_are_not_followed_into_the_deny_list(api):
    class Redirect(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with outbound.http_client(timeout=2) as client:
            assert client.get(f"http://127.0.0.1:{server.server_port}/").status_code == 302
            with pytest.raises(outbound.OutboundRefused):
                client.get(f"http://127.0.0.1:{server.server_port}/", follow_redirects=True)
    finally:
        server.shutdown()
        server.server_close()


def test_redis_targets_are_tcp_only():
    with pytest.raises(outbound.OutboundRefused):
        outbound.redis_client("unix:///var/run/redis.sock")


@pytest.mark.parametrize("kind", ["webhook", "slack"])
@pytest.mark.parametrize(
    "url", ["http://169.254.169.254/latest/meta-data/", "http://metadata.google.internal/", "http://2852039166/x"]
)
def test_an_admin_cannot_point_a_webhook_at_the_metadata_address(api, kind, url):
    body = {"name": "meta-hook", "kind": kind, "config": {"url": url}}
    response = api.post("/api/v1/oncall/channels", body, format="json")
    assert response.status_code == 400, response.content
    assert "config.url" in response.json()["errors"]
    assert not Channel.objects.exists()


def test_a_stored_webhook_on_the_metadata_address_is_refused_when_it_sends(django_capture_on_commit_callbacks):
    team, _, _ = team_with_rotation(name="ops", services=("checkout",))
    Channel.objects.create(name="legacy", team=team, kind="webhook", notify_on=["new"],
                           config={"url": "http://169.254.169.254/hook"})  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        incident_services.get_or_open_incident(source="events", service="checkout", title="errors", severity="high")
    refused = Notification.objects.get(kind="webhook")
    assert refused.status == "failed" and refused.attempts == 1
    assert refused.error == "OutboundRefused: 169.254.169.254 is in OUTBOUND_DENY."


def test_a_receivers_error_body_never_reaches_a_viewer(api, viewer_api, caplog, django_capture_on_commit_callbacks):
    caplog.set_level(logging.INFO, logger="opsassist.outbound")
    team, _, _ = team_with_rotation(name="ops", services=("checkout",))
    with receiver(status=403, body=b"forbidden: token ReceiverS3cretBody is not valid here") as server:
        Channel.objects.create(name="hook", team=team, kind="webhook", notify_on=["new"],
                               config={"url": f"http://127.0.0.1:{server.server_port}/hook"})  # fmt: skip
        with django_capture_on_commit_callbacks(execute=True):
            incident, _ = incident_services.get_or_open_incident(
                source="events", service="checkout", title="errors", severity="high"
            )
        assert server.requests == 1

    seen = [viewer_api.get(path) for path in
            ["/api/v1/notifications", f"/api/v1/incidents/{incident.pk}", "/api/v1/oncall/channels"]]  # fmt: skip
    assert all(r.status_code == 200 for r in seen)
    notification = next(n for n in seen[0].json() if n["kind"] == "webhook")
    assert notification["status"] == "failed" and notification["error"] == "HTTP 403"
    for response in seen:
        assert "ReceiverS3cretBody" not in response.content.decode()
    # The receiver's own words are kept for admins, in the server log.
    assert any("ReceiverS3cretBody" in r.getMessage() for r in caplog.records if r.name == "opsassist.outbound")


def test_a_databases_error_text_never_reaches_a_viewer(api, viewer_api, postgres_url):
    host_port = postgres_url.split("@", 1)[1].split("/", 1)[0]
    target = f"postgres://ghost_user:pw@{host_port}/postgres"
    assert (
        api.post("/api/v1/monitors", {"name": "pg", "kind": "postgres", "target": target}, format="json").status_code
        == 201
    )
    api.post("/api/v1/monitors/pg/check")
    texts = [viewer_api.get(p).content.decode() for p in ["/api/v1/monitors/pg", "/api/v1/monitors/pg/results"]]
    texts += [
        viewer_api.get(f"/api/v1/incidents/{i['id']}").content.decode()
        for i in viewer_api.get("/api/v1/incidents").json()
    ]
    assert Monitor.objects.get(name="pg").last_error == "OperationalError"
    assert CheckResult.objects.get().error == "OperationalError"
    for text in texts:
        assert "does not exist" not in text and "FATAL" not in text and "authentication" not in text


def test_httpx_logs_carry_no_secrets(caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    # Other tests may have reconfigured logging (disabled or detached these loggers); the filters under test
    # sit on the loggers themselves, so only make sure their records reach caplog.
    for name in ("httpx", "httpcore"):
        caplog.set_level(logging.DEBUG, logger=name)  # the fault drills' conftest quiets httpx to WARNING
        monkeypatch.setattr(logging.getLogger(name), "disabled", False)
        monkeypatch.setattr(logging.getLogger(name), "propagate", True)
    with receiver() as server:
        port = server.server_port
        url = f"http://LogUser:LogPassw0rd@127.0.0.1:{port}/services/T000/B000/LogPathT0ken?token=LogQueryT0ken"
        with outbound.http_client(timeout=2) as client:
            assert client.post(url, content=b"{}").status_code == 200
        assert httpx.get(url, timeout=2).status_code == 200  # a plain client too: the filter is on the logger
    lines = [r.getMessage() for r in caplog.records if r.name.startswith(("httpx", "httpcore"))]
    assert any("HTTP Request: POST" in line and f"127.0.0.1:{port}/services/***" in line for line in lines)
    for secret in ["LogPassw0rd", "LogPathT0ken", "LogQueryT0ken"]:
        assert not [line for line in lines if secret in line], secret


def test_a_password_in_the_user_slot_of_a_redis_url_is_hidden(api, viewer_api, viewer, client):
    target = "redis://UserSl0tS3cret@127.0.0.1:1/0"
    created = api.post("/api/v1/monitors", {"name": "cache", "kind": "redis", "target": target, "timeout_seconds": 1},
                       format="json")  # fmt: skip
    assert created.status_code == 201 and created.json()["target"] == "redis://***@127.0.0.1:1/0"
    api.post("/api/v1/monitors/cache/check")
    client.force_login(viewer)
    outputs = [created.content, api.get("/api/v1/monitors").content, viewer_api.get("/api/v1/monitors/cache").content,
               viewer_api.get("/api/v1/monitors/cache/results").content, client.get("/monitors/").content]  # fmt: skip
    outputs += [
        viewer_api.get(f"/api/v1/incidents/{i['id']}").content for i in viewer_api.get("/api/v1/incidents").json()
    ]
    for output in outputs:
        assert b"UserSl0tS3cret" not in output
    assert b"redis://***@127.0.0.1:1/0" in outputs[2]


@pytest.mark.parametrize(
    ("url", "redacted"),
    [("redis://secret@cache:6379/0", "redis://***@cache:6379/0"),
     ("postgres://app:pw@[::1]:5432/db", "postgres://app:***@[::1]:5432/db"),
     ("https://hooks.example/services/T/B/tok?x=1", "https://hooks.example/services/T/B/tok?x=***")],
)  # fmt: skip
def test_redact_url_masks_every_credential_slot(url, redacted):
    assert redact_url(url) == redacted


def test_an_admin_cannot_point_a_monitor_at_the_metadata_address_from_the_admin_site(client, admin_user):
    client.force_login(admin_user)
    data = {"name": "meta", "kind": "http", "target": "http://[::ffff:169.254.169.254]/", "service": "",
            "team": "", "interval_seconds": 10, "timeout_seconds": 3, "config": "{}", "enabled": "on",
            "pinned_host": ""}  # fmt: skip
    response = client.post("/admin/monitoring/monitor/add/", data)
    assert response.status_code == 200 and b"OUTBOUND_DENY" in response.content
    assert not Monitor.objects.exists()


def test_a_personal_webhook_on_the_metadata_address_is_refused(api, viewer):
    body = {"user": viewer.username, "kind": "webhook", "config": {"url": "http://instance-data/latest/"}}
    response = api.post("/api/v1/oncall/contacts", body, format="json")
    assert response.status_code == 400 and "config.url" in response.json()["errors"]


def test_a_typo_in_outbound_allow_stops_the_server_at_start(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    from opsassist.lib.env import env_cidrs

    monkeypatch.setenv("OUTBOUND_ALLOW", "10.0.0.0/8,10.0.0.0/33")
    with pytest.raises(ImproperlyConfigured, match="OUTBOUND_ALLOW"):
        env_cidrs("OUTBOUND_ALLOW", "")


def test_an_admin_cannot_point_a_channel_at_the_metadata_address_from_the_admin_site(client, admin_user):
    client.force_login(admin_user)
    data = {"name": "meta", "kind": "webhook", "config": '{"url": "http://metadata.goog/computeMetadata/v1/"}',
            "notify_on": "[]", "enabled": "on", "disabled_reason": ""}  # fmt: skip
    response = client.post("/admin/oncall/channel/add/", data)
    assert response.status_code == 200 and b"OUTBOUND_DENY" in response.content
    assert not Channel.objects.exists()
