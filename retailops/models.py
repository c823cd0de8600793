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


class Heartbeat(models.Model):
    """The last sign of life of a background process (retailops.heartbeat): each Celery worker writes its row every
    `WORKER_BEAT_SECONDS`; beat writes its row each time it sends the outbox relay (every 10 s)."""

    class Role(models.TextChoices):
        WORKER = "worker", "Celery worker"
        BEAT = "beat", "Celery beat"

    role = models.CharField(max_length=10, choices=Role.choices)
    name = models.CharField(max_length=200, help_text="The worker's hostname (e.g. interactive@shop-server).")
    queues = models.CharField(max_length=200, blank=True, default="", help_text="The queues the worker takes.")
    started_at = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["role", "name"]
        constraints = [models.UniqueConstraint(fields=["role", "name"], name="heartbeat_one_per_process")]

    def __str__(self) -> str:
        return f"{self.role} {self.name} · {self.last_seen:%Y-%m-%d %H:%M:%S}"


class TaskEvent(models.Model):
    """A Celery task that failed or was retried (celery signals task_failure / task_retry), kept
    `retailops.heartbeat.KEEP_EVENTS` for the health page's last-24-hours figures."""

    class Kind(models.TextChoices):
        FAILED = "failed", "failed"
        RETRIED = "retried", "retried"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    task_name = models.CharField(max_length=200)
    task_id = models.CharField(max_length=100, blank=True, default="")
    error = models.CharField(max_length=300, blank=True, default="", help_text="The exception's type and message.")
    at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = "task event"

    def __str__(self) -> str:
        return f"{self.task_name} {self.kind} at {self.at:%Y-%m-%d %H:%M:%S}"
