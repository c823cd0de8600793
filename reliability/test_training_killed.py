"""A customer-model training run survives its worker being killed (SIGKILL) mid-training.

The same processes as reliability/test_worker_killed.py (the test's PostgreSQL database, a private redis-server,
`celery beat` sending the sweep every 2 s, workers with a 5 s lease): Train is asked in a real process, the first
worker starts the run and is killed; the run, "running" with an expired lease, is taken over by the sweeper (back
to pending, queued again) and a second worker trains it. One set of predictions.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from customers.models import CustomerModelRun, CustomerPrediction
from customers.tests.factories import CustomerFactory
from inventory.tests.factories import ProductFactory, StoreFactory
from sales.tests.factories import post_sale

from .test_worker_killed import (
    LEASE_SECONDS,
    RECOVERY_LIMIT,
    SWEEP_SECONDS,
    _wait,
    kill,
    manage,
    private_redis,  # noqa: F401 — the fixture
    process_env,
    start_beat,
    start_worker,
    stop,
)

CUSTOMERS = 40


def _history() -> None:
    """A year and more of steady loyalty customers (weekly to every few months), as the training needs."""
    rng = np.random.default_rng(5)
    store = StoreFactory(code="TK1")
    product = ProductFactory(mrp=Decimal("10.00"), dp=Decimal("8.00"))
    start = datetime(2025, 1, 1, 12, tzinfo=UTC)
    for i in range(CUSTOMERS):
        customer = CustomerFactory(home_store=store)
        gap = 7 + 3 * (i % 30)
        day = int(rng.integers(0, gap))
        while day < 400:
            price = None if i % 3 else Decimal("8.00")
            post_sale(
                store=store, lines=[(product, 1 + i % 2, price)], customer=customer, when=start + timedelta(days=day)
            )
            day += gap


@pytest.mark.redis
@pytest.mark.scorecard("worker killed mid-run → run finishes")
def test_a_training_run_finishes_once_when_its_worker_is_killed_mid_training(
    transactional_db,
    require_postgres,
    private_redis,  # noqa: F811 — the fixture imported above
    tmp_path,
    scorecard,
):
    _history()
    env = process_env(private_redis)
    beat = start_beat(env, tmp_path)
    first = start_worker(env, "first")
    second = None
    try:
        # given a Train request made in a real process (the run and its outbox message in one transaction)
        out = manage(env, "shell", "-c", "from forecasting.customer_models import model_run_start as s; print(s())")
        assert "True" in out, out
        run = CustomerModelRun.objects.get()

        # when the first worker has started it (holds its lease) and is killed before it is done
        running = CustomerModelRun.objects.filter(pk=run.pk, status=CustomerModelRun.Status.RUNNING).exists
        _wait(running, seconds=120, what="the first worker to start training", processes=(first, beat))
        kill(first)
        killed_at = time.monotonic()
        run.refresh_from_db()
        assert run.status == CustomerModelRun.Status.RUNNING, "the run finished before its worker was killed"
        assert CustomerPrediction.objects.filter(run=run).count() == 0

        # then, with a new worker, the run is taken over and trained
        second = start_worker(env, "second")
        finished = CustomerModelRun.objects.filter(
            pk=run.pk, status__in=[CustomerModelRun.Status.DONE, CustomerModelRun.Status.FAILED]
        ).exists
        took = _wait(finished, seconds=RECOVERY_LIMIT, what="the training run to finish", processes=(second, beat))
        recovered = time.monotonic() - killed_at
    finally:
        logs = {name: stop(p) for name, p in [("first", first), ("second", second), ("beat", beat)] if p is not None}
    scorecard.record("training_recovery_s", round(recovered, 1))

    run.refresh_from_db()
    assert run.status == CustomerModelRun.Status.DONE, (run.message, logs)
    assert run.attempts == 2 and took < RECOVERY_LIMIT  # the killed attempt and the one that finished it
    assert CustomerModelRun.objects.count() == 1
    predictions = CustomerPrediction.objects.filter(run=run)
    assert predictions.count() == run.n_customers == CUSTOMERS
    assert predictions.values("customer").distinct().count() == CUSTOMERS  # one set of predictions
    print(
        f"\ntraining run: killed → done in {recovered:.1f} s (lease {LEASE_SECONDS} s, sweep every {SWEEP_SECONDS} s)"
    )
