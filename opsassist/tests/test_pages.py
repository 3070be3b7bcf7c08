import pytest
from django.core.management import call_command

from incidents.tests.factories import IncidentFactory
from monitoring.models import Monitor
from oncall.tests.factories import team_with_rotation

pytestmark = pytest.mark.django_db
PAGES = ["/", "/incidents/", "/monitors/", "/oncall/"]


@pytest.mark.parametrize("path", PAGES)
def test_pages_need_a_login(client, path):
    response = client.get(path)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.parametrize("path", PAGES)
def test_pages_render_with_data(client, viewer, path):
    call_command("seed_demo", days=7)
    IncidentFactory(status="open", title="<script>alert(1)</script>")
    Monitor.objects.create(name="db", kind="postgres", target="postgres://u:hunter2@h/db")
    team_with_rotation()
    client.force_login(viewer)
    response = client.get(path)
    assert response.status_code == 200
    assert b"hunter2" not in response.content
    assert b"<script>alert(1)</script>" not in response.content  # escaped in the JSON data


def test_the_incident_page(client, viewer):
    incident = IncidentFactory()
    client.force_login(viewer)
    response = client.get(f"/incidents/{incident.pk}/")
    assert response.status_code == 200 and b'data-can-change="0"' in response.content
    assert client.get("/incidents/999999/").status_code == 404


def test_bad_list_filters_do_not_500(client, viewer):
    client.force_login(viewer)
    assert client.get("/incidents/", {"status": "nope", "page": "x"}).status_code in (200, 400)
