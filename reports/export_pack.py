"""The accountant's export pack: six reports for a period and a set of stores, each as CSV and XLSX, and
all of them in one ZIP with a summary sheet whose totals tie out across the reports.

Every report is a Report(header, rows, totals); the last row of each file is its TOTAL line. Cells are
written through retailops.exports, which neutralises anything a spreadsheet could run as a formula.
"""

from __future__ import annotations

import io
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import ExpressionWrapper, F, Min, Q, Sum
from django.utils import timezone

from customers.selectors import points_liability
from inventory.models import GoodsReceiptLine, Product, PurchaseOrder, StockCountLine, StockMovement, Store
from retailops.exports import csv_bytes, xlsx_bytes
from retailops.money import money
from sales.models import Sale

from . import selectors as sel
from .filters import Filters

ZERO = Decimal("0")


@dataclass
class Report:
    name: str
    title: str
    header: list[str]
    rows: list[list] = field(default_factory=list)
    totals: dict[str, Decimal] = field(default_factory=dict)
    note: str = ""

    def all_rows(self) -> list[list]:
        """The rows and the TOTAL line."""
        if not self.totals:
            return list(self.rows)
        total = ["TOTAL"] + [""] * (len(self.header) - 1)
        for key, value in self.totals.items():
            if key in self.header:
                total[self.header.index(key)] = value
        return [*self.rows, total]


def qty(value) -> Decimal:
    """Whole units without decimals; weights to the gram."""
    value = Decimal(value or 0).quantize(Decimal("0.001"))
    return value.quantize(Decimal("1")) if value == value.to_integral_value() else value


def _store_names(f: Filters) -> dict[int, object]:
    return {s.pk: s for s in f.stores}


def sales_journal(f: Filters) -> Report:
    """One line per day × store × payment method (StoreDaily): receipts, gross sales, returns, net, discounts."""
    header = [
        "Date",
        "Store",
        "Store name",
        "Payment method",
        "Receipts",
        "Gross sales",
        "Returns",
        "Net sales",
        "Discounts",
    ]
    stores = _store_names(f)
    report = Report("sales_journal", "Sales journal", header)
    totals = defaultdict(lambda: ZERO)
    qs = sel.store_daily(f, f.start, f.end).order_by("date", "store__code", "payment_method")
    for r in qs.values("date", "store_id", "payment_method", "transactions", "revenue", "returns_value", "discount"):
        store = stores[r["store_id"]]
        for k in ("revenue", "returns_value", "discount"):
            r[k] = money(r[k])
        gross = r["revenue"] + r["returns_value"]
        report.rows.append(
            [
                r["date"].isoformat(),
                store.code,
                store.name,
                Sale.Payment(r["payment_method"]).label,
                r["transactions"],
                gross,
                r["returns_value"],
                r["revenue"],
                r["discount"],
            ]
        )
        totals["Receipts"] += r["transactions"]
        totals["Gross sales"] += gross
        totals["Returns"] += r["returns_value"]
        totals["Net sales"] += r["revenue"]
        totals["Discounts"] += r["discount"]
    report.totals = dict(totals) or {k: ZERO for k in ("Receipts", "Gross sales", "Returns", "Net sales", "Discounts")}
    return report


def gross_profit(f: Filters) -> Report:
    """Per store × product (SalesDaily): units, net sales, discounts, returns, cost of sales, gross profit."""
    header = [
        "Store",
        "SKU",
        "Product",
        "Category",
        "Units",
        "Net sales",
        "Discounts",
        "Returns",
        "Cost of sales",
        "Gross profit",
        "Margin %",
    ]
    stores = _store_names(f)
    report = Report("gross_profit", "Gross-profit report", header)
    rows = list(
        sel.sales_daily(f, f.start, f.end)
        .values("store_id", "product_id")
        .annotate(
            units=Sum("units"),
            revenue=Sum("revenue"),
            discount=Sum("discount"),
            returns=Sum("returns_value"),
            cost=Sum("cost"),
        )
    )
    products = Product.objects.select_related("category", "category__parent").in_bulk({r["product_id"] for r in rows})
    rows.sort(key=lambda r: (stores[r["store_id"]].code, products[r["product_id"]].sku))
    keys = ("Units", "Net sales", "Discounts", "Returns", "Cost of sales", "Gross profit")
    totals = {k: ZERO for k in keys}
    for r in rows:
        p = products[r["product_id"]]
        for k in ("revenue", "discount", "returns", "cost"):
            r[k] = money(r[k])
        r["units"] = qty(r["units"])
        profit = r["revenue"] - r["cost"]
        margin = (profit / r["revenue"] * 100).quantize(Decimal("0.1")) if r["revenue"] else ""
        values = [r["units"], r["revenue"], r["discount"], r["returns"], r["cost"], profit]
        report.rows.append([stores[r["store_id"]].code, p.sku, p.name, str(p.category or ""), *values, margin])
        for k, v in zip(keys, values, strict=True):
            totals[k] += v
    report.totals = totals
    return report


