"""Issue 19 on the page and at the doors: the models page's sections (churn AUC, the spend choice with both scores
and the bias, the season line, customers not scored with reasons), the train API's `as_of` and the command's
`--as-of`."""

from datetime import date, timedelta
from unittest import mock

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from threadpoolctl import threadpool_info

from customers.models import CustomerModelRun
from forecasting import customer_engine as engine
from forecasting.tests.test_customer_issue19 import shoppers
from inventory.tests.factories import PASSWORD

SPEND = {
    "regression": {
        "n": 40,
        "rmse": 2099.0,
        "mae": 512.5,
        "bias": -12.25,
        "total_predicted": 9330.0,
        "total_actual": 10000.0,
        "total_error_pct": -6.7,
    },
    "probabilistic": {
        "n": 40,
        "rmse": 1453.5,
        "mae": 401.0,
        "bias": -98.75,
        "total_predicted": 6050.0,
        "total_actual": 10000.0,
        "total_error_pct": -39.5,
    },
    "chosen": "probabilistic",
}


def finished_run(**metrics) -> CustomerModelRun:
    base = {
        "spend": SPEND,
        "churn": {
            "chosen": "logistic",
            "auc": 0.7404,
            "horizon_days": 90,
            "models": {"heuristic": {"auc": 0.657, "n": 40, "left": 20}, "logistic": {"auc": 0.7404, "n": 40}},
        },
        "season": None,
        "not_scored": {"only returns": 3, "every purchase £0": 2},
    }
    return CustomerModelRun.objects.create(
        status=CustomerModelRun.Status.DONE,
        finished_at=timezone.now(),
        cutoff=date(2026, 9, 1),
        chosen_model="probabilistic",
        n_customers=40,
        metrics={**base, **metrics},
    )


def page(user) -> str:
    c = Client()
    assert c.login(username=user.username, password=PASSWORD)
    response = c.get(reverse("customer_reports:models"))
    assert response.status_code == 200
    return response.content.decode()


def section(html: str, testid: str) -> str:
    start = html.index(f'data-testid="{testid}"')
    return html[start : html.index("</section>", start)]


@pytest.mark.django_db
def test_the_models_page_shows_the_churn_auc_of_the_figure_shown(world):
    finished_run()
    churn = section(page(world.owner), "churn-metrics")
    assert 'data-testid="churn-auc">0.740<' in churn
    assert "Logistic regression on RFM, tenure, tier" in churn
    assert "0.657" in churn  # the other candidates' AUC beside it


@pytest.mark.django_db
def test_the_models_page_shows_the_spend_choice_both_scores_and_the_bias(world):
    finished_run()
    spend = section(page(world.owner), "spend-metrics")
    assert 'data-testid="spend-kept">BG/NBD × Gamma-Gamma<' in spend
    for figure in ("2099.00", "1453.50", "-6.7 %", "-39.5 %"):  # per-customer RMSE and total error of each
        assert figure in spend
    assert "-£98.75" in spend  # the kept model's bias per customer (it comes out under)


@pytest.mark.django_db
def test_the_season_line_says_plainly_when_no_season_could_be_applied_and_which_one_was(world):
    finished_run()
    line = section(page(world.owner), "spend-metrics")
    assert "there is no same quarter last year in the history" in line
    assert "carries no season" in line
    CustomerModelRun.objects.all().delete()
    finished_run(season={"index": 1.42, "from": "2025-09-02", "to": "2025-12-01"})
    line = section(page(world.owner), "spend-metrics")
    assert "×1.42" in line and "2025-09-02 – 2025-12-01" in line
    assert "no same quarter last year" not in line
    CustomerModelRun.objects.all().delete()
    finished_run(
        season={
            "index": 1.6,
            "from": "2025-09-02",
            "to": "2025-12-01",
            "method": "centred",
            "year_from": "2025-03-18",
            "year_to": "2026-03-17",
        }
    )
    line = section(page(world.owner), "spend-metrics")
    assert "the year 2025-03-18 – 2026-03-17, centred on that quarter" in line


@pytest.mark.django_db
def test_customers_not_scored_are_counted_with_their_reasons(world):
    finished_run()
    block = section(page(world.owner), "not-scored")
    assert "not scored: <strong>5</strong>" in block
    assert "3 — only returns" in block and "2 — every purchase £0" in block


def api_client(user) -> Client:
    c = Client()
    assert c.login(username=user.username, password=PASSWORD)
    return c


def train(client, body) -> object:
    with mock.patch("forecasting.customer_models.enqueue") as enqueue:
        enqueue.return_value = mock.Mock(published=True)
        response = client.post(reverse("api:customer-model-train"), body, content_type="application/json")
    return response


