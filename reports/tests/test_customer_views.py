"""Customer pages and model runs: personal data only for owners, merge / delete flows, training runs."""

from contextlib import contextmanager
from decimal import Decimal
from unittest import mock

import pytest
from celery import current_app
from django.test import Client
from django.urls import reverse

from customers.models import Customer, CustomerModelRun
from customers.tests.factories import CustomerFactory
from forecasting.customer_models import model_run_execute, model_run_start
from inventory.tests.factories import PASSWORD, ProductFactory
from sales.tests.factories import post_sale


@contextmanager
def _task_delay(**kwargs):
    """Patch the training task's delay; forecasting.dispatch.enqueue calls it (eager mode: no broker message)."""
    before = current_app.conf.task_always_eager
    current_app.conf.task_always_eager = True
    try:
        with mock.patch("forecasting.customer_tasks.train_customer_models_task.delay", **kwargs) as delay:
            yield delay
    finally:
        current_app.conf.task_always_eager = before


def client_for(user):
    c = Client()
    assert c.login(username=user.username, password=PASSWORD)
    return c


@pytest.mark.django_db
def test_search_by_name_works_for_the_owner_and_leaks_nothing_to_the_accountant(world):
    CustomerFactory(code="ZED1", name="Zelda Quill", home_store=world.store_own)
    url = reverse("customer_reports:customer_list") + "?q=Zelda"

    owner_page = client_for(world.owner).get(url).content.decode()
    accountant_page = client_for(world.accountant).get(url).content.decode()

    assert "ZED1" in owner_page and "Zelda Quill" in owner_page
    assert "ZED1" not in accountant_page  # a name search must not reveal who is called Zelda
    assert (
        "1 customer"
        in client_for(world.accountant).get(reverse("customer_reports:customer_list") + "?q=ZED").content.decode()
    )


@pytest.mark.django_db
def test_htmx_request_gets_only_the_table_partial(world):
    CustomerFactory(code="HX1")
    response = client_for(world.owner).get(reverse("customer_reports:customer_list"), HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert 'data-testid="customer-table"' in body
    assert "<html" not in body


@pytest.mark.django_db
def test_owner_merges_a_duplicate_and_deletes_personal_data_from_the_detail_page(world):
    product = ProductFactory(mrp=Decimal("5.00"), dp=Decimal("4.00"))
    keep = CustomerFactory(code="KEEP1", name="Keep Me")
    dup = CustomerFactory(code="DUP1")
    post_sale(store=world.store_own, lines=[(product, 2, None)], customer=dup)
    owner = client_for(world.owner)

    response = owner.post(reverse("customer_reports:customer_merge", kwargs={"pk": keep.pk}), {"duplicate": "DUP1"})
    assert response.status_code == 302
    dup.refresh_from_db()
    assert dup.merged_into == keep

    bad = owner.post(
        reverse("customer_reports:customer_merge", kwargs={"pk": keep.pk}), {"duplicate": "NOBODY"}, follow=True
    )
    assert "No customer with the code" in bad.content.decode()

    unconfirmed = owner.post(reverse("customers:customer_anonymise", kwargs={"pk": keep.pk}), {}, follow=True)
    assert "Tick the confirmation box" in unconfirmed.content.decode()
    owner.post(reverse("customers:customer_anonymise", kwargs={"pk": keep.pk}), {"confirm": "delete"})
    keep.refresh_from_db()
    assert keep.name == "" and keep.anonymised_at is not None
    assert Customer.objects.get(pk=keep.pk).sales.count() == 1


@pytest.mark.django_db
def test_a_run_that_cannot_be_queued_says_so_and_changes_nothing_else(world, django_capture_on_commit_callbacks):
    with _task_delay(side_effect=OSError("broker down")):
        with django_capture_on_commit_callbacks(execute=True):
            run, _ = model_run_start(actor=world.owner)
    run.refresh_from_db()
    assert run.status == CustomerModelRun.Status.PENDING  # queued in the outbox: it starts when the queue is back
    assert run.message == "Queued: the worker will start it when the task queue is back."


@pytest.mark.django_db
def test_a_second_start_while_one_is_pending_reuses_it(world, django_capture_on_commit_callbacks):
    with _task_delay() as delay:
        with django_capture_on_commit_callbacks(execute=True):
            first, queued1 = model_run_start(actor=world.owner)
            second, queued2 = model_run_start(actor=world.owner)
    assert (first.pk, queued1, queued2) == (second.pk, True, False)
    delay.assert_called_once_with(first.pk)


@pytest.mark.django_db
def test_executing_a_run_without_enough_history_fails_with_a_clear_message(world):
    product = ProductFactory(mrp=Decimal("5.00"), dp=Decimal("4.00"))
    post_sale(store=world.store_own, lines=[(product, 1, None)], customer=CustomerFactory())
    run = CustomerModelRun.objects.create()

    run = model_run_execute(run_id=run.pk)

    assert run.status == CustomerModelRun.Status.FAILED
    assert "at least 182 days" in run.message
    assert model_run_execute(run_id=run.pk).status == CustomerModelRun.Status.FAILED  # idempotent, not re-run
