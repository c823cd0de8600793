"""BI access (issue 20 §3): the bi schema's role reads every bi view and nothing else; bi_setup is idempotent and
refuses what it must; on SQLite it says BI access needs PostgreSQL; bi_export writes Parquet that reads back.

The role tests connect AS the BI role with psycopg, so they need committed data (transactional_db). Roles are
cluster-wide: each test makes a role with a name of its own and drops it at the end.
"""

import base64
import hashlib
import hmac
import secrets
from datetime import timedelta
from decimal import Decimal

import psycopg
import pyarrow.parquet as pq
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from customers.tests.factories import CustomerFactory
from inventory.models import StockLevel
from inventory.tests.factories import ProductFactory, StoreFactory
from reports import bi
from reports.filters import Filters
from reports.selectors import inventory_overview, sales_totals
from sales.tests.factories import post_sale

PII = {"name": "Priya Personal-Name", "phone": "+44 7700 900123", "email": "priya.private@example.com"}


def _shop():
    """A store, a product with stock, a customer with personal data who bought it today."""
    store = StoreFactory(code="BI1", name="BI Street")
    product = ProductFactory(sku="BI-TEA", mrp=Decimal("4.00"), dp=Decimal("3.50"), cost_price=Decimal("2.00"))
    StockLevel.objects.create(store=store, product=product, on_hand=Decimal("10"), average_cost=Decimal("2.0000"))
    customer = CustomerFactory(code="CARD-1", home_store=store, **PII)
    post_sale(store=store, lines=[(product, 3, None)], customer=customer)
    return store, product, customer


@pytest.fixture
def bi_role(require_postgres):
    """A role name unique to this test (xdist runs tests in parallel), dropped at the end."""
    role = f"retailops_bi_test_{secrets.token_hex(4)}"
    yield role
    bi.drop_role(role)


def as_role(role: str, password: str) -> psycopg.Connection:
    s = connection.settings_dict
    return psycopg.connect(
        host=s["HOST"] or "127.0.0.1",
        port=s["PORT"] or 5432,
        dbname=s["NAME"],
        user=role,
        password=password,
        autocommit=True,
    )


def refused(conn: psycopg.Connection, sql: str) -> bool:
    """Whether the role is refused `sql` for want of rights (read-only session switched off first, so only the
    grants can refuse it). A write into a bi view may also be refused because the view cannot take one: the
    test checks the grants on the views as well."""
    try:
        with conn.transaction():
            conn.execute("SET LOCAL transaction_read_only = off")
            conn.execute(sql)
    except (psycopg.errors.InsufficientPrivilege, psycopg.errors.ObjectNotInPrerequisiteState):
        return True
    return False


def scram_matches(verifier: str, password: str) -> bool:
    """Whether a SCRAM-SHA-256 verifier from pg_authid was made from `password` (RFC 5802 / 7677): the local
    server trusts every connection, so logging in with a wrong password would prove nothing."""
    method, rest = verifier.split("$", 1)
    iterations_salt, keys = rest.split("$")
    iterations, salt = iterations_salt.split(":")
    stored_key, server_key = keys.split(":")
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    return (
        method == "SCRAM-SHA-256"
        and base64.b64encode(hashlib.sha256(client_key).digest()).decode() == stored_key
        and base64.b64encode(hmac.new(salted, b"Server Key", "sha256").digest()).decode() == server_key
    )


def verifier(role: str) -> str:
    with connection.cursor() as cur:
        cur.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", [role])
        return cur.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_the_bi_role_reads_every_view_and_nothing_else(bi_role):
    store, product, customer = _shop()
    call_command("bi_setup", "--role", bi_role, "--password", "first-pass-1", stdout=open("/dev/null", "w"))
    with as_role(bi_role, "first-pass-1") as conn:
        for table in bi.TABLES:  # every view, every documented column, in order
            cur = conn.execute(f"SELECT * FROM bi.{table.name}")
            assert [d.name for d in cur.description] == [col.name for col in table.columns], table.name
            rows = cur.fetchall()
            # No personal value comes out of any view, whatever the column.
            text = repr(rows)
            assert not any(value in text for value in PII.values()), table.name
        assert conn.execute("SELECT customer_code, net_spend FROM customers").fetchall() == [
            ("CARD-1", Decimal("12.00"))
        ]  # search_path is bi
        # Not the application's tables, not through the public schema, not the customers' personal columns.
        for sql in (
            "SELECT * FROM public.auth_user",
            "SELECT name, phone, email FROM public.customers_customer",
            "SELECT * FROM public.sales_sale",
            "SELECT * FROM public.sales_salesdaily",
            "SELECT * FROM public.inventory_stocklevel",
        ):
            assert refused(conn, sql), sql
        with pytest.raises(psycopg.errors.UndefinedColumn):
            conn.execute("SELECT name FROM bi.customers")
        # Nothing written, nothing created.
        for sql in (
            "INSERT INTO bi.stores (store_id, store_code, store_name) VALUES (999, 'X', 'X')",
            f"UPDATE bi.stores SET store_name = 'X' WHERE store_id = {store.pk}",
            f"DELETE FROM bi.products WHERE product_id = {product.pk}",
            "CREATE TABLE bi.mine (x int)",
            "CREATE TABLE public.mine (x int)",
            "CREATE VIEW bi.mine AS SELECT 1 AS x",
            "CREATE TEMPORARY TABLE mine (x int)",
            "CREATE SCHEMA mine",
            "UPDATE public.customers_customer SET name = 'X'",
            "DROP VIEW bi.stores",
        ):
            assert refused(conn, sql), sql
        for table in bi.TABLES:  # SELECT, and no other right, on every view
            rights = conn.execute(
                "SELECT has_table_privilege(%s, 'SELECT'), has_table_privilege(%s, 'INSERT, UPDATE, DELETE, "
                "TRUNCATE, REFERENCES, TRIGGER')",
                [f"bi.{table.name}", f"bi.{table.name}"],
            ).fetchone()
            assert rights == (True, False), table.name
        assert conn.execute("SELECT has_database_privilege(current_database(), 'CREATE, TEMPORARY')").fetchone() == (
            False,
        )
    customer.refresh_from_db()
    assert customer.name == PII["name"]


