"""manage.py import_calendar FILE — promotions and one-off closures from a CSV (forecasting/calendar_import.py
describes the columns). All-or-nothing: any bad row is reported by its line and nothing is written."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from forecasting.calendar_import import CalendarImportError, calendar_import


class Command(BaseCommand):
    help = "Import promotions and store closures from a CSV file (all rows or none)."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)

    def handle(self, *args, file: Path, **options):
        if not file.is_file():
            raise CommandError(f"No such file: {file}")
        try:
            result = calendar_import(content=file.read_bytes())
        except CalendarImportError as exc:
            raise CommandError("Nothing was imported:\n" + "\n".join(exc.errors)) from None
        self.stdout.write(f"Imported {result.promotions} promotion(s) and {result.closures} closure day(s).")
