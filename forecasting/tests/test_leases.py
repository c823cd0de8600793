"""Leases, the sweeper, resume and the queued-work limit (issue 17): killed work recovers by itself; a user's
queued runs are bounded; a down broker leaves a run pending, saying so."""

import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from rest_framework.test import APIClient

from customers.models import CustomerModelRun, CustomerPrediction
from customers.tests.factories import CustomerFactory
from forecasting import customer_models, leases, services
from forecasting.customer_tasks import train_customer_models_nightly_task
from forecasting.models import DemandForecast, ForecastAccuracy, ForecastChunk, ForecastRun
from forecasting.tasks import forecast_nightly_task, runs_sweep_task
from inventory.tests.factories import PASSWORD, ProductFactory, StoreFactory
from retailops.models import OutboxMessage

from .factories import sales_days

END = date(2025, 3, 31)
PATTERN = [3, 4, 5, 4, 6, 9, 7]


@dataclass
class Sent:
    """What forecasting.dispatch.enqueue returns (retailops.outbox.Enqueued): truthy, `published` or not."""

    message_id: int
    published: bool | None

    def __bool__(self) -> bool:
        return True


class FakeOutbox:
    """Stands in for forecasting.dispatch.enqueue: records each message as an outbox row (published or not)."""

    def __init__(self, published: bool = True):
        self.published = published
        self.calls: list[tuple] = []

    def __call__(self, task_name, *args, queue=None, key=None):
        self.calls.append((task_name, args, queue, key))
        row = OutboxMessage.objects.create(
            task_name=task_name,
            args=list(args),
            queue=queue or "",
            key=key,
            sent_at=timezone.now() if self.published else None,
        )
        return Sent(row.pk, self.published)

    def keys(self, task_name=services.CHUNK_TASK) -> list[str]:
        return [key for name, _args, _queue, key in self.calls if name == task_name]


@pytest.fixture
def outbox():
    fake = FakeOutbox()
    with (
        mock.patch("forecasting.services.enqueue", fake),
        mock.patch("forecasting.customer_models.enqueue", fake),
    ):
        yield fake


@pytest.fixture
def chain(db):
    stores = [StoreFactory(code=f"L{i}") for i in range(2)]
    products = [ProductFactory() for _ in range(3)]
    for s in stores:
        for p in products:
            sales_days(store=s, product=p, units=[PATTERN[i % 7] for i in range(90)], end=END)
    return stores, products


def _run(chunk_size=2, **kwargs) -> ForecastRun:
    return services.forecast_run_start(
        horizon_days=7, chunk_size=chunk_size, models=["seasonal_naive"], dispatch=False, **kwargs
    )


def _lease(chunk: ForecastChunk, *, seconds: float, attempts: int = 1, by: str = "gone-host:4242") -> None:
    ForecastChunk.objects.filter(pk=chunk.pk).update(
        lease_until=timezone.now() + timedelta(seconds=seconds), attempts=attempts, claimed_by=by
    )


# --------------------------------------------------------------------------------------------------
# Leases


def test_a_chunk_holds_a_lease_while_it_computes_and_drops_it_when_done(chain, outbox):
    run = _run(chunk_size=6)
    chunk = ForecastChunk.objects.get(run=run)
    seen = {}
    compute = services._chunk_compute

    def watching(run, chunk):
        seen.update(ForecastChunk.objects.filter(pk=chunk.pk).values("lease_until", "claimed_by", "attempts").get())
        return compute(run, chunk)

    with mock.patch("forecasting.services._chunk_compute", watching):
        services.forecast_chunk_process(chunk_id=chunk.pk)

    assert seen["claimed_by"] == leases.worker_name() and seen["attempts"] == 1
    assert seen["lease_until"] > timezone.now() + timedelta(seconds=leases.lease_seconds() - 10)
    chunk.refresh_from_db()
    assert chunk.done and chunk.lease_until is None


