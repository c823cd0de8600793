"""The customer pages' pandas work, moved out of the views: the list's rows and the inventory ↔ sales scatter."""

from types import SimpleNamespace

import pandas as pd

from reports.customer_selectors import customer_list_rows, inventory_link_points


def test_list_rows_take_segment_churn_spend_and_last_purchase_from_the_frame():
    # given: customer 1 bought (a segments row), customer 2 never did
    segments = pd.DataFrame(
        {
            "segment": ["Champions"],
            "total": [120.5],
            "last_date": [pd.Timestamp("2025-03-02 14:00")],
            "churn_risk": [0.25],
            "churn_band": ["low"],
            "churn_source": ["heuristic"],
        },
        index=[1],
    )
    one, two = SimpleNamespace(pk=1), SimpleNamespace(pk=2)

    # when
    rows = customer_list_rows(customers=[one, two], segments=segments)

    # then
    assert rows == [
        {
            "customer": one,
            "segment": "Champions",
            "churn": {"risk": 0.25, "band": "low", "source": "heuristic", "segment": "Champions"},
            "spend": 120.5,
            "last": pd.Timestamp("2025-03-02").date(),
        },
        {"customer": two, "segment": "No purchases", "churn": None, "spend": 0, "last": None},
    ]


def test_scatter_points_are_stockout_share_and_revenue_against_the_series_mean_week():
    # given: store 1 × Tea over three weeks (mean revenue 200), a week without a share, and a series that sold nothing
    panel = pd.DataFrame(
        {
            "store_id": [1, 1, 1, 1, 2],
            "category": ["Tea", "Tea", "Tea", "Tea", "Tea"],
            "stockout_share": [0.0, 0.25, 0.5, None, 0.125],
            "revenue": [300.0, 200.0, 100.0, 999.0, 0.0],
        }
    )

    # when
    points = inventory_link_points(panel)

    # then: 150 %, 100 %, 50 % of the mean week; 0 where the mean week is 0; the row without a share left out
    assert points == [
        {"x": 0.0, "y": 150.0},
        {"x": 25.0, "y": 100.0},
        {"x": 50.0, "y": 50.0},
        {"x": 12.5, "y": 0.0},
    ]


def test_scatter_keeps_the_first_rows_up_to_the_limit_and_is_empty_without_a_panel():
    panel = pd.DataFrame(
        {"store_id": [1, 1, 1], "category": ["Tea"] * 3, "stockout_share": [0.1, 0.2, 0.3], "revenue": [1.0, 2.0, 3.0]}
    )

    assert inventory_link_points(panel, limit=2) == [{"x": 10.0, "y": 66.7}, {"x": 20.0, "y": 133.3}]
    assert inventory_link_points(pd.DataFrame()) == []
