from django.contrib import admin

from retailops.admin_mixins import LedgerAdmin

from .models import (
    Category,
    GoodsReceipt,
    GoodsReceiptLine,
    Product,
    ProductPrice,
    PurchaseOrder,
    PurchaseOrderLine,
    StockLevel,
    StockMovement,
    Store,
    StoreMembership,
    Supplier,
)


class MembershipInline(admin.TabularInline):
    model = StoreMembership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "chain", "region", "timezone", "active"]
    list_filter = ["chain", "region", "active"]
    search_fields = ["code", "name"]
    inlines = [MembershipInline]


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "parent", "service_level"]
    list_filter = ["parent"]
    search_fields = ["name"]


@admin.register(Supplier)
class SupplierAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "lead_time_days", "min_order_value", "active"]
    search_fields = ["code", "name"]


class PriceInline(admin.TabularInline):
    model = ProductPrice
    extra = 0
    readonly_fields = ["mrp", "dp", "cost_price", "valid_from", "changed_by"]
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["sku", "name", "category", "supplier", "mrp", "dp", "cost_price", "case_pack", "kind", "active"]
    list_filter = ["active", "kind", "category", "supplier"]
    search_fields = ["sku", "name", "barcode"]
    inlines = [PriceInline]

    def save_model(self, request, obj, form, change):
        # Price edits in the admin go through the service, so the history keeps the old prices.
        from .services import product_price_change

        price_fields = {"mrp", "dp", "cost_price"}
        if change and price_fields & set(form.changed_data):
            super().save_model(request, obj, form, change)
            product_price_change(product=obj, mrp=obj.mrp, dp=obj.dp, cost_price=obj.cost_price, actor=request.user)
        else:
            super().save_model(request, obj, form, change)


@admin.register(StockLevel)
class StockLevelAdmin(admin.ModelAdmin):
    list_display = ["store", "product", "on_hand", "average_cost", "min_qty", "max_qty"]
    list_filter = ["store"]
    search_fields = ["product__sku", "product__name"]
    list_select_related = ["store", "product"]
    # on_hand and average_cost move only through the ledger services.
    readonly_fields = ["store", "product", "on_hand", "average_cost"]

    def has_add_permission(self, request):
        return False


@admin.register(StockMovement)
class StockMovementAdmin(LedgerAdmin):
    list_display = ["occurred_at", "store", "product", "kind", "quantity", "unit_cost", "user", "reason"]
    list_filter = ["kind", "store"]
    search_fields = ["product__sku", "reason"]
    list_select_related = ["store", "product", "user"]
    date_hierarchy = "occurred_at"


class PurchaseOrderLineInline(admin.TabularInline):
    model = PurchaseOrderLine
    extra = 0
    autocomplete_fields = ["product"]
    readonly_fields = ["quantity_received"]


@admin.register(PurchaseOrder)
class PurchaseOrderAdmin(admin.ModelAdmin):
    list_display = ["pk", "supplier", "store", "status", "expected_date", "created_at", "paid_at", "amount_paid"]
    list_filter = ["status", "store", "supplier"]
    inlines = [PurchaseOrderLineInline]
    readonly_fields = ["status", "ordered_at", "approved_by", "created_by"]
    actions = ["place_orders"]

    @admin.action(description="Approve and place the selected draft orders", permissions=["approve"])
    def place_orders(self, request, queryset):
        from django.contrib import messages
        from django.core.exceptions import ValidationError

        from .services import purchase_order_place

        for order in queryset:
            try:
                purchase_order_place(order=order, actor=request.user)
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.ERROR)
            else:
                self.message_user(request, f"PO #{order.pk} placed.", messages.SUCCESS)

    def has_approve_permission(self, request):
        return request.user.has_perm("inventory.approve_purchaseorder")


class ReceiptLineInline(admin.TabularInline):
    model = GoodsReceiptLine
    extra = 0
    can_delete = False
    readonly_fields = ["order_line", "quantity", "unit_cost"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(GoodsReceipt)
class GoodsReceiptAdmin(LedgerAdmin):
    list_display = ["pk", "order", "received_at", "received_by"]
    inlines = [ReceiptLineInline]
