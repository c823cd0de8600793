"""Store scope in one place (issue 17 §10): `Model.objects.for_user(user)` on every model of store data, used by
every view, viewset, export, selector and admin that lists it; POS devices see (and post to) their own store only;
forecast runs are listed by the stores they cover.

The code walk (test_no_listing_module_scopes_store_data_by_hand) reads every view / API / export / selector /
filter / admin module and fails on a store lookup (`store__in=`, `store_id__in=`, `count__store__in=`,
`home_store__in=`, `customer__in=` …) whose value comes — directly, or through local variables assigned from it in
the same function — from the visible-stores rule (stores_visible, store_ids_visible, member_store_ids,
customers_visible, or any `.for_user(…)` handed in as a value), on the rule spelled out again
(`memberships__user…`), and on the all-stores permission named outside inventory.scoping. A store *selection*
passed in (a page's `?store=`, a report filter's store ids chosen among the user's stores) is not the scope and
is not flagged; the scope is then applied where the selection is built.
"""

from __future__ import annotations

import ast
import re
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from inventory.models import Store, StoreMembership
from inventory.scoping import StoreScopedAdminMixin, StoreScopedQuerySet
from inventory.tests.factories import make_user

ROOT = Path(settings.BASE_DIR)
SKIPPED_DIRS = {".venv", "venv", "node_modules", "tests", "migrations", "bench", "e2e", "static", "var"}
LISTING = re.compile(
    r"(^|/)(views|\w+_views|admin|selectors|\w+_selectors|filters|export_pack|exports)\.py$|(^|/)api/\w+\.py$"
)
SCOPE_SOURCES = {"stores_visible", "store_ids_visible", "member_store_ids", "customers_visible", "for_user"}
SCOPED_LOOKUP = re.compile(r"(^|__)(store|store_id|home_store|home_store_id|customer|customer_id)__in$")
RULE_SPELLED_OUT = re.compile(r"(^|__)memberships__user(_id)?(__in)?$")


def _call_name(call: ast.Call) -> str:
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""


def _from_scope(node: ast.AST, tainted: set[str]) -> bool:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call) and _call_name(sub) in SCOPE_SOURCES:
            return True
        if isinstance(sub, ast.Name) and sub.id in tainted:
            return True
    return False


def _names(target: ast.AST):
    if isinstance(target, ast.Name):
        yield target.id
    elif isinstance(target, ast.Tuple | ast.List):
        for e in target.elts:
            yield from _names(e)


def scope_by_hand(source: str) -> list[tuple[int, str]]:
    """(line, what) of every place that scopes store data by hand in this module's source."""
    tree = ast.parse(source)
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)]
    top = ast.Module(
        body=[n for n in tree.body if not isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)],
        type_ignores=[],
    )
    found = set()
    for scope in [*functions, top]:
        tainted: set[str] = set()  # local names holding (something computed from) the visible stores
        changed = True
        while changed:
            changed = False
            for node in ast.walk(scope):
                if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign | ast.NamedExpr) and node.value:
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    if _from_scope(node.value, tainted):
                        new = {n for t in targets for n in _names(t)} - tainted
                        tainted |= new
                        changed = changed or bool(new)
        for node in ast.walk(scope):
            if isinstance(node, ast.Call):
                for kw in node.keywords:
                    if kw.arg and SCOPED_LOOKUP.search(kw.arg) and _from_scope(kw.value, tainted):
                        found.add((node.lineno, f"{kw.arg}= with the visible stores (use Model.objects.for_user)"))
                    if kw.arg and RULE_SPELLED_OUT.search(kw.arg):
                        found.add((node.lineno, f"{kw.arg}= spells out the store rule (use for_user)"))
            if isinstance(node, ast.Constant) and node.value == "inventory.view_all_stores":
                found.add((node.lineno, "names the all-stores permission (use inventory.scoping.sees_every_store)"))
    return sorted(found)


def _listing_modules():
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        if SKIPPED_DIRS.intersection(rel.parts[:-1]) or rel.parts[0].startswith("."):
            continue
        if LISTING.search(rel.as_posix()):
            yield rel.as_posix(), path.read_text()


