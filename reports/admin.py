from django.contrib import admin

from retailops.admin_mixins import LedgerAdmin

from .models import InsightsEmailSent


@admin.register(InsightsEmailSent)
class InsightsEmailSentAdmin(LedgerAdmin):
    list_display = ["sent_at", "user", "week_start", "trigger"]
    list_filter = ["trigger", "week_start"]
    search_fields = ["user__username", "user__email"]
    list_select_related = ["user"]
