"""The trust badge follows from the measured error against the yardstick and the bias, by the rule on the page;
models are named in words, never by their code."""

from datetime import date

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from forecasting import engine
from forecasting.models import DemandForecast, ForecastAccuracy
from inventory.tests.factories import PASSWORD, ProductFactory

from .factories import finished_run

RANK = {"low": 0, "medium": 1, "high": 2}
END = date(2026, 12, 5)


def badge(mase, wmape, bias, history_days=400) -> str:
    return engine.trust_badge(mase=mase, wmape=wmape, bias=bias, history_days=history_days)[0]


def test_cl01_dai002_at_471_percent_daily_error_and_300_percent_bias_is_low():
    # The demo's CL01 DAI002: MASE 0.58 (beats the yardstick on average), daily wMAPE 4.71, bias +3.00.
    level, why = engine.trust_badge(mase=0.577, wmape=4.71, bias=2.996, history_days=238)
    assert level == "low"
    assert "forecast 300% more than sold (bias +300%)" in why and "471% of the units sold" in why


@pytest.mark.parametrize(
    ("mase", "wmape", "bias", "level"),
    [
        (0.50, 0.40, 0.05, "high"),
        (0.89, 0.74, -0.15, "high"),
        (0.90, 0.40, 0.05, "medium"),  # only just beats the yardstick
        (0.50, 0.40, 0.16, "medium"),  # leans over by 16 %
        (0.50, 0.75, 0.00, "medium"),
        (1.00, 2.00, -0.50, "medium"),  # on every bar for low, not over one
        (1.01, 0.40, 0.00, "low"),  # worse than the yardstick
        (0.50, 0.40, -0.51, "low"),  # leans under by 51 %
        (0.50, 2.01, 0.00, "low"),
        (0.50, 0.40, None, "medium"),  # bias unknown: not high
    ],
)
def test_the_written_thresholds(mase, wmape, bias, level):
    assert badge(mase, wmape, bias) == level


def test_too_little_history_or_no_backtest_is_low():
    assert badge(0.5, 0.4, 0.0, history_days=89) == "low"
    assert badge(None, None, None) == "low"
    assert badge(float("nan"), 0.4, 0.0) == "low"


metric = st.floats(min_value=0, max_value=10, allow_nan=False)
signed = st.floats(min_value=-5, max_value=5, allow_nan=False)
growth = st.floats(min_value=0, max_value=5, allow_nan=False)


@given(mase=metric, wmape=metric, bias=signed, more_mase=growth, more_wmape=growth, more_bias=growth)
def test_a_worse_error_or_a_larger_bias_never_raises_the_badge(mase, wmape, bias, more_mase, more_wmape, more_bias):
    before = RANK[badge(mase, wmape, bias)]
    sign = 1 if bias >= 0 else -1
    assert RANK[badge(mase + more_mase, wmape, bias)] <= before
    assert RANK[badge(mase, wmape + more_wmape, bias)] <= before
    assert RANK[badge(mase, wmape, bias + sign * more_bias)] <= before
    assert RANK[badge(mase + more_mase, wmape + more_wmape, bias + sign * more_bias)] <= before


@given(mase=metric, wmape=metric, bias=signed)
def test_the_badge_is_the_written_rule(mase, wmape, bias):
    low = mase > engine.TRUST_LOW_MASE or abs(bias) > engine.TRUST_LOW_BIAS or wmape > engine.TRUST_LOW_WMAPE
    high = mase < engine.TRUST_HIGH_MASE and abs(bias) <= engine.TRUST_HIGH_BIAS and wmape < engine.TRUST_HIGH_WMAPE
    assert badge(mase, wmape, bias) == ("low" if low else "high" if high else "medium")


def test_every_model_has_a_name_in_words():
    assert set(engine.MODEL_NAMES) == set(engine.MODEL_LABELS)
    for code, name in engine.MODEL_NAMES.items():
        assert "_" not in name and name != code, code
    assert engine.model_name("ets") == "exponential smoothing"


@pytest.mark.django_db
def test_the_pages_show_the_rule_the_badge_and_model_names_not_codes(world):
    # given: a chosen model at the DAI002 figures
    dai = ProductFactory(sku="DAI002")
    run = finished_run(pairs=[(world.store_own, dai)], end=END)
    ForecastAccuracy.objects.filter(run=run).update(model="adida", mase=0.577, wmape=4.71, bias=2.996)
    DemandForecast.objects.filter(run=run).update(model="adida")
    c = Client()
    assert c.login(username=world.owner.username, password=PASSWORD)
    # when / then: the detail page
    detail = c.get(reverse("forecasting:forecast_detail", args=[world.store_own.pk, dai.pk])).content.decode()
    assert 'data-testid="trust">low' in detail
    assert 'data-testid="trust-rule"' in detail and engine.TRUST_RULE in detail.replace("&#x27;", "'")
    assert "Model: weekly totals spread over days" in detail and ">adida<" not in detail
    # the overview and its table partial
    overview = c.get(reverse("forecasting:forecast_overview")).content.decode()
    assert 'data-testid="trust">low' in overview and "weekly totals spread over days" in overview
    assert 'data-testid="trust-rule"' in overview and ">adida<" not in overview
    # the accuracy page
    accuracy = c.get(reverse("forecasting:accuracy_overview")).content.decode()
    assert 'data-testid="trust-rule"' in accuracy and ">weekly totals spread over days<" in accuracy
    # the API: the code and the words
    api = c.get(reverse("api:forecast-predict"), {"store": world.store_own.pk, "product": dai.pk, "horizon": 7})
    assert (api.json()["model"], api.json()["model_label"], api.json()["trust"]) == (
        "adida",
        "weekly totals spread over days",
        "low",
    )