def test_a_chunk_that_fails_drops_its_lease_so_the_sweeper_leaves_it_to_the_retry(chain, outbox):
    run = _run(chunk_size=6)
    chunk = ForecastChunk.objects.get(run=run)
    with mock.patch("forecasting.services._chunk_compute", side_effect=RuntimeError("boom")):
        with pytest.raises(RuntimeError):
            services.forecast_chunk_process(chunk_id=chunk.pk)
    chunk.refresh_from_db()
    assert (chunk.done, chunk.lease_until, chunk.attempts) == (False, None, 1)


def test_the_heartbeat_renews_every_beat_until_the_work_ends_or_the_lease_is_lost():
    beats, third = [], threading.Event()

    def renew():
        beats.append(1)
        if len(beats) == 3:
            third.set()
            return False  # taken over: stop renewing
        return True

    with leases.Heartbeat(renew, every=0.01) as heart:
        assert third.wait(timeout=10)
        heart._thread.join(timeout=10)
        assert not heart._thread.is_alive()  # stopped by itself once the lease was lost
    assert len(beats) == 3


# --------------------------------------------------------------------------------------------------
# The sweeper


def test_the_sweeper_requeues_an_expired_chunk_once_and_leaves_live_and_unclaimed_ones(chain, outbox):
    run = _run()
    lost, live, waiting = ForecastChunk.objects.filter(run=run).order_by("number")
    _lease(lost, seconds=-5)
    _lease(live, seconds=50)

    first = services.chunks_sweep()
    second = services.chunks_sweep()

    assert (first, second) == ({"requeued": 1, "failed": 0}, {"requeued": 0, "failed": 0})
    assert outbox.calls == [(services.CHUNK_TASK, (lost.pk,), "heavy", f"forecast-chunk:{lost.pk}:1")]
    lost.refresh_from_db()
    live.refresh_from_db()
    assert (lost.lease_until, lost.claimed_by, lost.attempts) == (None, "", 1)
    assert live.lease_until is not None and live.claimed_by == "gone-host:4242"
    assert waiting.lease_until is None


def test_a_single_store_run_is_requeued_on_the_interactive_queue(chain, outbox):
    stores, _ = chain
    run = _run(store_ids=[stores[0].pk])
    chunk = ForecastChunk.objects.filter(run=run).first()
    _lease(chunk, seconds=-1)
    services.chunks_sweep()
    assert [queue for *_, queue, _key in outbox.calls] == ["interactive"]


def test_the_sweeper_leaves_chunks_of_finished_runs_alone(chain, outbox):
    run = _run(chunk_size=6)
    chunk = ForecastChunk.objects.get(run=run)
    _lease(chunk, seconds=-5)
    ForecastRun.objects.filter(pk=run.pk).update(status=ForecastRun.Status.FAILED)
    assert services.chunks_sweep() == {"requeued": 0, "failed": 0}


def test_a_chunk_lost_once_too_often_is_failed_and_the_run_finishes_without_it(chain, outbox):
    run = _run(chunk_size=6)
    chunk = ForecastChunk.objects.get(run=run)
    _lease(chunk, seconds=-5, attempts=services.CHUNK_RETRIES + 1)

    assert services.chunks_sweep() == {"requeued": 0, "failed": 1}

    chunk.refresh_from_db()
    run.refresh_from_db()
    assert chunk.done and "stopped 3 times" in chunk.error
    assert set(chunk.failed_series) == {f"{s}:{p}" for s, p in chunk.series}
    assert run.status == ForecastRun.Status.PARTIAL and run.chunks_done == run.chunks_total == 1
    assert outbox.keys() == []


