"""File ingestion: the documented rules for real POS exports, and bad input of every kind (docs/ingestion.md)."""

import csv
import gzip
import io
from datetime import datetime
from decimal import Decimal

import pytest
from django.db.models import Sum

from customers.models import Customer, PointsEntry
from inventory.models import Product, StockLevel, StockMovement, Store
from inventory.tests.factories import ProductFactory, StoreFactory
from sales.models import ColumnMapping, ImportBatch, Sale, SaleLine, StockAdjustment
from sales.services import import_batch_create, sales_import

pytestmark = pytest.mark.django_db

UCI_HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def run_import(content, name="pos.csv", *, mapping=None, store=None, options=None, actor=None) -> ImportBatch:
    """Given file bytes (or text), import them through the page's service and return the finished batch.

    The importer asks for the file's stores to be created (create_stores), unless the options say otherwise.
    """
    options = {"create_stores": True, **(options or {})}
    if isinstance(content, str):
        content = content.encode()
    if isinstance(mapping, str):
        mapping = ColumnMapping.objects.get(name=mapping)
    batch = import_batch_create(
        source=ImportBatch.Source.FILE,
        source_name=name,
        content=content,
        mapping=mapping,
        store=store,
        options=options,
        actor=actor,
    )
    return sales_import(batch_id=batch.pk)


def uci(*rows: str) -> str:
    return "\n".join([UCI_HEADER, *rows]) + "\n"


def errors_of(batch):
    return list(batch.row_errors.order_by("line_number", "id").values_list("line_number", "column", "value", "message"))


def assert_ledger_invariant():
    ledger = {
        (r["store_id"], r["product_id"]): r["q"]
        for r in StockMovement.objects.values("store_id", "product_id").annotate(q=Sum("quantity"))
    }
    for level in StockLevel.objects.all():
        assert level.on_hand == ledger.get((level.store_id, level.product_id), 0), level


# --- the real-data rules ------------------------------------------------------------------------------


def test_a_uci_export_creates_store_products_customers_and_posts_sales():
    batch = run_import(
        uci(
            "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850,United Kingdom",
            "536365,71053,WHITE METAL LANTERN,6,12/1/2010 8:26,3.39,17850,United Kingdom",
            "536366,85123A,WHITE HANGING HEART T-LIGHT HOLDER,2,12/1/2010 9:01,2.95,,United Kingdom",
        )
    )

    assert batch.status == "done", batch.message
    assert (batch.rows_read, batch.rows_accepted, batch.rows_rejected, batch.rows_duplicate) == (3, 3, 0, 0)
    store = Store.objects.get(code="ONLINE")
    assert store.timezone == "Europe/London"
    holder = Product.objects.get(sku="85123A")
    assert (holder.name, holder.kind, holder.mrp) == ("WHITE HANGING HEART T-LIGHT HOLDER", "goods", Decimal("2.95"))
    first = Sale.objects.get(pos_reference="536365")
    assert first.customer.code == "17850"
    assert first.total == Decimal("35.64")  # 6 × 2.55 + 6 × 3.39
    assert first.occurred_at.isoformat() == "2010-12-01T08:26:00+00:00"  # UK local time in winter = UTC
    assert first.points_earned == 35
    assert Sale.objects.get(pos_reference="536366").customer is None
    assert StockLevel.objects.get(store=store, product=holder).on_hand == Decimal("-8")
    assert Customer.objects.get(code="17850").points_balance == 35
    assert batch.duration_seconds is not None


def test_summer_times_are_read_as_uk_local_time():
    run_import(uci("560000,22423,REGENCY CAKESTAND 3 TIER,1,7/15/2011 10:30,12.75,,United Kingdom"))

    sale = Sale.objects.get()
    assert sale.occurred_at.isoformat() == "2011-07-15T09:30:00+00:00"  # BST = UTC+1
    assert str(sale.local_date) == "2011-07-15"


