"""manage.py bi_export DIR [--table NAME …]: the bi tables as Parquet files, one per table (any database).

The rows are computed through the ORM and the pages' selectors, the same tables the bi views give on
PostgreSQL (docs/bi.md).
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from reports import bi


class Command(BaseCommand):
    help = "Write the BI tables (sales_daily, stock_levels, forecast, …) as Parquet files into DIR."

    def add_arguments(self, parser):
        parser.add_argument("directory", help="Folder to write <table>.parquet into (created if missing).")
        parser.add_argument(
            "--table", action="append", choices=list(bi.BY_NAME), help="Only this table (repeat for several)."
        )

    def handle(self, *args, **opts):
        directory = Path(opts["directory"])
        if directory.exists() and not directory.is_dir():
            raise CommandError(f"{directory} is a file, not a folder.")
        counts = bi.export(directory, names=opts["table"])
        for name, n in counts.items():
            self.stdout.write(f"{directory / (name + '.parquet')}: {n:,} rows")
        self.stdout.write(self.style.SUCCESS(f"{len(counts)} tables written to {directory}."))