def test_a_chunk_still_computed_by_the_worker_it_was_taken_from_is_written_once(chain, outbox):
    # given a chunk whose first worker was thought lost: a second worker finished it while the first computed
    run = _run(chunk_size=6)
    chunk = ForecastChunk.objects.get(run=run)
    compute = services._chunk_compute
    nested = []

    def slow_first_worker(run, chunk):
        result = compute(run, chunk)
        if not nested:
            nested.append(1)
            services.forecast_chunk_process(chunk_id=chunk.pk)  # the second worker, start to finish
        return result

    with mock.patch("forecasting.services._chunk_compute", slow_first_worker):
        services.forecast_chunk_process(chunk_id=chunk.pk)

    # then the first worker's results were dropped: every series once, the chunk counted once
    run.refresh_from_db()
    assert (run.status, run.chunks_done, run.series_done) == (ForecastRun.Status.DONE, 1, 6)
    assert DemandForecast.objects.filter(run=run).count() == 6 * 7
    assert ForecastAccuracy.objects.filter(run=run, chosen=True).count() == 6


@pytest.mark.django_db
def test_the_sweep_is_scheduled_every_minute():
    task = PeriodicTask.objects.get(task="forecasting.tasks.runs_sweep_task")
    assert (task.enabled, task.interval.every, task.interval.period) == (True, 60, "seconds")


# --------------------------------------------------------------------------------------------------
# Training runs


def _stale_training(minutes_ago: int = 3, attempts: int = 1) -> CustomerModelRun:
    beat = datetime(2025, 12, 6, 14, 2, tzinfo=ZoneInfo("Europe/London"))  # the site's time zone
    return CustomerModelRun.objects.create(
        status=CustomerModelRun.Status.RUNNING,
        started_at=beat - timedelta(minutes=minutes_ago),
        heartbeat_at=beat,
        lease_until=beat + timedelta(seconds=60),
        claimed_by="gone-host:99",
        attempts=attempts,
    )


@pytest.mark.django_db
def test_the_sweeper_takes_over_a_stale_training_run_and_queues_it_again(outbox):
    stale = _stale_training()
    live = CustomerModelRun.objects.create(
        status=CustomerModelRun.Status.RUNNING, lease_until=timezone.now() + timedelta(seconds=30)
    )

    assert runs_sweep_task() == {"requeued": 0, "failed": 0, "training": 1}
    assert runs_sweep_task()["training"] == 0  # once

    stale.refresh_from_db()
    live.refresh_from_db()
    assert (stale.status, stale.message) == (
        CustomerModelRun.Status.PENDING,
        "Taken over: its worker stopped at 14:02.",
    )
    assert (stale.lease_until, stale.claimed_by) == (None, "")
    assert outbox.calls == [(customer_models.TRAIN_TASK, (stale.pk,), None, f"customer-model-run:{stale.pk}:1")]
    assert live.status == CustomerModelRun.Status.RUNNING


@pytest.mark.django_db
def test_a_training_run_lost_three_times_is_failed_not_taken_over_again(outbox):
    stale = _stale_training(attempts=customer_models.LOST_LIMIT)
    assert customer_models.model_runs_sweep() == 0
    stale.refresh_from_db()
    assert stale.status == CustomerModelRun.Status.FAILED and "stopped 3 times" in stale.message
    assert outbox.calls == []


@pytest.mark.django_db
def test_train_takes_over_a_stale_run_instead_of_returning_it(world, outbox, django_capture_on_commit_callbacks):
    stale = _stale_training()
    with django_capture_on_commit_callbacks(execute=True):
        run, queued = customer_models.model_run_start(actor=world.owner)
    assert (run.pk, queued, run.status) == (stale.pk, True, CustomerModelRun.Status.PENDING)
    assert [key for *_, key in outbox.calls] == [f"customer-model-run:{stale.pk}:1"]
    # while it waits, a second Train returns it and queues nothing more
    again, queued_again = customer_models.model_run_start(actor=world.owner)
    assert (again.pk, queued_again, len(outbox.calls)) == (stale.pk, False, 1)


