"""The import pages: upload → task → progress → result with row errors; size limit; broker down; the command."""

import os
import time
from decimal import Decimal
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from django_celery_beat.models import PeriodicTask
from kombu.exceptions import OperationalError

from inventory.tests.factories import PASSWORD
from retailops.celery import app
from sales.models import ImportBatch, Sale
from sales.services import watch_folder_scan
from sales.tasks import watch_folder_scan_task
from sales.tests.test_ingest_files import SMALL, uci

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def eager():
    """Run the Celery task inside the request, as a worker would run it (no broker needed)."""

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


@pytest.fixture
def owner_client(client, world):
    client.login(username=world.owner.username, password=PASSWORD)
    return client


def upload(client, content: bytes, name="pos.csv", *, post=True, **extra):
    """Upload with “create the stores” ticked; the page previews it, then (post) “Post import” is pressed."""
    data = {"file": SimpleUploadedFile(name, content), "create_stores": "on", **extra}
    response = client.post(reverse("sales:importbatch_create"), data)
    batch = ImportBatch.objects.order_by("-pk").first()
    if post and response.status_code == 302 and batch.stats.get("phase") == "preview":
        client.post(reverse("sales:importbatch_run", kwargs={"pk": batch.pk}), {"action": "post"})
    return response


def test_upload_runs_the_task_and_shows_the_result_with_row_errors(owner_client, eager):
    content = uci(
        "536365,85123A,HOLDER,6,12/1/2010 8:26,2.55,17850,United Kingdom",
        "536366,85123A,HOLDER,six,12/1/2010 8:26,2.55,17850,United Kingdom",
    ).encode()

    response = upload(owner_client, content)

    batch = ImportBatch.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("sales:importbatch_detail", kwargs={"pk": batch.pk})
    page = owner_client.get(response["Location"]).content.decode()
    assert 'data-testid="rows-accepted">1<' in page
    assert 'data-testid="rows-rejected">1<' in page
    assert "not a number" in page and "Quantity" in page
    assert batch.file.name.endswith("pos.csv")


def test_the_status_partial_polls_while_running_and_stops_when_done(owner_client, world):
    batch = ImportBatch.objects.create(source_name="x.csv", status="running", progress=40, created_by=world.owner)
    url = reverse("sales:importbatch_detail", kwargs={"pk": batch.pk})

    running = owner_client.get(url, HTTP_HX_REQUEST="true").content.decode()
    ImportBatch.objects.filter(pk=batch.pk).update(status="done", progress=100)
    done = owner_client.get(url, HTTP_HX_REQUEST="true").content.decode()

    assert running.lstrip().startswith('<div id="import-status"')  # the partial alone, no page around it
    assert 'hx-trigger="every 1s"' in running and "width: 40%" in running
    assert "hx-trigger" not in done and "Finished" in done


def test_errors_download_as_formula_safe_csv(owner_client, eager):
    upload(owner_client, uci("536365,85123A,HOLDER,=1+1,12/1/2010 8:26,2.55,,UK").encode())
    batch = ImportBatch.objects.get()

    response = owner_client.get(reverse("sales:importbatch_errors", kwargs={"pk": batch.pk}))

    assert response["Content-Type"].startswith("text/csv")
    lines = response.content.decode("utf-8-sig").splitlines()
    assert lines == [
        "line,column,value,reason",
        '2,Quantity,\'=1+1,"a spreadsheet formula, not a value: export values, not formulas"',
    ]


def test_an_upload_over_the_limit_is_refused_with_a_clear_message(owner_client, settings):
    settings.RETAILOPS = {**settings.RETAILOPS, "MAX_UPLOAD_BYTES": 1000}

    response = upload(owner_client, b"x" * 5000)

    assert response.status_code == 413
    assert "The upload is 5 KB; the limit is 1 KB." in response.content.decode()
    assert ImportBatch.objects.count() == 0


def test_a_200_mb_upload_is_refused_before_it_is_read(owner_client, settings):
    settings.RETAILOPS = {**settings.RETAILOPS, "MAX_UPLOAD_BYTES": 100 * 1024 * 1024}

    response = owner_client.generic(
        "POST",
        reverse("sales:importbatch_create"),
        data=b"",
        content_type="multipart/form-data; boundary=xyz",
        CONTENT_LENGTH=str(200 * 1024 * 1024),
    )

    assert response.status_code == 413
    assert "The upload is 200.0 MB; the limit is 100.0 MB." in response.content.decode()


