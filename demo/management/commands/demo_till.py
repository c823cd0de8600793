"""manage.py demo_till [--every SECONDS] [--once]: the demo chain's tills (see demo.till)."""

import random
import time

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand

from demo.till import demo_till_backfill, demo_till_ready, demo_till_tick


class Command(BaseCommand):
    help = (
        "Demo only: post today's receipts so far to the demo chain, then one every few seconds, through the "
        "same service as a POS device. Does nothing on a database that seed_demo did not load."
    )

    def add_arguments(self, parser):
        parser.add_argument("--every", type=float, default=8.0, help="Seconds between receipts (default 8).")
        parser.add_argument("--once", action="store_true", help="Only post today's receipts so far, then stop.")

    def handle(self, *args, every: float, once: bool, **opts):
        if not demo_till_ready():
            self.stdout.write("demo_till: this database was not loaded by seed_demo; the till stays closed.")
            if once:
                return
            while True:  # under honcho a process that exits stops the others: stay, idle
                time.sleep(3600)
        posted = demo_till_backfill()
        self.stdout.write(f"demo_till: {posted} receipt(s) posted for today so far.")
        if once:
            return
        rng = random.Random()
        every = max(every, 0.5)
        while True:
            time.sleep(every)
            try:
                sale = demo_till_tick(rng=rng)
            except ValidationError as exc:  # a refused receipt is the till's problem, not the demo's
                self.stderr.write(f"demo_till: receipt refused: {' '.join(exc.messages)}")
                continue
            if sale is not None:
                self.stdout.write(f"demo_till: {sale.store.code} {sale.pos_reference} £{sale.total}")
