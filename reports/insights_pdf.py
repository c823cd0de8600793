"""The insights report as PNG charts (matplotlib) and as a PDF (fpdf2, pure Python: nothing to install beyond
the pinned wheels). The PDF's text uses the same formatting as the page (retailops.money.format_money, the pct
filter), so a figure reads the same in both. DejaVu Sans, which ships with matplotlib, carries £, – and →.
"""

from __future__ import annotations

import io
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from retailops.money import format_money
from retailops.templatetags.retailops import pct

BLUE, GREY, GREEN, RED, AMBER = "#1f6feb", "#98a2b3", "#12805c", "#c0262d", "#b54708"


def _figure(width: float = 8, height: float = 2.8):
    import matplotlib  # noqa: PLC0415 — heavy: matplotlib (~0.4 s) loads when a chart is drawn, not at start-up

    matplotlib.use("Agg")
    from matplotlib.figure import Figure  # noqa: PLC0415 — heavy: matplotlib, as above

    fig = Figure(figsize=(width, height), dpi=110)
    ax = fig.add_subplot()
    ax.grid(axis="y", alpha=0.3)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig, ax


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def _money_axis(ax) -> None:
    from matplotlib.ticker import FuncFormatter  # noqa: PLC0415 — heavy: matplotlib, as above

    symbol = settings.RETAILOPS["CURRENCY_SYMBOL"]
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{symbol}{v:,.0f}"))


