"""Query strings of the stock list and the shrinkage page, read by FilterSets; the selectors filter."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import django_filters
from django.utils import timezone

from retailops.filtersets import DecimalParamFilter, IdFilter, IsoDateFilter, QueryParamsFilterSet

from .models import StockCountLine, StockLevel
from .selectors import user_can_see_costs

STOCK_STATUSES = [
    ("", "All stock"),
    ("low", "At or below reorder point"),
    ("short", "Under a week of cover"),
    ("out", "Out of stock"),
    ("negative", "Negative stock"),
]
STOCK_SORTS = [
    ("sku", "SKU"),
    ("store", "Store"),
    ("on_hand", "On hand"),
    ("cover", "Days of cover"),
    ("value", "Value"),
]
SEARCH_MAX = 80  # characters of ?q= that are searched; a longer paste is cut, not refused
SHRINKAGE_DAYS = 365  # the period when none is chosen: the year to today
TOLERANCE_MAX = Decimal("1000")


class StockLevelFilter(QueryParamsFilterSet):
    """?store, q, category, status, sort of the stock list and its export (inventory.selectors.stock_level_list)."""

    store = IdFilter(label="Store")
    q = django_filters.CharFilter(label="Search")
    category = IdFilter(label="Category")
    status = django_filters.ChoiceFilter(choices=STOCK_STATUSES, label="Stock status", empty_label=None)
    sort = django_filters.ChoiceFilter(choices=STOCK_SORTS, label="Sort", empty_label=None)

    absent = {"sort": "sku"}

    class Meta:
        model = StockLevel
        fields: list[str] = []

    @property
    def params(self) -> dict:
        """The keyword arguments of stock_level_list; sorting by value needs view_cost (else by SKU)."""
        sort = self.cleaned("sort", "sku")
        if sort == "value" and not user_can_see_costs(user=self.request.user):
            sort = "sku"
        return {
            "store_id": self.cleaned("store"),
            "search": self.cleaned("q", "")[:SEARCH_MAX],
            "category_id": self.cleaned("category"),
            "status": self.cleaned("status", ""),
            "sort": sort,
        }


class ShrinkageFilter(QueryParamsFilterSet):
    """?from, to, store, tol of the shrinkage page and its export (inventory.selectors.shrinkage_report / _lines).

    `from` is a Python keyword, so that filter is added below the class."""

    to = IsoDateFilter(field_name="counted_at", label="To")
    store = IdFilter(label="Store")
    tol = DecimalParamFilter(label="Accurate within ± units")

    class Meta:
        model = StockCountLine
        fields: list[str] = []

    @property
    def params(self) -> dict:
        """The keyword arguments of shrinkage_report: the period (default the last SHRINKAGE_DAYS days to today; a
        reversed one swapped), the store, and the tolerance in units, clamped to 0 … TOLERANCE_MAX."""
        date_to: date = self.cleaned("to") or timezone.localdate()
        date_from: date = self.cleaned("from") or (date_to - timedelta(days=SHRINKAGE_DAYS))
        if date_from > date_to:
            date_from, date_to = date_to, date_from
        tolerance = self.cleaned("tol", Decimal("0"))
        return {
            "date_from": date_from,
            "date_to": date_to,
            "store_id": self.cleaned("store"),
            "tolerance": min(max(tolerance, Decimal("0")), TOLERANCE_MAX),
        }


ShrinkageFilter.base_filters["from"] = IsoDateFilter(field_name="counted_at", label="From")
