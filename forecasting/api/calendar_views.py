"""Retail calendar API: CRUD of promotions (chain planning data) and one-off store closures (scoped)."""

from __future__ import annotations

import django_filters
from rest_framework import viewsets

from retailops.filtersets import IdFilter, IsoDateFilter

from ..models import Promotion, StoreClosure
from .calendar_serializers import PromotionSerializer, StoreClosureSerializer


class PromotionFilter(django_filters.FilterSet):
    running_on = IsoDateFilter(field_name="start", method="filter_running_on", label="Running on this day")
    start_after = IsoDateFilter(field_name="start", lookup_expr="gte")
    start_before = IsoDateFilter(field_name="start", lookup_expr="lte")
    store = IdFilter(field_name="stores", label="Store id (chain-wide promotions too)", method="filter_store")
    product = IdFilter(field_name="products", label="Product id (direct only)")

    class Meta:
        model = Promotion
        fields: list[str] = []

    def filter_running_on(self, queryset, name, value):
        return queryset.overlapping(value, value)

    def filter_store(self, queryset, name, value):
        return queryset.filter(
            pk__in=Promotion.objects.filter(stores__isnull=True) | Promotion.objects.filter(stores=value)
        )


class StoreClosureFilter(django_filters.FilterSet):
    store = IdFilter()
    date_from = IsoDateFilter(field_name="date", lookup_expr="gte")
    date_to = IsoDateFilter(field_name="date", lookup_expr="lte")

    class Meta:
        model = StoreClosure
        fields: list[str] = []


class PromotionViewSet(viewsets.ModelViewSet):
    """Promotions: a date range, stores (none = every store), products and/or categories, % off or a promo price.
    Overlapping promotions on the same product and store are refused (400, `non_field_errors` names the clash).
    Staff read the chain-wide promotions and their stores' own; owners write."""

    serializer_class = PromotionSerializer
    filterset_class = PromotionFilter
    queryset = Promotion.objects.none()

    def get_queryset(self):
        return (
            Promotion.objects.visible_to(self.request.user)
            .prefetch_related("stores", "products", "categories")
            .order_by("-start", "pk")
        )

    def perform_create(self, serializer):
        serializer.save(created_by=self.request.user)


class StoreClosureViewSet(viewsets.ModelViewSet):
    """One-off days a store is shut (a refit, a snow day). A closure on a day with recorded sales is refused."""

    serializer_class = StoreClosureSerializer
    filterset_class = StoreClosureFilter
    queryset = StoreClosure.objects.none()

    def get_queryset(self):
        return StoreClosure.objects.for_user(self.request.user).select_related("store").order_by("-date", "pk")

    def perform_create(self, serializer):
        serializer.save(created_by=self.request.user)
