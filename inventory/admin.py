from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Sum
from django.shortcuts import redirect

from retailops.admin_mixins import LedgerAdmin
from retailops.money import format_money

from .models import (
    Category,
    GoodsReceipt,
    GoodsReceiptLine,
    Product,
    ProductPrice,
    PurchaseOrder,
    PurchaseOrderLine,
    StockCount,
    StockCountLine,
    StockLevel,
    StockMovement,
    Store,
    StoreMembership,
    Supplier,
)
from .scoping import StoreScopedAdminMixin
from .services import (
    product_price_change,
    purchase_order_place,
    stock_count_close,
    stock_count_line_annotate,
    stock_count_line_map,
    stock_count_reconcile,
)


class MembershipInline(admin.TabularInline):
    model = StoreMembership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Store)
class StoreAdmin(StoreScopedAdminMixin, admin.ModelAdmin):
    list_display = ["code", "name", "chain", "region", "timezone", "currency", "transfer_group", "active"]
    list_filter = ["chain", "region", "currency", "transfer_group", "active"]
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
        price_fields = {"mrp", "dp", "cost_price"}
        if change and price_fields & set(form.changed_data):
            super().save_model(request, obj, form, change)
            product_price_change(product=obj, mrp=obj.mrp, dp=obj.dp, cost_price=obj.cost_price, actor=request.user)
        else:
            super().save_model(request, obj, form, change)


@admin.register(StockLevel)
class StockLevelAdmin(StoreScopedAdminMixin, admin.ModelAdmin):
    list_display = ["store", "product", "on_hand", "average_cost", "min_qty", "max_qty"]
    list_filter = ["store"]
    search_fields = ["product__sku", "product__name"]
    list_select_related = ["store", "product"]
    # on_hand and average_cost move only through the ledger services.
    readonly_fields = ["store", "product", "on_hand", "average_cost"]

    def has_add_permission(self, request):
        return False


@admin.register(StockMovement)
class StockMovementAdmin(StoreScopedAdminMixin, LedgerAdmin):
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
class PurchaseOrderAdmin(StoreScopedAdminMixin, admin.ModelAdmin):
    list_display = ["pk", "supplier", "store", "status", "expected_date", "created_at", "paid_at", "amount_paid"]
    list_filter = ["status", "store", "supplier"]
    inlines = [PurchaseOrderLineInline]
    readonly_fields = ["status", "ordered_at", "approved_by", "created_by"]
    actions = ["place_orders"]

    @admin.action(description="Approve and place the selected draft orders", permissions=["approve"])
    def place_orders(self, request, queryset):
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
class GoodsReceiptAdmin(StoreScopedAdminMixin, LedgerAdmin):
    list_display = ["pk", "order", "received_at", "received_by"]
    inlines = [ReceiptLineInline]


# --- stock counts: owners reconcile here (DESIGN §4.3) ---------------------------------------------


class StockCountLineForm(forms.ModelForm):
    map_to = forms.CharField(
        required=False,
        max_length=60,
        label="is product",
        help_text="For an unknown item: the SKU or barcode of the product it turned out to be.",
    )

    class Meta:
        model = StockCountLine
        fields = ["reason", "note"]


