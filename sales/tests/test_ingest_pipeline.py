"""The PostgreSQL fast path of file imports: chunks written by parallel writer connections (sales._chunks_post).

The writers must post exactly what receipts_post posts in one transaction, fall back to it when what
a chunk was built from changed or another import got there first, and keep every ledger invariant.
"""

import gzip
import threading
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Sum

from customers.models import Customer, PointsEntry
from inventory import bulk
from inventory.models import Product, StockLevel, StockMovement
from inventory.tests.factories import StoreFactory
from sales import services
from sales.models import ImportBatch, Sale, SaleLine, SalesDaily, StockAdjustment, StockAdjustmentLine, StoreDaily
from sales.rollups import rollups_rebuild
from sales.services import LineInput, ReceiptInput, sale_record
from sales.tests.test_ingest_files import UCI_HEADER, assert_ledger_invariant, errors_of, run_import, uci

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

REAL = Path(settings.BASE_DIR).parent / "shared" / "data" / "online_retail_2010_2011.csv.gz"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of ~300 lines, so a few thousand lines make many chunks and both writers work."""
    monkeypatch.setattr(services, "INGEST_CHUNK_LINES", 300)


@pytest.fixture
def writes(monkeypatch):
    """Counts the chunks the writer threads committed."""
    done = []
    real = services._writes_commit

    def spy(w):
        real(w)
        done.append(1)

    monkeypatch.setattr(services, "_writes_commit", spy)
    return done


@pytest.fixture(scope="module")
def real_rows() -> bytes:
    if not REAL.exists():
        pytest.skip(f"{REAL} is not there")
    with gzip.open(REAL, "rt", encoding="utf-8", newline="") as handle:
        lines = [next(handle) for _ in range(3001)]
    # Two rows the slice lacks: a bad-debt invoice (rejected) and a non-ASCII voucher (a service line).
    lines.append("A563185,B,Adjust bad debt,1,8/12/2011 14:50,11062.06,,United Kingdom\n")
    lines.append("536999,gift_0001_20,Dotcomgiftshop Gift Voucher £20.00,1,12/3/2010 10:00,16.67,,United Kingdom\n")
    return "".join(lines).encode()


def store_snapshot(store) -> dict:
    """Everything an import wrote for one store, keyed by what the file says (not by ids)."""
    sales = Sale.objects.filter(store=store)
    lines = SaleLine.objects.filter(sale__store=store)
    ref_of_line = dict(lines.values_list("pk", "sale__pos_reference"))
    no_of_line = dict(lines.values_list("pk", "line_no"))
    adj_lines = StockAdjustmentLine.objects.filter(adjustment__store=store)
    ref_of_adj = dict(adj_lines.values_list("pk", "adjustment__pos_reference"))
    ref_of_sale = dict(sales.values_list("pk", "pos_reference"))

    def source(kind, pk):
        if kind == "sales.saleline":
            return (ref_of_line[pk], no_of_line[pk])
        return (ref_of_adj[pk],)

    return {
        "sales": sorted(
            sales.values_list(
                "pos_reference", "occurred_at", "local_date", "customer__code", "kind", "payment_method", "total",
                "discount_total", "cost_total", "points_earned", "points_redeemed", "content_hash",
            )
        ),
        "lines": sorted(
            lines.values_list(
                "sale__pos_reference", "line_no", "product__sku", "quantity", "unit_mrp", "unit_price", "price_type",
                "discount", "unit_cost", "line_total", "source_line",
            )
        ),
        "adjustments": sorted(StockAdjustment.objects.filter(store=store).values_list("pos_reference", "content_hash")),
        "adjustment_lines": sorted(
            adj_lines.values_list("adjustment__pos_reference", "line_no", "product__sku", "quantity", "reason",
                                  "source_line")
        ),
        "movements": sorted(
            (source(m.source_type, m.source_id), m.kind, m.product.sku, m.quantity, m.unit_cost, m.occurred_at,
             m.reason)
            for m in StockMovement.objects.filter(store=store).select_related("product")
        ),
        "points": sorted(
            (ref_of_sale[p.source_id], p.customer.code, p.kind, p.points, p.occurred_at, p.expires_at)
            for p in PointsEntry.objects.filter(store=store).select_related("customer")
        ),
        "levels": sorted(StockLevel.objects.filter(store=store).values_list("product__sku", "on_hand")),
        "sales_daily": sorted(
            SalesDaily.objects.filter(store=store).values_list(
                "product__sku", "date", "units", "revenue", "cost", "discount", "units_mrp", "revenue_mrp",
                "returns_units", "returns_value", "transactions",
            )
        ),
        "store_daily": sorted(
            StoreDaily.objects.filter(store=store).values_list(
                "date", "payment_method", "transactions", "revenue", "cost", "discount", "units", "returns_value",
                "customers",
            )
        ),
    }  # fmt: skip


def rollups_snapshot():
    return (
        sorted(SalesDaily.objects.values_list("store_id", "product_id", "date", "units", "revenue", "cost",
                                               "discount", "units_mrp", "revenue_mrp", "returns_units",
                                               "returns_value", "transactions")),
        sorted(StoreDaily.objects.values_list("store_id", "date", "payment_method", "transactions", "revenue", "cost",
                                               "discount", "units", "returns_value", "customers")),
    )  # fmt: skip


def assert_invariants():
    assert_ledger_invariant()
    for customer in Customer.objects.all():
        ledger = PointsEntry.objects.filter(customer=customer).aggregate(p=Sum("points"))["p"] or 0
        assert customer.points_balance == ledger, customer
    incremental = rollups_snapshot()
    rollups_rebuild()
    assert rollups_snapshot() == incremental


def counts(batch):
    return (batch.status, batch.rows_read, batch.rows_accepted, batch.rows_rejected, batch.rows_duplicate,
            batch.sales_created)  # fmt: skip


def test_the_parallel_writers_post_exactly_what_one_transaction_posts(
    require_postgres, small_chunks, writes, real_rows
):
    fast_store, plain_store = StoreFactory(code="FAST"), StoreFactory(code="PLAIN")

    fast = run_import(real_rows, store=fast_store)
    assert len(writes) > 5, "the file did not go through the writer threads"
    committed = len(writes)
    with transaction.atomic():  # inside a caller's transaction: chunk after chunk through receipts_post
        plain = run_import(real_rows, store=plain_store)
    assert len(writes) == committed

    assert counts(fast) == counts(plain)
    assert fast.status == "done" and fast.rows_accepted > 2900
    assert errors_of(fast) == errors_of(plain)
    assert store_snapshot(fast_store) == store_snapshot(plain_store)
    assert_invariants()

    again = run_import(real_rows, store=fast_store)
    assert (again.rows_accepted, again.rows_duplicate) == (0, fast.rows_accepted + fast.rows_duplicate)
    assert store_snapshot(fast_store) == store_snapshot(plain_store)


def test_a_chunk_built_from_a_cost_that_changed_is_posted_again_under_the_locks(
    require_postgres, small_chunks, writes, monkeypatch
):
    store = StoreFactory(code="COST")
    run_import(uci("536001,85123A,WHITE HANGING HEART T-LIGHT HOLDER,1,12/1/2010 8:26,2.55,,United Kingdom"),
               store=store)  # fmt: skip
    product = Product.objects.get(sku="85123A")
    StockLevel.objects.filter(store=store, product=product).update(average_cost=Decimal("1.2500"))
    real_read = bulk.stock_level_costs_read
    # As if a purchase receipt changed the average cost between the read and the lock.
    monkeypatch.setattr(
        bulk, "stock_level_costs_read", lambda *, pairs: dict.fromkeys(real_read(pairs=pairs), Decimal("9.9900"))
    )
    posted = []
    real_post = services.receipts_post
    monkeypatch.setattr(services, "receipts_post", lambda **kw: posted.append(1) or real_post(**kw))

    batch = run_import(
        uci("536002,85123A,WHITE HANGING HEART T-LIGHT HOLDER,4,12/1/2010 9:00,2.55,17850,United Kingdom"),
        store=store,
    )

    assert (batch.status, batch.rows_accepted) == ("done", 1)
    # The writer rolled its attempt back (only the first import's chunk committed there); receipts_post
    # posted the chunk again under the locks, with the cost as it stands.
    assert posted == [1] and writes == [1]
    assert SaleLine.objects.get(sale__pos_reference="536002").unit_cost == Decimal("1.2500")
    assert Sale.objects.get(pos_reference="536002").cost_total == Decimal("5.00")
    assert_invariants()


def test_a_receipt_another_import_posted_meanwhile_is_a_duplicate_not_a_second_sale(
    require_postgres, small_chunks, monkeypatch
):
    store = StoreFactory(code="RACE")
    content = uci(
        "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850,United Kingdom",
        "536366,22633,HAND WARMER UNION JACK,6,12/1/2010 8:28,1.85,17850,United Kingdom",
    )
    real = services._writes_commit_once
    raced = []

    def other_import_first(w):
        if not raced:  # the till posts 536365 itself, on its own connection, just before the writer
            raced.append(1)
            london = ZoneInfo("Europe/London")
            sale_record(
                receipt=ReceiptInput(
                    store=store,
                    pos_reference="536365",
                    occurred_at=datetime(2010, 12, 1, 8, 26, tzinfo=london),
                    customer=Customer.objects.get(code="17850"),
                    lines=[LineInput(product=Product.objects.get(sku="85123A"), quantity=Decimal("6"),
                                     unit_price=Decimal("2.55"))],
                )
            )  # fmt: skip
        real(w)

    monkeypatch.setattr(services, "_writes_commit_once", other_import_first)

    batch = run_import(content, store=store)

    assert (batch.status, batch.rows_accepted, batch.rows_duplicate) == ("done", 1, 1)
    assert Sale.objects.filter(store=store, pos_reference="536365").count() == 1
    assert Sale.objects.filter(store=store).count() == 2
    assert_invariants()


def test_two_imports_of_one_file_racing_post_each_receipt_once(require_postgres, small_chunks, real_rows):
    store = StoreFactory(code="TWICE")
    run_import(uci("1,85123A,WARM-UP,1,12/1/2010 8:00,2.55,,United Kingdom"), store=store)  # products, store
    batches, errors = [], []
    barrier = threading.Barrier(2)

    def importer():
        try:
            barrier.wait()
            batches.append(run_import(real_rows, store=store))
        except Exception as exc:  # noqa: BLE001 — collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=importer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert [b.status for b in batches] == ["done", "done"]
    # How the receipts split between the two batches depends on timing; each must be posted once.
    posted = Sale.objects.filter(store=store).exclude(pos_reference="1")
    assert posted.count() == len(set(posted.values_list("pos_reference", flat=True)))
    alone = StoreFactory(code="ALONE")
    single = run_import(real_rows, store=alone)
    assert posted.count() == Sale.objects.filter(store=alone).count()
    assert sum(b.rows_accepted for b in batches) == single.rows_accepted
    assert SaleLine.objects.filter(sale__in=posted).count() == SaleLine.objects.filter(sale__store=alone).count()
    for batch in batches:
        assert batch.rows_accepted + batch.rows_rejected + batch.rows_duplicate == batch.rows_read
    assert_invariants()


def test_text_with_tabs_backslashes_and_newlines_survives_the_copy(require_postgres, writes):
    store = StoreFactory(code="TEXT")
    content = "\n".join(
        [
            UCI_HEADER,
            'INV\\7,85123A,"TAB\tAND\\BACKSLASH",1,12/1/2010 8:26,2.55,17850,United Kingdom',
            '9\t1,21777,"damaged\nin transit \\ see note",-2,12/1/2010 9:00,0,,United Kingdom',
        ]
    ).encode()

    batch = run_import(content, store=store)

    assert (batch.status, batch.rows_accepted) == ("done", 2), errors_of(batch)
    assert writes == [1]
    assert Sale.objects.get(store=store).pos_reference == "INV\\7"
    assert Product.objects.get(sku="85123A").name == "TAB\tAND\\BACKSLASH"
    adjustment = StockAdjustment.objects.get(store=store)
    assert adjustment.pos_reference == "9\t1"
    assert adjustment.lines.get().reason == "damaged\nin transit \\ see note"
    assert StockMovement.objects.get(source_type="sales.saleline").reason == "POS INV\\7"
    assert StockMovement.objects.get(kind="write_off").reason == "POS 9\t1: damaged\nin transit \\ see note"
    assert_invariants()


def test_batches_are_left_done_and_nothing_is_queued_twice(require_postgres, small_chunks, writes, real_rows):
    store = StoreFactory(code="DONE")
    batch = run_import(real_rows, store=store)
    ImportBatch.objects.filter(pk=batch.pk).update(status="running")  # as if the worker died after the last chunk
    sales = Sale.objects.count()

    again = services.sales_import(batch_id=batch.pk)

    assert counts(again) == counts(batch)
    assert Sale.objects.count() == sales
