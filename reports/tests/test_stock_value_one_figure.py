"""Stock at cost is one figure: the Inventory KPIs, the cash tied up (Cash flow and Insights) and the export's
valuation at today agree to the penny, each line rounded before the sum (they once differed by 31p)."""

from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.http import QueryDict
from django.utils import timezone

from inventory.models import StockLevel
from inventory.tests.factories import ProductFactory
from reports import selectors as sel
from reports.filters import parse_filters

# Lines whose exact values end in a third decimal: rounding each line and rounding the sum differ.
LINES = [("1", "0.1250")] * 4 + [("-2", "4.0000"), ("1.5", "3.3333"), ("7", "0.1235")]


@pytest.mark.django_db
def test_stock_value_is_one_figure_on_every_page(world):
    for qty, cost in LINES:
        product = ProductFactory(cost_price=Decimal(cost))
        StockLevel.objects.create(
            store=world.store_own, product=product, on_hand=Decimal(qty), average_cost=Decimal(cost)
        )
    f = parse_filters(user=world.owner, params=QueryDict("period=30d"), today=timezone.localdate())

    per_line = sum(
        (max(Decimal(q), Decimal(0)) * Decimal(c)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) for q, c in LINES
    )
    exact = sum(max(Decimal(q), Decimal(0)) * Decimal(c) for q, c in LINES).quantize(Decimal("0.01"))
    assert per_line != exact  # the case that used to split the pages

    overview = sel.inventory_overview(f)["total"]["value"]
    valuation = sum((v.value for v in sel.stock_valuation_at(f, f.end)), Decimal(0))
    assert sel.stock_value(f) == per_line
    assert sel.cash_tied(f)["stock"] == per_line
    assert Decimal(str(overview)).quantize(Decimal("0.01")) == per_line
    assert valuation == per_line
