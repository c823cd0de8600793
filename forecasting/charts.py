"""PNG charts for e-mails and reports (matplotlib, no screen): the same picture for the API and the digest."""

from __future__ import annotations

import io
from datetime import date


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
