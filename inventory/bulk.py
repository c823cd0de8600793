"""The stock ledger's bulk writer: many movements and stock levels in one set-based pass (see inventory.services
for the single-row services). With inventory.services, the only code that writes stock movements and levels.

PostgreSQL: rows written with COPY (text format, rendered in Python, possibly ahead of the transaction), stock
levels locked in (store, product) order and moved with one statement over unnest() arrays. SQLite (where the
writer holds the database lock for the whole transaction) gets the same rows with executemany. Nothing here
validates: callers pass rows that are already checked. The invariant on_hand == Σ movements holds when the
movements appended and the deltas added in one transaction are the same quantities: stock_movements_bulk_post
derives the deltas from the rows itself; callers that must split the two (sales' file ingestion appends before
it locks) build both in one loop. The COPY machinery (render, insert_rows, copy_to_temp) is generic and serves
sales' own tables too.
"""

from __future__ import annotations

import operator
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal

from django.db import connection

from .models import StockLevel, StockMovement
from .services import MovementSpec, stock_levels_lock

ZERO = Decimal("0")


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
    lines = ["\t".join(map(call, converters, row)) for row in rows]  # type: ignore[arg-type]  # stubs: call's ParamSpec
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
    # Rendered rows come only on PostgreSQL (returned above): here rows is a list of tuples.
    prepared = [tuple(f.get_db_prep_save(v, connection) for f, v in zip(fields, row, strict=True)) for row in rows]  # type: ignore[arg-type]
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


def insert_objects(*objs, with_pk: bool = False) -> None:
    """INSERT model instances of one model as one statement, values prepared the way the ORM saves them."""
    if not objs:
        return
    opts = objs[0]._meta
    fields = [f for f in opts.concrete_fields if with_pk or not f.primary_key]
    values = [f.get_db_prep_save(f.pre_save(obj, True), connection) for obj in objs for f in fields]
    row = f"({', '.join(['%s'] * len(fields))})"
    connection.cursor().execute(
        f"INSERT INTO {opts.db_table} ({', '.join(connection.ops.quote_name(f.column) for f in fields)}) "
        f"VALUES {', '.join([row] * len(objs))}",
        values,
    )


# --- the stock ledger ------------------------------------------------------------------------------------

MOVEMENT_COLUMNS = (
    "store_id", "product_id", "quantity", "kind", "unit_cost", "source_type", "source_id", "occurred_at",
    "recorded_at", "user_id", "reason",
)  # fmt: skip


def stock_movements_append(*, rows: list[tuple] | Rendered, columns: tuple[str, ...] = MOVEMENT_COLUMNS) -> None:
    """Append movements to the ledger (COPY on PostgreSQL, executemany elsewhere), in the caller's transaction.

    rows: tuples in the order of columns, or (PostgreSQL) the same already rendered by render(). The caller
    moves the stock levels by the same quantities in the same transaction (stock_levels_add), or calls
    stock_movements_bulk_post, which does both. A source posted twice violates the ledger's unique
    (source_type, source_id, kind) constraint: IntegrityError.
    """
    insert_rows(StockMovement, columns, rows)


def stock_movements_bulk_post(*, rows: list[tuple], now, columns: tuple[str, ...] = MOVEMENT_COLUMNS) -> None:
    """Append movements and move their stock levels by the same quantities, atomically with the caller.

    The levels are created when missing and locked in (store, product) order before anything is written;
    on_hand moves by Σ quantity per store × product of the rows themselves, so on_hand == Σ movements holds
    by construction. rows: tuples in the order of columns (which must hold store_id, product_id, quantity).
    Call inside atomic().
    """
    if not rows:
        return
    s, p, q = columns.index("store_id"), columns.index("product_id"), columns.index("quantity")
    deltas: dict[tuple[int, int], Decimal] = defaultdict(Decimal)
    for row in rows:
        deltas[(row[s], row[p])] += Decimal(row[q])
    stock_level_costs_lock(pairs=deltas)
    stock_movements_append(rows=rows, columns=columns)
    stock_levels_add(deltas=deltas, now=now)


def stock_movements_insert(*, specs: list[MovementSpec], user=None) -> None:
    """Append movements given as MovementSpec in one INSERT (unit_cost and occurred_at must be set).

    For the single-receipt path, inside its batch of statements: the caller moved the levels by the same
    quantities (stock_levels_upsert_add) in the same transaction.
    """
    insert_objects(
        *(
            StockMovement(
                store_id=spec.store_id,
                product_id=spec.product_id,
                quantity=spec.quantity,
                kind=spec.kind,
                unit_cost=spec.unit_cost,  # type: ignore[misc]  # set by the caller (see the docstring)
                source_type=spec.source_type,
                source_id=spec.source_id,
                occurred_at=spec.occurred_at,
                user=user,
                reason=spec.reason[:200],
            )
            for spec in specs
        )
    )


def stock_levels_upsert_add(*, store_id: int, moves: dict[int, Decimal], now):
    """on_hand += moves[product] for one store, creating missing stock levels, in one statement.

    The upsert locks the rows in product order (the bulk path's lock order) and returns (product id,
    moving average cost) per row. Relative update: concurrent posts add up, nothing is read and written back.
    Returns the cursor, whose rows the caller reads (possibly after a pipeline of statements), or None.
    """
    if not moves:
        return None
    review_days = StockLevel._meta.get_field("review_period_days").default
    stamp = connection.ops.adapt_datetimefield_value(now)
    rows = [(store_id, product_id, delta, ZERO, review_days, stamp) for product_id, delta in sorted(moves.items())]
    table = StockLevel._meta.db_table
    cursor = connection.cursor()
    cursor.execute(
        f"INSERT INTO {table} (store_id, product_id, on_hand, average_cost, review_period_days, updated_at) "
        f"VALUES {', '.join(['(%s, %s, %s, %s, %s, %s)'] * len(rows))} "
        f"ON CONFLICT (store_id, product_id) DO UPDATE SET on_hand = {table}.on_hand + excluded.on_hand, "
        "updated_at = excluded.updated_at RETURNING product_id, average_cost",
        [value for row in rows for value in row],
    )
    return cursor


def stock_movements_load(*, columns: list[str], rows: list[tuple]) -> None:
    """Append movements of a fresh load (the demo chain) given as database-ready values in columns order:
    COPY row by row on PostgreSQL, the driver's executemany elsewhere. The loader keeps Σ quantity per store ×
    product and creates the levels with stock_levels_create at its end, in the same transaction."""
    if not rows:
        return
    table = connection.ops.quote_name(StockMovement._meta.db_table)
    cols = ", ".join(connection.ops.quote_name(c) for c in columns)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:
        placeholders = ", ".join(["?"] * len(columns))
        connection.connection.executemany(f"INSERT INTO {table} ({cols}) VALUES ({placeholders})", rows)


def stock_levels_create(*, rows: Iterable[tuple], batch_size: int = 2000) -> None:
    """Create stock levels of a fresh load whose movements were appended with stock_movements_append.

    rows: (store_id, product_id, on_hand, average_cost, min_qty, max_qty), on_hand being Σ of the movements
    appended for that store × product (the demo chain's loader keeps that sum as it writes them).
    """
    StockLevel.objects.bulk_create(
        [
            StockLevel(store_id=s, product_id=p, on_hand=q, average_cost=cost, min_qty=low, max_qty=high)
            for s, p, q, cost, low, high in rows
        ],
        batch_size=batch_size,
    )


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
