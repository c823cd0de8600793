"""The fast paths of ingestion give exactly what the general code gives (no database needed).

parse_rows reads well-formed CSV rows on a fast path and everything else through the general per-row
parser; receipt_hash of a draft is receipt_digest (with cached texts or not); bulk.render writes COPY text.
"""

import csv
import io
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from sales.bulk import NULL, copy_field, render
from sales.importing import (
    BUILTIN_MAPPINGS,
    LineDraft,
    Mapping,
    ReceiptDraft,
    _row_parser,
    merged_options,
    parse_rows,
    read_table,
    resolve_columns,
)
from sales.services import receipt_digest, receipt_hash

UCI = Mapping(name="Online Retail (UCI)", **BUILTIN_MAPPINGS["Online Retail (UCI)"])
NATIVE = Mapping(name="RetailOps CSV", **BUILTIN_MAPPINGS["RetailOps CSV"])

refs = st.sampled_from(["536001", " 536002 ", "C536004", "A536006", "", "  ", "x" * 70, "536001"])
skus = st.sampled_from(["85123A", " 85123a ", "POST", "gift_0001_20", "", "=1+1", "x" * 50, "ÄÖÜ"])
quantities = st.one_of(
    st.integers(min_value=-30, max_value=30).map(str),
    st.sampled_from(["", " 6 ", "six", "1.5", "1.2345", "1e3", "=2*3", "99999999", "-0", "0.000"]),
)
prices = st.one_of(
    st.decimals(min_value=0, max_value=100, places=3).map(str),
    st.sampled_from(["", "-1", "abc", "0", "0.001", " 2.55", "1e2", "NaN", "=A1", "1,5"]),
)
dates = st.sampled_from(
    ["12/1/2010 8:26", " 12/1/2010 9:41", "6/30/2011 23:59", "2010-12-02 10:00", "2010-12-02T10:00+05:00",
     "13/45/2010 8:26", "", "tomorrow", "1/1/1850 0:00"]
)  # fmt: skip
customers = st.sampled_from(["", "17850", " 12583 ", "x" * 60, "=A1", "C1"])
texts = st.sampled_from(["MUG", " damaged ", "Café £5", "", "=HYPERLINK()", "x" * 250])
stores = st.sampled_from(["United Kingdom", "EIRE", "", "  ", "Channel Islands", "ONLINE"])
payments = st.sampled_from(["", "cash", " CARD ", "bitcoin"])
kinds = st.sampled_from(["", "sale", "Return", "adjustment", "refund", "other"])


def csv_bytes(header, rows) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode()


def both_ways(content: bytes, mapping: Mapping, options: dict, forced_store: str = ""):
    fast = list(parse_rows(read_table(content), mapping, options, forced_store=forced_store))
    table = read_table(content)
    general = _row_parser(
        table.header, resolve_columns(table.header, mapping), mapping.date_format, options, forced_store
    )
    return fast, [general(line_no, values) for line_no, values in table.rows]


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.tuples(refs, skus, texts, quantities, dates, prices, customers, stores).map(list), min_size=1, max_size=30
    ),
    short=st.lists(st.integers(0, 29), max_size=3),
    mode=st.sampled_from(["single", "column", "forced"]),
)
def test_the_csv_fast_path_reads_uci_rows_as_the_general_code_does(rows, short, mode):
    for i in short:
        if i < len(rows):
            rows[i] = rows[i][:5]  # a short row: its missing cells are reported by the general code
    header = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country"]
    options = merged_options(UCI.options, {"store_mode": "column" if mode == "column" else "single"})

    fast, general = both_ways(csv_bytes(header, rows), UCI, options, forced_store="OWN" if mode == "forced" else "")

    assert fast == general


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(
        st.tuples(refs, skus, quantities, prices, dates, stores, customers, texts, payments, kinds, refs).map(list),
        min_size=1,
        max_size=20,
    )
)
def test_the_csv_fast_path_reads_the_native_layout_as_the_general_code_does(rows):
    header = ["pos_reference", "sku", "quantity", "unit_price", "occurred_at", "store", "customer", "description",
              "payment_method", "kind", "original_reference"]  # fmt: skip

    fast, general = both_ways(csv_bytes(header, rows), NATIVE, merged_options(NATIVE.options, {}))

    assert fast == general


def test_a_layout_without_a_store_column_reports_the_store_missing_on_every_row():
    content = b"pos_reference,sku,quantity,unit_price,occurred_at\nT1,TEA,1,2.00,2024-05-01 10:00\n"
    mapping = Mapping(name="no store", columns=dict(NATIVE.columns, store=""), date_format="", options={})

    fast, general = both_ways(content, mapping, merged_options({"store_mode": "other"}))

    assert fast == general
    assert fast[0].errors == [("store", "", "the store is missing")]


@settings(max_examples=60, deadline=None)
@given(
    lines=st.lists(
        st.tuples(
            st.sampled_from(["TEA", "MUG", "POST"]),
            st.decimals(min_value=-50, max_value=50, places=3).filter(lambda d: d != 0),
            st.decimals(min_value=0, max_value=100, places=3),
        ),
        min_size=1,
        max_size=12,
    ),
    at=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2030, 1, 1)),  # noqa: DTZ001 — naive bounds
    offset=st.integers(-12, 12),
    customer=st.sampled_from(["", "17850"]),
    kind=st.sampled_from(["sale", "return", "adjustment"]),
    redeemed=st.integers(0, 500),
)
def test_the_draft_digest_is_the_receipt_digest(lines, at, offset, customer, kind, redeemed):
    occurred_at = at.replace(tzinfo=timezone(timedelta(hours=offset)))
    draft = ReceiptDraft(
        store_key="OWN",
        pos_reference="T-1",
        occurred_at=occurred_at,
        lines=[LineDraft(sku, qty, price, product=SimpleNamespace(sku=sku)) for sku, qty, price in lines],
        kind=kind,
        customer=SimpleNamespace(code=customer) if customer else None,
        points_redeemed=redeemed,
    )
    expected = receipt_digest(
        occurred_at=occurred_at,
        kind=kind,
        payment_method="card",
        customer_code=customer,
        points_redeemed=redeemed,
        lines=lines,
    )

    assert receipt_hash(draft) == expected
    assert receipt_hash(draft, texts={}) == expected


def test_copy_text_escapes_what_copy_would_misread():
    at = datetime(2010, 12, 1, 8, 26, tzinfo=UTC)
    rows = [
        (1, Decimal("-1E+1"), "tab\there", at, None, "back\\slash\nnew\rline"),
        (2, Decimal("2.50"), "", at, 7, None),
    ]

    text = render(("plain", "plain", "text", "time", "plain?", "text"), rows).decode()

    assert text == (
        "1\t-1E+1\ttab\\there\t2010-12-01 08:26:00+00:00\t\\N\tback\\\\slash\\nnew\\rline\n"
        "2\t2.50\t\t2010-12-01 08:26:00+00:00\t7\t\\N\n"
    )
    assert [copy_field(v) for v in (None, "a\tb", at, Decimal("1.5"))] == [
        NULL,
        "a\\tb",
        "2010-12-01 08:26:00+00:00",
        "1.5",
    ]
    assert render(("plain",), []) == b""
