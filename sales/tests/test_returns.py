"""Returns are limited to what was sold (issue 17 §8): per original receipt, per product, at the price sold; a
return naming no receipt needs a permission and has a limit; no receipt is dated before its store opened."""

import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Sum
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from customers.models import PointsEntry
from customers.tests.factories import CustomerFactory
from inventory.models import StockLevel, StockMovement
from inventory.tests.factories import ProductFactory, StoreFactory, make_user
from sales.models import Sale, SaleLine, StoreDaily
from sales.services import LineInput, ReceiptInput, receipts_post, sale_record
from sales.tests.test_ingest_files import assert_ledger_invariant, errors_of, run_import, uci

pytestmark = pytest.mark.django_db

AT = "2024-05-01T10:15:00+01:00"


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def till(world):
    """The owner's API client (owners hold every permission), a product sold at £3.19, and the POS device."""
    toilet_roll = ProductFactory(sku="TOI006", mrp=Decimal("3.19"), dp=Decimal("2.99"), cost_price=Decimal("1.00"))
    device = make_user(None, username="pos")
    device.user_permissions.set(
        Permission.objects.filter(
            codename__in=["add_sale", "view_sale", "view_store", "view_product", "view_all_stores"]
        )
    )
    return client_for(world.owner), world, toilet_roll, client_for(device)


def receipt(ref, qty, price="3.19", sku="TOI006", **extra):
    return {
        "store": "OWN",
        "pos_reference": ref,
        "occurred_at": extra.pop("at", AT),
        "lines": [{"sku": sku, "quantity": str(qty), "unit_price": price}],
        **extra,
    }


def back(ref, qty, original="R123", **extra):
    return receipt(ref, -qty, kind="return", original_reference=original, **extra)


def post(client, body):
    return client.post("/api/v1/receipts/", body, format="json")


# --- a return names its original: what it sold, less what came back already -------------------------------


@pytest.mark.scorecard("over-returns refused")
def test_a_return_of_10_against_a_receipt_that_sold_1_is_refused_with_the_figures(till):
    owner, world, roll, _ = till
    post(owner, receipt("R123", 1))

    response = post(owner, back("B1", 10))

    assert response.status_code == 400
    assert response.data["errors"] == ["Line 1: Receipt R123 sold 1 × TOI006; 0 already returned; cannot return 10."]
    assert Sale.objects.filter(kind="return").count() == 0
    assert StockLevel.objects.get(store=world.store_own, product=roll).on_hand == Decimal("-1")


def test_a_second_return_past_what_was_sold_is_refused_and_the_exact_remainder_accepted(till):
    owner, world, roll, _ = till
    post(owner, receipt("R123", 3))
    assert post(owner, back("B1", 2)).status_code == 201

    too_many = post(owner, back("B2", 2))
    remainder = post(owner, back("B3", 1))

    assert too_many.status_code == 400
    assert too_many.data["errors"] == ["Line 1: Receipt R123 sold 3 × TOI006; 2 already returned; cannot return 2."]
    assert remainder.status_code == 201, remainder.data
    assert post(owner, back("B4", 1)).status_code == 400  # nothing left to return
    returned = SaleLine.objects.filter(sale__original__pos_reference="R123").aggregate(q=Sum("quantity"))["q"]
    assert returned == Decimal("-3")
    assert StockLevel.objects.get(store=world.store_own, product=roll).on_hand == Decimal("0")


def test_a_return_cannot_redeem_points(till):
    # Money goes back on a return; points are not spent on one (and a return then never locks the customer, so
    # the till's lock order — the original, then stock — stays the same as the batch path's).
    owner, world, _roll, _ = till
    member = CustomerFactory()
    post(owner, receipt("R123", 2, customer=member.code))

    response = post(owner, back("B1", 1, customer=member.code, points_redeemed=50))

    assert response.status_code == 400
    assert "a return cannot redeem points" in str(response.data)
    assert Sale.objects.filter(kind="return").count() == 0


