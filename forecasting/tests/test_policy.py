"""Reorder maths on hand-computed cases (no database)."""

from decimal import Decimal

import pytest
from scipy.stats import norm

from forecasting import policy
from forecasting.services import _cover_text

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
    # demand over the 9 days ~ N(90, 6²): without the order 60 units short (k = −10: G(k) ≈ 10), with it
    # (position 102, k = 2) 6 × G(2) = 6 × (φ(2) − 2·(1 − Φ(2))) = 0.0509 short → (60 − 0.0509) × 1.50 = 89.92
    assert r.margin_at_risk == Decimal("89.92")
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
    text = _cover_text(120.4, on_hand=Decimal("241"), per_day=2.0)
    assert text.startswith("120 days of cover: 241 on hand at about 2.00")
    assert _cover_text(400.0, on_hand=Decimal("40"), per_day=0.1).startswith("over 1 year of cover")
    assert _cover_text(82174.0, on_hand=Decimal("545"), per_day=0.0066).startswith("over 225 years of cover")


@pytest.mark.parametrize(
    "stock, mean, spread",
    [(30, 90, 6), (90, 90, 6), (102, 90, 6), (60, 50, 17.9), (0, 3, 1), (500, 3, 1)],
)
def test_expected_shortfall_matches_the_normal_loss_integral(stock, mean, spread):
    # E[max(D − stock, 0)] for D ~ N(mean, spread²), by numerical integration (scipy), not by the loss formula
    from scipy.integrate import quad  # noqa: PLC0415 — heavy: scipy.integrate (~2.7 s) loads for this test only, not at collection

    integral, _ = quad(lambda d: (d - stock) * norm.pdf(d, mean, spread), stock, mean + 12 * spread)
    assert policy.expected_shortfall(stock, mean, spread) == pytest.approx(max(integral, 0.0), abs=1e-6)
    assert policy.expected_shortfall(stock, mean, 0) == max(mean - stock, 0)


def test_a_line_ordered_only_for_safety_stock_still_protects_margin():
    # 10/day, lead 4 + review 1 = 5 days: mean demand 50 over the protection period, σ 8 × √5 = 17.89;
    # safety stock 1.645 × 17.89 = 29.4 → reorder point 69.4. A position of 60 covers the mean (nothing "short"
    # on average) but sits under the reorder point, so 20 are ordered; the margin they protect is the expected
    # shortfall they remove: 17.89 × (G(0.559) − G(1.677)) = 3.22 − 0.34 = 2.88 units × 2.00 = 5.76.
    r = policy.reorder_policy(
        policy.PolicyInput(
            on_hand=Decimal(60),
            on_order=Decimal(0),
            daily_forecast=[10.0] * 28,
            forecast_error=8.0,
            lead_time_days=4,
            review_period_days=1,
            service_level=Decimal("0.95"),
            unit_cost=Decimal("3.00"),
            unit_price=Decimal("5.00"),
        )
    )
    assert r.quantity == Decimal(20)
    spread = 8 * 5**0.5
    saved = spread * (
        norm.pdf(10 / spread)
        - 10 / spread * norm.sf(10 / spread)
        - norm.pdf(30 / spread)
        + 30 / spread * norm.sf(30 / spread)
    )
    assert saved == pytest.approx(2.88, abs=0.01)
    assert r.margin_at_risk == Decimal(str(round(saved * 2, 2)))
    assert r.margin_at_risk > 0  # the old "mean shortfall" rule gave 0 here, so the budget ranked it last
    assert any("margin protected" in line for line in r.explanation)
