"""Receipts as a till posts them to POST /api/v1/receipts/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from .harness import Seeded


def receipt(seeded: Seeded, *, reference: str, store: int = 0, lines: int = 2) -> dict:
    """A valid receipt of `lines` products at their list price, sold a minute ago in the seeded store `store`."""
    occurred = datetime.now(UTC) - timedelta(minutes=1)
    return {
        "store": seeded.stores[store]["code"],
        "pos_reference": reference,
        "occurred_at": occurred.isoformat(timespec="seconds"),
        "payment_method": "card",
        "lines": [{"sku": p["sku"], "quantity": "1", "unit_price": p["price"]} for p in seeded.products[:lines]],
    }
