"""manage.py import_sales FILE [--store CODE] [--mapping NAME] [--create-stores] [--dry-run] [--option k=v …].

The page's import, from a shell. --dry-run prints what the import would post and create, writing nothing.
"""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from inventory.models import Store
from sales.importing import ImportFileError
from sales.models import ColumnMapping, ImportBatch
from sales.services import import_batch_create, sales_import, sales_import_preview


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
        parser.add_argument(
            "--create-stores",
            action="store_true",
            help="Create the stores the file names that do not exist (off: their rows are rejected).",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Preview only: print what would be posted and created (new products, customers, stores); "
            "write nothing.",
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
        options["create_stores"] = bool(opts["create_stores"])
        if opts["dry_run"]:
            return self._dry_run(path, mapping=mapping, store=store, options=options, errors=opts["errors"])
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

    def _dry_run(self, path: Path, *, mapping, store, options: dict, errors: int) -> None:
        try:
            with path.open("rb") as handle:  # read as a stream, never whole
                p = sales_import_preview(data=handle, mapping=mapping, store=store, options=options)
        except ImportFileError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"Dry run of {path} (nothing written): read {p['rows_read']:,}, would accept {p['rows_accepted']:,}, "
            f"reject {p['rows_rejected']:,}, duplicate {p['rows_duplicate']:,}; {p['receipts']:,} receipts "
            f"({p['sale']:,} sales, {p['return']:,} returns, {p['adjustment']:,} adjustments to post)."
        )
        self.stdout.write(
            f"Would create {p['products_created']:,} products, {p['customers_created']:,} customers, "
            f"{p['stores_created']:,} stores."
        )
        for label, key in (("stores", "stores_created_sample"), ("products", "products_created_sample"),
                           ("customers", "customers_created_sample")):  # fmt: skip
            if p[key]:
                self.stdout.write(f"  new {label}: " + "; ".join(" ".join(map(str, item)) for item in p[key]))
        if p["stores_missing"]:
            self.stdout.write(
                f"Unknown store(s) {', '.join(p['stores_missing'])}: their rows are rejected "
                "(pass --store CODE, or --create-stores to create them)."
            )
        for reason, count in p["reasons"]:
            self.stdout.write(f"  {count:,} × {reason}")
        for line, column, value, message in p["rejected_sample"][:errors]:
            self.stdout.write(f"  line {line} [{column}] “{value}”: {message}")
