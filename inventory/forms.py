"""Forms of the stock pages: they parse input; the services decide what is allowed."""

from __future__ import annotations

import re
from datetime import date, timedelta

from django import forms
from django.utils import timezone

from .models import Category, Product, StockCount
from .selectors import stores_visible


class StockCountStartForm(forms.Form):
    store = forms.ModelChoiceField(queryset=None, empty_label=None)
    scope = forms.ChoiceField(
        choices=StockCount.Scope.choices, initial=StockCount.Scope.STORE, widget=forms.RadioSelect
    )
    category = forms.ModelChoiceField(
        queryset=Category.objects.select_related("parent").order_by("parent__name", "name"),
        required=False,
        help_text="For a count of one category (its sub-categories included).",
    )
    products = forms.CharField(
        required=False,
        widget=forms.Textarea(
            attrs={"rows": 3, "placeholder": "SKUs or barcodes, separated by spaces, commas or lines"}
        ),
        help_text="For a count of a list of products.",
    )
    cycle_limit = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=5000,
        initial=30,
        label="At most",
        help_text="For a cycle count: how many of the due products to count now.",
    )
    blind = forms.BooleanField(required=False, help_text="Hide the book quantity from the counters.")
    note = forms.CharField(required=False, max_length=2000, widget=forms.TextInput)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["store"].queryset = stores_visible(user=user).filter(active=True).order_by("code")

    def clean(self):
        data = super().clean()
        scope = data.get("scope")
        if scope == StockCount.Scope.CATEGORY and not data.get("category"):
            self.add_error("category", "Choose the category to count.")
        if scope == StockCount.Scope.PRODUCTS:
            codes = [c for c in re.split(r"[\s,;]+", data.get("products") or "") if c]
            if not codes:
                self.add_error("products", "List at least one SKU or barcode.")
            else:
                found, unknown = [], []
                for code in dict.fromkeys(codes):
                    product = (
                        Product.objects.filter(sku__iexact=code).first() or Product.objects.filter(barcode=code).first()
                    )
                    if product:
                        found.append(product)
                    else:
                        unknown.append(code)
                if unknown:
                    self.add_error("products", f"No product has the code {', '.join(unknown)}.")
                data["product_list"] = found
        return data


class ScanForm(forms.Form):
    code = forms.CharField(max_length=60, strip=True)
    quantity = forms.CharField(max_length=20, required=False)
    mode = forms.ChoiceField(choices=[("add", "add"), ("set", "set total")], required=False)
    note = forms.CharField(max_length=200, required=False)
    record_unknown = forms.BooleanField(required=False)


class LineSetForm(forms.Form):
    quantity = forms.CharField(max_length=20)


def period_from_request(request, *, default_days: int = 365):
    """(date_from, date_to) from ?from=YYYY-MM-DD&to=YYYY-MM-DD, defaulting to the last year."""

    def parse(name):
        try:
            return date.fromisoformat(request.GET.get(name, ""))
        except ValueError:
            return None

    date_to = parse("to") or timezone.localdate()
    date_from = parse("from") or (date_to - timedelta(days=default_days))
    if date_from > date_to:
        date_from, date_to = date_to, date_from
    return date_from, date_to
