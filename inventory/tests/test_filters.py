"""The stock list's and the shrinkage page's query strings: a bad parameter takes its default, the others apply."""

from datetime import date
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.http import QueryDict

from inventory.filters import ShrinkageFilter, StockLevelFilter


def stock_params(query: str, *, costs: bool = True) -> dict:
    request = SimpleNamespace(user=SimpleNamespace(has_perm=lambda perm: costs))
    return StockLevelFilter(QueryDict(query), request=request).params


def test_stock_list_reads_every_parameter():
    assert stock_params("store=3&q=%20jam%20&category=7&status=short&sort=cover") == {
        "store_id": 3,
        "search": "jam",
        "category_id": 7,
        "status": "short",
        "sort": "cover",
    }


def test_stock_list_bad_parameters_fall_back_alone():
    assert stock_params("store=-3&category=x&status=bogus&sort=bogus&q=" + "x" * 100) == {
        "store_id": None,
        "search": "x" * 80,
        "category_id": None,
        "status": "",
        "sort": "sku",
    }


def test_stock_list_sorts_by_value_only_for_users_who_see_costs():
    assert stock_params("sort=value")["sort"] == "value"
    assert stock_params("sort=value", costs=False)["sort"] == "sku"


@pytest.mark.parametrize(
    ("tol", "expected"),
    [("2.5", Decimal("2.5")), ("-5", Decimal("0")), ("5000", Decimal("1000")), ("Infinity", Decimal("1000")),
     ("NaN", Decimal("0")), ("abc", Decimal("0")), ("", Decimal("0"))],
)  # fmt: skip
def test_shrinkage_tolerance_is_clamped_to_0_to_1000_units(tol, expected):
    params = ShrinkageFilter(QueryDict(f"from=2025-01-01&to=2025-03-31&tol={tol}")).params

    assert params["tolerance"] == expected


def test_shrinkage_period_is_swapped_when_reversed_and_defaults_to_the_year_before_to():
    assert ShrinkageFilter(QueryDict("from=2025-03-31&to=2025-01-01&store=4")).params == {
        "date_from": date(2025, 1, 1),
        "date_to": date(2025, 3, 31),
        "store_id": 4,
        "tolerance": Decimal("0"),
    }
    params = ShrinkageFilter(QueryDict("from=31/03/2025&to=2025-03-31")).params
    assert (params["date_from"], params["date_to"]) == (date(2024, 3, 31), date(2025, 3, 31))