def test_no_listing_module_scopes_store_data_by_hand():
    modules = list(_listing_modules())
    assert len(modules) > 20 and any(rel == "reports/export_pack.py" for rel, _ in modules)
    problems = [f"{rel}:{line}: {what}" for rel, src in modules for line, what in scope_by_hand(src)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    "source",
    [
        "def f(user):\n    return Sale.objects.filter(store__in=stores_visible(user=user))",
        "def f(user):\n    ids = list(stores_visible(user=user).values_list('pk', flat=True))\n"
        "    mine = [i for i in ids]\n    return SalesDaily.objects.filter(store_id__in=mine)",
        "def f(u):\n    return get_object_or_404(StockCount.objects.filter(store__in=Store.objects.for_user(u)))",
        "def f(user):\n    return StockCountLine.objects.filter(count__store__in=stores_visible(user=user))",
        "def f(user):\n    return Customer.objects.filter(home_store__memberships__user=user)",
        "def f(user):\n    return user.has_perm('inventory.view_all_stores')",
    ],
)
def test_the_walk_catches_hand_written_scope(source):
    assert scope_by_hand(source)


@pytest.mark.parametrize(
    "source",
    [
        "def f(user):\n    return Sale.objects.for_user(user).filter(store_id=3)",
        "def f(user, store_ids):\n    return SalesDaily.objects.filter(store_id__in=store_ids)",
        "def f(request):\n    return ImportUploadForm(stores=stores_visible(user=request.user))",
    ],
)
def test_the_walk_leaves_for_user_and_store_selections_alone(source):
    assert scope_by_hand(source) == []


def _scoped_models():
    return [m for m in apps.get_models() if hasattr(m._default_manager, "for_user")]


def test_every_model_of_store_data_has_for_user():
    """A model with a ForeignKey to Store (or reaching one through its parent) has the scoped manager."""
    scoped = {m._meta.label for m in _scoped_models()}
    for model in apps.get_models():
        if model._meta.app_label not in {"inventory", "customers", "sales", "forecasting"}:
            continue
        if model in {StoreMembership}:  # the rule's own table
            continue
        to_store = [f for f in model._meta.get_fields() if f.many_to_one and f.related_model is Store]
        if to_store:
            assert model._meta.label in scoped, f"{model._meta.label} holds store data but has no for_user"
    for label in ["sales.SaleLine", "inventory.StockCountLine", "forecasting.ForecastRun", "sales.ImportBatch"]:
        assert label in scoped


def test_every_admin_of_store_data_goes_through_for_user():
    missing = [
        model._meta.label
        for model, model_admin in admin.site._registry.items()
        if hasattr(model._default_manager, "for_user") and not isinstance(model_admin, StoreScopedAdminMixin)
    ]
    assert not missing


# --- the rule on every model, on a small demo chain ------------------------------------------------


@pytest.fixture
def chain(db):
    from demo.load import demo_load  # noqa: PLC0415 — inventory's tests borrow the demo chain (tests are not layered)
    from demo.tests.test_demo import TINY  # noqa: PLC0415 — same

    demo_load(config=replace(TINY, days=30, end_date=date(2026, 11, 30)))
    stores = list(Store.objects.order_by("code"))
    _forecast_rows(stores)
    return stores


def _forecast_rows(stores):
    """A run per store, one over two stores and a chain-wide one, with a forecast, an accuracy, a suggestion and
    an alert per store (the demo queues its runs for the worker); a customer prediction and a stock adjustment
    per store (the demo makes none)."""
    from django.utils import timezone  # noqa: PLC0415 — only here

    from customers.models import Customer, CustomerModelRun, CustomerPrediction  # noqa: PLC0415 — as below
    from forecasting.models import (  # noqa: PLC0415 — inventory's tests use the higher app's models here only
        DemandForecast,
        ForecastAccuracy,
        ForecastRun,
        ReorderSuggestion,
        StockAlert,
    )
    from inventory.models import Product  # noqa: PLC0415 — next to the others
    from sales.models import StockAdjustment  # noqa: PLC0415 — as below

    product = Product.objects.filter(kind=Product.Kind.GOODS).order_by("pk").first()
    end = date(2026, 11, 30)
    for store_ids in [[s.pk] for s in stores] + [[stores[0].pk, stores[1].pk], []]:
        ForecastRun.objects.create(status=ForecastRun.Status.DONE, store_ids=store_ids, history_end=end)
    run = ForecastRun.objects.get(store_ids=[])
    for store in stores:
        DemandForecast.objects.create(
            run=run, store=store, product=product, date=end + timedelta(days=1), yhat=1, lo=0, hi=2, model="naive"
        )
        ForecastAccuracy.objects.create(run=run, store=store, product=product, model="naive", chosen=True)
        ReorderSuggestion.objects.create(run=run, store=store, product=product, quantity=1)
        StockAlert.objects.create(store=store, product=product, kind=StockAlert.Kind.STOCKOUT_RISK, message="x")
        StockAdjustment.objects.create(store=store, pos_reference="ADJ-1", occurred_at=timezone.now(), content_hash="x")
    model_run = CustomerModelRun.objects.create()
    for customer in Customer.objects.filter(home_store__isnull=False).order_by("pk")[:40]:
        CustomerPrediction.objects.create(run=model_run, customer=customer)


