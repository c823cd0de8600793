"""Read-only BI access: the `bi` schema of documented views (PostgreSQL) and the same tables as Parquet files.

Each table is declared once here: its name, what it holds, its columns (name, type, meaning) and two ways
to compute it, kept to one definition each:

* ``sql``: the PostgreSQL SELECT behind the view ``bi.<name>`` (``manage.py bi_setup``);
* ``rows``: the same rows through the ORM and the pages' own selectors (``manage.py bi_export``, on
  PostgreSQL and SQLite alike).

The tests set every view against the export and against the pages' figures (reports/tests/test_bi*.py).

The views run with their owner's rights (PostgreSQL's default; never ``security_invoker``), so the BI role
reads them with no grant on any application table, and no view carries a customer's name, phone or e-mail,
a user or a free-text note that could name one.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from django.db import connection, transaction
from django.db.models import Count, DecimalField, ExpressionWrapper, F, Max, Q, Sum, Value
from django.db.models.functions import Coalesce, NullIf

from customers.models import Customer, CustomerModelRun, CustomerPrediction, LoyaltyTier
from customers.selectors import latest_run as latest_customer_run
from forecasting.customer_selectors import customer_segments
from forecasting.models import DemandForecast, ForecastRun, ReorderSuggestion
from forecasting.selectors import FINISHED, RUNS_SCANNED, latest_run_by_store
from inventory.models import (
    Category,
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
    StockLevel,
    StockMovement,
    Store,
    Supplier,
)
from sales.models import Sale, SalesDaily, StoreDaily

SCHEMA = "bi"
DEFAULT_ROLE = "retailops_bi"
ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# Column types: the SQL cast a view's column gets and the Parquet type the export writes.
TYPES = {
    "int": ("bigint", pa.int64()),
    "text": ("text", pa.string()),
    "bool": ("boolean", pa.bool_()),
    "date": ("date", pa.date32()),
    "timestamp": ("timestamptz", pa.timestamp("us", tz="UTC")),
    "money": ("numeric(14,2)", pa.decimal128(16, 2)),
    "qty": ("numeric(12,3)", pa.decimal128(16, 3)),
    "cost": ("numeric(14,4)", pa.decimal128(18, 4)),
    "float": ("double precision", pa.float64()),
}
SCALE = {"money": Decimal("0.01"), "qty": Decimal("0.001"), "cost": Decimal("0.0001")}
DEC: DecimalField = DecimalField(max_digits=20, decimal_places=7)


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    comment: str


@dataclass(frozen=True)
class BiTable:
    name: str
    comment: str
    columns: tuple[Column, ...]
    sql: Callable[[], str]  # PostgreSQL SELECT, columns in this order (cast by view_sql)
    rows: Callable[[], Iterable[tuple]]  # the same rows through the ORM, columns in this order


def t(model) -> str:
    """The quoted table name of a model."""
    return connection.ops.quote_name(model._meta.db_table)


def c(name: str, type_: str, comment: str) -> Column:
    return Column(name, type_, comment)


# ------------------------------------------------------------------------------------------------ stores, catalogue

STORE_COLUMNS = (
    c("store_id", "int", "Store id (joins every table's store_id)."),
    c("store_code", "text", "Short store code, e.g. HB02."),
    c("store_name", "text", "Store name."),
    c("chain", "text", "Chain or banner the store trades under."),
    c("region", "text", "Region."),
    c("timezone", "text", "The store's time zone: its days (sale_date, local_date) are local days there."),
    c("currency", "text", "ISO code of the money the store trades in."),
    c("active", "bool", "Whether the store still trades."),
    c("opened_on", "date", "First day of trading (blank: not recorded)."),
)


def _stores_sql() -> str:
    return (
        "SELECT s.id, s.code, s.name, s.chain, s.region, s.timezone, s.currency, s.active, s.opened_on "
        f"FROM {t(Store)} s"
    )


def _stores_rows():
    return Store.objects.order_by("pk").values_list(
        "pk", "code", "name", "chain", "region", "timezone", "currency", "active", "opened_on"
    )


CATEGORY_COLUMNS = (
    c("category_id", "int", "Category id (joins products.category_id)."),
    c("category_name", "text", "Category name."),
    c("parent_category_id", "int", "The top category above it (blank for a top category)."),
    c("top_category_name", "text", "The top-level category it belongs to (itself for a top category)."),
)


def _categories_sql() -> str:
    return (
        "SELECT c.id, c.name, c.parent_id, COALESCE(p.name, c.name) "
        f"FROM {t(Category)} c LEFT JOIN {t(Category)} p ON p.id = c.parent_id"
    )


def _categories_rows():
    return Category.objects.order_by("pk").values_list("pk", "name", "parent_id", Coalesce("parent__name", "name"))


PRODUCT_COLUMNS = (
    c("product_id", "int", "Product id (joins every table's product_id)."),
    c("sku", "text", "Stock-keeping unit code."),
    c("barcode", "text", "Barcode (blank: none)."),
    c("product_name", "text", "Product name."),
    c("category_id", "int", "Its category (blank: uncategorised)."),
    c("category_name", "text", "Its category's name."),
    c("top_category_name", "text", "Its top-level category's name."),
    c("supplier_code", "text", "Code of the supplier it is bought from (blank: none)."),
    c("supplier_name", "text", "Name of that supplier."),
    c("supplier_lead_time_days", "int", "The supplier's lead time in days."),
    c("unit", "text", "Unit it is sold in: each, kg or l."),
    c("kind", "text", "goods (stocked) or service (a fee, not stocked)."),
    c("list_price", "money", "Today's list price (MRP)."),
    c("member_price", "money", "Today's member price (DP)."),
    c("cost_price", "money", "Today's cost price from the supplier."),
    c("case_pack", "int", "Units per case: orders are rounded up to whole cases."),
    c("active", "bool", "Whether it is still sold."),
)


def _products_sql() -> str:
    return (
        "SELECT p.id, p.sku, p.barcode, p.name, p.category_id, c.name, COALESCE(pc.name, c.name), "
        "sp.code, sp.name, sp.lead_time_days, p.unit, p.kind, p.mrp, p.dp, p.cost_price, p.case_pack, p.active "
        f"FROM {t(Product)} p LEFT JOIN {t(Category)} c ON c.id = p.category_id "
        f"LEFT JOIN {t(Category)} pc ON pc.id = c.parent_id LEFT JOIN {t(Supplier)} sp ON sp.id = p.supplier_id"
    )


def _products_rows():
    return Product.objects.order_by("pk").values_list(
        "pk",
        "sku",
        "barcode",
        "name",
        "category_id",
        "category__name",
        Coalesce("category__parent__name", "category__name"),
        "supplier__code",
        "supplier__name",
        "supplier__lead_time_days",
        "unit",
        "kind",
        "mrp",
        "dp",
        "cost_price",
        "case_pack",
        "active",
    )


# ------------------------------------------------------------------------------------------------ sales

SALES_DAILY_COLUMNS = (
    c("sale_date", "date", "The store's local day."),
    c("store_id", "int", "Store (joins stores)."),
    c("store_code", "text", "Store code."),
    c("product_id", "int", "Product (joins products)."),
    c("sku", "text", "Product SKU."),
    c("category_id", "int", "The product's category (joins categories)."),
    c("units", "qty", "Units sold, net of returns (returned units count negative)."),
    c("revenue", "money", "Takings, net of returns and discounts (the dashboards' revenue)."),
    c("cost", "money", "Cost of the goods sold at the cost of the day of sale, net of returns."),
    c("gross_profit", "money", "revenue − cost."),
    c("discount", "money", "Discounts given (list price − price paid, plus line discounts)."),
    c("returns_units", "qty", "Units returned (positive)."),
    c("returns_value", "money", "Value refunded for returns (positive); gross sales = revenue + returns_value."),
    c("gross_sales", "money", "Takings before returns: revenue + returns_value."),
    c(
        "units_at_list_price",
        "qty",
        "Of the units, those sold at list price (MRP); the rest at member price (DP) or on promotion.",
    ),
    c("revenue_at_list_price", "money", "Takings from units sold at list price."),
    c(
        "receipts",
        "int",
        "Receipts with a line of this product (do not add up across products: a receipt "
        "holds several; store_daily.receipts counts each receipt once).",
    ),
)


def _sales_daily_sql() -> str:
    return (
        "SELECT d.date, d.store_id, s.code, d.product_id, p.sku, p.category_id, d.units, d.revenue, d.cost, "
        "d.revenue - d.cost, d.discount, d.returns_units, d.returns_value, d.revenue + d.returns_value, "
        "d.units_mrp, d.revenue_mrp, d.transactions "
        f"FROM {t(SalesDaily)} d JOIN {t(Store)} s ON s.id = d.store_id JOIN {t(Product)} p ON p.id = d.product_id"
    )


def _sales_daily_rows():
    return (
        SalesDaily.objects.order_by("date", "store_id", "product_id")
        .values_list(
            "date",
            "store_id",
            "store__code",
            "product_id",
            "product__sku",
            "product__category_id",
            "units",
            "revenue",
            "cost",
            ExpressionWrapper(F("revenue") - F("cost"), output_field=DEC),
            "discount",
            "returns_units",
            "returns_value",
            ExpressionWrapper(F("revenue") + F("returns_value"), output_field=DEC),
            "units_mrp",
            "revenue_mrp",
            "transactions",
        )
        .iterator(chunk_size=5000)
    )


STORE_DAILY_COLUMNS = (
    c("sale_date", "date", "The store's local day."),
    c("store_id", "int", "Store (joins stores)."),
    c("store_code", "text", "Store code."),
    c("receipts", "int", "Receipts (sales and returns) that day."),
    c("revenue", "money", "Takings, net of returns and discounts (the dashboards' revenue)."),
    c("cost", "money", "Cost of the goods sold, net of returns."),
    c("gross_profit", "money", "revenue − cost."),
    c("discount", "money", "Discounts given."),
    c("units", "qty", "Units sold, net of returns."),
    c("returns_value", "money", "Value refunded for returns (positive)."),
    c("gross_sales", "money", "Takings before returns: revenue + returns_value."),
    c("loyalty_receipts", "int", "Receipts with a loyalty customer."),
    c("cash_revenue", "money", "Of the revenue, taken in cash."),
    c("card_revenue", "money", "Of the revenue, taken by card."),
    c("points_revenue", "money", "Of the revenue, settled with vouchers or points (no money came in)."),
)


def _store_daily_sql() -> str:
    return (
        "SELECT d.date, d.store_id, s.code, SUM(d.transactions), SUM(d.revenue), SUM(d.cost), "
        "SUM(d.revenue - d.cost), SUM(d.discount), SUM(d.units), SUM(d.returns_value), "
        "SUM(d.revenue + d.returns_value), SUM(d.customers), "
        "COALESCE(SUM(d.revenue) FILTER (WHERE d.payment_method = 'cash'), 0), "
        "COALESCE(SUM(d.revenue) FILTER (WHERE d.payment_method = 'card'), 0), "
        "COALESCE(SUM(d.revenue) FILTER (WHERE d.payment_method = 'voucher'), 0) "
        f"FROM {t(StoreDaily)} d JOIN {t(Store)} s ON s.id = d.store_id GROUP BY d.date, d.store_id, s.code"
    )


def _store_daily_rows():
    def paid(method: str):
        return Coalesce(Sum("revenue", filter=Q(payment_method=method)), Value(Decimal(0)), output_field=DEC)

    return (
        StoreDaily.objects.values("date", "store_id", "store__code")
        .order_by("date", "store_id")
        .annotate(
            receipts=Sum("transactions"),
            revenue_=Sum("revenue"),
            cost_=Sum("cost"),
            gp=Sum(F("revenue") - F("cost"), output_field=DEC),
            discount_=Sum("discount"),
            units_=Sum("units"),
            returns_=Sum("returns_value"),
            gross=Sum(F("revenue") + F("returns_value"), output_field=DEC),
            loyalty=Sum("customers"),
            cash=paid(Sale.Payment.CASH),
            card=paid(Sale.Payment.CARD),
            points=paid(Sale.Payment.VOUCHER),
        )
        .values_list(
            "date",
            "store_id",
            "store__code",
            "receipts",
            "revenue_",
            "cost_",
            "gp",
            "discount_",
            "units_",
            "returns_",
            "gross",
            "loyalty",
            "cash",
            "card",
            "points",
        )
        .iterator(chunk_size=5000)
    )


# ------------------------------------------------------------------------------------------------ stock

STOCK_LEVEL_COLUMNS = (
    c("store_id", "int", "Store (joins stores)."),
    c("store_code", "text", "Store code."),
    c("product_id", "int", "Product (joins products); stocked goods only."),
    c("sku", "text", "Product SKU."),
    c("category_id", "int", "The product's category."),
    c("on_hand", "qty", "Book stock now (negative: sold before a receipt or count was posted)."),
    c("unit_cost", "cost", "Cost of one unit: the moving average cost, the product's cost price before any receipt."),
    c(
        "value_at_cost",
        "money",
        "on_hand × unit_cost, to the penny; negative stock is worth nothing "
        "(the inventory pages' and the valuation report's stock value).",
    ),
    c("reorder_point", "qty", "Reorder point set by hand (blank: derived by the forecast)."),
    c("order_up_to", "qty", "Order-up-to level set by hand (blank: derived by the forecast)."),
    c("updated_at", "timestamp", "When the level last changed."),
)
UNIT_COST_SQL = "COALESCE(NULLIF(l.average_cost, 0), p.cost_price)"


def _stock_levels_sql() -> str:
    return (
        f"SELECT l.store_id, s.code, l.product_id, p.sku, p.category_id, l.on_hand, {UNIT_COST_SQL}, "
        f"ROUND(CASE WHEN l.on_hand > 0 THEN l.on_hand * {UNIT_COST_SQL} ELSE 0 END, 2), "
        "l.min_qty, l.max_qty, l.updated_at "
        f"FROM {t(StockLevel)} l JOIN {t(Store)} s ON s.id = l.store_id JOIN {t(Product)} p ON p.id = l.product_id "
        f"WHERE p.kind = '{Product.Kind.GOODS.value}'"
    )


def _stock_levels_rows():
    from retailops.money import money  # noqa: PLC0415 — only the export rounds in Python

    unit_cost = Coalesce(NullIf(F("average_cost"), Value(Decimal(0))), F("product__cost_price"), output_field=DEC)
    for row in (
        StockLevel.objects.filter(product__kind=Product.Kind.GOODS)
        .order_by("store_id", "product_id")
        .values_list(
            "store_id",
            "store__code",
            "product_id",
            "product__sku",
            "product__category_id",
            "on_hand",
            unit_cost,
            "min_qty",
            "max_qty",
            "updated_at",
        )
        .iterator(chunk_size=5000)
    ):
        on_hand, cost = row[5], Decimal(row[6])
        yield (*row[:7], money(max(on_hand, Decimal(0)) * cost), *row[7:])


MOVEMENT_COLUMNS = (
    c(
        "movement_id",
        "int",
        "Ledger entry id (entries are never edited or deleted; a mistake is corrected by a new one).",
    ),
    c("occurred_at", "timestamp", "When it happened (UTC)."),
    c("local_date", "date", "The store's local day it happened."),
    c("store_id", "int", "Store (joins stores)."),
    c("store_code", "text", "Store code."),
    c("product_id", "int", "Product (joins products)."),
    c("sku", "text", "Product SKU."),
    c(
        "kind",
        "text",
        "opening, sale, return, receipt, count (count correction), adjustment, transfer_out, transfer_in or write_off.",
    ),
    c("quantity", "qty", "Units in (positive) or out (negative)."),
    c("unit_cost", "cost", "Cost of one unit at the time."),
    c("value_at_cost", "money", "quantity × unit_cost, to the penny."),
    c("source_type", "text", "What caused it (e.g. sales.saleline, inventory.stockcountline)."),
    c("source_id", "int", "The id of that record."),
)


def _stock_movements_sql() -> str:
    return (
        "SELECT m.id, m.occurred_at, (m.occurred_at AT TIME ZONE s.timezone)::date, m.store_id, s.code, "
        "m.product_id, p.sku, m.kind, m.quantity, m.unit_cost, ROUND(m.quantity * m.unit_cost, 2), "
        "m.source_type, m.source_id "
        f"FROM {t(StockMovement)} m JOIN {t(Store)} s ON s.id = m.store_id JOIN {t(Product)} p ON p.id = m.product_id"
    )


def _stock_movements_rows():
    from retailops.money import money  # noqa: PLC0415 — only the export rounds in Python

    zones = {pk: zoneinfo.ZoneInfo(tz) for pk, tz in Store.objects.values_list("pk", "timezone")}
    for mid, at, store_id, code, product_id, sku, kind, qty, cost, source_type, source_id in (
        StockMovement.objects.order_by("pk")
        .values_list(
            "pk",
            "occurred_at",
            "store_id",
            "store__code",
            "product_id",
            "product__sku",
            "kind",
            "quantity",
            "unit_cost",
            "source_type",
            "source_id",
        )
        .iterator(chunk_size=5000)
    ):
        local = at.astimezone(zones[store_id]).date()
        yield (
            mid,
            at,
            local,
            store_id,
            code,
            product_id,
            sku,
            kind,
            qty,
            cost,
            money(qty * cost),
            source_type,
            source_id,
        )


# ------------------------------------------------------------------------------------------------ purchasing

PURCHASE_ORDER_COLUMNS = (
    c("order_id", "int", "Purchase order number."),
    c("reference", "text", "The supplier's or buyer's reference."),
    c("store_id", "int", "Store it delivers to (joins stores)."),
    c("store_code", "text", "Store code."),
    c("supplier_code", "text", "Supplier code."),
    c("supplier_name", "text", "Supplier name."),
    c("status", "text", "draft, ordered, partly_received, received or cancelled."),
    c("created_at", "timestamp", "When it was drafted."),
    c("ordered_at", "timestamp", "When it was placed (blank: not yet)."),
    c("expected_date", "date", "Delivery expected on."),
    c("paid_at", "timestamp", "When it was paid (blank: not yet)."),
    c("amount_paid", "money", "Paid to the supplier."),
    c("lines", "int", "Order lines."),
    c("order_value", "money", "Σ ordered quantity × unit cost (the pages' order value)."),
    c("received_value", "money", "Σ received quantity × unit cost."),
    c("open_value", "money", "Σ quantity still to come × unit cost."),
)


def _purchase_orders_sql() -> str:
    return (
        "SELECT o.id, o.reference, o.store_id, s.code, sp.code, sp.name, o.status, o.created_at, o.ordered_at, "
        "o.expected_date, o.paid_at, o.amount_paid, COALESCE(v.lines, 0), COALESCE(v.ordered, 0), "
        "COALESCE(v.received, 0), COALESCE(v.open, 0) "
        f"FROM {t(PurchaseOrder)} o JOIN {t(Store)} s ON s.id = o.store_id "
        f"JOIN {t(Supplier)} sp ON sp.id = o.supplier_id "
        "LEFT JOIN (SELECT order_id, COUNT(*) AS lines, ROUND(SUM(quantity_ordered * unit_cost), 2) AS ordered, "
        "ROUND(SUM(quantity_received * unit_cost), 2) AS received, "
        "ROUND(SUM(GREATEST(quantity_ordered - quantity_received, 0) * unit_cost), 2) AS open "
        f"FROM {t(PurchaseOrderLine)} GROUP BY order_id) v ON v.order_id = o.id"
    )


def _purchase_orders_rows():
    from retailops.money import money  # noqa: PLC0415 — only the export rounds in Python

    sums: dict[int, list] = {}
    for order_id, ordered, received, cost in PurchaseOrderLine.objects.values_list(
        "order_id", "quantity_ordered", "quantity_received", "unit_cost"
    ).iterator(chunk_size=5000):
        acc = sums.setdefault(order_id, [0, Decimal(0), Decimal(0), Decimal(0)])
        acc[0] += 1
        acc[1] += ordered * cost
        acc[2] += received * cost
        acc[3] += max(ordered - received, Decimal(0)) * cost
    for row in PurchaseOrder.objects.order_by("pk").values_list(
        "pk",
        "reference",
        "store_id",
        "store__code",
        "supplier__code",
        "supplier__name",
        "status",
        "created_at",
        "ordered_at",
        "expected_date",
        "paid_at",
        "amount_paid",
    ):
        n, ordered, received, open_ = sums.get(row[0], [0, 0, 0, 0])
        yield (*row, n, money(ordered), money(received), money(open_))


PURCHASE_LINE_COLUMNS = (
    c("line_id", "int", "Order line id."),
    c("order_id", "int", "Purchase order (joins purchase_orders)."),
    c("store_id", "int", "Store it delivers to."),
    c("product_id", "int", "Product (joins products)."),
    c("sku", "text", "Product SKU."),
    c("quantity_ordered", "qty", "Units ordered."),
    c("quantity_received", "qty", "Units received so far."),
    c("quantity_open", "qty", "Units still to come (never below nothing)."),
    c("unit_cost", "cost", "Agreed cost of one unit."),
    c("line_value", "money", "quantity_ordered × unit_cost, to the penny."),
)


def _purchase_order_lines_sql() -> str:
    return (
        "SELECT l.id, l.order_id, o.store_id, l.product_id, p.sku, l.quantity_ordered, l.quantity_received, "
        "GREATEST(l.quantity_ordered - l.quantity_received, 0), l.unit_cost, "
        "ROUND(l.quantity_ordered * l.unit_cost, 2) "
        f"FROM {t(PurchaseOrderLine)} l JOIN {t(PurchaseOrder)} o ON o.id = l.order_id "
        f"JOIN {t(Product)} p ON p.id = l.product_id"
    )


def _purchase_order_lines_rows():
    from retailops.money import money  # noqa: PLC0415 — only the export rounds in Python

    for row in (
        PurchaseOrderLine.objects.order_by("pk")
        .values_list(
            "pk",
            "order_id",
            "order__store_id",
            "product_id",
            "product__sku",
            "quantity_ordered",
            "quantity_received",
            "unit_cost",
        )
        .iterator(chunk_size=5000)
    ):
        ordered, received, cost = row[5], row[6], row[7]
        yield (*row[:7], max(ordered - received, Decimal(0)), cost, money(ordered * cost))


# ------------------------------------------------------------------------------------------------ forecasts

FORECAST_COLUMNS = (
    c("store_id", "int", "Store (joins stores)."),
    c("store_code", "text", "Store code."),
    c("product_id", "int", "Product (joins products)."),
    c("sku", "text", "Product SKU."),
    c("forecast_date", "date", "The day forecast."),
    c("forecast_units", "float", "Units expected to sell that day."),
    c("low_80", "float", "Lower end of the 80 % band: 1 day in 10 sells less."),
    c("high_80", "float", "Upper end of the 80 % band: 1 day in 10 sells more."),
    c("model", "text", "The model that won this series' backtest."),
    c("run_id", "int", "The forecast run it comes from: the store's current forecast."),
    c("history_end", "date", "Last day of sales that run used; its forecast starts the day after."),
)


def _forecast_sql() -> str:
    """Each store's current forecast by forecasting.selectors.latest_run_by_store's rule: of the RUNS_SCANNED
    finished runs with the latest history (newest first among equals), the first that covers the store (a run
    with no store list covers every store). A run made "as of" an earlier day has an earlier history_end, so
    it never replaces a newer one."""
    finished = ", ".join(f"'{s.value}'" for s in FINISHED)
    return (
        "WITH recent AS ("
        "  SELECT r.id, r.history_end, r.store_ids,"
        "         ROW_NUMBER() OVER (ORDER BY r.history_end DESC, r.created_at DESC, r.id DESC) AS rn"
        f" FROM {t(ForecastRun)} r WHERE r.status IN ({finished})"
        f" ORDER BY rn LIMIT {RUNS_SCANNED}"
        "), current_run AS ("
        "  SELECT DISTINCT ON (s.id) s.id AS store_id, r.id AS run_id, r.history_end"
        f" FROM {t(Store)} s JOIN recent r ON (r.store_ids IS NULL OR jsonb_typeof(r.store_ids) <> 'array'"
        "      OR r.store_ids = '[]'::jsonb OR r.store_ids @> to_jsonb(s.id))"
        "  ORDER BY s.id, r.rn"
        ") "
        "SELECT f.store_id, s.code, f.product_id, p.sku, f.date, f.yhat, f.lo, f.hi, f.model, f.run_id, c.history_end "
        f"FROM current_run c JOIN {t(DemandForecast)} f ON f.run_id = c.run_id AND f.store_id = c.store_id "
        f"JOIN {t(Store)} s ON s.id = f.store_id JOIN {t(Product)} p ON p.id = f.product_id"
    )


def _forecast_rows():
    runs = {s: r for s, r in latest_run_by_store(list(Store.objects.values_list("pk", flat=True))).items() if r}
    for store_id, run in sorted(runs.items()):
        for row in (
            DemandForecast.objects.filter(run=run, store_id=store_id)
            .order_by("product_id", "date")
            .values_list(
                "store_id", "store__code", "product_id", "product__sku", "date", "yhat", "lo", "hi", "model", "run_id"
            )
            .iterator(chunk_size=5000)
        ):
            yield (*row, run.history_end)


SUGGESTION_COLUMNS = (
    c("suggestion_id", "int", "Suggestion id."),
    c("kind", "text", "purchase (buy from the supplier) or transfer (move from another store of the chain)."),
    c("status", "text", "open (to decide) or accepted (the Reorder page's current list)."),
    c("store_id", "int", "Store it is for (joins stores)."),
    c("store_code", "text", "Store code."),
    c("product_id", "int", "Product (joins products)."),
    c("sku", "text", "Product SKU."),
    c("supplier_code", "text", "Supplier to buy from (purchases)."),
    c("source_store_code", "text", "Store to move the stock from (transfers)."),
    c("on_hand", "qty", "Book stock when suggested."),
    c("on_order", "qty", "Units on open purchase orders."),
    c("lead_time_days", "int", "Days from order to delivery."),
    c("forecast_lead_time", "qty", "Units forecast to sell over the lead time."),
    c("safety_stock", "qty", "Units kept against forecast error at the service level."),
    c("reorder_point", "qty", "Order when stock plus on order falls to this."),
    c("order_up_to", "qty", "Order up to this level."),
    c("quantity", "qty", "Units to order or move (rounded to whole cases)."),
    c("unit_cost", "cost", "Cost of one unit."),
    c("cash_needed", "money", "quantity × unit cost."),
    c("margin_at_risk", "money", "Expected margin lost if it is not ordered."),
    c("in_budget", "bool", "Whether it fits the budget set on the Reorder page."),
    c("run_id", "int", "The forecast run it was computed from."),
    c("created_at", "timestamp", "When it was suggested."),
)
CURRENT_SUGGESTIONS = (ReorderSuggestion.Status.OPEN, ReorderSuggestion.Status.ACCEPTED)


def _suggestions_sql() -> str:
    current = ", ".join(f"'{s.value}'" for s in CURRENT_SUGGESTIONS)
    return (
        "SELECT g.id, g.kind, g.status, g.store_id, s.code, g.product_id, p.sku, sp.code, ss.code, g.on_hand, "
        "g.on_order, g.lead_time_days, g.forecast_lead_time, g.safety_stock, g.reorder_point, g.order_up_to, "
        "g.quantity, g.unit_cost, g.cash_needed, g.margin_at_risk, g.in_budget, g.run_id, g.created_at "
        f"FROM {t(ReorderSuggestion)} g JOIN {t(Store)} s ON s.id = g.store_id "
        f"JOIN {t(Product)} p ON p.id = g.product_id "
        f"LEFT JOIN {t(Supplier)} sp ON sp.id = g.supplier_id LEFT JOIN {t(Store)} ss ON ss.id = g.source_store_id "
        f"WHERE g.status IN ({current})"
    )


def _suggestions_rows():
    return (
        ReorderSuggestion.objects.filter(status__in=CURRENT_SUGGESTIONS)
        .order_by("pk")
        .values_list(
            "pk",
            "kind",
            "status",
            "store_id",
            "store__code",
            "product_id",
            "product__sku",
            "supplier__code",
            "source_store__code",
            "on_hand",
            "on_order",
            "lead_time_days",
            "forecast_lead_time",
            "safety_stock",
            "reorder_point",
            "order_up_to",
            "quantity",
            "unit_cost",
            "cash_needed",
            "margin_at_risk",
            "in_budget",
            "run_id",
            "created_at",
        )
    )


# ------------------------------------------------------------------------------------------------ customers

CUSTOMER_COLUMNS = (
    c("customer_id", "int", "Customer id. No name, phone or e-mail is in any bi table."),
    c("customer_code", "text", "Loyalty card code."),
    c("home_store_id", "int", "Home store (joins stores; blank: none)."),
    c("home_store_code", "text", "Home store code."),
    c("tier", "text", "Loyalty tier (blank: none)."),
    c("active", "bool", "Whether the card is active."),
    c("points_balance", "int", "Points not yet redeemed or expired."),
    c("purchase_days", "int", "Days with a purchase (0: never bought)."),
    c("net_spend", "money", "All-time spend, net of returns."),
    c("last_purchase_date", "date", "Last day with a purchase."),
    c("recency_score", "int", "1–5: quintile of the last purchase among buying customers (5 = most recent)."),
    c("frequency_score", "int", "1–5: quintile of purchase days."),
    c("monetary_score", "int", "1–5: quintile of net spend."),
    c(
        "segment",
        "text",
        "RFM segment, as on the Customers page: Champions, Loyal, Promising, New, Needs "
        "attention, At risk, Hibernating or Lost (blank: never bought).",
    ),
    c(
        "predicted_spend_quarter",
        "money",
        "Spend expected over the next quarter by the latest customer-model run (blank: no run yet).",
    ),
    c("predicted_spend_year", "money", "Spend expected over the next year by that run."),
    c(
        "probability_active",
        "float",
        "That run's probability that the customer still buys (blank: one purchase day only or no run).",
    ),
)


def _score_sql(order: str) -> str:
    """pandas' rank(method="average", pct=True) scored 1–5 as customer_engine.rfm_segments does, in double
    precision like it, so a quintile boundary falls the same way."""
    return (
        f"LEAST(GREATEST(CEIL(((RANK() OVER (ORDER BY {order}) + (COUNT(*) OVER (PARTITION BY {order}) - 1) / 2.0)"
        "::float8 / (COUNT(*) OVER ())::float8) * 5.0::float8), 1), 5)::int"
    )


def _customers_sql() -> str:
    return (
        "WITH bought AS ("
        "  SELECT customer_id, COUNT(DISTINCT local_date) AS n_days, MAX(local_date) AS last_date,"
        "         SUM(total) AS gross"
        f" FROM {t(Sale)} WHERE customer_id IS NOT NULL AND kind = 'sale' GROUP BY customer_id"
        "), returned AS ("
        f" SELECT customer_id, SUM(total) AS total FROM {t(Sale)}"
        "  WHERE customer_id IS NOT NULL AND kind = 'return' GROUP BY customer_id"
        "), summary AS ("
        "  SELECT b.customer_id, b.n_days, b.last_date, b.gross + COALESCE(r.total, 0) AS net,"
        "         b.gross::float8 + COALESCE(r.total, 0)::float8 AS spend"
        "  FROM bought b LEFT JOIN returned r ON r.customer_id = b.customer_id"
        "), scored AS ("
        f" SELECT summary.*, {_score_sql('last_date')} AS r, {_score_sql('n_days')} AS f,"
        f"        {_score_sql('spend')} AS m FROM summary"
        "), model_run AS ("
        f" SELECT id FROM {t(CustomerModelRun)} WHERE status = '{CustomerModelRun.Status.DONE.value}'"
        "  ORDER BY finished_at DESC, id DESC LIMIT 1"
        ") "
        "SELECT cu.id, cu.code, cu.home_store_id, hs.code, tier.name, cu.active, cu.points_balance,"
        " COALESCE(sc.n_days, 0), COALESCE(sc.net, 0), sc.last_date, sc.r, sc.f, sc.m,"
        " CASE WHEN sc.customer_id IS NULL THEN NULL"
        "  WHEN sc.n_days <= 1 THEN CASE WHEN sc.r >= 4 THEN 'New' WHEN sc.r >= 2 THEN 'Hibernating' ELSE 'Lost' END"
        "  WHEN sc.r >= 4 AND sc.f >= 4 THEN 'Champions' WHEN sc.r >= 3 AND sc.f >= 3 THEN 'Loyal'"
        "  WHEN sc.r >= 4 THEN 'Promising' WHEN sc.r = 3 THEN 'Needs attention'"
        "  WHEN sc.f >= 3 OR sc.m >= 4 THEN 'At risk' WHEN sc.r = 2 THEN 'Hibernating' ELSE 'Lost' END,"
        " pr.spend_quarter, pr.spend_year, pr.p_alive "
        f"FROM {t(Customer)} cu LEFT JOIN {t(Store)} hs ON hs.id = cu.home_store_id"
        f" LEFT JOIN {t(LoyaltyTier)} tier ON tier.id = cu.tier_id"
        " LEFT JOIN scored sc ON sc.customer_id = cu.id"
        f" LEFT JOIN {t(CustomerPrediction)} pr ON pr.customer_id = cu.id AND pr.run_id = (SELECT id FROM model_run)"
    )


def _customers_rows():
    seg = customer_segments()
    segments = {
        int(k): (int(r), int(f), int(m), s)
        for k, r, f, m, s in zip(seg.index, seg["r"], seg["f"], seg["m"], seg["segment"], strict=True)
    }
    spend = {
        r["customer_id"]: (r["n"], (r["gross"] or 0), r["last"])
        for r in Sale.objects.filter(customer__isnull=False, kind=Sale.Kind.SALE)
        .values("customer_id")
        .annotate(n=Count("local_date", distinct=True), gross=Sum("total"), last=Max("local_date"))
        .order_by()
    }
    returns = dict(
        Sale.objects.filter(customer__isnull=False, kind=Sale.Kind.RETURN)
        .values("customer_id")
        .annotate(t=Sum("total"))
        .order_by()
        .values_list("customer_id", "t")
    )
    run = latest_customer_run()
    predicted = {}
    if run is not None:
        predicted = {
            cid: (q, y, p)
            for cid, q, y, p in run.predictions.values_list("customer_id", "spend_quarter", "spend_year", "p_alive")
        }
    for cid, code, store_id, store_code, tier, active, points in (
        Customer.objects.order_by("pk")
        .values_list("pk", "code", "home_store_id", "home_store__code", "tier__name", "active", "points_balance")
        .iterator(chunk_size=5000)
    ):
        n, gross, last = spend.get(cid, (0, Decimal(0), None))
        net = gross + (returns.get(cid) or 0) if cid in spend else Decimal(0)
        r, f, m, s = segments.get(cid, (None, None, None, None))
        yield (
            cid,
            code,
            store_id,
            store_code,
            tier,
            active,
            points,
            n,
            net,
            last,
            r,
            f,
            m,
            s,
            *predicted.get(cid, (None, None, None)),
        )


# ------------------------------------------------------------------------------------------------ the tables

TABLES: tuple[BiTable, ...] = (
    BiTable("stores", "The stores, one row each.", STORE_COLUMNS, _stores_sql, _stores_rows),
    BiTable("categories", "Product categories (two levels).", CATEGORY_COLUMNS, _categories_sql, _categories_rows),
    BiTable(
        "products", "The catalogue with today's prices and supplier.", PRODUCT_COLUMNS, _products_sql, _products_rows
    ),
    BiTable(
        "sales_daily",
        "Sales per store × product × local day, returns included (net), from the dashboards' own daily rollup: "
        "its sums for a period are the Sales page's figures.",
        SALES_DAILY_COLUMNS,
        _sales_daily_sql,
        _sales_daily_rows,
    ),
    BiTable(
        "store_daily",
        "Sales per store × local day: receipts, takings, cost, discounts, returns, payment methods (the "
        "dashboards' KPIs).",
        STORE_DAILY_COLUMNS,
        _store_daily_sql,
        _store_daily_rows,
    ),
    BiTable(
        "stock_levels",
        "Book stock now per store × stocked product, with its value at cost (the inventory pages' stock value).",
        STOCK_LEVEL_COLUMNS,
        _stock_levels_sql,
        _stock_levels_rows,
    ),
    BiTable(
        "stock_movements",
        "The stock ledger: every movement in or out (sales, returns, receipts, counts, adjustments, transfers, "
        "write-offs). Σ quantity per store × product = stock_levels.on_hand.",
        MOVEMENT_COLUMNS,
        _stock_movements_sql,
        _stock_movements_rows,
    ),
    BiTable(
        "purchase_orders",
        "Purchase orders, one row each, with their value, received and open value.",
        PURCHASE_ORDER_COLUMNS,
        _purchase_orders_sql,
        _purchase_orders_rows,
    ),
    BiTable(
        "purchase_order_lines",
        "The lines of the purchase orders.",
        PURCHASE_LINE_COLUMNS,
        _purchase_order_lines_sql,
        _purchase_order_lines_rows,
    ),
    BiTable(
        "forecast",
        "Each store's current demand forecast per product × day with its 80 % band: the forecast the Forecasts, "
        "Reorder and Cash flow pages use (the finished run with the latest history that covers the store; a run "
        "made as of an earlier day never counts).",
        FORECAST_COLUMNS,
        _forecast_sql,
        _forecast_rows,
    ),
    BiTable(
        "reorder_suggestions",
        "The Reorder page's current suggestions (open and accepted), each with the figures behind it.",
        SUGGESTION_COLUMNS,
        _suggestions_sql,
        _suggestions_rows,
    ),
    BiTable(
        "customers",
        "Loyalty customers without personal data (no name, phone or e-mail): tier, RFM segment as on the "
        "Customers page, spend and predicted spend.",
        CUSTOMER_COLUMNS,
        _customers_sql,
        _customers_rows,
    ),
)
BY_NAME = {table.name: table for table in TABLES}


# ------------------------------------------------------------------------------------------------ bi_setup


class BiSetupError(Exception):
    """A reason bi_setup cannot go on, in words for the person running it."""


def view_sql(table: BiTable) -> str:
    """CREATE VIEW bi.<name> with every column named and cast to its documented type."""
    inner = table.sql()
    cols = ", ".join(
        f"q.c{i}::{TYPES[col.type][0]} AS {connection.ops.quote_name(col.name)}" for i, col in enumerate(table.columns)
    )
    aliases = ", ".join(f"c{i}" for i in range(len(table.columns)))
    return f"CREATE VIEW {SCHEMA}.{table.name} AS SELECT {cols} FROM ({inner}) AS q({aliases})"


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def setup(*, role: str = DEFAULT_ROLE, password: str) -> list[str]:
    """Create (again) the bi schema, its views and comments, and the login role that may read them and nothing
    else. Idempotent: the schema is rebuilt in one transaction; the role is created or its password changed.
    Returns what it did, line by line."""
    if connection.vendor != "postgresql":
        raise BiSetupError(
            "BI access needs PostgreSQL: this database is "
            f"{connection.vendor}. Set DATABASE_URL=postgres://… and run bi_setup again "
            "(bi_export DIR writes the same tables as Parquet files on any database)."
        )
    if not ROLE_NAME.match(role):
        raise BiSetupError(f"“{role}” is not a usable role name: lower-case letters, digits and _ only.")
    if not password:
        raise BiSetupError(
            "The BI role needs a password: set RETAILOPS_BI_PASSWORD or pass --password (a role with no password "
            "is refused)."
        )
    q = connection.ops.quote_name
    done = []
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SELECT current_user, current_database()")
        me, database = cur.fetchone()
        if role == me:
            raise BiSetupError(f"“{role}” is the application's own database user: choose another --role.")
        cur.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", [role])
        found = cur.fetchone()
        if found and found[0]:
            raise BiSetupError(f"“{role}” is a superuser: a BI role must be able to read the bi views only.")
        attrs = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT"
        verb = "ALTER" if found else "CREATE"
        cur.execute(f"{verb} ROLE {q(role)} {attrs} PASSWORD {_literal(password)}")
        done.append(f"role {role}: {'password and rights set again' if found else 'created'}")
        # Out of every other role it may have been put in, so it inherits nothing.
        cur.execute(
            "SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
            "JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = %s",
            [role],
        )
        for (group,) in cur.fetchall():
            cur.execute(f"REVOKE {q(group)} FROM {q(role)}")
            done.append(f"role {role}: taken out of {group}")
        cur.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        cur.execute(f"CREATE SCHEMA {SCHEMA}")
        cur.execute(
            f"COMMENT ON SCHEMA {SCHEMA} IS %s",
            [
                "RetailOps reporting views for BI tools (read-only; rebuilt by manage.py bi_setup — do not add "
                "objects here). See docs/bi.md."
            ],
        )
        for table in TABLES:
            cur.execute(view_sql(table))
            cur.execute(f"COMMENT ON VIEW {SCHEMA}.{table.name} IS %s", [table.comment])
            for col in table.columns:
                cur.execute(f"COMMENT ON COLUMN {SCHEMA}.{table.name}.{q(col.name)} IS %s", [col.comment])
        done.append(f"schema {SCHEMA}: {len(TABLES)} views ({', '.join(t.name for t in TABLES)})")
        # Nothing outside bi: no table, sequence or function of the application's schema, no new schema.
        cur.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {q(role)}")
        cur.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {q(role)}")
        cur.execute(f"REVOKE ALL ON SCHEMA public FROM {q(role)}")
        cur.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        cur.execute(f"REVOKE ALL ON DATABASE {q(database)} FROM {q(role)}")
        # Temporary tables are a right every role gets through PUBLIC: taken from PUBLIC, kept for this user.
        cur.execute(f"REVOKE TEMPORARY ON DATABASE {q(database)} FROM PUBLIC")
        cur.execute(f"GRANT TEMPORARY ON DATABASE {q(database)} TO {q(me)}")
        cur.execute(f"GRANT CONNECT ON DATABASE {q(database)} TO {q(role)}")
        cur.execute(f"GRANT USAGE ON SCHEMA {SCHEMA} TO {q(role)}")
        cur.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {SCHEMA} TO {q(role)}")
        # Views this user adds to bi later are readable too; anything it adds to public stays closed.
        cur.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA {SCHEMA} GRANT SELECT ON TABLES TO {q(role)}")
        cur.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM {q(role)}")
        cur.execute(f"ALTER ROLE {q(role)} SET search_path = {SCHEMA}")
        cur.execute(f"ALTER ROLE {q(role)} SET default_transaction_read_only = on")
        done.append(f"role {role}: may connect to {database} and SELECT on {SCHEMA}.*, nothing else")
    return done


def drop_role(role: str) -> None:
    """Remove a BI role: its rights in this database (DROP OWNED), then the role (roles are cluster-wide: a role
    with rights in another database must be dropped there first)."""
    if not ROLE_NAME.match(role):
        raise BiSetupError(f"“{role}” is not a usable role name: lower-case letters, digits and _ only.")
    q = connection.ops.quote_name
    with connection.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        if cur.fetchone():
            cur.execute(f"DROP OWNED BY {q(role)}")
            cur.execute(f"DROP ROLE {q(role)}")


# ------------------------------------------------------------------------------------------------ bi_export


def arrow_schema(table: BiTable) -> pa.Schema:
    return pa.schema(
        [pa.field(col.name, TYPES[col.type][1]).with_metadata({"comment": col.comment}) for col in table.columns],
        metadata={"comment": table.comment},
    )


def _clean(value, type_: str):
    if value is None:
        return None
    if type_ in SCALE:
        return Decimal(value).quantize(SCALE[type_])
    if type_ == "float":
        return float(value)
    return value


def _batches(table: BiTable, rows: Iterable[tuple], size: int) -> Iterator[pa.RecordBatch]:
    schema = arrow_schema(table)
    types = [col.type for col in table.columns]
    chunk: list[tuple] = []

    def batch() -> pa.RecordBatch:
        columns = list(zip(*chunk, strict=True)) if chunk else [()] * len(types)
        arrays = [
            pa.array([_clean(v, ty) for v in values], type=field.type)
            for values, ty, field in zip(columns, types, schema, strict=True)
        ]
        return pa.RecordBatch.from_arrays(arrays, schema=schema)

    for row in rows:
        chunk.append(tuple(row))
        if len(chunk) >= size:
            yield batch()
            chunk = []
    if chunk:
        yield batch()


def export(directory: Path, *, names: Iterable[str] | None = None, batch_rows: int = 50_000) -> dict[str, int]:
    """Write each table (or those named) to ``directory/<name>.parquet``; returns the rows written per table.

    The rows come from the ORM and the pages' selectors (BiTable.rows) on every database, so the files hold the
    same tables on SQLite as the bi views on PostgreSQL (a test sets one against the other)."""
    directory.mkdir(parents=True, exist_ok=True)
    counts = {}
    for name in names or BY_NAME:
        table = BY_NAME[name]
        path = directory / f"{name}.parquet"
        partial = path.with_suffix(".parquet.part")
        n = 0
        with pq.ParquetWriter(partial, arrow_schema(table)) as writer:
            for batch in _batches(table, table.rows(), batch_rows):
                writer.write_batch(batch)
                n += batch.num_rows
        partial.replace(path)  # a reader never sees half a file
        counts[name] = n
    return counts
