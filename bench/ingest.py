"""Ingestion benchmark (DESIGN §10): a 1,000,000-line POS export into PostgreSQL, rollups included.

Builds the file by repeating the real Online Retail export with new invoice numbers, imports it into
a database of its own (created and migrated here) through the same service as the import page, then
times a plain PostgreSQL COPY of the same file into a bare table, and prints both and their ratio.

    .venv/bin/python bench/ingest.py [--lines 1000000] [--db retailops_bench_ingest] [--pg postgres://postgres@127.0.0.1:5432]

Not a test: the figures depend on the machine, which the script prints.
"""

import argparse
import gzip
import os
import platform
import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT.parent / "shared" / "data" / "online_retail_2010_2011.csv.gz"


def build_file(path: Path, lines: int) -> int:
    """Repeat the real export; repetition k adds k × 1,000,000 to every invoice number (prefixes kept)."""
    with gzip.open(REAL, "rt", encoding="utf-8", newline="") as handle:
        header = handle.readline()
        rows = handle.readlines()
    written = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(header)
        rep = 0
        while written < lines:
            for row in rows:
                if written >= lines:
                    break
                invoice, rest = row.split(",", 1)
                prefix = invoice[0] if invoice[0].isalpha() else ""
                number = int(invoice[len(prefix) :]) + rep * 1_000_000
                out.write(f"{prefix}{number},{rest}")
                written += 1
            rep += 1
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--db", default="retailops_bench_ingest")
    parser.add_argument("--pg", default=os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432"))
    parser.add_argument("--file", default="/tmp/retailops_bench_ingest.csv")
    args = parser.parse_args()

    with psycopg.connect(f"{args.pg}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{args.db}"')
        admin.execute(f'CREATE DATABASE "{args.db}"')
    os.environ["DATABASE_URL"] = f"{args.pg}/{args.db}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "retailops.settings")
    os.environ["RETAILOPS_MAX_UPLOAD_BYTES"] = str(400 * 1024 * 1024)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)

    path = Path(args.file)
    started = time.monotonic()
    written = build_file(path, args.lines)
    print(
        f"file: {path} — {written:,} lines, {path.stat().st_size / 1e6:,.1f} MB "
        f"(built in {time.monotonic() - started:.1f} s)"
    )

    from sales.models import ImportBatch, SaleLine
    from sales.services import import_batch_create, sales_import

    # The file names its stores; the person importing it asks for them to be created (off by default).
    batch = import_batch_create(
        source=ImportBatch.Source.COMMAND, source_name=path.name, path=str(path), options={"create_stores": True}
    )
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    batch = sales_import(batch_id=batch.pk)
    ingest_seconds = time.monotonic() - started
    load_after = os.getloadavg()[0]
    print(
        f"import: {batch.status} — read {batch.rows_read:,}, accepted {batch.rows_accepted:,}, "
        f"rejected {batch.rows_rejected:,}, duplicate {batch.rows_duplicate:,}; {SaleLine.objects.count():,} sale lines"
    )
    stats = batch.stats
    print(
        f"phases: read+parse {stats.get('read_seconds')} s, resolve {stats.get('resolve_seconds')} s, "
        f"total {stats.get('seconds')} s"
    )

    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE bench_raw (invoice text, stock_code text, description text, quantity text, "
            "invoice_date text, unit_price text, customer_id text, country text)"
        )
        started = time.monotonic()
        with (
            path.open("rb") as handle,
            cursor.cursor.copy("COPY bench_raw FROM STDIN WITH (FORMAT csv, HEADER true)") as copy,
        ):
            while chunk := handle.read(1 << 20):
                copy.write(chunk)
        copy_seconds = time.monotonic() - started
        cursor.execute("SELECT count(*) FROM bench_raw")
        copied = cursor.fetchone()[0]
        cursor.execute("SHOW server_version")
        pg_version = cursor.fetchone()[0]
        cursor.execute("DROP TABLE bench_raw")

    print()
    print(
        f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, PostgreSQL {pg_version}, "
        f"{platform.platform()}; load average {load_before:.1f} before the import, {load_after:.1f} after"
    )
    print(f"ingest : {ingest_seconds:8.1f} s  {written / ingest_seconds:10,.0f} lines/s  (rollups included)")
    print(f"COPY   : {copy_seconds:8.1f} s  {copied / copy_seconds:10,.0f} lines/s  (bare table, text columns)")
    print(f"ratio  : {ingest_seconds / copy_seconds:8.1f} × COPY   targets: ≤ 60 s and ≤ 3 × COPY")


if __name__ == "__main__":
    main()