def test_cancelled_c_invoices_are_returns_that_put_stock_back():
    run_import(
        uci(
            "536365,71053,WHITE METAL LANTERN,6,12/1/2010 8:26,3.39,17850,United Kingdom",
            "C536379,71053,WHITE METAL LANTERN,-2,12/1/2010 9:41,3.39,17850,United Kingdom",
        )
    )

    ret = Sale.objects.get(pos_reference="C536379")
    assert (ret.kind, ret.total, ret.points_earned) == ("return", Decimal("-6.78"), 0)
    movement = StockMovement.objects.get(kind="return")
    assert movement.quantity == Decimal("2")
    assert StockLevel.objects.get(product__sku="71053").on_hand == Decimal("-4")


def test_negative_lines_without_price_or_customer_are_write_offs_not_sales():
    batch = run_import(
        uci(
            "536589,21777,damaged,-10,12/1/2010 16:50,0,,United Kingdom",
            "536590,21777,found,4,12/1/2010 16:51,0,,United Kingdom",
        )
    )

    assert (batch.rows_accepted, batch.rows_rejected) == (2, 0)
    assert Sale.objects.count() == 0
    assert StockAdjustment.objects.count() == 2
    kinds = sorted(StockMovement.objects.values_list("kind", "quantity", "reason"))
    assert kinds == [
        ("adjustment", Decimal("4"), "POS 536590: found"),
        ("write_off", Decimal("-10"), "POS 536589: damaged"),
    ]
    assert StockLevel.objects.get(product__sku="21777").on_hand == Decimal("-6")


def test_write_offs_can_be_rejected_by_option():
    batch = run_import(
        uci("536589,21777,damaged,-10,12/1/2010 16:50,0,,United Kingdom"), options={"adjustments": "reject"}
    )

    assert (batch.rows_accepted, batch.rows_rejected) == (0, 1)
    assert "adjustments=reject" in errors_of(batch)[0][3]
    assert StockMovement.objects.count() == 0


def test_fee_codes_are_service_lines_that_carry_no_stock():
    run_import(
        uci(
            "536370,22728,ALARM CLOCK BAKELIKE PINK,24,12/1/2010 8:45,3.75,12583,France",
            "536370,POST,POSTAGE,3,12/1/2010 8:45,18,12583,France",
            "536371,gift_0001_20,Dotcomgiftshop Gift Voucher £20.00,1,12/1/2010 9:00,16.67,,United Kingdom",
        )
    )

    post = Product.objects.get(sku="POST")
    voucher = Product.objects.get(sku="GIFT_0001_20")
    assert (post.kind, voucher.kind, voucher.name) == ("service", "service", "Dotcomgiftshop Gift Voucher £20.00")
    assert Sale.objects.get(pos_reference="536370").total == Decimal("144.00")  # 90 goods + 54 postage
    assert not StockLevel.objects.filter(product__in=[post, voucher]).exists()
    assert StockMovement.objects.count() == 1  # the clock only


def test_fee_codes_can_be_rejected_by_option():
    batch = run_import(uci("536370,POST,POSTAGE,3,12/1/2010 8:45,18,12583,France"), options={"services": "reject"})

    assert batch.rows_rejected == 1
    assert errors_of(batch)[0][1:3] == ("StockCode", "POST")


def test_bad_debt_a_invoices_are_rejected_with_the_reason():
    batch = run_import(
        uci(
            "A563185,B,Adjust bad debt,1,8/12/2011 14:50,11062.06,,United Kingdom",
            "A563186,B,Adjust bad debt,1,8/12/2011 14:51,-11062.06,,United Kingdom",
        )
    )

    assert (batch.rows_accepted, batch.rows_rejected) == (0, 2)
    assert errors_of(batch) == [
        (2, "InvoiceNo", "A563185", "invoice A563185 is a bad-debt adjustment, not a sale: book it in the accounts"),
        (3, "InvoiceNo", "A563186", "invoice A563186 is a bad-debt adjustment, not a sale: book it in the accounts"),
    ]
    assert Sale.objects.count() == 0


def test_exact_duplicate_lines_are_counted_once_as_duplicate():
    line = "536409,21866,UNION JACK FLAG LUGGAGE TAG,1,12/1/2010 11:45,1.25,17908,United Kingdom"
    batch = run_import(uci(line, line, "536409,22900,SET 2 TEA TOWELS I LOVE LONDON,1,12/1/2010 11:45,2.95,17908,UK"))

    assert (batch.rows_read, batch.rows_accepted, batch.rows_duplicate) == (3, 2, 1)
    assert SaleLine.objects.count() == 2