def test_returns_in_one_batch_count_each_other_and_a_sale_of_the_same_batch(till):
    owner, _, _, _ = till
    body = {"receipts": [receipt("R123", 2), back("B1", 1), back("B2", 1), back("B3", 1)]}

    response = owner.post("/api/v1/receipts/batch/", body, format="json")

    assert [r["status"] for r in response.data["results"]] == ["accepted", "accepted", "accepted", "rejected"]
    assert response.data["results"][3]["errors"] == [
        "line 1: Receipt R123 sold 2 × TOI006; 2 already returned; cannot return 1."
    ]
    sale = Sale.objects.get(pos_reference="R123")
    assert set(Sale.objects.filter(kind="return").values_list("original_id", flat=True)) == {sale.pk}


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (back("B1", 1, price="3.50"), "Line 1: receipt R123 sold TOI006 at £3.19; a return refunds the price it was "
         "sold at, not £3.50."),
        (back("B1", 1, sku="MUG"), "Line 1: receipt R123 did not sell MUG: it cannot be returned on it."),
        (back("B1", 1, original="R999"), "Receipt R999 is not a receipt of store OWN: a return names the receipt "
         "it refunds, or is a no-receipt refund."),
        (back("B1", 1, original="B0"), "Receipt B0 is a return, not a sale."),
    ],
)  # fmt: skip
def test_a_return_at_another_price_of_another_product_or_receipt_is_refused(till, body, error):
    owner, _, _, _ = till
    ProductFactory(sku="MUG", mrp=Decimal("8.00"), dp=Decimal("8.00"))
    post(owner, receipt("R123", 2))
    assert post(owner, back("B0", 1)).status_code == 201

    response = post(owner, body)

    assert (response.status_code, response.data["errors"]) == (400, [error])


def test_another_stores_receipt_is_not_an_original(till):
    owner, world, _, _ = till
    post(owner, {**receipt("R123", 2), "store": "OTH"})

    response = post(owner, back("B1", 1))

    assert response.status_code == 400
    assert response.data["errors"][0].startswith("Receipt R123 is not a receipt of store OWN")


def test_a_return_naming_nothing_is_refused_by_the_api(till):
    owner, _, _, _ = till

    response = post(owner, receipt("B1", -1, kind="return"))

    assert response.status_code == 400
    assert response.data["errors"] == [
        "original_reference: A return names its original receipt, or is sent with no_receipt: true."
    ]


# --- no-receipt refunds: a permission, the list price, a limit ----------------------------------------------


def test_the_pos_device_and_staff_cannot_refund_without_receipt(till):
    _, world, _, device = till
    staff = client_for(world.staff)

    by_device = post(device, receipt("B1", -1, kind="return", no_receipt=True))
    by_staff = post(staff, receipt("B2", -1, kind="return", no_receipt=True))

    assert by_device.status_code == 400
    assert by_device.data["errors"] == [
        "a return without its original receipt needs the permission to refund without receipt (an owner's): "
        "name the original receipt"
    ]
    assert by_staff.status_code == 403  # staff post no receipts at all
    assert not Sale.objects.exists()


def test_the_owner_refunds_without_receipt_within_the_limit_only(till):
    owner, world, _, _ = till

    within = post(owner, receipt("B1", -15, kind="return", no_receipt=True))  # £47.85
    over = post(owner, receipt("B2", -16, kind="return", no_receipt=True))  # £51.04

    assert within.status_code == 201, within.data
    assert Sale.objects.get(pos_reference="B1").total == Decimal("-47.85")
    assert over.status_code == 400
    assert over.data["errors"] == [
        "a refund without receipt is limited to £50.00 per receipt; receipt B2 refunds £51.04"
    ]


def test_the_limit_is_a_setting(till, settings):
    owner, _, _, _ = till
    settings.RETAILOPS = {**settings.RETAILOPS, "NO_RECEIPT_REFUND_LIMIT": "100.00"}

    assert post(owner, receipt("B2", -16, kind="return", no_receipt=True)).status_code == 201


def test_the_probe_50_units_at_100_pounds_of_a_319_product_is_refused(till):
    owner, _, _, _ = till

    response = post(owner, receipt("B1", -50, price="100.00", kind="return", no_receipt=True))

    assert response.status_code == 400
    assert response.data["errors"] == [
        "a refund without receipt is limited to £50.00 per receipt; receipt B1 refunds £5,000.00"
    ]


def test_a_no_receipt_price_above_the_list_price_is_refused(till):
    owner, _, _, _ = till

    response = post(owner, receipt("B1", -1, price="4.00", kind="return", no_receipt=True))

    assert response.status_code == 400
    assert response.data["errors"] == [
        "line 1: a refund without receipt is at most the list price of TOI006 (£3.19), not £4.00"
    ]


def test_the_till_service_refuses_a_no_receipt_refund_for_an_actor_without_the_permission(till):
    _, world, roll, _ = till
    refund = ReceiptInput(
        store=world.store_own, pos_reference="B1", occurred_at=datetime(2024, 5, 1, 9, tzinfo=UTC),
        lines=[LineInput(roll, Decimal("-1"), Decimal("3.19"))], kind="return", no_receipt=True,
    )  # fmt: skip

    with pytest.raises(ValidationError) as refused:
        sale_record(receipt=refund, actor=world.staff)

    assert refused.value.messages[0].startswith("A return without its original receipt needs the permission")
    assert sale_record(receipt=refund, actor=world.owner).status == "accepted"


