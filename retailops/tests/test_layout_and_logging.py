"""Issue #15, defect 11: anonymous visitors to the API docs go to the login page; a 403 is logged as one line."""

import logging

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import path, reverse

from inventory.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def _forbidden(request):
    raise PermissionDenied("not yours")


def _broken(request):
    raise RuntimeError("boom")


urlpatterns = [path("forbidden/", _forbidden), path("broken/", _broken)]


def test_anonymous_visitors_to_the_api_docs_are_sent_to_the_login_page(client):
    response = client.get("/api/docs/")

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next=/api/docs/"


def test_a_signed_in_user_reads_the_api_docs_and_the_schema_stays_an_api(client, world):
    client.login(username=world.owner.username, password=PASSWORD)

    assert client.get("/api/docs/").status_code == 200
    client.logout()
    assert client.get("/api/schema/").status_code == 401  # the API answers 401, never a login page


def test_a_403_is_logged_as_one_line_without_a_traceback(client, world, caplog):
    client.login(username=world.accountant.username, password=PASSWORD)

    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client.get(reverse("sales:importbatch_create"))

    assert response.status_code == 403
    records = [r for r in caplog.records if r.name == "django.request"]
    assert [r.getMessage() for r in records] == [f"GET /sales/imports/new/ user={world.accountant.pk} 403"]
    assert records[0].exc_info is None and records[0].levelname == "WARNING"
    assert "\n" not in caplog.text.strip()


def test_a_403_from_any_view_is_one_line_and_anonymous_users_show_as_such(client, settings, caplog):
    settings.ROOT_URLCONF = __name__

    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client.get("/forbidden/?x=1")

    assert response.status_code == 403
    (record,) = [r for r in caplog.records if r.name == "django.request"]
    assert (record.getMessage(), record.exc_info) == ("GET /forbidden/ user=- 403", None)


def test_a_500_still_logs_the_full_traceback(client, settings, caplog):
    settings.ROOT_URLCONF = __name__
    client.raise_request_exception = False

    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = client.get("/broken/")

    assert response.status_code == 500
    (record,) = [r for r in caplog.records if r.name == "django.request"]
    assert record.getMessage() == "Internal Server Error: /broken/"
    assert record.exc_info is not None and record.exc_info[0] is RuntimeError
    assert "Traceback" in caplog.text and "RuntimeError: boom" in caplog.text
