"""Query-string parsing shared by the pages."""

from __future__ import annotations


def int_param(value) -> int | None:
    """An int from a query-string value, or None when it is missing or not a number."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
