"""Reading POS exports: CSV or XLSX (optionally gzipped) through a column mapping into receipt drafts.

Pure file work — no database writes. `read_table` opens the file (encoding, delimiter, sheet),
`parse_rows` turns each row into a typed line or a row error (line number, column, value, reason),
and `group_receipts` applies the documented rules of docs/ingestion.md (returns, stock adjustments,
bad-debt invoices, fee codes, exact duplicate lines) to build the drafts that sales.services posts.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import gzip
import io
import itertools
import tempfile
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, BinaryIO

from django.conf import settings
from django.utils.text import slugify

from retailops.money import money

# Target fields of a column mapping. Required ones must be mapped to a column of the file.
REQUIRED_FIELDS = ("pos_reference", "sku", "quantity", "unit_price", "occurred_at")
POS_REFERENCE_MAX = 64  # the max_length of Sale.pos_reference and StockAdjustment.pos_reference
OPTIONAL_FIELDS = ("store", "customer", "description", "payment_method", "kind", "original_reference")
FIELD_LABELS = {
    "pos_reference": "receipt / invoice number",
    "sku": "product code (SKU)",
    "quantity": "quantity",
    "unit_price": "unit price",
    "occurred_at": "date and time",
    "store": "store (code or name)",
    "customer": "loyalty customer code",
    "description": "product description",
    "payment_method": "payment method",
    "kind": "kind (sale / return)",
    "original_reference": "original receipt of a return",
}

# The fee and non-product codes of the Online Retail export (../shared/data/README.md).
DEFAULT_SERVICE_CODES = ["POST", "DOT", "M", "C2", "D", "S", "BANK CHARGES", "AMAZONFEE", "CRUK"]
DEFAULT_SERVICE_PREFIXES = ["GIFT_"]

DEFAULT_OPTIONS: dict[str, Any] = {
    # "single": every row goes to one store (store_code); "column": the store column names the store
    # (a store code, or a name such as a country that becomes a store code).
    "store_mode": "column",
    "store_code": "ONLINE",
    "store_name": "Online shop",
    "store_timezone": "Europe/London",
    "create_stores": False,
    # Unknown SKUs: "create" a product from the file (name = description, list price = the most
    # frequent unit price) or "reject" the receipt.
    "unknown_products": "reject",
    "new_product_cost_ratio": "0",
    # Unknown customer codes: "create" a loyalty customer, post the sale "anonymous", or "reject".
    "customers": "reject",
    # Invoice-number prefixes: returns (cancellations) and documents that are refused outright.
    "return_prefix": "",
    "reject_prefixes": {},
    # Fee / non-product codes: posted as service lines that carry no stock ("post"), or "reject".
    "service_codes": [],
    "service_prefixes": [],
    "services": "post",
    # Receipts with no price and no customer are stock adjustments: "post" movements, "reject" them,
    # or "off" (treat them as ordinary sales at price 0).
    "adjustments": "off",
    # The same line twice in one receipt: "skip" the copy (counted as duplicate) or "keep" both.
    "duplicate_lines": "keep",
    "payment_method": "card",
    "encoding": "",
    "sheet": "",
    # Returns naming no original receipt (no-receipt refunds): the most one may refund, per receipt. Blank:
    # RETAILOPS_NO_RECEIPT_REFUND_LIMIT; "none": no value limit (a history import by someone allowed to
    # refund without receipt). Set per import only, never by a saved mapping (PER_IMPORT_OPTIONS).
    "no_receipt_limit": "",
}

BUILTIN_MAPPINGS = {
    "RetailOps CSV": {
        "columns": {f: f for f in REQUIRED_FIELDS + OPTIONAL_FIELDS},
        "date_format": "",
        "options": {},
    },
    "Online Retail (UCI)": {
        "columns": {
            "pos_reference": "InvoiceNo",
            "sku": "StockCode",
            "description": "Description",
            "quantity": "Quantity",
            "occurred_at": "InvoiceDate",
            "unit_price": "UnitPrice",
            "customer": "CustomerID",
            "store": "Country",
        },
        "date_format": "%m/%d/%Y %H:%M",
        "options": {
            "store_mode": "single",
            "store_code": "ONLINE",
            "store_name": "Online shop",
            "unknown_products": "create",
            "customers": "create",
            "return_prefix": "C",
            "reject_prefixes": {"A": "a bad-debt adjustment, not a sale: book it in the accounts"},
            "service_codes": DEFAULT_SERVICE_CODES,
            "service_prefixes": DEFAULT_SERVICE_PREFIXES,
            "services": "post",
            "adjustments": "post",
            "duplicate_lines": "skip",
        },
    },
}

MAX_QTY = Decimal("100000")  # a line quantity beyond this is a typing or export error, on every path
GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"


class ImportFileError(Exception):
    """The file as a whole cannot be read (empty, wrong columns, several sheets …). Nothing is posted."""


@dataclass(frozen=True)
class Mapping:
    name: str
    columns: dict
    date_format: str
    options: dict

    @classmethod
    def from_model(cls, obj) -> Mapping:
        return cls(
            name=obj.name, columns=dict(obj.columns or {}), date_format=obj.date_format or "", options=obj.options
        )


def merged_options(*layers: dict | None) -> dict:
    options = dict(DEFAULT_OPTIONS)
    for layer in layers:
        for key, value in (layer or {}).items():
            if value not in (None, ""):
                options[key] = value
    options["service_codes"] = {str(c).strip().upper() for c in options["service_codes"]}
    options["service_prefixes"] = tuple(str(c).strip().upper() for c in options["service_prefixes"])
    options["reject_prefixes"] = dict(options["reject_prefixes"] or {})
    return options


# Options only the person running an import may set, never a saved column mapping: a store shows in
# every store filter, report and export, so an import creates one only when asked to (issue #15).
PER_IMPORT_OPTIONS = ("create_stores", "no_receipt_limit")


def import_options(mapping_options: dict | None, batch_options: dict | None) -> dict:
    """The options of one import: the mapping's, overridden by the import's; create_stores from the import only."""
    layout = {k: v for k, v in (mapping_options or {}).items() if k not in PER_IMPORT_OPTIONS}
    options = merged_options(layout, batch_options)
    options["create_stores"] = (batch_options or {}).get("create_stores") in (True, "true", "1", 1, "on", "yes")
    return options


# --- reading the file ------------------------------------------------------------------------------


@dataclass
class Table:
    header: list[str]
    rows: Iterator[tuple[int, list]]  # (line number in the file, cell values)
    kind: str  # "csv" | "xlsx"
    encoding: str = ""
    sheet: str = ""
    delimiter: str = ","


# Reading streams: a file is read in chunks of this size, never loaded whole (a 100 MB upload, a 400 MB gzip).
READ_CHUNK = 1 << 20
# A gzip file is unpacked to a temporary file that stays in memory up to this size, then spills to disk.
SPOOL_BYTES = 4 << 20
# A workbook (a zip) is checked before openpyxl opens it: at most this many parts, none unpacking to more than
# this many times its packed size (real sheets pack ~5–30×; a zip bomb ~1000×) once it is over a megabyte.
XLSX_MAX_ENTRIES = 10_000
XLSX_MAX_RATIO = 200
XLSX_RATIO_FROM_BYTES = 1 << 20


def unpacked_limit() -> int:
    """The most a compressed upload (gzip, or a workbook's zip) may unpack to: RETAILOPS_MAX_UNPACKED_BYTES,
    by default four times the upload limit."""
    return settings.RETAILOPS.get("MAX_UNPACKED_BYTES") or 4 * settings.RETAILOPS["MAX_UPLOAD_BYTES"]


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):,.1f} MB"


def _peek(handle: BinaryIO, n: int) -> bytes:
    position = handle.tell()
    data = handle.read(n)
    handle.seek(position)
    return data


def read_table(source: bytes | BinaryIO, *, sheet: str = "", encoding: str = "") -> Table:
    """Open a CSV / XLSX file (gzip allowed): bytes, or a seekable binary file that is read in chunks, never
    loaded whole, and must stay open while the rows are read. A gzip file is unpacked as a stream and refused as
    soon as it passes unpacked_limit(); a workbook's zip entries are checked before openpyxl opens it. Raises
    ImportFileError when the file cannot be used."""
    handle: BinaryIO = io.BytesIO(source) if isinstance(source, bytes | bytearray) else source
    handle.seek(0)
    if _peek(handle, 2) == GZIP_MAGIC:
        handle = _gunzip(handle)
    head = _peek(handle, 1 << 16)
    if not head.strip() and len(head) < 1 << 16:
        raise ImportFileError("The file is empty.")
    if head[:4] == ZIP_MAGIC:
        return _read_xlsx(handle, sheet=sheet)
    return _read_csv(handle, encoding=encoding)


def _gunzip(handle: BinaryIO) -> BinaryIO:
    """The unpacked content of a gzip file, in a temporary file; stops as soon as it passes the unpacked limit."""
    limit = unpacked_limit()
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 — returned open; the caller reads it
    written = 0
    try:
        with gzip.GzipFile(fileobj=handle, mode="rb") as gz:
            while chunk := gz.read(READ_CHUNK):  # at most READ_CHUNK unpacked bytes at a time
                written += len(chunk)
                if written > limit:
                    raise ImportFileError(
                        f"The compressed file unpacks to more than {_mb(limit)}, the limit for an unpacked file. "
                        "Split it into smaller files."
                    )
                out.write(chunk)
    except (OSError, EOFError, zlib.error) as exc:
        out.close()
        raise ImportFileError(f"The gzip file is damaged: {exc}.") from None
    except ImportFileError:
        out.close()
        raise
    out.seek(0)
    return out  # type: ignore[return-value]  # a SpooledTemporaryFile reads like a binary file


def _decodes(handle: BinaryIO, encoding: str) -> bool:
    """Whether the whole file decodes in this encoding (read in chunks: memory stays flat)."""
    handle.seek(0)
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        while chunk := handle.read(READ_CHUNK):
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _sniff_encoding(handle: BinaryIO) -> str:
    """A byte-order mark says it; else UTF-8 if the WHOLE file is UTF-8, else cp1252 (spreadsheet exports on
    Windows: latin-1 plus £, €, smart quotes …), else latin-1. The whole file, not its first chunk: a file whose
    only “£” is on its last line is cp1252 all the way, and is read so from its first row."""
    handle.seek(0)
    head = handle.read(4)
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    for candidate in ("utf-8", "cp1252"):
        if _decodes(handle, candidate):
            return candidate
    return "latin-1"


def _read_csv(handle: BinaryIO, *, encoding: str) -> Table:
    used = encoding or _sniff_encoding(handle)
    try:
        codecs.lookup(used)
    except LookupError:
        raise ImportFileError(f"The file could not be read as {used}: no such encoding.") from None
    handle.seek(0)
    text = io.TextIOWrapper(handle, encoding=used, newline="")  # type: ignore[type-var]  # any binary file
    try:
        first = text.readline()
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"The file could not be read as {used}: {exc}.") from None
    delimiter = max([",", ";", "\t", "|"], key=first.split("\n", 1)[0].count)
    reader = csv.reader(itertools.chain([first], text), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise ImportFileError("The file is empty.") from None
    except csv.Error as exc:
        raise ImportFileError(f"The file is not a readable CSV file: {exc}.") from None
    if not any(h.strip() for h in header):
        raise ImportFileError("The first line must name the columns; it is blank.")

    def rows():
        try:
            for values in reader:
                # Blank lines are skipped; the first cell (usually the receipt number) settles most rows.
                if values and (values[0].strip() or any(v.strip() for v in values)):
                    yield reader.line_num, values
        except csv.Error as exc:
            raise ImportFileError(f"Line {reader.line_num}: the CSV is malformed ({exc}).") from None
        except UnicodeDecodeError as exc:  # only with an encoding chosen by hand: a sniffed one decodes it all
            raise ImportFileError(f"The file could not be read as {used}: {exc}.") from None
        finally:
            with contextlib.suppress(ValueError):  # already closed by its owner
                text.detach()  # the caller's file stays open: it is theirs to close

    return Table(header=header, rows=rows(), kind="csv", encoding=used, delimiter=delimiter)


class _Formula(str):
    """A cell that holds a formula: reported, never evaluated."""


def _check_workbook(handle: BinaryIO) -> None:
    """Refuse a workbook that could exhaust memory or disk once opened (a zip bomb), before openpyxl opens it:
    too many parts, too much unpacked in all, a part packed far tighter than a sheet is, or a part whose name
    climbs out of the archive. Python's zipfile never unpacks a part past its declared size, so checking the
    declared sizes bounds what openpyxl can unpack."""
    limit = unpacked_limit()
    try:
        with zipfile.ZipFile(handle) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise ImportFileError(f"The file is not a readable XLSX workbook ({type(exc).__name__}).") from None
    if len(entries) > XLSX_MAX_ENTRIES:
        raise ImportFileError(
            f"The workbook holds {len(entries):,} parts (at most {XLSX_MAX_ENTRIES:,}): it is not a spreadsheet "
            "export. Save the sheet as CSV and import that."
        )
    for entry in entries:
        name = entry.filename.replace("\\", "/")
        if name.startswith("/") or ".." in name.split("/") or ":" in name:
            raise ImportFileError(
                f"The workbook holds a part with an unsafe name (“{entry.filename[:80]}”): it is not a spreadsheet "
                "export."
            )
        if entry.file_size > XLSX_RATIO_FROM_BYTES and entry.file_size > XLSX_MAX_RATIO * max(entry.compress_size, 1):
            ratio = entry.file_size / max(entry.compress_size, 1)
            raise ImportFileError(
                f"The workbook's part “{entry.filename[:80]}” unpacks to {ratio:,.0f} times its packed size (at most "
                f"{XLSX_MAX_RATIO}): it is not a spreadsheet export."
            )
    total = sum(entry.file_size for entry in entries)
    if total > limit:
        raise ImportFileError(
            f"The workbook unpacks to {_mb(total)}; the limit is {_mb(limit)}. Save the sheet as CSV (.gz) or split it."
        )
    handle.seek(0)


def _read_xlsx(handle: BinaryIO, *, sheet: str) -> Table:
    from openpyxl import load_workbook  # noqa: PLC0415 — openpyxl (~0.3 s) loads only when an .xlsx file is read, not at start-up

    _check_workbook(handle)
    try:
        workbook = load_workbook(handle, read_only=True, data_only=False)
    except Exception as exc:  # openpyxl raises many kinds for a broken or foreign zip
        raise ImportFileError(f"The file is not a readable XLSX workbook ({type(exc).__name__}).") from None
    names = workbook.sheetnames
    if sheet:
        if sheet not in names:
            raise ImportFileError(f"The workbook has no sheet “{sheet}”; its sheets are: {', '.join(names)}.")
        ws = workbook[sheet]
    else:
        with_data = [n for n in names if workbook[n].max_row and workbook[n].max_row > 1]
        if len(with_data) > 1:
            raise ImportFileError(
                f"The workbook has {len(with_data)} sheets with data ({', '.join(with_data)}): choose the sheet "
                "to import (the “sheet” option), or save that sheet alone."
            )
        ws = workbook[with_data[0]] if with_data else workbook[names[0]]
    iterator = ws.iter_rows()
    header_cells = next(iterator, None)
    if header_cells is None:
        raise ImportFileError("The file is empty.")
    header = ["" if c.value is None else str(c.value) for c in header_cells]

    def cell_value(cell):
        if cell.data_type == "f":
            return _Formula(str(cell.value))
        return cell.value

    def rows():
        for row in iterator:
            values = [cell_value(c) for c in row]
            if any(v not in (None, "") for v in values):
                number = next((c.row for c in row if getattr(c, "row", None)), None)
                yield number, values

    return Table(header=header, rows=rows(), kind="xlsx", sheet=ws.title)


def resolve_columns(header: list[str], mapping: Mapping) -> dict[str, int]:
    """Target field → column index. Raises ImportFileError naming the missing columns."""
    index = {h.strip().lstrip("\ufeff").lower(): i for i, h in enumerate(header)}
    found, missing = {}, []
    for target in REQUIRED_FIELDS + OPTIONAL_FIELDS:
        source = (mapping.columns.get(target) or "").strip()
        if not source:
            if target in REQUIRED_FIELDS:
                missing.append(f"{target} (not mapped)")
            continue
        i = index.get(source.lower())
        if i is None:
            if target in REQUIRED_FIELDS:
                missing.append(f"“{source}” for the {FIELD_LABELS[target]}")
            continue
        found[target] = i
    if missing:
        shown = ", ".join(h for h in header if h.strip())[:300]
        raise ImportFileError(
            f"Wrong columns for the mapping “{mapping.name}”: missing {'; '.join(missing)}. The file has: {shown}. "
            "Choose another mapping or create one for this layout."
        )
    return found


def guess_mapping(header: list[str], mappings: list[Mapping]) -> Mapping | None:
    """The first mapping whose required columns are all in the header."""
    names = {h.strip().lstrip("\ufeff").lower() for h in header}
    for mapping in mappings:
        if all((mapping.columns.get(f) or "").strip().lower() in names for f in REQUIRED_FIELDS):
            return mapping
    return None


# --- typed values ----------------------------------------------------------------------------------


class CellError(ValueError):
    pass


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # spreadsheets store codes such as 17850 as 17850.0
    return str(value).strip()


def parse_decimal(value, *, what: str) -> Decimal:
    if isinstance(value, _Formula):
        raise CellError("a spreadsheet formula, not a value: export values, not formulas")
    if isinstance(value, bool):
        raise CellError(f"not a {what}")
    if isinstance(value, int | Decimal):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))
    else:
        text = _text(value)
        if not text:
            raise CellError(f"the {what} is missing")
        if text.startswith("="):
            raise CellError("a spreadsheet formula, not a value: export values, not formulas")
        try:
            number = Decimal(text)
        except (InvalidOperation, ValueError):
            raise CellError(f"not a {what}") from None
    if not number.is_finite():
        raise CellError(f"not a {what}")
    return number


def parse_quantity(value) -> Decimal:
    qty = parse_decimal(value, what="number")
    if qty == 0:
        raise CellError("the quantity is zero")
    if abs(qty) > MAX_QTY:
        raise CellError(f"{qty} is not a plausible quantity (limit {MAX_QTY:,})")
    if qty != qty.quantize(Decimal("0.001")):
        raise CellError("quantities have at most three decimals")
    return qty.normalize() if qty == qty.to_integral_value() else qty


def parse_price(value) -> Decimal:
    price = parse_decimal(value, what="price")
    if price < 0:
        raise CellError("the unit price is negative")
    if price > Decimal("1000000000"):
        raise CellError("not a plausible price")
    return money(price)


def parse_datetime(value, *, date_format: str) -> datetime:
    """A time as written: naive (the store's local time, made aware once the store is known) or with an offset."""
    if isinstance(value, _Formula):
        raise CellError("a spreadsheet formula, not a value: export values, not formulas")
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)  # noqa: DTZ001 — local time of the store
    else:
        text = _text(value)
        if not text:
            raise CellError("the date is missing")
        parsed = None
        if date_format:
            try:
                parsed = datetime.strptime(text, date_format)  # noqa: DTZ007 — local time of the store
            except ValueError:
                parsed = None
        if parsed is None:
            try:
                parsed = datetime.fromisoformat(text)
            except ValueError:
                expected = _format_example(date_format) if date_format else "ISO 8601, e.g. 2011-12-01 08:26"
                raise CellError(f"not a date in the expected format ({expected})") from None
    if not (1990 <= parsed.year <= 2200):
        raise CellError("the date is out of range")
    return parsed


def _format_example(fmt: str) -> str:
    return (
        fmt.replace("%m", "M")
        .replace("%d", "D")
        .replace("%Y", "YYYY")
        .replace("%H", "H")
        .replace("%M", "MM")
        .replace("%S", "SS")
        .replace("%y", "YY")
    )


# --- rows → lines ----------------------------------------------------------------------------------


@dataclass(slots=True)
class ParsedLine:
    line_no: int
    store_key: str
    pos_reference: str
    sku: str
    description: str
    quantity: Decimal | None
    unit_price: Decimal | None
    occurred_at: datetime | None
    customer: str
    payment_method: str
    kind: str
    original_reference: str
    errors: list = field(default_factory=list)  # [(column, value, reason)]


@dataclass
class RowError:
    line_no: int
    column: str
    value: str
    message: str


def store_code_for(value: str) -> str:
    """A store code from a store column value: the code itself, or a name such as a country slugged."""
    text = _text(value)
    return (slugify(text).upper() or text.upper())[:20]


def parse_rows(table: Table, mapping: Mapping, options: dict, *, forced_store: str = "") -> Iterator[ParsedLine]:
    """Every data row as a ParsedLine; problems are listed on the line, never raised.

    CSV rows whose cells are all well-formed take a fast path (plain indexing, one cache lookup per
    typed cell); any other row — a bad or missing cell, a short row, any XLSX row — goes through the
    general per-cell code, which gives the same result for a good row and reports each problem.
    """
    cols = resolve_columns(table.header, mapping)
    if options["store_mode"] == "column" and "store" not in cols and not forced_store:
        raise ImportFileError("The mapping names no store column: choose a store for the whole file.")
    general = _row_parser(table.header, cols, mapping.date_format, options, forced_store)
    if table.kind != "csv":
        for line_no, values in table.rows:
            yield general(line_no, values)
        return

    date_format = mapping.date_format
    default_payment = options["payment_method"]
    i_ref, i_sku, i_qty, i_price, i_date = (cols[f] for f in REQUIRED_FIELDS)
    i_store = None
    if forced_store:
        fixed_store = forced_store
    elif options["store_mode"] == "single":
        fixed_store = options["store_code"]
    else:
        fixed_store, i_store = "", cols.get("store")
        if i_store is None:  # no store column: every row gets the general code's "the store is missing"
            for line_no, values in table.rows:
                yield general(line_no, values)
            return
    i_customer, i_payment, i_kind, i_description, i_original = (
        cols.get(f) for f in ("customer", "payment_method", "kind", "description", "original_reference")
    )
    width = max(cols.values()) + 1
    # raw cell → its typed value, or `bad` when the general code must report it. Real exports repeat
    # the same codes, quantities, prices and minutes thousands of times.
    bad = object()
    skus: dict = {}
    quantities: dict = {}
    prices: dict = {}
    dates: dict = {}
    stores: dict = {}
    customers: dict = {}

    def typed(cache, raw, parse):
        try:
            value = parse(raw)
        except CellError:
            value = bad
        cache[raw] = value
        return value

    def sku_of(raw):
        sku = raw.strip().upper()
        return sku if sku and len(sku) <= 40 and not sku.startswith("=") else bad

    def customer_of(raw):
        code = raw.strip()
        return code if len(code) <= 40 and not code.startswith("=") else bad

    def store_of(raw):
        return store_code_for(raw) or bad

    def date_of(raw):
        return parse_datetime(raw, date_format=date_format)

    for line_no, values in table.rows:
        if len(values) < width:
            yield general(line_no, values)
            continue
        ref = values[i_ref].strip()
        raw = values[i_sku]
        sku = skus.get(raw) or typed(skus, raw, sku_of)
        raw = values[i_qty]
        quantity = quantities.get(raw) or typed(quantities, raw, parse_quantity)
        raw = values[i_price]
        price = prices.get(raw)
        if price is None:
            price = typed(prices, raw, parse_price)
        raw = values[i_date]
        occurred = dates.get(raw) or typed(dates, raw, date_of)
        if i_store is None:
            store_key = fixed_store
        else:
            raw = values[i_store]
            store_key = stores.get(raw) or typed(stores, raw, store_of)
        if i_customer is None:
            customer = ""
        else:
            raw = values[i_customer]
            customer = customers.get(raw)
            if customer is None:
                customer = typed(customers, raw, customer_of)
        if (
            not ref
            or len(ref) > POS_REFERENCE_MAX
            or sku is bad
            or quantity is bad
            or price is bad
            or occurred is bad
            or store_key is bad
            or customer is bad
        ):
            yield general(line_no, values)
            continue
        yield ParsedLine(
            line_no,
            store_key,
            ref,
            sku,
            values[i_description].strip()[:200] if i_description is not None else "",
            quantity,
            price,
            occurred,
            customer,
            (values[i_payment].strip().lower() or default_payment) if i_payment is not None else default_payment,
            values[i_kind].strip().lower() if i_kind is not None else "",
            values[i_original].strip()[:64] if i_original is not None else "",
            [],
        )


def _row_parser(header: list[str], cols: dict[str, int], date_format: str, options: dict, forced_store: str):
    """The general per-row parser: any cell type (CSV text, XLSX values, formulas), every problem reported."""
    # Caches: real exports repeat the same dates, prices and codes thousands of times.
    dates: dict = {}
    prices: dict = {}
    quantities: dict = {}
    skus: dict = {}
    stores: dict = {}
    default_payment = options["payment_method"]

    def source(target):
        return header[cols[target]].strip() if target in cols else target

    def get(values, target):
        i = cols.get(target)
        if i is None or i >= len(values):
            return None
        return values[i]

    def parse_row(line_no, values) -> ParsedLine:
        errors = []

        def typed(target, cache, parse):
            raw = get(values, target)
            key = raw if isinstance(raw, str) and not isinstance(raw, _Formula) else None
            if key is not None and key in cache:
                result = cache[key]
            else:
                try:
                    result = parse(raw)
                except CellError as exc:
                    result = exc
                if key is not None:
                    cache[key] = result
            if isinstance(result, CellError):
                errors.append((source(target), _text(raw)[:200], str(result)))
                return None
            return result

        ref = _text(get(values, "pos_reference"))
        problem = pos_reference_problem(ref)
        if problem:
            errors.append((source("pos_reference"), ref[:200], problem))
        raw_sku = get(values, "sku")
        sku = skus.get(raw_sku) if isinstance(raw_sku, str) else None
        if sku is None:
            sku = _text(raw_sku).upper()
            if isinstance(raw_sku, str):
                skus[raw_sku] = sku
        if not sku:
            errors.append((source("sku"), "", "the product code is missing"))
        elif len(sku) > 40 or sku.startswith("="):
            errors.append((source("sku"), sku[:200], "not a product code"))
        quantity = typed("quantity", quantities, parse_quantity)
        price = typed("unit_price", prices, parse_price)
        occurred = typed("occurred_at", dates, lambda v: parse_datetime(v, date_format=date_format))
        if forced_store:
            store_key = forced_store
        elif options["store_mode"] == "single":
            store_key = options["store_code"]
        else:
            raw_store = get(values, "store")
            store_key = stores.get(raw_store) if isinstance(raw_store, str) else None
            if store_key is None:
                store_key = store_code_for(raw_store)
                if isinstance(raw_store, str):
                    stores[raw_store] = store_key
            if not store_key:
                errors.append((source("store"), "", "the store is missing"))
        customer = _text(get(values, "customer"))
        if len(customer) > 40 or customer.startswith("="):
            errors.append((source("customer"), customer[:200], "not a customer code"))
        payment = _text(get(values, "payment_method")).lower() or default_payment
        kind = _text(get(values, "kind")).lower()
        description = _text(get(values, "description"))
        if isinstance(get(values, "description"), _Formula):
            errors.append((source("description"), description[:200], "a spreadsheet formula, not a value"))
        return ParsedLine(
            line_no=line_no,
            store_key=store_key,
            pos_reference=ref,
            sku=sku,
            description=description[:200],
            quantity=quantity,
            unit_price=price,
            occurred_at=occurred,
            customer=customer,
            payment_method=payment,
            kind=kind,
            original_reference=_text(get(values, "original_reference"))[:64],
            errors=errors,
        )

    return parse_row


# --- lines → receipt drafts ------------------------------------------------------------------------


@dataclass(slots=True)
class LineDraft:
    sku: str
    quantity: Decimal
    unit_price: Decimal
    description: str = ""
    source_line: int | None = None
    price_type: str | None = None
    product: object = None  # inventory.Product once resolved
    errors: list = field(default_factory=list)  # [(column, value, reason)]


@dataclass
class ReceiptDraft:
    """One receipt (or stock adjustment) to post: what sales.services.receipts_post takes."""

    store_key: str
    pos_reference: str
    occurred_at: datetime | None
    lines: list[LineDraft]
    kind: str = "sale"  # sale | return | adjustment
    payment_method: str = "card"
    customer_code: str = ""
    points_redeemed: int = 0
    original_reference: str = ""
    # A return naming no original receipt, refunded as such (permission and limit: sales.services).
    no_receipt: bool = False
    errors: list = field(default_factory=list)  # receipt-level [(column, value, reason)]
    store: object = None
    customer: object = None

    @property
    def rejected(self) -> bool:
        return bool(self.errors) or any(line.errors for line in self.lines)


@dataclass
class Grouped:
    drafts: list[ReceiptDraft]
    orphan_errors: list[RowError]  # rows that belong to no receipt (no receipt number)
    duplicate_lines: int
    rows_read: int


def pos_reference_problem(ref: str) -> str | None:
    """The receipt rule's POS reference check, shared by every entry point (file rows here, then
    sales.services.receipt_validate for the till, the API and the file's receipts): None when usable."""
    if not ref:
        return "the receipt number is missing"
    if len(ref) > POS_REFERENCE_MAX:
        return f"the receipt number is longer than {POS_REFERENCE_MAX} characters"
    return None


def is_service_code(sku: str, options: dict) -> bool:
    return sku in options["service_codes"] or (
        bool(options["service_prefixes"]) and sku.startswith(options["service_prefixes"])
    )


def group_receipts(lines: Iterator[ParsedLine], options: dict) -> Grouped:
    """Gather lines into receipts by (store, receipt number) and classify each receipt (docs/ingestion.md)."""
    groups: dict[tuple[str, str], list[ParsedLine]] = {}
    orphans: list[RowError] = []
    read = 0
    for line in lines:
        read += 1
        if pos_reference_problem(line.pos_reference):
            column, value, reason = line.errors[0]
            orphans.append(RowError(line.line_no, column, value, reason))
            continue
        groups.setdefault((line.store_key, line.pos_reference), []).append(line)
    drafts, duplicates = [], 0
    return_prefix = options["return_prefix"]
    for (store_key, ref), group in groups.items():
        draft, skipped = _draft_from_group(store_key, ref, group, options, return_prefix)
        duplicates += skipped
        drafts.append(draft)
    return Grouped(drafts=drafts, orphan_errors=orphans, duplicate_lines=duplicates, rows_read=read)


def _draft_from_group(store_key, ref, group, options, return_prefix):
    skipped = 0
    if options["duplicate_lines"] == "skip":
        seen, kept = set(), []
        for line in group:
            key = (line.sku, line.description, line.quantity, line.unit_price, line.occurred_at, line.customer)
            if key in seen and not line.errors:
                skipped += 1
                continue
            seen.add(key)
            kept.append(line)
        group = kept
    # Positional: sku, quantity, unit_price, description, source_line, price_type, product, errors.
    lines = [
        LineDraft(ln.sku, ln.quantity, ln.unit_price, ln.description, ln.line_no, None, None, list(ln.errors))
        for ln in group
    ]
    times = [ln.occurred_at for ln in group if ln.occurred_at is not None]
    mixed_zones = len({t.tzinfo is None for t in times}) > 1
    if mixed_zones:
        times = []
    customers = sorted({ln.customer for ln in group if ln.customer})
    payments = {ln.payment_method for ln in group}
    first = group[0]
    draft = ReceiptDraft(
        store_key=store_key,
        pos_reference=ref,
        occurred_at=min(times) if times else None,
        lines=lines,
        payment_method=first.payment_method,
        customer_code=customers[0] if customers else "",
        original_reference=first.original_reference,
    )
    ref_column = "pos_reference"
    if mixed_zones:
        draft.errors.append(("occurred_at", "", "the lines of one receipt mix times with and without a time zone"))
    for prefix, why in options["reject_prefixes"].items():
        if prefix and ref.upper().startswith(prefix.upper()):
            draft.errors.append((ref_column, ref, f"invoice {ref} is {why}"))
            for line in lines:
                line.errors = []  # the whole document is refused for this one reason
            return draft, skipped
    if len(customers) > 1:
        draft.errors.append(
            ("customer", ", ".join(customers)[:200], "the lines of one receipt name different customers")
        )
    if len(payments) > 1:
        draft.errors.append(
            ("payment_method", ", ".join(sorted(payments))[:200], "one receipt, several payment methods")
        )
    explicit = first.kind
    quantities = [ln.quantity for ln in lines if ln.quantity is not None]
    prices = [ln.unit_price for ln in lines if ln.unit_price is not None]
    if explicit in ("return", "refund"):
        draft.kind = "return"
    elif explicit in ("adjustment", "stock"):
        draft.kind = "adjustment"
    elif explicit and explicit != "sale":
        draft.errors.append(("kind", explicit[:200], "the kind must be sale, return or adjustment"))
    elif return_prefix and ref.upper().startswith(return_prefix.upper()):
        draft.kind = "return"
    elif (
        options["adjustments"] in ("post", "reject")
        and not customers
        and len(prices) == len(lines)
        and all(p == 0 for p in prices)
    ):
        draft.kind = "adjustment"
        if options["adjustments"] == "reject":
            draft.errors.append(
                (
                    ref_column,
                    ref,
                    "a stock adjustment (no price, no customer): refused by the option adjustments=reject",
                )
            )
    elif not explicit and quantities and all(q < 0 for q in quantities) and not return_prefix:
        draft.kind = "return"  # a layout without a return marker: all-negative receipts are returns
    # A file's return row with no original reference is a no-receipt refund (limited: docs/ingestion.md).
    draft.no_receipt = draft.kind == "return" and not draft.original_reference
    for ln in lines:
        if ln.quantity is None:
            continue
        if draft.kind == "return" and ln.quantity > 0:
            ln.errors.append(("quantity", str(ln.quantity), "a return line needs a negative quantity"))
        elif draft.kind == "sale" and ln.quantity < 0:
            hint = f" (returns are invoices starting with {return_prefix})" if return_prefix else ""
            ln.errors.append(("quantity", str(ln.quantity), f"a negative quantity on a sale{hint}"))
        if is_service_code(ln.sku, options):
            if draft.kind == "adjustment":
                ln.errors.append(("sku", ln.sku, f"{ln.sku} is a fee / non-product code: it has no stock to adjust"))
            elif options["services"] == "reject":
                ln.errors.append(("sku", ln.sku, f"{ln.sku} is a fee / non-product code (refused by services=reject)"))
    return draft, skipped


def modal_prices(drafts: list[ReceiptDraft]) -> dict[str, Decimal]:
    """SKU → the most frequent positive unit price in the file (ties: the higher price): a new product's MRP."""
    pairs = Counter(
        (line.sku, line.unit_price)
        for draft in drafts
        if draft.kind != "adjustment"
        for line in draft.lines
        if line.unit_price
    )
    best: dict[str, tuple[int, Decimal]] = {}
    for (sku, price), count in pairs.items():
        if sku not in best or (count, price) > best[sku]:
            best[sku] = (count, price)
    return {sku: price for sku, (_, price) in best.items()}
