"""A list parameter with a value it cannot take is a 400 naming it, never silently ignored."""

import pytest

from incidents.tests.factories import IncidentFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/incidents"


@pytest.mark.parametrize(
    ("query", "field"),
    [("in_maintenance=maybe", "in_maintenance"), ("silenced=2", "silenced"), ("flapping=yes please", "flapping"),
     ("limit=abc", "limit"), ("limit=0", "limit"), ("limit=-5", "limit"), ("limit=\u0661\u0660", "limit"),
     ("offset=x", "offset"), ("parent_id=abc", "parent_id")],
)  # fmt: skip
def test_a_bad_list_parameter_is_a_400_naming_it(viewer_api, query, field):
    response = viewer_api.get(f"{URL}?{query}")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"], response.json()


def test_good_values_still_filter_and_page(viewer_api):
    IncidentFactory.create_batch(3)
    assert viewer_api.get(f"{URL}?in_maintenance=false").json() != []
    assert viewer_api.get(f"{URL}?in_maintenance=true").json() == []
    assert viewer_api.get(f"{URL}?silenced=0&flapping=False").status_code == 200
    response = viewer_api.get(f"{URL}?limit=2&offset=1")
    assert len(response.json()) == 2 and response["X-Total-Count"] == "3"
    assert len(viewer_api.get(f"{URL}?limit=100000").json()) == 3  # above the maximum: capped at 500
