"""The one Chart.js config builder every page uses: the template escapes its JSON into data-chart."""

from __future__ import annotations

import json

COLOURS = ["#1f6feb", "#98a2b3", "#12805c", "#b54708", "#c0262d", "#7a5af8", "#0e9384", "#dd2590"]
# Chart.js's own default colour: a dataset that should look as Chart.js draws it unstyled (a faint legend box,
# faint point edges) says so with this rather than taking the next of COLOURS.
CHARTJS_DEFAULT_COLOUR = "rgba(0,0,0,0.1)"


def _point(value):
    # A figure nobody knows is not a zero: None stays null (a gap in a line, no bar), never 0.
    if value is None or isinstance(value, dict):  # dicts are {x, y} points (scatter charts)
        return value
    return float(value)


def chart_config(kind: str, labels: list | None, datasets: list[dict], **options) -> dict:
    """A Chart.js config: numbers as floats, None as null, labels as text; each dataset without colours gets
    the next of COLOURS. `options` are Chart.js options (scales=…, plugins=…, indexAxis=…)."""
    for i, ds in enumerate(datasets):
        ds.setdefault("backgroundColor", COLOURS[i % len(COLOURS)])
        ds.setdefault("borderColor", COLOURS[i % len(COLOURS)])
        ds["data"] = [_point(v) for v in ds["data"]]
    data: dict = {} if labels is None else {"labels": [str(x) for x in labels]}
    data["datasets"] = datasets
    return {"type": kind, "data": data, "options": options}


def chart(kind: str, labels: list | None, datasets: list[dict], **options) -> str:
    """:func:`chart_config` as JSON."""
    return json.dumps(chart_config(kind, labels, datasets, **options))
