"""Upload reading benchmark: peak memory and time of reading a large POS export (CSV, or gzip) row by row.

Builds a file of about --mb megabytes by repeating the real Online Retail export, then reads every row of it
through `sales.importing.read_table` from an open file (as an import does), and — for comparison — the way
imports read before issue 17 (the whole file as bytes, decoded whole). Prints peak Python memory (tracemalloc)
and seconds for each. Only the reading is measured: parsing and posting are bench/ingest.py's.

    .venv/bin/python bench/upload.py [--mb 50] [--gzip]

Not a test: the figures depend on the machine.
"""

import argparse
import csv
import gzip
import io
import os
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT.parent / "shared" / "data" / "online_retail_2010_2011.csv.gz"


def build(path: Path, megabytes: int, packed: bool) -> None:
    with gzip.open(REAL, "rb") as handle:
        header = handle.readline()
        body = handle.read()
    opener = gzip.open if packed else open
    with opener(path, "wb") as out:
        out.write(header)
        written = 0
        while written < megabytes * 1_000_000:
            out.write(body[: megabytes * 1_000_000 - written])
            written += min(len(body), megabytes * 1_000_000 - written)


def read_streamed(path: Path) -> int:
    from sales.importing import read_table  # noqa: PLC0415 — Django is set up in main() first

    with path.open("rb") as handle:
        table = read_table(handle)
        return sum(1 for _ in table.rows)


def read_whole(path: Path) -> int:
    """Before issue 17: the upload read whole, gunzipped whole, decoded whole."""
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    text = data.decode("utf-8")
    reader = csv.reader(io.StringIO(text, newline=""))
    next(reader)
    return sum(1 for _ in reader)


def measure(label: str, read, path: Path) -> None:
    started = time.perf_counter()
    rows = read(path)
    seconds = time.perf_counter() - started
    tracemalloc.start()
    read(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"{label:9}: {rows:,} rows in {seconds:5.2f} s; peak Python memory {peak / 1e6:8.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=50)
    parser.add_argument("--gzip", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "retailops.settings")
    os.environ.setdefault("DJANGO_DEBUG", "1")  # a development run: no secret key needed
    os.environ.setdefault("RETAILOPS_MAX_UPLOAD_BYTES", str(400 * 1024 * 1024))
    sys.path.insert(0, str(ROOT))
    import django  # noqa: PLC0415 — after the settings module is named

    django.setup()

    path = Path(f"/tmp/retailops_bench_upload_{args.mb}mb.csv" + (".gz" if args.gzip else ""))
    build(path, args.mb, args.gzip)
    print(f"file: {path} — {path.stat().st_size / 1e6:,.1f} MB on disk")
    measure("streamed", read_streamed, path)
    measure("whole", read_whole, path)


if __name__ == "__main__":
    main()