# --- sale dates ------------------------------------------------------------------------------------------------


def test_a_sale_dated_1900_is_refused_and_the_store_opening_date_is_the_floor_when_set(till):
    owner, world, _, _ = till

    old = post(owner, receipt("S1900", 1, at="1900-01-01T10:00:00+00:00"))
    world.store_own.opened_on = date(2024, 5, 2)
    world.store_own.save()
    before_opening = post(owner, receipt("S1", 1))  # 1 May 2024
    opening_day = post(owner, receipt("S2", 1, at="2024-05-02T08:00:00+01:00"))

    assert old.status_code == 400
    assert old.data["errors"] == ["the sale date 1900-01-01 is before 2000-01-01, the earliest sale date accepted"]
    assert before_opening.status_code == 400
    assert before_opening.data["errors"] == ["the sale date 2024-05-01 is before store OWN opened (2024-05-02)"]
    assert opening_day.status_code == 201


def test_file_rows_dated_1900_or_before_the_floor_are_row_errors():
    batch = run_import(
        uci(
            "536365,TEA,TEA,6,12/1/2010 8:26,4.00,,United Kingdom",
            "536366,TEA,TEA,1,1/1/1900 8:26,4.00,,United Kingdom",
            "536367,TEA,TEA,1,12/31/1999 8:26,4.00,,United Kingdom",
        ),
        mapping="Online Retail (UCI)",
    )

    assert (batch.rows_accepted, batch.rows_rejected) == (1, 2)
    assert errors_of(batch) == [
        (3, "InvoiceDate", "1/1/1900 8:26", "the date is out of range"),  # the parser's own bound (1990–2200)
        (4, "InvoiceDate", "1999-12-31T08:26:00+00:00",
         "the sale date 1999-12-31 is before 2000-01-01, the earliest sale date accepted"),
    ]  # fmt: skip


# --- files --------------------------------------------------------------------------------------------------


def test_a_file_return_naming_its_original_is_held_to_it_line_by_line():
    rows = [
        "pos_reference,sku,quantity,unit_price,occurred_at,store,kind,original_reference",
        "S1,TEA,2,4.00,2024-05-01T10:00:00+01:00,A1,sale,",
        "B1,TEA,-1,4.00,2024-05-01T11:00:00+01:00,A1,return,S1",
        "B2,TEA,-2,4.00,2024-05-01T12:00:00+01:00,A1,return,S1",
        "B3,TEA,-1,4.00,2024-05-01T13:00:00+01:00,A1,return,S1",
    ]
    ProductFactory(sku="TEA", mrp=Decimal("4.00"), dp=Decimal("4.00"))

    batch = run_import("\n".join(rows) + "\n")

    assert (batch.rows_accepted, batch.rows_rejected) == (3, 1)
    assert errors_of(batch) == [(4, "quantity", "-2", "Receipt S1 sold 2 × TEA; 1 already returned; cannot return 2.")]
    sold = Sale.objects.get(pos_reference="S1")
    assert list(Sale.objects.filter(kind="return").values_list("pos_reference", "original_id")) == [
        ("B3", sold.pk), ("B1", sold.pk)
    ]  # fmt: skip
    assert_ledger_invariant()


def test_a_file_return_with_no_original_is_a_no_receipt_refund_limited_per_receipt(world):
    ProductFactory(sku="TEA", mrp=Decimal("4.00"), dp=Decimal("4.00"))
    content = uci(
        "C536379,TEA,TEA,-2,12/1/2010 9:41,4.00,,United Kingdom",
        "C536380,TEA,TEA,-13,12/1/2010 9:42,4.00,,United Kingdom",
    )

    by_owner = run_import(content, mapping="Online Retail (UCI)", actor=world.owner)
    history = run_import(
        content, mapping="Online Retail (UCI)", actor=world.owner, options={"no_receipt_limit": "none"}
    )

    assert (by_owner.rows_accepted, by_owner.rows_rejected) == (1, 1)
    assert errors_of(by_owner) == [
        (3, "InvoiceNo", "C536380", "a refund without receipt is limited to £50.00 per receipt; receipt C536380 "
         "refunds £52.00"),
    ]  # fmt: skip
    assert (history.rows_accepted, history.rows_duplicate) == (1, 1)  # the history import takes the rest