@pytest.mark.django_db
def test_the_nightly_training_takes_over_a_stale_run_and_executes_it(outbox):
    stale = _stale_training()
    with mock.patch("forecasting.customer_models._execute") as execute:
        train_customer_models_nightly_task()
    stale.refresh_from_db()
    assert execute.call_count == 1 and execute.call_args.args[0].pk == stale.pk
    assert (stale.attempts, stale.claimed_by) == (2, leases.worker_name())


@pytest.mark.django_db
def test_a_worker_whose_training_run_was_taken_over_writes_nothing(world):
    customer = CustomerFactory(home_store=world.store_own)
    run = CustomerModelRun.objects.create(status=CustomerModelRun.Status.RUNNING, claimed_by="new-host:1")

    def rows():
        return [CustomerPrediction(run=run, customer=customer)]

    assert customer_models._results_save(run, owner="old-host:1", rows=rows(), message="old") is False
    assert CustomerPrediction.objects.filter(run=run).count() == 0
    assert customer_models._results_save(run, owner="new-host:1", rows=rows(), message="new") is True
    run.refresh_from_db()
    assert (run.status, run.message, CustomerPrediction.objects.filter(run=run).count()) == ("done", "new", 1)


# --------------------------------------------------------------------------------------------------
# Resume and the nightly task


def test_resume_sends_each_lost_chunk_once(chain, outbox):
    run = _run(chunk_size=1)  # 6 chunks
    done, live, expired, waiting, lost, published = ForecastChunk.objects.filter(run=run).order_by("number")
    ForecastChunk.objects.filter(pk=done.pk).update(done=True)
    _lease(live, seconds=50)
    _lease(expired, seconds=-5)
    OutboxMessage.objects.create(task_name=services.CHUNK_TASK, args=[waiting.pk], key=f"forecast-chunk:{waiting.pk}:0")
    OutboxMessage.objects.create(
        task_name=services.CHUNK_TASK,
        args=[published.pk],
        key=f"forecast-chunk:{published.pk}:0",
        sent_at=timezone.now(),
    )

    assert services.forecast_run_dispatch(run_id=run.pk) == 2
    assert sorted(outbox.keys()) == sorted([f"forecast-chunk:{expired.pk}:1", f"forecast-chunk:{lost.pk}:0"])
    # a second resume finds nothing lost
    assert services.forecast_run_dispatch(run_id=run.pk) == 0
    # --resend also re-sends what was published (a broker that lost its queues), never a live or waiting one
    assert services.forecast_run_dispatch(run_id=run.pk, resend=True) == 3
    assert sorted(outbox.keys()[2:]) == sorted(
        f"forecast-chunk:{c.pk}:{a}" for c, a in [(expired, 1), (lost, 0), (published, 0)]
    )


def test_the_resume_command_counts_what_it_sent(chain, outbox, capsys):
    run = _run(chunk_size=2)  # 3 chunks, none sent yet
    call_command("forecast_run", "--resume")
    call_command("forecast_run", "--resume")
    out = capsys.readouterr().out
    assert f"Run #{run.pk}: 3 chunk(s) sent to the workers." in out
    assert f"Run #{run.pk}: 0 chunk(s) sent to the workers" in out
    assert len(outbox.keys()) == 3


def test_the_nightly_task_starts_tonights_run_and_resends_nothing_of_older_runs(chain, outbox):
    old = _run(chunk_size=2)
    ForecastRun.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=5))
    new_id = forecast_nightly_task()
    sent_ids = {args[0] for _name, args, _queue, _key in outbox.calls}
    assert sent_ids == set(ForecastChunk.objects.filter(run_id=new_id).values_list("pk", flat=True))
    assert not sent_ids & set(ForecastChunk.objects.filter(run=old).values_list("pk", flat=True))


def test_a_run_is_queued_with_its_chunks_in_one_transaction_each_with_its_key(chain, outbox):
    stores, _ = chain
    run = services.forecast_run_start(horizon_days=7, chunk_size=2, models=["seasonal_naive"], store_ids=[stores[0].pk])
    chunk_ids = ForecastChunk.objects.filter(run=run).order_by("number").values_list("pk", flat=True)
    assert outbox.calls == [(services.CHUNK_TASK, (pk,), "interactive", f"forecast-chunk:{pk}:0") for pk in chunk_ids]


