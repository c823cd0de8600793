"""Every URL of the project × every role: anonymous, staff (own store and another's), owner, accountant.

The expected statuses live beside each app in `<app>/tests/url_access*.py`. A URL name that no app declares
fails the test: new pages join the matrix by being registered. A URL that takes an id (pk, code, slug: any
path converter or regex group but `format`) must also declare another store's object (`kwargs_other`,
`staff_other`) unless its objects are chain-wide (CHAIN_WIDE, each with its reason); the staff member of
the first store asking for the second store's object gets 404 — or 403 where staff may not open that page
for any store. Each URL's test builds only the objects of the module that declared it, to stay fast.

Lists: the pages that list store data show staff their store's rows and none of the other store's
(`must_contain` / `must_not_contain`). The API's list endpoints are walked in inventory/tests/test_scoping.py
(H5, issue 17); this matrix checks the pages only.
"""

import importlib
import pkgutil

import pytest
from django.apps import apps
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.resolvers import RegexPattern, RoutePattern

from inventory.tests.factories import PASSWORD, make_user
from retailops.testing import resolve

EXCLUDED_NAMESPACES = {"admin"}
NOT_AN_ID = {"format"}  # DRF's format suffix (.json): the same object, another rendering

# URLs that take a parameter naming no store's object. Everything else that takes an id is checked.
CHAIN_WIDE = {
    "reports:export_report": "a report name and a file format (sales_journal.csv), not an object; the store "
    "filter is the query string, checked by query_other",
    "customers:liability_export": "a file format (csv / xlsx), not an object",
    "customer_reports:stock_exposure_export": "a file format (csv / xlsx), not an object",
    "customer_reports:model_run_progress": "a customer-model run is trained on the whole chain's customers "
    "(one model for every store); owners and accountants only",
    "api:customer-model-run-detail": "a customer-model run is chain-wide, as above",
}
SCORECARD = "cross-store access on every id URL → 404"


def _params(pattern) -> set[str]:
    if isinstance(pattern, RoutePattern):
        return set(pattern.converters)
    if isinstance(pattern, RegexPattern):
        return set(pattern.regex.groupindex)
    return set()


def _walk(patterns, namespace="", params=frozenset()):
    for entry in patterns:
        found = params | _params(entry.pattern)
        if isinstance(entry, URLResolver):
            ns = entry.namespace or ""
            if ns in EXCLUDED_NAMESPACES:
                continue
            prefix = f"{namespace}{ns}:" if ns else namespace
            yield from _walk(entry.url_patterns, prefix, found)
        elif isinstance(entry, URLPattern) and entry.name and entry.name != "api-root":
            yield f"{namespace}{entry.name}", found


def project_url_names() -> set[str]:
    return {name for name, _ in _walk(get_resolver().url_patterns)}


def id_url_names() -> dict[str, set[str]]:
    """URL name → the id parameters it takes (pk, line_pk, store_pk, report, fmt, …), for every URL that takes one."""
    found: dict[str, set[str]] = {}
    for name, params in _walk(get_resolver().url_patterns):
        ids = set(params) - NOT_AN_ID
        if ids:
            found.setdefault(name, set()).update(ids)
    return found


def declared() -> tuple[dict, dict]:
    """(URL name → Access, URL name → the `build` of the module that declared it, or None)."""
    table, builders = {}, {}
    for config in apps.get_app_configs():
        if config.name not in {"retailops", "inventory", "customers", "sales", "forecasting", "reports"}:
            continue
        try:
            tests_pkg = importlib.import_module(f"{config.name}.tests")
        except ModuleNotFoundError:
            continue
        # url_access.py, url_access_dashboards.py, …: one module per area keeps apps' files apart.
        for info in pkgutil.iter_modules(tests_pkg.__path__):
            if not info.name.startswith("url_access"):
                continue
            module = importlib.import_module(f"{config.name}.tests.{info.name}")
            overlap = set(module.URL_ACCESS) & set(table)
            assert not overlap, f"URLs declared twice: {overlap}"
            table.update(module.URL_ACCESS)
            builders.update(dict.fromkeys(module.URL_ACCESS, getattr(module, "build", None)))
    return table, builders


TABLE, BUILDERS = declared()
ROLES = ("anon", "staff", "owner", "accountant")


def build_all(world) -> None:
    """Every module's objects (each build once), for the tests that walk every URL in one world."""
    for build in {id(b): b for b in BUILDERS.values() if b is not None}.values():
        build(world)


