"""Set-based writes of sales' rows for posting many receipts in one transaction (sales.services.receipts_post).

PostgreSQL: ids reserved from the sequences in one statement, and points balances moved with one statement
over unnest() arrays; the rows themselves go out with the COPY machinery of inventory.bulk, which also owns
every write of stock movements and stock levels. SQLite (where the writer holds the database lock for the
whole transaction) gets the same rows with executemany. Nothing here validates: callers pass rows that are
already checked.
"""

from __future__ import annotations

from django.db import connection

from customers.models import Customer

# The COPY machinery lives with the stock ledger's bulk writer (inventory.bulk); sales' own tables use it too.
from inventory.bulk import NULL, Rendered, copy_field, copy_to_temp, insert_objects, insert_rows, model_kinds, render

__all__ = [
    "NULL",
    "Rendered",
    "allocate_ids",
    "copy_field",
    "copy_to_temp",
    "insert_objects",
    "insert_rows",
    "model_kinds",
    "points_balances_add",
    "render",
]


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


def points_balances_add(*, deltas: dict[int, int]) -> None:
    """points_balance = points_balance + delta for customers the caller has locked."""

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
