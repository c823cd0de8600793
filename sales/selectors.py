"""Read queries shared by pages, the API and tasks: what receipts and import batches a user may see, and
the takings read from the rollups."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Max, QuerySet, Sum
from django.utils import timezone

from inventory.selectors import stores_visible

from .models import ImportBatch, Sale, StoreDaily


def sales_visible(*, user) -> QuerySet[Sale]:
    """Receipts of the stores the user may see, newest first."""
    return Sale.objects.for_user(user).select_related("store", "customer").order_by("-occurred_at", "-pk")


def import_batches_visible(*, user) -> QuerySet[ImportBatch]:
    """Every batch for users who see every store; otherwise the batches they started."""
    return (
        ImportBatch.objects.for_user(user)
        .select_related("created_by", "mapping", "store")
        .order_by("-created_at", "-pk")
    )


def newest_receipt_at(*, store_ids):
    """When the newest receipt of these stores was rung up (None without one): the home panel and the Sales
    dashboard say it when nothing has come in today."""
    return Sale.objects.filter(store_id__in=list(store_ids)).aggregate(at=Max("occurred_at"))["at"]


def store_takings(*, user, today: date | None = None) -> list[dict]:
    """Per visible store: revenue and receipts today and this week (Monday to today), from StoreDaily."""
    today = today or timezone.localdate()
    week_start = today - timedelta(days=today.weekday())
    stores = list(stores_visible(user=user).filter(active=True).order_by("code"))
    rows = (
        StoreDaily.objects.for_user(user)
        .filter(store__active=True, date__gte=week_start, date__lte=today)
        .values("store_id", "date")
        .annotate(revenue=Sum("revenue"), transactions=Sum("transactions"))
    )
    totals: dict[int, dict] = {
        s.pk: {"today": Decimal("0"), "today_tx": 0, "week": Decimal("0"), "week_tx": 0} for s in stores
    }
    for row in rows:
        t = totals[row["store_id"]]
        t["week"] += row["revenue"] or 0
        t["week_tx"] += row["transactions"] or 0
        if row["date"] == today:
            t["today"] += row["revenue"] or 0
            t["today_tx"] += row["transactions"] or 0
    return [{"store": s, **totals[s.pk]} for s in stores]
