"""Admin for forecast runs (with their chunks), accuracy and reorder suggestions. The nightly schedule
itself is a django-celery-beat PeriodicTask, edited under “Periodic tasks”."""

from django.contrib import admin

from inventory.scoping import StoreScopedAdminMixin

from .calendar_forms import PromotionForm
from .models import (
    ForecastAccuracy,
    ForecastChunk,
    ForecastRun,
    HolidayOverride,
    Promotion,
    ReorderSuggestion,
    StockAlert,
    StoreClosure,
    WeeklyClosingDay,
)


class ForecastChunkInline(admin.TabularInline):
    model = ForecastChunk
    fields = ["number", "done", "attempts", "seconds", "error"]
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(ForecastRun)
class ForecastRunAdmin(StoreScopedAdminMixin, admin.ModelAdmin):
    list_display = ["id", "status", "trigger", "history_end", "horizon_days", "series_total", "chunks_done",
                    "chunks_total", "created_at", "finished_at"]  # fmt: skip
    list_filter = ["status", "trigger"]
    readonly_fields = ["series_total", "series_done", "chunks_total", "chunks_done", "failed_series", "started_at",
                       "finished_at"]  # fmt: skip
    inlines = [ForecastChunkInline]


@admin.register(ForecastAccuracy)
class ForecastAccuracyAdmin(StoreScopedAdminMixin, admin.ModelAdmin):
    list_display = ["run", "store", "product", "model", "chosen", "mase", "wmape", "bias"]
    list_filter = ["chosen", "model"]
    list_select_related = ["run", "store", "product"]
    raw_id_fields = ["run", "store", "product"]


@admin.register(ReorderSuggestion)
class ReorderSuggestionAdmin(StoreScopedAdminMixin, admin.ModelAdmin):
    list_display = ["store", "product", "kind", "quantity", "suggested_qty", "status", "cash_needed", "created_at"]
    list_filter = ["status", "kind", "store"]
    list_select_related = ["store", "product"]
    raw_id_fields = ["run", "store", "product", "supplier", "source_store", "purchase_order", "decided_by"]


@admin.register(StockAlert)
class StockAlertAdmin(StoreScopedAdminMixin, admin.ModelAdmin):
    list_display = ["kind", "severity", "store", "product", "message", "created_at"]
    list_filter = ["kind", "store"]
    list_select_related = ["store", "product"]


# --- the retail calendar -------------------------------------------------------------------------------------------


@admin.register(Promotion)
class PromotionAdmin(admin.ModelAdmin):
    """Promotions are chain planning data (no stores = every store); the form refuses overlaps."""

    form = PromotionForm
    list_display = ["name", "start", "end", "discount_label", "created_by"]
    list_filter = ["start"]
    search_fields = ["name", "notes"]
    date_hierarchy = "start"
    filter_horizontal = ["stores", "products", "categories"]
    readonly_fields = ["created_by", "created_at"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(StoreClosure)
class StoreClosureAdmin(StoreScopedAdminMixin, admin.ModelAdmin):
    list_display = ["store", "date", "reason"]
    list_filter = ["store"]
    date_hierarchy = "date"


@admin.register(WeeklyClosingDay)
class WeeklyClosingDayAdmin(StoreScopedAdminMixin, admin.ModelAdmin):
    list_display = ["store", "weekday", "confirmed", "detected", "detected_at"]
    list_filter = ["confirmed", "detected", "store"]
    list_editable = ["confirmed"]


@admin.register(HolidayOverride)
class HolidayOverrideAdmin(StoreScopedAdminMixin, admin.ModelAdmin):
    list_display = ["store", "date", "kind", "note"]
    list_filter = ["kind", "store"]
    date_hierarchy = "date"
