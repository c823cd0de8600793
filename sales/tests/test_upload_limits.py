"""Uploads are streamed with limits: the compressed size while the upload arrives, the unpacked size while a gzip
is read, a workbook's zip entries before openpyxl opens it; CSV decoding streams yet sees the whole file."""

import gzip
import io
import random
import tracemalloc
import zipfile
from datetime import datetime
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from inventory.models import Product
from inventory.tests.factories import PASSWORD
from retailops.celery import app
from sales import views
from sales.importing import READ_CHUNK, ImportFileError, read_table
from sales.models import ImportBatch, Sale
from sales.tests.test_ingest_files import SMALL, UCI_HEADER, XLSX_HEADER, _xlsx, run_import, uci

pytestmark = pytest.mark.django_db

MB = 1024 * 1024


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def limits(settings):
    def set_limits(upload: int, unpacked: int | None = None):
        settings.RETAILOPS = {**settings.RETAILOPS, "MAX_UPLOAD_BYTES": upload, "MAX_UNPACKED_BYTES": unpacked}

    return set_limits


@pytest.fixture
def owner_client(client, world):
    client.login(username=world.owner.username, password=PASSWORD)
    return client


@pytest.fixture
def eager():
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def zeros_gz(size: int) -> bytes:
    """A small gzip that unpacks to `size` bytes (built in chunks: the test itself holds no `size` bytes)."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb") as gz:
        for _ in range(size // MB):
            gz.write(bytes(MB))
    return buffer.getvalue()


def media_files(settings) -> list:
    return [p for p in settings.MEDIA_ROOT.rglob("*") if p.is_file()] if settings.MEDIA_ROOT.exists() else []


# --- the upload: streamed to a temporary file, stopped at the limit -----------------------------------------


def test_an_upload_over_the_limit_is_stopped_while_it_streams_and_nothing_is_saved(owner_client, limits, settings):
    limits(upload=64 * 1024)

    # Content-Length is under the early check (limit + 1 MB): the handler must stop the stream itself.
    response = owner_client.post(
        reverse("sales:importbatch_create"), {"file": SimpleUploadedFile("pos.csv", b"x" * (200 * 1024))}
    )

    assert response.status_code == 413
    assert "the limit is 64 KB. Compress it (.gz) or split it." in response.content.decode()
    assert ImportBatch.objects.count() == 0
    assert media_files(settings) == []


def test_the_upload_is_kept_as_its_temporary_file_not_read_into_memory(owner_client, settings, eager):
    received = []
    real_create = views.import_batch_create

    def spy(**kwargs):
        received.append(kwargs["content"])
        return real_create(**kwargs)

    with mock.patch.object(views, "import_batch_create", side_effect=spy):
        response = owner_client.post(
            reverse("sales:importbatch_create"),
            {"file": SimpleUploadedFile("pos.csv.gz", gzip.compress(SMALL.encode())), "create_stores": "on"},
        )

    assert response.status_code == 302
    (content,) = received
    assert hasattr(content, "temporary_file_path")  # a file on disk, handed on as a file, not bytes
    batch = ImportBatch.objects.get()
    assert gzip.decompress(batch.file.read()) == SMALL.encode()
    batch.refresh_from_db()
    assert (batch.stats["phase"], batch.stats["preview"]["rows_accepted"]) == ("preview", 3)


def test_a_normal_gz_upload_previews_and_imports(owner_client, eager):
    owner_client.post(
        reverse("sales:importbatch_create"),
        {"file": SimpleUploadedFile("pos.csv.gz", gzip.compress(SMALL.encode())), "create_stores": "on"},
    )
    batch = ImportBatch.objects.get()

    owner_client.post(reverse("sales:importbatch_run", kwargs={"pk": batch.pk}), {"action": "post"})

    batch.refresh_from_db()
    assert (batch.status, batch.rows_accepted) == ("done", 3)


def test_a_file_posted_to_any_other_url_stops_at_the_limit_too(owner_client, limits):
    limits(upload=64 * 1024)

    # 6 MB: past the in-memory size, so a received file would stream to a temporary file on disk.
    with mock.patch("django.core.files.uploadhandler.TemporaryFileUploadHandler.receive_data_chunk") as disk:
        owner_client.post("/api/v1/receipts/", {"file": SimpleUploadedFile("big.bin", b"x" * (6 * MB))})

    written = sum(len(call.args[0]) for call in disk.call_args_list)
    assert written <= 64 * 1024


# --- gzip: unpacked as a stream, stopped at the unpacked limit ----------------------------------------------


def test_a_gzip_bomb_is_refused_while_it_unpacks_without_filling_memory(limits):
    limits(upload=16 * MB)  # unpacked limit: 4 × 16 MB = 64 MB
    bomb = zeros_gz(100 * MB)
    assert len(bomb) < MB

    tracemalloc.start()
    try:
        with pytest.raises(ImportFileError) as refused:
            read_table(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert str(refused.value) == (
        "The compressed file unpacks to more than 64.0 MB, the limit for an unpacked file. Split it into smaller files."
    )
    assert peak < 20 * MB  # the unpacked bytes spill to disk; reading everything up to the limit held 64 MB


def test_a_gzip_bomb_fails_the_import_with_the_message(limits):
    limits(upload=MB, unpacked=2 * MB)

    batch = run_import(zeros_gz(5 * MB), name="pos.csv.gz")

    assert (batch.status, batch.message) == (
        "failed",
        "The compressed file unpacks to more than 2.0 MB, the limit for an unpacked file. Split it into smaller files.",
    )
    assert Sale.objects.count() == 0


# --- XLSX: the zip's entries are checked before openpyxl opens it -------------------------------------------


def workbook_with(entries: dict[str, bytes]) -> bytes:
    """A zip laid out like a workbook, with the given parts (deflated)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", b"<Types/>")
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def many_parts(n: int) -> bytes:
    return workbook_with({f"xl/media/p{i}.xml": b"<x/>" for i in range(n)})


