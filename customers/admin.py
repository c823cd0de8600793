from django.contrib import admin

from inventory.scoping import StoreScopedAdminMixin
from retailops.admin_mixins import LedgerAdmin

from .models import Customer, LoyaltyTier, PointsEntry, TierChange


@admin.register(LoyaltyTier)
class LoyaltyTierAdmin(admin.ModelAdmin):
    list_display = ["rank", "name", "threshold", "discount_percent", "points_multiplier"]


@admin.register(Customer)
class CustomerAdmin(StoreScopedAdminMixin, admin.ModelAdmin):
    list_display = ["code", "name", "home_store", "tier", "points_balance", "joined_at", "active"]
    list_filter = ["tier", "home_store", "active"]
    search_fields = ["code", "name", "email", "phone"]
    readonly_fields = ["points_balance", "anonymised_at", "merged_into"]
    list_select_related = ["home_store", "tier"]


@admin.register(PointsEntry)
class PointsEntryAdmin(StoreScopedAdminMixin, LedgerAdmin):
    list_display = ["occurred_at", "customer", "kind", "points", "store", "expires_at", "note"]
    list_filter = ["kind"]
    search_fields = ["customer__code"]
    list_select_related = ["customer", "store"]


@admin.register(TierChange)
class TierChangeAdmin(LedgerAdmin):
    list_display = ["changed_at", "customer", "from_tier", "to_tier", "trailing_spend", "reason"]
