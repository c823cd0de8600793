"""Serializers of the retail calendar API: promotions and one-off store closures."""

from __future__ import annotations

from rest_framework import serializers

from inventory.models import Category, Product, Store

from ..models import Promotion, StoreClosure


class CodeField(serializers.SlugRelatedField):
    """A store code or SKU: refused as invalid (400) when it holds a NUL character, which PostgreSQL cannot
    compare (a plain SlugRelatedField would send it to the database and answer 500)."""

    def to_internal_value(self, data):
        if not isinstance(data, str) or "\x00" in data:
            self.fail("invalid")
        return super().to_internal_value(data)


class PromotionSerializer(serializers.ModelSerializer):
    stores = CodeField(
        slug_field="code", many=True, required=False, queryset=Store.objects.all(), help_text="Empty: every store."
    )
    products = CodeField(slug_field="sku", many=True, required=False, queryset=Product.objects.all())
    categories = serializers.PrimaryKeyRelatedField(many=True, required=False, queryset=Category.objects.all())

    class Meta:
        model = Promotion
        fields = ["id", "name", "start", "end", "stores", "products", "categories", "discount_percent", "promo_price",
                  "notes", "created_by", "created_at"]  # fmt: skip
        read_only_fields = ["created_by", "created_at"]

    def validate(self, attrs):
        from ..calendar import promotion_overlaps  # noqa: PLC0415 — calendar imports pandas; load it when used

        instance = self.instance
        merged = {
            f: attrs.get(f, getattr(instance, f, None) if instance else None)
            for f in ("name", "start", "end", "discount_percent", "promo_price", "notes")
        }
        probe = Promotion(pk=None, **{k: v for k, v in merged.items() if v is not None})
        from django.core.exceptions import ValidationError  # noqa: PLC0415 — only here

        try:
            probe.full_clean(exclude=["created_by", "notes", "name"] if not merged["name"] else ["created_by", "notes"])
        except ValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from None

        def m2m(name):
            if name in attrs:
                return list(attrs[name])
            return list(getattr(instance, name).all()) if instance else []

        stores, products, categories = m2m("stores"), m2m("products"), m2m("categories")
        if not products and not categories:
            raise serializers.ValidationError(
                {"products": "Choose at least one product or category for the promotion."}
            )
        clashes = promotion_overlaps(
            start=merged["start"],
            end=merged["end"],
            store_ids=[s.pk for s in stores],
            product_ids=[p.pk for p in products],
            category_ids=[c.pk for c in categories],
            exclude_pk=instance.pk if instance else None,
        )
        if clashes:
            raise serializers.ValidationError({"non_field_errors": clashes})
        return attrs


class StoreClosureSerializer(serializers.ModelSerializer):
    store = CodeField(slug_field="code", queryset=Store.objects.all())

    class Meta:
        model = StoreClosure
        fields = ["id", "store", "date", "reason", "created_by"]
        read_only_fields = ["created_by"]
        validators: list = []  # the unique (store, date) is checked with a plain message below

    def validate(self, attrs):
        from ..calendar import closure_problems  # noqa: PLC0415 — as above

        store = attrs.get("store", getattr(self.instance, "store", None))
        day = attrs.get("date", getattr(self.instance, "date", None))
        user = self.context["request"].user
        if not Store.objects.for_user(user).filter(pk=store.pk).exists():
            raise serializers.ValidationError({"store": "Unknown store."})
        if self.instance and (store.pk, day) == (self.instance.store_id, self.instance.date):
            return attrs
        problems = closure_problems(store=store, day=day)
        if problems:
            raise serializers.ValidationError({"non_field_errors": problems})
        return attrs