def request_url(client, name, access, world, *, other=False):
    kwargs_fn = (access.kwargs_other or access.kwargs) if other else access.kwargs
    query = access.query_other if other and access.query_other is not None else access.query
    url = reverse(name, kwargs=resolve(kwargs_fn, world) if kwargs_fn else None)
    q = resolve(query, world) or ""
    if q:
        url = f"{url}?{q.lstrip('?')}"
    data = resolve(access.data, world) if access.data is not None else None
    if access.method == "post":
        return client.post(url, data=data or {})
    return client.get(url)


def _client(user=None) -> Client:
    client = Client()
    if user is not None:
        assert client.login(username=user.username, password=PASSWORD)
    return client


def test_every_url_is_declared():
    missing = sorted(project_url_names() - set(TABLE))
    assert not missing, f"URLs with no entry in any <app>/tests/url_access.py: {missing}"
    stale = sorted(set(TABLE) - project_url_names())
    assert not stale, f"url_access entries for URLs that no longer exist: {stale}"


@pytest.mark.scorecard(SCORECARD)
def test_every_id_url_declares_another_stores_object(scorecard):
    """Declarations only (fast): test_other_stores_object below makes the requests."""
    ids = id_url_names()
    problems = []
    for name in sorted(set(ids) - set(CHAIN_WIDE)):
        access = TABLE.get(name)
        if access is None:
            continue  # test_every_url_is_declared reports it
        if access.kwargs_other is None or access.staff_other is None:
            problems.append(f"{name} ({', '.join(sorted(ids[name]))}): no kwargs_other / staff_other")
        elif access.staff_other != 404 and not (access.staff_other == 403 and access.staff == 403):
            problems.append(
                f"{name}: staff_other={access.staff_other}; another store's object is 404 (403 only where staff "
                f"are refused the page for every store)"
            )
    stale = sorted(set(CHAIN_WIDE) - set(ids))
    scorecard.record("id_urls", len(ids))
    scorecard.record("other_store_checked", len(set(ids) - set(CHAIN_WIDE)) - len(problems))
    scorecard.record("chain_wide", len(CHAIN_WIDE) - len(stale))
    assert not problems, "URLs taking an id with no other-store check:\n" + "\n".join(problems)
    assert not stale, f"CHAIN_WIDE names URLs that take no id (or no longer exist): {stale}"


@pytest.mark.parametrize("name", sorted(TABLE))
def test_url_access_matrix(name, world):
    access = TABLE[name]
    if BUILDERS[name] is not None:
        BUILDERS[name](world)
    users = {"anon": None, "staff": world.staff, "owner": world.owner, "accountant": world.accountant}
    seen = {}
    for role, user in users.items():
        response = request_url(_client(user), name, access, world)
        seen[role] = response.status_code
        if response.status_code == 200 and (role in access.must_not_contain or role in access.must_contain):
            body = response.content.decode(errors="replace")
            for text in access.must_not_contain.get(role, ()):
                assert text not in body, f"{name}: {role} must not see {text!r}"
            for text in access.must_contain.get(role, ()):
                assert text in body, f"{name}: {role} should see {text!r}"
    expected = {role: getattr(access, role) for role in ROLES}
    assert seen == expected, f"{name}: got {seen}, expected {expected}"


@pytest.mark.scorecard(SCORECARD)
@pytest.mark.parametrize("name", sorted(n for n, a in TABLE.items() if a.staff_other is not None))
def test_other_stores_object(name, world):
    """The staff member of the first store asks for the second store's object (or names it in the query)."""
    access = TABLE[name]
    if BUILDERS[name] is not None:
        BUILDERS[name](world)
    own = (resolve(access.kwargs, world), resolve(access.query, world))
    other = (resolve(access.kwargs_other or access.kwargs, world), resolve(access.query_other, world))
    assert own != other, f"{name}: kwargs_other / query_other name the same object as kwargs / query"
    response = request_url(_client(world.staff), name, access, world, other=True)
    assert response.status_code == access.staff_other, (
        f"{name}: staff of {world.store_own.code} asking for {world.store_other.code}'s object got "
        f"{response.status_code}, expected {access.staff_other}"
    )
    if access.staff_other == 403 and access.kwargs_other is not None:
        # Staff are refused by role, which says nothing of the query: a user of the first store alone who holds
        # every permission but inventory.view_all_stores must not reach the second store's object either.
        response = request_url(_client(_one_store_manager(world)), name, access, world, other=True)
        assert response.status_code == 404, (
            f"{name}: a user of {world.store_own.code} alone, with the page's permissions, asking for "
            f"{world.store_other.code}'s object got {response.status_code}, expected 404"
        )


def _one_store_manager(world):
    user = make_user(None, stores=[world.store_own], username="mo_one_store")
    user.user_permissions.set(
        Permission.objects.exclude(content_type__app_label="inventory", codename="view_all_stores")
    )
    return user
