"""The API answers an empty or nonsense filter, page or page size with 400 naming the parameter (the pages, which
share some FilterSets, still show everything for an empty field)."""

import pytest
import yaml
from django.core.management import call_command
from django.urls import reverse
from rest_framework.test import APIClient

from inventory.tests.factories import PASSWORD, ProductFactory
from sales.tests.factories import post_sale

pytestmark = pytest.mark.django_db

NONSENSE = {"date": "yesterday", "integer": "three", "number": "lots", "boolean": "maybe"}


@pytest.fixture
def api(world):
    client = APIClient()
    client.force_authenticate(world.owner)
    return client


def list_filters(tmp_path) -> list[tuple[str, dict]]:
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--file", str(out))
    schema = yaml.safe_load(out.read_text())
    return [
        (path, param)
        for path, item in schema["paths"].items()
        if "{" not in path and "/Paginated" in str(item.get("get", {}).get("responses", {}).get("200"))
        for param in item["get"].get("parameters", [])
        if param["in"] == "query" and param["name"] not in ("page", "page_size")
    ]


def test_an_empty_filter_is_a_400_naming_it_on_every_list_endpoint(api, tmp_path):
    filters = list_filters(tmp_path)
    assert {"/api/v1/sales/", "/api/v1/stock-counts/", "/api/v1/reorder-suggestions/"} <= {p for p, _ in filters}
    wrong = {}
    for path, param in filters:
        response = api.get(f"{path}?{param['name']}=")
        if response.status_code != 400 or param["name"] not in response.json():
            wrong[f"{path}?{param['name']}="] = (response.status_code, response.content[:200])
    assert wrong == {}


def test_a_nonsense_filter_value_is_a_400_naming_it_on_every_list_endpoint(api, tmp_path):
    filters = [
        (path, param)
        for path, param in list_filters(tmp_path)
        if param["schema"].get("format", param["schema"].get("type")) in NONSENSE
    ]
    assert ("/api/v1/sales/", "date_from") in {(p, param["name"]) for p, param in filters}
    wrong = {}
    for path, param in filters:
        value = NONSENSE[param["schema"].get("format", param["schema"].get("type"))]
        response = api.get(path, {param["name"]: value})
        if response.status_code != 400 or param["name"] not in response.json():
            wrong[f"{path}?{param['name']}={value}"] = (response.status_code, response.content[:200])
    assert wrong == {}


def test_a_sensible_filter_still_filters(api, world):
    product = ProductFactory()
    post_sale(store=world.store_own, lines=[(product, 1, None)])
    post_sale(store=world.store_other, lines=[(product, 1, None)])

    response = api.get("/api/v1/sales/", {"store": "own"})

    assert response.status_code == 200
    assert [s["store"] for s in response.json()["results"]] == ["OWN"]


@pytest.mark.parametrize(
    ("query", "parameter"),
    [("page_size=-1", "page_size"), ("page_size=0", "page_size"), ("page_size=", "page_size"),
     ("page_size=ten", "page_size"), ("page=abc", "page"), ("page=0", "page"), ("page=", "page")],
)  # fmt: skip
def test_a_nonsense_page_or_page_size_is_a_400_naming_it(api, query, parameter):
    response = api.get(f"/api/v1/sales/?{query}")

    assert response.status_code == 400
    assert list(response.json()) == [parameter]


def test_a_page_size_is_honoured_and_a_huge_one_clamped(api, world):
    product = ProductFactory()
    for _ in range(3):
        post_sale(store=world.store_own, lines=[(product, 1, None)])

    two = api.get("/api/v1/sales/", {"page_size": "2"}).json()
    huge = api.get("/api/v1/sales/", {"page_size": "100000"})

    assert (two["count"], len(two["results"]), two["next"] is not None) == (3, 2, True)
    assert huge.status_code == 200 and len(huge.json()["results"]) == 3
    assert api.get("/api/v1/sales/", {"page": "9"}).status_code == 404  # past the last page


def test_the_receipts_page_still_shows_everything_for_an_empty_store(client, world):
    client.login(username=world.owner.username, password=PASSWORD)

    assert client.get(reverse("sales:sale_list"), {"store": "", "date_from": ""}).status_code == 200
