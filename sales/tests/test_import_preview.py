"""Imports never change master data behind the user's back (issue #15, defect 10).

A store is created only when the person importing asks for it; an upload is previewed first (what
would be posted and created, writing nothing), posted on confirmation, and summarised afterwards.
"""

from decimal import Decimal

import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import transaction
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from customers.models import Customer
from inventory.models import Product, Store
from inventory.tests.factories import PASSWORD, ProductFactory
from retailops.celery import app
from sales.models import ColumnMapping, ImportBatch, ImportRowError, Sale
from sales.services import import_batch_create, import_batch_preview, sales_import, sales_import_preview

pytestmark = pytest.mark.django_db

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
ROWS = [
    "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850,United Kingdom",
    "536365,71053,WHITE METAL LANTERN,6,12/1/2010 8:26,3.39,17850,United Kingdom",
    "536365,71053,WHITE METAL LANTERN,6,12/1/2010 8:26,3.39,17850,United Kingdom",  # exact duplicate line
    "536366,85123A,WHITE HANGING HEART T-LIGHT HOLDER,2,12/1/2010 9:01,2.95,,United Kingdom",
    "C536379,85123A,WHITE HANGING HEART T-LIGHT HOLDER,-1,12/1/2010 9:41,2.55,17850,United Kingdom",
    "536380,22423,REGENCY CAKESTAND 3 TIER,two,12/1/2010 9:45,12.75,13047,United Kingdom",
    "A563185,B,Adjust bad debt,1,8/12/2011 14:50,11062.06,,United Kingdom",
]
FILE = ("\n".join([HEADER, *ROWS]) + "\n").encode()


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def eager():
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def table_counts() -> dict[str, int]:
    """Rows in every table of the project (managed models), by model label."""
    return {
        model._meta.label: model._default_manager.count()
        for model in apps.get_models()
        if model._meta.managed and not model._meta.proxy
    }


def new_batch(content=FILE, *, options=None, store=None, actor=None, preview=False) -> ImportBatch:
    return import_batch_create(
        source=ImportBatch.Source.FILE,
        source_name="online-retail.csv",
        content=content,
        store=store,
        options=options,
        actor=actor,
        preview=preview,
    )


def test_a_mapping_that_asks_to_create_stores_is_not_obeyed():
    # Given the mapping row as migration 0003 saved it (create_stores: true; 0005 removes it), or as an
    # admin might set it again
    mapping = ColumnMapping.objects.get(name="Online Retail (UCI)")
    assert "create_stores" not in mapping.options
    mapping.options = {**mapping.options, "create_stores": True}
    mapping.save()
    stores = Store.objects.count()

    # When the Online Retail file is imported with default options
    batch = sales_import(batch_id=new_batch().pk)

    # Then no store is created, and every row is rejected with the reason
    assert batch.status == "done", batch.message
    assert Store.objects.count() == stores
    assert not Store.objects.filter(code="ONLINE").exists()
    assert (batch.rows_read, batch.rows_accepted, batch.rows_rejected, batch.rows_duplicate) == (7, 0, 6, 1)
    assert Sale.objects.count() == 0
    assert set(ImportRowError.objects.filter(batch=batch).values_list("message", flat=True)) >= {
        "unknown store “ONLINE” (the option create_stores is off)"
    }
    assert batch.stats["stores_missing"] == ["ONLINE"]
    # Nothing is created for receipts that are rejected anyway.
    assert (batch.stats["products_created"], batch.stats["customers_created"], batch.stats["stores_created"]) == (
        0,
        0,
        0,
    )


def test_a_store_is_created_when_the_importer_asks_and_the_summary_names_what_was_created():
    batch = sales_import(batch_id=new_batch(options={"create_stores": True}).pk)

    assert (batch.rows_read, batch.rows_accepted, batch.rows_rejected, batch.rows_duplicate) == (7, 4, 2, 1)
    assert Store.objects.get(code="ONLINE").name == "Online shop"
    stats = batch.stats
    assert (stats["stores_created"], stats["products_created"], stats["customers_created"]) == (1, 2, 1)
    assert stats["stores_created_sample"] == [["ONLINE", "Online shop"]]
    assert stats["products_created_sample"] == [
        ["71053", "WHITE METAL LANTERN", "3.39"],
        ["85123A", "WHITE HANGING HEART T-LIGHT HOLDER", "2.55"],
    ]
    assert stats["customers_created_sample"] == [["17850", "ONLINE", "2010-12-01"]]