def inventory_valuation(f: Filters) -> Report:
    header = ["Store", "SKU", "Product", "Category", "On hand", "Unit cost", "Value at cost"]
    stores = _store_names(f)
    report = Report(
        "inventory_valuation",
        f"Inventory valuation at {f.end:%d %b %Y}",
        header,
        note="Quantities at the close of the period end (today's on-hand less later movements), "
        "valued at the current moving average cost, each line to the penny; negative book stock is listed "
        "at a value of 0.",
    )
    lines = sel.stock_valuation_at(f, f.end)
    products = Product.objects.select_related("category", "category__parent").in_bulk({v.product_id for v in lines})
    total = ZERO
    units = ZERO
    for v in sorted(lines, key=lambda v: (stores[v.store_id].code, products[v.product_id].sku)):
        p = products[v.product_id]
        report.rows.append(
            [stores[v.store_id].code, p.sku, p.name, str(p.category or ""), qty(v.on_hand), v.unit_cost, v.value]
        )
        total += v.value
        units += v.on_hand
    report.totals = {"On hand": qty(units), "Value at cost": total}
    return report


def stock_adjustments(f: Filters) -> Report:
    header = [
        "Date",
        "Time",
        "Store",
        "SKU",
        "Product",
        "Kind",
        "Quantity",
        "Unit cost",
        "Value",
        "Reason code",
        "Reason / note",
        "By",
    ]
    report = Report("stock_adjustments", "Stock adjustments", header)
    movements = list(sel.stock_adjustments(f, f.start, f.end))
    line_ids = [m.source_id for m in movements if m.source_type == "inventory.stockcountline" and m.source_id]
    count_lines = {cl.pk: cl for cl in StockCountLine.objects.filter(pk__in=line_ids)}
    total_qty, total_value = ZERO, ZERO
    for m in movements:
        local = timezone.localtime(m.occurred_at)
        line = count_lines.get(m.source_id) if m.source_type == "inventory.stockcountline" else None
        value = money(m.quantity * m.unit_cost)
        note = " · ".join(x for x in ((line.note if line else ""), m.reason) if x)
        report.rows.append(
            [
                local.date().isoformat(),
                local.strftime("%H:%M"),
                m.store.code,
                m.product.sku,
                m.product.name,
                m.get_kind_display(),
                qty(m.quantity),
                m.unit_cost,
                value,
                (line.get_reason_display() if line and line.reason else ""),
                note,
                (m.user.get_username() if m.user else ""),
            ]
        )
        total_qty += m.quantity
        total_value += value
    report.totals = {"Quantity": qty(total_qty), "Value": total_value}
    return report


