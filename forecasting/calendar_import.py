"""CSV import of the retail calendar: promotions and one-off closures, all-or-nothing.

Columns (header row, any order; blank cells allowed where not needed):

    kind              promotion | closure
    name              the promotion's name (promotions)
    start, end        days written 2026-12-12; end inclusive, blank = the same day as start
    stores            store codes separated by ";" — promotions: blank = every store; closures: one or more
    products          SKUs separated by ";" (promotions)
    categories        category names separated by ";" — "Bakery" or "Bakery/Bread" (promotions)
    discount_percent  e.g. 20 for 20 % off — or —
    promo_price       the price during the promotion
    notes             promotion notes, or the closure's reason

Every bad row (unknown store / product / category, overlapping promotions on the same product and store —
with one already saved or with another row of the file — a promotion that ends before it starts, a closure on
a day with recorded sales) gets a message naming its line; if any row is bad nothing is written.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction

from inventory.models import Category, Product, Store

from .calendar import promotion_overlaps, promotion_products
from .models import Promotion, StoreClosure

COLUMNS = [
    "kind",
    "name",
    "start",
    "end",
    "stores",
    "products",
    "categories",
    "discount_percent",
    "promo_price",
    "notes",
]


class CalendarImportError(Exception):
    """The file was refused: ``errors`` lists one plain-English message per problem, naming the line."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass
class CalendarImportResult:
    promotions: int = 0
    closures: int = 0
    names: list[str] = field(default_factory=list)


def _split(cell: str) -> list[str]:
    return [part.strip() for part in (cell or "").replace(",", ";").split(";") if part.strip()]


def _day(cell: str, what: str, problems: list[str]) -> date | None:
    try:
        return date.fromisoformat((cell or "").strip())
    except ValueError:
        problems.append(f"{what} {cell!r} is not a day written like 2026-12-12")
        return None


def _decimal(cell: str, what: str, problems: list[str]) -> Decimal | None:
    if not (cell or "").strip():
        return None
    try:
        return Decimal(cell.strip().rstrip("%").strip())
    except InvalidOperation:
        problems.append(f"{what} {cell!r} is not a number")
        return None


def _categories_by_name() -> dict[str, list[Category]]:
    found: dict[str, list[Category]] = {}
    for cat in Category.objects.select_related("parent"):
        found.setdefault(cat.name.casefold(), []).append(cat)
        if cat.parent_id:
            found.setdefault(f"{cat.parent.name}/{cat.name}".casefold(), []).append(cat)
    return found


def calendar_import(*, content: bytes | str, user=None) -> CalendarImportResult:
    """Read a calendar CSV and write its promotions and closures in one transaction, or raise
    CalendarImportError with every bad row's message (nothing written)."""
    text = content.decode("utf-8-sig") if isinstance(content, bytes) else content
    reader = csv.DictReader(io.StringIO(text))
    headers = [h.strip().lower() for h in reader.fieldnames or []]
    if "kind" not in headers or "start" not in headers:
        raise CalendarImportError(
            [f"The file needs a header row with at least kind and start; columns: {', '.join(COLUMNS)}."]
        )
    stores = {s.code.casefold(): s for s in Store.objects.all()}
    products = {p.sku.casefold(): p for p in Product.objects.all()}
    categories = _categories_by_name()
    errors: list[str] = []
    promotions: list[tuple[Promotion, list, list, list]] = []
    closures: list[StoreClosure] = []
    pending: list[dict] = []  # promotions of this file, for overlaps between rows
    closed_days: set[tuple[int, date]] = set()
    for line, raw in enumerate(reader, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
        if not any(row.values()):
            continue
        problems: list[str] = []
        kind = row.get("kind", "").lower()
        start = _day(row.get("start", ""), "start", problems)
        end = _day(row["end"], "end", problems) if row.get("end") else start
        row_stores = []
        for code in _split(row.get("stores", "")):
            if code.casefold() in stores:
                row_stores.append(stores[code.casefold()])
            else:
                problems.append(f"unknown store {code!r}")
        if start and end and end < start:
            problems.append(f"it ends ({end:%d %b %Y}) before it starts ({start:%d %b %Y})")
        if kind == "promotion":
            row_products, row_categories = [], []
            for sku in _split(row.get("products", "")):
                if sku.casefold() in products:
                    row_products.append(products[sku.casefold()])
                else:
                    problems.append(f"unknown product {sku!r}")
            for name in _split(row.get("categories", "")):
                matches = categories.get(name.casefold(), [])
                if len(matches) == 1:
                    row_categories.append(matches[0])
                elif matches:
                    problems.append(f"category {name!r} is ambiguous: write it as Parent/Name")
                else:
                    problems.append(f"unknown category {name!r}")
            if not row_products and not row_categories and not problems:
                problems.append("no product or category to promote")
            percent = _decimal(row.get("discount_percent", ""), "discount_percent", problems)
            price = _decimal(row.get("promo_price", ""), "promo_price", problems)
            promo = Promotion(
                name=row.get("name") or f"Promotion (line {line})",
                start=start,
                end=end,
                discount_percent=percent,
                promo_price=price,
                created_by=user,
                notes=row.get("notes", ""),
            )
            if not problems:
                try:
                    promo.full_clean(exclude=["created_by"])
                except ValidationError as exc:
                    problems += [m[0].lower() + m[1:].rstrip(".") for ms in exc.message_dict.values() for m in ms]
            if not problems:
                store_ids = [s.pk for s in row_stores]
                clashes = promotion_overlaps(
                    start=start, end=end, store_ids=store_ids, product_ids=[p.pk for p in row_products],
                    category_ids=[c.pk for c in row_categories], pending=pending,
                )  # fmt: skip
                problems += [c[0].lower() + c[1:].rstrip(".") for c in clashes]
                ids = promotion_products(
                    product_ids=[p.pk for p in row_products], category_ids=[c.pk for c in row_categories]
                )
                pending.append(
                    {"name": promo.name, "start": start, "end": end, "store_ids": set(store_ids), "product_ids": ids}
                )
            if not problems:
                promotions.append((promo, row_stores, row_products, row_categories))
        elif kind == "closure":
            from .calendar import closure_problems  # noqa: PLC0415 — next to its use

            if not row_stores and not problems:
                problems.append("a closure needs the store's code")
            if start and end and not problems:
                day = start
                while day <= end:
                    for store in row_stores:
                        if (store.pk, day) in closed_days:
                            problems.append(f"{store.code} is closed on {day:%d %b %Y} by another row")
                        problems += [p[0].lower() + p[1:].rstrip(".") for p in closure_problems(store=store, day=day)]
                        closed_days.add((store.pk, day))
                        closures.append(
                            StoreClosure(store=store, date=day, reason=row.get("notes", ""), created_by=user)
                        )
                    day += timedelta(days=1)
        else:
            problems.append(f"kind must be promotion or closure, not {row.get('kind', '')!r}")
        if problems:
            errors.append(f"Line {line}: " + "; ".join(dict.fromkeys(problems)) + ".")
    if errors:
        raise CalendarImportError(errors)
    if not promotions and not closures:
        raise CalendarImportError(["The file has no rows."])
    result = CalendarImportResult()
    with transaction.atomic():
        for promo, row_stores, row_products, row_categories in promotions:
            promo.save()
            promo.stores.set(row_stores)
            promo.products.set(row_products)
            promo.categories.set(row_categories)
            result.names.append(promo.name)
        StoreClosure.objects.bulk_create(closures)
    result.promotions, result.closures = len(promotions), len(closures)
    return result