def test_the_mapping_alone_cannot_switch_store_creation_on():
    mapping = ColumnMapping.objects.get(name="Online Retail (UCI)")
    mapping.options = {**mapping.options, "create_stores": True}
    mapping.save()

    batch = sales_import(batch_id=new_batch(options={"store_code": "WEB"}).pk)

    assert not Store.objects.filter(code="WEB").exists()
    assert batch.rows_accepted == 0


def test_a_preview_writes_nothing_and_reports_exact_counts():
    batch = new_batch(options={"create_stores": True}, preview=True)
    before = table_counts()

    import_batch_preview(batch_id=batch.pk)

    assert table_counts() == before
    batch.refresh_from_db()
    preview = batch.stats["preview"]
    assert (batch.status, batch.stats["phase"], batch.rows_accepted, batch.sales_created) == (
        "pending",
        "preview",
        0,
        0,
    )
    assert (preview["rows_read"], preview["rows_accepted"], preview["rows_rejected"], preview["rows_duplicate"]) == (
        7,
        4,
        2,
        1,
    )
    assert (preview["receipts"], preview["sale"], preview["return"], preview["rejected_receipts"]) == (5, 2, 1, 2)
    assert (preview["stores_created"], preview["products_created"], preview["customers_created"]) == (1, 2, 1)
    assert preview["stores_created_sample"] == [["ONLINE", "Online shop"]]
    assert [sku for sku, _, _ in preview["products_created_sample"]] == ["71053", "85123A"]
    assert preview["customers_created_sample"] == [["17850", "ONLINE", "2010-12-01"]]
    assert preview["rejected_sample"] == [
        [7, "Quantity", "two", "not a number"],
        [8, "InvoiceNo", "A563185", "invoice A563185 is a bad-debt adjustment, not a sale: book it in the accounts"],
    ]


def test_a_preview_with_default_options_reports_the_missing_store_and_creates_nothing():
    before = table_counts()

    preview = sales_import_preview(data=FILE)

    assert table_counts() == before
    assert (preview["rows_accepted"], preview["rows_rejected"], preview["rows_duplicate"]) == (0, 6, 1)
    assert (preview["stores_created"], preview["products_created"], preview["customers_created"]) == (0, 0, 0)
    assert preview["stores_missing"] == ["ONLINE"]
    assert preview["reasons"][0] == ["unknown store “ONLINE” (the option create_stores is off)", 5]


def test_a_preview_counts_receipts_already_posted_as_duplicates(world):
    sales_import(batch_id=new_batch(store=world.store_own).pk)
    before = table_counts()

    preview = sales_import_preview(data=FILE, store=world.store_own)

    assert table_counts() == before
    assert (preview["rows_accepted"], preview["rows_rejected"], preview["rows_duplicate"]) == (0, 2, 5)
    assert (preview["duplicate_receipts"], preview["products_created"], preview["customers_created"]) == (3, 0, 0)


# --- the preview says what the import then does, over many generated files -------------------------

SKUS = ["85123A", "71053", "22423", "POST", "NEW1"]
line = st.tuples(
    st.sampled_from(["536365", "536366", "C536379", "536380", "A1"]),  # receipt numbers (C: return, A: refused)
    st.sampled_from(SKUS),
    st.sampled_from(["1", "2", "-1", "x", "0"]),
    st.sampled_from(["1.00", "2.55", "0"]),
    st.sampled_from(["12/1/2010 8:26", "12/1/2010 9:01", "bad"]),
    st.sampled_from(["17850", "13047", ""]),
    st.sampled_from(["United Kingdom", "France"]),
)


def csv_of(lines) -> bytes:
    body = [f"{ref},{sku},ITEM {sku},{qty},{at},{price},{customer},{country}" for ref, sku, qty, price, at, customer,
            country in lines]  # fmt: skip
    return ("\n".join([HEADER, *body]) + "\n").encode()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lines=st.lists(line, min_size=1, max_size=12),
    create_stores=st.booleans(),
    by_country=st.booleans(),
    known_product=st.booleans(),
)
def test_the_preview_predicts_the_import_exactly_and_writes_nothing(
    world, lines, create_stores, by_country, known_product
):
    content = csv_of(lines)
    options = {"create_stores": create_stores}
    if by_country:
        options["store_mode"] = "column"  # one store per country (FRANCE, UNITED-KINGDOM)
    sid = transaction.savepoint()
    try:
        if known_product:
            ProductFactory(sku="22423", mrp=Decimal("12.75"))
        before = table_counts()
        preview = sales_import_preview(data=content, options=options, actor=world.owner)
        assert table_counts() == before

        batch = sales_import(batch_id=new_batch(content, options=options, actor=world.owner).pk)

        assert batch.status == "done", batch.message
        got = (batch.rows_read, batch.rows_accepted, batch.rows_rejected, batch.rows_duplicate)
        assert (
            preview["rows_read"],
            preview["rows_accepted"],
            preview["rows_rejected"],
            preview["rows_duplicate"],
        ) == got
        for key in ("stores_created", "products_created", "customers_created", "sale", "return", "adjustment"):
            assert preview[key] == batch.stats.get(key, 0), key
        assert Store.objects.count() - before["inventory.Store"] == preview["stores_created"]
        assert Product.objects.count() - before["inventory.Product"] == preview["products_created"]
        assert Customer.objects.count() - before["customers.Customer"] == preview["customers_created"]
        if not create_stores:
            assert preview["stores_created"] == 0
    finally:
        transaction.savepoint_rollback(sid)


