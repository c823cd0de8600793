"""A full training run on a small simulated history posted through the real sale service (slow)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from django.test import Client
from django.urls import reverse

from customers.models import CustomerModelRun, CustomerPrediction
from customers.tests.factories import CustomerFactory
from forecasting.customer_models import model_run_execute
from inventory.tests.factories import PASSWORD, ProductFactory
from sales.tests.factories import post_sale


@pytest.mark.slow
@pytest.mark.django_db
def test_a_run_trains_both_spend_models_scores_every_customer_and_serves_the_api(world):
    rng = np.random.default_rng(5)
    product = ProductFactory(mrp=Decimal("10.00"), dp=Decimal("8.00"))
    start = datetime(2025, 1, 1, 12, tzinfo=UTC)
    customers = [CustomerFactory(home_store=world.store_own) for _ in range(30)]
    for i, c in enumerate(customers):
        gap = 7 + 3 * i  # steady shoppers, from weekly to every few months
        day = int(rng.integers(0, gap))
        while day < 400:
            price = None if i % 3 else Decimal("8.00")  # every third customer buys at member price
            post_sale(
                store=world.store_own, lines=[(product, 1 + i % 2, price)], customer=c, when=start + timedelta(days=day)
            )
            day += gap
    run = CustomerModelRun.objects.create()

    run = model_run_execute(run_id=run.pk, today=(start + timedelta(days=400)).date())

    assert run.status == CustomerModelRun.Status.DONE, run.message
    assert {"regression", "probabilistic", "blend"} <= set(run.metrics["spend"])
    assert run.chosen_model in {"regression", "probabilistic", "blend"}
    assert run.metrics["churn"]["chosen"]  # steady shoppers all come back: no AUC, the heuristic is kept
    assert run.metrics["spend"]["probabilistic"]["n"] == 30
    assert CustomerPrediction.objects.filter(run=run).count() == 30
    weekly = CustomerPrediction.objects.get(run=run, customer=customers[0])
    rare = CustomerPrediction.objects.get(run=run, customer=customers[-1])
    assert weekly.spend_quarter > rare.spend_quarter > 0

    client = Client()
    client.login(username=world.owner.username, password=PASSWORD)
    body = client.get(reverse("api:customer-prediction-list") + f"?customer={customers[0].code}").json()
    assert body["count"] == 1
    assert Decimal(body["results"][0]["spend_quarter"]) == weekly.spend_quarter
    page = client.get(reverse("customer_reports:models")).content.decode()
    assert "BG/NBD × Gamma-Gamma" in page and "RMSE" in page
