"""Serializers of the scanner API: read shapes and the nested inputs of the command endpoints."""

from rest_framework import serializers

from inventory.models import StockCount, StockCountLine


class StockCountLineSerializer(serializers.ModelSerializer):
    sku = serializers.CharField(source="product.sku", read_only=True, default=None)
    barcode = serializers.CharField(source="product.barcode", read_only=True, default=None)
    name = serializers.CharField(source="product.name", read_only=True, default=None)

    class Meta:
        model = StockCountLine
        fields = [
            "id",
            "product",
            "sku",
            "barcode",
            "name",
            "unknown_code",
            "counted_qty",
            "counted_at",
            "needs_recount",
            "note",
        ]
        read_only_fields = fields


class StockCountSerializer(serializers.ModelSerializer):
    store_code = serializers.CharField(source="store.code", read_only=True)
    lines_counted = serializers.IntegerField(read_only=True, source="counted_count", default=None)
    lines_total = serializers.IntegerField(read_only=True, source="line_count", default=None)

    class Meta:
        model = StockCount
        fields = [
            "id",
            "store",
            "store_code",
            "scope",
            "category",
            "blind",
            "status",
            "lines_total",
            "lines_counted",
            "created_at",
            "submitted_at",
        ]
        read_only_fields = fields


class StockCountDetailSerializer(StockCountSerializer):
    lines = StockCountLineSerializer(many=True, read_only=True)

    class Meta(StockCountSerializer.Meta):
        fields = [*StockCountSerializer.Meta.fields, "lines"]
        read_only_fields = fields


class StockCountStartInput(serializers.Serializer):
    store = serializers.IntegerField()
    scope = serializers.ChoiceField(choices=StockCount.Scope.choices, default=StockCount.Scope.STORE)
    category = serializers.IntegerField(required=False, allow_null=True)
    products = serializers.ListField(
        child=serializers.CharField(max_length=60), required=False, help_text="SKUs or barcodes (scope=products)."
    )
    blind = serializers.BooleanField(default=False)
    cycle_limit = serializers.IntegerField(required=False, min_value=1, max_value=5000)
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class ScanInput(serializers.Serializer):
    code = serializers.CharField(max_length=60, help_text="SKU or barcode as scanned.")
    quantity = serializers.DecimalField(
        max_digits=12, decimal_places=3, required=False, help_text="Default 1. With mode=set, the line's total."
    )
    mode = serializers.ChoiceField(choices=[("add", "add"), ("set", "set")], default="add")
    record_unknown = serializers.BooleanField(
        default=False, help_text="Keep an unknown code as an 'unknown item' line (needs a note)."
    )
    note = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")


class ScanOutput(serializers.Serializer):
    line = StockCountLineSerializer()
    added = serializers.DecimalField(max_digits=12, decimal_places=3)


class LineSetInput(serializers.Serializer):
    quantity = serializers.DecimalField(max_digits=12, decimal_places=3, help_text="Total on the shelf.")


class SubmitInput(serializers.Serializer):
    uncounted_as_zero = serializers.BooleanField(
        default=False, help_text="Record planned products that were not counted as 0."
    )


class SubmitOutput(serializers.Serializer):
    status = serializers.CharField()
    submitted = serializers.BooleanField()
    detail = serializers.CharField()
    recount_lines = StockCountLineSerializer(many=True)