# --- the pages: upload → preview → “Post import” → summary ------------------------------------------


@pytest.fixture
def owner_client(client, world):
    client.login(username=world.owner.username, password=PASSWORD)
    return client


def test_upload_shows_the_preview_and_posts_only_when_confirmed(owner_client, eager):
    before = table_counts()

    response = owner_client.post(
        reverse("sales:importbatch_create"),
        {"file": SimpleUploadedFile("online-retail.csv", FILE), "create_stores": "on"},
    )

    batch = ImportBatch.objects.get()
    assert response.status_code == 302
    page = owner_client.get(response["Location"]).content.decode()
    handoff = ("sales.ImportBatch", "retailops.OutboxMessage")  # the batch and its task's outbox message
    assert {k: v for k, v in table_counts().items() if k not in handoff} == {
        k: v for k, v in before.items() if k not in handoff
    }
    assert 'data-testid="preview-rows-read">7<' in page
    assert 'data-testid="preview-rows-accepted">4<' in page
    assert 'data-testid="preview-rows-rejected">2<' in page
    assert 'data-testid="preview-products">2<' in page
    assert 'data-testid="preview-customers">1<' in page
    assert 'data-testid="preview-stores">1<' in page
    assert "WHITE METAL LANTERN" in page and "not a number" in page
    assert 'data-testid="post-import"' in page

    owner_client.post(reverse("sales:importbatch_run", kwargs={"pk": batch.pk}), {"action": "post"})

    batch.refresh_from_db()
    assert (batch.status, batch.rows_accepted, batch.rows_rejected) == ("done", 4, 2)
    page = owner_client.get(reverse("sales:importbatch_detail", kwargs={"pk": batch.pk})).content.decode()
    assert 'data-testid="created-products">2<' in page
    assert 'data-testid="created-customers">1<' in page
    assert 'data-testid="created-stores">1<' in page
    assert "the preview said 2, 1 and 1" in page


def test_upload_with_default_options_offers_to_create_the_missing_store(owner_client, eager):
    owner_client.post(reverse("sales:importbatch_create"), {"file": SimpleUploadedFile("o.csv", FILE)})
    batch = ImportBatch.objects.get()
    url = reverse("sales:importbatch_detail", kwargs={"pk": batch.pk})

    page = owner_client.get(url).content.decode()

    assert batch.options["create_stores"] is False
    assert 'data-testid="preview-stores-missing"' in page and "ONLINE" in page
    assert 'data-testid="preview-rows-accepted">0<' in page

    owner_client.post(
        reverse("sales:importbatch_run", kwargs={"pk": batch.pk}), {"action": "preview", "create_stores": "on"}
    )

    batch.refresh_from_db()
    assert batch.options["create_stores"] is True
    assert (batch.stats["phase"], batch.stats["preview"]["rows_accepted"]) == ("preview", 4)
    assert not Store.objects.filter(code="ONLINE").exists()


def test_the_command_dry_run_writes_nothing_and_prints_what_would_happen(tmp_path, capsys):
    path = tmp_path / "online-retail.csv"
    path.write_bytes(FILE)
    before = table_counts()

    call_command("import_sales", str(path), "--dry-run", "--create-stores")

    out = capsys.readouterr().out
    assert table_counts() == before
    assert "read 7, would accept 4, reject 2, duplicate 1; 5 receipts (2 sales, 1 returns, 0 adjustments" in out
    assert "Would create 2 products, 1 customers, 1 stores." in out
    assert "new stores: ONLINE Online shop" in out


def test_the_command_without_create_stores_names_the_missing_store(tmp_path, capsys):
    path = tmp_path / "online-retail.csv"
    path.write_bytes(FILE)

    call_command("import_sales", str(path), "--dry-run")

    out = capsys.readouterr().out
    assert "Would create 0 products, 0 customers, 0 stores." in out
    assert "Unknown store(s) ONLINE: their rows are rejected" in out
