"""Deny by default: a page that declares no permission is closed, and no URL of the project opens to a signed-in user
who has no permission and no store, but for a short list of pages meant for anyone signed in (issue 17 §10)."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver
from django.views import View
from rest_framework.test import APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from inventory.tests.factories import make_user
from retailops.permissions import LOGGED_IN, HasPerms, RolePermissionMixin
from retailops.tests.test_url_matrix import EXCLUDED_NAMESPACES, TABLE, _client, build_all, request_url

# URL name → (what a signed-in user with no permission and no store gets, why that is right).
OPEN_TO_ANY_USER = {
    "home": (200, "the start page; each panel on it is a URL of its own that checks its permission"),
    "login": (302, "a signed-in user is sent on from the login page"),
    "logout": (302, "anyone signed in may sign out"),
    # 503 in the test run: no Celery worker or beat is running (retailops/tests/test_healthz.py has the 200).
    "healthz": (503, "the load balancer's health check, open to anonymous callers too; it shows no data"),
    "metrics": (200, "the monitoring scrape: allowed by address or token, not by login (retailops/views.py)"),
    "api_schema": (200, "the API's description (endpoints and fields), no data; every endpoint checks its own"),
    "api_docs": (200, "the page that shows that description"),
}


class _Undeclared(RolePermissionMixin, View):
    def get(self, request):
        return HttpResponse("open")


class _AnySignedIn(_Undeclared):
    permission_required = LOGGED_IN


def _get(view, user):
    request = RequestFactory().get("/x/")
    request.user = user
    return view.as_view()(request)


@pytest.mark.django_db
def test_a_page_that_declares_no_permission_is_refused_even_to_a_superuser(django_user_model):
    boss = django_user_model.objects.create_superuser(username="boss", password="x-long-password-1")
    with pytest.raises(PermissionDenied):
        _get(_Undeclared, boss)
    with pytest.raises(PermissionDenied):
        _get(_Undeclared, make_user("owner"))


@pytest.mark.django_db
def test_logged_in_lets_any_signed_in_user_in_and_sends_anonymous_to_login():
    assert _get(_AnySignedIn, make_user(None)).status_code == 200
    response = _get(_AnySignedIn, AnonymousUser())
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.django_db
def test_an_api_permission_naming_no_permission_refuses():
    class Api(APIView):
        permission_classes = [HasPerms.of()]

        def get(self, request):
            return HttpResponse("open")

    request = APIRequestFactory().get("/x/")
    force_authenticate(request, user=make_user("owner"))
    assert Api.as_view()(request).status_code == 403


def _views(patterns, namespace=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            if (entry.namespace or "") in EXCLUDED_NAMESPACES:
                continue
            prefix = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _views(entry.url_patterns, prefix)
        elif isinstance(entry, URLPattern) and entry.name:
            yield f"{namespace}{entry.name}", entry.callback


def test_every_page_says_who_may_open_it():
    """Each view with RolePermissionMixin names its permissions, or LOGGED_IN and is on OPEN_TO_ANY_USER."""
    problems = []
    for name, callback in _views(get_resolver().url_patterns):
        cls = getattr(callback, "view_class", None)
        if cls is None or not issubclass(cls, RolePermissionMixin):
            continue
        declared = getattr(callback, "view_initkwargs", {}).get("permission_required", cls.permission_required)
        if declared is LOGGED_IN:
            if name not in OPEN_TO_ANY_USER:
                problems.append(f"{name}: LOGGED_IN but not on OPEN_TO_ANY_USER")
        elif not declared:
            problems.append(f"{name}: {cls.__name__} declares no permission")
    assert not problems, problems


def test_no_url_opens_to_a_user_with_no_permission_and_no_store(world):
    """Every URL of the matrix, as a signed-in user in no group and no store: 403, except OPEN_TO_ANY_USER."""
    build_all(world)
    client = _client(make_user(None, username="nora_nobody"))
    names = sorted(TABLE, key=lambda name: (name == "logout", name))  # signing out last keeps the session
    seen = {name: request_url(client, name, TABLE[name], world).status_code for name in names}
    expected = {name: OPEN_TO_ANY_USER.get(name, (403, ""))[0] for name in seen}
    wrong = {name: f"got {seen[name]}, expected {expected[name]}" for name in seen if seen[name] != expected[name]}
    assert not wrong, "\n".join(f"{name}: {why}" for name, why in wrong.items())