def test_a_file_no_receipt_refund_needs_the_importers_permission(world):
    ProductFactory(sku="TEA", mrp=Decimal("4.00"), dp=Decimal("4.00"))
    importer = make_user(None, username="importer")
    importer.user_permissions.set(
        Permission.objects.filter(codename__in=["import_sales", "add_store", "view_all_stores"])
    )

    batch = run_import(uci("C536379,TEA,TEA,-2,12/1/2010 9:41,4.00,,United Kingdom"), mapping="Online Retail (UCI)",
                       actor=importer)  # fmt: skip

    assert (batch.rows_accepted, batch.rows_rejected) == (0, 1)
    assert errors_of(batch)[0][3].startswith("a return without its original receipt needs the permission")


def test_a_file_no_receipt_refund_may_take_the_highest_price_the_file_sold_at():
    ProductFactory(sku="TEA", mrp=Decimal("4.00"), dp=Decimal("4.00"))
    batch = run_import(
        uci(
            "536365,TEA,TEA,1,12/1/2010 8:26,4.50,,United Kingdom",
            "C536379,TEA,TEA,-1,12/1/2010 9:41,4.50,,United Kingdom",
            "C536380,TEA,TEA,-1,12/1/2010 9:42,4.60,,United Kingdom",
        ),
        mapping="Online Retail (UCI)",
    )

    assert errors_of(batch) == [
        (4, "UnitPrice", "4.60", "a refund without receipt is at most the list price of TEA (£4.50), not £4.60")
    ]


