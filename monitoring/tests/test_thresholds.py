"""Each kind's thresholds are declared once (its checker's Config): validated on write, typed on read."""

import pytest

from monitoring.checkers import KINDS, checker_class
from monitoring.models import Monitor

pytestmark = pytest.mark.django_db

URL = "/api/v1/monitors"
TARGETS = {"postgres": "postgres://db.example/app", "redis": "redis://cache.example/0",
           "http": "http://web.example/health", "tcp": "tcp://web.example:443"}  # fmt: skip


def create(client, kind="http", **thresholds):
    body = {"name": "m", "kind": kind, "target": TARGETS[kind], "thresholds": thresholds}
    return client.post(URL, body, format="json")


def test_a_typo_in_expected_status_is_refused_naming_the_field(api):
    for typo in ("xyz", 999, [200, "two hundred"], []):
        response = create(api, expected_status=typo)
        assert response.status_code == 400, typo
        assert list(response.json()["errors"]) in (["thresholds.expected_status"], ["thresholds.expected_status[1]"])
        assert "thresholds.expected_status" in response.json()["detail"]
    assert not Monitor.objects.exists()


def test_expected_status_takes_one_code_or_a_list(api):
    assert create(api, expected_status="204").status_code == 201
    assert Monitor.objects.get().conf.expected_status == [204]
    response = api.patch(f"{URL}/m", {"thresholds": {"expected_status": [200, 301]}}, format="json")
    assert response.status_code == 200 and response.json()["thresholds"] == {"expected_status": [200, 301]}


@pytest.mark.parametrize("client_name", ["api", "responder_api"])
@pytest.mark.parametrize(
    ("key", "value"),
    [("restart_command", "rm -rf /"), ("auto_approve", ["restart_redis", "clear_redis_cache"]),
     ("allow_flushdb", True), ("expected_statuss", 200)],
)  # fmt: skip
def test_unknown_threshold_keys_are_refused_for_every_role(request, client_name, key, value):
    client = request.getfixturevalue(client_name)
    for kind in KINDS:
        response = create(client, kind, **{key: value})
        assert response.status_code == 400, (kind, response.content)
        assert response.json()["errors"] == {f"thresholds.{key}": ["unknown key"]}
    Monitor.objects.create(name="m", kind="redis", target=TARGETS["redis"], config={"memory_limit_bytes": 2**30})
    response = client.patch(f"{URL}/m", {"thresholds": {key: value}}, format="json")
    assert response.status_code == 400 and f"thresholds.{key}" in response.json()["errors"]
    assert Monitor.objects.get().config == {"memory_limit_bytes": 2**30}


@pytest.mark.parametrize("thresholds", [[{"expected_status": 200}], "expected_status=200", 7])
def test_thresholds_that_are_not_an_object_are_a_400(api, thresholds):
    response = api.post(URL, {"name": "m", "kind": "http", "target": TARGETS["http"], "thresholds": thresholds},
                        format="json")  # fmt: skip
    assert response.status_code == 400 and list(response.json()["errors"]) == ["thresholds"]


@pytest.mark.parametrize(
    ("kind", "thresholds", "field"),
    [
        ("postgres", {"drill_connections": 500}, "drill_connections"),
        ("postgres", {"drill_connections": 0}, "drill_connections"),
        ("postgres", {"idle_floor_seconds": -1}, "idle_floor_seconds"),
        ("redis", {"memory_limit_bytes": 10}, "memory_limit_bytes"),
        ("redis", {"memory_scope": "database"}, "memory_limit_bytes"),
        ("redis", {"memory_scope": "cluster"}, "memory_scope"),
        ("redis", {"cache_key_pattern": "*"}, "cache_key_pattern"),
        ("http", {"latency_warn_ms": 9000, "latency_down_ms": 100}, "latency_warn_ms"),
        ("tcp", {"connect_warn_ms": "slow"}, "connect_warn_ms"),
        ("tcp", {"failures_before_incident": 0}, "failures_before_incident"),
    ],
)
def test_out_of_range_thresholds_are_refused_naming_the_field(api, kind, thresholds, field):
    response = create(api, kind, **thresholds)
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [f"thresholds.{field}"]


def test_changing_the_kind_checks_the_stored_thresholds_again(api):
    assert create(api, "http", expected_status=200).status_code == 201
    response = api.patch(f"{URL}/m", {"kind": "tcp", "target": TARGETS["tcp"]}, format="json")
    assert response.status_code == 400 and list(response.json()["errors"]) == ["thresholds.expected_status"]
    assert Monitor.objects.get().kind == "http"


def test_every_kind_reads_its_thresholds_typed_with_defaults():
    for kind in KINDS:
        conf = checker_class(kind).Config.read({})
        assert conf.failures_before_incident == 1
    assert Monitor(kind="postgres", config={}).conf.drill_connections == 12
    assert Monitor(kind="http", config={"latency_warn_ms": "250"}).conf.latency_warn_ms == 250.0
    # A row stored before the kind declared its keys still reads: the unknown and the invalid are ignored.
    stored = {"restart_command": "x", "memory_limit_bytes": "lots", "memory_scope": "server"}
    legacy = Monitor(kind="redis", config=stored)
    assert legacy.conf.memory_limit_bytes is None and legacy.conf.memory_scope == "server"