# --------------------------------------------------------------------------------------------------
# Broker down at start


def test_a_run_started_while_the_broker_is_down_stays_pending_and_says_so(
    chain, outbox, django_capture_on_commit_callbacks
):
    outbox.published = False
    with django_capture_on_commit_callbacks(execute=True):
        run = services.forecast_run_start(horizon_days=7, chunk_size=2, models=["seasonal_naive"])
    run.refresh_from_db()
    assert (run.status, run.message) == (ForecastRun.Status.PENDING, services.QUEUED_MESSAGE)
    assert OutboxMessage.objects.filter(sent_at__isnull=True).count() == run.chunks_total == 3


@pytest.mark.django_db
def test_a_training_run_started_while_the_broker_is_down_stays_pending_and_says_so(
    world, outbox, django_capture_on_commit_callbacks
):
    outbox.published = False
    with django_capture_on_commit_callbacks(execute=True):
        run, queued = customer_models.model_run_start(actor=world.owner)
    run.refresh_from_db()
    assert (queued, run.status) == (True, CustomerModelRun.Status.PENDING)
    assert run.message == "Queued: the worker will start it when the task queue is back."


# --------------------------------------------------------------------------------------------------
# The queued-work limit


def _waiting_runs(user, n: int) -> None:
    for _ in range(n):
        ForecastRun.objects.create(history_end=END, created_by=user, chunks_total=12)


def test_a_user_with_three_runs_waiting_gets_a_429_from_the_api_until_one_finishes(world, chain, outbox):
    _waiting_runs(world.owner, 3)
    api = APIClient()
    api.force_authenticate(world.owner)
    url = reverse("api:forecastrun-list")
    body = {"horizon_days": 7, "models": ["seasonal_naive"]}

    refused = api.post(url, body, format="json")

    assert refused.status_code == 429
    assert int(refused["Retry-After"]) == 120  # 12 chunks × 10 s (no chunk timed yet)
    assert refused.json() == {
        "detail": "You have 3 forecast runs waiting; try again when one finishes (about 2 minutes)."
    }
    assert ForecastRun.objects.filter(created_by=world.owner).count() == 3
    # when one finishes, the next is accepted
    oldest = ForecastRun.objects.filter(created_by=world.owner).order_by("pk").first()
    ForecastRun.objects.filter(pk=oldest.pk).update(status=ForecastRun.Status.DONE)
    assert api.post(url, body, format="json").status_code == 201


def test_the_page_refuses_a_fourth_run_with_the_same_sentence_and_a_429(world, chain, outbox, settings):
    settings.RETAILOPS = {**settings.RETAILOPS, "MAX_QUEUED_RUNS": 2}
    _waiting_runs(world.owner, 2)
    client = Client()
    client.login(username=world.owner.username, password=PASSWORD)

    response = client.post(reverse("forecasting:run_start"), {"horizon": 7})

    assert response.status_code == 429 and response["Retry-After"] == "120"
    assert (
        "You have 2 forecast runs waiting; try again when one finishes (about 2 minutes)." in response.content.decode()
    )


def test_the_limit_is_per_user_and_nightly_runs_are_not_limited(world, chain, outbox):
    _waiting_runs(world.owner, 3)
    _waiting_runs(None, 5)
    assert services.forecast_run_start(trigger="nightly", horizon_days=7, models=["seasonal_naive"]).pk
    other = services.forecast_run_start(actor=world.accountant, horizon_days=7, models=["seasonal_naive"])
    assert other.created_by == world.accountant
    with pytest.raises(services.TooManyQueued) as refused:
        services.forecast_run_start(actor=world.owner, horizon_days=7, models=["seasonal_naive"])
    assert refused.value.retry_after == 120
