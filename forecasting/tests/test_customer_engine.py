"""The numeric engine on small data with known answers (no database)."""

import numpy as np
import pandas as pd
import pytest

from forecasting import customer_engine as engine


def frame(rows):
    return pd.DataFrame(rows, columns=["customer_id", "date", "amount", "discount"]).assign(
        date=lambda f: pd.to_datetime(f["date"])
    )


def test_rfm_summary_follows_the_bgnbd_conventions_and_skips_returns_only_customers():
    days = engine.purchase_days(
        frame(
            [
                (1, "2025-01-01", 10.0, 0.0),
                (1, "2025-01-01", 5.0, 0.0),  # same day: one purchase of 15
                (1, "2025-01-11", 20.0, 0.0),
                (1, "2025-01-31", 40.0, 0.0),
                (2, "2025-01-21", 8.0, 0.0),  # one purchase only
                (3, "2025-01-05", -12.0, 0.0),  # only a return
            ]
        )
    )
    s = engine.rfm_summary(days, as_of=pd.Timestamp("2025-02-10"))
    assert list(s.index) == [1, 2]
    assert s.loc[1, ["frequency", "recency", "T", "monetary", "total"]].tolist() == [2.0, 30.0, 40.0, 30.0, 75.0]
    assert s.loc[2, ["frequency", "recency", "T", "monetary"]].tolist() == [0.0, 0.0, 20.0, 0.0]


def test_bgnbd_recovers_known_parameters_from_simulated_customers():
    truth = engine.BGNBD(r=0.8, alpha=20.0, a=0.7, b=3.0)
    sample = truth.simulate(3000, 365.0, np.random.default_rng(7))
    fit = engine.BGNBD().fit(sample["frequency"], sample["recency"], sample["T"])
    assert fit.converged
    assert fit.r == pytest.approx(0.8, rel=0.15)
    assert fit.alpha == pytest.approx(20.0, rel=0.2)
    assert fit.a == pytest.approx(0.7, rel=0.35)
    assert fit.b == pytest.approx(3.0, rel=0.5)
    # the population's expected purchases in a further year agree with the truth within 5 %
    total_fit = fit.expected_purchases(91, sample["frequency"], sample["recency"], sample["T"]).sum()
    total_true = truth.expected_purchases(91, sample["frequency"], sample["recency"], sample["T"]).sum()
    assert total_fit == pytest.approx(total_true, rel=0.05)


def test_bgnbd_closed_forms_for_a_customer_who_never_came_back():
    model = engine.BGNBD(r=1.0, alpha=10.0, a=2.0, b=3.0)
    # x = 0: P(alive) is 1 by definition of the model, and E[Y(t)] has a closed form:
    # (a+b−1)/(a−1) · [1 − ((α+T)/(α+T+t))^r · 2F1(r, b; a+b−1; t/(α+T+t))]
    from scipy.special import hyp2f1  # noqa: PLC0415 — heavy: scipy.special (~1 s) loads for this test only, not at collection

    t, T = 30.0, 20.0
    expected = (4 / 1) * (1 - (30 / 60) * hyp2f1(1, 3, 4, 30 / 60))
    assert model.p_alive(np.array([0]), np.array([0.0]), np.array([T]))[0] == 1.0
    assert model.expected_purchases(t, np.array([0]), np.array([0.0]), np.array([T]))[0] == pytest.approx(expected)


def test_gamma_gamma_recovers_known_parameters():
    rng = np.random.default_rng(2)
    p, q, v = 6.0, 4.0, 15.0
    n = 20000
    nu = rng.gamma(q, 1 / v, size=n)
    x = rng.integers(1, 8, size=n)
    m = np.array([rng.gamma(p, 1 / nu_i, size=k).mean() for nu_i, k in zip(nu, x, strict=True)])
    fit = engine.GammaGamma().fit(x, m)
    assert fit.p == pytest.approx(p, rel=0.1)
    assert fit.q == pytest.approx(q, rel=0.1)
    assert fit.v == pytest.approx(v, rel=0.1)
    # shrinkage: one purchase far above the mean is pulled towards the population mean p·v/(q−1)
    own = fit.expected_value(np.array([1]), np.array([200.0]))[0]
    assert fit.population_mean < own < 200.0


