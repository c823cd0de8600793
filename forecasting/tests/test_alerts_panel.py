"""The alerts panels agree: low stock is one figure (inventory's), every count counts the rows listed, and no
all-clear is given while a forecast is still running."""

import random
import re
from datetime import date
from decimal import Decimal

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse

from forecasting import selectors
from forecasting.models import ForecastRun, StockAlert
from inventory.models import PurchaseOrder, PurchaseOrderLine, StockLevel
from inventory.tests.factories import PASSWORD, ProductFactory

from .factories import finished_run

pytestmark = pytest.mark.django_db

END = date(2026, 12, 5)
OTHER_KINDS = [(StockAlert.Kind.STOCKOUT_RISK, 1), (StockAlert.Kind.OVERSTOCK, 3), (StockAlert.Kind.DEAD_STOCK, 3)]


def _client(user) -> Client:
    c = Client()
    assert c.login(username=user.username, password=PASSWORD)
    return c


def _counts(html: str) -> dict[str, int]:
    """The count pills of a forecasting alerts panel: kind → n."""
    return {k: int(n) for k, n in re.findall(r'data-kind="(\w+)">(\d+) ', html)}


def _listed(html: str) -> dict[str, int]:
    """The rows of a forecasting alerts panel: kind → rows."""
    out: dict[str, int] = {}
    for kind in re.findall(r'<tr data-kind="(\w+)"', html):
        out[kind] = out.get(kind, 0) + 1
    return out


def _low_pills(html: str) -> tuple[int, int]:
    def pill(testid):
        m = re.search(rf'data-testid="{testid}">(\d+) ', html)
        return int(m.group(1)) if m else 0

    return pill("low-to-order"), pill("low-covered")


def _random_book(rng: random.Random, world) -> None:
    stores = [world.store_own, world.store_other]
    for _ in range(rng.randint(0, 8)):
        store, product = rng.choice(stores), ProductFactory()
        on_hand = rng.randint(-2, 12)
        StockLevel.objects.create(
            store=store,
            product=product,
            on_hand=Decimal(on_hand),
            min_qty=rng.choice([None, Decimal(rng.randint(0, 10))]),
        )
        if rng.random() < 0.5:
            order = PurchaseOrder.objects.create(
                supplier=product.supplier,
                store=store,
                status=rng.choice([s.value for s in PurchaseOrder.Status]),
                expected_date=rng.choice([None, END]),
            )
            ordered = rng.randint(1, 20)
            PurchaseOrderLine.objects.create(
                order=order,
                product=product,
                quantity_ordered=Decimal(ordered),
                quantity_received=Decimal(rng.randint(0, ordered)),
                unit_cost=Decimal("1.00"),
            )
        # the plan's alerts of the line: another kind, and sometimes its own "low stock" (not inventory's figure)
        if rng.random() < 0.5:
            kind, severity = rng.choice(OTHER_KINDS)
            StockAlert.objects.create(kind=kind, severity=severity, store=store, product=product, message="plan")
        if rng.random() < 0.3:
            StockAlert.objects.create(kind="low_stock", severity=2, store=store, product=product, message="plan low")


def test_counts_shown_equal_the_rows_listed_on_both_panels_for_random_books(world):
    finished_run(pairs=[], end=END)
    rng = random.Random(15)
    for case in range(30):
        with transaction.atomic():
            _random_book(rng, world)
            for user in (world.owner, world.staff):
                c = _client(user)
                stock = c.get(reverse("inventory:stock_alerts")).content.decode()
                home = c.get(reverse("forecasting:alerts_panel")).content.decode()
                low = _low_pills(stock)
                # the home panel does not list low stock again; it names the inventory panel's figures
                assert "low_stock" not in _counts(home) and "low_stock" not in _listed(home), case
                note = re.search(r'data-testid="low-elsewhere">([^<]*)', home).group(1)
                if sum(low):
                    assert f"Low stock — {low[0]} to order" in note, case
                    assert (f"{low[1]} covered by orders" in note) == (low[1] > 0), case
                else:
                    assert note == "No low stock.", case
                # each pill of the home panel counts its rows
                assert _counts(home) == _listed(home), case
                # the Reorder page lists low stock among the alerts: its counts are its rows, and the same figure
                reorder = c.get(reverse("forecasting:suggestion_list"))
                assert reorder.status_code == 200
                html = reorder.content.decode()
                panel = html.split('data-testid="alert-counts"')[1] if 'data-testid="alert-counts"' in html else ""
                assert _counts(html) == _listed(panel), case
                assert (_counts(html).get("low_stock", 0), _counts(html).get("low_stock_covered", 0)) == low
                # and the morning e-mail's figures
                digest = {c["kind"]: c["n"] for c in selectors.digest_context(user=user)["act_counts"]}
                assert digest.get("low_stock", 0) == low[0], case
            transaction.set_rollback(True)


def test_a_low_line_on_order_reads_the_same_on_the_reorder_page(world):
    paper = ProductFactory(sku="PAP006")
    StockLevel.objects.create(store=world.store_own, product=paper, on_hand=Decimal(3), min_qty=Decimal(7))
    order = PurchaseOrder.objects.create(
        supplier=paper.supplier,
        store=world.store_own,
        status=PurchaseOrder.Status.ORDERED,
        expected_date=date(2026, 12, 8),
    )
    PurchaseOrderLine.objects.create(order=order, product=paper, quantity_ordered=24, unit_cost=Decimal("1.00"))
    html = _client(world.owner).get(reverse("forecasting:suggestion_list")).content.decode()
    assert "3 on hand, minimum 7; on order: 24, due Tue 8 Dec — that covers it." in html
    assert _counts(html) == {"low_stock_covered": 1}


def test_no_all_clear_while_a_forecast_is_running(world):
    finished_run(pairs=[], end=END)
    c = _client(world.staff)
    assert "No stockout risk" in c.get(reverse("forecasting:alerts_panel")).content.decode()
    ForecastRun.objects.create(status=ForecastRun.Status.PENDING, history_end=END, chunks_total=3)
    html = c.get(reverse("forecasting:alerts_panel")).content.decode()
    assert "No stockout risk" not in html
    assert 'data-testid="forecast-running">Forecast running: 0 of 1 run, suggestions follow:' in html
