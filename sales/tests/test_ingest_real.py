"""The real Online Retail export (../shared/data), a slice of it: stock, rollups and the row-error report."""

import gzip
import io
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from django.conf import settings
from django.db.models import Sum

from inventory.models import StockLevel, StockMovement
from sales.models import SalesDaily, StoreDaily
from sales.rollups import rollups_rebuild
from sales.tests.test_ingest_files import assert_ledger_invariant, errors_of, run_import

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

REAL = Path(settings.BASE_DIR).parent / "shared" / "data" / "online_retail_2010_2011.csv.gz"
SLICE_LINES = 5000
# A history import: its C invoices name no original receipt, so they are no-receipt refunds, posted without the
# per-receipt limit (the importer may refund without receipt; docs/ingestion.md "Returns"); see test_returns.py
# for the same slice under the default limit.
HISTORY = {"no_receipt_limit": "none"}


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(scope="module")
def real_slice() -> bytes:
    if not REAL.exists():
        pytest.skip(f"{REAL} is not there")
    with gzip.open(REAL, "rt", encoding="utf-8", newline="") as handle:
        lines = [next(handle) for _ in range(SLICE_LINES + 1)]
    # Two rows the slice lacks but the full file has: a bad-debt invoice and a non-ASCII voucher.
    lines.append("A563185,B,Adjust bad debt,1,8/12/2011 14:50,11062.06,,United Kingdom\n")
    lines.append("536999,gift_0001_20,Dotcomgiftshop Gift Voucher £20.00,1,12/3/2010 10:00,16.67,,United Kingdom\n")
    return "".join(lines).encode()


def oracle(content: bytes) -> pd.DataFrame:
    """What should be posted, computed independently with pandas from the documented rules."""
    df = pd.read_csv(io.BytesIO(content), dtype=str, keep_default_na=False)
    df = df[~df.InvoiceNo.str.startswith("A")].drop_duplicates()
    df["qty"] = df.Quantity.astype(int)
    df["price"] = df.UnitPrice.map(lambda v: Decimal(v).quantize(Decimal("0.01")))
    df["day"] = pd.to_datetime(df.InvoiceDate, format="%m/%d/%Y %H:%M").dt.date
    flags = df.assign(nocust=df.CustomerID == "", free=df.price == 0).groupby("InvoiceNo")[["nocust", "free"]].all()
    stock_notes = flags.nocust & flags.free
    df["adjustment"] = df.InvoiceNo.map(stock_notes) & ~df.InvoiceNo.str.startswith("C")
    return df


def test_a_slice_of_the_real_export_posts_exactly_what_the_rules_say(real_slice):
    batch = run_import(real_slice, name="online_retail_slice.csv", options=HISTORY)
    expected = oracle(real_slice)

    assert batch.status == "done", batch.message
    assert batch.rows_read == SLICE_LINES + 2
    assert batch.rows_rejected == 1
    assert batch.rows_accepted == len(expected)
    assert batch.rows_duplicate == SLICE_LINES + 2 - 1 - len(expected)
    assert errors_of(batch) == [
        (
            SLICE_LINES + 2,
            "InvoiceNo",
            "A563185",
            "invoice A563185 is a bad-debt adjustment, not a sale: book it in the accounts",
        )
    ]

    # Stock: every movement is in the ledger and every level equals its ledger.
    assert_ledger_invariant()
    sold = expected[~expected.adjustment]
    goods = sold[~sold.StockCode.str.upper().isin(["POST", "DOT", "M", "C2", "D", "S", "BANK CHARGES"])]
    goods = goods[~goods.StockCode.str.upper().str.startswith("GIFT_")]
    moved = StockMovement.objects.filter(kind__in=["sale", "return"]).aggregate(q=Sum("quantity"))["q"]
    assert moved == -Decimal(int(goods.qty.sum()))
    adjusted = StockMovement.objects.filter(kind__in=["write_off", "adjustment"]).aggregate(q=Sum("quantity"))["q"]
    assert adjusted == Decimal(int(expected[expected.adjustment].qty.sum()))
    holder = StockLevel.objects.get(product__sku="85123A")
    holder_rows = goods[goods.StockCode == "85123A"]
    assert holder.on_hand == -Decimal(int(holder_rows.qty.sum()))

    # Rollups: revenue and units per day match the file; the incremental refresh equals a rebuild.
    sold = sold.assign(revenue=sold.qty.map(Decimal) * sold.price)
    by_day = sold.groupby("day").revenue.sum()
    rolled = {
        row["date"]: row["r"].quantize(Decimal("0.01"))
        for row in SalesDaily.objects.values("date").annotate(r=Sum("revenue")).order_by()
    }
    assert rolled == {day: value.quantize(Decimal("0.01")) for day, value in by_day.items()}
    returns = StoreDaily.objects.aggregate(v=Sum("returns_value"))["v"].quantize(Decimal("0.01"))
    assert returns == -sold[sold.InvoiceNo.str.startswith("C")].revenue.sum()
    incremental = snapshot()
    rollups_rebuild()
    assert snapshot() == incremental


def test_importing_the_slice_twice_posts_it_once(real_slice):
    run_import(real_slice, options=HISTORY)
    movements = StockMovement.objects.count()

    again = run_import(real_slice, options=HISTORY)

    assert (again.rows_accepted, again.rows_rejected) == (0, 1)
    assert again.rows_duplicate == SLICE_LINES + 1
    assert StockMovement.objects.count() == movements


def snapshot():
    return (
        sorted(SalesDaily.objects.values_list("store_id", "product_id", "date", *SALES_SUMS)),
        sorted(StoreDaily.objects.values_list("store_id", "date", "payment_method", *STORE_SUMS)),
    )


SALES_SUMS = ("units", "revenue", "cost", "discount", "units_mrp", "revenue_mrp", "returns_units", "returns_value",
              "transactions")  # fmt: skip
STORE_SUMS = ("transactions", "revenue", "cost", "discount", "units", "returns_value", "customers")


def test_under_the_default_limit_the_slices_c_invoices_over_50_pounds_are_row_errors(real_slice):
    batch = run_import(real_slice, name="online_retail_slice.csv")
    expected = oracle(real_slice)

    returns = expected[expected.InvoiceNo.str.startswith("C")]
    value = (returns.qty.abs().map(Decimal) * returns.price).groupby(returns.InvoiceNo).sum()
    over = returns[returns.InvoiceNo.map(value > Decimal("50.00"))]
    assert len(over) > 0
    assert batch.rows_rejected == 1 + len(over)  # + the bad-debt invoice
    assert batch.rows_accepted == len(expected) - len(over)
    refused = {value for _, _, value, _ in errors_of(batch)} - {"A563185"}
    assert refused == set(over.InvoiceNo)
    assert_ledger_invariant()
