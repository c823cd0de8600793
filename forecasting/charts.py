"""Charts of the forecasting app: PNG charts for e-mails and reports (matplotlib, no screen: the same picture for
the API and the digest), and the forecast detail page's Chart.js config."""

from __future__ import annotations

import io
from datetime import date

from retailops.charts import CHARTJS_DEFAULT_COLOUR, chart

# The calendar's marks on the forecast chart: shaded columns behind the lines (Chart.js bars on a hidden 0–1
# axis; the annotation plugin is not vendored), one colour each, named in the legend.
MARKS = (
    ("promo", "Promotion", "rgba(247,144,9,.28)"),
    ("closed", "Closed", "rgba(102,112,133,.30)"),
    ("holiday", "Public holiday", "rgba(122,90,248,.22)"),
)
BASELINE_COLOUR = "#b54708"


def trend_png(
    points: list[dict], *, forecast: list[tuple[date, float]] | None = None, title: str = "Units sold"
) -> bytes:
    """Daily units sold (``points``: dicts with ``date`` and ``units``) as a line, and where given the
    forecast that follows as a dashed line. An empty history still draws, with the title saying so."""
    import matplotlib  # noqa: PLC0415 — heavy: matplotlib (~0.4 s) loads when a chart is drawn, not at start-up

    matplotlib.use("Agg")
    from matplotlib.dates import DateFormatter  # noqa: PLC0415 — heavy: matplotlib, as above
    from matplotlib.figure import Figure  # noqa: PLC0415 — heavy: matplotlib, as above

    fig = Figure(figsize=(8, 3), dpi=100)
    ax = fig.add_subplot()
    ax.plot([p["date"] for p in points], [p["units"] for p in points], color="#1f6feb", linewidth=1.5, label="sold")
    if forecast:
        ax.plot(
            [d for d, _ in forecast],
            [u for _, u in forecast],
            color="#bf3989",
            linewidth=1.5,
            linestyle="--",
            label="forecast",
        )
        ax.legend(loc="upper left", frameon=False)
    ax.set_ylabel("units per day")
    ax.set_title(title if points else f"{title} (no sales in this period)")
    ax.grid(alpha=0.3)
    ax.xaxis.set_major_formatter(DateFormatter("%-d %b"))
    fig.autofmt_xdate()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def series_chart(history, forecasts, stockouts=frozenset(), last_year=(), calendar=None) -> str:
    """The forecast detail page's Chart.js config (JSON): units sold, the forecast with its 80 % band, empty-shelf
    days, the same weekday last year, and the calendar (``calendar``: day → {closed, promo, holiday}, past and
    coming) as shaded columns with a legend, plus the forecast without the promotion on promotion days."""
    calendar = calendar or {}
    days = [d for d, _ in history] + [f.date for f in forecasts]
    labels = [d.isoformat() for d in days]
    pad = [None] * len(history)
    datasets = [
        {
            "label": "Sold",
            "data": [float(u) for _, u in history] + [None] * len(forecasts),
            "borderColor": "#1d2433",
            "backgroundColor": CHARTJS_DEFAULT_COLOUR,
            "pointRadius": 0,
            "borderWidth": 1.5,
        },
        {
            "label": "Forecast",
            "data": pad + [round(f.yhat, 2) for f in forecasts],
            "borderColor": "#1f6feb",
            "backgroundColor": CHARTJS_DEFAULT_COLOUR,
            "pointRadius": 0,
            "borderWidth": 2,
        },
        {
            "label": "80 % low",
            "data": pad + [round(f.lo, 2) for f in forecasts],
            "borderColor": "rgba(31,111,235,.25)",
            "backgroundColor": CHARTJS_DEFAULT_COLOUR,
            "pointRadius": 0,
            "borderWidth": 1,
            "fill": False,
        },
        {
            "label": "80 % high",
            "data": pad + [round(f.hi, 2) for f in forecasts],
            "borderColor": "rgba(31,111,235,.25)",
            "backgroundColor": "rgba(31,111,235,.12)",
            "pointRadius": 0,
            "borderWidth": 1,
            "fill": "-1",
        },
    ]
    promo_days = {d for d, m in calendar.items() if m.get("promo")}
    baseline = [round(f.baseline, 2) if f.date in promo_days and f.baseline is not None else None for f in forecasts]
    if any(v is not None for v in baseline):
        datasets.append(
            {
                "label": "Forecast without the promotion",
                "data": pad + baseline,
                "borderColor": BASELINE_COLOUR,
                "backgroundColor": BASELINE_COLOUR,
                "borderDash": [5, 3],
                "pointRadius": 2,
                "borderWidth": 1.5,
            }
        )
    for key, label, colour in MARKS:
        marked = [1 if calendar.get(d, {}).get(key) else None for d in days]
        if any(marked):
            datasets.append(
                {
                    "type": "bar",
                    "label": label,
                    "data": marked,
                    "yAxisID": "marks",
                    "backgroundColor": colour,
                    "borderColor": colour,
                    "borderWidth": 0,
                    "barPercentage": 1.0,
                    "categoryPercentage": 1.0,
                    "grouped": False,  # the marks share a day's whole width, not a third of it each
                    "order": 10,  # drawn behind the lines
                    "noTooltip": True,  # a shaded day has no figure of its own (retailops/app.js)
                }
            )
    if stockouts:
        datasets.append(
            {
                "label": "Empty shelf (not read as zero demand)",
                "data": [0 if d in stockouts else None for d, _ in history] + [None] * len(forecasts),
                "showLine": False,
                "pointStyle": "rect",
                "pointRadius": 3,
                "borderColor": "#d92d20",
                "backgroundColor": "#d92d20",
            }
        )
    if last_year:
        datasets.append(
            {
                "label": "Same weekday last year",
                "data": pad + [float(u) for _, u in last_year],
                "borderColor": "#98a2b3",
                "backgroundColor": CHARTJS_DEFAULT_COLOUR,
                "borderDash": [4, 3],
                "pointRadius": 0,
                "borderWidth": 1.5,
            }
        )
    return chart(
        "line",
        labels,
        datasets,
        plugins={"legend": {"position": "bottom"}},
        scales={"y": {"beginAtZero": True}, "marks": {"display": False, "min": 0, "max": 1}},
    )