@pytest.mark.parametrize(
    ("content", "settings_", "message"),
    [
        pytest.param(
            lambda: workbook_with({"xl/worksheets/sheet1.xml": b" " * (50 * MB)}),
            {},
            "The workbook's part “xl/worksheets/sheet1.xml” unpacks to 1,0",
            id="ratio",
        ),
        pytest.param(
            lambda: workbook_with({"xl/worksheets/sheet1.xml": random.Random(17).randbytes(2 * MB)}),  # packs ~1×
            {"upload": MB, "unpacked": MB},
            "The workbook unpacks to 2.0 MB; the limit is 1.0 MB. Save the sheet as CSV (.gz) or split it.",
            id="total",
        ),
        pytest.param(
            lambda: many_parts(10_001),
            {},
            "The workbook holds 10,002 parts (at most 10,000): it is not a spreadsheet export.",
            id="entries",
        ),
        pytest.param(
            lambda: workbook_with({"../../etc/cron.d/x": b"x"}),
            {},
            "The workbook holds a part with an unsafe name (“../../etc/cron.d/x”)",
            id="path",
        ),
    ],
)
def test_an_xlsx_bomb_is_refused_before_openpyxl_opens_it(content, settings_, message, limits):
    if settings_:
        limits(**settings_)

    with mock.patch("openpyxl.load_workbook", side_effect=AssertionError("openpyxl opened it")) as opened:
        batch = run_import(content(), name="pos.xlsx")

    assert batch.status == "failed"
    assert batch.message.startswith(message)
    assert not opened.called
    assert Sale.objects.count() == 0


def test_a_normal_xlsx_passes_the_checks_and_imports_even_gzipped():
    row = [536365, "85123A", "HOLDER", 6, datetime(2010, 12, 1, 8, 26), 2.55, 17850, "UK"]  # noqa: DTZ001 — a sheet's local time
    content = _xlsx({"Sales": [XLSX_HEADER, row]})

    plain = run_import(content, name="pos.xlsx")
    packed = run_import(gzip.compress(content), name="pos2.xlsx.gz")

    assert (plain.status, plain.rows_accepted) == ("done", 1)
    assert (packed.status, packed.rows_duplicate) == ("done", 1)  # the same receipt again


# --- CSV decoding: streamed, the encoding settled on the whole file ----------------------------------------


def test_a_cp1252_character_only_near_the_end_of_a_large_file_decodes_right():
    filler = [f"5{n:05d},85123A,HOLDER,1,12/1/2010 8:26,2.55,,United Kingdom" for n in range(40_000)]
    text = uci(*filler, "599999,22000,CAFÉ SIGN £5 “BEST”,1,12/1/2010 9:00,5,,United Kingdom")
    content = text.encode("cp1252")
    assert len(content) > 2 * READ_CHUNK and content.index(b"\xa3") > len(content) - 100

    batch = run_import(content)

    assert (batch.status, batch.stats["encoding"]) == ("done", "cp1252")
    assert Product.objects.get(sku="22000").name == "CAFÉ SIGN £5 “BEST”"


def test_utf8_with_a_multibyte_character_across_a_chunk_boundary_stays_utf8():
    filler = "".join(f"5{n:05d},85123A,HOLDER,1,12/1/2010 8:26,2.55,,UK\n" for n in range(READ_CHUNK // 50))
    prefix = (f"{UCI_HEADER}\n{filler}536371,22000,").encode()
    content = prefix + b"x" * (READ_CHUNK - 1 - len(prefix)) + "€".encode() + b",1,12/1/2010 9:00,5,,UK\n"
    assert content.index("€".encode()) == READ_CHUNK - 1  # its three bytes straddle the first chunk's end

    table = read_table(content)
    rows = [values for _, values in table.rows]

    assert table.encoding == "utf-8"
    assert rows[-1][2].endswith("x€")


def test_an_encoding_chosen_by_hand_that_fails_late_fails_the_import_cleanly():
    text = uci(*[f"5{n:05d},85123A,HOLDER,1,12/1/2010 8:26,2.55,,United Kingdom" for n in range(20_000)])
    content = (text + "599999,22000,£5,1,12/1/2010 9:00,5,,United Kingdom\n").encode("cp1252")

    batch = run_import(content, options={"encoding": "utf-8"})

    assert batch.status == "failed"
    assert batch.message.startswith("The file could not be read as utf-8: 'utf-8' codec can't decode byte 0xa3")
    assert Sale.objects.count() == 0