def test_regression_metrics_are_hand_computed():
    actual = pd.Series([10.0, 20.0, 30.0], index=[1, 2, 3])
    predicted = pd.Series([12.0, 18.0, 33.0], index=[1, 2, 3])
    m = engine.regression_metrics(actual, predicted)
    assert m["rmse"] == pytest.approx(np.sqrt((4 + 4 + 9) / 3))
    assert m["mae"] == pytest.approx(7 / 3)
    assert m["r2"] == pytest.approx(1 - 17 / 200)
    assert (m["total_actual"], m["total_predicted"]) == (60.0, 63.0)
    assert m["total_error_pct"] == pytest.approx(5.0)
    # issue 19: kept only when better per customer and in total (the blend otherwise: test_customer_issue19)
    assert (
        engine.better_model(
            {"regression": {"rmse": 2.0, "total_error_pct": 9.0}, "probabilistic": {"rmse": 1.5, "total_error_pct": -3}}
        )
        == "probabilistic"
    )
    assert engine.better_model({"regression": {"rmse": None}, "probabilistic": {"rmse": 9.0}}) == "probabilistic"


def _simulated_days(n=400, seed=3):
    """Customers buying at their own steady weekly-ish rate for two years; value ~ their own mean."""
    rng = np.random.default_rng(seed)
    rows = []
    start = pd.Timestamp("2024-01-01")
    for c in range(n):
        rate = rng.gamma(2.0, 1 / 40)  # purchases per day
        value = rng.gamma(5.0, 6.0)
        t = rng.exponential(1 / rate)
        while t < 730:
            disc = value * 0.1 if rng.random() < (0.8 if c % 2 else 0.1) else 0.0
            rows.append((c, start + pd.Timedelta(days=int(t)), value * rng.uniform(0.8, 1.2), disc))
            t += rng.exponential(1 / rate)
    return engine.purchase_days(frame(rows))


def test_spend_models_beat_zero_on_steady_customers_and_report_both():
    days = _simulated_days()
    ev = engine.spend_evaluate(days, cutoff=pd.Timestamp("2025-10-01"), horizon_days=91)
    assert {"regression", "probabilistic", "blend"} <= set(ev.metrics)
    assert ev.chosen in ev.metrics
    for m in (ev.metrics[k] for k in ("regression", "probabilistic")):
        assert m["r2"] > 0.3  # both explain a good share of next quarter's spend
        assert abs(m["total_error_pct"]) < 25


def test_discount_classifier_finds_the_habit():
    days = _simulated_days()
    metrics, model = engine.discount_evaluate(days, cutoff=pd.Timestamp("2025-10-01"), horizon_days=91)
    assert metrics["auc"] > 0.75  # odd customers take discounts 80 % of the time, even ones 10 %
    assert metrics["accuracy"] >= metrics["baseline_accuracy"] - 0.02
    assert sum(c["n"] for c in metrics["calibration"]) == metrics["n"]
    scores = engine.discount_predict(model, days, as_of=pd.Timestamp("2025-12-31"))
    assert (
        scores.loc[scores.index % 2 == 1, "probability"].mean()
        > scores.loc[scores.index % 2 == 0, "probability"].mean()
    )
    assert (scores["expected_discount"] >= 0).all()


def test_closing_on_hand_carries_the_ledger_forward():
    opening = pd.DataFrame({"store_id": [1], "product_id": [7], "qty": [3.0]})
    daily = pd.DataFrame(
        {
            "store_id": [1, 1],
            "product_id": [7, 7],
            "date": pd.to_datetime(["2025-01-02", "2025-01-04"]),
            "qty": [-3.0, 5.0],
        }
    )
    out = engine.closing_on_hand(opening, daily, start=pd.Timestamp("2025-01-01"), end=pd.Timestamp("2025-01-05"))
    assert out["on_hand"].tolist() == [3.0, 0.0, 0.0, 5.0, 5.0]


