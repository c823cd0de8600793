"""Set-based writes for posting many receipts in one transaction (sales.services.receipts_post).

PostgreSQL: ids reserved from the sequences in one statement, rows written with COPY (text format,
rendered in Python, possibly ahead of the transaction), stock levels locked and moved, and points
balances moved, with one statement each over unnest() arrays.
SQLite (where the writer holds the database lock for the whole transaction) gets the same rows with
executemany. Nothing here validates: callers pass rows that are already checked.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable
from decimal import Decimal

from django.db import connection

from inventory.models import StockLevel
from inventory.services import stock_levels_lock


def allocate_ids(model, n: int) -> range | list[int]:
    """Reserve n primary keys, so rows and the rows that point at them can be written in one pass.

    PostgreSQL: from the table's sequence (safe under concurrency; gaps are harmless). The values
    usually come back as one run, sent as its two ends; when other sessions drew from the sequence
    at the same time, the values themselves. SQLite: the writer holds the database lock for the
    whole transaction, so max(id) + 1 … is ours.
    """
    if n <= 0:
        return []
    table = model._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
            sequence = cursor.fetchone()[0]
            cursor.execute(
                "SELECT min(v), max(v), CASE WHEN max(v) - min(v) + 1 = count(*) THEN NULL "
                "ELSE array_agg(v ORDER BY v) END "
                "FROM (SELECT nextval(%s::regclass) AS v FROM generate_series(1, %s)) AS s",
                [sequence, n],
            )
            low, high, values = cursor.fetchone()
            return range(low, high + 1) if values is None else list(values)
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")
        top = cursor.fetchone()[0]
        cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
        row = cursor.fetchone()
        if row and row[0] and row[0] > top:
            top = row[0]
    return range(top + 1, top + n + 1)


# --- COPY in text format ------------------------------------------------------------------------------
#
# Rows are rendered to COPY text in Python (one converter per column, C-level join), so the rendering
# can happen before the transaction that writes them (sales.services._chunks_post renders a chunk
# while the previous one is being written) and the write itself is a single send.

NULL = "\\N"
_SPECIAL = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _text(value) -> str:
    if value is None:
        return NULL
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.translate(_SPECIAL)
    return value


def _plain_or_null(value) -> str:
    return NULL if value is None else str(value)


def copy_field(value) -> str:
    """One value as a COPY text field (slow path: for values shared by many rows, or rare ones)."""
    if value is None:
        return NULL
    if isinstance(value, str):
        return _text(value)
    return str(value)


class Rendered(bytes):
    """Rows already rendered to COPY text (PostgreSQL), ready for insert_rows / copy_to_temp."""


def render(kinds: tuple[str, ...], rows: list[tuple]) -> Rendered:
    """Rows → COPY text. kinds, per column: "plain" (int, Decimal, date: never None), "plain?" (may be None),
    "text" (str, escaped; may be None) or "time" (datetime; may be None).
    """
    times: dict[int, str] = {}  # str(datetime) is slow; a receipt's rows share one datetime object

    def time_text(value) -> str:
        if value is None:
            return NULL
        text = times.get(id(value))
        if text is None:
            text = times[id(value)] = str(value)
        return text

    by_kind = {"plain": str, "plain?": _plain_or_null, "text": _text, "time": time_text}
    converters = [by_kind[kind] for kind in kinds]
    call = operator.call
    # Every value is alive until the join ends, so id() keys cannot be reused by another datetime.
    lines = ["\t".join(map(call, converters, row)) for row in rows]
    lines.append("")
    return Rendered("\n".join(lines).encode())


def model_kinds(model, columns: tuple[str, ...]) -> tuple[str, ...]:
    """The render() kind of each column of a model's table."""
    by_column = {f.column: f for f in model._meta.concrete_fields}
    kinds = []
    for column in columns:
        field = by_column[column]
        internal = field.get_internal_type()
        if internal in ("CharField", "TextField"):
            kinds.append("text")
        elif internal == "DateTimeField":
            kinds.append("time")
        else:
            kinds.append("plain?" if field.null else "plain")
    return tuple(kinds)


def insert_rows(model, columns: tuple[str, ...], rows: list[tuple] | Rendered) -> None:
    """Append rows: COPY on PostgreSQL (psycopg 3), executemany elsewhere.

    rows: Python values of the columns' types (int, Decimal, str, date, aware datetime, None), or
    (PostgreSQL) the same rows already rendered by render(model_kinds(model, columns), rows).
    """
    if not rows:
        return
    table = model._meta.db_table
    if connection.vendor == "postgresql":
        data = rows if isinstance(rows, Rendered) else render(model_kinds(model, columns), rows)
        # wrap_database_errors: a unique or foreign key violation surfaces as django.db.IntegrityError, as
        # it would from cursor.execute (psycopg's own copy() bypasses Django's wrapper).
        with (
            connection.wrap_database_errors,
            connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            copy.write(data)
        return
    by_column = {f.column: f for f in model._meta.concrete_fields}
    fields = [by_column[c] for c in columns]
    prepared = [tuple(f.get_db_prep_save(v, connection) for f, v in zip(fields, row, strict=True)) for row in rows]
    placeholders = ", ".join(["%s"] * len(columns))
    with connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})", prepared)


