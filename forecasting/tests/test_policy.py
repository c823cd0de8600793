"""Reorder maths on hand-computed cases (no database)."""

from decimal import Decimal

import pytest

from forecasting import policy

Z95 = 1.6448536269514722


def test_min_max_quantity_rounded_to_case_pack():
    # given 10/day, σ 2, lead 4 + review 5 = 9 days (√9 = 3), 95 %: SS = 1.64485 × 2 × 3 = 9.869
    r = policy.reorder_policy(
        policy.PolicyInput(
            on_hand=Decimal(20),
            on_order=Decimal(10),
            daily_forecast=[10.0] * 28,
            forecast_error=2.0,
            lead_time_days=4,
            review_period_days=5,
            service_level=Decimal("0.95"),
            case_pack=12,
            unit_cost=Decimal("2.50"),
            unit_price=Decimal("4.00"),
        )
    )
    assert r.safety_stock == Decimal("9.869")
    assert r.reorder_point == Decimal("49.869")  # 40 + 9.869
    assert r.order_up_to == Decimal("99.869")  # 40 + 50 + 9.869
    assert r.position == Decimal(30)
    assert r.raw_quantity == Decimal("69.869")
    assert r.quantity == Decimal(72)  # 6 cases of 12
    assert r.cash_needed == Decimal("180.00")
    assert r.margin_at_risk == Decimal("90.00")  # 60 units short × 1.50
    assert any("6 case(s) of 12" in line for line in r.explanation)


def test_position_above_reorder_point_orders_nothing_and_lead_time_zero_works():
    r = policy.reorder_policy(
        policy.PolicyInput(
            on_hand=Decimal(10),
            on_order=Decimal(0),
            daily_forecast=[1.0] * 7,
            forecast_error=1.0,
            lead_time_days=0,
            review_period_days=7,
            service_level=Decimal("0.95"),
        )
    )
    assert r.forecast_lead_time == Decimal("0.000")
    assert r.safety_stock == Decimal(str(round(Z95 * 7**0.5, 3)))
    assert r.quantity == 0


def test_service_level_of_100_percent_is_capped_with_a_message():
    level, message = policy.service_level_clean(Decimal("1"))
    assert level == Decimal("0.999")
    assert "100 %" in message
    assert policy.service_level_clean(100)[0] == Decimal("0.999")
    assert policy.service_level_clean(None) == (Decimal("0.95"), "")


def test_negative_book_stock_counts_as_zero_and_manual_min_max_win():
    r = policy.reorder_policy(
        policy.PolicyInput(
            on_hand=Decimal(-3),
            on_order=Decimal(0),
            daily_forecast=[1.0] * 14,
            forecast_error=0.0,
            lead_time_days=2,
            review_period_days=7,
            case_pack=1,
            manual_min=Decimal(5),
            manual_max=Decimal(20),
        )
    )
    assert r.position == 0
    assert (r.reorder_point, r.order_up_to, r.quantity) == (Decimal(5), Decimal(20), Decimal(20))


def test_no_demand_orders_nothing_even_at_zero_stock():
    r = policy.reorder_policy(
        policy.PolicyInput(
            on_hand=Decimal(0), on_order=Decimal(0), daily_forecast=[], forecast_error=0.0, lead_time_days=5
        )
    )
    assert r.quantity == 0


def test_minimum_order_rounds_up_to_whole_cases():
    r = policy.reorder_policy(
        policy.PolicyInput(
            on_hand=Decimal(0),
            on_order=Decimal(0),
            daily_forecast=[0.5] * 14,
            forecast_error=0.0,
            lead_time_days=1,
            review_period_days=1,
            case_pack=6,
            min_order_qty=Decimal(10),
        )
    )
    assert r.quantity == Decimal(12)


def test_budget_picks_most_margin_per_unit_of_cash():
    lines = [("a", Decimal(100), Decimal(50)), ("b", Decimal(50), Decimal(40)), ("c", Decimal(60), Decimal(30))]
    picked, message = policy.budget_pick(lines, Decimal(120))
    assert picked == {"b", "c"}
    assert "2 of 3" in message
    picked, message = policy.budget_pick(lines, Decimal(0))
    assert picked == set()
    assert "buys nothing" in message
    with pytest.raises(ValueError):
        policy.budget_pick(lines, Decimal(-1))


def test_rebalance_moves_surplus_before_buying():
    moves = policy.rebalance(
        [
            policy.StoreNeed(store_id=1, on_hand=Decimal(30), order_up_to=Decimal("10.5"), need=Decimal(0)),
            policy.StoreNeed(store_id=2, on_hand=Decimal(0), order_up_to=Decimal(13), need=Decimal("12.5")),
            policy.StoreNeed(store_id=3, on_hand=Decimal(0), order_up_to=Decimal(13), need=Decimal(10)),
        ]
    )
    assert moves == [(1, 2, Decimal(13)), (1, 3, Decimal(6))]


def test_abc_classes():
    assert policy.abc_classes({"x": 80, "y": 15, "z": 5}) == {"x": "A", "y": "B", "z": "C"}


def test_overstock_cover_is_told_in_days_then_in_years_with_its_figures():
    from forecasting.services import _cover_text

    text = _cover_text(120.4, on_hand=Decimal("241"), per_day=2.0)
    assert text.startswith("120 days of cover: 241 on hand at about 2.00")
    assert _cover_text(400.0, on_hand=Decimal("40"), per_day=0.1).startswith("over 1 year of cover")
    assert _cover_text(82174.0, on_hand=Decimal("545"), per_day=0.0066).startswith("over 225 years of cover")
