"""The log of weekly insights e-mails sent: what makes the weekly task safe to deliver twice (reports.insights_mail)."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from inventory.models import AppendOnlyModel


class InsightsEmailSent(AppendOnlyModel):
    """One row per insights e-mail that went out, written in the transaction around its send. At most one
    scheduled row per user and week (the row is the claim: a second delivery of the task skips that user);
    "send now" (manual) rows are only logged, each press sends again."""

    class Trigger(models.TextChoices):
        SCHEDULED = "scheduled", "scheduled"
        MANUAL = "manual", "send now"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    week_start = models.DateField()  # the Monday of the week reported (insights.week_filters(...).start)
    trigger = models.CharField(max_length=9, choices=Trigger.choices)
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-sent_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "week_start"], condition=Q(trigger="scheduled"), name="insights_sent_once_a_week"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id}: week of {self.week_start} ({self.trigger})"