def _rows_by_store(model, user) -> set[int]:
    qs = model._default_manager.for_user(user)
    if model._meta.label == "forecasting.ForecastRun":
        return {i for ids in qs.values_list("store_ids", flat=True) for i in ids} | (
            {-1} if qs.filter(store_ids=[]).exists() else set()
        )
    if model._meta.label == "sales.ImportBatch":
        return set(qs.values_list("created_by_id", flat=True))
    path = type(qs).store_path
    return set(qs.values_list(path or "pk", flat=True)) - {None}


def test_for_user_on_every_model_owner_and_accountant_all_staff_and_pos_exactly_theirs(chain):
    stores = chain
    owner = get_user_model().objects.get(username="owner")
    accountant = get_user_model().objects.get(username="accountant")
    every = {s.pk for s in stores}
    empty = []
    memberships = [[stores[0]], [stores[1], stores[2]], [stores[3]], []]
    staff = [make_user("staff", stores=m) for m in memberships]
    devices = [get_user_model().objects.get(username=f"pos-{s.code.lower()}") for s in stores]
    for model in _scoped_models():
        manager = model._default_manager
        if model._meta.label == "sales.ImportBatch":
            continue  # by who started it: test_import_batches_are_scoped_by_who_started_them
        all_rows = manager.all()
        if not all_rows.exists():
            empty.append(model._meta.label)
            continue
        assert manager.for_user(owner).count() == all_rows.count(), model
        assert manager.for_user(accountant).count() == all_rows.count(), model
        if model._meta.label == "forecasting.ForecastRun":
            continue  # its own test below
        for user, mine in [
            *zip(staff, memberships, strict=True),
            *((d, [s]) for d, s in zip(devices, stores, strict=True)),
        ]:
            ids = {s.pk for s in mine}
            seen = _rows_by_store(model, user)
            assert seen <= ids, (model, user)
            rows_of_mine = set(all_rows.filter(**{f"{type(manager.all()).store_path or 'pk'}__in": ids}).values_list(
                "pk", flat=True))  # fmt: skip
            assert set(manager.for_user(user).values_list("pk", flat=True)) == rows_of_mine, (model, user)
        assert _rows_by_store(model, owner) - {None} <= every
    # Every model of store data has rows on the demo chain (plus the forecast rows made here): none passes vacuously.
    assert empty == [], empty


def test_forecast_runs_are_listed_by_the_stores_they_cover(chain):
    from forecasting.models import ForecastRun  # noqa: PLC0415 — a higher app's model, in a test

    stores = chain
    one = make_user("staff", stores=[stores[0]])
    two = make_user("staff", stores=[stores[0], stores[1]])
    none = make_user("staff")

    def covered(user):
        return sorted(sorted(ids) for ids in ForecastRun.objects.for_user(user).values_list("store_ids", flat=True))

    assert covered(one) == [[stores[0].pk]]
    assert covered(two) == sorted([[stores[0].pk], [stores[1].pk], sorted([stores[0].pk, stores[1].pk])])
    assert covered(none) == []
    owner = get_user_model().objects.get(username="owner")
    assert ForecastRun.objects.for_user(owner).filter(store_ids=[]).count() == 1


def test_import_batches_are_scoped_by_who_started_them(world):
    from sales.models import ImportBatch  # noqa: PLC0415 — a higher app's model, in a test

    mine = ImportBatch.objects.create(source_name="mine.csv", created_by=world.staff, store=world.store_own)
    ImportBatch.objects.create(source_name="theirs.csv", created_by=world.owner, store=world.store_own)
    assert list(ImportBatch.objects.for_user(world.staff)) == [mine]
    assert ImportBatch.objects.for_user(world.owner).count() == 2


def test_anonymous_sees_nothing(world):
    from django.contrib.auth.models import AnonymousUser  # noqa: PLC0415 — only here

    assert not Store.objects.for_user(AnonymousUser()).exists()
    assert Store.objects.for_user(world.staff).get() == world.store_own
    assert isinstance(Store.objects.all(), StoreScopedQuerySet)


# --- the API: every list returns exactly the caller's stores' rows ------------------------------------


def _list_routes():
    """(url name, viewset) of every router list route of the API."""
    from retailops import api_urls  # noqa: PLC0415 — the wiring module names the apps' routers

    out = []

    def walk(patterns):
        for p in patterns:
            if hasattr(p, "url_patterns"):
                walk(p.url_patterns)
            elif (p.name or "").endswith("-list") and hasattr(p.callback, "cls"):
                out.append((p.name, p.callback.cls))

    walk(api_urls.urlpatterns)
    return out


