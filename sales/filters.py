"""The receipt list's filters (a FilterSet), shared by the page and the API; what a user may see is in
sales.selectors."""

from __future__ import annotations

import django_filters

from .models import Sale, SaleLine


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
        return queryset.filter(pk__in=SaleLine.objects.filter(product__sku__iexact=value).values("sale_id"))
