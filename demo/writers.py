"""The demo chain's set-based writes: buffered executemany (SQLite) / COPY (PostgreSQL) per table, the ids
they take, and the end of the load (stock levels, points balances, sequences, SQLite's indexes).

Every write of the stock ledger (stock movements and stock levels) goes through stock_ledger_write.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
from django.core.management.color import no_style
from django.db import connection, transaction

from customers.models import Customer, PointsEntry
from inventory.bulk import stock_levels_create, stock_movements_load
from inventory.models import (
    GoodsReceipt,
    GoodsReceiptLine,
    PurchaseOrder,
    PurchaseOrderLine,
    StockCount,
    StockCountLine,
    StockMovement,
)
from sales.models import Sale, SaleLine

# --- set-based writers ----------------------------------------------------------------------------


class _Writer:
    """Buffered inserts into one table: executemany on SQLite, COPY on PostgreSQL.

    Rows carry the given fields in order; every other concrete column gets its model default
    (auto_now / auto_now_add columns get the load's timestamp).
    """

    def __init__(self, loader: _Writers, model, fields: list[str]):
        meta = model._meta
        given = [meta.get_field(name) for name in fields]
        names = {f.name for f in given}
        rest = [f for f in meta.concrete_fields if f.name not in names]
        self.loader = loader
        self.model = model
        self.count = 0
        self.rows: list[tuple] = []
        self.defaults = tuple(loader.default_for(f) for f in rest)
        columns = [f.column for f in given] + [f.column for f in rest]
        self.columns = columns
        table = connection.ops.quote_name(meta.db_table)
        cols = ", ".join(connection.ops.quote_name(c) for c in columns)
        if loader.postgres:
            self.sql = f"COPY {table} ({cols}) FROM STDIN"
        else:
            self.sql = f"INSERT INTO {table} ({cols}) VALUES ({', '.join(['?'] * len(columns))})"

    def add(self, rows) -> None:
        if self.defaults:
            d = self.defaults
            self.rows.extend(r + d for r in rows)
        else:
            self.rows.extend(rows)
        if len(self.rows) >= self.loader.config.chunk_rows:
            self.loader.flush_all()

    def flush(self) -> None:
        if not self.rows:
            return
        rows, self.rows = self.rows, []
        self.count += len(rows)
        if self.model is StockMovement:
            stock_ledger_write(writer=self, movements=rows)
        else:
            self.write(rows)

    def write(self, rows: list[tuple]) -> None:
        if self.loader.postgres:
            with connection.cursor() as cursor, cursor.cursor.copy(self.sql) as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            connection.connection.executemany(self.sql, rows)


def stock_ledger_write(*, writer: _Writer | None = None, movements: list[tuple] = (), levels: list[tuple] = ()) -> None:
    """Every write the demo makes to the stock ledger goes through inventory's bulk service (its one writer).

    movements: a chunk of StockMovement rows in writer.columns order (the movement writer's flush). levels: at the
    end of the load, (store_id, product_id, on_hand, average_cost, min_qty, max_qty) per store × product, on_hand
    being Σ of the movements written for it (the simulation's book stock).
    """
    if movements:
        stock_movements_load(columns=writer.columns, rows=movements)
    if levels:
        stock_levels_create(rows=levels)


class _Writers:
    """The loader's writers and the values they write (a mixin of demo.load._Loader)."""

    # values -----------------------------------------------------------------------------------
    def ts_value(self, epoch: int) -> str:
        text = datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%d %H:%M:%S")
        return text + "+00:00" if self.postgres else text

    def ts_values(self, epochs: np.ndarray) -> list[str]:
        text = np.datetime_as_string(np.asarray(epochs, dtype="datetime64[s]"), unit="s").tolist()
        suffix = "+00:00" if self.postgres else ""
        return [t.replace("T", " ") + suffix for t in text]

    def default_for(self, f):
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            return self.now_value
        value = f.get_default()
        if isinstance(value, Decimal):
            return float(value)
        return value

    def next_id(self, model) -> int:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT MAX(id) FROM {connection.ops.quote_name(model._meta.db_table)}")
            return (cursor.fetchone()[0] or 0) + 1

    def fast_postgres(self) -> None:
        """Skip per-row foreign-key triggers during the load when allowed (superuser): the generator
        writes consistent keys, and RI checks would dominate a ten-million-line load."""
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET LOCAL session_replication_role = replica")
        except Exception:
            self.notes.append("foreign-key triggers stayed on (not a superuser): the load is slower")
        else:
            self.notes.append("PostgreSQL: foreign-key triggers were paused during the load (keys are consistent)")

    # writers ----------------------------------------------------------------------------------
    def writers(self) -> None:
        self.w_sale = _Writer(
            self,
            Sale,
            [
                "id",
                "store",
                "pos_reference",
                "occurred_at",
                "local_date",
                "customer",
                "kind",
                "original",
                "payment_method",
                "total",
                "discount_total",
                "cost_total",
                "points_earned",
                "points_redeemed",
                "content_hash",
                "created_at",
            ],
        )
        self.w_line = _Writer(
            self,
            SaleLine,
            [
                "id",
                "sale",
                "line_no",
                "product",
                "quantity",
                "unit_mrp",
                "unit_price",
                "price_type",
                "discount",
                "unit_cost",
                "line_total",
            ],
        )
        self.w_move = _Writer(
            self,
            StockMovement,
            [
                "id",
                "store",
                "product",
                "quantity",
                "kind",
                "unit_cost",
                "source_type",
                "source_id",
                "occurred_at",
                "recorded_at",
                "user",
                "reason",
            ],
        )
        self.w_points = _Writer(
            self,
            PointsEntry,
            [
                "id",
                "customer",
                "kind",
                "points",
                "store",
                "source_type",
                "source_id",
                "occurred_at",
                "expires_at",
                "note",
            ],
        )
        self.w_po = _Writer(
            self,
            PurchaseOrder,
            [
                "id",
                "supplier",
                "store",
                "status",
                "reference",
                "expected_date",
                "created_by",
                "created_at",
                "ordered_at",
                "approved_by",
                "paid_at",
                "amount_paid",
            ],
        )
        self.w_pol = _Writer(
            self, PurchaseOrderLine, ["id", "order", "product", "quantity_ordered", "quantity_received", "unit_cost"]
        )
        self.w_gr = _Writer(self, GoodsReceipt, ["id", "order", "received_at", "received_by", "note"])
        self.w_grl = _Writer(self, GoodsReceiptLine, ["id", "receipt", "order_line", "quantity", "unit_cost"])
        self.w_count = _Writer(
            self,
            StockCount,
            [
                "id",
                "store",
                "scope",
                "category",
                "status",
                "note",
                "created_by",
                "created_at",
                "submitted_by",
                "submitted_at",
                "approved_by",
                "reconciled_at",
            ],
        )
        self.w_cline = _Writer(
            self,
            StockCountLine,
            [
                "id",
                "count",
                "product",
                "counted_qty",
                "counted_at",
                "counted_by",
                "expected_qty",
                "unit_cost",
                "variance",
                "variance_value",
                "needs_recount",
                "first_count_qty",
                "reason",
                "note",
            ],
        )
        self.all_writers = [
            self.w_sale,
            self.w_line,
            self.w_move,
            self.w_points,
            self.w_po,
            self.w_pol,
            self.w_gr,
            self.w_grl,
            self.w_count,
            self.w_cline,
        ]
        self.ids = {w.model: self.next_id(w.model) for w in self.all_writers}

    def flush_all(self) -> None:
        """Flush every table, parents before children: SQLite then never holds a pending deferred
        foreign-key violation, which would make each parent insert scan its (unindexed) children."""
        for writer in self.all_writers:
            writer.flush()

    def take_ids(self, model, n: int) -> np.ndarray:
        first = self.ids[model]
        self.ids[model] = first + n
        return np.arange(first, first + n, dtype=np.int64)

    def move_rows(self, ids, series, qty, kind, cost4, source_type, source_ids, times, user_id, reasons):
        """Stock movements; book stock is changed by the caller."""
        self.w_move.add(
            zip(
                ids.tolist(),
                self.store_ids[self.s_of[series]].tolist(),
                self.product_ids[self.p_of[series]].tolist(),
                np.asarray(qty).tolist(),
                [kind] * len(ids),
                (np.asarray(cost4) / 10000).tolist(),
                [source_type] * len(ids),
                source_ids if isinstance(source_ids, list) else np.asarray(source_ids).tolist(),
                times,
                times,
                [user_id] * len(ids),
                reasons,
                strict=True,
            )
        )

    # finish -----------------------------------------------------------------------------------
    def finish(self) -> None:
        self.flush_all()
        rop, out = self.levels()
        # Reorder point and order-up-to level: the home page alerts on stock at or below min_qty.
        now = self.now_value
        rows = [
            (
                int(self.store_ids[self.s_of[i]]),
                int(self.product_ids[self.p_of[i]]),
                int(self.book[i]),
                float(self.avg4[i] / 10000),
                int(rop[i]),
                int(out[i]),
                now,
            )
            for i in range(self.N)
        ]
        stock_ledger_write(levels=[(a, b, c, Decimal(str(d)), e, f) for a, b, c, d, e, f, _ in rows])
        if self.C:
            with connection.cursor() as cursor:
                cursor.executemany(
                    f"UPDATE {Customer._meta.db_table} SET points_balance = %s WHERE id = %s",
                    [(int(b), int(i)) for b, i in zip(self.balance, self.customer_ids, strict=True) if b],
                )
        if self.postgres:
            models = [w.model for w in self.all_writers]
            with connection.cursor() as cursor:
                for sql in connection.ops.sequence_reset_sql(no_style(), models):
                    cursor.execute(sql)


# Bulk tables whose secondary indexes SQLite builds faster in one sort after the load than row by row.
BULK_MODELS = (Sale, SaleLine, StockMovement, PointsEntry, StockCountLine, PurchaseOrderLine, GoodsReceiptLine)


def _sqlite_indexes_drop() -> list[str]:
    """Drop the named (CREATE INDEX) indexes of the bulk tables; returns the SQL to recreate them."""
    tables = [m._meta.db_table for m in BULK_MODELS]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            f"AND tbl_name IN ({', '.join(['%s'] * len(tables))})",
            tables,
        )
        found = cursor.fetchall()
        for name, _sql in found:
            cursor.execute(f"DROP INDEX {connection.ops.quote_name(name)}")
    return [sql for _name, sql in found]


def _sqlite_indexes_restore(statements: list[str]) -> None:
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)