@pytest.mark.django_db(transaction=True)
def test_bi_setup_twice_is_idempotent_and_applies_a_changed_password(bi_role, monkeypatch):
    _shop()
    out = open("/dev/null", "w")
    call_command("bi_setup", "--role", bi_role, "--password", "first-pass-1", stdout=out)
    first = verifier(bi_role)
    assert scram_matches(first, "first-pass-1")
    monkeypatch.setenv("RETAILOPS_BI_PASSWORD", "second-pass-2")
    call_command("bi_setup", "--role", bi_role, stdout=out)  # again, the password from the environment
    second = verifier(bi_role)
    assert scram_matches(second, "second-pass-2") and not scram_matches(second, "first-pass-1")
    with connection.cursor() as cur:
        cur.execute("SELECT table_name FROM information_schema.views WHERE table_schema = 'bi' ORDER BY 1")
        assert [r[0] for r in cur.fetchall()] == sorted(bi.BY_NAME)
    with as_role(bi_role, "second-pass-2") as conn:  # the grants survived the rebuild
        assert conn.execute("SELECT COUNT(*) FROM bi.stock_levels").fetchone() == (1,)
        assert refused(conn, "SELECT * FROM public.auth_user")


@pytest.mark.django_db
def test_every_view_and_column_is_commented(bi_role):
    bi.setup(role=bi_role, password="pw-comments-1")
    with connection.cursor() as cur:
        cur.execute(
            "SELECT c.relname, obj_description(c.oid, 'pg_class') FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'bi' AND c.relkind = 'v'"
        )
        views = dict(cur.fetchall())
        cur.execute(
            "SELECT c.relname, a.attname, col_description(c.oid, a.attnum) FROM pg_attribute a "
            "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'bi' AND a.attnum > 0"
        )
        columns = cur.fetchall()
    assert set(views) == set(bi.BY_NAME) and all(views.values())
    assert len(columns) == sum(len(t.columns) for t in bi.TABLES)
    assert [(v, c) for v, c, comment in columns if not comment] == []


@pytest.mark.django_db
def test_bi_setup_refuses_a_role_without_password_or_the_applications_own_user(bi_role, monkeypatch):
    monkeypatch.delenv("RETAILOPS_BI_PASSWORD", raising=False)
    with pytest.raises(CommandError, match="needs a password"):
        call_command("bi_setup", "--role", bi_role)
    with pytest.raises(CommandError, match="application's own database user"):
        call_command("bi_setup", "--role", connection.settings_dict["USER"] or "postgres", "--password", "x1")
    with connection.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [bi_role])
        assert cur.fetchone() is None


@pytest.mark.django_db
def test_on_sqlite_bi_setup_says_bi_access_needs_postgresql():
    if connection.vendor != "sqlite":
        pytest.skip("the SQLite message (this run is on PostgreSQL)")
    with pytest.raises(CommandError, match="BI access needs PostgreSQL"):
        call_command("bi_setup", "--password", "any-pass-1")


@pytest.mark.django_db
def test_bi_export_writes_parquet_that_reads_back_as_the_pages_figures(tmp_path):
    store, product, customer = _shop()
    other = ProductFactory(sku="BI-MUG", mrp=Decimal("9.00"), dp=Decimal("8.00"), cost_price=Decimal("3.33"))
    StockLevel.objects.create(store=store, product=other, on_hand=Decimal("3"), average_cost=Decimal("3.3333"))
    post_sale(store=store, lines=[(other, 1, None)])
    call_command("bi_export", str(tmp_path), stdout=open("/dev/null", "w"))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{n}.parquet" for n in bi.BY_NAME)
    today = timezone.localdate()
    f = Filters(period="custom", start=today - timedelta(days=30), end=today, stores=[store])
    totals = sales_totals(f, f.start, f.end)
    sales = pq.read_table(tmp_path / "sales_daily.parquet").to_pylist()
    assert sum(r["revenue"] for r in sales) == totals["revenue"] == Decimal("21.00")
    assert sum(r["cost"] for r in sales) == totals["cost"]
    days = pq.read_table(tmp_path / "store_daily.parquet").to_pylist()
    assert sum(r["receipts"] for r in days) == totals["transactions"] == 2
    stock = pq.read_table(tmp_path / "stock_levels.parquet")
    assert stock.num_rows == 2
    # 7 × 2.0000 + 2 × 3.3333 = 14.00 + 6.67 (each line to the penny, as the inventory page rounds)
    value = sum(r["value_at_cost"] for r in stock.to_pylist())
    assert value == inventory_overview(f)["total"]["value"] == Decimal("20.67")
    assert stock.schema.field("value_at_cost").metadata[b"comment"].startswith(b"on_hand")
    [row] = pq.read_table(tmp_path / "customers.parquet").to_pylist()
    assert (row["customer_code"], row["net_spend"], row["purchase_days"]) == ("CARD-1", Decimal("12.00"), 1)
    assert not set(row) & {"name", "phone", "email"} and PII["name"] not in repr(row)
    moves = pq.read_table(tmp_path / "stock_movements.parquet").to_pylist()
    # the two sales' movements (the stock levels above were set directly, without an opening entry)
    assert sorted(r["quantity"] for r in moves) == [Decimal("-3"), Decimal("-1")]
    assert {r["local_date"] for r in moves} == {today}
