"""Serializers of the sales API: receipts in (POS), sales out."""

from rest_framework import serializers

from sales.models import Sale, SaleLine

MAX_RECEIPTS_PER_BATCH = 500


class ReceiptLineInSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=40, help_text="Product SKU (case-insensitive).")
    quantity = serializers.DecimalField(
        max_digits=12, decimal_places=3, help_text="Positive on a sale, negative on a return."
    )
    unit_price = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=0)
    price_type = serializers.ChoiceField(
        choices=SaleLine.PriceType.choices, required=False, help_text="Derived from the product's prices if absent."
    )


class ReceiptInSerializer(serializers.Serializer):
    store = serializers.CharField(max_length=20, help_text="Store code.")
    pos_reference = serializers.CharField(max_length=64, help_text="The till's receipt number, unique per store.")
    occurred_at = serializers.DateTimeField(help_text="ISO 8601 with an offset, e.g. 2024-05-01T10:15:00+01:00.")
    # Plain strings in the schema (validated here): "kind" enums of other apps would collide in naming.
    kind = serializers.CharField(default=Sale.Kind.SALE, max_length=8, help_text="sale | return")
    payment_method = serializers.ChoiceField(choices=Sale.Payment.choices, default=Sale.Payment.CARD)
    customer = serializers.CharField(max_length=40, required=False, allow_blank=True, help_text="Loyalty code.")
    points_redeemed = serializers.IntegerField(min_value=0, default=0)
    original_reference = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        help_text="For a return: the receipt it refunds (same store). It may take back, per product, what that "
        "receipt sold less what was already returned, at the price sold.",
    )
    no_receipt = serializers.BooleanField(
        default=False,
        help_text="For a return naming no original receipt: a no-receipt refund. Needs the permission "
        "sales.refund_without_receipt; at most the product's list price, and at most "
        "RETAILOPS_NO_RECEIPT_REFUND_LIMIT (£50.00 by default) per receipt.",
    )
    lines = ReceiptLineInSerializer(many=True, allow_empty=False, max_length=500)

    def validate_kind(self, value):
        if value not in Sale.Kind.values:
            raise serializers.ValidationError("kind is sale or return.")
        return value

    def validate(self, attrs):
        # The shape only; what the original sold, the permission and the limit are the service's (receipt_validate).
        if attrs.get("kind") == Sale.Kind.RETURN and not attrs.get("original_reference") and not attrs["no_receipt"]:
            raise serializers.ValidationError(
                {"original_reference": "A return names its original receipt, or is sent with no_receipt: true."}
            )
        if attrs["no_receipt"] and attrs.get("original_reference"):
            raise serializers.ValidationError({"no_receipt": "A return names its original receipt or is a "
                                               "no-receipt refund, not both."})  # fmt: skip
        if attrs["no_receipt"] and attrs.get("kind") != Sale.Kind.RETURN:
            raise serializers.ValidationError({"no_receipt": "Only a return can be a no-receipt refund."})
        return attrs


class ReceiptBatchInSerializer(serializers.Serializer):
    receipts = ReceiptInSerializer(many=True, allow_empty=False, max_length=MAX_RECEIPTS_PER_BATCH)


class ReceiptResultSerializer(serializers.Serializer):
    pos_reference = serializers.CharField()
    store = serializers.CharField()
    status = serializers.CharField(help_text="accepted | duplicate | rejected")
    sale_id = serializers.IntegerField(allow_null=True)
    errors = serializers.ListField(child=serializers.CharField())


class ReceiptBatchResultSerializer(serializers.Serializer):
    batch_id = serializers.IntegerField(allow_null=True)
    accepted = serializers.IntegerField()
    duplicate = serializers.IntegerField()
    rejected = serializers.IntegerField()
    results = ReceiptResultSerializer(many=True)


class SaleLineSerializer(serializers.ModelSerializer):
    cost_fields = ("unit_cost",)  # dropped for roles that do not see costs (SaleSerializer; the schema says so)
    sku = serializers.CharField(source="product.sku")

    class Meta:
        model = SaleLine
        fields = ["line_no", "sku", "quantity", "unit_mrp", "unit_price", "price_type", "discount", "unit_cost",
                  "line_total"]  # fmt: skip


class SaleSerializer(serializers.ModelSerializer):
    cost_fields = ("cost_total",)  # dropped for roles that do not see costs (below; the schema says so)
    store = serializers.CharField(source="store.code")
    customer = serializers.CharField(source="customer.code", allow_null=True, default=None)
    kind = serializers.CharField(read_only=True, help_text="sale | return")
    lines = SaleLineSerializer(many=True)

    class Meta:
        model = Sale
        fields = [
            "id", "store", "pos_reference", "occurred_at", "local_date", "kind", "payment_method", "customer",
            "total", "discount_total", "cost_total", "points_earned", "points_redeemed", "import_batch", "lines",
        ]  # fmt: skip

    def to_representation(self, instance):
        data = super().to_representation(instance)
        request = self.context.get("request")
        if request is not None and not request.user.has_perm("inventory.view_cost"):
            for name in self.cost_fields:  # costs are for owners and accountants (DESIGN §8)
                data.pop(name, None)
            for line in data["lines"]:
                for name in SaleLineSerializer.cost_fields:
                    line.pop(name, None)
        return data


def result_data(outcome) -> dict:
    return {
        "pos_reference": outcome.pos_reference,
        "store": outcome.store_code,
        "status": outcome.status,
        "sale_id": outcome.sale_id,
        "errors": outcome.errors,
    }
