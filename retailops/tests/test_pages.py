"""Login, the role-aware home page and the navigation each role sees."""

import subprocess
import sys

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from inventory.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def login(client, user):
    assert client.login(username=user.username, password=PASSWORD)


def nav_labels(response) -> list[str]:
    return [item["label"] for item in response.context["nav_items"]]


def test_home_differs_by_role(client, world):
    login(client, world.staff)
    staff_home = client.get(reverse("home"))
    assert staff_home.status_code == 200
    assert b"Count stock" in staff_home.content
    assert b"Exports for the books" not in staff_home.content
    assert "Profit" not in nav_labels(staff_home)
    assert "Admin" not in nav_labels(staff_home)

    client.logout()
    login(client, world.accountant)
    accountant_home = client.get(reverse("home"))
    assert b"Count stock" not in accountant_home.content
    assert "Admin" not in nav_labels(accountant_home)

    client.logout()
    login(client, world.owner)
    owner_home = client.get(reverse("home"))
    assert b"Reconcile counts" in owner_home.content
    # the button opens the counts waiting for reconciliation, not the admin's index
    assert b'href="/inventory/counts/?status=submitted">Reconcile counts' in owner_home.content
    assert "Admin" in nav_labels(owner_home)


def test_staff_sees_only_own_stores(client, world):
    login(client, world.staff)
    response = client.get(reverse("inventory:store_list"))
    assert list(response.context["stores"]) == [world.store_own]
    takings = client.get(reverse("sales:store_takings"))
    assert [r["store"] for r in takings.context["rows"]] == [world.store_own]


def test_owner_sees_every_store(client, world):
    login(client, world.owner)
    response = client.get(reverse("inventory:store_list"))
    assert set(response.context["stores"]) == {world.store_own, world.store_other}


def test_login_is_rate_limited(client, world, settings):
    # django-axes (retailops/tests/test_logins.py has the rest): the limit is RETAILOPS_LOGIN_ATTEMPTS
    settings.AXES_FAILURE_LIMIT = 3
    url = reverse("login")
    for _ in range(2):
        assert client.post(url, {"username": world.owner.username, "password": "wrong"}).status_code == 200
    assert client.post(url, {"username": world.owner.username, "password": "wrong"}).status_code == 429
    blocked = client.post(url, {"username": world.owner.username, "password": PASSWORD})
    assert blocked.status_code == 429
    assert b"Too many failed sign-ins" in blocked.content


def test_deploy_checks_pass_with_production_settings():
    env = {
        "PATH": "/usr/bin:/bin",
        "RETAILOPS_PRODUCTION": "1",
        "DJANGO_SECRET_KEY": "k" * 20 + "production-test-secret-0123456789abcdef",
        "DJANGO_ALLOWED_HOSTS": "shop.example.com",
        "RETAILOPS_VAR_DIR": str(settings.VAR_DIR),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_one_menu_entry_is_current_the_most_specific(client, world):
    login(client, world.owner)
    page = client.get(reverse("forecasting:calendar")).content.decode()
    current = [chunk.split(">", 1)[1].split("<", 1)[0] for chunk in page.split('aria-current="page"')[1:]]
    assert current == ["Calendar"]


def test_the_takings_panel_says_when_the_newest_receipt_came_in_when_none_came_today(client, world):
    from datetime import timedelta  # noqa: PLC0415 — only this test moves the clock back

    from inventory.tests.factories import ProductFactory  # noqa: PLC0415
    from sales.tests.factories import post_sale  # noqa: PLC0415

    product = ProductFactory()
    at = timezone.localtime() - timedelta(days=2)
    post_sale(store=world.store_own, lines=[(product, 1, None)], when=at)
    post_sale(store=world.store_other, lines=[(product, 1, None)], when=at + timedelta(hours=5))
    login(client, world.staff)
    panel = client.get(reverse("sales:store_takings")).content.decode()
    assert f"the newest is from {at:%a %-d %b %H:%M}" in panel  # staff: their own store's newest, not the other's
    post_sale(store=world.store_own, lines=[(product, 1, None)])
    assert "takings-newest" not in client.get(reverse("sales:store_takings")).content.decode()


def test_the_takings_panel_says_when_its_totals_add_two_currencies(client, world):
    login(client, world.owner)
    assert "takings-currency" not in client.get(reverse("sales:store_takings")).content.decode()
    world.store_other.currency = "EUR"
    world.store_other.save(update_fields=["currency"])
    panel = client.get(reverse("sales:store_takings")).content.decode()
    assert "more than one currency (EUR: OTH; the rest GBP)" in panel
    login(client, world.staff)  # staff see their own (pound) store only: nothing to warn of
    assert "takings-currency" not in client.get(reverse("sales:store_takings")).content.decode()
