from decimal import Decimal

import pytest

from retailops.templatetags.retailops import pct, qty, rate


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("0.125"), "12.5%"),
        (0.5, "50.0%"),
        (None, "–"),
        ("", "–"),
        (float("nan"), "–"),
        (float("inf"), "–"),
        ("not a number", "–"),
    ],
)
def test_pct_shows_a_dash_for_shares_that_cannot_be_computed(value, expected):
    assert pct(value) == expected


def test_qty_drops_trailing_zeros_and_groups_thousands():
    assert qty(Decimal("1200.000")) == "1,200"
    assert qty(Decimal("1.250")) == "1.25"
    assert qty(None) == ""


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.05, "0.05"),
        (0.0, "0.00"),
        (3.21, "3.2"),
        (32.46, "32.5"),
        (1240.4, "1,240"),
        (None, "–"),
        (float("nan"), "–"),
    ],
)
def test_rate_keeps_a_slow_movers_fraction_of_a_unit(value, expected):
    assert rate(value) == expected