def test_the_thresholds_shown_are_the_stored_ones(api):
    create(api, "tcp", connect_warn_ms=250)
    assert api.get(f"{URL}/m").json()["thresholds"] == {"connect_warn_ms": 250.0}


def test_drills_need_drills_allowed_set_by_an_admin(api, responder_api, settings):
    settings.OPSASSIST_SIMULATION = True
    body = {"name": "db", "kind": "postgres", "target": TARGETS["postgres"], "drills_allowed": True}
    response = responder_api.post(URL, body, format="json")
    assert response.status_code == 403 and list(response.json()["errors"]) == ["drills_allowed"]
    assert not Monitor.objects.exists()

    body["drills_allowed"] = False
    assert responder_api.post(URL, body, format="json").status_code == 201
    assert api.get(f"{URL}/db").json()["drill"] is None
    response = responder_api.post(f"{URL}/db/simulate", {"failure": "idle_connections"}, format="json")
    assert response.status_code == 400 and list(response.json()["errors"]) == ["drills_allowed"]

    response = responder_api.patch(f"{URL}/db", {"drills_allowed": True}, format="json")
    assert response.status_code == 403 and list(response.json()["errors"]) == ["drills_allowed"]
    assert Monitor.objects.get().drills_allowed is False

    response = api.patch(f"{URL}/db", {"drills_allowed": True}, format="json")
    assert response.status_code == 200
    assert response.json()["drills_allowed"] is True and response.json()["drill"] == "idle_connections"


def test_the_demo_monitors_are_drill_targets_with_an_honest_redis_budget(redis_url, postgres_url, monkeypatch):
    from django.core.management import call_command

    monkeypatch.setenv("OPSASSIST_DEMO_POSTGRES_URL", postgres_url)
    monkeypatch.setenv("OPSASSIST_DEMO_REDIS_URL", redis_url)
    call_command("register_demo_monitors")
    demo = {m.name: m for m in Monitor.objects.all()}
    assert demo["postgres-test"].drills_allowed and demo["redis-test"].drills_allowed
    assert not demo["opsassist"].drills_allowed
    assert demo["redis-test"].conf.memory_scope == "database"
    assert demo["redis-test"].conf.memory_limit_bytes == 64 * 1024 * 1024


def test_keys_a_kind_does_not_declare_are_never_shown(api):
    Monitor.objects.create(name="old", kind="redis", target=TARGETS["redis"],
                           config={"restart_command": "sudo x --password=p", "memory_scope": "server"})  # fmt: skip
    assert api.get(f"{URL}/old").json()["thresholds"] == {"memory_scope": "server"}


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_declares_its_thresholds_and_targets(kind):
    """What the serializers, drills and docs need comes from the checker class alone."""
    checker = checker_class(kind)
    assert checker.schemes and checker.Config.describe()
    assert checker.target_problem(TARGETS[kind], kind) is None
    assert "starts with" in checker.target_problem("ftp://example.com/x", kind)
    assert checker.drill_failure is None or callable(checker.start_drill)


@pytest.mark.parametrize(("field", "value"), [("target", "postgres://other.example/app"), ("kind", "redis")])
def test_moving_a_drill_monitor_needs_an_admin(api, responder_api, field, value):
    """An admin approved drills against this target: a responder cannot point them at another server."""
    api.post(URL, {"name": "db", "kind": "postgres", "target": TARGETS["postgres"], "drills_allowed": True},
             format="json")  # fmt: skip
    response = responder_api.patch(f"{URL}/db", {field: value}, format="json")
    assert response.status_code == 403 and list(response.json()["errors"]) == [field], response.content
    stored = Monitor.objects.get()
    assert (stored.kind, stored.target, stored.drills_allowed) == ("postgres", TARGETS["postgres"], True)
    # Unchanged values, other fields, and monitors without drills stay a responder's to edit.
    assert responder_api.patch(f"{URL}/db", {field: getattr(stored, field), "interval_seconds": 30},
                               format="json").status_code == 200  # fmt: skip
    Monitor.objects.update(drills_allowed=False)
    moved = {"target": "postgres://other.example/app"}
    body = moved if field == "target" else {"kind": "redis", "target": TARGETS["redis"]}
    assert responder_api.patch(f"{URL}/db", body, format="json").status_code == 200
    # An admin may move a drill monitor.
    Monitor.objects.update(drills_allowed=True)
    assert api.patch(f"{URL}/db", {"target": TARGETS["redis"], "kind": "redis"}, format="json").status_code == 200


def test_a_redis_memory_limit_is_bounded(api):
    response = create(api, "redis", memory_limit_bytes=2**50)
    assert response.status_code == 400 and list(response.json()["errors"]) == ["thresholds.memory_limit_bytes"]
    assert create(api, "redis", memory_limit_bytes=2**40).status_code == 201