@pytest.mark.django_db
def test_the_train_api_takes_an_as_of_day_and_keeps_that_run_apart(world):
    response = train(api_client(world.owner), {"as_of": "2024-06-30"})
    assert response.status_code == 202, response.content
    run = CustomerModelRun.objects.get(pk=response.json()["run"]["id"])
    assert (run.as_of, run.backdated) == (date(2024, 6, 30), True)


@pytest.mark.django_db
def test_a_backdated_run_is_listed_as_such_and_its_figures_are_not_the_ones_shown(world):
    finished_run()
    past = finished_run(churn={"chosen": "heuristic", "auc": 0.6123, "horizon_days": 90, "models": {}})
    CustomerModelRun.objects.filter(pk=past.pk).update(as_of=date(2024, 6, 30), backdated=True)
    html = page(world.owner)
    assert "as of 30 Jun 2024: kept apart, not shown" in html
    assert "0.740" in section(html, "churn-auc") and "0.612" not in section(html, "churn-auc")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("as_of", "words"),
    [("tomorrow", "is in the future"), ("30/06/2024", "YYYY-MM-DD"), ("not a day", "YYYY-MM-DD")],
)
def test_the_train_api_refuses_a_future_or_unreadable_as_of(world, as_of, words):
    if as_of == "tomorrow":
        as_of = (timezone.localdate() + timedelta(days=1)).isoformat()
    response = train(api_client(world.owner), {"as_of": as_of})
    assert response.status_code == 400
    assert words in " ".join(response.json()["as_of"])
    assert not CustomerModelRun.objects.exists()


@pytest.mark.django_db
def test_the_command_trains_as_of_a_day_and_refuses_a_bad_one():
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("train_customer_models", "--as-of", "30/06/2024")
    future = (timezone.localdate() + timedelta(days=1)).isoformat()
    with pytest.raises(CommandError, match="in the future"):
        call_command("train_customer_models", "--as-of", future)
    assert not CustomerModelRun.objects.exists()
    with pytest.raises(CommandError, match=r"failed: There are no sales"):  # an empty database: fails, clearly
        call_command("train_customer_models", "--as-of", "2024-06-30")
    run = CustomerModelRun.objects.get()
    assert (run.as_of, run.backdated, run.trigger) == (date(2024, 6, 30), True, CustomerModelRun.Trigger.COMMAND)


def test_the_churn_classifiers_fit_on_one_thread(monkeypatch):
    """OpenMP threads spinning on cores that other work holds made the boosted trees 10× slower on a shared
    machine (bench/customers.py): the classifiers fit and score on one thread."""
    seen = []

    class Spy:
        def fit(self, X, y):
            seen.append([i["num_threads"] for i in threadpool_info() if i["user_api"] in ("openmp", "blas")])
            return self

        def predict_proba(self, X):
            seen.append([i["num_threads"] for i in threadpool_info() if i["user_api"] in ("openmp", "blas")])
            return np.full((len(X), 2), 0.5)

    engine._churn_classifier("boosting")  # loads scikit-learn (and its OpenMP runtime) first
    monkeypatch.setattr(engine, "_churn_classifier", lambda name: Spy())
    days = shoppers(n=200)
    engine.churn_predict(days, as_of=days["date"].max(), model="boosting")
    assert len(seen) == 2 and all(seen) and all(n == 1 for threads in seen for n in threads)


@pytest.mark.django_db
def test_the_level_line_says_how_far_the_model_missed_and_the_factor_or_why_there_is_none(world):
    finished_run()
    line = section(page(world.owner), "level")
    assert "No level check" in line and "365 days of history" in line
    CustomerModelRun.objects.all().delete()
    checks = [
        {"cutoff": "2026-06-02", "error_pct": -7.94, "ratio": 1.086},
        {"cutoff": "2026-03-03", "error_pct": -4.6, "ratio": 1.048},
    ]
    finished_run(
        level={"factor": 1.067, "raw": 1.067, "model": "probabilistic", "checks": checks, "limits": [0.8, 1.25]}
    )
    line = section(page(world.owner), "level")
    assert "-7.9 %" in line and "(from 2026-06-02)" in line and "-4.6 %" in line and "×1.07" in line
    assert "held to" not in line
    CustomerModelRun.objects.all().delete()
    finished_run(level={"factor": 1.25, "raw": 1.41, "model": "probabilistic", "checks": checks, "limits": [0.8, 1.25]})
    assert "(the mean, 1.41, held to ×0.80–×1.25)" in section(page(world.owner), "level")