def test_zero_price_lines_on_a_customer_receipt_are_free_items():
    run_import(
        uci(
            "537000,22423,REGENCY CAKESTAND 3 TIER,1,12/3/2010 10:00,12.75,14911,EIRE",
            "537001,22423,REGENCY CAKESTAND 3 TIER,1,12/3/2010 10:05,0,14911,EIRE",
        )
    )

    free = SaleLine.objects.get(sale__pos_reference="537001")
    assert (free.unit_price, free.discount, free.price_type) == (Decimal("0.00"), Decimal("12.75"), "promo")


def test_unknown_products_can_be_rejected_by_option():
    ProductFactory(sku="22423", mrp=Decimal("12.75"), dp=Decimal("12.00"))
    batch = run_import(
        uci(
            "537000,22423,REGENCY CAKESTAND 3 TIER,1,12/3/2010 10:00,12.75,,United Kingdom",
            "537000,99999X,SOMETHING NEW,1,12/3/2010 10:00,1.00,,United Kingdom",
        ),
        options={"unknown_products": "reject"},
    )

    assert (batch.rows_accepted, batch.rows_rejected) == (0, 2)
    assert errors_of(batch) == [
        (
            2,
            "InvoiceNo",
            "537000",
            "receipt 537000 was rejected with its other line(s) (3): line 3: unknown product “99999X”",
        ),
        (3, "StockCode", "99999X", "unknown product “99999X”"),
    ]
    assert not Product.objects.filter(sku="99999X").exists()


def test_one_store_per_country_when_asked():
    run_import(
        uci(
            "536370,22728,ALARM CLOCK BAKELIKE PINK,24,12/1/2010 8:45,3.75,12583,France",
            "536371,22728,ALARM CLOCK BAKELIKE PINK,2,12/1/2010 9:45,3.75,,United Kingdom",
        ),
        options={"store_mode": "column"},
    )

    assert sorted(Sale.objects.values_list("store__code", "pos_reference")) == [
        ("FRANCE", "536370"),
        ("UNITED-KINGDOM", "536371"),
    ]
    assert Store.objects.get(code="UNITED-KINGDOM").name == "United Kingdom"


def test_a_chosen_store_takes_every_row():
    shop = StoreFactory(code="LDN")
    run_import(uci("536370,22728,ALARM CLOCK,24,12/1/2010 8:45,3.75,12583,France"), store=shop)

    assert Sale.objects.get().store == shop


def test_non_ascii_descriptions_survive():
    run_import(uci("536371,gift_0001_50,Dotcomgiftshop Gift Voucher £50.00 – café,1,12/1/2010 9:00,41.67,,UK"))

    assert Product.objects.get().name == "Dotcomgiftshop Gift Voucher £50.00 – café"


# --- idempotency --------------------------------------------------------------------------------------

SMALL = uci(
    "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850,United Kingdom",
    "C536379,85123A,WHITE HANGING HEART T-LIGHT HOLDER,-1,12/1/2010 9:41,2.55,17850,United Kingdom",
    "536589,21777,damaged,-10,12/1/2010 16:50,0,,United Kingdom",
)


def test_importing_the_same_file_again_changes_nothing():
    first = run_import(SMALL)
    before = (Sale.objects.count(), StockMovement.objects.count(), PointsEntry.objects.count())

    again = run_import(SMALL)

    assert (first.rows_accepted, again.rows_accepted, again.rows_duplicate) == (3, 0, 3)
    assert (Sale.objects.count(), StockMovement.objects.count(), PointsEntry.objects.count()) == before
    assert_ledger_invariant()


def test_running_a_batch_again_resumes_without_posting_twice():
    batch = run_import(SMALL)
    ImportBatch.objects.filter(pk=batch.pk).update(status="running")  # as if the worker died at the end

    again = sales_import(batch_id=batch.pk)

    assert (again.status, again.rows_accepted, again.rows_duplicate) == ("done", 3, 0)
    assert Sale.objects.count() == 2