def test_broker_down_keeps_the_upload_and_says_so(owner_client):
    with mock.patch("retailops.outbox._send", side_effect=OperationalError("connection refused")):
        response = upload(owner_client, SMALL.encode())

    batch = ImportBatch.objects.get()
    page = owner_client.get(response["Location"]).content.decode()
    assert batch.status == "pending" and batch.file
    assert "its preview is queued: the worker will start it when the task queue is back" in page
    assert "Run again" in page
    assert Sale.objects.count() == 0


def test_run_again_queues_the_saved_file(owner_client, eager):
    with mock.patch("sales.tasks.import_sales_task.apply_async", side_effect=OperationalError("down")):
        upload(owner_client, SMALL.encode())  # previewed, then “Post import” cannot reach the queue
    batch = ImportBatch.objects.get()

    owner_client.post(reverse("sales:importbatch_run", kwargs={"pk": batch.pk}))

    batch.refresh_from_db()
    assert (batch.status, batch.rows_accepted) == ("done", 3)


def test_a_bad_form_shows_errors_and_creates_nothing(owner_client):
    response = owner_client.post(reverse("sales:importbatch_create"), {})

    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    assert ImportBatch.objects.count() == 0


def test_the_list_shows_batches_and_the_form_only_to_importers(client, world):
    ImportBatch.objects.create(source_name="old.csv", status="done", rows_read=7, created_by=world.owner)
    client.login(username=world.accountant.username, password=PASSWORD)

    page = client.get(reverse("sales:importbatch_list")).content.decode()

    assert "old.csv" in page
    assert 'data-testid="import-form"' not in page


def test_receipts_page_filters_by_product(owner_client, eager):
    upload(owner_client, SMALL.encode())

    page = owner_client.get(reverse("sales:sale_list"), {"product": "85123a"}).content.decode()

    assert "536365" in page and "C536379" in page
    assert owner_client.get(reverse("sales:sale_list"), {"product": "NONE"}).content.decode().count("sale_detail") == 0


def test_the_command_imports_a_file_and_prints_the_counts(tmp_path, capsys):
    path = tmp_path / "pos.csv"
    path.write_text(SMALL + "A563185,B,Adjust bad debt,1,8/12/2011 14:50,11062.06,,United Kingdom\n")

    call_command("import_sales", str(path), "--create-stores")

    out = capsys.readouterr().out
    assert "read 4, accepted 3, rejected 1, duplicate 0; 2 receipts posted." in out
    assert "line 5 [InvoiceNo] “A563185”: invoice A563185 is a bad-debt adjustment" in out
    assert Sale.objects.get(pos_reference="536365").total == Decimal("15.30")


def test_the_command_fails_loudly_on_a_bad_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")

    with pytest.raises(Exception, match="The file is empty."):
        call_command("import_sales", str(path))


def test_the_watch_folder_imports_files_and_moves_them(tmp_path, settings):
    folder = tmp_path / "watch"
    folder.mkdir()
    (folder / "good.csv").write_text(SMALL)
    (folder / "bad.csv").write_text("")
    (folder / "fresh.csv").write_text(SMALL)
    old = time.time() - 60
    for name in ("good.csv", "bad.csv"):
        os.utime(folder / name, (old, old))

    ids = watch_folder_scan(folder=str(folder))

    assert sorted(p.name for p in (folder / "done").iterdir()) == ["good.csv"]
    assert sorted(p.name for p in (folder / "failed").iterdir()) == ["bad.csv"]
    assert (folder / "fresh.csv").exists()  # still being written: left for the next scan
    assert sorted(ImportBatch.objects.filter(pk__in=ids).values_list("source", "status")) == [
        ("watch", "done"),
        ("watch", "failed"),
    ]


def test_the_watch_folder_is_off_by_default_and_scheduled_by_beat(settings):
    settings.RETAILOPS = {**settings.RETAILOPS, "WATCH_FOLDER": ""}
    task = PeriodicTask.objects.get(task="sales.watch_folder_scan")
    assert watch_folder_scan_task() == []
    assert task.interval.every == 60