# --- concurrency (PostgreSQL) -----------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.scorecard("over-returns refused")
@pytest.mark.django_db(transaction=True)
def test_two_returns_of_the_last_unit_posted_at_once_one_is_refused(require_postgres):
    store = StoreFactory(code="PG1")
    roll = ProductFactory(sku="TOI006", mrp=Decimal("3.19"), dp=Decimal("3.19"))
    at = datetime(2024, 5, 1, 9, tzinfo=UTC)
    sale_record(
        receipt=ReceiptInput(
            store=store, pos_reference="R1", occurred_at=at, lines=[LineInput(roll, Decimal("2"), Decimal("3.19"))]
        )
    )
    sale_record(
        receipt=ReceiptInput(
            store=store,
            pos_reference="B0",
            occurred_at=at,
            kind="return",
            original_reference="R1",
            lines=[LineInput(roll, Decimal("-1"), Decimal("3.19"))],
        )
    )
    n = 6
    barrier = threading.Barrier(n)
    outcomes: list[str] = []

    def post_return(i):
        try:
            barrier.wait()
            refund = ReceiptInput(store=store, pos_reference=f"B{i + 1}", occurred_at=at + timedelta(minutes=i),
                                  kind="return", original_reference="R1",
                                  lines=[LineInput(roll, Decimal("-1"), Decimal("3.19"))])  # fmt: skip
            outcomes.append(sale_record(receipt=refund).status)
        except ValidationError as exc:
            outcomes.append(exc.messages[0])
        finally:
            connection.close()

    threads = [threading.Thread(target=post_return, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["Line 1: Receipt R1 sold 2 × TOI006; 2 already returned; cannot return 1."] * (
        n - 1
    ) + ["accepted"]
    assert StockLevel.objects.get(store=store, product=roll).on_hand == Decimal("0")
    assert Sale.objects.filter(kind="return").count() == 2


@pytest.mark.postgres
@pytest.mark.scorecard("over-returns refused")
@pytest.mark.django_db(transaction=True)
def test_two_batches_returning_the_last_unit_at_once_one_is_refused(require_postgres):
    from sales.importing import LineDraft, ReceiptDraft  # noqa: PLC0415 — drafts only here and in the property

    store = StoreFactory(code="PG2")
    roll = ProductFactory(sku="TOI007", mrp=Decimal("3.19"), dp=Decimal("3.19"))
    at = datetime(2024, 5, 1, 9, tzinfo=UTC)
    sale_record(
        receipt=ReceiptInput(
            store=store, pos_reference="R1", occurred_at=at, lines=[LineInput(roll, Decimal("1"), Decimal("3.19"))]
        )
    )
    n = 4
    barrier = threading.Barrier(n)
    outcomes: list = []

    def post_batch(i):
        try:
            draft = ReceiptDraft(store_key="PG2", pos_reference=f"B{i}", occurred_at=at + timedelta(minutes=i),
                                 kind="return", original_reference="R1", store=store,
                                 lines=[LineDraft("TOI007", Decimal("-1"), Decimal("3.19"), product=roll)])  # fmt: skip
            barrier.wait()
            outcomes.extend((o.status, o.errors) for o in receipts_post(drafts=[draft]))
        finally:
            connection.close()

    threads = [threading.Thread(target=post_batch, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == [("accepted", [])] + [
        ("rejected", ["line 1: Receipt R1 sold 1 × TOI007; 1 already returned; cannot return 1."])
    ] * (n - 1)
    assert StockLevel.objects.get(store=store, product=roll).on_hand == Decimal("0")


# --- property: over any sequence, no receipt gets back more than it sold --------------------------------------


@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(["sale", "return", "batch"]),
            st.integers(min_value=0, max_value=3),  # which receipt (a return) / its quantity (a sale)
            st.integers(min_value=1, max_value=4),  # units
            st.booleans(),  # which product
        ),
        min_size=1,
        max_size=12,
    )
)
def test_no_sequence_of_returns_takes_back_more_than_its_receipt_sold(steps):
    # The database is rolled back per test, not per example: each example has a store and a customer of its own.
    store = StoreFactory()
    products = [
        ProductFactory(mrp=Decimal("4.00"), dp=Decimal("4.00")),
        ProductFactory(mrp=Decimal("2.50"), dp=Decimal("2.50")),
    ]
    customer = CustomerFactory()
    at = datetime(2024, 5, 1, 9, tzinfo=UTC)
    sales: list[str] = []
    for n, (kind, which, units, second) in enumerate(steps):
        product = products[second]
        when = at + timedelta(minutes=n)
        ref = f"{store.code}-{n}"
        if kind == "sale" or not sales:
            sale_record(
                receipt=ReceiptInput(
                    store=store,
                    pos_reference=ref,
                    occurred_at=when,
                    customer=customer,
                    lines=[LineInput(product, Decimal(units), product.mrp)],
                )
            )
            sales.append(ref)
            continue
        original = sales[which % len(sales)]
        line = LineInput(product, Decimal(-units), product.mrp)
        if kind == "return":
            try:
                sale_record(
                    receipt=ReceiptInput(
                        store=store,
                        pos_reference=ref,
                        occurred_at=when,
                        kind="return",
                        customer=customer,
                        original_reference=original,
                        lines=[line],
                    )
                )
            except ValidationError:
                pass
        else:  # two returns of the same receipt in one set
            from sales.importing import LineDraft, ReceiptDraft  # noqa: PLC0415 — only this branch builds drafts

            drafts = [
                ReceiptDraft(store_key=store.code, pos_reference=f"{ref}-{k}", occurred_at=when, kind="return",
                             original_reference=original, store=store, customer=customer,
                             lines=[LineDraft(product.sku, Decimal(-units), product.mrp, product=product)])
                for k in range(2)
            ]  # fmt: skip
            receipts_post(drafts=drafts)

    sold = (
        SaleLine.objects.filter(sale__store=store, sale__kind="sale")
        .values("sale_id", "product_id")
        .annotate(q=Sum("quantity"))
    )
    returned = {
        (r["sale__original_id"], r["product_id"]): -r["q"]
        for r in SaleLine.objects.filter(sale__store=store, sale__kind="return")
        .values("sale__original_id", "product_id")
        .annotate(q=Sum("quantity"))
    }
    assert all(sale.original_id is not None for sale in Sale.objects.filter(store=store, kind="return"))
    for row in sold:
        assert returned.get((row["sale_id"], row["product_id"]), 0) <= row["q"]
    assert set(returned) <= {(row["sale_id"], row["product_id"]) for row in sold}
    # The stock ledger nets exactly what the receipts say; money and points agree with the receipts.
    for product in products:
        net = StockMovement.objects.filter(store=store, product=product).aggregate(q=Sum("quantity"))["q"] or 0
        lines = SaleLine.objects.filter(sale__store=store, product=product).aggregate(q=Sum("quantity"))["q"] or 0
        assert net == -lines
        assert net <= 0  # never more back than out
    takings = StoreDaily.objects.filter(store=store).aggregate(v=Sum("revenue"))["v"] or 0
    assert takings == Sale.objects.filter(store=store).aggregate(v=Sum("total"))["v"]
    assert takings >= 0
    customer.refresh_from_db()
    ledger = PointsEntry.objects.filter(customer=customer).aggregate(p=Sum("points"))["p"] or 0
    assert customer.points_balance == ledger == sum(Sale.objects.filter(customer=customer).values_list(
        "points_earned", flat=True))  # fmt: skip