def test_same_receipt_number_with_other_content_is_a_conflict_not_a_duplicate():
    run_import(SMALL)

    batch = run_import(
        uci("536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,7,12/1/2010 8:26,2.55,17850,United Kingdom")
    )

    assert (batch.rows_accepted, batch.rows_rejected, batch.rows_duplicate) == (0, 1, 0)
    assert errors_of(batch)[0][3].startswith("conflict: receipt 536365 was already posted")
    assert Sale.objects.get(pos_reference="536365").lines.get().quantity == Decimal("6")


# --- bad input ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The file is empty."),
        (b"   \n\n", "The file is empty."),
        ((UCI_HEADER + "\n").encode(), "The file has a header but no data rows."),
    ],
)
def test_empty_files_fail_with_a_clear_message(content, message):
    batch = run_import(content)

    assert (batch.status, batch.message) == ("failed", message)
    assert Sale.objects.count() == 0


def test_wrong_columns_name_what_is_missing():
    batch = run_import("Date,Item,Qty\n2024-01-01,TEA,1\n")

    assert batch.status == "failed"
    assert batch.message.startswith("Wrong columns: no column mapping fits this file")
    assert "The file has: Date, Item, Qty" in batch.message


def test_wrong_columns_for_a_chosen_mapping():
    batch = run_import("InvoiceNo,StockCode,Quantity\n1,A,1\n", mapping="Online Retail (UCI)")

    assert batch.status == "failed"
    assert "missing “UnitPrice” for the unit price; “InvoiceDate” for the date and time" in batch.message


def test_text_in_numeric_columns_is_reported_per_row():
    batch = run_import(
        uci(
            "536365,85123A,HOLDER,six,12/1/2010 8:26,2.55,17850,United Kingdom",
            "536366,85123A,HOLDER,6,12/1/2010 8:26,£2.55,17850,United Kingdom",
            "536367,85123A,HOLDER,6,12/1/2010 8:26,2.55,17850,United Kingdom",
        )
    )

    assert (batch.rows_accepted, batch.rows_rejected) == (1, 2)
    assert errors_of(batch) == [
        (2, "Quantity", "six", "not a number"),
        (3, "UnitPrice", "£2.55", "not a price"),
    ]


def test_dates_in_another_format_are_rejected_unless_iso():
    batch = run_import(
        uci(
            "536365,85123A,HOLDER,6,2010-12-01 08:26,2.55,,United Kingdom",
            "536366,85123A,HOLDER,6,01.12.2010 08:26,2.55,,United Kingdom",
            "536367,85123A,HOLDER,6,31/12/2010 8:26,2.55,,United Kingdom",
        )
    )

    assert batch.rows_accepted == 1  # ISO 8601 is unambiguous and always accepted
    assert errors_of(batch) == [
        (3, "InvoiceDate", "01.12.2010 08:26", "not a date in the expected format (M/D/YYYY H:MM)"),
        (4, "InvoiceDate", "31/12/2010 8:26", "not a date in the expected format (M/D/YYYY H:MM)"),
    ]


def test_a_cp1252_file_is_decoded():
    text = uci("536371,22000,CAFÉ SIGN £5 “BEST”,1,12/1/2010 9:00,5,,United Kingdom")

    batch = run_import(text.encode("cp1252"))

    assert batch.stats["encoding"] == "cp1252"
    assert Product.objects.get().name == "CAFÉ SIGN £5 “BEST”"


def test_a_gzipped_file_is_read():
    batch = run_import(gzip.compress(SMALL.encode()), name="pos.csv.gz")

    assert (batch.status, batch.rows_accepted) == ("done", 3)


def test_formulas_in_csv_cells_are_refused_not_evaluated():
    batch = run_import(
        uci(
            "536365,85123A,HOLDER,=2+4,12/1/2010 8:26,2.55,,United Kingdom",
            '536366,=HYPERLINK("x"),HOLDER,1,12/1/2010 8:26,2.55,,United Kingdom',
        )
    )

    assert batch.rows_rejected == 2
    assert errors_of(batch) == [
        (2, "Quantity", "=2+4", "a spreadsheet formula, not a value: export values, not formulas"),
        (3, "StockCode", '=HYPERLINK("X")', "not a product code"),
    ]


