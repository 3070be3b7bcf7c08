"""Check-ins: late or failed jobs open an incident (source `checkin`), the next success resolves it;
the ping URL works without a login and an unknown token is a 404."""

from datetime import timedelta

import pytest

from incidents.models import Incident
from incidents.tests.paging_helpers import T0, at, pages, paging_team
from monitoring import checkins
from monitoring.models import CheckIn

pytestmark = pytest.mark.django_db
URL = "/api/v1/checkins"


@pytest.fixture
def team(settings):
    settings.OPSASSIST_URL = "https://ops.example.com"
    return paging_team(settings, services_=("backups",))


def create(api, **fields):
    body = {"name": "nightly-backup", "period_seconds": 3600, "grace_seconds": 600, "service": "backups", **fields}
    return api.post(URL, body, format="json")


def path_of(ping_url: str) -> str:
    return ping_url.removeprefix("https://ops.example.com")


@pytest.fixture
def checkin(responder_api, team):
    with at(T0):
        response = create(responder_api)
    assert response.status_code == 201, response.content
    return response.json()


def test_it_answers_an_absolute_secret_ping_url(checkin):
    assert checkin["ping_url"].startswith("https://ops.example.com/ping/")
    token = checkin["ping_url"].rsplit("/", 1)[1]
    assert len(token) >= 40 and checkin["status"] == "new"


def test_a_late_job_opens_one_incident_and_the_next_success_resolves_it(
    checkin, anon_api, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    with at(T0 + timedelta(seconds=4199), capture):
        assert checkins.do_find_late() == []
    with at(T0 + timedelta(seconds=4200), capture):
        assert len(checkins.do_find_late()) == 1
    with at(T0 + timedelta(seconds=4215), capture):
        assert checkins.do_find_late() == []  # already down: no second incident
    incident = Incident.objects.get()
    assert (incident.source, incident.component, incident.service) == ("checkin", "nightly-backup", "backups")
    assert "late" in incident.title and pages() == 1

    with at(T0 + timedelta(hours=2), capture):
        assert anon_api.get(path_of(checkin["ping_url"])).status_code == 200
    incident.refresh_from_db()
    assert incident.status == "resolved"
    row = CheckIn.objects.get()
    assert row.status == "up" and row.due_at == T0 + timedelta(hours=2, seconds=4200)


def test_a_fail_ping_opens_an_incident_and_a_success_resolves_it(checkin, anon_api, django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks
    url = path_of(checkin["ping_url"])
    with at(T0 + timedelta(minutes=1), capture):
        assert anon_api.post(url + "/start").status_code == 200
        assert anon_api.post(url + "/fail", data="exit 3", content_type="text/plain").status_code == 200
        assert anon_api.get(url + "/fail").status_code == 200  # failing again: still one incident
    incident = Incident.objects.get()
    assert incident.source == "checkin" and "reported a failure" in incident.title
    assert pages() == 1
    with at(T0 + timedelta(minutes=2), capture):
        assert anon_api.post(url).status_code == 200
    assert Incident.objects.get().status == "resolved"
    row = CheckIn.objects.get()
    assert row.last_start_at == T0 + timedelta(minutes=1) and row.last_failure_at == T0 + timedelta(minutes=1)


def test_a_wrong_token_is_a_404_and_changes_nothing(checkin, anon_api):
    url = path_of(checkin["ping_url"])
    wrong = url[:-4] + ("aaaa" if not url.endswith("aaaa") else "bbbb")
    assert anon_api.get(wrong).status_code == 404
    assert anon_api.get(wrong + "/fail").status_code == 404
    assert anon_api.get("/ping/short").status_code == 404
    assert anon_api.get(url + "/explode").status_code == 404
    assert CheckIn.objects.get().status == "new" and not Incident.objects.exists()


def test_a_ping_needs_no_session_or_csrf_token(checkin):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    assert client.post(path_of(checkin["ping_url"])).status_code == 200


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"period_seconds": 10}, "period_seconds"),
        ({"period_seconds": 10**9}, "period_seconds"),
        ({"grace_seconds": -1}, "grace_seconds"),
        ({"name": "has spaces"}, "name"),
        ({"name": ""}, "name"),
        ({"service": "x" * 300}, "service"),
    ],
)
def test_bad_fields_are_refused_by_name(responder_api, team, change, field):
    response = create(responder_api, **change)
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
    assert not CheckIn.objects.exists()


def test_a_duplicate_name_is_refused(checkin, responder_api):
    response = create(responder_api)
    assert response.status_code == 400 and "name" in response.json()["errors"]


def test_viewers_list_check_ins_and_responders_delete_them(checkin, viewer_api, responder_api):
    assert [c["name"] for c in viewer_api.get(URL).json()] == ["nightly-backup"]
    assert viewer_api.delete(f"{URL}/nightly-backup").status_code == 403
    assert create(viewer_api, name="other").status_code == 403
    assert responder_api.delete(f"{URL}/nightly-backup").status_code == 204
    assert not CheckIn.objects.exists()


def test_a_ping_loop_writes_at_most_once_a_second(checkin, anon_api, django_assert_num_queries):
    url = path_of(checkin["ping_url"])
    with at(T0 + timedelta(minutes=1)):
        anon_api.get(url)
        with django_assert_num_queries(20):  # one token lookup each; no write
            for _ in range(20):
                assert anon_api.get(url).status_code == 200
    with at(T0 + timedelta(minutes=1, seconds=1)):
        anon_api.get(url)
    assert CheckIn.objects.get().last_ping_at == T0 + timedelta(minutes=1, seconds=1)


def test_a_viewer_sees_the_ping_url_masked_in_the_list_and_the_detail(checkin, viewer_api):
    """The ping URL resolves and opens the check-in's incidents: only who may change check-ins sees it."""
    token = checkin["ping_url"].rsplit("/", 1)[1]
    detail = viewer_api.get(f"{URL}/nightly-backup")
    listed = viewer_api.get(URL)
    assert detail.status_code == 200 and listed.status_code == 200
    assert detail.json()["ping_url"] == "https://ops.example.com/ping/***"
    assert [row["ping_url"] for row in listed.json()] == ["https://ops.example.com/ping/***"]
    assert token not in detail.content.decode() + listed.content.decode()


def test_a_responder_sees_the_ping_url(checkin, responder_api):
    assert responder_api.get(f"{URL}/nightly-backup").json()["ping_url"] == checkin["ping_url"]


def test_rotating_gives_a_new_ping_url_and_the_old_one_stops_working(checkin, responder_api, viewer_api, anon_api):
    old = path_of(checkin["ping_url"])
    assert viewer_api.post(f"{URL}/nightly-backup/rotate").status_code == 403
    response = responder_api.post(f"{URL}/nightly-backup/rotate")
    assert response.status_code == 200, response.content
    new = path_of(response.json()["ping_url"])
    assert new != old and new.startswith("/ping/")
    assert anon_api.get(old).status_code == 404
    assert anon_api.get(new).status_code == 200