def trend_png(report: dict) -> bytes:
    """Net sales per day (week, month) this period and the same period last year (sales_trend's rows)."""
    rows = report["headline"]["trend"]["rows"]
    fig, ax = _figure()
    labels = [r["label"] for r in rows]
    nan = float("nan")  # the day still trading is a gap, as on the page

    def line(key):
        return [nan if r["partial"] or r[key] is None else float(r[key]) for r in rows]

    ax.plot(labels, line("revenue"), color=BLUE, linewidth=2, label="This period")
    ax.plot(labels, line("revenue_ly"), color=GREY, linestyle="--", label="Last year")
    ax.legend(loc="upper left", frameon=False)
    ax.set_title("Net sales")
    _money_axis(ax)
    step = max(1, len(labels) // 10)
    ax.set_xticks(range(0, len(labels), step), [labels[i] for i in range(0, len(labels), step)], fontsize=8)
    return _png(fig)


def stores_png(report: dict) -> bytes:
    """Net sales per store against last year (store_comparison)."""
    rows = report["perf"]["stores"][:12]
    fig, ax = _figure()
    x = range(len(rows))
    ax.bar([i - 0.2 for i in x], [float(r["revenue"]) for r in rows], width=0.4, color=BLUE, label="This period")
    ax.bar([i + 0.2 for i in x], [float(r["revenue_ly"]) for r in rows], width=0.4, color=GREY, label="Last year")
    ax.set_xticks(list(x), [r["store"].code for r in rows], fontsize=8)
    ax.legend(loc="upper right", frameon=False)
    ax.set_title("Net sales by store")
    _money_axis(ax)
    return _png(fig)


def shrinkage_png(report: dict) -> bytes:
    """Count losses and finds per month (shrinkage_report's by_month)."""
    rows = report["disc"]["by_month"]
    fig, ax = _figure(height=2.4)
    labels = [r["month"].strftime("%b %Y") for r in rows]
    x = range(len(rows))
    ax.bar([i - 0.2 for i in x], [float(r["loss"]) for r in rows], width=0.4, color=RED, label="Short at cost")
    ax.bar([i + 0.2 for i in x], [float(r["found"]) for r in rows], width=0.4, color=GREEN, label="Found at cost")
    ax.set_xticks(list(x), labels, fontsize=8)
    ax.legend(loc="upper left", frameon=False)
    ax.set_title("Stock-count variance by month")
    _money_axis(ax)
    return _png(fig)


def stock_png(report: dict) -> bytes:
    """Dead and overstocked stock at cost per store (inventory_overview's store rows)."""
    rows = report["risk"]["stores"][:12]
    fig, ax = _figure(height=2.4)
    x = range(len(rows))
    ax.bar([i - 0.2 for i in x], [float(r["dead_value"]) for r in rows], width=0.4, color=RED, label="Dead stock")
    ax.bar([i + 0.2 for i in x], [float(r["overstock_value"]) for r in rows], width=0.4, color=AMBER, label="Overstock")
    ax.set_xticks(list(x), [r["store"].code for r in rows], fontsize=8)
    ax.legend(loc="upper right", frameon=False)
    ax.set_title("Cash tied up in slow stock, at cost")
    _money_axis(ax)
    return _png(fig)


def charts(report: dict) -> dict[str, bytes]:
    out = {"trend": trend_png(report), "stores": stores_png(report), "stock": stock_png(report)}
    if report["disc"]["by_month"]:
        out["shrinkage"] = shrinkage_png(report)
    return out


# --------------------------------------------------------------------------- the PDF


def _font_dir() -> Path:
    import matplotlib  # noqa: PLC0415 — heavy: matplotlib, as above; its data folder holds DejaVu

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def change_text(value) -> str:
    """+3.4% / -12.0% / – (the page's arrows in words)."""
    if value is None:
        return "–"
    return ("+" if value > 0 else "") + pct(value)


def figure_text(kind: str, value) -> str:
    if kind == "money":
        return format_money(value)
    if kind == "pct":
        return pct(value)
    return f"{value:,.0f}" if value is not None else "–"


def insights_pdf(report: dict, *, title: str = "Insights report") -> bytes:
    """The report as an A4 PDF: the headline table, the charts, the tables behind them, the recommendations."""
    from fpdf import FPDF  # noqa: PLC0415 — fpdf2 loads only when a PDF is asked for
    from fpdf.fonts import FontFace  # noqa: PLC0415 — as above

    f = report["f"]
    pdf = FPDF(format="A4")
    fonts = _font_dir()
    pdf.add_font("DejaVu", "", str(fonts / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(fonts / "DejaVuSans-Bold.ttf"))
    pdf.set_title(title)
    pdf.set_creator("RetailOps")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.set_margins(15, 15, 15)
    stores = ", ".join(s.code for s in f.stores) if len(f.stores) <= 8 else f"{len(f.stores)} stores"

    def footer():
        pdf.set_y(-12)
        pdf.set_font("DejaVu", "", 7)
        pdf.set_text_color(120)
        pdf.cell(0, 5, f"RetailOps · {title} · {f.start:%d %b %Y} – {f.end:%d %b %Y} · page {pdf.page_no()}", align="C")
        pdf.set_text_color(0)

    pdf.footer = footer  # type: ignore[method-assign]  # fpdf2's hook
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 18)
    pdf.cell(0, 10, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 10)
    pdf.multi_cell(
        0,
        5,
        f"{f.start:%a %d %b %Y} – {f.end:%a %d %b %Y} · {stores}"
        + (f" · {f.category}" if f.category else "")
        + f"\nMade {timezone.localtime():%d %b %Y %H:%M}",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(2)
    head = FontFace(emphasis="BOLD", fill_color=(235, 239, 245))

    def h2(text: str):
        if pdf.will_page_break(40):
            pdf.add_page()
        pdf.ln(3)
        pdf.set_font("DejaVu", "B", 13)
        pdf.cell(0, 8, text, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("DejaVu", "", 9)

    def table(header: list[str], rows: list[list[str]], widths: tuple | None = None):
        if not rows:
            pdf.set_font("DejaVu", "", 9)
            pdf.cell(0, 6, "Nothing to show for this period.", new_x="LMARGIN", new_y="NEXT")
            return
        pdf.set_font("DejaVu", "", 8.5)
        align = ["LEFT"] + ["RIGHT"] * (len(header) - 1)
        with pdf.table(
            col_widths=widths, text_align=align, headings_style=head, line_height=5.2, borders_layout="HORIZONTAL_LINES"
        ) as t:
            for r in [header, *rows]:
                t.row([str(c) for c in r])
        pdf.ln(1)

    def image(png: bytes, height: float = 55):
        if pdf.will_page_break(height + 2):
            pdf.add_page()
        pdf.image(io.BytesIO(png), w=pdf.epw, h=height, keep_aspect_ratio=True)
        pdf.ln(1)

    pngs = charts(report)
    hl = report["headline"]
    h2("Headline")
    table(
        ["", "This period", "Previous period", "Change", "Last year", "Change"],
        [
            [
                r["label"],
                figure_text(r["kind"], r["value"]),
                figure_text(r["kind"], r["previous"]),
                change_text(r["vs_previous"]),
                figure_text(r["kind"], r["last_year"]),
                change_text(r["vs_last_year"]),
            ]
            for r in hl["rows"]
        ],
        (26, 19, 19, 12, 19, 12),
    )
    p0, p1 = hl["previous_range"]
    l0, l1 = hl["last_year_range"]
    pdf.set_font("DejaVu", "", 7.5)
    pdf.multi_cell(
        0,
        4,
        f"Previous period {p0:%d %b} – {p1:%d %b %Y}; last year {l0:%d %b} – {l1:%d %b %Y}. "
        "A change on a base too small to carry a percentage is shown as –.",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    image(pngs["trend"])

    h2("Recommendations")
    recs = report["recommendations"]
    if not recs:
        pdf.cell(0, 6, "Nothing needs doing this week on the figures here.", new_x="LMARGIN", new_y="NEXT")
    site = settings.RETAILOPS["SITE_URL"].rstrip("/")
    for i, rec in enumerate(recs, 1):
        pdf.set_font("DejaVu", "B", 9.5)
        pdf.multi_cell(0, 5, f"{i}. {rec['text']}.", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("DejaVu", "", 8.5)
        pdf.multi_cell(0, 4.5, f"Why: {rec['why']} ({rec['figure']}).", new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(31, 111, 235)
        pdf.cell(0, 4.5, f"{rec['action']} →", link=site + rec["url"], new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0)
        pdf.ln(1)

    perf = report["perf"]
    h2("Stores")
    image(pngs["stores"])
    table(
        ["Store", "Net sales", "Last year", "Change", "Margin", "Share"],
        [
            [
                f"{r['store'].code} · {r['store'].name}",
                format_money(r["revenue"]),
                format_money(r["revenue_ly"]),
                change_text(r["change"]),
                pct(r["margin"]),
                pct(r["share"]),
            ]
            for r in perf["stores"]
        ],
        (34, 16, 16, 11, 10, 10),
    )
    h2("Categories")
    table(
        ["Category", "Net sales", "Last year", "Change", "Margin"],
        [
            [
                r["name"],
                format_money(r["revenue"]),
                format_money(r["revenue_ly"]),
                change_text(r["change"]),
                pct(r["margin"]),
            ]
            for r in perf["categories_top"] + [c for c in perf["categories_bottom"] if c not in perf["categories_top"]]
        ],  # fmt: skip
        (34, 16, 16, 11, 10),
    )
    h2("Products")
    table(
        ["Best sellers", "Net sales", "Units", "Margin"],
        [
            [str(r["product"]), format_money(r["revenue"]), f"{r['units']:,.0f}", pct(r["margin"])]
            for r in perf["products_top"]
        ],  # fmt: skip
        (40, 16, 10, 10),
    )
    table(
        ["Selling least", "Net sales", "Units", "On hand"],
        [
            [str(r["product"]), format_money(r["revenue"]), f"{r['units']:,.0f}", f"{r['on_hand']:,.0f}"]
            for r in perf["products_under"]
        ],  # fmt: skip
        (40, 16, 10, 10),
    )

    disc = report["disc"]
    h2("Stock-count discrepancies")
    t = disc["total"]
    pdf.multi_cell(
        0,
        5,
        f"{t['lines']} count lines reconciled: {format_money(t['loss'])} short, {format_money(t['found'])} found, "
        f"net {format_money(t['net'])} ({pct(t['loss_pct'])} of cost of sales).",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    if "shrinkage" in pngs:
        image(pngs["shrinkage"], 45)
    table(
        ["Store", "Short", "Found", "Net", "% of cost of sales"],
        [
            [
                f"{r['count__store__code']}",
                format_money(r["loss"]),
                format_money(r["found"]),
                format_money(r["net"]),
                pct(r["loss_pct"]),
            ]
            for r in disc["by_store"]
        ],  # fmt: skip
    )
    table(
        ["Reason", "Short", "Found", "Net", "Lines"],
        [
            [
                r["label"] if r["reason"] else "no variance",
                format_money(r["loss"]),
                format_money(r["found"]),
                format_money(r["net"]),
                str(r["lines"]),
            ]
            for r in disc["by_reason"]
        ],  # fmt: skip
    )

    risk = report["risk"]
    h2("Stock risk and cash tied up")
    tot, tied = risk["total"], risk["tied"]
    pdf.multi_cell(
        0,
        5,
        f"Stock at cost {format_money(tied['stock'])}, on order {format_money(tied['on_order'])}. "
        f"Dead stock (no sale for {risk['dead_days']}+ days): {tot['dead_lines']} lines, "
        f"{format_money(tot['dead_value'])}. Overstock: {tot['overstock_lines']} lines, "
        f"{format_money(tot['overstock_value'])}. Shelf empty on {pct(tot['stockout_rate'])} of line-days; "
        f"{risk['stockout_alerts']} lines at risk of a stockout within their lead time.",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    image(pngs["stock"], 45)

    acc = report["accuracy"]
    h2("Forecast accuracy")
    table(
        ["Run", "Days scored", "Error (days)", "Error (totals)", "Bias", "Same day last week"],
        [
            [
                f"#{r['run'].pk} {r['stores'][:30]}",
                str(r["days"]),
                pct(r["wmape"]),
                pct(r["wmape_total"]),
                change_text(r["bias"]),
                pct(r["naive_wmape"]),
            ]
            for r in acc["runs"]
        ],  # fmt: skip
        (40, 14, 14, 14, 12, 18),
    )

    cust = report["customers"]
    h2("Customers and loyalty")
    active, mix, liab = cust["active"], cust["mix_last"], cust["liability"]
    lines = [f"Points liability at {f.end:%d %b %Y}: {liab['points']:,} points, {format_money(liab['value'])}."]
    if active:
        lines.append(f"Members who bought in {active['month']:%B %Y}: {active['customers']:,} (per store).")
    if mix:
        lines.append(
            f"{mix['month']:%B %Y}: {pct(mix['mrp_share'])} of sales at list price (MRP), "
            f"{pct(mix['dp_share'])} at the member price (DP)."
        )
    pdf.multi_cell(0, 5, " ".join(lines), new_x="LMARGIN", new_y="NEXT")
    table(
        ["Segment", "Customers", "Spend", "Churn risk"],
        [[s["segment"], f"{s['customers']:,}", format_money(s["spend"]), pct(s["risk"])] for s in cust["segments"]],
    )
    return bytes(pdf.output())
