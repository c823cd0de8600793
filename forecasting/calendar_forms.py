"""Forms of the retail calendar: a promotion (the page and the admin), a one-off closure, the CSV upload."""

from __future__ import annotations

from django import forms

from inventory.models import Category, Product, Store

from .models import Promotion, StoreClosure


class PromotionForm(forms.ModelForm):
    """A promotion with the model's rules plus the ones that need its stores and products: something targeted,
    and no overlap with another promotion on the same product in the same store."""

    class Meta:
        model = Promotion
        fields = [
            "name",
            "start",
            "end",
            "discount_percent",
            "promo_price",
            "stores",
            "products",
            "categories",
            "notes",
        ]
        widgets = {
            "start": forms.DateInput(attrs={"type": "date"}),
            "end": forms.DateInput(attrs={"type": "date"}),
            "notes": forms.Textarea(attrs={"rows": 2}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["stores"].queryset = Store.objects.filter(active=True)
        self.fields["products"].queryset = Product.objects.filter(active=True)
        self.fields["categories"].queryset = Category.objects.select_related("parent")
        self.fields["stores"].help_text = "None chosen: every store."

    def clean(self):
        from .calendar import promotion_overlaps  # noqa: PLC0415 — calendar imports pandas; load it when used

        data = super().clean()
        products, categories = data.get("products"), data.get("categories")
        if not products and not categories:
            raise forms.ValidationError("Choose at least one product or category for the promotion.")
        if data.get("start") and data.get("end") and data["end"] >= data["start"]:
            clashes = promotion_overlaps(
                start=data["start"],
                end=data["end"],
                store_ids=[s.pk for s in data.get("stores") or []],
                product_ids=[p.pk for p in products or []],
                category_ids=[c.pk for c in categories or []],
                exclude_pk=self.instance.pk,
            )
            if clashes:
                raise forms.ValidationError(clashes)
        return data


class StoreClosureForm(forms.ModelForm):
    class Meta:
        model = StoreClosure
        fields = ["store", "date", "reason"]
        widgets = {"date": forms.DateInput(attrs={"type": "date"})}

    def clean(self):
        from .calendar import closure_problems  # noqa: PLC0415 — as above

        data = super().clean()
        if data.get("store") and data.get("date"):
            problems = closure_problems(store=data["store"], day=data["date"])
            if problems:
                raise forms.ValidationError(problems)
        return data


class CalendarImportForm(forms.Form):
    file = forms.FileField(help_text="CSV with the columns described below; UTF-8.")
