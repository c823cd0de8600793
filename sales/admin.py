from django.contrib import admin

from inventory.scoping import StoreScopedAdminMixin
from retailops.admin_mixins import LedgerAdmin

from .models import ColumnMapping, ImportBatch, ImportRowError, Sale, SaleLine, StockAdjustment, StockAdjustmentLine


@admin.register(ColumnMapping)
class ColumnMappingAdmin(admin.ModelAdmin):
    list_display = ["name", "date_format", "created_at"]


class RowErrorInline(admin.TabularInline):
    model = ImportRowError
    extra = 0
    can_delete = False
    readonly_fields = ["line_number", "column", "value", "message"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ImportBatch)
class ImportBatchAdmin(StoreScopedAdminMixin, LedgerAdmin):
    list_display = [
        "pk",
        "source_name",
        "source",
        "status",
        "rows_read",
        "rows_accepted",
        "rows_rejected",
        "created_at",
    ]
    list_filter = ["status", "source"]
    inlines = [RowErrorInline]


class SaleLineInline(admin.TabularInline):
    model = SaleLine
    extra = 0
    can_delete = False
    readonly_fields = [
        "line_no",
        "product",
        "quantity",
        "unit_mrp",
        "unit_price",
        "price_type",
        "discount",
        "unit_cost",
        "line_total",
    ]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Sale)
class SaleAdmin(StoreScopedAdminMixin, LedgerAdmin):
    list_display = ["occurred_at", "store", "pos_reference", "kind", "payment_method", "total", "customer"]
    list_filter = ["kind", "payment_method", "store"]
    search_fields = ["pos_reference"]
    list_select_related = ["store", "customer"]
    date_hierarchy = "occurred_at"
    inlines = [SaleLineInline]


class StockAdjustmentLineInline(admin.TabularInline):
    model = StockAdjustmentLine
    extra = 0
    can_delete = False
    readonly_fields = ["line_no", "product", "quantity", "reason", "source_line"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(StockAdjustment)
class StockAdjustmentAdmin(StoreScopedAdminMixin, LedgerAdmin):
    """Stock adjustments found in POS exports (write-offs, "found"): read-only, posted by the importer."""

    list_display = ["occurred_at", "store", "pos_reference", "import_batch"]
    list_filter = ["store"]
    search_fields = ["pos_reference"]
    inlines = [StockAdjustmentLineInline]