def purchases(f: Filters) -> Report:
    """Purchase orders ordered, received or paid in the period; "Paid in period" ties to the cash flow."""
    header = [
        "PO",
        "Reference",
        "Supplier",
        "Store",
        "Status",
        "Ordered",
        "Expected",
        "First received",
        "Order value",
        "Received value",
        "Amount paid",
        "Paid on",
        "Paid in period",
    ]
    report = Report("purchases", "Purchases", header)
    start_dt, end_dt = sel.day_bounds(f.start, f.end)
    received_in = GoodsReceiptLine.objects.filter(
        receipt__received_at__gte=start_dt, receipt__received_at__lt=end_dt
    ).values("receipt__order_id")
    orders = list(
        PurchaseOrder.objects.filter(store_id__in=f.store_ids)
        .exclude(status=PurchaseOrder.Status.DRAFT)
        .filter(
            Q(ordered_at__gte=start_dt, ordered_at__lt=end_dt)
            | Q(paid_at__gte=start_dt, paid_at__lt=end_dt)
            | Q(pk__in=received_in)
        )
        .select_related("supplier", "store")
        .annotate(first_received=Min("receipts__received_at"))
        .order_by("pk")
    )
    values = sel.order_values(orders)
    received = {
        r["order_line__order_id"]: money(r["value"])
        for r in GoodsReceiptLine.objects.filter(order_line__order__in=orders)
        .values("order_line__order_id")
        .annotate(value=Sum(ExpressionWrapper(F("quantity") * F("unit_cost"), output_field=sel.DEC)))
    }
    totals = {k: ZERO for k in ("Order value", "Received value", "Amount paid", "Paid in period")}
    for o in orders:
        paid_in = (
            o.amount_paid
            if (o.paid_at and start_dt <= o.paid_at < end_dt and o.status != PurchaseOrder.Status.CANCELLED)
            else ZERO
        )
        row_values = [values.get(o.pk, ZERO), received.get(o.pk, ZERO), o.amount_paid, paid_in]
        report.rows.append(
            [
                f"PO-{o.pk}",
                o.reference,
                o.supplier.name,
                o.store.code,
                o.get_status_display(),
                _day(o.ordered_at),
                (o.expected_date.isoformat() if o.expected_date else ""),
                _day(o.first_received),
                row_values[0],
                row_values[1],
                row_values[2],
                _day(o.paid_at),
                row_values[3],
            ]
        )
        for k, v in zip(totals, row_values, strict=True):
            totals[k] += v
    report.totals = totals
    return report


def _day(value: datetime | None) -> str:
    return timezone.localtime(value).date().isoformat() if value else ""


def points_liability_report(f: Filters) -> Report:
    """Points outstanding at the end of f.end (each store's local day), from the one liability selector.

    Points on no store (manual adjustments) are a line of their own when the pack covers every store."""
    everything = not f.store_param and not f.chain and len(f.stores) == Store.objects.count()
    data = points_liability(day=f.end, store_ids=None if everything else f.store_ids)
    header = ["Store", "Store name", "Points outstanding", "Value"]
    report = Report(
        "points_liability",
        f"Loyalty points liability at the end of {f.end:%d %b %Y}",
        header,
        note=f"One point is worth {data['point_value']}. Earned points count until they are redeemed or "
        "reach their expiry date (whether or not the expiry has been posted yet), at the end of the day in "
        "each store's time zone. Earned and expired points belong to the issuing store, redemptions to the "
        "store where they were spent, so a store's figure can be negative.",
    )
    for store in f.stores:
        entry = data["by_store"].get(store.pk)
        if entry:
            report.rows.append([store.code, store.name, entry["points"], entry["value"]])
    if None in data["by_store"]:
        report.rows.append(["", "(no store)", data["by_store"][None]["points"], data["by_store"][None]["value"]])
    report.totals = {"Points outstanding": data["points"], "Value": data["value"]}
    return report


REPORTS = {
    "sales_journal": sales_journal,
    "gross_profit": gross_profit,
    "inventory_valuation": inventory_valuation,
    "stock_adjustments": stock_adjustments,
    "purchases": purchases,
    "points_liability": points_liability_report,
}
REPORT_TITLES = {
    "sales_journal": "Sales journal",
    "gross_profit": "Gross-profit report",
    "inventory_valuation": "Inventory valuation",
    "stock_adjustments": "Stock adjustments",
    "purchases": "Purchases",
    "points_liability": "Loyalty points liability",
}


def build_report(name: str, f: Filters) -> Report:
    return REPORTS[name](f)


