"""The OpenAPI schema describes every endpoint without errors or warnings, documents the error answers, and its
required fields are what each role really receives."""

from datetime import date
from decimal import Decimal

import pytest
import yaml
from django.core.management import call_command
from rest_framework.test import APIClient

from customers.models import CustomerModelRun, CustomerPrediction
from customers.tests.factories import CustomerFactory
from forecasting.models import Promotion, StoreClosure
from forecasting.tests.factories import finished_run, open_suggestion
from inventory.tests.factories import PASSWORD, ProductFactory
from sales.tests.factories import post_sale


def load_schema(tmp_path) -> dict:
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    return yaml.safe_load(out.read_text())


def operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


@pytest.mark.django_db
def test_openapi_schema_is_valid_and_warning_free(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    assert text.startswith("openapi: 3")
    assert "/api/v1/" in text


@pytest.mark.django_db
def test_schema_and_docs_pages_need_a_login(client, world):
    assert client.get("/api/schema/").status_code == 401
    client.login(username=world.owner.username, password=PASSWORD)
    assert client.get("/api/schema/").status_code == 200
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content
    assert b"unpkg" not in docs.content and b"jsdelivr" not in docs.content


@pytest.mark.django_db
def test_every_operation_documents_its_error_answers_with_a_body(tmp_path):
    schema = load_schema(tmp_path)
    missing = []
    for path, method, operation in operations(schema):
        responses = operation["responses"]
        takes_input = "requestBody" in operation or any(p["in"] == "query" for p in operation.get("parameters", []))
        expected = {"401", "403"} | ({"400"} if takes_input else set()) | ({"404"} if "{" in path else set())
        missing += [f"{method.upper()} {path} {code}" for code in sorted(expected - set(responses))]
        missing += [
            f"{method.upper()} {path} {code} has no body"
            for code in sorted(expected)
            if code in responses and "application/json" not in responses[code].get("content", {})
        ]

    assert missing == []
    paths = schema["paths"]
    assert paths["/api/v1/receipts/"]["post"]["responses"]["409"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ReceiptResult"  # the per-receipt result, as the view answers it
    }
    limited = paths["/api/v1/forecast-runs/"]["post"]["responses"]["429"]
    assert "Retry-After" in limited["headers"]
    assert schema["components"]["schemas"]["ErrorDetail"]["required"] == ["detail"]


def _component(schema: dict, ref: str) -> dict:
    return schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]


def _check_keys(schema: dict, component: dict, item: dict, where: str, problems: list) -> None:
    keys, required, properties = set(item), set(component.get("required", [])), set(component["properties"])
    if not required <= keys:
        problems.append(f"{where}: required but not received: {sorted(required - keys)}")
    if not keys <= properties:
        problems.append(f"{where}: received but not in the schema: {sorted(keys - properties)}")
    # A field received but not required must be one that only some roles receive, and say so.
    for name in sorted((keys & properties) - required):
        if not component["properties"][name].get("description", "").startswith("Only for roles that see costs"):
            problems.append(f"{where}: {name} is always received but not required")
        elif where.startswith("sam_staff"):
            problems.append(f"{where}: {name} is a cost field, yet staff received it")
    for name, prop in component["properties"].items():
        ref = prop.get("items", {}).get("$ref") if prop.get("type") == "array" else None
        for n, child in enumerate(item.get(name) or [] if ref else []):
            _check_keys(schema, _component(schema, ref), child, f"{where}.{name}[{n}]", problems)


@pytest.fixture
def one_of_each(world):
    """One row of every list endpoint, in the staff member's store."""
    product = ProductFactory()
    post_sale(store=world.store_own, lines=[(product, 1, None)])
    open_suggestion(store=world.store_own, product=product)
    finished_run(pairs=[(world.store_own, product)], end=date(2026, 12, 1), store_ids=[world.store_own.pk])
    run = CustomerModelRun.objects.create(status=CustomerModelRun.Status.DONE, chosen_model="bgnbd")
    CustomerPrediction.objects.create(run=run, customer=CustomerFactory(home_store=world.store_own))
    promotion = Promotion.objects.create(
        name="Soap week", start=date(2026, 12, 7), end=date(2026, 12, 13), discount_percent=Decimal("20")
    )
    promotion.products.add(product)
    StoreClosure.objects.create(store=world.store_own, date=date(2026, 12, 25), reason="Christmas")
    owner = APIClient()
    owner.force_authenticate(world.owner)
    assert owner.post("/api/v1/stock-counts/", {"store": world.store_own.pk}, format="json").status_code == 201
    return world


@pytest.mark.django_db
def test_required_fields_are_what_each_role_receives_from_every_list_endpoint(tmp_path, one_of_each):
    schema = load_schema(tmp_path)
    problems, checked = [], []
    lists = [(p, op) for p, m, op in operations(schema) if m == "get" and "/Paginated" in str(op["responses"]["200"])]
    for user in (one_of_each.staff, one_of_each.accountant, one_of_each.owner):
        api = APIClient()
        api.force_authenticate(user)
        for path, operation in lists:
            response = api.get(path)
            if response.status_code == 403:
                continue
            assert response.status_code == 200, (path, response.content)
            page = _component(schema, operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"])
            item_ref = page["properties"]["results"]["items"]["$ref"]
            results = response.json()["results"]
            assert results, f"{path}: nothing listed for {user.username}: the test needs a row"
            for item in results:
                _check_keys(schema, _component(schema, item_ref), item, f"{user.username} {path}", problems)
            checked.append((user.username, path))

    assert problems == []
    staff_lists = {path for name, path in checked if name == one_of_each.staff.username}
    assert "/api/v1/sales/" in staff_lists
    assert len(lists) >= 6 and {path for _, path in checked} == {path for path, _ in lists}


@pytest.mark.django_db
def test_cost_fields_are_optional_and_say_who_receives_them(tmp_path):
    schema = load_schema(tmp_path)
    sale, line = schema["components"]["schemas"]["Sale"], schema["components"]["schemas"]["SaleLine"]

    assert "cost_total" not in sale["required"] and "unit_cost" not in line["required"]
    assert "payment_method" in sale["required"]  # every other field is always there
    assert sale["properties"]["cost_total"]["description"].startswith("Only for roles that see costs")
    assert line["properties"]["unit_cost"]["description"].startswith("Only for roles that see costs")
