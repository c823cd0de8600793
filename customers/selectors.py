"""Read queries over customers and the points ledger."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db.models import Sum

from .models import PointsEntry
from .services import point_value


def points_liability(*, as_of: datetime, store_ids=None) -> dict:
    """Outstanding points at `as_of` and their cash value, in total and by the store that issued them.

    Outstanding = Σ ledger entries up to as_of (earned − redeemed − expired ± adjustments). Redemptions
    are charged to the store where the points are spent, so a store's figure can be negative.
    """
    qs = PointsEntry.objects.filter(occurred_at__lte=as_of)
    if store_ids is not None:
        qs = qs.filter(store_id__in=list(store_ids))
    by_store = {
        row["store_id"]: int(row["points"] or 0)
        for row in qs.values("store_id").annotate(points=Sum("points")).order_by("store_id")
    }
    total = sum(by_store.values())
    value = point_value()
    return {
        "as_of": as_of,
        "points": total,
        "value": (Decimal(total) * value).quantize(Decimal("0.01")),
        "by_store": {
            sid: {"points": p, "value": (Decimal(p) * value).quantize(Decimal("0.01"))} for sid, p in by_store.items()
        },
        "point_value": value,
    }