def copy_to_temp(name: str, columns: tuple[tuple[str, str], ...], data: Rendered) -> None:
    """Fill a session temp table (PostgreSQL) with rendered rows, for one set-based statement to read.

    The table is created on first use and emptied here and at every commit (ON COMMIT DELETE ROWS).
    columns: (name, PostgreSQL type) pairs.
    """
    spec = ", ".join(f"{column} {kind}" for column, kind in columns)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {name} ({spec}) ON COMMIT DELETE ROWS")
        cursor.execute(f"TRUNCATE {name}")
        names = ", ".join(column for column, _ in columns)
        with connection.wrap_database_errors, cursor.cursor.copy(f"COPY {name} ({names}) FROM STDIN") as copy:
            copy.write(data)


def stock_level_costs_lock(*, pairs: Iterable[tuple[int, int]]) -> dict[tuple[int, int], Decimal]:
    """Create missing stock levels, lock them in (store, product) order; (store, product) → average cost.

    The same guarantee as inventory.services.stock_levels_lock, without building a model per level.
    Call inside atomic().
    """
    wanted = sorted(set(pairs))
    if not wanted:
        return {}
    if connection.vendor != "postgresql":
        return {pair: level.average_cost for pair, level in stock_levels_lock(pairs=wanted).items()}
    stores = [s for s, _ in wanted]
    products = [p for _, p in wanted]
    table = StockLevel._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT l.store_id, l.product_id FROM {table} l "
            "JOIN unnest(%s::bigint[], %s::bigint[]) AS w(store_id, product_id) USING (store_id, product_id)",
            [stores, products],
        )
        existing = set(cursor.fetchall())
        missing = [StockLevel(store_id=s, product_id=p) for s, p in wanted if (s, p) not in existing]
        if missing:
            # ignore_conflicts: a concurrent request may create the same level; both then lock the one row.
            StockLevel.objects.bulk_create(missing, ignore_conflicts=True, batch_size=2000)
        cursor.execute(
            f"SELECT l.store_id, l.product_id, l.average_cost FROM {table} l "
            "JOIN unnest(%s::bigint[], %s::bigint[]) AS w(store_id, product_id) USING (store_id, product_id) "
            "ORDER BY l.store_id, l.product_id FOR UPDATE OF l",
            [stores, products],
        )
        return {(s, p): cost for s, p, cost in cursor.fetchall()}


def stock_level_costs_read(*, pairs: Iterable[tuple[int, int]]) -> dict[tuple[int, int], Decimal | None]:
    """(store, product) → average cost as it stands, without a lock (None: no stock level yet).

    For building rows ahead of the transaction that writes them, which checks the costs again under
    stock_level_costs_lock.
    """
    wanted = sorted(set(pairs))
    costs: dict[tuple[int, int], Decimal | None] = dict.fromkeys(wanted)
    if not wanted:
        return costs
    table = StockLevel._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT l.store_id, l.product_id, l.average_cost FROM {table} l "
            "JOIN unnest(%s::bigint[], %s::bigint[]) AS w(store_id, product_id) USING (store_id, product_id)",
            [[s for s, _ in wanted], [p for _, p in wanted]],
        )
        for store_id, product_id, cost in cursor.fetchall():
            costs[(store_id, product_id)] = cost
    return costs


def stock_levels_add(*, deltas: dict[tuple[int, int], Decimal], now) -> None:
    """on_hand = on_hand + delta for levels the caller has locked (the SQL of F("on_hand") + delta)."""
    rows = [(s, p, delta) for (s, p), delta in sorted(deltas.items()) if delta]
    if not rows:
        return
    table = StockLevel._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"UPDATE {table} l SET on_hand = l.on_hand + d.delta, updated_at = %s "
                "FROM unnest(%s::bigint[], %s::bigint[], %s::numeric[]) AS d(store_id, product_id, delta) "
                "WHERE l.store_id = d.store_id AND l.product_id = d.product_id",
                [now, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]],
            )
        else:
            cursor.executemany(
                f"UPDATE {table} SET on_hand = on_hand + %s, updated_at = %s WHERE store_id = %s AND product_id = %s",
                [(delta, now, s, p) for s, p, delta in rows],
            )


def points_balances_add(*, deltas: dict[int, int]) -> None:
    """points_balance = points_balance + delta for customers the caller has locked."""
    from customers.models import Customer

    rows = [(pk, delta) for pk, delta in sorted(deltas.items()) if delta]
    if not rows:
        return
    table = Customer._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"UPDATE {table} c SET points_balance = c.points_balance + d.delta "
                "FROM unnest(%s::bigint[], %s::bigint[]) AS d(id, delta) WHERE c.id = d.id",
                [[r[0] for r in rows], [r[1] for r in rows]],
            )
        else:
            cursor.executemany(
                f"UPDATE {table} SET points_balance = points_balance + %s WHERE id = %s",
                [(delta, pk) for pk, delta in rows],
            )