class StockCountLineInline(admin.TabularInline):
    """Lines with expected / counted / variance / value; only the reason and note are editable (and an
    unknown item's product), and only while the count is submitted (the services refuse anything else)."""

    model = StockCountLine
    form = StockCountLineForm
    extra = 0
    can_delete = False
    fields = [
        "item",
        "counted_at",
        "expected_qty",
        "first_count_qty",
        "counted_qty",
        "variance",
        "variance_value",
        "reason",
        "note",
        "map_to",
    ]
    readonly_fields = [f for f in fields if f not in {"reason", "note", "map_to"}]
    ordering = ["variance_value", "id"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("product")

    @admin.display(description="product")
    def item(self, line):
        if line.product_id is None:
            return f"unknown “{line.unknown_code}”"
        return f"{line.product.sku} · {line.product.name[:28]}"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return bool(
            obj is not None
            and obj.status == StockCount.Status.SUBMITTED
            and request.user.has_perm("inventory.reconcile_stockcount")
        )


@admin.register(StockCount)
class StockCountAdmin(StoreScopedAdminMixin, admin.ModelAdmin):
    list_display = [
        "pk",
        "store",
        "status",
        "scope",
        "blind",
        "line_total",
        "variance_total",
        "created_by",
        "submitted_at",
        "approved_by",
        "reconciled_at",
    ]
    list_filter = ["status", "scope", "store"]
    list_select_related = ["store", "created_by", "approved_by"]
    date_hierarchy = "created_at"
    search_fields = ["pk", "store__code", "store__name", "note"]
    inlines = [StockCountLineInline]
    readonly_fields = [
        "store",
        "scope",
        "category",
        "blind",
        "status",
        "recount_units_threshold",
        "recount_value_threshold",
        "created_by",
        "created_at",
        "submitted_by",
        "submitted_at",
        "approved_by",
        "reconciled_at",
    ]
    fields = readonly_fields[:7] + ["note"] + readonly_fields[7:]
    actions = ["approve_counts", "reject_counts", "cancel_counts"]
    change_form_template = "inventory/admin/stockcount_change_form.html"

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_lines=Count("lines"), _variance=Sum("lines__variance_value"))

    @admin.display(description="lines", ordering="_lines")
    def line_total(self, obj):
        return obj._lines

    @admin.display(description="variance at cost", ordering="_variance")
    def variance_total(self, obj):
        return format_money(obj._variance) if obj._variance is not None else "–"

    def has_add_permission(self, request):
        return False  # counts are opened on the count pages, where their lines are planned

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.status != StockCount.Status.SUBMITTED:
            return False
        return super().has_change_permission(request, obj)

    def has_reconcile_permission(self, request):
        return request.user.has_perm("inventory.reconcile_stockcount")

    def save_model(self, request, obj, form, change):
        # The count itself takes only its note here; status and quantities move through the services.
        StockCount.objects.filter(pk=obj.pk, status=StockCount.Status.SUBMITTED).update(note=obj.note)

    def save_formset(self, request, form, formset, change):
        # The admin's change message reads these; the lines are saved by the services below.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        changed = [f for f in formset.forms if f.has_changed() and f.instance.pk is not None]
        for line_form in changed:  # unknown items first: mapping may merge a line into another
            code = line_form.cleaned_data.get("map_to", "")
            if not code:
                continue
            try:
                mapped = stock_count_line_map(line=line_form.instance, code=code, actor=request.user)
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.ERROR)
            else:
                self.message_user(request, f"Unknown item mapped to {mapped.product}.", messages.SUCCESS)
        for line_form in changed:
            if set(line_form.changed_data) <= {"map_to"}:
                continue
            if not StockCountLine.objects.filter(pk=line_form.instance.pk).exists():
                continue  # merged into the product's line by its mapping
            try:
                stock_count_line_annotate(
                    line=line_form.instance,
                    reason=line_form.cleaned_data.get("reason", ""),
                    note=line_form.cleaned_data.get("note", ""),
                    actor=request.user,
                )
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.ERROR)

    def response_change(self, request, obj):
        if "_approve" in request.POST:
            self._approve(request, [obj])

            return (
                redirect("admin:inventory_stockcount_change", obj.pk)
                if obj.status == "submitted"
                else redirect("admin:inventory_stockcount_changelist")
            )
        return super().response_change(request, obj)

    def _approve(self, request, counts):
        for count in counts:
            try:
                movements = stock_count_reconcile(count=count, actor=request.user)
            except ValidationError as exc:
                self.message_user(request, f"Count #{count.pk}: {' '.join(exc.messages)}", messages.ERROR)
                continue
            count.refresh_from_db()
            if movements:
                self.message_user(
                    request,
                    f"Count #{count.pk} approved: {len(movements)} count correction(s) posted.",
                    messages.SUCCESS,
                )
            elif count.status == StockCount.Status.RECONCILED and count.approved_by_id != request.user.pk:
                self.message_user(request, f"Count #{count.pk} was already reconciled: nothing posted.", messages.INFO)
            else:
                self.message_user(request, f"Count #{count.pk} is reconciled: no variance to post.", messages.SUCCESS)

    @admin.action(description="Approve: post one count correction per line with a variance", permissions=["reconcile"])
    def approve_counts(self, request, queryset):
        self._approve(request, list(queryset.order_by("pk")))

    def _close(self, request, queryset, status):
        for count in queryset.order_by("pk"):
            try:
                stock_count_close(count=count, actor=request.user, status=status)
            except ValidationError as exc:
                self.message_user(request, f"Count #{count.pk}: {' '.join(exc.messages)}", messages.ERROR)
            else:
                self.message_user(request, f"Count #{count.pk} {status}: nothing posted.", messages.SUCCESS)

    @admin.action(description="Reject the selected submitted counts (nothing is posted)", permissions=["reconcile"])
    def reject_counts(self, request, queryset):
        self._close(request, queryset, StockCount.Status.REJECTED)

    @admin.action(description="Cancel the selected counts (nothing is posted)", permissions=["reconcile"])
    def cancel_counts(self, request, queryset):
        self._close(request, queryset, StockCount.Status.CANCELLED)
