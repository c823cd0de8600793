"""Publish the outbox messages the broker could not take when they were written (beat does this every 10 s)."""

from django.core.management.base import BaseCommand

from retailops.models import OutboxMessage
from retailops.outbox import outbox_relay


class Command(BaseCommand):
    help = "Publish queued background tasks that are waiting in the outbox (the broker was down)."

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=500, help="Publish at most this many (default 500).")

    def handle(self, *args, limit: int, **options):
        published = outbox_relay(limit=limit)
        waiting = OutboxMessage.objects.filter(sent_at__isnull=True).count()
        self.stdout.write(f"Published {published} queued task(s); {waiting} still waiting.")
