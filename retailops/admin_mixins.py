"""Admin helpers shared by the apps. Imports no app."""

from django.contrib import admin


class LedgerAdmin(admin.ModelAdmin):
    """An append-only ledger in the admin: viewable, never added, changed or deleted by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
