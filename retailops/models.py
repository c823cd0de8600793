"""RetailOps' own tables: the task outbox (retailops.outbox). This module also lets post_migrate reach the role
sync."""

from django.db import models
from django.db.models import Q
from django.utils import timezone


class OutboxMessage(models.Model):
    """A Celery task to send, written in the same transaction as the work it belongs to (a run, an import, an
    e-mail) and published after commit, or later by the relay when the broker was down."""

    task_name = models.CharField(max_length=200)
    args = models.JSONField(default=list, blank=True)
    queue = models.CharField(max_length=50, blank=True, default="")
    # NULL, not "": a message without a key is outside the one-unsent-per-key constraint.
    key = models.CharField(  # noqa: DJ001
        max_length=200, null=True, blank=True, help_text="At most one unsent message per key."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True, help_text="Empty while not yet published.")
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    next_attempt_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        verbose_name = "outbox message"
        constraints = [
            models.UniqueConstraint(
                fields=["key"], condition=Q(sent_at__isnull=True), name="outbox_one_unsent_per_key"
            ),
        ]
        indexes = [
            # The relay's query: unsent rows that are due, oldest first.
            models.Index(fields=["next_attempt_at", "id"], condition=Q(sent_at__isnull=True), name="outbox_due"),
            # Housekeeping: sent rows by age.
            models.Index(fields=["sent_at"], condition=Q(sent_at__isnull=False), name="outbox_sent"),
        ]

    def __str__(self) -> str:
        state = "sent" if self.sent_at else "unsent"
        return f"{self.task_name}{tuple(self.args)} ({state})"
