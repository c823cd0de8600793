"""Sales lists shared by the pages and the API: what a user may see, and the filters on it."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet

from inventory.selectors import stores_visible

from .models import ImportBatch, Sale


def sales_visible(*, user) -> QuerySet[Sale]:
    """Receipts of the stores the user may see, newest first."""
    return (
        Sale.objects.filter(store__in=stores_visible(user=user))
        .select_related("store", "customer")
        .order_by("-occurred_at", "-pk")
    )


def import_batches_visible(*, user) -> QuerySet[ImportBatch]:
    """Every batch for users who see every store; otherwise the batches they started."""
    qs = ImportBatch.objects.select_related("created_by", "mapping", "store").order_by("-created_at", "-pk")
    if user.has_perm("inventory.view_all_stores"):
        return qs
    return qs.filter(created_by=user)


class SaleFilter(django_filters.FilterSet):
    store = django_filters.CharFilter(field_name="store__code", lookup_expr="iexact", label="Store code")
    date_from = django_filters.DateFilter(field_name="local_date", lookup_expr="gte", label="From (store's local day)")
    date_to = django_filters.DateFilter(field_name="local_date", lookup_expr="lte", label="To (store's local day)")
    product = django_filters.CharFilter(method="filter_product", label="Product SKU")
    customer = django_filters.CharFilter(field_name="customer__code", lookup_expr="exact", label="Customer code")
    kind = django_filters.ChoiceFilter(choices=Sale.Kind.choices)
    reference = django_filters.CharFilter(field_name="pos_reference", lookup_expr="iexact", label="POS reference")

    class Meta:
        model = Sale
        fields = ["store", "date_from", "date_to", "product", "customer", "kind", "reference"]

    def filter_product(self, queryset, name, value):
        # A receipt may hold the product on several lines: filter by a sub-select to avoid duplicates.
        from .models import SaleLine

        return queryset.filter(pk__in=SaleLine.objects.filter(product__sku__iexact=value).values("sale_id"))
