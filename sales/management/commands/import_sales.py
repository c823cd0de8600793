"""manage.py import_sales FILE [--store CODE] [--mapping NAME] [--option k=v …]: the page's import, from a shell."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from inventory.models import Store
from sales.models import ColumnMapping, ImportBatch
from sales.services import import_batch_create, sales_import


class Command(BaseCommand):
    help = "Import a POS export (CSV / XLSX, optionally .gz) through the same service as the import page."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--store", help="Post every row to this store (code); otherwise the mapping decides.")
        parser.add_argument("--mapping", help="Column mapping name (default: the first mapping that fits).")
        parser.add_argument(
            "--option",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="Override an import option, e.g. --option unknown_products=reject (see docs/ingestion.md).",
        )
        parser.add_argument("--errors", type=int, default=20, help="How many row errors to print (default 20).")

    def handle(self, *args, **opts):
        path = Path(opts["file"])
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        mapping = None
        if opts["mapping"]:
            mapping = ColumnMapping.objects.filter(name=opts["mapping"]).first()
            if mapping is None:
                names = ", ".join(ColumnMapping.objects.values_list("name", flat=True))
                raise CommandError(f"No column mapping “{opts['mapping']}”. Known: {names}")
        store = None
        if opts["store"]:
            store = Store.objects.filter(code__iexact=opts["store"]).first()
            if store is None:
                raise CommandError(f"No store with code {opts['store']}")
        options = {}
        for item in opts["option"]:
            key, sep, value = item.partition("=")
            if not sep:
                raise CommandError(f"--option needs KEY=VALUE, not {item!r}")
            try:
                options[key.strip()] = json.loads(value)
            except json.JSONDecodeError:
                options[key.strip()] = value
        batch = import_batch_create(
            source=ImportBatch.Source.COMMAND,
            source_name=str(path),
            path=str(path.resolve()),
            mapping=mapping,
            store=store,
            options=options,
        )
        self.stdout.write(f"Import #{batch.pk}: {path} …")
        batch = sales_import(batch_id=batch.pk)
        seconds = batch.duration_seconds or 0
        self.stdout.write(
            f"{batch.get_status_display()} in {seconds:.1f} s: read {batch.rows_read:,}, accepted "
            f"{batch.rows_accepted:,}, rejected {batch.rows_rejected:,}, duplicate {batch.rows_duplicate:,}; "
            f"{batch.sales_created:,} receipts posted."
        )
        for error in batch.row_errors.all()[: opts["errors"]]:
            self.stdout.write(f"  line {error.line_number} [{error.column}] “{error.value}”: {error.message}")
        if batch.status == ImportBatch.Status.FAILED:
            raise CommandError(batch.message)
        self.stdout.write(batch.message)
