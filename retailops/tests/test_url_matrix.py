"""Every URL of the project × every role: anonymous, staff (own store and another's), owner, accountant.

The expected statuses live beside each app in `<app>/tests/url_access.py`. A URL name that no app
declares fails the test: new pages join the matrix by being registered.
"""

import importlib
import pkgutil

import pytest
from django.apps import apps
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from inventory.tests.factories import PASSWORD
from retailops.testing import resolve

EXCLUDED_NAMESPACES = {"admin"}


def _walk(patterns, namespace=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = entry.namespace or ""
            if ns in EXCLUDED_NAMESPACES:
                continue
            prefix = f"{namespace}{ns}:" if ns else namespace
            yield from _walk(entry.url_patterns, prefix)
        elif isinstance(entry, URLPattern) and entry.name and entry.name != "api-root":
            yield f"{namespace}{entry.name}"


def project_url_names() -> set[str]:
    return set(_walk(get_resolver().url_patterns))


def declared() -> tuple[dict, list]:
    table, builders = {}, []
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
            if hasattr(module, "build"):
                builders.append(module.build)
    return table, builders


def test_every_url_is_declared():
    table, _ = declared()
    missing = sorted(project_url_names() - set(table))
    assert not missing, f"URLs with no entry in any <app>/tests/url_access.py: {missing}"
    stale = sorted(set(table) - project_url_names())
    assert not stale, f"url_access entries for URLs that no longer exist: {stale}"


TABLE, BUILDERS = declared()


def _request(client, name, access, world, kwargs_fn, query):
    url = reverse(name, kwargs=resolve(kwargs_fn, world) if kwargs_fn else None)
    q = resolve(query, world) or ""
    if q:
        url = f"{url}?{q.lstrip('?')}"
    data = resolve(access.data, world) if access.data is not None else None
    if access.method == "post":
        return client.post(url, data=data or {})
    return client.get(url)


@pytest.mark.parametrize("name", sorted(TABLE))
def test_url_access_matrix(name, world):
    access = TABLE[name]
    for build in BUILDERS:
        build(world)
    users = {"anon": None, "staff": world.staff, "owner": world.owner, "accountant": world.accountant}
    seen = {}
    for role, user in users.items():
        client = Client()
        if user is not None:
            assert client.login(username=user.username, password=PASSWORD)
        response = _request(client, name, access, world, access.kwargs, access.query)
        seen[role] = response.status_code
        if response.status_code == 200 and role in access.must_not_contain:
            body = response.content.decode(errors="replace")
            for text in access.must_not_contain[role]:
                assert text not in body, f"{name}: {role} must not see {text!r}"
    expected = {"anon": access.anon, "staff": access.staff, "owner": access.owner, "accountant": access.accountant}
    if access.staff_other is not None:
        client = Client()
        client.login(username=world.staff.username, password=PASSWORD)
        response = _request(
            client,
            name,
            access,
            world,
            access.kwargs_other or access.kwargs,
            access.query_other if access.query_other is not None else access.query,
        )
        seen["staff_other"] = response.status_code
        expected["staff_other"] = access.staff_other
    assert seen == expected, f"{name}: got {seen}, expected {expected}"