def summary(f: Filters, reports: dict[str, Report]) -> Report:
    """The tie-out sheet: each figure with the report it comes from and the report it must agree with."""
    j, gp = reports["sales_journal"].totals, reports["gross_profit"].totals
    inv, adj = reports["inventory_valuation"].totals, reports["stock_adjustments"].totals
    pur, pts = reports["purchases"].totals, reports["points_liability"].totals
    shrink = sel.shrinkage(f, f.start, f.end)
    flow = sel.cash_flow(f, "month")["totals"]
    header = ["Line", "Amount", "Source", "Checked against", "Other amount", "Ties out"]
    report = Report("summary", "Summary", header)
    stores = ", ".join(s.code for s in f.stores) or "(none)"
    report.note = f"Period {f.start.isoformat()} to {f.end.isoformat()} · stores {stores}"

    def line(label, amount, source, against="", other=None):
        ok = "" if other is None else ("yes" if amount == other else "NO")
        report.rows.append([label, amount, source, against, "" if other is None else other, ok])

    report.rows.append(["Period", f"{f.start.isoformat()} to {f.end.isoformat()}", "", "", "", ""])
    report.rows.append(["Stores", stores, "", "", "", ""])
    line("Net sales", j["Net sales"], "Sales journal", "Gross-profit report: net sales", gp["Net sales"])
    line("Discounts", j["Discounts"], "Sales journal", "Gross-profit report: discounts", gp["Discounts"])
    line("Returns", j["Returns"], "Sales journal", "Gross-profit report: returns", gp["Returns"])
    line("Gross sales", j["Gross sales"], "Sales journal", "Net sales + returns", j["Net sales"] + j["Returns"])
    line("Cost of sales", gp["Cost of sales"], "Gross-profit report")
    line(
        "Gross profit",
        gp["Gross profit"],
        "Gross-profit report",
        "Net sales − cost of sales",
        gp["Net sales"] - gp["Cost of sales"],
    )
    line(
        "Count corrections and write-offs (value)",
        adj["Value"] - _adjustment_value(reports),
        "Stock adjustments",
        "Shrinkage on the profit page (negated)",
        -shrink["total"],
    )
    line("All stock adjustments (value)", adj["Value"], "Stock adjustments")
    line("Inventory value at period end", inv["Value at cost"], "Inventory valuation")
    line(
        "Purchases paid in period", pur["Paid in period"], "Purchases", "Cash-flow page: money out", money(flow["out"])
    )
    line(
        "Cash takings (excl. vouchers / points)",
        money(flow["cash_in"]),
        "Cash-flow page",
        "Net sales − voucher sales",
        j["Net sales"] - money(flow["non_cash"]),
    )
    line("Loyalty points outstanding (points)", pts["Points outstanding"], "Loyalty points liability")
    line("Loyalty points liability (value)", pts["Value"], "Loyalty points liability")
    return report


def _adjustment_value(reports: dict[str, Report]) -> Decimal:
    """Value of plain adjustments (not count corrections nor write-offs) in the stock-adjustments report."""
    report = reports["stock_adjustments"]
    kind_col, value_col = report.header.index("Kind"), report.header.index("Value")
    label = StockMovement.Kind.ADJUSTMENT.label
    return sum((r[value_col] for r in report.rows if r[kind_col] == label), ZERO)


def all_reports(f: Filters) -> dict[str, Report]:
    reports = {name: build(f) for name, build in REPORTS.items()}
    reports["summary"] = summary(f, reports)
    return reports


def _with_note(report: Report) -> list[list]:
    rows = report.all_rows()
    if report.note:
        rows = [*rows, [], [report.note]]
    return rows


def report_csv(report: Report) -> bytes:
    return csv_bytes(report.header, _with_note(report))


def report_xlsx(report: Report) -> bytes:
    return xlsx_bytes({report.title[:31]: (report.header, _with_note(report))})


def pack_zip(f: Filters) -> bytes:
    """summary + every report as CSV and XLSX, and one workbook holding them all (summary first)."""
    reports = all_reports(f)
    ordered = ["summary", *REPORTS]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for n, name in enumerate(ordered):
            report = reports[name]
            archive.writestr(f"{n:02d}_{name}.csv", report_csv(report))
            # An XLSX file is a ZIP already: stored as it is, not compressed a second time.
            archive.writestr(f"{n:02d}_{name}.xlsx", report_xlsx(report), compress_type=zipfile.ZIP_STORED)
        archive.writestr(
            "pack.xlsx",
            xlsx_bytes(
                {
                    REPORT_TITLES.get(name, "Summary")[:31]: (reports[name].header, _with_note(reports[name]))
                    for name in ordered
                }
            ),
            compress_type=zipfile.ZIP_STORED,
        )
    return buffer.getvalue()


def pack_filename(f: Filters, name: str = "pack") -> str:
    return f"retailops_{name}_{f.start:%Y%m%d}_{f.end:%Y%m%d}"


def default_export_period(today: date | None = None) -> tuple[date, date]:
    """The last complete month."""
    today = today or timezone.localdate()
    end = today.replace(day=1) - timedelta(days=1)
    return end.replace(day=1), end