def test_stockout_exposure_counts_visits_when_a_usual_product_was_out():
    d = pd.to_datetime
    lines = pd.DataFrame(
        [
            # customer 1 buys product 10 (usual: 2 days) and 11 at home store 1
            (1, 1, 10, d("2025-01-01"), 4.0),
            (1, 1, 10, d("2025-01-08"), 6.0),
            (1, 1, 11, d("2025-01-15"), 2.0),  # visit on a day product 10 was out → exposure
            (1, 1, 11, d("2025-01-22"), 2.0),  # 10 out again but… they bought 10 that day (below)
            (1, 1, 10, d("2025-01-22"), 5.0),
            (2, 2, 10, d("2025-01-15"), 1.0),  # customer 2 shops at another store
        ],
        columns=["customer_id", "store_id", "product_id", "date", "amount"],
    )
    stockouts = pd.DataFrame(
        {"store_id": [1, 1, 2], "product_id": [10, 10, 10], "date": d(["2025-01-15", "2025-01-22", "2025-01-15"])}
    )
    out = engine.stockout_exposure(lines, stockouts, home_store=pd.Series({1: 1, 2: 2}))
    assert list(out.index) == [1]
    row = out.loc[1]
    # usual spend on product 10 per day: (4 + 6 + 5) / 3 = 5
    assert (row["visits"], row["exposed_visits"], row["products_missed"], row["revenue_at_risk"]) == (4, 1, 1, 5.0)


def test_rfm_segments_and_churn_heuristic():
    summary = pd.DataFrame(
        {
            "n_days": [10, 1, 5],
            "total": [500.0, 20.0, 100.0],
            "last_date": pd.to_datetime(["2025-06-28", "2025-06-29", "2024-06-30"]),
            "frequency": [9.0, 0.0, 4.0],
            "recency": [180.0, 0.0, 40.0],
            "T": [200.0, 1.0, 400.0],
        },
        index=[1, 2, 3],
    )
    seg = engine.rfm_segments(summary, as_of=pd.Timestamp("2025-06-30"))
    assert seg.loc[1, "segment"] == "Champions"
    assert seg.loc[2, "segment"] == "New"
    risk = engine.churn_risk_heuristic(summary, as_of=pd.Timestamp("2025-06-30"))
    assert risk.loc[1] == pytest.approx(2 / (3 * 20))
    assert risk.loc[3] == 1.0


def test_inventory_sales_link_finds_revenue_falling_with_empty_shelf_days():
    # one store × product over five Monday-weeks; week i has k empty days and sells 2 a day otherwise
    empty_days = [0, 3, 1, 5, 2]
    start = pd.Timestamp("2026-01-05")  # a Monday
    closing, sales = [], []
    for week, k in enumerate(empty_days):
        for d in range(7):
            day = start + pd.Timedelta(days=7 * week + d)
            empty = d < k
            closing.append(
                {"store_id": 1, "product_id": 9, "category": "Food", "date": day, "on_hand": 0 if empty else 5}
            )
            if not empty:
                sales.append({"store_id": 1, "product_id": 9, "date": day, "units": 2.0, "revenue": 2.0})
    result = engine.inventory_sales_link(pd.DataFrame(closing), pd.DataFrame(sales))
    panel = result["panel"]
    assert list(panel["stockout_share"].round(4)) == [round(k / 7, 4) for k in empty_days]
    assert list(panel["revenue"]) == [2.0 * (7 - k) for k in empty_days]
    store = result["by_store"].iloc[0]
    assert store["weeks"] == 5
    assert store["revenue"] == pytest.approx(2.0 * (35 - sum(empty_days)))
    assert store["stockout_share"] == pytest.approx(sum(empty_days) / 35)
    assert store["corr_stockout_revenue"] == pytest.approx(-1.0)
    food = result["by_category"].set_index("category").loc["Food"]
    assert food["corr_stockout_revenue"] == pytest.approx(-1.0)
