"""manage.py rebuild_rollups [--store CODE …] [--from DATE] [--to DATE]: recompute SalesDaily / StoreDaily."""

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from inventory.selectors import store_ids_by_code
from sales.models import Sale
from sales.rollups import rollups_rebuild


class Command(BaseCommand):
    help = "Rebuild the daily rollups from the sale lines (all of them, or some stores / days). Atomic."

    def add_arguments(self, parser):
        parser.add_argument("--store", action="append", default=[], help="Store code (repeatable).")
        parser.add_argument("--from", dest="date_from", help="First local day, YYYY-MM-DD.")
        parser.add_argument("--to", dest="date_to", help="Last local day, YYYY-MM-DD.")

    def handle(self, *args, **opts):
        store_ids = None
        if opts["store"]:
            store_ids, missing = store_ids_by_code(opts["store"])
            if missing:
                raise CommandError(f"Unknown store(s): {', '.join(missing)}")
        dates = None
        if opts["date_from"] or opts["date_to"]:
            try:
                start = date.fromisoformat(opts["date_from"]) if opts["date_from"] else None
                end = date.fromisoformat(opts["date_to"]) if opts["date_to"] else None
            except ValueError as exc:
                raise CommandError(f"Dates are YYYY-MM-DD: {exc}") from None
            sales = Sale.objects.all()
            if start:
                sales = sales.filter(local_date__gte=start)
            if end:
                sales = sales.filter(local_date__lte=end)
            dates = set(sales.values_list("local_date", flat=True).distinct())
            if not dates:
                self.stdout.write("No sales in that range: nothing to rebuild.")
                return
        rollups_rebuild(store_ids=store_ids, dates=dates)
        self.stdout.write("Rollups rebuilt.")