def _row_store(model_label: str, row: dict, codes: dict) -> set[int] | None:
    if "store" in row and isinstance(row["store"], int):
        return {row["store"]}
    if "store" in row and isinstance(row["store"], str):
        return {codes[row["store"]]}
    if "store_ids" in row:
        return set(row["store_ids"]) or {-1}
    return None


def test_every_api_list_returns_exactly_the_callers_stores(chain):
    stores = chain
    staff = make_user("staff", stores=[stores[0]])
    client = APIClient()
    client.force_authenticate(staff)
    routes = _list_routes()
    names = {n for n, _ in routes}
    assert {"sale-list", "stockcount-list", "forecastrun-list", "reordersuggestion-list"} <= names
    codes = {s.code: s.pk for s in stores}
    checked = []
    for name, viewset in routes:
        model = viewset.serializer_class.Meta.model
        response = client.get(reverse(f"api:{name}") if _namespaced(name) else reverse(name), {"page_size": 500})
        if response.status_code == 403:
            continue  # staff may not list this at all
        assert response.status_code == 200, (name, response.status_code)
        body = response.json()
        rows = body["results"] if isinstance(body, dict) and "results" in body else body
        if not hasattr(model._default_manager, "for_user"):
            continue  # chain-wide (e.g. customer model training runs)
        expected = model._default_manager.for_user(staff).count()
        total = body["count"] if isinstance(body, dict) and "count" in body else len(rows)
        assert total == expected, name
        for row in rows:
            row_stores = _row_store(model._meta.label, row, codes)
            if row_stores is not None:
                assert row_stores <= {stores[0].pk}, (name, row)
        checked.append((name, total))
    assert all(total > 0 for name, total in checked if name != "stockcount-list"), checked


def _namespaced(name: str) -> bool:
    from django.urls import NoReverseMatch  # noqa: PLC0415 — only here

    try:
        reverse(f"api:{name}")
    except NoReverseMatch:
        return False
    return True


# --- POS devices -------------------------------------------------------------------------------------


def _device(chain, index: int) -> APIClient:
    user = get_user_model().objects.get(username=f"pos-{chain[index].code.lower()}")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get(user=user).key}")
    return client


def test_pos_device_lists_and_filters_only_its_own_stores_receipts(chain):
    from sales.models import Sale  # noqa: PLC0415 — a higher app's model, in a test

    own, other = chain[0], chain[1]
    client = _device(chain, 0)
    url = reverse("sale-list") if not _namespaced("sale-list") else reverse("api:sale-list")
    body = client.get(url, {"page_size": 500}).json()
    assert body["count"] == Sale.objects.filter(store=own).count() > 0
    assert {r["store"] for r in body["results"]} <= {own.pk, own.code}
    # A loyalty card that shopped in the other store: the filter cannot reach those receipts.
    elsewhere = Sale.objects.filter(store=other, customer__isnull=False).select_related("customer").first()
    assert elsewhere is not None
    filtered = client.get(url, {"customer": elsewhere.customer.code, "page_size": 500}).json()
    assert filtered["count"] == Sale.objects.filter(store=own, customer=elsewhere.customer).count()
    assert all(r["id"] != elsewhere.pk for r in filtered["results"])
    assert client.get(f"{url}{elsewhere.pk}/").status_code == 404
    assert client.get(url, {"store": other.pk}).json().get("count", 0) == 0


def test_pos_device_posts_to_its_own_store_only(chain):
    from inventory.models import Product  # noqa: PLC0415 — next to the test

    own, other = chain[0], chain[1]
    product = Product.objects.filter(kind=Product.Kind.GOODS, active=True).order_by("pk").first()
    client = _device(chain, 0)
    url = reverse("receipt_post") if not _namespaced("receipt_post") else reverse("api:receipt_post")

    def receipt(store, ref):
        return {
            "store": store.code,
            "pos_reference": ref,
            "occurred_at": "2026-12-01T10:00:00Z",
            "lines": [{"sku": product.sku, "quantity": "1", "unit_price": str(product.mrp)}],
        }

    refused = client.post(url, receipt(other, "SCOPE-1"), format="json")
    assert refused.status_code == 400
    assert refused.json()["errors"] == [f"unknown store “{other.code}” (this user may post only to store {own.code})"]
    accepted = client.post(url, receipt(own, "SCOPE-2"), format="json")
    assert accepted.status_code == 201, accepted.json()
