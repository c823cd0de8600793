"""The daily rollups (SalesDaily, StoreDaily): incremental deltas and a full, set-based rebuild.

Incremental: each posted receipt adds its deltas with INSERT … ON CONFLICT DO UPDATE, which is
atomic under concurrency on PostgreSQL and SQLite alike. Rebuild: delete the scope and recompute
it from the sale lines in one INSERT … SELECT. A test checks that both give the same table.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from django.db import connection, transaction
from django.utils import timezone

from .bulk import copy_to_temp, render
from .models import RollupChange, SalesDaily, StoreDaily

SALES_DAILY_SUMS = (
    "units",
    "revenue",
    "cost",
    "discount",
    "units_mrp",
    "revenue_mrp",
    "returns_units",
    "returns_value",
    "transactions",
)
STORE_DAILY_SUMS = ("transactions", "revenue", "cost", "discount", "units", "returns_value", "customers")


def _upsert(table: str, keys: tuple[str, ...], sums: tuple[str, ...], rows: list[tuple]) -> None:
    if not rows:
        return
    columns = keys + sums
    placeholders = ", ".join(["%s"] * len(columns))
    updates = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in sums)
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders}) "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"
    )
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def log_changed_days(days: Iterable[date]) -> None:
    """Log the closed days (before today) among `days` whose rollups the current transaction changes.

    Part of the writer's transaction, so the dashboards' cached sums for those days go stale exactly when
    the change becomes visible (see reports.selectors._fingerprint). Append-only: no row is locked.
    """
    today = timezone.localdate()
    past = sorted({d for d in days if d < today})
    if past:
        now = timezone.now()
        RollupChange.objects.bulk_create([RollupChange(date=d, logged_at=now) for d in past])


def sales_daily_add(rows: Iterable[tuple]) -> None:
    """rows: (store_id, product_id, date, *SALES_DAILY_SUMS) deltas, sorted to keep lock order stable.
    The caller logs the days (log_changed_days)."""
    _upsert(SalesDaily._meta.db_table, ("store_id", "product_id", "date"), SALES_DAILY_SUMS, sorted(rows))


def store_daily_add(rows: Iterable[tuple]) -> None:
    """rows: (store_id, date, payment_method, *STORE_DAILY_SUMS) deltas."""
    _upsert(StoreDaily._meta.db_table, ("store_id", "date", "payment_method"), STORE_DAILY_SUMS, sorted(rows))


# Staging of the deltas on PostgreSQL: (table, keys, key types, key render kinds, sums).
_SALES_DAILY_STAGE = (
    SalesDaily._meta.db_table,
    ("store_id", "product_id", "date"),
    ("bigint", "bigint", "date"),
    ("plain", "plain", "plain"),
    SALES_DAILY_SUMS,
)
_STORE_DAILY_STAGE = (
    StoreDaily._meta.db_table,
    ("store_id", "date", "payment_method"),
    ("bigint", "date", "text"),
    ("plain", "plain", "text"),
    STORE_DAILY_SUMS,
)


def rollups_add_deltas(
    *, sales_daily: dict[tuple, list] | bytes, store_daily: dict[tuple, list] | bytes, days: Iterable[date]
) -> None:
    """Add deltas already summed per rollup row (the incremental refresh of the set-based posting path).

    sales_daily: (store_id, product_id, date) → SALES_DAILY_SUMS; store_daily: (store_id, date,
    payment_method) → STORE_DAILY_SUMS — or, on PostgreSQL, both as rollups_deltas_render() made them.
    The caller sums exactly what rollups_rebuild would read from the rows it wrote (sales.services).
    PostgreSQL: the deltas are staged by COPY and upserted in key order (a stable lock order) by one
    INSERT … SELECT … ON CONFLICT per table. days: the local days the deltas fall on (logged when closed).
    """
    if connection.vendor != "postgresql":
        sales_daily_add((*key, *sums) for key, sums in sales_daily.items())
        store_daily_add((*key, *sums) for key, sums in store_daily.items())
    else:
        for stage, deltas in ((_SALES_DAILY_STAGE, sales_daily), (_STORE_DAILY_STAGE, store_daily)):
            if deltas:
                _upsert_staged(stage, deltas if isinstance(deltas, bytes) else _render(stage, deltas))
    log_changed_days(days)


def rollups_deltas_render(*, sales_daily: dict[tuple, list], store_daily: dict[tuple, list]) -> tuple[bytes, bytes]:
    """PostgreSQL: the deltas rendered for staging ahead of the transaction that adds them."""
    return _render(_SALES_DAILY_STAGE, sales_daily), _render(_STORE_DAILY_STAGE, store_daily)


def _render(stage, deltas: dict[tuple, list]):
    _, _, _, key_kinds, sums = stage
    return render(key_kinds + ("plain",) * len(sums), [(*key, *values) for key, values in deltas.items()])


def _upsert_staged(stage, data) -> None:
    table, keys, key_types, _, sums = stage
    staging = f"ingest_{table}"
    types = key_types + tuple("bigint" if s in ("transactions", "customers") else "numeric" for s in sums)
    copy_to_temp(staging, tuple(zip(keys + sums, types, strict=True)), data)
    updates = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in sums)
    columns = ", ".join(keys + sums)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {staging} ORDER BY {', '.join(keys)} "
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"
        )


def _sales_daily_select(where: str) -> str:
    return f"""
        SELECT s.store_id, l.product_id, s.local_date,
               SUM(l.quantity),
               SUM(l.line_total),
               SUM(ROUND(l.quantity * l.unit_cost, 2)),
               SUM(l.discount),
               SUM(CASE WHEN l.price_type = 'mrp' THEN l.quantity ELSE 0 END),
               SUM(CASE WHEN l.price_type = 'mrp' THEN l.line_total ELSE 0 END),
               SUM(CASE WHEN s.kind = 'return' THEN -l.quantity ELSE 0 END),
               SUM(CASE WHEN s.kind = 'return' THEN -l.line_total ELSE 0 END),
               COUNT(DISTINCT CASE WHEN s.kind = 'sale' THEN s.id END)
        FROM sales_saleline l JOIN sales_sale s ON s.id = l.sale_id
        {where}
        GROUP BY s.store_id, l.product_id, s.local_date
    """


def _store_daily_select(where: str) -> str:
    # Units per sale come from a sub-select limited by the same filter, so a partial refresh reads
    # only the lines of the sales it touches.
    return f"""
        SELECT s.store_id, s.local_date, s.payment_method,
               SUM(CASE WHEN s.kind = 'sale' THEN 1 ELSE 0 END),
               SUM(s.total),
               SUM(s.cost_total),
               SUM(s.discount_total),
               SUM(u.units),
               SUM(CASE WHEN s.kind = 'return' THEN -s.total ELSE 0 END),
               SUM(CASE WHEN s.kind = 'sale' AND s.customer_id IS NOT NULL THEN 1 ELSE 0 END)
        FROM sales_sale s
        JOIN (SELECT l.sale_id, SUM(l.quantity) AS units
              FROM sales_saleline l JOIN sales_sale s ON s.id = l.sale_id
              {where}
              GROUP BY l.sale_id) u
          ON u.sale_id = s.id
        {where}
        GROUP BY s.store_id, s.local_date, s.payment_method
    """


def rollups_rebuild(*, store_ids: Iterable[int] | None = None, dates: Iterable[date] | None = None) -> None:
    """Recompute the rollups from sale lines for the given stores / days (all when None). Atomic."""
    where, params = [], []
    if store_ids is not None:
        ids = sorted(set(store_ids))
        if not ids:
            return
        where.append(f"s.store_id IN ({', '.join(['%s'] * len(ids))})")
        params += ids
    if dates is not None:
        days = sorted(set(dates))
        if not days:
            return
        where.append(f"s.local_date IN ({', '.join(['%s'] * len(days))})")
        params += days
    sale_where = ("WHERE " + " AND ".join(where)) if where else ""
    delete_where = sale_where.replace("s.local_date", "date").replace("s.store_id", "store_id")
    sd, st = SalesDaily._meta.db_table, StoreDaily._meta.db_table
    scope = StoreDaily.objects.all()
    if store_ids is not None:
        scope = scope.filter(store_id__in=ids)
    if dates is not None:
        scope = scope.filter(date__in=days)

    def days_of() -> set[date]:
        return set(scope.values_list("date", flat=True).distinct())

    with transaction.atomic(), connection.cursor() as cursor:
        before = days_of()  # every sale day has a StoreDaily row: before ∪ after is every day changed
        cursor.execute(f"DELETE FROM {sd} {delete_where}", params)
        cursor.execute(f"DELETE FROM {st} {delete_where}", params)
        cursor.execute(
            f"INSERT INTO {sd} (store_id, product_id, date, {', '.join(SALES_DAILY_SUMS)}) "
            + _sales_daily_select(sale_where),
            params,
        )
        cursor.execute(
            f"INSERT INTO {st} (store_id, date, payment_method, {', '.join(STORE_DAILY_SUMS)}) "
            + _store_daily_select(sale_where),
            params + params,
        )
        log_changed_days(before | days_of())