def _xlsx(sheets: dict) -> bytes:
    from openpyxl import Workbook  # noqa: PLC0415 — openpyxl (~0.3 s) loads for the xlsx tests only, not at collection

    wb = Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for row in rows:
            ws.append(row)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


XLSX_HEADER = UCI_HEADER.split(",")


def test_an_xlsx_export_is_imported_with_typed_cells():
    content = _xlsx(
        {
            "Sales": [
                XLSX_HEADER,
                [
                    536365,
                    "85123A",
                    "HOLDER",
                    6,
                    datetime(2010, 12, 1, 8, 26),  # noqa: DTZ001 — a spreadsheet's naive local time
                    2.55,
                    17850.0,
                    "UK",
                ],
            ]
        }
    )

    batch = run_import(content, name="pos.xlsx")

    assert (batch.status, batch.rows_accepted, batch.stats["sheet"]) == ("done", 1, "Sales")
    sale = Sale.objects.get()
    assert (sale.pos_reference, sale.customer.code, sale.total) == ("536365", "17850", Decimal("15.30"))


def test_formulas_in_xlsx_cells_are_reported():
    content = _xlsx({"Sales": [XLSX_HEADER, [536365, "85123A", "HOLDER", "=3*2", "12/1/2010 8:26", 2.55, None, "UK"]]})

    batch = run_import(content, name="pos.xlsx")

    assert errors_of(batch) == [
        (2, "Quantity", "=3*2", "a spreadsheet formula, not a value: export values, not formulas")
    ]


def test_a_workbook_with_several_sheets_needs_a_choice():
    row = [536365, "85123A", "HOLDER", 6, "12/1/2010 8:26", 2.55, None, "UK"]
    content = _xlsx({"December": [XLSX_HEADER, row], "Notes": [["note"], ["hello"]]})

    refused = run_import(content, name="pos.xlsx")
    chosen = run_import(content, name="pos.xlsx", options={"sheet": "December"})

    assert refused.status == "failed"
    assert refused.message.startswith("The workbook has 2 sheets with data (December, Notes): choose the sheet")
    assert (chosen.status, chosen.rows_accepted) == ("done", 1)


def test_a_damaged_xlsx_fails_cleanly():
    batch = run_import(b"PK\x03\x04 this is not a workbook", name="pos.xlsx")

    assert batch.status == "failed"
    assert batch.message.startswith("The file is not a readable XLSX workbook")


def test_the_native_layout_with_store_codes_and_payment_methods():
    shop = StoreFactory(code="LDN")
    tea = ProductFactory(sku="TEA", mrp=Decimal("4.00"), dp=Decimal("3.50"))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["pos_reference", "store", "occurred_at", "sku", "quantity", "unit_price", "payment_method"])
    writer.writerow(["R1", "ldn", "2024-03-01T10:00:00+00:00", "tea", "2", "3.50", "cash"])
    writer.writerow(["R2", "LDN", "2024-03-01 11:00", "TEA", "-1", "4.00", "cash"])
    writer.writerow(["R3", "NOPE", "2024-03-01 11:00", "TEA", "1", "4.00", "cash"])

    batch = run_import(buffer.getvalue(), options={"create_stores": False})

    assert (batch.rows_accepted, batch.rows_rejected) == (2, 1)
    assert errors_of(batch) == [(4, "store", "NOPE", "unknown store “NOPE” (the option create_stores is off)")]
    sale, ret = Sale.objects.order_by("pos_reference")
    assert (sale.store, sale.payment_method, sale.lines.get().price_type) == (shop, "cash", "dp")
    assert (ret.kind, ret.total) == ("return", Decimal("-4.00"))
    assert StockLevel.objects.get(store=shop, product=tea).on_hand == Decimal("-1")


def test_a_staff_member_cannot_import_into_another_store(world):
    from sales.services import receipts_post  # noqa: F401, PLC0415 — the same service as the page

    with pytest.raises(Exception, match="permission to import"):
        import_batch_create(source="file", source_name="x.csv", content=b"x", actor=world.staff)
