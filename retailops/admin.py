"""The task outbox in the admin (owners): what waits for the broker, what was sent, and "publish now"."""

from django.contrib import admin, messages

from .admin_mixins import LedgerAdmin
from .models import OutboxMessage
from .outbox import outbox_relay


class SentFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("unsent", "Waiting (not yet published)"), ("sent", "Published")]

    def queryset(self, request, queryset):
        if self.value() in ("unsent", "sent"):
            return queryset.filter(sent_at__isnull=self.value() == "unsent")
        return queryset


@admin.register(OutboxMessage)
class OutboxMessageAdmin(LedgerAdmin):
    """Read-only: messages are written by the services and published by the relay."""

    list_display = ("id", "task_name", "args", "queue", "key", "created_at", "sent_at", "attempts", "next_attempt_at")
    list_filter = (SentFilter, "queue", "task_name")
    search_fields = ("task_name", "key")
    readonly_fields = [f.name for f in OutboxMessage._meta.fields]
    actions = ["publish_now"]

    def has_publish_permission(self, request):
        return request.user.has_perm("retailops.change_outboxmessage")

    @admin.action(description="Publish the selected waiting messages now", permissions=["publish"])
    def publish_now(self, request, queryset):
        waiting = list(queryset.filter(sent_at__isnull=True).values_list("pk", flat=True))
        if not waiting:
            self.message_user(request, "The selected messages were all published already.", messages.INFO)
            return
        published = outbox_relay(ids=waiting, limit=len(waiting))
        if published == len(waiting):
            self.message_user(request, f"Published {published} of {len(waiting)} message(s).", messages.SUCCESS)
        else:
            self.message_user(
                request,
                f"Published {published} of {len(waiting)} message(s): the task queue (broker) is not reachable. "
                "The rest wait; the relay keeps trying every 10 seconds.",
                messages.WARNING,
            )
